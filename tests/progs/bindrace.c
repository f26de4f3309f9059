/* Race a bind against a thread that flips the sockaddr's port between two
 * ports on 127.0.0.1. argv: allowed-port denied-port iterations. Prints how
 * many binds succeeded and exits 3 if any socket was ever bound to the denied
 * port (checked with getsockname). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in sa;
static unsigned short ports[2];
static volatile int stop;

static void *flip(void *arg) {
    (void)arg;
    for (unsigned i = 0; !stop; i++)
        *(volatile unsigned short *)&sa.sin_port = ports[i & 1];
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4)
        return 2;
    ports[0] = htons((unsigned short)atoi(argv[1]));
    ports[1] = htons((unsigned short)atoi(argv[2]));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = ports[0];
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    int iters = atoi(argv[3]), ok = 0, leaked = 0, refused = 0;
    for (int i = 0; i < iters; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0)
            return 4;
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            struct sockaddr_in me;
            socklen_t len = sizeof me;
            if (getsockname(s, (struct sockaddr *)&me, &len) != 0)
                return 5;
            if (me.sin_port == ports[1])
                leaked++;
            else
                ok++;
        } else {
            refused++;
        }
        close(s);
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%d leaked=%d refused=%d\n", ok, leaked, refused);
    return leaked ? 3 : 0;
}
