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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
        "Run PROG in an unprivileged sandbox: Landlock file and TCP rules, a seccomp\n"
        "filter, resource limits and, with --seed, a deterministic run. A PROG\n"
        "without a slash is searched in the child's PATH.\n"
        "\n"
        "Policy file:\n"
        "  --profile FILE     start from the TOML profile FILE (docs/profile.md); the\n"
        "                     other options apply on top of it, wherever they are\n"
        "\n"
        "File access (repeatable; each PATH must be absolute and exist):\n"
        "  --read PATH        allow reading files and listing directories beneath PATH\n"
        "  --write PATH       allow reading, creating, writing, removing beneath PATH\n"
        "  --exec PATH        allow executing beneath PATH (once any --exec is given,\n"
        "                     programs may be executed only from --exec paths)\n"
        "  --deny PATH        keep PATH unreachable, even beneath an allowed path\n"
        "                     (absolute; need not exist, but its parent must)\n"
        "  --system           allow reading the system directories that exist here:\n"
        "                     /usr /lib /lib64 /bin /sbin /etc\n"
        "\n",
        stdout);
    fputs(
        "Network (repeatable; without any, no TCP bind or connect at all):\n"
        "  --tcp-bind PORT    allow binding TCP PORT (0 to 65535; 0 = ephemeral)\n"
        "  --tcp-connect PORT allow connecting to TCP PORT on any address\n"
        "  --connect ADDR:PORT  allow connecting to ADDR[/PREFIX]:PORT (PORT * = any;\n"
        "                     IPv6 as [::1]:80), made by the supervisor\n"
        "  --bind ADDR:PORT   allow binding to the local ADDR[/PREFIX]:PORT\n"
        "  --udp              allow UDP sockets (any address and port)\n"
        "\n"
        "Determinism:\n"
        "  --seed N           serve getrandom(), /dev/urandom and /dev/random from a\n"
        "                     stream seeded by N (0 to 2^64-1, decimal or 0x hex), and\n"
        "                     turn on the settings below with defaults, unless given:\n"
        "                     --time frozen@946684800 --cpus 1 --hostname sandlock\n"
        "                     (with --profile, only those given on the command line)\n"
        "  --time MODE[@SEC]  the child's clocks: real, offset (start at SEC, then run),\n"
        "                     frozen (stay at SEC; sleeps advance them) or logical\n"
        "                     (each read advances them by --time-step). SEC: seconds\n"
        "                     since 1970, default 946684800 (2000-01-01T00:00:00Z)\n"
        "  --time-step NS     logical time: ns added by each clock read (default 1 ms)\n"
        "  --cpus N           the child sees N CPUs (1 to 1024; 0 = the host's count)\n"
        "  --hostname NAME    the child sees NAME as the host name\n"
        "  --proc-view        /proc shows only the sandbox's own processes\n"
        "\n",
        stdout);
    fputs(
        "Limits (for the whole sandbox unless said; 0 = no limit):\n"
        "  --timeout SEC      kill the whole sandbox after SEC seconds (e.g. 2.5)\n"
        "  --memory SIZE      total resident memory (bytes, or with a K, M or G suffix:\n"
        "                     powers of 1024)\n"
        "  --max-procs N      number of live processes (stops fork bombs)\n"
        "  --max-files N      open files per process (more fail with EMFILE)\n"
        "  --cpu-seconds N    total CPU time, in seconds\n"
        "  --file-size SIZE   largest file a process may write (like --memory)\n"
        "  --best-effort      run even where the kernel cannot enforce every rule\n"
        "                     (the default is to refuse to run)\n"
        "  --verbose          print each refusal the library makes itself on stderr\n"
        "                     (\"sandlock-run: blocked: ...\"), including calls on the\n"
        "                     seccomp deny list; Landlock's refusals are not reported\n"
        "  --learn            run PROG able to read and execute anything and to connect\n"
        "                     and bind anywhere, record the files it opens, the\n"
        "                     programs it executes, the addresses it connects to and\n"
        "                     the ports it binds, and at the end print on stderr the\n"
        "                     --read/--write/--exec/--connect/--tcp-bind/--udp flags\n"
        "                     that allow exactly that (one per flag, sorted), after a\n"
        "                     \"# refused: ...\" line for each call the sandbox always\n"
        "                     refuses (the deny list). Writes are recorded but still\n"
        "                     refused unless --write allows them\n"
        "  --learn-out FILE   --learn, printing the flags into FILE instead\n"
        "\n"
        "Environment (the child sees only what is given here):\n"
        "  --env NAME=VALUE   set a variable (repeatable)\n"
        "  --inherit-env      start from this process's environment\n"
        "  --clear-env        start from an empty environment (forgets earlier --env\n"
        "                     and --inherit-env)\n"
        "  Without any of these three (or a --profile) the child's environment is\n"
        "  only PATH=" DEFAULT_PATH ".\n"
        "\n"
        "Copy-on-write working directory:\n"
        "  --workdir DIR      PROG may change DIR, but its writes land in a private\n"
        "                     layer; they are applied to DIR (each file atomically)\n"
        "                     only if PROG exits with status 0, else discarded\n"
        "  --dry-run          with --workdir: never apply; print on stderr what PROG\n"
        "                     would have changed, one line each, sorted:\n"
        "                     A PATH (added), M PATH (modified), D PATH (deleted)\n"
        "\n"
        "Other:\n"
        "  --cwd DIR          run in DIR (listing it also needs a --read rule)\n"
        "  -h, --help         show this help and exit\n"
        "  --version          show the versions and exit\n"
        "\n"
        "Options taking a value also accept --option=VALUE.\n"
        "\n",
        stdout);
    fputs(
        "Exit status (anything but a normal exit is also explained on stderr):\n"
        "  N                  PROG exited with status N\n"
        "  128+N              PROG was killed by signal N\n"
        "  2                  bad usage\n"
        "  122                a process made a forbidden system call\n"
        "  123                a limit (--memory, --max-procs, --cpu-seconds) was exceeded\n"
        "  124                the --timeout expired\n"
        "  125                the sandbox could not be set up (the reason is printed)\n"
        "SIGINT, SIGTERM and SIGHUP are forwarded to PROG.\n",
        stdout);
}

