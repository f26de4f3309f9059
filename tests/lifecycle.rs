//! Many spawns from many threads leak nothing; a large host still spawns.
mod common;
use common::*;
use std::sync::Arc;

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

/// Children of `pid` that are zombies or alive.
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let after = s.rsplit(')').next().unwrap_or("");
            let ppid: i32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if ppid == pid {
                out.push(p);
            }
        }
    }
    out
}

/// The tests of this binary count the process's fds and threads: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn concurrent_spawns_leak_no_fd_thread_or_process() {
    let _g = serial();
    let policy = Arc::new(Policy::system());
    // Warm up: the supervisor starts once and keeps its control socket, and the
    // policy caches its Landlock ruleset fd.
    assert_eq!(
        exited(policy.spawn(&["/bin/true"]).unwrap().wait()),
        Some(0)
    );
    let fds_before = count_dir("/proc/self/fd");
    let me = std::process::id() as i32;

    let workers: Vec<_> = (0..4)
        .map(|t| {
            let policy = policy.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    match (t + i) % 5 {
                        // Freed while running: must be killed and reaped.
                        0 => drop(policy.spawn(&["/bin/sleep", "10"]).unwrap()),
                        // Killed, then waited.
                        1 => {
                            let c = policy.spawn(&["/bin/sleep", "10"]).unwrap();
                            c.kill(libc::SIGKILL);
                            assert_eq!(signaled(c.wait()), Some(libc::SIGKILL));
                        }
                        // Runs to completion.
                        _ => assert_eq!(
                            exited(policy.spawn(&["/bin/true"]).unwrap().wait()),
                            Some(0)
                        ),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }

    let sup = sandlock::supervisor::link::supervisor_pid().expect("supervisor");
    // Freed children are killed asynchronously: give the supervisor a moment.
    let t = std::time::Instant::now();
    while !children_of(sup).is_empty() && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        children_of(sup),
        Vec::<i32>::new(),
        "processes left under the supervisor"
    );
    assert_eq!(
        children_of(me),
        Vec::<i32>::new(),
        "the host has children (zombies?)"
    );
    let listing: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .map(|e| {
            format!(
                "{:?}->{:?}",
                e.file_name(),
                std::fs::read_link(e.path()).ok()
            )
        })
        .collect();
    assert_eq!(
        count_dir("/proc/self/fd"),
        fds_before,
        "fds leaked in the host: {listing:?}"
    );
    // Only the library's own threads (all named sandlock-*) are counted: the
    // harness starts and ends a thread per test while this one runs.
    assert_eq!(
        library_threads(),
        Vec::<String>::new(),
        "library threads left"
    );
    // The supervisor keeps only its own few fds, not one per past child.
    let sup_fds = count_dir(&format!("/proc/{sup}/fd"));
    assert!(sup_fds < 16, "supervisor holds {sup_fds} fds");
}

#[test]
fn a_host_with_a_gigabyte_touched_still_spawns() {
    let _g = serial();
    let mut big = vec![0u8; 1 << 30];
    for i in (0..big.len()).step_by(4096) {
        big[i] = 1;
    }
    let p = Policy::system();
    for _ in 0..5 {
        assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
    }
    assert_eq!(big[4096], 1);
}

/// Spawns that fail at their first exec stop (the supervisor cannot prepare
/// the new image) and spawns that work, from 8 threads at once: each gets its
/// own answer, and nothing of the failed ones is left.
#[test]
fn first_exec_failures_come_back_from_their_own_spawn() {
    let _g = serial();
    // SAFETY: geteuid has no side effects.
    if unsafe { libc::geteuid() } == 0 {
        // Root reads an execute-only file anyway (CAP_DAC_OVERRIDE), so its
        // process stays readable; tests/unprivileged.sh runs this as a user.
        eprintln!("skipped as root: run by tests/unprivileged.sh");
        return;
    }
    // An execute-only program: its process is not dumpable, so the
    // supervisor (without capabilities) cannot read its auxv to seed it.
    let dir = scratch();
    let prog = dir.join("true-exec-only");
    std::fs::copy("/bin/true", &prog).unwrap();
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o111)).unwrap();
    let mut p = Policy::system();
    p.read(&dir.to_string_lossy()).seed(1);
    let p = Arc::new(p);
    let prog = Arc::new(prog.to_string_lossy().into_owned());
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (p, prog) = (p.clone(), prog.clone());
            std::thread::spawn(move || {
                for i in 0..20 {
                    if (t + i) % 2 == 0 {
                        let Err((code, msg)) = p.spawn(&[prog.as_str()]) else {
                            panic!("an execute-only program ran seeded")
                        };
                        assert_eq!(code, sandlock::ffi::SL_E_UNSUPPORTED, "{msg}");
                        assert!(msg.contains("auxv"), "{msg}");
                    } else {
                        let c = p.spawn(&["/bin/true"]).unwrap();
                        assert_eq!(exited(c.wait()), Some(0));
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let sup = sandlock::supervisor::link::supervisor_pid().expect("supervisor");
    let t = std::time::Instant::now();
    while !children_of(sup).is_empty() && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        children_of(sup),
        Vec::<i32>::new(),
        "left under the supervisor"
    );
}
