//! Confinement and lifecycle of sandboxed children (foundation issue).
mod common;
use common::*;
use sandlock::ffi::*;
use std::time::{Duration, Instant};

fn probe_policy() -> (Policy, String) {
    let exe = probe("escape", &[]);
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy());
    (p, exe)
}

#[test]
fn landlock_refuses_reads_outside_the_rules() {
    let (p, exe) = probe_policy();
    let secret = scratch().join("outside");
    std::fs::create_dir_all(&secret).unwrap();
    let secret_file = std::env::temp_dir().join(format!("sandlock-secret-{}", std::process::id()));
    std::fs::write(&secret_file, "x").unwrap();
    // Natively readable, refused in the sandbox.
    assert!(std::fs::read(&secret_file).is_ok());
    let (st, out) = p.run(&[&exe, "read", &secret_file.to_string_lossy()]);
    assert_eq!(exited(st), Some(0));
    assert_eq!(out.trim(), format!("errno={}", libc::EACCES));
    // An allowed file is readable.
    let (_, out) = p.run(&[&exe, "read", "/etc/passwd"]);
    assert_eq!(out.trim(), "ok");
    std::fs::remove_file(secret_file).ok();
}

#[test]
fn landlock_refuses_writes_to_read_only_paths() {
    let (mut p, exe) = probe_policy();
    let rw = scratch().join("rw");
    std::fs::create_dir_all(&rw).unwrap();
    let _ = std::fs::set_permissions(&rw, std::os::unix::fs::PermissionsExt::from_mode(0o777));
    p.write(&rw.to_string_lossy());
    let ro_target = scratch().join("ro-file");
    let (_, out) = p.run(&[&exe, "write", &ro_target.to_string_lossy()]);
    assert_eq!(out.trim(), format!("errno={}", libc::EACCES));
    assert!(!ro_target.exists());
    let rw_target = rw.join("file");
    let (_, out) = p.run(&[&exe, "write", &rw_target.to_string_lossy()]);
    assert_eq!(out.trim(), "ok");
    assert!(rw_target.exists());
}

#[test]
fn deny_list_answers() {
    let (p, exe) = probe_policy();
    for (what, want) in [
        ("ptrace", format!("errno={}", libc::EPERM)),
        ("io_uring", format!("errno={}", libc::ENOSYS)),
        ("clone3", format!("errno={}", libc::ENOSYS)),
        ("unshare", format!("errno={}", libc::EPERM)),
        ("tiocsti", format!("errno={}", libc::EPERM)),
    ] {
        let (st, out) = p.run(&[&exe, what]);
        assert_eq!(exited(st), Some(0), "{what}: {out}");
        assert_eq!(out.trim(), want, "{what}");
    }
}

#[test]
fn foreign_syscall_abis_are_killed() {
    let (p, exe) = probe_policy();
    // The sandbox is killed and the call is named: x32 getpid, i386 getpid.
    for (what, nr) in [("x32", 39 | 0x4000_0000), ("int80", 20)] {
        let (ch, r) = p.spawn_captured(&[&exe, what]).unwrap();
        let out = read_all(r);
        // SAFETY: plain data, zero is valid.
        let mut res: sl_result = unsafe { std::mem::zeroed() };
        assert_eq!(sl_wait_result(ch.0, &mut res), SL_OK);
        assert_eq!(out.trim(), "before", "{what} must not return");
        assert_eq!(
            (res.reason, res.syscall),
            (SL_END_SECCOMP, nr),
            "{what}: status {:#x}",
            res.status
        );
        assert_eq!(res.signal, libc::SIGKILL);
    }
}

#[test]
fn only_stdio_fds_reach_the_child() {
    let (p, exe) = probe_policy();
    // An fd the host leaves open without CLOEXEC must not be inherited.
    let f = std::fs::File::open("/etc/passwd").unwrap();
    let raw = std::os::fd::IntoRawFd::into_raw_fd(f);
    // SAFETY: clearing CLOEXEC on our own fd.
    unsafe { libc::fcntl(raw, libc::F_SETFD, 0) };
    let (_, out) = p.run(&[&exe, "fds"]);
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(raw) };
    assert_eq!(out.trim(), "done", "unexpected fds: {out}");
}

#[test]
fn signals_to_host_processes_are_refused() {
    if sl_landlock_abi() < 6 {
        eprintln!(
            "skipped: Landlock ABI {} has no signal scoping",
            sl_landlock_abi()
        );
        return;
    }
    let (p, exe) = probe_policy();
    let me = std::process::id().to_string();
    let (_, out) = p.run(&[&exe, "kill", &me]);
    assert_eq!(out.trim(), format!("errno={}", libc::EPERM));
}

#[test]
fn missing_program_is_an_exec_error_with_its_name() {
    let p = Policy::system();
    let Err((code, msg)) = p.spawn(&["no-such-program-xyz"]) else {
        panic!("spawned")
    };
    assert_eq!(code, SL_E_EXEC);
    assert!(
        msg.contains("no-such-program-xyz") && msg.contains("No such file"),
        "{msg}"
    );
    // A program outside every readable path is refused by Landlock at exec.
    let mut q = Policy::empty();
    q.env("PATH", "/bin");
    let Err((code, msg)) = q.spawn(&["/bin/true"]) else {
        panic!("spawned")
    };
    assert_eq!(code, SL_E_EXEC, "{msg}");
    assert!(msg.contains("Permission denied"), "{msg}");
}

