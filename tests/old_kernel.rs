//! A kernel without Landlock (simulated by capping the ABI the library sees):
//! strict policies are refused with a clear message, best effort runs.
mod common;
use common::*;
use sandlock::ffi::*;

#[test]
fn without_landlock_strict_refuses_and_best_effort_runs() {
    // Read once by the library, before any other call in this process.
    std::env::set_var("SANDLOCK_TEST_MAX_LANDLOCK_ABI", "0");
    assert_eq!(sl_landlock_abi(), 0);
    assert_eq!(sl_features() & SL_FEATURE_LANDLOCK, 0);
    let p = Policy::system();
    let Err((code, msg)) = p.spawn(&["/bin/true"]) else {
        panic!("a strict policy ran without Landlock")
    };
    assert_eq!(code, SL_E_UNSUPPORTED);
    assert!(
        msg.contains("Landlock is not available") && msg.contains("sl_policy_set_best_effort"),
        "{msg}"
    );
    assert_eq!(sl_policy_set_best_effort(p.0, true), SL_OK);
    assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
}
