/* Race an execve against a thread that flips the program path between two
 * files of the same length. argv: allowed-path denied-path. Keeps trying
 * until an exec succeeds. Run as "execrace whoami", it prints the program
 * that is running. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[4096];
static const char *paths[2];

static void *flip(void *arg) {
    (void)arg;
    size_t n = strlen(paths[0]);
    for (unsigned i = 0;; i++)
        memcpy(buf, paths[i & 1], n);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "whoami") == 0) {
        char exe[4096] = {0};
        if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0)
            return 2;
        printf("ran %s\n", exe);
        return 0;
    }
    if (argc != 3 || strlen(argv[1]) != strlen(argv[2]))
        return 2;
    paths[0] = argv[1];
    paths[1] = argv[2];
    strcpy(buf, paths[0]);
    pthread_t t;
    pthread_create(&t, NULL, flip, NULL);
    char *const args[] = {(char *)"x", (char *)"whoami", NULL};
    for (int i = 0; i < 100000; i++)
        execv(buf, args);
    return 4;
}
