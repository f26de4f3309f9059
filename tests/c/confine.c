/*
 * sl_confine_self from a C host (run by tests/confine.rs as: confine INSIDE OUTSIDE,
 * two directories that each hold a readable file named "file").
 *
 * Confinement is irreversible, so it happens in a forked child, which reports
 * through its exit code; the parent, the test program itself, checks that it
 * stayed unconfined.
 */
#define _GNU_SOURCE

#include <sandlock.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

/* 0 if DIR/file opens for reading, else -errno. */
static int open_file(const char *dir)
{
    char path[4096];
    int fd;
    snprintf(path, sizeof path, "%s/file", dir);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -errno;
    }
    close(fd);
    return 0;
}

/* errno of ptrace(PTRACE_CONT) on a process we do not trace: ESRCH from the
 * kernel, EPERM when the deny list answers first. */
static int ptrace_errno(void)
{
    errno = 0;
    if (ptrace(PTRACE_CONT, getppid(), NULL, NULL) == 0) {
        return 0;
    }
    return errno;
}

static int confined_child(const sl_policy *p, const char *inside, const char *outside)
{
    if (sl_confine_self(p) != SL_OK) {
        fprintf(stderr, "sl_confine_self: %s\n", sl_last_error_message());
        return 10;
    }
    if (open_file(inside) != 0) {
        return 11;
    }
    if (open_file(outside) != -EACCES) {
        return 12;
    }
    if (open_file("/etc") != -EACCES && open_file("/etc") != -ENOENT) {
        return 13;
    }
    if (ptrace_errno() != EPERM) {
        return 14;
    }
    return 0;
}

static int refused_child(const sl_policy *seeded, const char *outside)
{
    if (sl_confine_self(seeded) != SL_E_INVALID) {
        return 20;
    }
    if (strstr(sl_last_error_message(), "sl_policy_set_random_seed") == NULL) {
        return 21;
    }
    if (open_file(outside) != 0) { /* still unconfined */
        return 22;
    }
    if (ptrace_errno() != ESRCH) {
        return 23;
    }
    return 0;
}

static int run_in_child(int which, const sl_policy *p, const char *inside, const char *outside)
{
    int status = 0;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        _exit(which == 0 ? confined_child(p, inside, outside) : refused_child(p, outside));
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        fprintf(stderr, "child %d: status %#x\n", which, status);
        return -1;
    }
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    sl_policy *p = NULL, *seeded = NULL;
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: %s INSIDE OUTSIDE\n", argv[0]);
        return 2;
    }
    if (sl_confine_self(NULL) != SL_E_INVALID ||
        strstr(sl_last_error_message(), "policy") == NULL) {
        fprintf(stderr, "sl_confine_self(NULL) was not refused\n");
        return 1;
    }
    if (sl_policy_new(&p) != SL_OK || sl_policy_allow_read(p, argv[1]) != SL_OK ||
        sl_policy_clone(p, &seeded) != SL_OK || sl_policy_set_random_seed(seeded, 7) != SL_OK) {
        fprintf(stderr, "policy: %s\n", sl_last_error_message());
        return 1;
    }
    rc = run_in_child(0, p, argv[1], argv[2]);
    if (rc != 0) {
        fprintf(stderr, "confined child failed check %d\n", rc);
        return 1;
    }
    rc = run_in_child(1, seeded, argv[1], argv[2]);
    if (rc != 0) {
        fprintf(stderr, "refused child failed check %d\n", rc);
        return 1;
    }
    /* The test program itself was never confined. */
    if (open_file(argv[2]) != 0) {
        fprintf(stderr, "the parent lost access to %s\n", argv[2]);
        return 1;
    }
    sl_policy_free(seeded);
    sl_policy_free(p);
    puts("confine: ok");
    return 0;
}
