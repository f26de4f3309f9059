/* timedwait: glibc's timed waits with absolute deadlines, as a program sees
 * them under virtual time. Prints one line per wait:
 *   cond: pthread_cond_timedwait (CLOCK_REALTIME), a producer signals after
 *         50 ms of real time (a poll on a pipe, which stays real);
 *   sem: sem_timedwait with no producer, 0.5 s;
 *   pi: pthread_mutex_timedlock of a held priority-inheritance mutex, 0.3 s;
 *   pi-signal: the same, interrupted after 100 ms of real time by a SIGALRM
 *         with a handler (the kernel restarts FUTEX_LOCK_PI with the same
 *         registers, the handler's frame having been written below the stack);
 *   timerfd: a CLOCK_MONOTONIC timerfd armed with TFD_TIMER_ABSTIME 0.2 s
 *         ahead, read until it fires;
 *   timer: a POSIX timer armed with TIMER_ABSTIME 5 s ahead: still armed;
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
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <sys/timerfd.h>
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

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
    char pad[512];
    (void)sig;
    memset(pad, 0x5a, sizeof pad); /* scribbles below the interrupted stack */
    alarms += pad[100] == 0x5a;
}

static void *signalled(void *arg) {
    sigset_t set;
    struct itimerval it;
    struct timespec d;
    long long a;
    int rc;
    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 100000;
    d = in(CLOCK_REALTIME, 300000000LL);
    a = now_ns(CLOCK_REALTIME);
    setitimer(ITIMER_REAL, &it, NULL);
    rc = pthread_mutex_timedlock(&pi, &d);
    printf("pi-signal: %s %.3f alarms=%d\n", rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(rc),
           (double)(now_ns(CLOCK_REALTIME) - a) / 1e9, (int)alarms);
    return NULL;
}

int main(void) {
    pthread_t t;
    struct timespec d, copy;
    long long a;
    int rc = 0;
    sem_t sem;
    pthread_mutexattr_t at;

    setvbuf(stdout, NULL, _IOLBF, 0);

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
    {
        struct sigaction sa;
        sigset_t set;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        pthread_create(&t, NULL, signalled, NULL);
        pthread_join(t, NULL);
    }
    pthread_mutex_unlock(&pi);

    {
        int fd = timerfd_create(CLOCK_MONOTONIC, 0);
        struct itimerspec its;
        uint64_t n = 0;
        memset(&its, 0, sizeof its);
        its.it_value = in(CLOCK_MONOTONIC, 200000000LL);
        copy = its.it_value;
        int got;
        rc = timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
        got = (int)read(fd, &n, sizeof n);
        printf("timerfd: rc=%d read=%d n=%llu kept=%d\n", rc, got, (unsigned long long)n,
               memcmp(&its.it_value, &copy, sizeof copy) == 0);
    }
    {
        timer_t id;
        struct sigevent ev;
        struct itimerspec its, left;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_NONE;
        memset(&its, 0, sizeof its);
        its.it_value = in(CLOCK_REALTIME, 5000000000LL);
        rc = timer_create(CLOCK_REALTIME, &ev, &id);
        if (rc == 0)
            rc = timer_settime(id, TIMER_ABSTIME, &its, NULL);
        if (rc == 0)
            rc = timer_gettime(id, &left);
        printf("timer: rc=%d armed=%d\n", rc, rc == 0 && left.it_value.tv_sec >= 3);
    }
    return 0;
}
