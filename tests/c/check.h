/*
 * Tiny assertion helpers shared by the C/C++ test programs in tests/c/.
 * Compiled as C99 and as C++11 with -Wall -Wextra -pedantic -Werror.
 *
 * A failed CHECK prints the file, line, expression and the library's last
 * error message, and the program exits 1 at the end (check_done()).
 */
#ifndef SANDLOCK_TEST_CHECK_H
#define SANDLOCK_TEST_CHECK_H

#include <sandlock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_failures = 0;

/* The last error text for a failed CHECK; dlopen.c, which does not link the
 * library, defines it before including this file. */
#ifndef CHECK_LAST_ERROR
#define CHECK_LAST_ERROR() sl_last_error_message()
#endif

/*
 * Set by tests/c_api.rs for the runs under valgrind: valgrind 3.19 does not know
 * the Landlock system calls (they fail with ENOSYS under it), so the library in
 * a valgrind'ed host must be asked for best effort to spawn at all.
 */
#define UNDER_VALGRIND() (getenv("SANDLOCK_TEST_UNDER_VALGRIND") != NULL)

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n    last error: %s\n", __FILE__,   \
                    __LINE__, #cond, CHECK_LAST_ERROR());                               \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

/* `call` must return SL_OK. */
#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        int check_rc_ = (call);                                                         \
        if (check_rc_ != SL_OK) {                                                       \
            fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", __FILE__, __LINE__,     \
                    #call, check_rc_, sl_strerror(check_rc_), sl_last_error_message()); \
            check_failures++;                                                           \
        }                                                                               \
    } while (0)

/*
 * `call` must fail with `code`, and the thread's last error message must
 * contain both `func` and `what` (the function and the argument it names).
 */
#define CHECK_ERR(call, code, func, what) \
    check_err_((call), (code), (func), (what), #call, __FILE__, __LINE__)

static inline void check_err_(int rc, int code, const char *func, const char *what,
                              const char *expr, const char *file, int line)
{
    const char *msg = sl_last_error_message();
    if (rc != code) {
        fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s); message: %s\n", file,
                line, expr, rc, sl_strerror(rc), code, sl_strerror(code), msg);
        check_failures++;
        return;
    }
    if (msg == NULL || msg[0] == '\0') {
        fprintf(stderr, "%s:%d: %s: empty error message\n", file, line, expr);
        check_failures++;
        return;
    }
    if ((func != NULL && strstr(msg, func) == NULL) || (what != NULL && strstr(msg, what) == NULL)) {
        fprintf(stderr, "%s:%d: %s: message \"%s\" does not name \"%s\" and \"%s\"\n", file, line,
                expr, msg, func ? func : "", what ? what : "");
        check_failures++;
    }
}

/* Exit status for main(): 0 if every check passed. */
static inline int check_done(const char *name)
{
    if (check_failures != 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

/*
 * sl_spawn with an execve-style `char *const argv[]`.
 *
 * The header of sandlock 0.1.0 declares the parameter `const char *const *`,
 * which C (unlike C++) does not convert `char *const *` to; DESIGN.md asks for
 * `char *const argv[]`. Going through `void *` compiles with either declaration.
 */
static inline int spawn_argv(const sl_policy *policy, char *const *argv, sl_child **out)
{
#ifdef __cplusplus
    return sl_spawn(policy, argv, out);
#else
    return sl_spawn(policy, (void *)argv, out);
#endif
}

/* A string literal as the `char *` an argv array holds (C++ forbids the implicit form). */
#define ARG(s) ((char *)(s))

/*
 * A new policy that lets dynamically linked programs run: read access to the
 * usual system directories that exist here. NULL (after a failed CHECK) on error.
 */
static inline sl_policy *system_policy(void)
{
    static const char *const dirs[] = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"};
    sl_policy *p = NULL;
    size_t i;
    int rc = sl_policy_new(&p);
    if (rc != SL_OK) {
        fprintf(stderr, "sl_policy_new: %s\n", sl_last_error_message());
        check_failures++;
        return NULL;
    }
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (access(dirs[i], F_OK) == 0) {
            CHECK_OK(sl_policy_allow_read(p, dirs[i]));
        }
    }
    CHECK_OK(sl_policy_set_env(p, "PATH", "/usr/local/bin:/usr/bin:/bin"));
    if (UNDER_VALGRIND()) {
        CHECK_OK(sl_policy_set_best_effort(p, true));
    }
    return p;
}

#endif /* SANDLOCK_TEST_CHECK_H */
