/* A stand-in for build/sandlock-run when the packaged CLI is not built:
 *   mini_run --system [--seed N] [--read DIR] -- PROG [ARGS...]
 * It starts cold like the CLI (loads libsandlock.so, starts the supervisor),
 * runs PROG under the system policy and exits with its status. */
#include <sandlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int i = 1;
    const char *seed = NULL, *read = NULL;
    if (i < argc && !strcmp(argv[i], "--system")) i++;
    if (i + 1 < argc && !strcmp(argv[i], "--seed")) {
        seed = argv[i + 1];
        i += 2;
    }
    if (i + 1 < argc && !strcmp(argv[i], "--read")) {
        read = argv[i + 1];
        i += 2;
    }
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc) return 2;
    sl_policy *p;
    if (sl_policy_new(&p) != SL_OK) return 125;
    if (read && sl_policy_allow_read(p, read) != SL_OK) {
        fprintf(stderr, "mini_run: %s\n", sl_last_error_message());
        return 125;
    }
    if (seed) sl_policy_set_random_seed(p, strtoull(seed, NULL, 0));
    const char *dirs[] = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"};
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++)
        if (access(dirs[d], F_OK) == 0) sl_policy_allow_read(p, dirs[d]);
    sl_policy_set_env(p, "PATH", "/usr/local/bin:/usr/bin:/bin");
    sl_child *c;
    if (sl_spawn(p, argv + i, &c) != SL_OK) {
        fprintf(stderr, "mini_run: %s\n", sl_last_error_message());
        return 125;
    }
    int st = 0;
    sl_wait(c, &st);
    sl_child_free(c);
    sl_policy_free(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
