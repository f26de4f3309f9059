/*
 * Every entry point, given NULL or bad input, returns the documented SL_E_*
 * code and leaves a non-empty message naming the function and the argument.
 * Also: sl_strerror for every code, the free functions with NULL, and that a
 * successful call clears the error slot.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const int all_codes[] = {
    SL_E_INVALID, SL_E_NOMEM,   SL_E_UNSUPPORTED, SL_E_SYS,        SL_E_SETUP,
    SL_E_EXEC,    SL_E_AGAIN,   SL_E_TIMEOUT,     SL_E_SUPERVISOR, SL_E_INTERNAL,
};
#define NCODES (sizeof all_codes / sizeof all_codes[0])

static void codes_and_strerror(void)
{
    size_t i, j;
    CHECK(SL_OK == 0);
    CHECK(strcmp(sl_strerror(SL_OK), "success") == 0);
    for (i = 0; i < NCODES; i++) {
        const char *s = sl_strerror(all_codes[i]);
        CHECK(all_codes[i] < 0);
        CHECK(s != NULL && s[0] != '\0');
        CHECK(s != NULL && strcmp(s, "unknown error code") != 0);
        for (j = 0; j < i; j++) {
            CHECK(all_codes[i] != all_codes[j]);
            CHECK(strcmp(s, sl_strerror(all_codes[j])) != 0);
        }
    }
    CHECK(strcmp(sl_strerror(1), "unknown error code") == 0);
    CHECK(strcmp(sl_strerror(-12345), "unknown error code") == 0);
    CHECK(strcmp(sl_strerror(SL_E_INTERNAL - 1), "unknown error code") == 0);
    CHECK(strcmp(sl_strerror(INT32_MIN), "unknown error code") == 0);
    CHECK(strcmp(sl_strerror(INT32_MAX), "unknown error code") == 0);
}

static int allow_all(sl_event *ev, void *userdata)
{
    (void)ev;
    (void)userdata;
    return SL_ALLOW;
}

static void policy_errors(void)
{
    sl_policy *p = NULL, *q = NULL;

    CHECK_ERR(sl_policy_new(NULL), SL_E_INVALID, "sl_policy_new", "out");
    CHECK_OK(sl_policy_new(&p));
    if (p == NULL) {
        return;
    }
    /* A successful call leaves an empty message and errno 0. */
    CHECK(strcmp(sl_last_error_message(), "") == 0);
    CHECK(sl_last_errno() == 0);

    CHECK_ERR(sl_policy_clone(NULL, &q), SL_E_INVALID, "sl_policy_clone", "policy");
    CHECK_ERR(sl_policy_clone(p, NULL), SL_E_INVALID, "sl_policy_clone", "out");
    CHECK(q == NULL); /* outputs are written only on success */

    CHECK_ERR(sl_policy_allow_read(NULL, "/usr"), SL_E_INVALID, "sl_policy_allow_read", "policy");
    CHECK_ERR(sl_policy_allow_read(p, NULL), SL_E_INVALID, "sl_policy_allow_read", "path");
    CHECK_ERR(sl_policy_allow_read(p, "usr/lib"), SL_E_INVALID, "sl_policy_allow_read", "usr/lib");
    CHECK_ERR(sl_policy_allow_read(p, ""), SL_E_INVALID, "sl_policy_allow_read", NULL);
    CHECK_ERR(sl_policy_allow_read(p, "/nonexistent/sandlock-test"), SL_E_INVALID,
              "sl_policy_allow_read", "/nonexistent/sandlock-test");
    CHECK_ERR(sl_policy_allow_write(NULL, "/tmp"), SL_E_INVALID, "sl_policy_allow_write", "policy");
    CHECK_ERR(sl_policy_allow_write(p, NULL), SL_E_INVALID, "sl_policy_allow_write", "path");
    CHECK_ERR(sl_policy_allow_write(p, "tmp"), SL_E_INVALID, "sl_policy_allow_write", "tmp");
    CHECK_ERR(sl_policy_allow_write(p, "/nonexistent/w"), SL_E_INVALID, "sl_policy_allow_write",
              "/nonexistent/w");
    CHECK_ERR(sl_policy_allow_exec(NULL, "/usr/bin"), SL_E_INVALID, "sl_policy_allow_exec", "policy");
    CHECK_ERR(sl_policy_allow_exec(p, NULL), SL_E_INVALID, "sl_policy_allow_exec", "path");
    CHECK_ERR(sl_policy_allow_exec(p, "bin"), SL_E_INVALID, "sl_policy_allow_exec", "bin");
    CHECK_ERR(sl_policy_allow_exec(p, "/nonexistent/x"), SL_E_INVALID, "sl_policy_allow_exec",
              "/nonexistent/x");

    CHECK_ERR(sl_policy_allow_udp(NULL, true), SL_E_INVALID, "sl_policy_allow_udp", "policy");
    CHECK_OK(sl_policy_allow_udp(p, false));
    CHECK_ERR(sl_policy_allow_connect(NULL, "10.0.0.0/8:443"), SL_E_INVALID,
              "sl_policy_allow_connect", "policy");
    CHECK_ERR(sl_policy_allow_connect(p, NULL), SL_E_INVALID, "sl_policy_allow_connect", "rule");
    CHECK_ERR(sl_policy_allow_connect(p, "10.0.0.0/33:443"), SL_E_INVALID,
              "sl_policy_allow_connect", "prefix");
    CHECK_ERR(sl_policy_allow_connect(p, "example.com:80"), SL_E_INVALID,
              "sl_policy_allow_connect", "example.com");
    CHECK_OK(sl_policy_allow_connect(p, "[::1]:*"));
    CHECK_ERR(sl_policy_allow_bind(NULL, "127.0.0.1:80"), SL_E_INVALID, "sl_policy_allow_bind",
              "policy");
    CHECK_ERR(sl_policy_allow_bind(p, NULL), SL_E_INVALID, "sl_policy_allow_bind", "rule");
    CHECK_ERR(sl_policy_allow_bind(p, "127.0.0.1"), SL_E_INVALID, "sl_policy_allow_bind",
              "127.0.0.1");
    CHECK_ERR(sl_policy_allow_bind(p, "0.0.0.0/0:99999"), SL_E_INVALID, "sl_policy_allow_bind",
              "99999");
    CHECK_OK(sl_policy_allow_bind(p, "[::]/0:*"));
    CHECK_ERR(sl_policy_deny_path(NULL, "/etc/shadow"), SL_E_INVALID, "sl_policy_deny_path",
              "policy");
    CHECK_ERR(sl_policy_deny_path(p, NULL), SL_E_INVALID, "sl_policy_deny_path", "path");
    CHECK_ERR(sl_policy_deny_path(p, "etc/shadow"), SL_E_INVALID, "sl_policy_deny_path",
              "etc/shadow");
    CHECK_ERR(sl_policy_deny_path(p, "/"), SL_E_INVALID, "sl_policy_deny_path", "/");
    CHECK_ERR(sl_policy_deny_path(p, "/usr/../etc"), SL_E_INVALID, "sl_policy_deny_path", "..");

    CHECK_ERR(sl_policy_allow_tcp_bind(NULL, 8080), SL_E_INVALID, "sl_policy_allow_tcp_bind",
              "policy");
    CHECK_ERR(sl_policy_allow_tcp_connect(NULL, 443), SL_E_INVALID, "sl_policy_allow_tcp_connect",
              "policy");
    CHECK_OK(sl_policy_allow_tcp_bind(p, 0)); /* 0: an ephemeral port */

    CHECK_ERR(sl_policy_set_random_seed(NULL, 42), SL_E_INVALID, "sl_policy_set_random_seed",
              "policy");

    CHECK_ERR(sl_policy_set_env(NULL, "A", "b"), SL_E_INVALID, "sl_policy_set_env", "policy");
    CHECK_ERR(sl_policy_set_env(p, NULL, "b"), SL_E_INVALID, "sl_policy_set_env", "name");
    CHECK_ERR(sl_policy_set_env(p, "", "b"), SL_E_INVALID, "sl_policy_set_env", "name");
    CHECK_ERR(sl_policy_set_env(p, "A=B", "c"), SL_E_INVALID, "sl_policy_set_env", "A=B");
    CHECK_OK(sl_policy_set_env(p, "A", "b"));
    CHECK_OK(sl_policy_set_env(p, "A", NULL)); /* NULL value removes it */
    CHECK_ERR(sl_policy_inherit_env(NULL, true), SL_E_INVALID, "sl_policy_inherit_env", "policy");
    CHECK_ERR(sl_policy_clear_env(NULL), SL_E_INVALID, "sl_policy_clear_env", "policy");

    CHECK_ERR(sl_policy_set_cwd(NULL, "/"), SL_E_INVALID, "sl_policy_set_cwd", "policy");
    CHECK_ERR(sl_policy_set_cwd(p, NULL), SL_E_INVALID, "sl_policy_set_cwd", "dir");
    CHECK_ERR(sl_policy_set_cwd(p, "relative"), SL_E_INVALID, "sl_policy_set_cwd", "relative");
    CHECK_ERR(sl_policy_set_cwd(p, "/nonexistent/cwd"), SL_E_INVALID, "sl_policy_set_cwd",
              "/nonexistent/cwd");
    if (access("/etc/passwd", F_OK) == 0) {
        CHECK_ERR(sl_policy_set_cwd(p, "/etc/passwd"), SL_E_INVALID, "sl_policy_set_cwd",
                  "/etc/passwd");
    }

    CHECK_ERR(sl_policy_set_stdio(NULL, -1, -1, -1), SL_E_INVALID, "sl_policy_set_stdio", "policy");
    CHECK_ERR(sl_policy_set_stdio(p, -2, -1, -1), SL_E_INVALID, "sl_policy_set_stdio", "-2");
    CHECK_ERR(sl_policy_set_stdio(p, -1, 987654, -1), SL_E_INVALID, "sl_policy_set_stdio",
              "987654");
    CHECK_ERR(sl_policy_set_stdio(p, -1, -1, INT32_MIN), SL_E_INVALID, "sl_policy_set_stdio", NULL);
    CHECK_OK(sl_policy_set_stdio(p, -1, -1, -1));

    CHECK_ERR(sl_policy_set_timeout_ms(NULL, 10), SL_E_INVALID, "sl_policy_set_timeout_ms",
              "policy");
    CHECK_ERR(sl_policy_set_best_effort(NULL, true), SL_E_INVALID, "sl_policy_set_best_effort",
              "policy");

    CHECK_ERR(sl_policy_set_limit(NULL, SL_LIMIT_MEMORY, 1 << 20), SL_E_INVALID,
              "sl_policy_set_limit", "policy");
    CHECK_ERR(sl_policy_set_limit(p, 999, 1), SL_E_INVALID, "sl_policy_set_limit", "999");
    CHECK_ERR(sl_policy_set_limit(p, 0, 1), SL_E_INVALID, "sl_policy_set_limit", NULL);
    CHECK_OK(sl_policy_set_limit(p, SL_LIMIT_PROCESSES, 0)); /* 0 removes the limit */

    CHECK_ERR(sl_policy_set_event_handler(NULL, SL_EVENT_EXEC, allow_all, NULL), SL_E_INVALID,
              "sl_policy_set_event_handler", "policy");
    CHECK_ERR(sl_policy_set_event_handler(p, 0, allow_all, NULL), SL_E_INVALID,
              "sl_policy_set_event_handler", "mask");
    CHECK_ERR(sl_policy_set_event_handler(p, 0x100, allow_all, NULL), SL_E_INVALID,
              "sl_policy_set_event_handler", "0x100");
    CHECK_OK(sl_policy_set_event_handler(p, SL_EVENT_EXEC | SL_EVENT_OPEN | SL_EVENT_CONNECT, allow_all, NULL));
    CHECK_OK(sl_policy_set_event_handler(p, SL_EVENT_BIND | SL_EVENT_DENIED, allow_all, NULL));
    CHECK_ERR(sl_policy_set_event_handler(p, SL_EVENT_CONNECT | 0x20, allow_all, NULL), SL_E_INVALID,
              "sl_policy_set_event_handler", "0x28");
    CHECK_OK(sl_policy_set_event_handler(p, 0, NULL, NULL)); /* NULL removes the handler */

    CHECK_ERR(sl_policy_set_time(NULL, 0, 0), SL_E_INVALID, "sl_policy_set_time", "policy");
    CHECK_ERR(sl_policy_set_time(p, 12345, 0), SL_E_INVALID, "sl_policy_set_time", "12345");