/* --verbose: one line per refusal the library made (an SL_EVENT_DENIED report):
 * "sandlock-run: blocked: ptrace (syscall 101, errno 1): on the deny list". */
static int report_denied(sl_event *ev, void *userdata)
{
    const char *what = ev->denied == SL_EVENT_EXEC      ? "exec "
                       : ev->denied == SL_EVENT_OPEN    ? "open "
                       : ev->denied == SL_EVENT_CONNECT ? "connect "
                       : ev->denied == SL_EVENT_BIND    ? "bind "
                                                        : "";
    const char *name = ev->syscall_name && ev->syscall_name[0] ? ev->syscall_name : "a call";
    (void)userdata;
    fprintf(stderr, "sandlock-run: blocked: %s", what);
    if (ev->denied == SL_EVENT_CONNECT || ev->denied == SL_EVENT_BIND) {
        int v6 = ev->family == AF_INET6;
        fprintf(stderr, "%s%s%s:%d", v6 ? "[" : "", ev->address ? ev->address : "", v6 ? "]" : "",
                ev->port);
    } else {
        fputs(ev->path && ev->path[0] ? ev->path : name, stderr);
    }
    fprintf(stderr, " (syscall %lld, errno %d)%s%s\n", (long long)ev->syscall, ev->error,
            ev->reason && ev->reason[0] ? ": " : "", ev->reason ? ev->reason : "");
    return SL_ALLOW;
}

/*
 * --learn: record what the program opens and executes (SL_EVENT_OPEN and
 * SL_EVENT_EXEC, always allowed), then print the --read/--write/--exec flags
 * that allow exactly that. The same callback prints --verbose reports.
 */
#define LEARN_READ 1
#define LEARN_WRITE 2
#define LEARN_EXEC 4

typedef struct {
    char *path;
    int kinds; /* LEARN_* bits */
} learn_entry;

/* A list of distinct strings (learned network flags, refused calls). */
typedef struct {
    char **items;
    size_t n, cap;
} str_set;

typedef struct {
    pthread_mutex_t lock;
    int verbose; /* print SL_EVENT_DENIED reports */
    int learn;   /* record EXEC, OPEN, CONNECT and BIND events and refusals */
    int failed;  /* out of memory while recording */
    learn_entry *entries;
    size_t n, cap;
    str_set net;     /* "--connect 127.0.0.1:80", "--tcp-bind 8080", "--udp" */
    str_set refused; /* "ptrace: on the deny list" */
} event_state;

