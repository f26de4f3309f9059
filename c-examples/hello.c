/*
 * hello.c: the smallest useful sandlock host.
 *
 * Runs python3 in a sandbox that may only read the system directories, with
 * its randomness seeded: it prints the same "random" bytes at every run.
 *
 *   cc hello.c $(pkg-config --cflags --libs sandlock) -o hello && ./hello
 */
#include <sandlock.h>

#include <stdio.h>
#include <sys/wait.h>

int main(void)
{
    static const char *const dirs[] = {"/usr", "/etc", "/lib", "/lib64", "/bin"};
    char *const argv[] = {"python3", "-c", "import os; print(os.urandom(8).hex())", NULL};
    sl_policy *p = NULL;
    sl_child *c = NULL;
    int status = 0, ret = 1;
    size_t i;

    if (sl_policy_new(&p) != SL_OK) {
        fprintf(stderr, "hello: sl_policy_new: %s\n", sl_last_error_message());
        return 1;
    }
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        /* A rule needs an existing path: skip (and say) what this system lacks. */
        if (sl_policy_allow_read(p, dirs[i]) != SL_OK) {
            fprintf(stderr, "hello: skipping %s: %s\n", dirs[i], sl_last_error_message());
        }
    }
    if (sl_policy_set_random_seed(p, 42) != SL_OK) {
        /* Read the message before any other sl_* call: the next call replaces it. */
        fprintf(stderr, "hello: sl_policy_set_random_seed: %s\n", sl_last_error_message());
        goto out;
    }
    /* argv is execve-style; the (void *) keeps this building with sandlock 0.1.0's
     * header, which spells the parameter `const char *const *`. */
    if (sl_spawn(p, (void *)argv, &c) != SL_OK) {
        fprintf(stderr, "hello: sl_spawn: %s\n", sl_last_error_message());
        goto out;
    }
    if (sl_wait(c, &status) != SL_OK) {
        fprintf(stderr, "hello: sl_wait: %s\n", sl_last_error_message());
        goto out;
    }
    if (WIFEXITED(status)) {
        printf("python3 exited with status %d\n", WEXITSTATUS(status));
        ret = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        printf("python3 was killed by signal %d\n", WTERMSIG(status));
    }
out:
    sl_child_free(c);
    sl_policy_free(p);
    return ret;
}
