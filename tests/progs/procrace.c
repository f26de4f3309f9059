/* Race opens of /proc paths against a thread that flips the path between a
 * visible and a hidden process's status file (same length). argv: visible
 * path, hidden path, the hidden PID, iterations[, "readlink"]. Opens alternate
 * between open() and openat() relative to a /proc descriptor. Prints how many
 * opens read each PID and exits 3 if any read the hidden one. With
 * "readlink", the paths are exe links and a leak is any answer other than
 * this program's own path. */
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
    if (argc < 5 || argc > 6 || strlen(argv[1]) != strlen(argv[2]))
        return 2;
    int links = argc == 6 && strcmp(argv[5], "readlink") == 0;
    char me[4096];
    ssize_t melen = readlink("/proc/self/exe", me, sizeof me);
    if (melen <= 0)
        return 2;
    paths[0] = argv[1];
    paths[1] = argv[2];
    strcpy(buf, paths[0]);
    long hidden = atol(argv[3]);
    int proc = open("/proc", O_RDONLY | O_DIRECTORY);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    int iters = atoi(argv[4]), ok = 0, leaked = 0, failed = 0;
    for (int i = 0; i < iters && links; i++) {
        char got[4096];
        ssize_t n = readlink(buf, got, sizeof got);
        if (n < 0)
            failed++;
        else if (n == melen && memcmp(got, me, (size_t)n) == 0)
            ok++;
        else
            leaked++;
    }
    for (int i = 0; i < iters && !links; i++) {
        /* "/proc/" is 6 bytes: the rest is relative to the /proc descriptor. */
        int fd = (i & 1) && proc >= 0 ? openat(proc, buf + 6, O_RDONLY) : open(buf, O_RDONLY);
        if (fd < 0) {
            failed++;
            continue;
        }
        char c[4096];
        ssize_t n = read(fd, c, sizeof c - 1);
        close(fd);
        if (n <= 0)
            continue;
        c[n] = 0;
        char *pid = strstr(c, "\nPid:\t");
        if (pid && atol(pid + 6) == hidden)
            leaked++;
        else
            ok++;
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("ok=%d leaked=%d failed=%d\n", ok, leaked, failed);
    return leaked ? 3 : 0;
}