/* Add a copy of `s` to `set` unless it is there; 0, or -1 out of memory. */
static int set_add(str_set *set, const char *s)
{
    size_t k;
    char *copy;

    for (k = 0; k < set->n; k++) {
        if (strcmp(set->items[k], s) == 0) {
            return 0;
        }
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        char **items = (char **)realloc(set->items, cap * sizeof *items);
        if (items == NULL) {
            return -1;
        }
        set->items = items;
        set->cap = cap;
    }
    if ((copy = (char *)malloc(strlen(s) + 1)) == NULL) {
        return -1;
    }
    strcpy(copy, s);
    set->items[set->n++] = copy;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_free(str_set *set)
{
    size_t k;

    for (k = 0; k < set->n; k++) {
        free(set->items[k]);
    }
    free(set->items);
    set->items = NULL;
    set->n = set->cap = 0;
}

/* Record the flag a connect or bind needs; the caller holds the lock. TCP
 * connects become a destination rule for exactly that address and port;
 * TCP binds a port rule; anything on a UDP socket needs --udp. */
static void learn_net(event_state *st, const sl_event *ev)
{
    char flag[128];
    int v6 = ev->family == AF_INET6;

    if (ev->flags == SOCK_DGRAM) {
        snprintf(flag, sizeof flag, "--udp");
    } else if (ev->kind == SL_EVENT_CONNECT) {
        snprintf(flag, sizeof flag, "--connect %s%s%s:%d", v6 ? "[" : "", ev->address,
                 v6 ? "]" : "", ev->port);
    } else {
        snprintf(flag, sizeof flag, "--tcp-bind %d", ev->port);
    }
    if (set_add(&st->net, flag) != 0) {
        st->failed = 1;
    }
}

/* Record a call the sandbox refuses whatever the flags (a deny-list hit, a
 * refused socket); the caller holds the lock. */
static void learn_refused(event_state *st, const sl_event *ev)
{
    char line[512];

    if (ev->denied != 0 || ev->reason == NULL ||
        (strncmp(ev->reason, "on the deny list", 16) != 0 &&
         strncmp(ev->reason, "socket refused", 14) != 0)) {
        return;
    }
    snprintf(line, sizeof line, "%s: %s",
             ev->syscall_name && ev->syscall_name[0] ? ev->syscall_name : "a call", ev->reason);
    if (set_add(&st->refused, line) != 0) {
        st->failed = 1;
    }
}

/* Lexically clean an absolute path in place: "//", "/./" and "/../" go. */
static void clean_path(char *p)
{
    char *out = p, *in = p;

    while (*in != '\0') {
        const char *seg;
        size_t len;

        while (*in == '/') {
            in++;
        }
        seg = in;
        while (*in != '\0' && *in != '/') {
            in++;
        }
        len = (size_t)(in - seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/') {
            }
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == p) {
        *out++ = '/';
    }
    *out = '\0';
}

/* A malloc'd absolute path for `path` as process `pid` passed it; relative
 * paths are resolved against its working directory now, or kept as given. */
static char *absolute_path(int pid, const char *path)
{
    char link[64], cwd[4096];
    ssize_t n;
    char *out;

    if (path[0] == '/') {
        out = (char *)malloc(strlen(path) + 1);
        if (out != NULL) {
            strcpy(out, path);
            clean_path(out);
        }
        return out;
    }
    snprintf(link, sizeof link, "/proc/%d/cwd", pid);
    n = readlink(link, cwd, sizeof cwd - 1);
    if (n <= 0 || cwd[0] != '/') {
        out = (char *)malloc(strlen(path) + 1);
        if (out != NULL) {
            strcpy(out, path);
        }
        return out;
    }
    cwd[n] = '\0';
    out = (char *)malloc((size_t)n + 1 + strlen(path) + 1);
    if (out != NULL) {
        sprintf(out, "%s/%s", cwd, path);
        clean_path(out);
    }
    return out;
}

/* Record `path` (taken over) with `kind`; the caller holds the lock. */
static void learn_add(event_state *st, char *path, int kind)
{
    size_t k;

    if (path == NULL) {
        st->failed = 1;
        return;
    }
    for (k = 0; k < st->n; k++) {
        if (strcmp(st->entries[k].path, path) == 0) {
            st->entries[k].kinds |= kind;
            free(path);
            return;
        }
    }
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        learn_entry *e = (learn_entry *)realloc(st->entries, cap * sizeof *e);
        if (e == NULL) {
            st->failed = 1;
            free(path);
            return;
        }
        st->entries = e;
        st->cap = cap;
    }
    st->entries[st->n].path = path;
    st->entries[st->n].kinds = kind;
    st->n++;
}

/* The interpreter a program needs besides itself: the "#!" line's program,
 * or an ELF file's PT_INTERP (the dynamic loader); malloc'd, or NULL. */