#ifdef SL_TIME_FROZEN
    CHECK_ERR(sl_policy_set_time(p, SL_TIME_FROZEN, -1), SL_E_INVALID, "sl_policy_set_time", "-1");
#endif
    CHECK_ERR(sl_policy_set_time_step_ns(NULL, 1), SL_E_INVALID, "sl_policy_set_time_step_ns",
              "policy");
    CHECK_ERR(sl_policy_set_time_step_ns(p, 0), SL_E_INVALID, "sl_policy_set_time_step_ns", "0");
    CHECK_ERR(sl_policy_set_time_step_ns(p, -5), SL_E_INVALID, "sl_policy_set_time_step_ns", "-5");

    CHECK_ERR(sl_policy_set_cpu_count(NULL, 2), SL_E_INVALID, "sl_policy_set_cpu_count", "policy");
    CHECK_ERR(sl_policy_set_cpu_count(p, -1), SL_E_INVALID, "sl_policy_set_cpu_count", "-1");
    CHECK_ERR(sl_policy_set_cpu_count(p, 100000), SL_E_INVALID, "sl_policy_set_cpu_count",
              "100000");
    CHECK_OK(sl_policy_set_cpu_count(p, 0));

    CHECK_ERR(sl_policy_set_hostname(NULL, "box"), SL_E_INVALID, "sl_policy_set_hostname",
              "policy");
    CHECK_ERR(sl_policy_set_hostname(p, ""), SL_E_INVALID, "sl_policy_set_hostname", NULL);
    CHECK_ERR(sl_policy_set_hostname(p, "two words"), SL_E_INVALID, "sl_policy_set_hostname", NULL);
    CHECK_ERR(sl_policy_set_hostname(p, "x123456789x123456789x123456789x123456789x123456789"
                                        "x123456789x123456789"),
              SL_E_INVALID, "sl_policy_set_hostname", NULL);
    CHECK_OK(sl_policy_set_hostname(p, NULL)); /* back to the host's name */

    CHECK_ERR(sl_policy_set_proc_view(NULL, true), SL_E_INVALID, "sl_policy_set_proc_view",
              "policy");
    CHECK_OK(sl_policy_set_proc_view(p, true));
    CHECK_OK(sl_policy_set_proc_view(p, false));
    CHECK_ERR(sl_policy_set_workdir(NULL, "/tmp", SL_COW_AUTO), SL_E_INVALID,
              "sl_policy_set_workdir", "policy");
    CHECK_ERR(sl_policy_set_workdir(p, NULL, SL_COW_AUTO), SL_E_INVALID, "sl_policy_set_workdir",
              "dir");
    CHECK_ERR(sl_policy_set_workdir(p, "tmp", SL_COW_AUTO), SL_E_INVALID, "sl_policy_set_workdir",
              "absolute");
    CHECK_ERR(sl_policy_set_workdir(p, "/nonexistent-sandlock", SL_COW_KEEP), SL_E_INVALID,
              "sl_policy_set_workdir", "/nonexistent-sandlock");
    CHECK_ERR(sl_policy_set_workdir(p, "/tmp", 42), SL_E_INVALID, "sl_policy_set_workdir", "42");

    /* Errors do not damage the policy: it still clones. */
    CHECK_OK(sl_policy_clone(p, &q));
    CHECK(q != NULL && q != p);
    sl_policy_free(q);
    sl_policy_free(p);
}

