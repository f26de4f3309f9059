//! A host that forks (without exec) while another of its threads is starting
//! the supervisor: the forked child must still be able to spawn sandboxes.
//!
//! The host's link to its supervisor is guarded by a lock. Had a fork copied
//! that lock while another thread held it (as it does for the whole start-up
//! of a supervisor), the child's first `sl_spawn` would wait forever for a
//! thread that does not exist in the child. This binary has one test, so no
//! other test thread holds library locks at a fork.
mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seconds a forked child may take before SIGALRM ends it (a hang).
const CHILD_ALARM_S: u32 = 15;

/// Fork; the child spawns `/bin/true` in a sandbox and exits 0 on success.
fn fork_and_spawn() -> i32 {
    // SAFETY: fork in a test process; the child only uses the library (whose
    // locks are fork-safe, which is what this test checks) and the allocator
    // (glibc's is fork-safe), then leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: alarm and _exit are async-signal-safe.
        unsafe { libc::alarm(CHILD_ALARM_S) };
        let ok = Policy::system()
            .spawn(&["/bin/true"])
            .map(|c| exited(c.wait()) == Some(0))
            .unwrap_or(false);
        // SAFETY: leave the forked child without running the harness's exit code.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut st = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {}
    st
}

#[test]
fn a_child_forked_during_supervisor_start_up_can_spawn() {
    let policy = Arc::new(Policy::system());
    assert_eq!(
        exited(policy.spawn(&["/bin/true"]).unwrap().wait()),
        Some(0)
    );
    let stop = Arc::new(AtomicBool::new(false));
    // A thread that keeps the supervisor starting: kill it, then spawn (which
    // finds it dead and starts a new one).
    let restarts = {
        let (policy, stop) = (policy.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let sup = sandlock::supervisor::link::supervisor_pid().expect("supervisor");
                // SAFETY: a signal to our own supervisor process.
                unsafe { libc::kill(sup, libc::SIGKILL) };
                let t = Instant::now();
                while alive(sup) && t.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                if let Ok(c) = policy.spawn(&["/bin/true"]) {
                    assert_eq!(exited(c.wait()), Some(0));
                    n += 1;
                }
            }
            n
        })
    };
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(fork_and_spawn());
        std::thread::sleep(Duration::from_millis(3));
    }
    stop.store(true, Ordering::Relaxed);
    let restarts = restarts.join().unwrap();
    assert!(
        restarts >= 5,
        "only {restarts} supervisor restarts overlapped the forks"
    );
    let hung = statuses
        .iter()
        .filter(|&&s| signaled(s) == Some(libc::SIGALRM))
        .count();
    let failed: Vec<_> = statuses.iter().filter(|&&s| exited(s) != Some(0)).collect();
    assert_eq!(hung, 0, "{hung} of 40 forked children hung in sl_spawn");
    assert!(failed.is_empty(), "forked children failed: {failed:?}");
}