static char *program_interpreter(const char *path)
{
    unsigned char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n, k, len;
    char *out = NULL;

    if (f == NULL) {
        return NULL;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    if (n > 2 && buf[0] == '#' && buf[1] == '!') {
        k = 2;
        while (k < n && (buf[k] == ' ' || buf[k] == '\t')) {
            k++;
        }
        len = 0;
        while (k + len < n && buf[k + len] != ' ' && buf[k + len] != '\t' &&
               buf[k + len] != '\n' && buf[k + len] != '\0') {
            len++;
        }
        if (len > 0 && buf[k] == '/' && (out = (char *)malloc(len + 1)) != NULL) {
            memcpy(out, buf + k, len);
            out[len] = '\0';
        }
    } else if (n >= 64 && memcmp(buf, "\177ELF", 4) == 0 && buf[4] == 2 && buf[5] == 1) {
        /* 64-bit little-endian ELF: walk the program headers for PT_INTERP. */
        uint64_t phoff = 0, off = 0, size = 0;
        unsigned phentsize = (unsigned)buf[54] | (unsigned)buf[55] << 8;
        unsigned phnum = (unsigned)buf[56] | (unsigned)buf[57] << 8;
        unsigned i;
        int b;

        for (b = 7; b >= 0; b--) {
            phoff = phoff << 8 | buf[32 + b];
        }
        for (i = 0; i < phnum && phentsize >= 56; i++) {
            uint64_t ph = phoff + (uint64_t)i * phentsize;
            uint32_t type;
            if (ph + 56 > n) {
                break;
            }
            type = (uint32_t)buf[ph] | (uint32_t)buf[ph + 1] << 8 |
                   (uint32_t)buf[ph + 2] << 16 | (uint32_t)buf[ph + 3] << 24;
            if (type != 3) { /* PT_INTERP */
                continue;
            }
            for (b = 7; b >= 0; b--) {
                off = off << 8 | buf[ph + 8 + b];
                size = size << 8 | buf[ph + 32 + b];
            }
            if (size > 1 && size < 4096 && (out = (char *)malloc((size_t)size)) != NULL) {
                if (fseek(f, (long)off, SEEK_SET) != 0 ||
                    fread(out, 1, (size_t)size, f) != (size_t)size || out[size - 1] != '\0' ||
                    out[0] != '/') {
                    free(out);
                    out = NULL;
                }
            }
            break;
        }
    }
    fclose(f);
    return out;
}

/* Record an executed program, and its interpreters (a #! chain, the loader). */
static void learn_exec(event_state *st, char *path)
{
    int depth;

    for (depth = 0; path != NULL && depth < 4; depth++) {
        char *interp = program_interpreter(path);
        learn_add(st, path, LEARN_EXEC);
        path = interp;
    }
    free(path);
}

/* The default devices the library always allows; not worth a flag. */
static int learn_skipped(const char *path)
{
    static const char *const devices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/urandom",
                                          "/dev/random"};
    size_t k;

    for (k = 0; k < sizeof devices / sizeof devices[0]; k++) {
        if (strcmp(path, devices[k]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The event callback: --verbose reports, --learn records; always allows. */
static int on_event(sl_event *ev, void *userdata)
{
    event_state *st = (event_state *)userdata;

    if (ev->kind == SL_EVENT_DENIED) {
        if (st->verbose) {
            report_denied(ev, NULL);
        }
        if (st->learn) {
            pthread_mutex_lock(&st->lock);
            learn_refused(st, ev);
            pthread_mutex_unlock(&st->lock);
        }
        return SL_ALLOW;
    }
    if (st->learn && (ev->kind == SL_EVENT_CONNECT || ev->kind == SL_EVENT_BIND)) {
        pthread_mutex_lock(&st->lock);
        learn_net(st, ev);
        pthread_mutex_unlock(&st->lock);
        return SL_ALLOW;
    }
    if (!st->learn || ev->path == NULL || ev->path[0] == '\0') {
        return SL_ALLOW;
    }
    pthread_mutex_lock(&st->lock);
    if (ev->kind == SL_EVENT_EXEC) {
        learn_exec(st, absolute_path(ev->pid, ev->path));
    } else if (ev->kind == SL_EVENT_OPEN) {
        int acc = ev->flags & O_ACCMODE;
        int write = acc == O_WRONLY || acc == O_RDWR || (ev->flags & (O_CREAT | O_TRUNC)) != 0;
        learn_add(st, absolute_path(ev->pid, ev->path), write ? LEARN_WRITE : LEARN_READ);
    }
    pthread_mutex_unlock(&st->lock);
    return SL_ALLOW;
}

/* The first program (not reported by the library): argv0 searched in `path_var`
 * as sl_spawn does. */
static void learn_first_program(event_state *st, const char *argv0, const char *path_var)
{
    const char *dir = path_var ? path_var : DEFAULT_PATH;

    if (strchr(argv0, '/') != NULL) {
        learn_exec(st, absolute_path((int)getpid(), argv0));
        return;
    }
    while (*dir != '\0') {
        size_t len = strcspn(dir, ":");
        char *cand = (char *)malloc(len + 1 + strlen(argv0) + 1);
        if (cand == NULL) {
            st->failed = 1;
            return;
        }
        sprintf(cand, "%.*s/%s", (int)len, dir, argv0);
        if (len > 0 && access(cand, X_OK) == 0) {
            learn_exec(st, absolute_path((int)getpid(), cand));
            free(cand);
            return;
        }
        free(cand);
        dir += len;
        if (*dir == ':') {
            dir++;
        }
    }
}

static int learn_cmp(const void *a, const void *b)
{
    return strcmp(((const learn_entry *)a)->path, ((const learn_entry *)b)->path);
}

/* One word for a shell: as is when safe, else single-quoted. */
static void put_word(FILE *f, const char *w)
{
    const char *s;

    if (w[0] != '\0' && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789/._-+,:=@%") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (s = w; *s != '\0'; s++) {
        if (*s == '\'') {
            fputs("'\\''", f);
        } else {
            fputc(*s, f);
        }
    }
    fputc('\'', f);
}

/*
 * Print the learned flags on one line: --exec, then --write, then --read,
 * each sorted by path. An executable or writable path is also readable, so
 * it gets no --read; a file to write that does not exist (its creation was
 * refused, or it was removed) becomes a --write for its directory.
 */
static int learn_print(event_state *st, FILE *f)
{
    static const struct {
        int kind;
        const char *flag;
    } order[] = {{LEARN_EXEC, "--exec"}, {LEARN_WRITE, "--write"}, {LEARN_READ, "--read"}};
    size_t k, o;

    size_t m = 0;

    for (k = 0; k < st->n; k++) {
        learn_entry *e = &st->entries[k];
        if ((e->kinds & LEARN_WRITE) && e->path[0] == '/' && access(e->path, F_OK) != 0) {
            char *slash = strrchr(e->path, '/');
            slash[slash == e->path ? 1 : 0] = '\0';
        }
    }
    if (st->n > 0) {
        qsort(st->entries, st->n, sizeof st->entries[0], learn_cmp);
    }
    /* Merge the entries that became equal, then drop the implied --read. */
    for (k = 0; k < st->n; k++) {
        if (m > 0 && strcmp(st->entries[m - 1].path, st->entries[k].path) == 0) {
            st->entries[m - 1].kinds |= st->entries[k].kinds;
            free(st->entries[k].path);
        } else {
            st->entries[m++] = st->entries[k];
        }
    }
    st->n = m;
    for (k = 0; k < st->n; k++) {
        if (st->entries[k].kinds & (LEARN_EXEC | LEARN_WRITE)) {
            st->entries[k].kinds &= ~LEARN_READ;
        }
    }
    if (st->refused.n > 0) {
        qsort(st->refused.items, st->refused.n, sizeof st->refused.items[0], str_cmp);
    }
    for (k = 0; k < st->refused.n; k++) {
        fprintf(f, "# refused (no flag allows it): %s\n", st->refused.items[k]);
    }
    fputs("sandlock-run", f);
    for (o = 0; o < sizeof order / sizeof order[0]; o++) {
        for (k = 0; k < st->n; k++) {
            learn_entry *e = &st->entries[k];
            if (!(e->kinds & order[o].kind) || learn_skipped(e->path)) {
                continue;
            }
            /* A file that was only looked for (an open that failed with
             * ENOENT) needs no rule: without one it still fails with ENOENT,
             * and a rule for a missing path cannot be made. */
            if (e->kinds == LEARN_READ && access(e->path, F_OK) != 0) {
                continue;
            }
            fprintf(f, " %s ", order[o].flag);
            put_word(f, e->path);
        }
    }
    if (st->net.n > 0) {
        qsort(st->net.items, st->net.n, sizeof st->net.items[0], str_cmp);
    }
    for (k = 0; k < st->net.n; k++) {
        fprintf(f, " %s", st->net.items[k]);
    }
    fputs(" --\n", f);
    return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

static void learn_free(event_state *st)
{
    size_t k;

    for (k = 0; k < st->n; k++) {
        free(st->entries[k].path);
    }
    free(st->entries);
    st->entries = NULL;
    st->n = st->cap = 0;
    set_free(&st->net);
    set_free(&st->refused);
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

/* A plain decimal number, 0 to max; -1 if s is anything else. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Bytes, or a whole number with a K, M, G or T suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    unsigned shift = 0;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s) {
        return -1;
    }
    switch (*end) {
    case '\0':
        break;
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    case 'T': case 't': shift = 40; break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0') {
        return -1;
    }
    if (shift != 0 && v > (UINT64_MAX >> shift)) {
        return -1;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

/* --time MODE[@SECONDS]: the SL_TIME_* mode and the start in ns. */
static int parse_time(const char *s, int *mode, int64_t *start_ns)
{
    static const char *const modes[] = {"real", "offset", "frozen", "logical"};
    static const int values[] = {SL_TIME_REAL, SL_TIME_OFFSET, SL_TIME_FROZEN, SL_TIME_LOGICAL};
    const char *at = strchr(s, '@');
    size_t len = at ? (size_t)(at - s) : strlen(s);
    uint64_t sec = (uint64_t)DEFAULT_START_SEC;
    size_t k;

    if (at != NULL && parse_u64(at + 1, (uint64_t)MAX_START_SEC, &sec) != 0) {
        return -1;
    }
    for (k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        if (strlen(modes[k]) == len && strncmp(s, modes[k], len) == 0) {
            *mode = values[k];
            *start_ns = (int64_t)sec * 1000000000LL;
            return 0;
        }
    }
    return -1;
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

/* Wait for the child, forwarding signals meanwhile, and say how it ended. */
static int wait_forwarding(sl_child *c, sl_result *r)
{
    int pidfd = sl_child_pidfd(c);

    for (;;) {
        struct pollfd fds[2];
        int n, status;

        fds[0].fd = pidfd;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = signal_pipe[0];
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        if (pidfd < 0) {
            /* No pidfd: poll the child at a slow pace instead. */
            int rc = sl_wait_timeout(c, 100, &status);
            if (rc != SL_E_TIMEOUT) {
                if (rc != SL_OK) {
                    return rc;
                }
                break;
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
    return sl_wait_result(c, r);
}

static const char *signal_name(int sig)
{
    static const struct {
        int sig;
        const char *name;
    } names[] = {
        {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
        {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
        {SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"},   {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
        {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGSYS, "SIGSYS"},
    };
    size_t k;

    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (names[k].sig == sig) {
            return names[k].name;
        }
    }
    return "a real-time signal";
}

static const char *limit_name(int limit)
{
    switch (limit) {
    case SL_LIMIT_MEMORY:
        return "memory limit";
    case SL_LIMIT_PROCESSES:
        return "process limit";
    case SL_LIMIT_OPEN_FILES:
        return "open files limit";
    case SL_LIMIT_CPU_SECONDS:
        return "CPU time limit";
    case SL_LIMIT_FILE_SIZE:
        return "file size limit";
    default:
        return "resource limit";
    }
}

/* Our exit status for how the sandbox ended; a line on stderr unless it exited. */
static int exit_status(const sl_result *r, uint64_t timeout_ms)
{
    switch (r->reason) {
    case SL_END_EXITED:
        return r->exit_code;
    case SL_END_TIMEOUT:
        if (timeout_ms > 0) {
            fprintf(stderr, "sandlock-run: timed out after %llu ms\n",
                    (unsigned long long)timeout_ms);
        } else {
            fputs("sandlock-run: timed out (the profile's timeout_ms)\n", stderr);
        }
        return EXIT_TIMEOUT;
    case SL_END_LIMIT:
        fprintf(stderr, "sandlock-run: %s exceeded\n", limit_name(r->limit));
        return EXIT_LIMIT;
    case SL_END_SECCOMP:
        fprintf(stderr, "sandlock-run: forbidden system call %lld\n", (long long)r->syscall);
        return EXIT_SECCOMP;
    default:
        break;
    }
    if (r->signal > 0) { /* SL_END_SIGNALED, SL_END_KILLED */
        fprintf(stderr, "sandlock-run: killed by signal %d (%s)%s\n", (int)r->signal,
                signal_name(r->signal), r->core_dumped ? ", core dumped" : "");
        return 128 + r->signal;
    }
    if (r->exit_code >= 0) {
        return r->exit_code;
    }
    fprintf(stderr, "sandlock-run: the program ended with status 0x%x\n", (unsigned)r->status);
    return EXIT_SETUP;
}

/* The options that take a value, as "--name VALUE" or "--name=VALUE". */
static const char *const value_options[] = {
    "--read",      "--write",   "--exec",      "--deny",      "--seed",      "--time",
    "--time-step", "--cpus",    "--hostname",  "--timeout",   "--memory",    "--max-procs",
    "--max-files", "--cpu-seconds", "--file-size", "--tcp-bind", "--tcp-connect", "--env",
    "--cwd",       "--profile", "--learn-out", "--connect", "--bind",      "--workdir",
};

/*
 * Find --profile among the options (before PROG), so that the policy starts
 * from it whatever its place. 0 and *path set (or left NULL), or a usage error.
 */
static int find_profile(int argc, char **argv, const char **path)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL;
        size_t k;
        int m = 0;

        if (strcmp(arg, "--") == 0 || arg[0] != '-') {
            break;
        }
        for (k = 0; k < sizeof value_options / sizeof value_options[0]; k++) {
            if ((m = option_value(value_options[k], argc, argv, &i, &v)) != 0) {
                break;
            }
        }
        if (m < 0) {
            return usage_error("missing value for ", arg);
        }
        if (m > 0 && strcmp(value_options[k], "--profile") == 0) {
            if (*path != NULL) {
                return usage_error("--profile may be given only once", NULL);
            }
            *path = v;
        }
    }
    return 0;
}

/* A usage error naming the option and the bad value. */
static int bad_value(const char *opt, const char *wants, const char *v)
{
    fprintf(stderr, "sandlock-run: %s wants %s, got: %s\n", opt, wants, v);
    print_usage_line(stderr);
    fputs("Try 'sandlock-run --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* --dry-run: one line per change of the run, "A path", "M path" or "D path". */
static int print_change(const sl_change *ch, void *userdata)
{
    const char letter = ch->kind == SL_CHANGE_ADDED      ? 'A'
                        : ch->kind == SL_CHANGE_MODIFIED ? 'M'
                                                         : 'D';
    fprintf((FILE *)userdata, "%c %s\n", letter, ch->path);
    return 0;
}

int main(int argc, char **argv)
{
    sl_policy *p = NULL;
    sl_child *c = NULL;
    sl_result result;
    int env_given = 0, ret = EXIT_SETUP, i;
    int seed_given = 0, time_given = 0, cpus_given = 0, hostname_given = 0;
    uint64_t timeout_ms = 0;
    const char *profile = NULL, *learn_out = NULL, *child_path = NULL, *workdir = NULL;
    int dry_run = 0;
    FILE *learn_file = NULL;
    event_state events;

    memset(&result, 0, sizeof result);
    memset(&events, 0, sizeof events);
    pthread_mutex_init(&events.lock, NULL);
    ret = find_profile(argc, argv, &profile);
    if (ret != 0) {
        return ret;
    }
    if (profile != NULL) {
        if (sl_policy_from_file(profile, &p) != SL_OK) {
            return setup_error();
        }
        env_given = 1; /* the environment is the profile's */
    } else if (sl_policy_new(&p) != SL_OK) {
        return setup_error();
    }
    ret = EXIT_SETUP;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL, *opt = NULL;
        size_t k;
        int m = 0, rc = SL_OK;
        uint64_t n;

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
            child_path = getenv("PATH");
            if (sl_policy_inherit_env(p, true) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if (strcmp(arg, "--clear-env") == 0) {
            env_given = 1;
            child_path = NULL;
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
        if (strcmp(arg, "--proc-view") == 0) {
            if (sl_policy_set_proc_view(p, true) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if (strcmp(arg, "--verbose") == 0) {
            events.verbose = 1;
            continue;
        }
        if (strcmp(arg, "--learn") == 0) {
            events.learn = 1;
            continue;
        }
        if (strcmp(arg, "--udp") == 0) {
            if (sl_policy_allow_udp(p, true) != SL_OK) {
                goto setup_failed;
            }
            continue;
        }
        if (strcmp(arg, "--dry-run") == 0) {
            dry_run = 1;
            continue;
        }
        for (k = 0; k < sizeof value_options / sizeof value_options[0]; k++) {
            if ((m = option_value(value_options[k], argc, argv, &i, &v)) != 0) {
                opt = value_options[k];
                break;
            }
        }
        if (m == 0) {
            ret = usage_error("unknown option: ", arg);
            goto out;
        }
        if (m < 0) {
            ret = usage_error("missing value for ", arg);
            goto out;
        }
        if (strcmp(opt, "--profile") == 0) {
            continue; /* loaded above */
        } else if (strcmp(opt, "--workdir") == 0) {
            workdir = v; /* set after the loop: --dry-run may follow */
            continue;
        } else if (strcmp(opt, "--learn-out") == 0) {
            learn_out = v;
            events.learn = 1;
            continue;
        } else if (strcmp(opt, "--read") == 0) {
            rc = sl_policy_allow_read(p, v);
        } else if (strcmp(opt, "--write") == 0) {
            rc = sl_policy_allow_write(p, v);
        } else if (strcmp(opt, "--exec") == 0) {
            rc = sl_policy_allow_exec(p, v);
        } else if (strcmp(opt, "--deny") == 0) {
            rc = sl_policy_deny_path(p, v);
        } else if (strcmp(opt, "--seed") == 0) {
            if (parse_seed(v, &n) != 0) {
                ret = usage_error("--seed wants a number from 0 to 2^64-1, got: ", v);
                goto out;
            }
            seed_given = 1;
            rc = sl_policy_set_random_seed(p, n);
        } else if (strcmp(opt, "--time") == 0) {
            int mode;
            int64_t start_ns;
            if (parse_time(v, &mode, &start_ns) != 0) {
                ret = bad_value(opt, "real, offset, frozen or logical, then @SECONDS optionally",
                                v);
                goto out;
            }
            time_given = 1;
            rc = sl_policy_set_time(p, mode, start_ns);
        } else if (strcmp(opt, "--time-step") == 0) {
            if (parse_u64(v, 3600000000000ULL, &n) != 0 || n == 0) {
                ret = bad_value(opt, "nanoseconds from 1 to 3600000000000 (1 hour)", v);
                goto out;
            }
            rc = sl_policy_set_time_step_ns(p, (int64_t)n);
        } else if (strcmp(opt, "--cpus") == 0) {
            if (parse_u64(v, 1024, &n) != 0) {
                ret = bad_value(opt, "a number of CPUs from 0 to 1024", v);
                goto out;
            }
            cpus_given = 1;
            rc = sl_policy_set_cpu_count(p, (int)n);
        } else if (strcmp(opt, "--hostname") == 0) {
            hostname_given = 1;
            rc = sl_policy_set_hostname(p, v);
        } else if (strcmp(opt, "--timeout") == 0) {
            if (parse_timeout(v, &timeout_ms) != 0) {
                ret = usage_error("--timeout wants seconds (0 or more), got: ", v);
                goto out;
            }
            rc = sl_policy_set_timeout_ms(p, timeout_ms);
        } else if (strcmp(opt, "--memory") == 0 || strcmp(opt, "--file-size") == 0) {
            if (parse_size(v, &n) != 0) {
                ret = bad_value(opt, "a size in bytes, or with a K, M or G suffix", v);
                goto out;
            }
            rc = sl_policy_set_limit(
                p, strcmp(opt, "--memory") == 0 ? SL_LIMIT_MEMORY : SL_LIMIT_FILE_SIZE, n);
        } else if (strcmp(opt, "--max-procs") == 0 || strcmp(opt, "--max-files") == 0 ||
                   strcmp(opt, "--cpu-seconds") == 0) {
            int which = strcmp(opt, "--max-procs") == 0   ? SL_LIMIT_PROCESSES
                        : strcmp(opt, "--max-files") == 0 ? SL_LIMIT_OPEN_FILES
                                                          : SL_LIMIT_CPU_SECONDS;
            if (parse_u64(v, UINT64_MAX, &n) != 0) {
                ret = bad_value(opt, "a whole number (0 = no limit)", v);
                goto out;
            }
            rc = sl_policy_set_limit(p, which, n);
        } else if (strcmp(opt, "--tcp-bind") == 0 || strcmp(opt, "--tcp-connect") == 0) {
            if (parse_u64(v, 65535, &n) != 0) {
                ret = bad_value(opt, "a port from 0 to 65535", v);
                goto out;
            }
            rc = strcmp(opt, "--tcp-bind") == 0 ? sl_policy_allow_tcp_bind(p, (uint16_t)n)
                                                : sl_policy_allow_tcp_connect(p, (uint16_t)n);
        } else if (strcmp(opt, "--connect") == 0) {
            rc = sl_policy_allow_connect(p, v);
        } else if (strcmp(opt, "--bind") == 0) {
            rc = sl_policy_allow_bind(p, v);
        } else if (strcmp(opt, "--env") == 0) {
            env_given = 1;
            if (strncmp(v, "PATH=", 5) == 0) {
                child_path = v + 5;
            }
            ret = set_env_pair(p, v);
            if (ret != 0) {
                goto out;
            }
            ret = EXIT_SETUP;
        } else {
            rc = sl_policy_set_cwd(p, v);
        }
        if (rc != SL_OK) {
            goto setup_failed;
        }
    }
    if (i >= argc) {
        ret = usage_error("no program given", NULL);
        goto out;
    }
    /* --seed: the whole run deterministic, except what was chosen explicitly
     * (on the command line, or anywhere when a profile is given). */
    if (seed_given && profile == NULL) {
        if ((!time_given &&
             sl_policy_set_time(p, SL_TIME_FROZEN, DEFAULT_START_SEC * 1000000000LL) != SL_OK) ||
            (!cpus_given && sl_policy_set_cpu_count(p, 1) != SL_OK) ||
            (!hostname_given && sl_policy_set_hostname(p, DEFAULT_HOSTNAME) != SL_OK)) {
            goto setup_failed;
        }
    }
    if (!env_given && sl_policy_set_env(p, "PATH", DEFAULT_PATH) != SL_OK) {
        goto setup_failed;
    }
    if (dry_run && workdir == NULL) {
        ret = usage_error("--dry-run needs --workdir", NULL);
        goto out;
    }
    if (workdir != NULL &&
        sl_policy_set_workdir(p, workdir, dry_run ? SL_COW_MANUAL : SL_COW_AUTO) != SL_OK) {
        goto setup_failed;
    }
    if (events.learn) {
        /* Read and execute anywhere; write only where --write allows. */
        if (sl_policy_allow_read(p, "/") != SL_OK || sl_policy_allow_exec(p, "/") != SL_OK) {
            goto setup_failed;
        }
        /* Connect and bind anywhere (done by the supervisor, which sees each
         * address), UDP too; a listen without bind gets port 0. */
        if (sl_policy_allow_connect(p, "0.0.0.0/0:*") != SL_OK ||
            sl_policy_allow_connect(p, "[::]/0:*") != SL_OK ||
            sl_policy_allow_bind(p, "0.0.0.0/0:*") != SL_OK ||
            sl_policy_allow_bind(p, "[::]/0:*") != SL_OK || sl_policy_allow_udp(p, true) != SL_OK) {
            goto setup_failed;
        }
        if (learn_out != NULL && (learn_file = fopen(learn_out, "w")) == NULL) {
            fprintf(stderr, "sandlock-run: cannot write %s: %s\n", learn_out, strerror(errno));
            goto out;
        }
        learn_first_program(&events, argv[i], child_path);
    }
    if ((events.learn || events.verbose) &&
        sl_policy_set_event_handler(p,
                                    (events.learn ? SL_EVENT_EXEC | SL_EVENT_OPEN |
                                                        SL_EVENT_CONNECT | SL_EVENT_BIND |
                                                        SL_EVENT_DENIED
                                                  : 0) |
                                        (events.verbose ? SL_EVENT_DENIED : 0),
                                    on_event, &events) != SL_OK) {
        goto setup_failed;
    }
    if (install_forwarding() != 0) {
        fprintf(stderr, "sandlock-run: cannot install signal handlers: %s\n", strerror(errno));
        goto out;
    }
    if (sl_spawn(p, SPAWN_ARGV(argv + i), &c) != SL_OK) {
        goto setup_failed;
    }
    if (wait_forwarding(c, &result) != SL_OK) {
        goto setup_failed;
    }
    ret = exit_status(&result, timeout_ms);
    if (dry_run) {
        if (sl_child_changes(c, print_change, stderr) != SL_OK || sl_child_abort(c) != SL_OK) {
            goto setup_failed;
        }
    }
    if (events.learn) {
        sl_child_free(c); /* waits for a running callback */
        c = NULL;
        if (events.failed) {
            fputs("sandlock-run: out of memory while learning; the flags are incomplete\n",
                  stderr);
        }
        if (learn_print(&events, learn_file ? learn_file : stderr) != 0) {
            fprintf(stderr, "sandlock-run: cannot write the learned flags%s%s\n",
                    learn_out ? " to " : "", learn_out ? learn_out : "");
        }
    }
    goto out;

setup_failed:
    ret = setup_error();
out:
    sl_child_free(c);
    sl_policy_free(p);
    learn_free(&events);
    pthread_mutex_destroy(&events.lock);
    if (learn_file != NULL && fclose(learn_file) != 0) {
        fprintf(stderr, "sandlock-run: cannot write %s: %s\n", learn_out, strerror(errno));
    }
    if (signal_pipe[0] >= 0) {
        close(signal_pipe[0]);
        close(signal_pipe[1]);
    }
    return ret;
}
