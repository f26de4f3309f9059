/* Hostile probes for tests/hostile.rs: each subcommand (argv[1]) tries to get
 * out of the sandbox one way and prints what happened, one "key=value" line per
 * attempt. A value of 0 means the call succeeded; anything else is the errno.
 * Probes pass arguments that fail differently when the call is allowed, so that
 * "refused by the sandbox" and "failed on its own" are told apart.
 * Built with -pthread. Nothing here is meant to be run outside the test suite. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The errno of a failed call, 0 for success. */
static long res(long r) { return r < 0 ? errno : 0; }

static void out(const char *key, long v) {
    printf("%s=%ld\n", key, v);
    fflush(stdout);
}

/* Open, report, close: 0 if the open succeeded. */
static long try_open(const char *path, int flags) {
    int fd = open(path, flags, 0600);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

/* ---- file system -------------------------------------------------------- */

/* fs FILE DIR W DOTDOT REL_FROM_W: Landlock-covered operations on FILE (outside
 * every rule) and in DIR (outside), from W (writable). */
static int fs(char **a) {
    const char *file = a[0], *dir = a[1], *w = a[2], *dotdot = a[3], *rel = a[4];
    char p[4096], q[4096];
    out("read", try_open(file, O_RDONLY));
    out("write", try_open(file, O_WRONLY));
    out("trunc_open", try_open(file, O_WRONLY | O_TRUNC));
    out("truncate", res(truncate(file, 0)));
    snprintf(p, sizeof p, "%s/created", dir);
    out("create", try_open(p, O_WRONLY | O_CREAT | O_EXCL));
    out("unlink", res(unlink(file)));
    snprintf(p, sizeof p, "%s/newdir", dir);
    out("mkdir", res(mkdir(p, 0700)));
    snprintf(p, sizeof p, "%s/sub", dir);
    out("rmdir", res(rmdir(p)));
    snprintf(p, sizeof p, "%s/fifo", dir);
    out("mkfifo", res(mknod(p, S_IFIFO | 0600, 0)));
    snprintf(p, sizeof p, "%s/sym", dir);
    out("symlink_out", res(symlink("/etc/passwd", p)));
    /* Pull the outside file into W, or push W's file out. */
    snprintf(p, sizeof p, "%s/hardlink", w);
    out("link_in", res(link(file, p)));
    snprintf(p, sizeof p, "%s/own", w);
    snprintf(q, sizeof q, "%s/pushed", dir);
    out("link_out", res(link(p, q)));
    snprintf(q, sizeof q, "%s/moved", w);
    out("rename_in", res(rename(file, q)));
    snprintf(q, sizeof q, "%s/pushed", dir);
    out("rename_out", res(rename(p, q)));
    out("exchange", res(syscall(SYS_renameat2, AT_FDCWD, p, AT_FDCWD, file, RENAME_EXCHANGE)));
    /* Other spellings of the same file. */
    out("dotdot", try_open(dotdot, O_RDONLY));
    int wfd = open(w, O_PATH | O_DIRECTORY);
    out("dirfd", wfd < 0 ? -1 : res(openat(wfd, rel, O_RDONLY)));
    struct { uint64_t flags, mode, resolve; } how = { O_RDONLY, 0, 0 };
    out("openat2", res(syscall(SYS_openat2, AT_FDCWD, file, &how, sizeof how)));
    snprintf(p, sizeof p, "/proc/self/root%s", file);
    out("proc_self_root", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/thread-self/root%s", file);
    out("proc_thread_self_root", try_open(p, O_RDONLY));
    /* An fd of a file we may read, reopened for writing through /proc. */
    int ro = open(a[5], O_RDONLY);
    snprintf(p, sizeof p, "/proc/self/fd/%d", ro);
    out("reopen_rw", ro < 0 ? -1 : try_open(p, O_RDWR));
    out("name_to_handle", res(syscall(SYS_name_to_handle_at, AT_FDCWD, file, NULL, NULL, 0)));
    out("open_by_handle", res(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY)));
    return 0;
}

/* meta FILE: metadata changes Landlock does not cover. */
static int meta(char **a) {
    const char *file = a[0];
    struct timespec ts[2] = { { 1, 0 }, { 1, 0 } };
    out("chmod", res(chmod(file, 0777)));
    out("chown", res(chown(file, getuid(), getgid())));
    out("utimes", res(utimensat(AT_FDCWD, file, ts, 0)));
    out("setxattr", res(setxattr(file, "user.sandlock", "x", 1, 0)));
    out("removexattr", res(removexattr(file, "user.keep")));
    return 0;
}

/* planted LINK W OUTSIDE: open a symlink the host planted in W (pointing
 * outside), then plant one ourselves and follow it. */
static int planted(char **a) {
    char p[4096];
    out("planted_read", try_open(a[0], O_RDONLY));
    out("planted_write", try_open(a[0], O_WRONLY));
    snprintf(p, sizeof p, "%s/mine", a[1]);
    out("own_symlink", res(symlink(a[2], p)));
    out("own_read", try_open(p, O_RDONLY));
    out("own_write", try_open(p, O_WRONLY | O_APPEND));
    /* A directory symlink: W/dirlink -> / then W/dirlink/<outside>. */
    snprintf(p, sizeof p, "%s/dirlink", a[1]);
    out("dir_symlink", res(symlink("/", p)));
    snprintf(p, sizeof p, "%s/dirlink%s", a[1], a[2]);
    out("dir_read", try_open(p, O_RDONLY));
    return 0;
}

/* procpid PID FD FILE: another process's root, cwd, fds and memory. */
static int procpid(char **a) {
    char p[4096];
    const char *pid = a[0];
    snprintf(p, sizeof p, "/proc/%s/root%s", pid, a[2]);
    out("root", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/%s/cwd", pid);
    out("cwd", try_open(p, O_RDONLY | O_DIRECTORY));
    snprintf(p, sizeof p, "/proc/%s/fd/%s", pid, a[1]);
    out("fd", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/%s/mem", pid);
    out("mem", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/%s/environ", pid);
    out("environ", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/%s/maps", pid);
    out("maps", try_open(p, O_RDONLY));
    return 0;
}

/* fds: every descriptor above 2 that reached us. */
static int fds(void) {
    int n = 0;
    for (int fd = 3; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) {
            printf("open:%d\n", fd);
            n++;
        }
    out("extra_fds", n);
    return 0;
}

/* mknod W: device nodes inside the writable dir (root has CAP_MKNOD). */
static int devnodes(char **a) {
    char p[4096];
    snprintf(p, sizeof p, "%s/mem", a[0]);
    long r = res(mknod(p, S_IFCHR | 0600, makedev(1, 1)));
    out("mknod_chr", r);
    if (r == 0) out("open_chr", try_open(p, O_RDONLY));
    snprintf(p, sizeof p, "%s/blk", a[0]);
    r = res(mknod(p, S_IFBLK | 0600, makedev(7, 0)));
    out("mknod_blk", r);
    if (r == 0) out("open_blk", try_open(p, O_RDONLY));
    return 0;
}

/* exec PATH: exec a file; prints only if the exec failed. */
static int do_exec(char **a) {
    char *argv[] = { a[0], NULL };
    execv(a[0], argv);
    out("exec", errno);
    return 0;
}

/* memfd_exec SRC: copy SRC into a memfd and run it by fd. */
static int memfd_exec(char **a) {
    int src = open(a[0], O_RDONLY);
    int m = memfd_create("x", MFD_CLOEXEC);
    if (src < 0 || m < 0) { out("memfd_setup", errno); return 0; }
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0)
        if (write(m, buf, n) != n) return 1;
    char *argv[] = { "memfd", NULL }, *envp[] = { NULL };
    syscall(SYS_execveat, m, "", argv, envp, AT_EMPTY_PATH);
    out("memfd_exec", errno);
    return 0;
}

/* ---- syscall surface ---------------------------------------------------- */

/* abi x32|int80 NR: a syscall through a foreign ABI; printing means it returned. */
static int abi(char **a) {
    long nr = strtol(a[1], NULL, 0), r;
    printf("before\n");
    fflush(stdout);
    if (!strcmp(a[0], "x32")) {
        r = syscall(nr | 0x40000000L, 0, 0, 0);
    } else {
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(0), "c"(0), "d"(0) : "memory");
    }
    out("returned", r);
    return 0;
}

static long clone_raw(unsigned long flags) {
    long r = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid(r, NULL, __WALL);
    return r < 0 ? errno : 0;
}

static int ns(void) {
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0) _exit(0);
    out("clone3", r < 0 ? errno : 0);
    ca.flags = CLONE_NEWUSER;
    r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0) _exit(0);
    out("clone3_newuser", r < 0 ? errno : 0);
    out("clone_newuser", clone_raw(CLONE_NEWUSER | SIGCHLD));
    out("clone_newuser_highbits", clone_raw(0xdead000000000000UL | CLONE_NEWUSER | SIGCHLD));
    out("clone_newns", clone_raw(CLONE_NEWNS | SIGCHLD));
    out("clone_newpid", clone_raw(CLONE_NEWPID | SIGCHLD));
    out("clone_newnet", clone_raw(CLONE_NEWNET | SIGCHLD));
    out("clone_newuts", clone_raw(CLONE_NEWUTS | SIGCHLD));
    out("clone_newipc", clone_raw(CLONE_NEWIPC | SIGCHLD));
    out("clone_newcgroup", clone_raw(CLONE_NEWCGROUP | SIGCHLD));
    out("clone_untraced", clone_raw(CLONE_UNTRACED | SIGCHLD));
    out("unshare_user", res(unshare(CLONE_NEWUSER)));
    out("unshare_ns", res(unshare(CLONE_NEWNS)));
    out("unshare_net", res(unshare(CLONE_NEWNET)));
    out("unshare_files", res(unshare(CLONE_FILES)));
    /* setns(0, 0): fd 0 is no namespace, so an allowed call fails with EINVAL. */
    out("setns", res(setns(0, 0)));
    /* The control: a plain fork is allowed. */
    out("fork", clone_raw(SIGCHLD));
    return 0;
}

static int uring(void) {
    char params[120];
    memset(params, 0, sizeof params);
    out("io_uring_setup", res(syscall(425, 1, params)));
    out("io_uring_enter", res(syscall(426, 0, 0, 0, 0, NULL, 0)));
    out("io_uring_register", res(syscall(427, 0, 0, NULL, 0)));
    return 0;
}

/* ptrace: a sibling we forked, our parent (the supervisor), and PID (the host). */
static int trace(char **a) {
    pid_t host = atoi(a[0]);
    pid_t sib = fork();
    if (sib == 0) {
        for (;;) pause();
    }
    char buf[16] = "untouched";
    struct iovec local = { buf, sizeof buf }, remote = { buf, sizeof buf };
    out("attach_sibling", res(ptrace(PTRACE_ATTACH, sib, 0, 0)));
    out("seize_sibling", res(ptrace(PTRACE_SEIZE, sib, 0, 0)));
    out("traceme", res(ptrace(PTRACE_TRACEME, 0, 0, 0)));
    out("attach_parent", res(ptrace(PTRACE_ATTACH, getppid(), 0, 0)));
    out("attach_host", res(ptrace(PTRACE_ATTACH, host, 0, 0)));
    out("vm_writev_sibling", res(process_vm_writev(sib, &local, 1, &remote, 1, 0)));
    out("vm_readv_sibling", res(process_vm_readv(sib, &local, 1, &remote, 1, 0)));
    out("vm_readv_parent", res(process_vm_readv(getppid(), &local, 1, &remote, 1, 0)));
    int pfd = syscall(SYS_pidfd_open, sib, 0);
    out("pidfd_getfd_sibling", pfd < 0 ? -1 : res(syscall(SYS_pidfd_getfd, pfd, 0, 0)));
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/mem", sib);
    out("mem_write_sibling", try_open(p, O_RDWR));
    kill(sib, SIGKILL);
    waitpid(sib, NULL, 0);
    return 0;
}

static int tiocsti(void) {
    char c = 'X';
    out("tiocsti", res(syscall(SYS_ioctl, 0, 0x5412UL, &c)));
    out("tiocsti_highbits", res(syscall(SYS_ioctl, 0, 0xdead00005412UL, &c)));
    out("tiocsti_allhigh", res(syscall(SYS_ioctl, 0, 0xffffffff00005412UL, &c)));
    char sub = 2; /* TIOCL_SETSEL-like subcode: fails differently if allowed */
    out("tioclinux", res(syscall(SYS_ioctl, 0, 0x541cUL, &sub)));
    out("tioclinux_highbits", res(syscall(SYS_ioctl, 0, 0x10000541cUL, &sub)));
    /* The control: TCGETS is allowed. */
    char t[64];
    out("tcgets", res(syscall(SYS_ioctl, 0, 0x5401UL, t)));
    return 0;
}

static int prctls(void) {
    out("set_dumpable_0", res(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)));
    out("set_dumpable_highbits", res(syscall(SYS_prctl, (1UL << 32) | PR_SET_DUMPABLE, 0, 0, 0, 0)));
    out("set_securebits", res(prctl(PR_SET_SECUREBITS, 0x2f, 0, 0, 0)));
    out("set_ptracer_any", res(prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0)));
    out("set_ptracer_highbits", res(syscall(SYS_prctl, 0xff00000000000000UL | PR_SET_PTRACER, -1L, 0, 0, 0)));
    out("set_tsc", res(prctl(PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0)));
    out("clear_nnp", res(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)));
    out("get_nnp", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    out("arch_set_cpuid", res(syscall(SYS_arch_prctl, 0x1012, 1)));
    out("get_dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    return 0;
}

static int personalities(void) {
    out("read_implies_exec", res(syscall(SYS_personality, READ_IMPLIES_EXEC)));
    out("rie_highbits", res(syscall(SYS_personality, (1UL << 40) | READ_IMPLIES_EXEC)));
    out("linux32", res(syscall(SYS_personality, PER_LINUX32)));
    out("uname26", res(syscall(SYS_personality, UNAME26)));
    out("addr_compat_layout", res(syscall(SYS_personality, ADDR_COMPAT_LAYOUT)));
    out("mmap_page_zero", res(syscall(SYS_personality, MMAP_PAGE_ZERO)));
    long cur = syscall(SYS_personality, 0xffffffffUL);
    out("current", cur);
    return 0;
}

/* ---- nested seccomp ------------------------------------------------------ */

static int nested_listener = -1;

static void *serve_continue(void *arg) {
    (void)arg;
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (;;) {
        memset(&req, 0, sizeof req);
        if (ioctl(nested_listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
            if (errno == EINTR || errno == ENOENT) continue;
            return NULL;
        }
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(nested_listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

/* seccomp: install our own listener for unshare and ptrace, answer CONTINUE. */
static int nested_seccomp(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = { sizeof f / sizeof f[0], f };
    nested_listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    out("listener", nested_listener < 0 ? errno : 0);
    if (nested_listener >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, serve_continue, NULL);
    }
    out("unshare_user", res(unshare(CLONE_NEWUSER)));
    out("ptrace_traceme", res(ptrace(PTRACE_TRACEME, 0, 0, 0)));
    /* A plain extra filter (no listener) is allowed and only restricts. */
    struct sock_filter g[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog2 = { 1, g };
    out("plain_filter", res(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog2)));
    out("unshare_after", res(unshare(CLONE_NEWUSER)));
    return 0;
}

/* ---- processes and signals ---------------------------------------------- */

static void become_stubborn(void) {
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
}

/* daemon exit|wait: setsid + double fork; the grandchild prints its pid,
 * ignores what it can and lives on. The top process then exits or waits. */
static int daemonize(char **a) {
    pid_t c = fork();
    if (c == 0) {
        setsid();
        become_stubborn();
        int ready[2];
        if (pipe(ready) != 0) _exit(1);
        pid_t g = fork();
        if (g == 0) {
            become_stubborn();
            setpgid(0, 0);
            printf("daemon=%d\n", getpid());
            fflush(stdout);
            close(ready[1]);
            for (;;) pause();
        }
        /* Leave only once the grandchild has printed (it closes its end). */
        char b;
        close(ready[1]);
        while (read(ready[0], &b, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    waitpid(c, NULL, 0);
    /* The grandchild printed before its parent exited. */
    if (!strcmp(a[0], "exit")) return 0;
    for (;;) pause();
}

/* spawnrace N: posix_spawn (clone(CLONE_VM|CLONE_VFORK)) of spawns of short-lived daemons, then exit at once,
 * racing the tracer's fork events. */
static int spawnrace(char **a, const char *self) {
    int n = atoi(a[0]);
    char *argv[] = { (char *)self, "daemon", "exit", NULL }, *envp[] = { NULL };
    for (int i = 0; i < n; i++) {
        pid_t c;
        posix_spawn(&c, self, NULL, NULL, argv, envp);
    }
    return 0;
}

/* killall DECOY: signal -1 and our process group with SIGKILL, but only after
 * checking that a process outside the sandbox (DECOY) is out of reach: if it
 * is not, killing -1 as root would take down the machine. */
static int killall(char **a) {
    pid_t decoy = atoi(a[0]);
    long guard = res(kill(decoy, 0));
    out("guard", guard);
    if (guard != EPERM) return 3;
    out("kill_minus_1", res(kill(-1, SIGKILL)));
    out("kill_parent", res(kill(getppid(), SIGKILL)));
    /* Our process group is the host's: this kills us, and must kill only us. */
    out("kill_pgrp", res(kill(0, SIGKILL)));
    out("survived", 1);
    return 0;
}

/* signals HOST DECOY: every way to signal a process outside the sandbox. */
static int signals(char **a) {
    pid_t host = atoi(a[0]), decoy = atoi(a[1]);
    out("kill_host_0", res(kill(host, 0)));
    out("kill_parent_0", res(kill(getppid(), 0)));
    out("kill_decoy", res(kill(decoy, SIGTERM)));
    out("tgkill_decoy", res(syscall(SYS_tgkill, decoy, decoy, SIGTERM)));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_code = SI_QUEUE;
    si.si_signo = SIGTERM;
    out("sigqueue_decoy", res(syscall(SYS_rt_sigqueueinfo, decoy, SIGTERM, &si)));
    int pfd = syscall(SYS_pidfd_open, decoy, 0);
    out("pidfd_open_decoy", pfd < 0 ? errno : 0);
    out("pidfd_send_decoy", pfd < 0 ? -1 : res(syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0)));
    /* SIGIO/F_SETSIG delivery to the decoy when our pipe becomes readable. */
    int p[2];
    if (pipe(p) == 0) {
        out("setown_decoy", res(fcntl(p[0], F_SETOWN, decoy)));
        fcntl(p[0], F_SETSIG, SIGTERM);
        fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
        if (write(p[1], "x", 1) != 1) return 1;
        usleep(20000);
    }
    return 0;
}

/* forkbomb CAP: fork forever; stop forking once CAP processes were made (a
 * safety cap: this machine has a small pid space shared with other users). */
static int forkbomb(char **a) {
    long cap = atol(a[0]);
    _Atomic long *made = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (made == MAP_FAILED) return 1;
    printf("started\n");
    fflush(stdout);
    for (;;) {
        if (atomic_fetch_add(made, 1) >= cap) {
            for (;;) pause();
        }
        fork();
    }
}

/* ---- the supervisor under load -------------------------------------------- */

static long per_thread;
static _Atomic long ok_calls, bad_calls, eintr_calls;
static size_t grsize = 16;

static void *getrandom_loop(void *arg) {
    (void)arg;
    char *buf = malloc(grsize);
    for (long i = 0; i < per_thread; i++) {
        long r = syscall(SYS_getrandom, buf, grsize, 0);
        if (r == (long)grsize) ok_calls++;
        else if (r < 0 && errno == EINTR) eintr_calls++;
        else bad_calls++;
    }
    free(buf);
    return NULL;
}

/* flood THREADS CALLS [SIZE]: many threads of seeded getrandom. */
static int flood(char **a) {
    int n = atoi(a[0]);
    per_thread = atol(a[1]);
    if (a[2]) grsize = atol(a[2]);
    pthread_t t[256];
    for (int i = 0; i < n && i < 256; i++) pthread_create(&t[i], NULL, getrandom_loop, NULL);
    for (int i = 0; i < n && i < 256; i++) pthread_join(t[i], NULL);
    out("ok", ok_calls);
    out("bad", bad_calls);
    return 0;
}

/* pending THREADS MS exit|kill|exec: threads hammer big getrandom calls while
 * the process ends under them after MS milliseconds. */
static int pending(char **a) {
    int n = atoi(a[0]);
    per_thread = 1L << 40;
    grsize = 4 << 20;
    pthread_t t;
    for (int i = 0; i < n; i++) pthread_create(&t, NULL, getrandom_loop, NULL);
    usleep(atoi(a[1]) * 1000);
    if (!strcmp(a[2], "kill")) kill(getpid(), SIGKILL);
    if (!strcmp(a[2], "exec")) execl("/bin/true", "true", (char *)NULL);
    _exit(0);
}

static void on_alarm(int sig) { (void)sig; }

/* interrupted CALLS: a fast interval timer interrupts notified getrandom calls. */
static int interrupted(char **a) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: EINTR comes back */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, 50 }, { 0, 50 } };
    setitimer(ITIMER_REAL, &it, NULL);
    per_thread = atol(a[0]);
    grsize = 1 << 20;
    getrandom_loop(NULL);
    it.it_value.tv_usec = it.it_interval.tv_usec = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    out("ok", ok_calls);
    out("eintr", eintr_calls);
    out("bad", bad_calls);
    return 0;
}

/* ---- TOCTOU -------------------------------------------------------------- */

/* The supervisor installs seeded devices at reserved numbers just under the
 * open-files limit; a plain open here gets the lowest free number (3 or 4), as
 * every fd is closed after each try. So a low-numbered random device is the
 * real one. */
#define SEEDED_MIN 512

static char path_buf[4096] __attribute__((aligned(64)));
static char path_a[4096], path_b[4096];
static size_t path_len;
static atomic_int stop_flip;

static void *flip(void *arg) {
    (void)arg;
    /* Whole 8-byte words, so most of the time the buffer is one path or the other. */
    size_t words = (path_len + 8) / 8;
    while (!stop_flip) {
        for (size_t i = 0; i < words; i++) ((volatile uint64_t *)path_buf)[i] = ((uint64_t *)path_a)[i];
        for (size_t i = 0; i < words; i++) ((volatile uint64_t *)path_buf)[i] = ((uint64_t *)path_b)[i];
    }
    return NULL;
}

/* Make a and b the same length by padding the shorter with slashes after its
 * first one ("/dev/urandom" -> "/////dev/urandom"). */
static void pad(char *dst, const char *src, size_t len) {
    size_t n = strlen(src), extra = len - n;
    memset(dst, '/', extra);
    memcpy(dst + extra, src, n + 1);
}

/* toctou A B ITER: one thread flips the path buffer between A and B while
 * this one opens it. Counts what the opens gave. */
static int toctou(char **a) {
    size_t la = strlen(a[0]), lb = strlen(a[1]);
    path_len = la > lb ? la : lb;
    pad(path_a, a[0], path_len);
    pad(path_b, a[1], path_len);
    memcpy(path_buf, path_a, path_len + 1);
    struct stat sb;
    if (stat(a[1], &sb) != 0) memset(&sb, 0, sizeof sb);
    long iters = atol(a[2]), seeded = 0, real = 0, other = 0, failed = 0;
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    for (long i = 0; i < iters; i++) {
        int fd = open(path_buf, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { failed++; continue; }
        struct stat st;
        fstat(fd, &st);
        if (S_ISCHR(st.st_mode) && (st.st_rdev == makedev(1, 9) || st.st_rdev == makedev(1, 8))) {
            if (fd >= SEEDED_MIN) seeded++;
            else real++;
        } else if (st.st_dev == sb.st_dev && st.st_ino == sb.st_ino) {
            other++;
        }
        close(fd);
    }
    stop_flip = 1;
    pthread_join(t, NULL);
    out("seeded", seeded);
    out("real", real);
    out("other", other);
    out("failed", failed);
    return 0;
}

/* toctou_link LINK A B ITER: a second thread swaps which file a symlink in
 * the writable dir points to, while this one opens it. */
static const char *link_path, *link_a, *link_b;
static void *relink(void *arg) {
    (void)arg;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", link_path);
    int i = 0;
    while (!stop_flip) {
        unlink(tmp);
        if (symlink((i++ & 1) ? link_b : link_a, tmp) == 0) rename(tmp, link_path);
    }
    return NULL;
}

static int toctou_link(char **a) {
    link_path = a[0];
    link_a = a[1];
    link_b = a[2];
    struct stat sb;
    if (stat(a[2], &sb) != 0) memset(&sb, 0, sizeof sb);
    long iters = atol(a[3]), seeded = 0, real = 0, other = 0, failed = 0;
    pthread_t t;
    pthread_create(&t, NULL, relink, NULL);
    for (long i = 0; i < iters; i++) {
        int fd = open(link_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) { failed++; continue; }
        struct stat st;
        fstat(fd, &st);
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 9)) {
            if (fd >= SEEDED_MIN) seeded++;
            else real++;
        } else if (st.st_dev == sb.st_dev && st.st_ino == sb.st_ino) {
            other++;
        }
        close(fd);
    }
    stop_flip = 1;
    pthread_join(t, NULL);
    out("seeded", seeded);
    out("real", real);
    out("other", other);
    out("failed", failed);
    return 0;
}

/* ---- misc ---------------------------------------------------------------- */

static int args(int argc, char **argv, char **envp) {
    size_t bytes = 0;
    int n = 0;
    for (int i = 0; i < argc; i++) bytes += strlen(argv[i]) + 1;
    for (char **e = envp; *e; e++) { bytes += strlen(*e) + 1; n++; }
    out("argc", argc);
    out("envc", n);
    out("bytes", (long)bytes);
    return 0;
}

/* caps: what root keeps inside the sandbox. */
static int caps(void) {
    struct { uint32_t version; int pid; } hdr = { 0x20080522, 0 };
    struct { uint32_t effective, permitted, inheritable; } data[2];
    memset(data, 0, sizeof data);
    syscall(SYS_capget, &hdr, data);
    out("cap_eff", (long)data[0].effective | ((long)data[1].effective << 32));
    char name[256];
    memset(name, 0, sizeof name);
    gethostname(name, sizeof name - 1);
    /* The same name again: harmless if it works, but it must not. */
    out("sethostname", res(sethostname(name, strlen(name))));
    return 0;
}

static int ids(void) {
    out("uid", getuid());
    out("euid", geteuid());
    out("gid", getgid());
    out("egid", getegid());
    return 0;
}

/* connect_abstract NAME / connect_path PATH */
static int connect_unix(const char *name, int abstract) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n >= sizeof sa.sun_path - 1) return 2;
    memcpy(sa.sun_path + (abstract ? 1 : 0), name, n);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) { out("socket", errno); return 0; }
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0);
    out("connect", res(connect(s, (struct sockaddr *)&sa, len)));
    return 0;
}

