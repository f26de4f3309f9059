// The header from C++11: a std::unique_ptr wrapper with custom deleters, the
// idiom a C++ host would use, spawning /bin/true and letting a destructor end
// a child that is still running.
#include <sandlock.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace sandlock {

struct PolicyDeleter {
    void operator()(sl_policy *p) const noexcept { sl_policy_free(p); }
};
struct ChildDeleter {
    void operator()(sl_child *c) const noexcept { sl_child_free(c); }
};
using Policy = std::unique_ptr<sl_policy, PolicyDeleter>;
using Child = std::unique_ptr<sl_child, ChildDeleter>;

struct Error : std::runtime_error {
    int code;
    Error(const std::string &what, int rc)
        : std::runtime_error(what + ": " + sl_last_error_message()), code(rc) {}
};

static void ok(int rc, const char *what) {
    if (rc != SL_OK) throw Error(what, rc);
}

static Policy make_policy() {
    sl_policy *raw = nullptr;
    ok(sl_policy_new(&raw), "sl_policy_new");
    Policy p(raw);
    for (const char *dir : {"/usr", "/lib", "/lib64", "/bin", "/etc"}) {
        if (access(dir, F_OK) == 0) ok(sl_policy_allow_read(p.get(), dir), dir);
    }
    // valgrind 3.19 does not know the Landlock system calls (see tests/c/check.h).
    if (std::getenv("SANDLOCK_TEST_UNDER_VALGRIND")) {
        ok(sl_policy_set_best_effort(p.get(), true), "sl_policy_set_best_effort");
    }
    return p;
}

template <std::size_t N>
static Child spawn(const Policy &p, const char *const (&args)[N]) {
    static_assert(N >= 2, "argv needs a program and a NULL terminator");
    sl_child *raw = nullptr;
    // execve-style argv: C++ converts `const char *const *` either way the header says.
    char *argv[N];
    for (std::size_t i = 0; i < N; i++) argv[i] = const_cast<char *>(args[i]);
    ok(sl_spawn(p.get(), argv, &raw), "sl_spawn");
    return Child(raw);
}

static int wait(const Child &c) {
    int32_t status = -1;
    ok(sl_wait(c.get(), &status), "sl_wait");
    return status;
}

}  // namespace sandlock

int main() {
    int failures = 0;
    auto expect = [&failures](bool cond, const char *what) {
        if (!cond) {
            std::fprintf(stderr, "raii: FAILED: %s\n", what);
            failures++;
        }
    };
    try {
        sandlock::Policy p = sandlock::make_policy();

        const char *const t[] = {"/bin/true", nullptr};
        sandlock::Child c = sandlock::spawn(p, t);
        int st = sandlock::wait(c);
        expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "/bin/true exits 0");

        // A child still running when its handle goes away is killed and reaped.
        const char *const s[] = {"/bin/sleep", "30", nullptr};
        pid_t pid;
        {
            sandlock::Child running = sandlock::spawn(p, s);
            pid = sl_child_pid(running.get());
            expect(pid > 0, "sl_child_pid > 0");
            expect(kill(pid, 0) == 0, "the child runs");
        }
        // The supervisor kills and reaps it (sl_child_free does not wait for that):
        // give it a bounded moment.
        bool gone = false;
        for (int i = 0; i < 400 && !gone; i++) {
            gone = kill(pid, 0) == -1 && errno == ESRCH;
            if (!gone) {
                struct timespec ts = {0, 5000000};
                nanosleep(&ts, nullptr);
            }
        }
        expect(gone, "the child is gone within 2 s of freeing its handle");

        // Errors come back as exceptions carrying the code and the message.
        const char *const missing[] = {"/nonexistent/raii-test", nullptr};
        try {
            sandlock::spawn(p, missing);
            expect(false, "spawning a missing program throws");
        } catch (const sandlock::Error &e) {
            expect(e.code == SL_E_EXEC, "missing program gives SL_E_EXEC");
            expect(std::string(e.what()).find("/nonexistent/raii-test") != std::string::npos,
                   "the message names the program");
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "raii: unexpected exception: %s\n", e.what());
        return 1;
    }
    if (failures) return 1;
    std::printf("raii: all checks passed\n");
    return 0;
}
