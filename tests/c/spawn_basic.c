/*
 * Spawning through the C API: exit codes, a missing program, a child killed by
 * a signal, the non-blocking and timed waits, kill, the pidfd, the policy
 * timeout, the environment and stdio redirection into a pipe.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

/* Spawn argv under p and wait; the raw status, or -1 after a failed CHECK. */
static int run(const sl_policy *p, char *const *argv)
{
    sl_child *c = NULL;
    int status = -1;
    int rc = spawn_argv(p, argv, &c);
    if (rc != SL_OK) {
        fprintf(stderr, "spawn %s: %s\n", argv[0], sl_last_error_message());
        check_failures++;
        return -1;
    }
    CHECK(sl_child_pid(c) > 0);
    CHECK_OK(sl_wait(c, &status));
    sl_child_free(c);
    return status;
}

static void exit_codes(const sl_policy *p)
{
    char *const t[] = {ARG("/bin/true"), NULL};
    char *const f[] = {ARG("/bin/false"), NULL};
    char *const by_path[] = {ARG("true"), NULL};
    char *const code[] = {ARG("/bin/sh"), ARG("-c"), ARG("exit 42"), NULL};
    int st;

    st = run(p, t);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = run(p, f);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    st = run(p, by_path); /* looked up in the policy's PATH */
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = run(p, code);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 42);
}

static void missing_program(const sl_policy *p)
{
    char *const abs[] = {ARG("/nonexistent/sandlock-no-such-program"), NULL};
    char *const rel[] = {ARG("sandlock-no-such-program"), NULL};
    sl_child *c = NULL;

    CHECK_ERR(spawn_argv(p, abs, &c), SL_E_EXEC, NULL, "/nonexistent/sandlock-no-such-program");
    CHECK_ERR(spawn_argv(p, rel, &c), SL_E_EXEC, NULL, "sandlock-no-such-program");
    CHECK(c == NULL);
}

static void killed_by_signal(const sl_policy *p)
{
    char *const argv[] = {ARG("/bin/sh"), ARG("-c"), ARG("kill -TERM $$; sleep 5"), NULL};
    sl_child *c = NULL;
    sl_result r;
    int st = -1;

    CHECK_OK(spawn_argv(p, argv, &c));
    if (c == NULL) {
        return;
    }
    CHECK_OK(sl_wait(c, &st));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    CHECK_OK(sl_wait_result(c, &r));
    CHECK(r.reason == SL_END_SIGNALED && r.signal == SIGTERM && r.status == st);
    sl_child_free(c);
}

static void waits_and_kill(const sl_policy *p)
{
    char *const argv[] = {ARG("/bin/sleep"), ARG("1"), NULL};
    sl_child *c = NULL;
    int status = -12345, fd;
    struct pollfd pfd;

    CHECK_OK(spawn_argv(p, argv, &c));
    if (c == NULL) {
        return;
    }
    CHECK(sl_child_pid(c) > 0);
    fd = sl_child_pidfd(c);
    CHECK(fd >= 0);
    CHECK_ERR(sl_try_wait(c, &status), SL_E_AGAIN, NULL, NULL);
    CHECK(status == -12345);
    CHECK_ERR(sl_wait_timeout(c, 50, &status), SL_E_TIMEOUT, NULL, NULL);
    CHECK(status == -12345);
    /* The pidfd is not readable while the child runs. */
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    CHECK(poll(&pfd, 1, 0) == 0);

    CHECK_OK(sl_child_kill(c, SIGKILL));
    CHECK_OK(sl_wait(c, &status));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(!sl_child_timed_out(c));
    {
        sl_result r;
        CHECK_OK(sl_wait_result(c, &r));
        CHECK(r.reason == SL_END_KILLED && r.signal == SIGKILL && r.exit_code == -1);
    }
    /* ...and readable once it has exited. */
    pfd.revents = 0;
    CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN));
    /* Once exited, the waits return at once with the status. */
    status = -1;
    CHECK_OK(sl_try_wait(c, &status));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    status = -1;
    CHECK_OK(sl_wait_timeout(c, 0, &status));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    sl_child_free(c);
}

