/*
 * Load libsandlock.so at run time (argv[1]) with dlopen, as a language binding
 * or plugin host would: every function named in argv[2..] resolves, calls work from a worker
 * thread (the error slot is thread-local), a child can be spawned, and the
 * library can be dlclose'd while a thread that used it is still alive and then
 * exits (thread-local destructors after dlclose: the .so is linked -z nodelete).
 *
 * This program is not linked with -lsandlock; it includes the header only for
 * types and constants.
 */
#define _POSIX_C_SOURCE 200809L

#define CHECK_LAST_ERROR() "(see above)"
#include "check.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/wait.h>

typedef uint32_t (*version_number_fn)(void);
typedef const char *(*message_fn)(void);
typedef int32_t (*policy_new_fn)(sl_policy **);
typedef void (*policy_free_fn)(sl_policy *);
typedef int32_t (*allow_fn)(sl_policy *, const char *);
typedef int32_t (*best_effort_fn)(sl_policy *, bool);
typedef int32_t (*spawn_fn)(const sl_policy *, char *const *, sl_child **);
typedef int32_t (*wait_fn)(sl_child *, int32_t *);
typedef void (*child_free_fn)(sl_child *);

static void *lib;

/* dlsym into a function pointer without the object-to-function cast ISO C forbids. */
#define LOAD(var, name)                                                                 \
    do {                                                                                \
        void *sym_ = dlsym(lib, (name));                                                \
        CHECK(sym_ != NULL);                                                            \
        memcpy(&(var), &sym_, sizeof sym_);                                             \
    } while (0)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int worker_done = 0, closed = 0;

static void *worker(void *arg)
{
    version_number_fn version_number;
    message_fn message;
    policy_new_fn policy_new;
    int32_t rc;

    (void)arg;
    LOAD(version_number, "sl_version_number");
    LOAD(message, "sl_last_error_message");
    LOAD(policy_new, "sl_policy_new");
    CHECK(version_number() == SL_VERSION_NUMBER);
    rc = policy_new(NULL); /* fills this thread's error slot */
    CHECK(rc == SL_E_INVALID);
    CHECK(strstr(message(), "sl_policy_new") != NULL);

    pthread_mutex_lock(&lock);
    worker_done = 1;
    pthread_cond_broadcast(&cond);
    /* Stay alive until the main thread has closed the library. */
    while (!closed) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL; /* thread-local destructors of the library run now */
}

static void spawn_true(void)
{
    policy_new_fn policy_new;
    policy_free_fn policy_free;
    allow_fn allow_read;
    spawn_fn spawn;
    wait_fn wait_child;
    child_free_fn child_free;
    message_fn message;
    best_effort_fn best_effort;
    static const char *const dirs[] = {"/usr", "/lib", "/lib64", "/bin", "/etc"};
    char *const argv[] = {ARG("/bin/true"), NULL};
    sl_policy *p = NULL;
    sl_child *c = NULL;
    int32_t status = -1;
    size_t i;

    LOAD(policy_new, "sl_policy_new");
    LOAD(policy_free, "sl_policy_free");
    LOAD(allow_read, "sl_policy_allow_read");
    LOAD(spawn, "sl_spawn");
    LOAD(wait_child, "sl_wait");
    LOAD(child_free, "sl_child_free");
    LOAD(message, "sl_last_error_message");
    LOAD(best_effort, "sl_policy_set_best_effort");

    CHECK(policy_new(&p) == SL_OK);
    if (UNDER_VALGRIND()) {
        CHECK(best_effort(p, true) == SL_OK);
    }
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (access(dirs[i], F_OK) == 0) {
            CHECK(allow_read(p, dirs[i]) == SL_OK);
        }
    }
    /* The supervisor is the dlopen'ed file itself, found with dladdr. */
    if (spawn(p, argv, &c) != SL_OK) {
        fprintf(stderr, "sl_spawn through dlopen: %s\n", message());
        check_failures++;
    } else {
        CHECK(wait_child(c, &status) == SL_OK);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        child_free(c);
    }
    policy_free(p);
}

int main(int argc, char **argv)
{
    pthread_t t;
    size_t i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s /path/to/libsandlock.so [FUNCTION...]\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    /* The functions the header declares (tests/c_api.rs passes them all). */
    for (i = 2; i < (size_t)argc; i++) {
        if (dlsym(lib, argv[i]) == NULL) {
            fprintf(stderr, "dlsym %s: %s\n", argv[i], dlerror());
            check_failures++;
        }
    }
    printf("dlopen: resolved %d functions\n", argc - 2);
    spawn_true();

    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    pthread_mutex_lock(&lock);
    while (!worker_done) {
        pthread_cond_wait(&cond, &lock);
    }
    pthread_mutex_unlock(&lock);

    CHECK(dlclose(lib) == 0);
    lib = NULL;

    pthread_mutex_lock(&lock);
    closed = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    CHECK(pthread_join(t, NULL) == 0);
    return check_done("dlopen");
}
