//! Timed waits with absolute deadlines under virtual time
//! (`handlers/timedwait.rs`): the deadline a program computed from a virtual
//! clock is translated to the real clock, the wait is real (a producer thread
//! can end it), and a wait that times out moves frozen time to its deadline.
mod common;

use common::*;
use sandlock::ffi::*;
use std::time::Instant;

/// 2000-01-01T00:00:00Z.
const Y2000_NS: i64 = 946_684_800_000_000_000;

fn timed(mode: i32) -> Policy {
    let mut p = Policy::system();
    if let Some(d) = scratch().to_str() {
        p.read(d);
    }
    p.seed(1);
    // Without the translation some of these loops spin forever: fail instead.
    p.timeout_ms(30_000);
    assert_eq!(
        sl_policy_set_time(p.0, mode, Y2000_NS),
        SL_OK,
        "{}",
        last_error()
    );
    p
}

fn py(p: &Policy, code: &str) -> (String, f64) {
    let t = Instant::now();
    let (st, out) = p.run(&["python3", "-I", "-c", code]);
    let real = t.elapsed().as_secs_f64();
    assert_eq!(exited(st), Some(0), "python failed ({st:#x}): {out}");
    (out, real)
}

/// A timed wait with nobody to end it lasts about its timeout in real time,
/// and frozen virtual time advances by exactly the timeout.
#[test]
fn timed_waits_time_out_in_real_and_virtual_time() {
    let code = "import threading, queue, time\n\
                l = threading.Lock(); l.acquire()\n\
                a = time.monotonic(); w = threading.Event().wait(0.5); b = time.monotonic()\n\
                c = l.acquire(timeout=0.5); d = time.monotonic()\n\
                try:\n\
                \x20   queue.Queue().get(timeout=0.5)\n\
                except queue.Empty:\n\
                \x20   pass\n\
                e = time.monotonic()\n\
                print(w, c, round(b - a, 9), round(d - b, 9), round(e - d, 9))\n";
    let (out, real) = py(&timed(SL_TIME_FROZEN), code);
    assert_eq!(out, "False False 0.5 0.5 0.5\n");
    assert!(
        real >= 1.3,
        "three 0.5 s waits took {real:.3} s of real time"
    );
    assert!(
        real < 10.0,
        "three 0.5 s waits took {real:.3} s of real time"
    );
}

/// A timed wait is woken by a thread that sets the condition after 50 ms of
/// real time, and frozen time does not move for it.
#[test]
fn timed_waits_are_woken_by_a_producer() {
    let code = "import threading, queue, time\n\
                ev = threading.Event(); q = queue.Queue()\n\
                import os, select\n\
                def later():\n\
                \x20   r, w = os.pipe()\n\
                \x20   select.select([r], [], [], 0.05)\n\
                \x20   ev.set(); q.put(7)\n\
                threading.Thread(target=later).start()\n\
                print(ev.wait(5), q.get(timeout=5))\n";
    let (out, real) = py(&timed(SL_TIME_FROZEN), code);
    assert_eq!(out, "True 7\n");
    assert!(real < 4.0, "the producer did not end the wait: {real:.3} s");
}

/// `while now < deadline: q.get(timeout=0.2)` ends under frozen time, and
/// two runs print the same.
#[test]
fn polling_loop_until_a_virtual_deadline_ends() {
    let code = "import queue, time\n\
                q = queue.Queue(); n = 0\n\
                end = time.monotonic() + 1\n\
                while time.monotonic() < end:\n\
                \x20   try:\n\
                \x20       q.get(timeout=0.2)\n\
                \x20   except queue.Empty:\n\
                \x20       n += 1\n\
                print(n, round(time.monotonic(), 3), round(time.time(), 3))\n";
    let p = timed(SL_TIME_FROZEN);
    let (first, real) = py(&p, code);
    assert_eq!(first, "5 101.0 946684801.0\n");
    assert!(real < 10.0, "took {real:.3} s");
    let (second, _) = py(&p, code);
    assert_eq!(first, second);
}

/// glibc's pthread_cond_timedwait (FUTEX_WAIT_BITSET with FUTEX_CLOCK_REALTIME),
/// sem_timedwait and a priority-inheritance pthread_mutex_timedlock
/// (FUTEX_LOCK_PI): woken by a producer, or timed out after their timeout,
/// the caller's deadline left as it was, also when a signal handler
/// interrupts the lock (restarted with the copy below the stack rewritten);
/// a timerfd and a POSIX timer armed
/// at an absolute virtual time fire (or stay armed) after the right real delay.
#[test]
fn glibc_timed_waits() {
    let probe = compile_probe("probes", "timedwait", &["-pthread"]);
    let t = Instant::now();
    let (st, out) = timed(SL_TIME_FROZEN).run(&[&probe]);
    let real = t.elapsed().as_secs_f64();
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        "cond: woken ready=1 kept=1\nsem: ETIMEDOUT 0.500 kept=1\npi: ETIMEDOUT 0.300\n\
         pi-signal: ETIMEDOUT 0.300 alarms=1\n\
         timerfd: rc=0 read=8 n=1 kept=1\ntimer: rc=0 armed=1\n"
    );
    assert!((1.3..10.0).contains(&real), "took {real:.3} s");
}

/// Offset time runs with the real clock but from another origin: a timed
/// wait lasts its timeout, in real and virtual time alike.
#[test]
fn offset_time_timed_wait_lasts_its_timeout() {
    let code = "import threading, time\n\
                a = time.monotonic(); w = threading.Event().wait(0.5); b = time.monotonic()\n\
                print(w, 0.45 <= b - a < 5)\n";
    let (out, real) = py(&timed(SL_TIME_OFFSET), code);
    assert_eq!(out, "False True\n");
    assert!(real >= 0.45, "took {real:.3} s");
}

/// Logical time: a timed-out wait moves time to its deadline, plus the
/// steps of the reads around it.
#[test]
fn logical_time_timed_wait_moves_to_its_deadline() {
    let code = "import threading, time\n\
                a = time.monotonic_ns(); threading.Event().wait(0.5); b = time.monotonic_ns()\n\
                print(0.5e9 <= b - a < 0.5e9 + 1e5)\n";
    let p = timed(SL_TIME_LOGICAL);
    assert_eq!(sl_policy_set_time_step_ns(p.0, 1000), SL_OK);
    let (out, real) = py(&p, code);
    assert_eq!(out, "True\n");
    assert!(real >= 0.4, "took {real:.3} s");
}