static void policy_timeout(const sl_policy *base)
{
    char *const argv[] = {ARG("/bin/sleep"), ARG("10"), NULL};
    sl_policy *p = NULL;
    sl_child *c = NULL;
    int status = -1;

    CHECK_OK(sl_policy_clone(base, &p));
    if (p == NULL) {
        return;
    }
    CHECK_OK(sl_policy_set_timeout_ms(p, 200));
    CHECK_OK(spawn_argv(p, argv, &c));
    if (c != NULL) {
        CHECK_OK(sl_wait_timeout(c, 5000, &status));
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK(sl_child_timed_out(c));
        {
            sl_result r;
            CHECK_OK(sl_wait_result(c, &r));
            CHECK(r.reason == SL_END_TIMEOUT && r.signal == SIGKILL);
        }
        sl_child_free(c);
    }
    sl_policy_free(p);
}

/* Run argv with stdout into a pipe; copy what it printed into buf. */
static void capture(const sl_policy *base, char *const *argv, char *buf, size_t len)
{
    sl_policy *p = NULL;
    sl_child *c = NULL;
    int fds[2], status = -1;
    size_t got = 0;

    buf[0] = '\0';
    CHECK(pipe(fds) == 0);
    CHECK_OK(sl_policy_clone(base, &p));
    if (p == NULL) {
        return;
    }
    CHECK_OK(sl_policy_set_stdio(p, -1, fds[1], -1));
    CHECK_OK(spawn_argv(p, argv, &c));
    /* The fds were duplicated for the child: the host may close its copy now. */
    close(fds[1]);
    if (c != NULL) {
        CHECK_OK(sl_wait(c, &status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        sl_child_free(c);
    }
    for (;;) {
        struct pollfd pfd;
        ssize_t n;
        pfd.fd = fds[0];
        pfd.events = POLLIN;
        pfd.revents = 0;
        /* Bounded: a leaked write end must fail the test, not hang it. */
        if (poll(&pfd, 1, 5000) != 1) {
            fprintf(stderr, "capture: no EOF on the pipe within 5 s (write end leaked?)\n");
            check_failures++;
            break;
        }
        n = read(fds[0], buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (got == len - 1) {
            break;
        }
    }
    buf[got] = '\0';
    close(fds[0]);
    sl_policy_free(p);
}

static void stdio_and_env(const sl_policy *base)
{
    char *const echo[] = {ARG("/bin/echo"), ARG("hello from the sandbox"), NULL};
    char *const env[] = {ARG("/bin/sh"), ARG("-c"), ARG("echo \"$SANDLOCK_TEST_VAR:$HOME\""), NULL};
    char buf[256];
    sl_policy *p = NULL;

    capture(base, echo, buf, sizeof buf);
    CHECK(strcmp(buf, "hello from the sandbox\n") == 0);

    /* The environment is empty unless set: HOME is not passed through. */
    CHECK_OK(sl_policy_clone(base, &p));
    if (p == NULL) {
        return;
    }
    CHECK_OK(sl_policy_set_env(p, "SANDLOCK_TEST_VAR", "forty-two"));
    capture(p, env, buf, sizeof buf);
    CHECK(strcmp(buf, "forty-two:\n") == 0);
    if (strcmp(buf, "forty-two:\n") != 0) {
        fprintf(stderr, "env output: \"%s\"\n", buf);
    }
    sl_policy_free(p);
}

int main(void)
{
    sl_policy *p = system_policy();
    if (p == NULL) {
        return check_done("spawn_basic");
    }
    exit_codes(p);
    missing_program(p);
    killed_by_signal(p);
    waits_and_kill(p);
    policy_timeout(p);
    stdio_and_env(p);
    sl_policy_free(p);
    return check_done("spawn_basic");
}
