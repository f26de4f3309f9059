//! `sl_confine_self`: a policy applied to the calling process itself.
//!
//! Confinement is irreversible, so every test confines a forked child of the
//! test process (never the test process itself), which reports through its
//! exit code: 0 when every check held, else the number of the first failed
//! check. Also a C program (tests/c/confine.c) that does the same from C.

mod common;

use common::last_error;
use sandlock::ffi::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Run `body` in a forked child; its return value becomes the exit code.
///
/// The child is single-threaded; it allocates (as `sl_confine_self` does),
/// which glibc's fork makes safe. Lazily initialised state the library needs
/// is initialised before the fork, so no lock can be held by another thread.
fn in_child(body: impl FnOnce() -> i32) -> i32 {
    let _ = sl_features();
    // SAFETY: fork in a test process; the child runs `body` and leaves with
    // _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(99);
        // SAFETY: leaving the forked child without running the harness's exit code.
        unsafe { libc::_exit(code) };
    }
    let mut st = 0;
    // SAFETY: waits for our own child; `st` is a valid out pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
    assert!(libc::WIFEXITED(st), "child died: status {st:#x}");
    libc::WEXITSTATUS(st)
}

/// The first failed check, or 0.
struct Checks(i32, i32);
impl Checks {
    fn new() -> Checks {
        Checks(0, 0)
    }
    fn check(&mut self, ok: bool) {
        self.1 += 1;
        if !ok && self.0 == 0 {
            self.0 = self.1;
        }
    }
}

