/*
 * sandlock-run: run a program in a sandlock sandbox from the command line.
 *
 *   sandlock-run --system --seed 42 -- python3 -c 'import random; print(random.random())'
 *
 * A plain C99 program on the public API (include/sandlock.h); `sandlock-run
 * --help` describes the options. Exit status: the program's own, 128+N when
 * it was killed by signal N, 124 when the timeout expired, 123 when a resource
 * limit was exceeded, 122 after a forbidden system call, 125 when the sandbox
 * could not be set up, 2 on bad usage. SIGINT, SIGTERM and SIGHUP are
 * forwarded to the program.
 */
#define _POSIX_C_SOURCE 200809L

#include <sandlock.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_SECCOMP 122
#define EXIT_LIMIT 123
#define EXIT_TIMEOUT 124
#define EXIT_SETUP 125

/* --seed's defaults: 2000-01-01T00:00:00Z, frozen; one CPU; this host name. */
#define DEFAULT_START_SEC 946684800LL
#define DEFAULT_HOSTNAME "sandlock"
#define MAX_START_SEC 9223372036LL /* seconds whose ns still fit an int64_t */

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/*
 * sl_spawn takes an execve-style argv. sandlock 0.1.0's header spells the
 * parameter `const char *const *`, which C does not convert `char **` to
 * (C++ does); going through `void *` builds with either spelling.
 */
#ifdef __cplusplus
#define SPAWN_ARGV(a) (a)
#else
#define SPAWN_ARGV(a) ((void *)(a))
#endif

static const char *const system_dirs[] = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"};

static void print_usage_line(FILE *f)
{
    fputs("usage: sandlock-run [OPTIONS] [--] PROG [ARGS...]\n", f);
}

static void print_help(void)
{
    print_usage_line(stdout);
    fputs(
        "\n"
        "Run PROG in an unprivileged sandbox: Landlock file rules, a seccomp filter,\n"
        "and with --seed, deterministic randomness. A PROG without a slash is searched\n"
        "in the child's PATH.\n"
        "\n"
        "File access (repeatable; each PATH must be absolute and exist):\n"
        "  --read PATH        allow reading files and listing directories beneath PATH\n"
        "  --write PATH       allow reading, creating, writing, removing beneath PATH\n"
        "  --exec PATH        allow executing beneath PATH (once any --exec is given,\n"
        "                     programs may be executed only from --exec paths)\n"
        "  --system           allow reading the system directories that exist here:\n"
        "                     /usr /lib /lib64 /bin /sbin /etc\n"
        "\n"
        "Determinism and limits:\n"
        "  --seed N           serve getrandom(), /dev/urandom and /dev/random from a\n"
        "                     stream seeded by N (0 to 2^64-1, decimal or 0x hex)\n"
        "  --timeout SEC      kill the whole sandbox after SEC seconds (e.g. 2.5)\n"
        "  --best-effort      run even where the kernel cannot enforce every rule\n"
        "                     (the default is to refuse to run)\n"
        "\n"
        "Environment (the child sees only what is given here):\n"
        "  --env NAME=VALUE   set a variable (repeatable)\n"
        "  --inherit-env      start from this process's environment\n"
        "  --clear-env        start from an empty environment (forgets earlier --env\n"
        "                     and --inherit-env)\n"
        "  Without any of these three the child's environment is only\n"
        "  PATH=" DEFAULT_PATH ".\n"
        "\n"
        "Other:\n"
        "  --cwd DIR          run in DIR (listing it also needs a --read rule)\n"
        "  -h, --help         show this help and exit\n"
        "  --version          show the versions and exit\n"
        "\n"
        "Options taking a value also accept --option=VALUE.\n"
        "\n"
        "Exit status: PROG's exit status; 128+N when PROG was killed by signal N\n"
        "(137 when --timeout expired); 125 when the sandbox could not be set up\n"
        "(the reason is printed); 2 on bad usage. SIGINT, SIGTERM and SIGHUP are\n"
        "forwarded to PROG.\n",
        stdout);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "sandlock-run: %s%s\n", what, arg ? arg : "");
    print_usage_line(stderr);
    fputs("Try 'sandlock-run --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* A library call failed while setting up: say why, as the library put it. */
static int setup_error(void)
{
    fprintf(stderr, "sandlock-run: %s\n", sl_last_error_message());
    return EXIT_SETUP;
}

/*
 * Is argv[*i] the option `name`, as "--name VALUE" or "--name=VALUE"?
 * 0: no. 1: yes, *value set and *i moved past the value. -1: yes, value missing.
 */
static int option_value(const char *name, int argc, char **argv, int *i, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0) {
        return 0;
    }
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0') {
        return 0;
    }
    if (*i + 1 >= argc) {
        return -1;
    }
    *i += 1;
    *value = argv[*i];
    return 1;
}

