//! 1,000 spawns from 8 threads sharing one policy, with random early frees,
//! kills and waits racing each other; afterwards nothing is left behind: no fd
//! or thread in the host, no child or zombie of the host, no process under the
//! supervisor, no fd growth in the supervisor.
mod common;
use common::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sandlock::ffi::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREADS: usize = 8;
const SPAWNS: usize = 1000;

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

/// (pid, state) of the children of `pid`, zombies included.
fn children_of(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let mut f = s.rsplit(')').next().unwrap_or("").split_whitespace();
            let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
            let ppid: i32 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if ppid == pid {
                out.push((p, state));
            }
        }
    }
    out
}

fn fd_listing(pid: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let target = std::fs::read_link(e.path())
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{}->{target}", e.file_name().to_string_lossy())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// This binary counts process-wide fds and threads: one test at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

fn wait_status(c: &Child) -> i32 {
    let mut st = 0;
    let r = sl_wait_timeout(c.0, 20_000, &mut st);
    assert_eq!(r, SL_OK, "a child did not end: {}", last_error());
    st
}

/// One random use of the shared policy. Returns what happened, for the tally.
fn one(policy: &Policy, rng: &mut ChaCha8Rng) -> usize {
    let action = (rng.next_u32() % 10) as usize;
    match action {
        // Runs to completion.
        0 | 1 => assert_eq!(
            exited(wait_status(&policy.spawn(&["/bin/true"]).unwrap())),
            Some(0)
        ),
        // Freed while running: killed and reaped behind the host's back.
        2 => drop(policy.spawn(&["/bin/sleep", "30"]).unwrap()),
        // Freed right away, racing its own exit.
        3 => drop(policy.spawn(&["/bin/true"]).unwrap()),
        // Killed, then waited.
        4 => {
            let c = policy.spawn(&["/bin/sleep", "30"]).unwrap();
            c.kill(libc::SIGKILL);
            assert_eq!(signaled(wait_status(&c)), Some(libc::SIGKILL));
        }
        // A tree (a shell with background children), killed with SIGTERM to the
        // first process: the rest goes with the sandbox.
        5 => {
            let c = policy
                .spawn(&["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
                .unwrap();
            std::thread::sleep(Duration::from_micros((rng.next_u32() % 3000) as u64));
            c.kill(libc::SIGTERM);
            assert_eq!(signaled(wait_status(&c)), Some(libc::SIGTERM));
        }
        // A wait that times out, then a kill from another thread while this one waits.
        6 => {
            let c = Arc::new(policy.spawn(&["/bin/sleep", "30"]).unwrap());
            let mut st = 0;
            assert_eq!(sl_wait_timeout(c.0, 1, &mut st), SL_E_TIMEOUT);
            let c2 = c.clone();
            let delay = (rng.next_u32() % 2000) as u64;
            let killer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(delay));
                c2.kill(libc::SIGKILL);
            });
            assert_eq!(signaled(wait_status(&c)), Some(libc::SIGKILL));
            killer.join().unwrap();
        }
        // Polled with sl_try_wait until done.
        7 => {
            let c = policy.spawn(&["/bin/true"]).unwrap();
            let t = Instant::now();
            let mut st = 0;
            loop {
                match sl_try_wait(c.0, &mut st) {
                    SL_OK => break,
                    SL_E_AGAIN => std::thread::sleep(Duration::from_micros(200)),
                    other => panic!("sl_try_wait: {other}: {}", last_error()),
                }
                assert!(t.elapsed() < Duration::from_secs(20));
            }
            assert_eq!(exited(st), Some(0));
        }
        // A spawn that fails (the error path must leak nothing either).
        8 => {
            let Err((code, _)) = policy.spawn(&["/no/such/program"]) else {
                panic!("spawned")
            };
            assert_eq!(code, SL_E_EXEC);
        }
        // Killed while it may still be starting, then freed without a wait.
        _ => {
            let c = policy.spawn(&["/bin/sh", "-c", "exit 0"]).unwrap();
            let _ = sl_child_kill(c.0, libc::SIGKILL);
        }
    }
    action
}