#[test]
fn bad_cwd_is_a_setup_error() {
    let mut p = Policy::system();
    let d = scratch().join("cwd-then-removed");
    std::fs::create_dir_all(&d).unwrap();
    assert_eq!(
        sl_policy_set_cwd(p.0, c(&d.to_string_lossy()).as_ptr()),
        SL_OK
    );
    std::fs::remove_dir(&d).unwrap();
    let Err((code, msg)) = p.spawn(&["/bin/true"]) else {
        panic!("spawned")
    };
    assert_eq!(code, SL_E_SETUP);
    assert!(msg.contains("working directory"), "{msg}");
    let _ = &mut p;
}

#[test]
fn exit_codes_and_signals_come_back() {
    let p = Policy::system();
    assert_eq!(exited(p.run(&["/bin/sh", "-c", "exit 7"]).0), Some(7));
    assert_eq!(
        signaled(p.run(&["/bin/sh", "-c", "kill -SEGV $$"]).0),
        Some(libc::SIGSEGV)
    );
}

#[test]
fn timeout_kills_the_sandbox() {
    let mut p = Policy::system();
    p.timeout_ms(300);
    let t = Instant::now();
    let ch = p.spawn(&["/bin/sleep", "30"]).unwrap();
    let st = ch.wait();
    assert_eq!(signaled(st), Some(libc::SIGKILL));
    assert!(sl_child_timed_out(ch.0));
    assert!(t.elapsed() < Duration::from_secs(20));
}

/// Start a tree with a setsid'd, double-forked grandchild; return (child, grandchild pid).
fn start_tree(p: &Policy) -> (Child, i32, std::os::fd::OwnedFd) {
    let (ch, r) = p
        .spawn_captured(&[
            "/bin/sh",
            "-c",
            "setsid sh -c 'sleep 300 & echo $!' & sleep 300",
        ])
        .unwrap();
    let mut f = std::fs::File::from(r);
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while std::io::Read::read(&mut f, &mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    let pid: i32 = String::from_utf8_lossy(&line)
        .trim()
        .parse()
        .expect("grandchild pid");
    assert!(alive(pid));
    (ch, pid, f.into())
}

#[test]
fn kill_reaches_setsid_double_forked_descendants() {
    let p = Policy::system();
    let (ch, gc, _r) = start_tree(&p);
    ch.kill(libc::SIGKILL);
    assert_eq!(signaled(ch.wait()), Some(libc::SIGKILL));
    assert!(!alive(gc), "the setsid grandchild survived the kill");
}

#[test]
fn freeing_a_running_child_kills_its_tree() {
    let p = Policy::system();
    let (ch, gc, _r) = start_tree(&p);
    let main = ch.pid();
    drop(ch);
    // sl_child_free returns only once everything is killed and reaped.
    assert!(
        !alive(gc) && !alive(main),
        "processes outlived sl_child_free"
    );
}

#[test]
fn the_sandbox_ends_with_its_first_process() {
    let p = Policy::system();
    let (ch, gc, _r) = start_tree(&p);
    // Kill only the first process: its orphaned descendants go with it.
    ch.kill(libc::SIGTERM);
    assert_eq!(signaled(ch.wait()), Some(libc::SIGTERM));
    assert!(!alive(gc));
}

#[test]
fn host_waitpid_minus_one_does_not_disturb_sandboxes() {
    let p = Policy::system();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    // A host thread reaping "any child", as make or a shell would.
    let reaper = std::thread::spawn(move || {
        let mut reaped = 0;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let mut st = 0;
            // SAFETY: plain waitpid on any child of this process.
            if unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG | libc::__WALL) } > 0 {
                reaped += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        reaped
    });
    for i in 0..20 {
        let (st, out) = p.run(&["/bin/sh", "-c", &format!("/bin/echo {i}; exit {}", i % 3)]);
        assert_eq!(exited(st), Some(i % 3));
        assert_eq!(out.trim(), i.to_string());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reaper.join().unwrap();
}

#[test]
fn kill_from_another_thread_while_waiting() {
    let p = Policy::system();
    let ch = std::sync::Arc::new(p.spawn(&["/bin/sleep", "30"]).unwrap());
    let waiter = {
        let ch = ch.clone();
        std::thread::spawn(move || ch.wait())
    };
    std::thread::sleep(Duration::from_millis(100));
    // Neither the getter nor the kill may block behind the waiting thread.
    assert!(!sl_child_timed_out(ch.0));
    ch.kill(libc::SIGKILL);
    assert_eq!(signaled(waiter.join().unwrap()), Some(libc::SIGKILL));
}

#[test]
fn the_pidfd_becomes_readable_at_exit() {
    let p = Policy::system();
    let ch = p.spawn(&["/bin/sleep", "0.2"]).unwrap();
    let fd = sl_child_pidfd(ch.0);
    assert!(fd >= 0);
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "readable before exit"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 10_000) }, 1);
    assert_eq!(exited(ch.wait()), Some(0));
}
