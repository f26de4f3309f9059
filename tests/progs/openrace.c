/* Race an open against a thread that flips the path between two files of the
 * same length. argv: allowed-path denied-path iterations. Prints how many
 * opens succeeded and exits 3 if any open ever gave the denied file. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[4096];
static const char *paths[2];
static volatile int stop;

static void *flip(void *arg) {
    (void)arg;
    size_t n = strlen(paths[0]);
    for (unsigned i = 0; !stop; i++)
        memcpy(buf, paths[i & 1], n);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || strlen(argv[1]) != strlen(argv[2]))
        return 2;
    paths[0] = argv[1];
    paths[1] = argv[2];
    strcpy(buf, paths[0]);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    int iters = atoi(argv[3]), ok = 0, leaked = 0;
    for (int i = 0; i < iters; i++) {
        int fd = open(buf, O_RDONLY);
        if (fd < 0)
            continue;
        char c[8] = {0};
        if (read(fd, c, sizeof c - 1) > 0 && strncmp(c, "DENY", 4) == 0)
            leaked++;
        else
            ok++;
        close(fd);
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%d leaked=%d\n", ok, leaked);
    return leaked ? 3 : 0;
}