fn read_ok(path: &Path) -> Result<(), i32> {
    std::fs::read(path)
        .map(drop)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// `ptrace(PTRACE_CONT)` on our parent, which we do not trace: ESRCH if the
/// kernel sees it, EPERM if the deny list stops it first.
fn ptrace_errno() -> i32 {
    // SAFETY: a ptrace request on a process we do not trace only fails.
    let r = unsafe { libc::ptrace(libc::PTRACE_CONT, libc::getppid(), 0, 0) };
    if r == 0 {
        0
    } else {
        errno()
    }
}

fn status_field(name: &str) -> String {
    field(
        &std::fs::read_to_string("/proc/self/status").unwrap_or_default(),
        name,
    )
}

/// /proc/self/status, opened now to be read after confinement forbids opening it.
fn status_file() -> std::fs::File {
    std::fs::File::open("/proc/self/status").unwrap()
}

fn status_field_of(f: &std::fs::File, name: &str) -> String {
    let mut buf = vec![0u8; 8192];
    let n = std::os::unix::fs::FileExt::read_at(f, &mut buf, 0).unwrap_or(0);
    field(&String::from_utf8_lossy(&buf[..n]), name)
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn dirs(name: &str) -> (PathBuf, PathBuf) {
    let root = common::scratch().join(format!("confine-{name}"));
    let (inside, outside) = (root.join("inside"), root.join("outside"));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(inside.join("file"), "in").unwrap();
    std::fs::write(outside.join("file"), "out").unwrap();
    (inside, outside)
}

struct Pol(*mut sl_policy);
impl Pol {
    fn new() -> Pol {
        let mut p = std::ptr::null_mut();
        assert_eq!(sl_policy_new(&mut p), SL_OK);
        Pol(p)
    }
    fn read(self, path: &Path) -> Pol {
        let s = CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(
            sl_policy_allow_read(self.0, s.as_ptr()),
            SL_OK,
            "{}",
            last_error()
        );
        self
    }
    fn write(self, path: &Path) -> Pol {
        let s = CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(
            sl_policy_allow_write(self.0, s.as_ptr()),
            SL_OK,
            "{}",
            last_error()
        );
        self
    }
}
impl Drop for Pol {
    fn drop(&mut self) {
        sl_policy_free(self.0);
    }
}

#[test]
fn reads_outside_the_policy_fail_with_eacces() {
    let (inside, outside) = dirs("read");
    let p = Pol::new().read(&inside);
    let code = in_child(|| {
        let mut k = Checks::new();
        k.check(read_ok(&outside.join("file")).is_ok()); // 1: before, everything is readable
        let status = status_file();
        k.check(sl_confine_self(p.0) == SL_OK); // 2
        k.check(read_ok(&inside.join("file")).is_ok()); // 3
        k.check(read_ok(&outside.join("file")) == Err(libc::EACCES)); // 4
        k.check(read_ok(Path::new("/etc/passwd")) == Err(libc::EACCES)); // 5
        k.check(
            std::fs::write(inside.join("new"), "x").map_err(|e| e.raw_os_error())
                == Err(Some(libc::EACCES)),
        ); // 6: read-only
        k.check(status_field_of(&status, "NoNewPrivs") == "1"); // 7
        k.check(status_field_of(&status, "Seccomp") == "2"); // 8: filter mode
        k.check(read_ok(Path::new("/proc/self/status")) == Err(libc::EACCES)); // 9
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn writes_follow_the_policy() {
    let (inside, outside) = dirs("write");
    let p = Pol::new().write(&inside);
    let code = in_child(|| {
        let mut k = Checks::new();
        k.check(sl_confine_self(p.0) == SL_OK);
        k.check(std::fs::write(inside.join("new"), "x").is_ok());
        k.check(std::fs::remove_file(inside.join("new")).is_ok());
        k.check(
            std::fs::write(outside.join("new"), "x").map_err(|e| e.raw_os_error())
                == Err(Some(libc::EACCES)),
        );
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn denied_paths_stay_unreachable() {
    let (inside, _) = dirs("deny");
    std::fs::create_dir_all(inside.join("secret")).unwrap();
    std::fs::write(inside.join("secret/key"), "k").unwrap();
    let p = Pol::new().read(&inside);
    let s = CString::new(inside.join("secret").to_str().unwrap()).unwrap();
    assert_eq!(sl_policy_deny_path(p.0, s.as_ptr()), SL_OK);
    let code = in_child(|| {
        let mut k = Checks::new();
        k.check(sl_confine_self(p.0) == SL_OK);
        k.check(read_ok(&inside.join("file")).is_ok());
        k.check(read_ok(&inside.join("secret/key")) == Err(libc::EACCES));
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn ptrace_fails_with_eperm() {
    let p = Pol::new().read(Path::new("/usr"));
    let code = in_child(|| {
        let mut k = Checks::new();
        k.check(ptrace_errno() == libc::ESRCH); // 1: unconfined, the kernel answers
        k.check(sl_confine_self(p.0) == SL_OK); // 2
        k.check(ptrace_errno() == libc::EPERM); // 3: the deny list answers
                                                // SAFETY: io_uring_setup with a NULL params pointer only fails.
        let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0) };
        k.check(r == -1 && errno() == libc::ENOSYS); // 4
                                                     // SAFETY: unshare only fails here.
        k.check(unsafe { libc::unshare(libc::CLONE_NEWUSER) } == -1 && errno() == libc::EPERM); // 5
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn a_seeded_policy_is_refused_and_leaves_the_process_unconfined() {
    let (inside, outside) = dirs("seeded");
    let p = Pol::new().read(&inside);
    assert_eq!(sl_policy_set_random_seed(p.0, 42), SL_OK);
    let code = in_child(|| {
        let mut k = Checks::new();
        let r = sl_confine_self(p.0);
        k.check(r == SL_E_INVALID); // 1
        let msg = last_error();
        k.check(msg.contains("sl_policy_set_random_seed")); // 2
        k.check(msg.contains("nothing was applied")); // 3
        k.check(read_ok(&outside.join("file")).is_ok()); // 4: still unconfined
        k.check(ptrace_errno() == libc::ESRCH); // 5
        k.check(status_field("NoNewPrivs") == "0"); // 6: not even no_new_privs
        k.check(status_field("Seccomp") == "0"); // 7
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn every_supervisor_setting_is_refused_by_name() {
    type Set = fn(*mut sl_policy) -> i32;
    let cases: &[(&str, Set)] = &[
        ("sl_policy_set_time", |p| {
            sl_policy_set_time(p, SL_TIME_FROZEN, 0)
        }),
        ("sl_policy_set_time_step_ns", |p| {
            sl_policy_set_time_step_ns(p, 5)
        }),
        ("sl_policy_set_cpu_count", |p| sl_policy_set_cpu_count(p, 2)),
        ("sl_policy_set_hostname", |p| {
            sl_policy_set_hostname(p, c"box".as_ptr())
        }),
        ("sl_policy_set_timeout_ms", |p| {
            sl_policy_set_timeout_ms(p, 100)
        }),
        ("SL_LIMIT_MEMORY", |p| {
            sl_policy_set_limit(p, SL_LIMIT_MEMORY, 1 << 30)
        }),
        ("SL_LIMIT_PROCESSES", |p| {
            sl_policy_set_limit(p, SL_LIMIT_PROCESSES, 10)
        }),
        ("SL_LIMIT_CPU_SECONDS", |p| {
            sl_policy_set_limit(p, SL_LIMIT_CPU_SECONDS, 10)
        }),
        ("sl_policy_set_env", |p| {
            sl_policy_set_env(p, c"A".as_ptr(), c"1".as_ptr())
        }),
        ("sl_policy_inherit_env", |p| sl_policy_inherit_env(p, true)),
        ("sl_policy_set_cwd", |p| sl_policy_set_cwd(p, c"/".as_ptr())),
        ("sl_policy_set_stdio", |p| sl_policy_set_stdio(p, -1, 1, -1)),
    ];
    let pols: Vec<Pol> = cases
        .iter()
        .map(|(_, set)| {
            let p = Pol::new().read(Path::new("/usr"));
            assert_eq!(set(p.0), SL_OK);
            p
        })
        .collect();
    let code = in_child(|| {
        let mut k = Checks::new();
        for ((name, _), p) in cases.iter().zip(&pols) {
            k.check(sl_confine_self(p.0) == SL_E_INVALID);
            k.check(last_error().contains(name));
        }
        // Nothing applied by any of them.
        k.check(status_field("NoNewPrivs") == "0");
        k.check(read_ok(Path::new("/etc/passwd")).is_ok());
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn per_process_limits_are_applied() {
    let p = Pol::new().read(Path::new("/usr"));
    assert_eq!(sl_policy_set_limit(p.0, SL_LIMIT_OPEN_FILES, 50), SL_OK);
    assert_eq!(sl_policy_set_limit(p.0, SL_LIMIT_FILE_SIZE, 4096), SL_OK);
    let code = in_child(|| {
        let mut k = Checks::new();
        k.check(sl_confine_self(p.0) == SL_OK);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: fills `lim`.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        k.check(lim.rlim_cur == 50 && lim.rlim_max == 50);
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) };
        k.check(lim.rlim_cur == 4096 && lim.rlim_max == 4096);
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

#[test]
fn null_policy_is_invalid() {
    // Refused before anything happens: safe to call in the test process itself.
    assert_eq!(sl_confine_self(std::ptr::null()), SL_E_INVALID);
    assert!(last_error().contains("sl_confine_self: policy is NULL"));
}

#[test]
fn confinement_stacks_and_a_refusal_changes_nothing() {
    // Landlock allows 16 nested domains: the 17th is refused by the trial run,
    // and the process keeps exactly the filters and domains it had.
    let (inside, _) = dirs("nested");
    let p = Pol::new().read(&inside).read(Path::new("/proc"));
    let code = in_child(|| {
        let mut k = Checks::new();
        let mut applied = 0;
        for _ in 0..20 {
            if sl_confine_self(p.0) != SL_OK {
                break;
            }
            applied += 1;
        }
        k.check((1..=16).contains(&applied)); // 1
        let filters = status_field("Seccomp_filters");
        k.check(filters == applied.to_string()); // 2: the refused call added no filter
        let msg = last_error();
        k.check(msg.contains("nothing was applied") && msg.contains("Landlock")); // 3
        k.check(read_ok(&inside.join("file")).is_ok()); // 4
        if k.0 != 0 {
            eprintln!("applied {applied}, filters {filters}, {msg}");
        }
        k.0
    });
    assert_eq!(code, 0, "check {code} failed");
}

/// Threads: seccomp covers every thread (TSYNC). Landlock does on ABI 8+; on
/// older kernels strict mode refuses a multithreaded process and best effort
/// confines the calling thread only.
#[test]
fn threads() {
    let (inside, outside) = dirs("threads");
    let strict = Pol::new().read(&inside);
    let loose = Pol::new().read(&inside);
    assert_eq!(sl_policy_set_best_effort(loose.0, true), SL_OK);
    let tsync = landlock_abi() >= 8;
    let code = in_child(|| {
        let mut k = Checks::new();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (res_tx, res_rx) = std::sync::mpsc::channel::<(i32, Result<(), i32>)>();
        let out = outside.join("file");
        let t = std::thread::spawn(move || {
            go_rx.recv().unwrap();
            res_tx.send((ptrace_errno(), read_ok(&out))).unwrap();
        });
        let r = sl_confine_self(strict.0);
        if tsync {
            k.check(r == SL_OK); // 1
        } else {
            k.check(r == SL_E_UNSUPPORTED); // 1
            k.check(last_error().contains("2 threads")); // 2
            k.check(status_field("NoNewPrivs") == "0"); // 3
            k.check(sl_confine_self(loose.0) == SL_OK); // 4
        }
        go_tx.send(()).unwrap();
        let (perr, read) = res_rx.recv().unwrap();
        t.join().unwrap();
        k.check(perr == libc::EPERM); // seccomp reached the other thread
        k.check(read == if tsync { Err(libc::EACCES) } else { Ok(()) });
        k.check(read_ok(&outside.join("file")) == Err(libc::EACCES)); // the calling thread
        k.0
    });
    assert_eq!(code, 0, "check {code} failed (Landlock TSYNC: {tsync})");
}

fn landlock_abi() -> i32 {
    // SAFETY: the version query takes no pointer.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1usize,
        )
    };
    v.max(0) as i32
}

/// The same from C: tests/c/confine.c forks, confines the child, checks.
#[test]
fn from_c() {
    let src_dir = std::env::var_os("SANDLOCK_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().join("libsandlock.so");
    assert!(so.exists(), "{} is missing", so.display());
    // Programs linked with -lsandlock need the SONAME, libsandlock.so.MAJOR.
    let lib_dir = common::scratch().join("confine_c_lib");
    let _ = std::fs::remove_dir_all(&lib_dir);
    std::fs::create_dir_all(&lib_dir).unwrap();
    for name in [
        "libsandlock.so".to_string(),
        format!("libsandlock.so.{}", env!("CARGO_PKG_VERSION_MAJOR")),
    ] {
        std::os::unix::fs::symlink(&so, lib_dir.join(name)).unwrap();
    }
    let out = common::scratch().join("confine_c");
    let st = std::process::Command::new("gcc")
        .args(["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o"])
        .arg(&out)
        .arg(src_dir.join("tests/c/confine.c"))
        .arg(format!("-I{}", src_dir.join("include").display()))
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lsandlock")
        .status()
        .expect("gcc");
    assert!(st.success(), "compiling tests/c/confine.c");
    let (inside, outside) = dirs("c");
    let run = std::process::Command::new(&out)
        .arg(&inside)
        .arg(&outside)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}