static void profile_and_confine_errors(void)
{
    sl_policy *q = NULL;

    CHECK_ERR(sl_policy_from_string(NULL, &q), SL_E_INVALID, "sl_policy_from_string", "text");
    CHECK_ERR(sl_policy_from_string("seed = 1", NULL), SL_E_INVALID, "sl_policy_from_string",
              "out");
    CHECK_ERR(sl_policy_from_string("seed = 1\nraed = [\"/usr\"]\n", &q), SL_E_INVALID,
              "line 2", "'raed'");
    CHECK_ERR(sl_policy_from_file(NULL, &q), SL_E_INVALID, "sl_policy_from_file", "path");
    CHECK_ERR(sl_policy_from_file("/tmp/x.toml", NULL), SL_E_INVALID, "sl_policy_from_file",
              "out");
    CHECK_ERR(sl_policy_from_file("/nonexistent-sandlock/p.toml", &q), SL_E_INVALID,
              "sl_policy_from_file", "/nonexistent-sandlock/p.toml");
    CHECK(q == NULL); /* never a partial policy */
    /* NULL is refused before anything is applied: safe in the test process. */
    CHECK_ERR(sl_confine_self(NULL), SL_E_INVALID, "sl_confine_self", "policy");
}

static void child_errors(void)
{
    char *const argv[] = {ARG("/bin/true"), NULL};
    char *const empty[] = {NULL};
    sl_policy *p = system_policy();
    sl_child *c = NULL;
    sl_result res;
    int status = -12345;

    if (p == NULL) {
        return;
    }
    CHECK_ERR(sl_spawn(NULL, NULL, NULL), SL_E_INVALID, "sl_spawn", NULL);
    CHECK_ERR(spawn_argv(NULL, argv, &c), SL_E_INVALID, "sl_spawn", "policy");
    CHECK_ERR(spawn_argv(p, NULL, &c), SL_E_INVALID, "sl_spawn", "argv");
    CHECK_ERR(spawn_argv(p, argv, NULL), SL_E_INVALID, "sl_spawn", "out");
    CHECK_ERR(spawn_argv(p, empty, &c), SL_E_INVALID, "sl_spawn", "argv");
    CHECK(c == NULL);

    CHECK_ERR(sl_wait(NULL, &status), SL_E_INVALID, "sl_wait", "child");
    CHECK_ERR(sl_try_wait(NULL, &status), SL_E_INVALID, "sl_try_wait", "child");
    CHECK_ERR(sl_wait_timeout(NULL, 0, &status), SL_E_INVALID, "sl_wait_timeout", "child");
    CHECK_ERR(sl_child_kill(NULL, SIGKILL), SL_E_INVALID, "sl_child_kill", "child");
    CHECK_ERR(sl_wait_result(NULL, &res), SL_E_INVALID, "sl_wait_result", "child");
    CHECK(status == -12345);
    CHECK(sl_child_pid(NULL) == -1);
    CHECK(sl_child_pidfd(NULL) == -1);
    CHECK(sl_child_timed_out(NULL) == false);
    CHECK_ERR(sl_child_commit(NULL), SL_E_INVALID, "sl_child_commit", "child");
    CHECK_ERR(sl_child_abort(NULL), SL_E_INVALID, "sl_child_abort", "child");
    CHECK_ERR(sl_child_changes(NULL, NULL, NULL), SL_E_INVALID, "sl_child_changes", NULL);
    CHECK(sl_child_upper_dir(NULL) == NULL);

    CHECK_OK(spawn_argv(p, argv, &c));
    if (c != NULL) {
        CHECK_ERR(sl_wait(c, NULL), SL_E_INVALID, "sl_wait", "status");
        CHECK_ERR(sl_try_wait(c, NULL), SL_E_INVALID, "sl_try_wait", "status");
        CHECK_ERR(sl_wait_timeout(c, 10, NULL), SL_E_INVALID, "sl_wait_timeout", "status");
        CHECK_ERR(sl_child_kill(c, 0), SL_E_INVALID, "sl_child_kill", "0");
        CHECK_ERR(sl_child_kill(c, -9), SL_E_INVALID, "sl_child_kill", "-9");
        CHECK_ERR(sl_child_kill(c, 65), SL_E_INVALID, "sl_child_kill", "65");
        CHECK_ERR(sl_wait_result(c, NULL), SL_E_INVALID, "sl_wait_result", "out");
        CHECK_OK(sl_wait(c, &status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_OK(sl_child_kill(c, SIGKILL)); /* already exited: a no-op */
        CHECK_OK(sl_wait(c, &status));       /* waiting again gives the same status */
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        memset(&res, 0x5a, sizeof res);
        CHECK_OK(sl_wait_result(c, &res));
        CHECK(res.reason == SL_END_EXITED && res.status == status && res.exit_code == 0);
        CHECK(res.signal == 0 && !res.core_dumped && res.limit == 0 && res.syscall == -1);
        CHECK(res.reserved[0] == 0 && res.reserved[1] == 0 && res.reserved[2] == 0 &&
              res.reserved[3] == 0);
        /* No workdir: nothing to decide. */
        CHECK_ERR(sl_child_commit(c), SL_E_INVALID, "sl_child_commit", "no workdir");
        CHECK_ERR(sl_child_abort(c), SL_E_INVALID, "sl_child_abort", "no workdir");
        CHECK(sl_child_upper_dir(c) == NULL);
        sl_child_free(c);
    }
    sl_policy_free(p);
}

/* The queries that cannot fail. */
/* sl_child_changes callback: append "K path\n" to the buffer in userdata. */
static int add_change(const sl_change *ch, void *userdata)
{
    char *buf = (char *)userdata;
    size_t n = strlen(buf);
    const char k = ch->kind == SL_CHANGE_ADDED ? 'A' : ch->kind == SL_CHANGE_MODIFIED ? 'M' : 'D';
    snprintf(buf + n, 1024 - n, "%c %s%s\n", k, strrchr(ch->path, '/') + 1,
             ch->applied ? " applied" : "");
    return 0;
}

/* A copy-on-write workdir from C: the change list, then a manual commit. */
static void workdir_flow(void)
{
    char dir[] = "/tmp/sandlock-c-cow-XXXXXX";
    char path[64], list[1024] = "";
    char *const argv[] = {ARG("/bin/sh"), ARG("-c"), ARG("echo x > new; rm old"), NULL};
    sl_policy *p = system_policy();
    sl_child *c = NULL;
    int status = 0;
    FILE *f;
    struct stat st;

    if (p == NULL || mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/old", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fclose(f);
    }
    CHECK_OK(sl_policy_set_workdir(p, dir, SL_COW_MANUAL));
    CHECK_OK(sl_policy_set_cwd(p, dir));
    if (sl_landlock_abi() == 0) {
        /* No Landlock (e.g. under valgrind): a workdir is refused, even best effort. */
        CHECK_ERR(spawn_argv(p, argv, &c), SL_E_UNSUPPORTED, "sl_spawn", "Landlock");
        CHECK(unlink(path) == 0);
        CHECK(rmdir(dir) == 0);
        sl_policy_free(p);
        return;
    }
    CHECK_OK(spawn_argv(p, argv, &c));
    if (c != NULL) {
        CHECK_ERR(sl_child_changes(c, NULL, list), SL_E_INVALID, "sl_child_changes", "fn");
        CHECK_OK(sl_wait(c, &status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(stat(path, &st) == 0); /* not applied yet */
        CHECK(sl_child_upper_dir(c) != NULL);
        CHECK_OK(sl_child_changes(c, add_change, list));
        CHECK(strcmp(list, "A new\nD old\n") == 0);
        CHECK_OK(sl_child_commit(c));
        CHECK(stat(path, &st) != 0);
        CHECK_ERR(sl_child_abort(c), SL_E_INVALID, "sl_child_abort", "already committed");
        list[0] = '\0';
        CHECK_OK(sl_child_changes(c, add_change, list));
        CHECK(strcmp(list, "A new applied\nD old applied\n") == 0);
        sl_child_free(c);
    }
    snprintf(path, sizeof path, "%s/new", dir);
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
    sl_policy_free(p);
}

static void queries(void)
{
    CHECK(sl_version() != NULL && sl_version()[0] != '\0');
    CHECK(sl_version_number() == SL_VERSION_NUMBER);
    CHECK(sl_landlock_abi() >= 0);
    (void)sl_features();
    CHECK_ERR(sl_policy_new(NULL), SL_E_INVALID, "sl_policy_new", "out");
    CHECK(sl_last_errno() == 0); /* a NULL argument has no OS errno */
}

int main(void)
{
    codes_and_strerror();
    policy_errors();
    profile_and_confine_errors();
    child_errors();
    workdir_flow();
    queries();
    sl_policy_free(NULL);
    sl_child_free(NULL);
    return check_done("api_errors");
}
