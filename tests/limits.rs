//! Resource limits of the whole sandbox and the reason a sandbox ended.
mod common;
use common::*;
use sandlock::ffi::*;
use std::time::{Duration, Instant};

fn result_of(c: &Child) -> sl_result {
    // SAFETY: sl_result is plain data; zero is a valid value.
    let mut r: sl_result = unsafe { std::mem::zeroed() };
    assert_eq!(sl_wait_result(c.0, &mut r), SL_OK, "{}", last_error());
    r
}

fn limited(which: i32, value: u64) -> Policy {
    let p = Policy::system();
    assert_eq!(sl_policy_set_limit(p.0, which, value), SL_OK);
    p
}

#[test]
fn unknown_limit_is_refused() {
    let p = Policy::system();
    assert_eq!(sl_policy_set_limit(p.0, 99, 1), SL_E_INVALID);
    assert!(last_error().contains("99"), "{}", last_error());
}

#[test]
fn a_fork_bomb_is_stopped_and_reaped() {
    let mut p = limited(SL_LIMIT_PROCESSES, 20);
    p.timeout_ms(20_000);
    let t = Instant::now();
    let c = p
        .spawn(&["/bin/sh", "-c", "b() { b | b & }; b; sleep 100"])
        .unwrap();
    let r = result_of(&c);
    assert_eq!(r.reason, SL_END_LIMIT, "status {:#x}", r.status);
    assert_eq!(r.limit, SL_LIMIT_PROCESSES);
    assert!(t.elapsed() < Duration::from_secs(15));
    // The host is intact and can still spawn.
    assert_eq!(exited(Policy::system().run(&["/bin/true"]).0), Some(0));
}

#[test]
fn a_memory_hog_is_stopped() {
    let p = limited(SL_LIMIT_MEMORY, 64 << 20);
    let c = p
        .spawn(&[
            "python3",
            "-c",
            "import time\na = bytearray(600 << 20)\ntime.sleep(30)",
        ])
        .unwrap();
    let r = result_of(&c);
    assert_eq!(
        (r.reason, r.limit),
        (SL_END_LIMIT, SL_LIMIT_MEMORY),
        "status {:#x}",
        r.status
    );
    assert_eq!(r.signal, libc::SIGKILL);
}

#[test]
fn memory_under_the_limit_runs() {
    let p = limited(SL_LIMIT_MEMORY, 256 << 20);
    let (st, out) = p.run(&["python3", "-c", "a = bytearray(16 << 20); print(len(a))"]);
    assert_eq!((exited(st), out.trim()), (Some(0), "16777216"));
}

#[test]
fn too_many_open_files_fail_with_emfile() {
    let p = limited(SL_LIMIT_OPEN_FILES, 16);
    let (st, out) = p.run(&[
        "python3",
        "-c",
        "import os\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', os.O_RDONLY))\nexcept OSError as e: print(e.errno, len(fds) < 16)",
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.trim(), format!("{} True", libc::EMFILE));
}

#[test]
fn cpu_time_is_limited_across_processes() {
    let mut p = limited(SL_LIMIT_CPU_SECONDS, 1);
    p.timeout_ms(30_000);
    let t = Instant::now();
    // Two spinning processes: the total crosses 1 s in about half a second of wall time.
    let c = p
        .spawn(&["/bin/sh", "-c", "while :; do :; done & while :; do :; done"])
        .unwrap();
    let r = result_of(&c);
    assert_eq!(
        (r.reason, r.limit),
        (SL_END_LIMIT, SL_LIMIT_CPU_SECONDS),
        "status {:#x}",
        r.status
    );
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn file_size_is_limited() {
    let mut p = limited(SL_LIMIT_FILE_SIZE, 4096);
    let dir = scratch().join("fsize");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777));
    p.write(&dir.to_string_lossy());
    let target = dir.join("big");
    let c = p
        .spawn(&[
            "/bin/sh",
            "-c",
            &format!("head -c 100000 /dev/zero > {}", target.display()),
        ])
        .unwrap();
    let r = result_of(&c);
    // The shell's child got SIGXFSZ; the file stopped at the limit.
    assert_ne!(r.exit_code, 0);
    assert_eq!(std::fs::metadata(&target).unwrap().len(), 4096);
}

#[test]
fn each_reason_is_reported() {
    let p = Policy::system();
    let r = result_of(&p.spawn(&["/bin/sh", "-c", "exit 3"]).unwrap());
    assert_eq!(
        (r.reason, r.exit_code, r.signal, r.syscall),
        (SL_END_EXITED, 3, 0, -1)
    );
    let r = result_of(&p.spawn(&["/bin/sh", "-c", "kill -TERM $$"]).unwrap());
    assert_eq!(
        (r.reason, r.exit_code, r.signal),
        (SL_END_SIGNALED, -1, libc::SIGTERM)
    );
    let c = p.spawn(&["/bin/sleep", "30"]).unwrap();
    c.kill(libc::SIGKILL);
    assert_eq!(result_of(&c).reason, SL_END_KILLED);
    let mut q = Policy::system();
    q.timeout_ms(100);
    let c = q.spawn(&["/bin/sleep", "30"]).unwrap();
    let r = result_of(&c);
    assert_eq!((r.reason, r.signal), (SL_END_TIMEOUT, libc::SIGKILL));
    // sl_wait after sl_wait_result gives the same status.
    assert_eq!(c.wait(), r.status);
}