static int parse_seed(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1; /* strtoull would accept "-1" and leading spaces */
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Seconds (decimals allowed, 0 = no timeout) to milliseconds. */
static int parse_timeout(const char *s, uint64_t *ms)
{
    char *end = NULL;
    double sec;

    if (!((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) {
        return -1;
    }
    errno = 0;
    sec = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(sec >= 0.0) || sec > 1e9) {
        return -1;
    }
    *ms = (uint64_t)(sec * 1000.0 + 0.5);
    if (sec > 0.0 && *ms == 0) {
        *ms = 1;
    }
    return 0;
}

static int set_env_pair(sl_policy *p, const char *pair)
{
    const char *eq = strchr(pair, '=');
    char *name;
    int rc;

    if (eq == NULL || eq == pair) {
        return usage_error("--env wants NAME=VALUE, got: ", pair);
    }
    name = (char *)malloc((size_t)(eq - pair) + 1);
    if (name == NULL) {
        fprintf(stderr, "sandlock-run: out of memory\n");
        return EXIT_SETUP;
    }
    memcpy(name, pair, (size_t)(eq - pair));
    name[eq - pair] = '\0';
    rc = sl_policy_set_env(p, name, eq + 1);
    free(name);
    return rc == SL_OK ? 0 : setup_error();
}

/* Signals to forward arrive here and are written to a pipe the main loop polls. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t r = write(signal_pipe[1], &b, 1);
    (void)r; /* a full pipe already holds signals to forward */
    errno = saved;
}

static int install_forwarding(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    size_t i;

    if (pipe(signal_pipe) != 0) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        int fl = fcntl(signal_pipe[i], F_GETFL);
        fcntl(signal_pipe[i], F_SETFL, fl | O_NONBLOCK);
        fcntl(signal_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Forward pending signals to the child. */
static void forward_signals(sl_child *c)
{
    unsigned char buf[16];
    ssize_t n, k;

    while ((n = read(signal_pipe[0], buf, sizeof buf)) > 0) {
        for (k = 0; k < n; k++) {
            sl_child_kill(c, buf[k]);
        }
    }
}

/* Wait for the child, forwarding signals meanwhile; its raw status, or -1. */
static int wait_forwarding(sl_child *c, int *status)
{
    int pidfd = sl_child_pidfd(c);

    for (;;) {
        struct pollfd fds[2];
        int n;

        fds[0].fd = pidfd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = signal_pipe[0];
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        if (pidfd < 0) {
            /* No pidfd: poll the child at a slow pace instead. */
            int rc = sl_wait_timeout(c, 100, status);
            if (rc != SL_E_TIMEOUT) {
                return rc;
            }
            forward_signals(c);
            continue;
        }
        n = poll(fds, 2, -1);
        if (n < 0 && errno != EINTR) {
            break;
        }
        if (fds[1].revents & POLLIN) {
            forward_signals(c);
        }
        if (fds[0].revents != 0) {
            break; /* the child exited */
        }
    }
    return sl_wait(c, status);
}

int main(int argc, char **argv)
{
    sl_policy *p = NULL;
    sl_child *c = NULL;
    int env_given = 0, ret = EXIT_SETUP, status = 0, i;
    uint64_t timeout_ms = 0;
    const char *timeout_arg = NULL;

    if (sl_policy_new(&p) != SL_OK) {
        return setup_error();
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        int m;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-') {
            break; /* the program */
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_help();
            ret = 0;
            goto out;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("sandlock-run (libsandlock %s; built with sandlock.h %s)\n", sl_version(),
                   SL_VERSION_STRING);
            ret = 0;
            goto out;
        }
        if (strcmp(arg, "--system") == 0) {
            size_t d;
            for (d = 0; d < sizeof system_dirs / sizeof system_dirs[0]; d++) {
                if (access(system_dirs[d], F_OK) == 0 &&
                    sl_policy_allow_read(p, system_dirs[d]) != SL_OK) {
                    goto setup_failed;
                }
            }
            continue;
        }
        if (strcmp(arg, "--inherit-env") == 0) {
            env_given = 1;
            if (sl_policy_inherit_env(p, true) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if (strcmp(arg, "--clear-env") == 0) {
            env_given = 1;
            if (sl_policy_clear_env(p) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if (strcmp(arg, "--best-effort") == 0) {
            if (sl_policy_set_best_effort(p, true) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if ((m = option_value("--read", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--write", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--exec", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--seed", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--timeout", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--env", argc, argv, &i, &v)) != 0 ||
            (m = option_value("--cwd", argc, argv, &i, &v)) != 0) {
            int rc = SL_OK;
            if (m < 0) {
                ret = usage_error("missing value for ", arg);
                goto out;
            }
            if (strncmp(arg, "--read", 6) == 0) {
                rc = sl_policy_allow_read(p, v);
            } else if (strncmp(arg, "--write", 7) == 0) {
                rc = sl_policy_allow_write(p, v);
            } else if (strncmp(arg, "--exec", 6) == 0) {
                rc = sl_policy_allow_exec(p, v);
            } else if (strncmp(arg, "--seed", 6) == 0) {
                uint64_t seed;
                if (parse_seed(v, &seed) != 0) {
                    ret = usage_error("--seed wants a number from 0 to 2^64-1, got: ", v);
                    goto out;
                }
                rc = sl_policy_set_random_seed(p, seed);
            } else if (strncmp(arg, "--timeout", 9) == 0) {
                if (parse_timeout(v, &timeout_ms) != 0) {
                    ret = usage_error("--timeout wants seconds (0 or more), got: ", v);
                    goto out;
                }
                timeout_arg = v;
                rc = sl_policy_set_timeout_ms(p, timeout_ms);
            } else if (strncmp(arg, "--env", 5) == 0) {
                env_given = 1;
                ret = set_env_pair(p, v);
                if (ret != 0) {
                    goto out;
                }
            } else {
                rc = sl_policy_set_cwd(p, v);
            }
            if (rc != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        ret = usage_error("unknown option: ", arg);
        goto out;
    }
    if (i >= argc) {
        ret = usage_error("no program given", NULL);
        goto out;
    }
    if (!env_given && sl_policy_set_env(p, "PATH", DEFAULT_PATH) != SL_OK) {
        goto setup_failed;
    }
    if (install_forwarding() != 0) {
        fprintf(stderr, "sandlock-run: cannot install signal handlers: %s\n", strerror(errno));
        goto out;
    }
    if (sl_spawn(p, SPAWN_ARGV(argv + i), &c) != SL_OK) {
        goto setup_failed;
    }
    if (wait_forwarding(c, &status) != SL_OK) {
        goto setup_failed;
    }
    if (WIFEXITED(status)) {
        ret = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        ret = 128 + WTERMSIG(status);
        if (sl_child_timed_out(c)) {
            fprintf(stderr, "sandlock-run: %s: timed out after %s s, killed\n", argv[i],
                    timeout_arg ? timeout_arg : "?");
        }
    } else {
        ret = EXIT_SETUP;
    }
    goto out;

setup_failed:
    ret = setup_error();
out:
    sl_child_free(c);
    sl_policy_free(p);
    if (signal_pipe[0] >= 0) {
        close(signal_pipe[0]);
        close(signal_pipe[1]);
    }
    return ret;
}
