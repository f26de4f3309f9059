/* Reference floors for the syscall rows, measured natively in the same run:
 *   floor filter N      ns per getppid(): no filter / allow-all filter /
 *                       allow-all with SECCOMP_FILTER_FLAG_SPEC_ALLOW
 *   floor notify N      ns per notified getppid() answered by a supervisor
 *                       that is a thread of the same process, then a separate
 *                       process (SYNC_WAKE_UP set when the kernel has it; the
 *                       supervisor waits in poll, then RECV and SEND)
 * Each line: "name ns_per_call". */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double loop(long n) {
    for (long i = 0; i < 1000; i++) syscall(SYS_getppid);
    double a = now();
    for (long i = 0; i < n; i++) syscall(SYS_getppid);
    return (now() - a) / n;
}

static long install(int notify, unsigned long flags) {
    struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_filter note[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = { notify ? 4 : 1, notify ? note : allow };
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
}

/* Run `what` in a fresh child, which prints its result. */
static void in_child(void (*what)(long), long n) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        what(n);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

static void f_none(long n) { printf("no-filter %.1f\n", loop(n)); }
static void f_allow(long n) { install(0, 0); printf("allow-filter %.1f\n", loop(n)); }
static void f_spec(long n) { install(0, SECCOMP_FILTER_FLAG_SPEC_ALLOW); printf("allow-filter-spec-allow %.1f\n", loop(n)); }

static void serve(int l) {
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        /* Wait in poll() as the sandlock supervisor does: with SYNC_WAKE_UP the
         * kernel wakes poll waiters on the notifying CPU. */
        struct pollfd pfd = { l, POLLIN, 0 };
        if (poll(&pfd, 1, -1) < 0) return;
        if (pfd.revents & (POLLHUP | POLLERR)) return;
        memset(&req, 0, sizeof req);
        if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return;
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.val = 1;
        ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

static void *serve_thread(void *arg) {
    serve((int)(long)arg);
    return NULL;
}

static void n_thread(long n) {
    int l = install(1, SECCOMP_FILTER_FLAG_NEW_LISTENER);
    /* The flags go by value in the argument, not through a pointer. */
    ioctl(l, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    pthread_t t;
    pthread_create(&t, NULL, serve_thread, (void *)(long)l);
    printf("notify-thread %.1f\n", loop(n));
}

static void n_process(long n) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t sup = fork();
    if (sup == 0) {
        /* The supervisor: receive the listener, serve. */
        char b;
        struct iovec iov = { &b, 1 };
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct msghdr m = { 0 };
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        if (recvmsg(sv[0], &m, 0) != 1) _exit(1);
        int l;
        memcpy(&l, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof l);
        ioctl(l, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
        if (write(sv[0], "r", 1) != 1) _exit(1);
        serve(l);
        _exit(0);
    }
    int l = install(1, SECCOMP_FILTER_FLAG_NEW_LISTENER);
    char b = 'l';
    struct iovec iov = { &b, 1 };
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct msghdr m = { 0 };
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &l, sizeof l);
    if (sendmsg(sv[1], &m, 0) != 1) _exit(1);
    close(l);
    if (read(sv[1], &b, 1) != 1) _exit(1);
    printf("notify-process %.1f\n", loop(n));
    kill(sup, SIGKILL);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "filter")) {
        in_child(f_none, n);
        in_child(f_allow, n);
        in_child(f_spec, n);
        return 0;
    }
    if (!strcmp(argv[1], "notify")) {
        in_child(n_thread, n);
        in_child(n_process, n);
        return 0;
    }
    return 2;
}
