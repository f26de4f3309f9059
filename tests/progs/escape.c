/* Tries one forbidden thing, named by argv[1], and prints what happened:
 * "ok" or "errno=N". Killing actions (x32, int80) print nothing if stopped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int report(long r) {
    if (r < 0) printf("errno=%d\n", errno);
    else printf("ok\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *what = argv[1];
    if (!strcmp(what, "ptrace")) return report(ptrace(PTRACE_TRACEME, 0, 0, 0));
    if (!strcmp(what, "io_uring")) return report(syscall(425 /* io_uring_setup */, 1, NULL));
    if (!strcmp(what, "clone3")) return report(syscall(435 /* clone3 */, NULL, 0));
    if (!strcmp(what, "unshare")) return report(syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */));
    if (!strcmp(what, "tiocsti")) {
        char c = 'x';
        return report(syscall(SYS_ioctl, 0, 0xdead00005412UL, &c));
    }
    if (!strcmp(what, "x32")) {
        printf("before\n");
        fflush(stdout);
        syscall(SYS_getpid | 0x40000000);
        return report(0);
    }
    if (!strcmp(what, "int80")) {
        long r;
        printf("before\n");
        fflush(stdout);
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20 /* i386 getpid */) : "memory");
        return report(r);
    }
    if (!strcmp(what, "read") && argc > 2) return report(open(argv[2], O_RDONLY));
    if (!strcmp(what, "write") && argc > 2) return report(open(argv[2], O_WRONLY | O_CREAT, 0600));
    if (!strcmp(what, "kill") && argc > 2) return report(kill(atoi(argv[2]), 0));
    if (!strcmp(what, "fds")) {
        /* Lists open fds above 2: only 0, 1, 2 may survive into the child. */
        for (int fd = 3; fd < 1024; fd++)
            if (fcntl(fd, F_GETFD) >= 0) printf("open:%d\n", fd);
        printf("done\n");
        return 0;
    }
    return 2;
}
