//! Property (4) of DESIGN.md §4.1: a supervisor crash is reported, kills its
//! children, and the next spawn works. Alone in its binary: it kills the
//! process-wide supervisor, which other tests would share.
mod common;
use common::*;
use sandlock::ffi::*;
use std::time::{Duration, Instant};

#[test]
fn supervisor_death_is_reported_and_recovered() {
    let p = Policy::system();
    let ch = p.spawn(&["/bin/sleep", "30"]).unwrap();
    let pid = ch.pid();
    let sup = sandlock::supervisor::link::supervisor_pid().expect("a supervisor runs");
    // SAFETY: killing the supervisor process on purpose.
    unsafe { libc::kill(sup, libc::SIGKILL) };
    let mut st = 0;
    assert_eq!(sl_wait(ch.0, &mut st), SL_E_SUPERVISOR);
    assert!(last_error().contains("supervisor"), "{}", last_error());
    let t = Instant::now();
    while alive(pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!alive(pid), "the child outlived its supervisor");
    // The next spawn starts a new supervisor.
    let (st, out) = p.run(&["/bin/echo", "again"]);
    assert_eq!((exited(st), out.trim()), (Some(0), "again"));
}
