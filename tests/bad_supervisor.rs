//! A supervisor that cannot start gives SL_E_SUPERVISOR with a reason, at once.
mod common;
use common::*;
use sandlock::ffi::*;

#[test]
fn a_missing_or_wrong_supervisor_is_a_clear_error() {
    let p = Policy::system();
    for (path, want) in [
        ("/nonexistent/libsandlock.so", "No such file"),
        ("/bin/true", "no hello"),
    ] {
        sandlock::supervisor::link::set_supervisor_path(std::path::Path::new(path));
        let t = std::time::Instant::now();
        let Err((code, msg)) = p.spawn(&["/bin/true"]) else {
            panic!("spawned with supervisor {path}")
        };
        assert_eq!(code, SL_E_SUPERVISOR, "{msg}");
        assert!(msg.contains(path) && msg.contains(want), "{msg}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
    // The host has no child left behind (the failed supervisors were reaped).
    let kids: String = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
        .collect();
    assert_eq!(kids.trim(), "");
}
