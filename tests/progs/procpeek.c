/* Look at /proc/PID in every way a program can, and print one line per way:
 * "name errno" (0 = it worked). argv: PID, a writable directory (for a
 * symlink into /proc). Used to show that a hidden PID gives ENOENT to all. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static void report(const char *name, int ok) {
    printf("%s %d\n", name, ok ? 0 : errno);
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    const char *pid = argv[1];
    char p[512], q[1024], link[512];
    struct stat st;
    struct statfs sf;
    char buf[256];

    snprintf(p, sizeof p, "/proc/%s", pid);
    report("stat", stat(p, &st) == 0);
    report("lstat", lstat(p, &st) == 0);
    struct statx stx;
    report("statx", statx(AT_FDCWD, p, 0, STATX_BASIC_STATS, &stx) == 0);
    report("access", access(p, F_OK) == 0);
    report("faccessat2", faccessat(AT_FDCWD, p, R_OK, AT_EACCESS) == 0);
    report("statfs", statfs(p, &sf) == 0);
    DIR *d = opendir(p);
    report("opendir", d != NULL);
    if (d)
        closedir(d);
    int ok = chdir(p) == 0;
    report("chdir", ok);
    if (chdir("/") != 0)
        return 2;

    snprintf(q, sizeof q, "/proc/%s/status", pid);
    int fd = open(q, O_RDONLY);
    report("open", fd >= 0);
    if (fd >= 0)
        close(fd);
    snprintf(q, sizeof q, "/proc/%s/cwd", pid);
    report("readlink", readlink(q, buf, sizeof buf) >= 0);
    snprintf(q, sizeof q, "/proc/%s/task/%s/status", pid, pid);
    fd = open(q, O_RDONLY);
    report("task", fd >= 0);
    if (fd >= 0)
        close(fd);
    snprintf(q, sizeof q, "/proc/self/../%s/status", pid);
    fd = open(q, O_RDONLY);
    report("self-dotdot", fd >= 0);
    if (fd >= 0)
        close(fd);
    snprintf(q, sizeof q, "/proc/thread-self/../../../%s/status", pid);
    fd = open(q, O_RDONLY);
    report("thread-self-dotdot", fd >= 0);
    if (fd >= 0)
        close(fd);

    int proc = open("/proc", O_RDONLY | O_DIRECTORY);
    snprintf(q, sizeof q, "%s/status", pid);
    fd = openat(proc, q, O_RDONLY);
    report("openat-dirfd", fd >= 0);
    if (fd >= 0)
        close(fd);
    report("fstatat-dirfd", fstatat(proc, pid, &st, AT_SYMLINK_NOFOLLOW) == 0);
    close(proc);

    snprintf(link, sizeof link, "%s/peek-link-%d", argv[2], (int)getpid());
    unlink(link);
    if (symlink(p, link) != 0)
        return 2;
    snprintf(q, sizeof q, "%s/status", link);
    fd = open(q, O_RDONLY);
    report("symlink-open", fd >= 0);
    if (fd >= 0)
        close(fd);
    report("symlink-stat", stat(link, &st) == 0);
    unlink(link);
    return 0;
}
