/* Race path-writing calls against a thread that flips the path between a file
 * in the copy-on-write workdir and one outside it (same length).
 * argv: inside-path outside-path iterations. Each round creates and writes
 * the path, makes a directory at path + "d", and removes both. Prints how
 * many creations succeeded. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[4096];
static char dbuf[4096];
static const char *paths[2];
static volatile int stop;

static void *flip(void *arg) {
    (void)arg;
    size_t n = strlen(paths[0]);
    for (unsigned i = 0; !stop; i++) {
        memcpy(buf, paths[i & 1], n);
        memcpy(dbuf, paths[(i >> 1) & 1], n);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || strlen(argv[1]) != strlen(argv[2]) || strlen(argv[1]) > 4000)
        return 2;
    paths[0] = argv[1];
    paths[1] = argv[2];
    strcpy(buf, paths[0]);
    strcpy(dbuf, paths[0]);
    strcat(dbuf, "d");
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    int iters = atoi(argv[3]), made = 0;
    for (int i = 0; i < iters; i++) {
        int fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            if (write(fd, "RACE", 4) == 4)
                made++;
            close(fd);
        }
        mkdir(dbuf, 0755);
        rmdir(dbuf);
        unlink(buf);
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("%d\n", made);
    return 0;
}
