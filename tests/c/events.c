/*
 * Event callbacks from C: a callback that refuses to run any program whose
 * arguments contain "forbidden" (with EPERM), and allows everything else.
 */
#include "check.h"

#include <errno.h>
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
    return check_done("events");
}
