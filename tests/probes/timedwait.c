/* timedwait: glibc's timed waits with absolute deadlines, as a program sees
 * them under virtual time. Prints one line per wait:
 *   cond: pthread_cond_timedwait (CLOCK_REALTIME), a producer signals after
 *         50 ms of real time (a poll on a pipe, which stays real);
 *   sem: sem_timedwait with no producer, 0.5 s;
 *   pi: pthread_mutex_timedlock of a held priority-inheritance mutex, 0.3 s;
 * each with its result and how far the program's own clock moved, and
 * whether the caller's deadline struct was left as it was. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static pthread_mutex_t pi;

static long long now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct timespec in(clockid_t c, long long ns) {
    long long v = now_ns(c) + ns;
    struct timespec t;
    t.tv_sec = (time_t)(v / 1000000000LL);
    t.tv_nsec = (long)(v % 1000000000LL);
    return t;
}

static void *producer(void *arg) {
    int p[2];
    (void)arg;
    if (pipe(p) == 0) {
        struct pollfd f;
        f.fd = p[0];
        f.events = POLLIN;
        f.revents = 0;
        poll(&f, 1, 50);
    }
    pthread_mutex_lock(&mu);
    ready = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *holder(void *arg) {
    (void)arg;
    struct timespec d = in(CLOCK_REALTIME, 300000000LL);
    long long a = now_ns(CLOCK_REALTIME);
    int rc = pthread_mutex_timedlock(&pi, &d);
    printf("pi: %s %.3f\n", rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(rc),
           (double)(now_ns(CLOCK_REALTIME) - a) / 1e9);
    return NULL;
}

int main(void) {
    pthread_t t;
    struct timespec d, copy;
    long long a;
    int rc = 0;
    sem_t sem;
    pthread_mutexattr_t at;

    d = in(CLOCK_REALTIME, 2000000000LL);
    copy = d;
    pthread_mutex_lock(&mu);
    pthread_create(&t, NULL, producer, NULL);
    while (!ready && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &d);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    printf("cond: %s ready=%d kept=%d\n", rc == 0 ? "woken" : strerror(rc), ready,
           memcmp(&d, &copy, sizeof d) == 0);

    sem_init(&sem, 0, 0);
    d = in(CLOCK_REALTIME, 500000000LL);
    copy = d;
    a = now_ns(CLOCK_REALTIME);
    rc = sem_timedwait(&sem, &d) == 0 ? 0 : errno;
    printf("sem: %s %.3f kept=%d\n", rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(rc),
           (double)(now_ns(CLOCK_REALTIME) - a) / 1e9, memcmp(&d, &copy, sizeof d) == 0);

    pthread_mutexattr_init(&at);
    pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&pi, &at);
    pthread_mutex_lock(&pi);
    pthread_create(&t, NULL, holder, NULL);
    pthread_join(t, NULL);
    pthread_mutex_unlock(&pi);
    return 0;
}
