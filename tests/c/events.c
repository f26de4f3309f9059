/*
 * Event callbacks from C: a callback that refuses to run any program whose
 * arguments contain "forbidden" (with EPERM), and allows everything else;
 * then one that decides binds by port (SL_EVENT_BIND) and hears the refusal.
 */
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

struct seen {
    int execs;
    int denied;
};

static int decide(sl_event *ev, void *userdata)
{
    struct seen *s = (struct seen *)userdata;
    int i;
    if (ev->kind != SL_EVENT_EXEC) {
        return SL_ALLOW;
    }
    s->execs++;
    CHECK(ev->path != NULL && ev->argv != NULL && ev->argv[ev->argc] == NULL);
    for (i = 0; i < ev->argc; i++) {
        if (strstr(ev->argv[i], "forbidden") != NULL) {
            s->denied++;
            ev->deny_errno = EPERM;
            return SL_DENY;
        }
    }
    return SL_ALLOW;
}

/* A TCP port that was free a moment ago on 127.0.0.1, or 0. */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int port = 0, s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(s, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (s >= 0) {
        close(s);
    }
    return port;
}

struct binds {
    int allowed, denied; /* ports */
    int seen, bad, reports;
};

static int decide_bind(sl_event *ev, void *userdata)
{
    struct binds *b = (struct binds *)userdata;
    if (ev->kind == SL_EVENT_DENIED) {
        if (ev->denied == SL_EVENT_BIND && ev->port == b->denied && ev->error == EADDRINUSE &&
            strcmp(ev->address, "127.0.0.1") == 0) {
            b->reports++;
        }
        return SL_ALLOW;
    }
    if (ev->kind != SL_EVENT_BIND) {
        return SL_ALLOW;
    }
    b->seen++;
    if (strcmp(ev->address, "127.0.0.1") != 0 || ev->family != AF_INET ||
        ev->flags != SOCK_STREAM) {
        b->bad++;
    }
    if (ev->port == b->denied) {
        ev->deny_errno = EADDRINUSE;
        return SL_DENY;
    }
    return SL_ALLOW;
}

/* The sandboxed program binds the allowed port (must work), then the denied
 * one (must fail with EADDRINUSE, the callback's errno). */
static void bind_events(void)
{
    struct binds b = {0, 0, 0, 0, 0};
    char ok[16], no[16];
    char *const argv[] = {ARG("python3"), ARG("-c"),
                          ARG("import socket, sys\n"
                              "def bind(p):\n"
                              "    s = socket.socket()\n"
                              "    try: s.bind(('127.0.0.1', int(p))); return 0\n"
                              "    except OSError as e: return e.errno\n"
                              "r = bind(sys.argv[1])\n"
                              "sys.exit(10 + r if r else 0 if bind(sys.argv[2]) == 98 else 11)"),
                          ok, no, NULL};
    sl_child *c = NULL;
    int status = -1;
    sl_policy *p = system_policy();
    if (p == NULL) {
        return;
    }
    b.allowed = free_port();
    b.denied = free_port();
    CHECK(b.allowed > 0 && b.denied > 0 && b.allowed != b.denied);
    snprintf(ok, sizeof ok, "%d", b.allowed);
    snprintf(no, sizeof no, "%d", b.denied);
    CHECK_OK(sl_policy_allow_tcp_bind(p, (uint16_t)b.allowed));
    CHECK_OK(sl_policy_allow_tcp_bind(p, (uint16_t)b.denied));
    CHECK_OK(sl_policy_set_env(p, "PATH", "/usr/bin:/bin"));
    CHECK_OK(sl_policy_set_event_handler(p, SL_EVENT_BIND | SL_EVENT_DENIED, decide_bind, &b));
    if (spawn_argv(p, argv, &c) == SL_OK) {
        CHECK_OK(sl_wait(c, &status));
        sl_child_free(c);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(b.seen == 2);
        CHECK(b.bad == 0);
        CHECK(b.reports == 1);
    } else {
        CHECK(UNDER_VALGRIND()); /* no seccomp user notification under valgrind */
    }
    sl_policy_free(p);
}

struct reports {
    int ptrace, unshare, other;
};

static int on_report(sl_event *ev, void *userdata)
{
    struct reports *r = (struct reports *)userdata;
    if (ev->kind != SL_EVENT_DENIED) {
        return SL_ALLOW;
    }
    if (ev->syscall == 101 && strcmp(ev->syscall_name, "ptrace") == 0 && ev->error == EPERM &&
        strcmp(ev->reason, "on the deny list") == 0 && ev->denied == 0) {
        r->ptrace++;
    } else if (ev->syscall == 272 && strcmp(ev->syscall_name, "unshare") == 0 &&
               ev->error == EPERM) {
        r->unshare++;
    } else {
        r->other++;
    }
    return SL_KILL; /* ignored for reports */
}

/* Deny-list calls are reported (name, number, errno) and still fail with EPERM. */
static void deny_list_reports(void)
{
    struct reports r = {0, 0, 0};
    char *const argv[] = {ARG("python3"), ARG("-c"),
                          ARG("import ctypes, sys\n"
                              "libc = ctypes.CDLL(None, use_errno=True)\n"
                              "a = libc.ptrace(0, 0, 0, 0), ctypes.get_errno()\n"
                              "b = libc.unshare(0x10000000), ctypes.get_errno()\n"
                              "sys.exit(0 if a == (-1, 1) and b == (-1, 1) else 1)"),
                          NULL};
    sl_child *c = NULL;
    int status = -1;
    sl_policy *p = system_policy();
    if (p == NULL) {
        return;
    }
    CHECK_OK(sl_policy_set_env(p, "PATH", "/usr/bin:/bin"));
    CHECK_OK(sl_policy_set_event_handler(p, SL_EVENT_DENIED, on_report, &r));
    if (spawn_argv(p, argv, &c) == SL_OK) {
        CHECK_OK(sl_wait(c, &status));
        sl_child_free(c);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(r.ptrace == 1);
        CHECK(r.unshare == 1);
        CHECK(r.other == 0);
    } else {
        CHECK(UNDER_VALGRIND());
    }
    sl_policy_free(p);
}

int main(void)
{
    struct seen s = {0, 0};
    char *const argv[] = {ARG("/bin/sh"), ARG("-c"),
                          ARG("/bin/true ok || exit 10; /bin/true forbidden && exit 11; exit 0"),
                          NULL};
    sl_child *c = NULL;
    int status = -1;
    sl_policy *p = system_policy();
    if (p == NULL) {
        return check_done("events");
    }
    CHECK_OK(sl_policy_set_event_handler(p, SL_EVENT_EXEC, decide, &s));
    if (UNDER_VALGRIND() && spawn_argv(p, argv, &c) == SL_E_UNSUPPORTED) {
        /* valgrind does not pass seccomp user notification through. */
        sl_policy_free(p);
        return check_done("events");
    }
    if (c == NULL) {
        CHECK_OK(spawn_argv(p, argv, &c));
    }
    if (c != NULL) {
        CHECK_OK(sl_wait(c, &status));
        sl_child_free(c); /* after this, no callback for c runs any more */
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(s.execs == 2);
    CHECK(s.denied == 1);
    sl_policy_free(p);
    bind_events();
    deny_list_reports();
    return check_done("events");
}
