/* Benchmark probes run inside and outside the sandbox.
 *   getppid N          time N getppid() calls with the child's own clock, print ns/call
 *   getrandom T N      T threads, N getrandom(16) calls each (timed from outside)
 *   stat N / open N    time N stat() / open()+close() of /usr/bin/true, print ns/call
 *   timedwait N        N futex FUTEX_WAIT_BITSET waits whose absolute deadline has
 *                      passed (each times out at once; timed from outside)
 *   timedwait1ms N     N such waits with a deadline 1 ms ahead (each waits 1 ms)
 *   futexwake N        N FUTEX_WAKE calls with no waiter (the untimed path)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long calls;

static void *grloop(void *arg) {
    (void)arg;
    char buf[16];
    for (long i = 0; i < calls; i++)
        if (syscall(SYS_getrandom, buf, sizeof buf, 0) != (long)sizeof buf) exit(3);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (!strcmp(argv[1], "getppid")) {
        long n = atol(argv[2]);
        struct timespec a, b;
        for (long i = 0; i < 1000; i++) syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
        printf("%.2f\n", ns / (double)n);
        return 0;
    }
    if (!strcmp(argv[1], "stat") || !strcmp(argv[1], "open")) {
        long n = atol(argv[2]);
        int use_open = !strcmp(argv[1], "open");
        struct timespec a, b;
        struct stat st;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) {
            if (use_open) {
                int fd = open("/usr/bin/true", O_RDONLY);
                if (fd < 0) exit(3);
                close(fd);
            } else if (stat("/usr/bin/true", &st) != 0) {
                exit(3);
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
        printf("%.2f\n", ns / (double)n);
        return 0;
    }
    if (!strncmp(argv[1], "timedwait", 9) || !strcmp(argv[1], "futexwake")) {
        long n = atol(argv[2]);
        int timed = strcmp(argv[1], "futexwake") != 0;
        int ahead = !strcmp(argv[1], "timedwait1ms");
        static int word;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (long i = 0; i < n; i++) {
            if (ahead) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                now.tv_nsec += 1000000;
                if (now.tv_nsec >= 1000000000) {
                    now.tv_sec++;
                    now.tv_nsec -= 1000000000;
                }
            }
            long r = timed ? syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &now, NULL,
                                     FUTEX_BITSET_MATCH_ANY)
                           : syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
            if (r != (timed ? -1 : 0)) exit(3);
        }
        return 0;
    }
    if (!strcmp(argv[1], "getrandom") && argc > 3) {
        int t = atoi(argv[2]);
        calls = atol(argv[3]);
        pthread_t th[64];
        if (t < 1 || t > 64) return 2;
        for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, grloop, NULL);
        for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
        return 0;
    }
    return 2;
}