static int fdexhaust(void) {
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0) n++;
    out("opened", n);
    out("errno", errno);
    /* Still alive and able to make a mediated call. */
    char b[16];
    out("getrandom", syscall(SYS_getrandom, b, sizeof b, 0));
    return 0;
}

int main(int argc, char **argv, char **envp) {
    if (argc < 2) return 2;
    const char *w = argv[1];
    char **a = argv + 2;
    int na = argc - 2;
#define NEED(n) do { if (na < (n)) return 2; } while (0)
    if (!strcmp(w, "fs")) { NEED(6); return fs(a); }
    if (!strcmp(w, "meta")) { NEED(1); return meta(a); }
    if (!strcmp(w, "planted")) { NEED(3); return planted(a); }
    if (!strcmp(w, "procpid")) { NEED(3); return procpid(a); }
    if (!strcmp(w, "fds")) return fds();
    if (!strcmp(w, "mknod")) { NEED(1); return devnodes(a); }
    if (!strcmp(w, "exec")) { NEED(1); return do_exec(a); }
    if (!strcmp(w, "memfd_exec")) { NEED(1); return memfd_exec(a); }
    if (!strcmp(w, "abi")) { NEED(2); return abi(a); }
    if (!strcmp(w, "ns")) return ns();
    if (!strcmp(w, "io_uring")) return uring();
    if (!strcmp(w, "ptrace")) { NEED(1); return trace(a); }
    if (!strcmp(w, "tiocsti")) return tiocsti();
    if (!strcmp(w, "prctl")) return prctls();
    if (!strcmp(w, "personality")) return personalities();
    if (!strcmp(w, "seccomp")) return nested_seccomp();
    if (!strcmp(w, "daemon")) { NEED(1); return daemonize(a); }
    if (!strcmp(w, "spawnrace")) { NEED(1); return spawnrace(a, argv[0]); }
    if (!strcmp(w, "killall")) { NEED(1); return killall(a); }
    if (!strcmp(w, "signals")) { NEED(2); return signals(a); }
    if (!strcmp(w, "forkbomb")) { NEED(1); return forkbomb(a); }
    if (!strcmp(w, "flood")) { NEED(2); return flood(a); }
    if (!strcmp(w, "pending")) { NEED(3); return pending(a); }
    if (!strcmp(w, "interrupted")) { NEED(1); return interrupted(a); }
    if (!strcmp(w, "toctou")) { NEED(3); return toctou(a); }
    if (!strcmp(w, "toctou_link")) { NEED(4); return toctou_link(a); }
    if (!strcmp(w, "args")) return args(argc, argv, envp);
    if (!strcmp(w, "ids")) return ids();
    if (!strcmp(w, "caps")) return caps();
    if (!strcmp(w, "connect_abstract")) { NEED(1); return connect_unix(a[0], 1); }
    if (!strcmp(w, "connect_path")) { NEED(1); return connect_unix(a[0], 0); }
    if (!strcmp(w, "fdexhaust")) return fdexhaust();
    return 2;
}