#[test]
fn thousand_spawns_from_eight_threads_leak_nothing() {
    let _g = serial();
    let policy = Arc::new(Policy::system());
    // Warm up: the supervisor starts once, the policy caches its ruleset.
    assert_eq!(
        exited(policy.spawn(&["/bin/true"]).unwrap().wait()),
        Some(0)
    );
    let sup = sandlock::supervisor::link::supervisor_pid().expect("supervisor");
    let sup_s = sup.to_string();
    let me = std::process::id() as i32;
    let fds_before = fd_listing("self");
    // The supervisor's idle set (the warm-up sandbox's fds may still be closing).
    std::thread::sleep(Duration::from_millis(100));
    let sup_fds_before = fd_listing(&sup_s);

    let t = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(std::sync::Mutex::new([0usize; 10]));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (policy, next, tally) = (policy.clone(), next.clone(), tally.clone());
            std::thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(0xc0c0_0000 + i as u64);
                while next.fetch_add(1, Ordering::Relaxed) < SPAWNS {
                    let a = one(&policy, &mut rng);
                    tally.lock().unwrap()[a] += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let took = t.elapsed();

    // Freed children are killed asynchronously: give the supervisor a moment.
    let t = Instant::now();
    while !children_of(sup).is_empty() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        children_of(sup),
        Vec::new(),
        "processes (or zombies) left under the supervisor"
    );
    assert_eq!(
        children_of(me),
        Vec::new(),
        "the host has children or zombies"
    );
    assert_eq!(
        sandlock::supervisor::link::supervisor_pid(),
        Some(sup),
        "the supervisor was replaced"
    );
    // The supervisor lets go of each sandbox's fds once it is reaped.
    let t = Instant::now();
    while fd_listing(&sup_s).len() > sup_fds_before.len() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        fd_listing(&sup_s).len() <= sup_fds_before.len(),
        "supervisor fds grew: {:?} (before: {sup_fds_before:?})",
        fd_listing(&sup_s)
    );
    assert_eq!(
        count_dir(&format!("/proc/{sup}/task")),
        1,
        "the supervisor is single-threaded"
    );
    assert_eq!(fd_listing("self"), fds_before, "fds leaked in the host");
    // Only the library's own threads (all named sandlock-*) are counted: the
    // harness starts and ends a thread per test while this one runs.
    assert_eq!(
        library_threads(),
        Vec::<String>::new(),
        "library threads left"
    );
    eprintln!(
        "concurrency: {SPAWNS} spawns from {THREADS} threads in {took:?} ({:.0}/s); actions {:?}",
        SPAWNS as f64 / took.as_secs_f64(),
        tally.lock().unwrap()
    );
}

/// Policies cloned, changed and freed on some threads while others spawn from
/// a shared one: the shared policy is only read by spawning.
#[test]
fn policy_clones_and_frees_race_with_spawns() {
    let _g = serial();
    let shared = Arc::new(Policy::system());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn: Vec<_> = (0..2)
        .map(|_| {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut copy = std::ptr::null_mut();
                    assert_eq!(sl_policy_clone(shared.0, &mut copy), SL_OK);
                    let copy = Policy(copy);
                    assert_eq!(sl_policy_set_random_seed(copy.0, n), SL_OK);
                    assert_eq!(sl_policy_allow_read(copy.0, c("/tmp").as_ptr()), SL_OK);
                    if n % 8 == 0 {
                        assert_eq!(exited(copy.spawn(&["/bin/true"]).unwrap().wait()), Some(0));
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let spawners: Vec<_> = (0..4)
        .map(|_| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for _ in 0..40 {
                    assert_eq!(
                        exited(shared.spawn(&["/bin/true"]).unwrap().wait()),
                        Some(0)
                    );
                }
            })
        })
        .collect();
    for s in spawners {
        s.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for c in churn {
        assert!(c.join().unwrap() > 0);
    }
}
