//! Hostile programs: the corpus of research/sandbox-peers.md §3.2 as tests.
//!
//! Each test runs a small C probe (tests/progs/hostile.c) that tries to get out
//! of the sandbox one way, then checks that it failed *and* that the host is
//! intact (files, processes, the supervisor). A case this kernel cannot stop is
//! reported as skipped with its reason (printed), never silently passed.
//! Cases that belong to features not built yet (network rules, deny paths) are
//! skipped with a reason too.
mod common;
use common::*;
use sandlock::ffi::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// helpers

fn hostile() -> String {
    probe("hostile", &["-pthread"])
}

/// A copy of the probe under a unique name (at most 15 bytes: it becomes the
/// process's `comm`), so that its processes can be found in /proc.
fn tagged(tag: &str) -> String {
    assert!(tag.len() <= 15);
    let src = hostile();
    let dst = scratch().join(tag);
    if !dst.exists() {
        let tmp = scratch().join(format!("{tag}.tmp"));
        std::fs::copy(&src, &tmp).unwrap();
        std::fs::rename(&tmp, &dst).unwrap();
    }
    dst.to_string_lossy().into_owned()
}

/// `key=value` lines of a probe's output.
fn kv(out: &str) -> HashMap<String, i64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn get(m: &HashMap<String, i64>, k: &str, out: &str) -> i64 {
    *m.get(k)
        .unwrap_or_else(|| panic!("probe printed no '{k}':\n{out}"))
}

/// The system policy plus read access to the scratch dir (where the probes are).
fn base() -> Policy {
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy());
    p
}

/// A directory outside every rule, with a secret file and a subdirectory.
struct Outside {
    dir: PathBuf,
    file: PathBuf,
}

impl Outside {
    fn new(name: &str) -> Outside {
        let dir =
            std::env::temp_dir().join(format!("sandlock-outside-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "secret").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        Outside { dir, file }
    }

    fn file(&self) -> String {
        self.file.to_string_lossy().into_owned()
    }

    /// The secret is as the host left it, and nothing was added beside it.
    fn assert_intact(&self) {
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap(),
            "secret",
            "the secret changed"
        );
        let mode = std::fs::metadata(&self.file).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644, "the secret's mode changed");
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret", "sub"], "the outside dir changed");
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A writable directory for the sandbox (beneath the scratch dir).
fn writable(name: &str) -> PathBuf {
    let w = scratch().join(format!("w-{name}"));
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o777)).unwrap();
    w
}

fn is_root() -> bool {
    // SAFETY: no arguments, no side effects.
    unsafe { libc::geteuid() == 0 }
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why}");
    println!("SKIPPED: {why}");
}

/// Processes (alive or zombie) whose comm is `tag`.
fn procs_named(tag: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let comm = s
                .split_once('(')
                .and_then(|(_, r)| r.rsplit_once(')'))
                .map(|(c, _)| c);
            if comm == Some(tag) {
                out.push(pid);
            }
        }
    }
    out
}

/// Wait (up to `secs`) until no process named `tag` is left; return the survivors.
fn survivors(tag: &str, secs: u64) -> Vec<i32> {
    let t = Instant::now();
    loop {
        let left = procs_named(tag);
        if left.is_empty() || t.elapsed() > Duration::from_secs(secs) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn supervisor() -> i32 {
    sandlock::supervisor::link::supervisor_pid().expect("a supervisor runs")
}

/// The host and its supervisor are fine: the same supervisor still spawns.
fn assert_host_intact(sup: i32) {
    assert!(alive(sup), "the supervisor {sup} died");
    let (st, out) = Policy::system().run(&["/bin/echo", "still here"]);
    assert_eq!((exited(st), out.trim()), (Some(0), "still here"));
    assert_eq!(supervisor(), sup, "the supervisor was replaced");
}

/// A native process outside the sandbox, to aim signals at.
struct Decoy(std::process::Child);

impl Decoy {
    fn new() -> Decoy {
        Decoy(
            std::process::Command::new("/bin/sleep")
                .arg("1000")
                .spawn()
                .expect("decoy"),
        )
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn and read stdout line by line until a line starting with `prefix`.
fn spawn_until(
    p: &Policy,
    argv: &[&str],
    prefix: &str,
) -> (Child, String, BufReader<std::fs::File>) {
    let (ch, r) = p
        .spawn_captured(argv)
        .unwrap_or_else(|e| panic!("spawn {argv:?}: {e:?}"));
    let mut rd = BufReader::new(std::fs::File::from(r));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            rd.read_line(&mut line).unwrap() > 0,
            "no '{prefix}' line from {argv:?}"
        );
        if line.starts_with(prefix) {
            return (ch, line.trim().to_string(), rd);
        }
    }
}

fn wait_for(c: &Child, secs: u64) -> i32 {
    let mut st = 0;
    let r = sl_wait_timeout(c.0, (secs * 1000) as i32, &mut st);
    assert_eq!(
        r,
        SL_OK,
        "the sandbox did not end within {secs} s: {}",
        last_error()
    );
    st
}

/// Run with a deadline: a hang fails the test instead of blocking the suite.
fn within<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what}: still running after {secs} s (hang)"))
}

// ---------------------------------------------------------------------------
// file system (Landlock)

#[test]
fn file_operations_outside_the_rules_fail() {
    let o = Outside::new("fs");
    let w = writable("fs");
    std::fs::write(w.join("own"), "own").unwrap();
    let mut p = base();
    p.write(&w.to_string_lossy()).read("/proc");
    // W/../../.. reaches "/", from where the outside file is spelled out.
    let depth = w.components().count() - 1;
    let up = "../".repeat(depth);
    let dotdot = format!("{}/{up}{}", w.display(), &o.file()[1..]);
    let rel = format!("{up}{}", &o.file()[1..]);
    assert!(Path::new(&dotdot).exists(), "{dotdot}");
    let (st, out) = p.run(&[
        &hostile(),
        "fs",
        &o.file(),
        &o.dir.to_string_lossy(),
        &w.to_string_lossy(),
        &dotdot,
        &rel,
        "/etc/passwd",
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "read",
        "write",
        "trunc_open",
        "truncate",
        "create",
        "unlink",
        "mkdir",
        "rmdir",
        "mkfifo",
        "symlink_out",
        "link_in",
        "link_out",
        "rename_in",
        "rename_out",
        "exchange",
        "dotdot",
        "dirfd",
        "openat2",
        "proc_self_root",
        "proc_thread_self_root",
        "reopen_rw",
        "name_to_handle",
        "open_by_handle",
    ] {
        let v = get(&m, key, &out);
        assert!(v > 0, "{key} was not refused ({v}):\n{out}");
    }
    // Landlock's answers, not accidents: EACCES for access, EXDEV for a refused
    // cross-directory link or rename (REFER), EPERM for the handle calls (seccomp).
    for key in [
        "read",
        "write",
        "truncate",
        "create",
        "unlink",
        "dotdot",
        "dirfd",
        "openat2",
        "proc_self_root",
        "reopen_rw",
    ] {
        assert_eq!(m[key], libc::EACCES as i64, "{key}:\n{out}");
    }
    for key in ["link_in", "rename_in", "exchange"] {
        assert!(
            [libc::EXDEV, libc::EACCES].contains(&(m[key] as i32)),
            "{key}:\n{out}"
        );
    }
    assert_eq!(m["name_to_handle"], libc::EPERM as i64);
    assert_eq!(m["open_by_handle"], libc::EPERM as i64);
    o.assert_intact();
    assert_eq!(std::fs::read_to_string(w.join("own")).unwrap(), "own");
    assert!(!w.join("hardlink").exists() && !w.join("moved").exists());
}

/// §3.2 item 7: Landlock has no hook for chmod, chown, utimes or xattrs, so a
/// path outside every rule can still have its metadata changed unless the
/// filter stops these calls.
#[test]
fn host_file_metadata_is_out_of_reach() {
    let o = Outside::new("meta");
    let _ = xattr_set(&o.file, "user.keep", "1");
    let before = std::fs::metadata(&o.file).unwrap();
    let (st, out) = base().run(&[&hostile(), "meta", &o.file()]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    let after = std::fs::metadata(&o.file).unwrap();
    use std::os::unix::fs::MetadataExt;
    let changed: Vec<&str> = ["chmod", "chown", "utimes", "setxattr", "removexattr"]
        .into_iter()
        .filter(|k| get(&m, k, &out) == 0)
        .collect();
    assert!(
        changed.is_empty(),
        "metadata calls on a file outside every rule succeeded: {changed:?} (mode {:o} -> {:o}, mtime {} -> {})",
        before.mode() & 0o7777,
        after.mode() & 0o7777,
        before.mtime(),
        after.mtime()
    );
    o.assert_intact();
}

fn xattr_set(path: &Path, name: &str, value: &str) -> bool {
    let p = c(&path.to_string_lossy());
    let n = c(name);
    // SAFETY: valid C strings and a buffer of the given length.
    unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

#[test]
fn symlinks_planted_in_a_writable_dir_lead_nowhere() {
    let o = Outside::new("planted");
    let w = writable("planted");
    let link = w.join("planted");
    std::os::unix::fs::symlink(&o.file, &link).unwrap();
    let mut p = base();
    p.write(&w.to_string_lossy());
    let (st, out) = p.run(&[
        &hostile(),
        "planted",
        &link.to_string_lossy(),
        &w.to_string_lossy(),
        &o.file(),
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "planted_read",
        "planted_write",
        "own_read",
        "own_write",
        "dir_read",
    ] {
        assert_eq!(get(&m, key, &out), libc::EACCES as i64, "{key}:\n{out}");
    }
    // Making the links is allowed (W is writable); following them is not.
    assert_eq!(get(&m, "own_symlink", &out), 0, "{out}");
    o.assert_intact();
}

#[test]
fn proc_root_cwd_fd_and_mem_of_host_and_supervisor_are_refused() {
    let o = Outside::new("procpid");
    // The host holds the secret open: /proc/HOST/fd/N would reopen it.
    let f = std::fs::File::open(&o.file).unwrap();
    let fd = f.as_raw_fd().to_string();
    let mut p = base();
    // Even with /proc readable, another domain's entries stay closed.
    p.read("/proc");
    let exe = hostile();
    assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
    let sup = supervisor().to_string();
    let me = std::process::id().to_string();
    // The host's fd number need not be open in the supervisor (ENOENT would
    // prove nothing): there, its stdin (/dev/null, always open) is tried.
    for (who, pid, fd) in [("host", &me, fd.as_str()), ("supervisor", &sup, "0")] {
        let (st, out) = p.run(&[&exe, "procpid", pid, fd, &o.file()]);
        assert_eq!(exited(st), Some(0), "{out}");
        let m = kv(&out);
        for key in ["root", "cwd", "fd", "mem"] {
            assert_eq!(
                get(&m, key, &out),
                libc::EACCES as i64,
                "{who} {key}:\n{out}"
            );
        }
    }
    drop(f);
    o.assert_intact();
}

/// /proc/PID/environ and maps are guarded by a ptrace *read* check, which
/// Landlock's domain scoping refuses, unless the reader has CAP_PERFMON or
/// CAP_SYS_ADMIN (mm_access lets those through): the sandbox must hold no
/// capability even when the host is root (`root_in_the_sandbox_has_no_capabilities`).
#[test]
fn proc_environ_and_maps_of_the_host_are_private() {
    let mut p = base();
    p.read("/proc");
    let me = std::process::id().to_string();
    let (st, out) = p.run(&[&hostile(), "procpid", &me, "0", "/"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in ["environ", "maps"] {
        assert_eq!(get(&m, key, &out), libc::EACCES as i64, "{key}:\n{out}");
    }
}

#[test]
fn only_stdio_reaches_the_child() {
    let o = Outside::new("fds");
    // Descriptors the host leaves inheritable: a file, a directory, a socket.
    let file = std::fs::File::open(&o.file).unwrap();
    let dir = std::fs::File::open(&o.dir).unwrap();
    let (s1, s2) = std::os::unix::net::UnixStream::pair().unwrap();
    for fd in [
        file.as_raw_fd(),
        dir.as_raw_fd(),
        s1.as_raw_fd(),
        s2.as_raw_fd(),
    ] {
        // SAFETY: clearing close-on-exec on our own descriptors.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    let (st, out) = base().run(&[&hostile(), "fds"]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        get(&kv(&out), "extra_fds", &out),
        0,
        "descriptors leaked into the sandbox:\n{out}"
    );
}

/// Device nodes in a writable dir would open the disks and memory to a
/// sandbox run by root (CAP_MKNOD), since Landlock checks only the path of the
/// node. The child must hold no capability, so mknod of a device fails.
#[test]
fn device_nodes_cannot_be_made_in_a_writable_dir() {
    if !is_root() {
        skip("device_nodes: not root, so mknod of a device fails natively (CAP_MKNOD); nothing to test");
        return;
    }
    let w = writable("mknod");
    let mut p = base();
    p.write(&w.to_string_lossy());
    let (st, out) = p.run(&[&hostile(), "mknod", &w.to_string_lossy()]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_ne!(
        get(&m, "mknod_chr", &out),
        0,
        "a character device node was made:\n{out}"
    );
    assert_ne!(
        get(&m, "mknod_blk", &out),
        0,
        "a block device node was made:\n{out}"
    );
}

/// A host running as root must not hand root's powers to the sandbox: neither
/// Landlock nor the filter covers all of them. CAP_SYS_ADMIN/CAP_PERFMON let
/// `mm_access` skip the ptrace check (the host's /proc/PID/environ and maps
/// would open); CAP_MKNOD makes device nodes (`device_nodes_...`);
/// CAP_NET_ADMIN reaches the host's network configuration through netlink.
#[test]
fn root_in_the_sandbox_has_no_capabilities() {
    if !is_root() {
        skip("root_powers: not root, no capability to drop");
        return;
    }
    let mut p = base();
    p.read("/proc");
    let me = std::process::id().to_string();
    let (st, out) = p.run(&[&hostile(), "procpid", &me, "0", "/"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in ["environ", "maps"] {
        assert_eq!(
            get(&m, key, &out),
            libc::EACCES as i64,
            "the host's /proc/PID/{key} opened:\n{out}"
        );
    }
    let (st, out) = base().run(&[&hostile(), "caps"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_ne!(
        get(&m, "sethostname", &out),
        0,
        "sethostname succeeded:\n{out}"
    );
    assert_eq!(get(&m, "cap_eff", &out), 0, "capabilities kept:\n{out}");
}

#[test]
fn exec_is_confined_to_exec_rules() {
    let exe = tagged("hx_exec");
    let w = std::env::temp_dir().join(format!("sandlock-hostile-exec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&w);
    std::fs::create_dir_all(&w).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o777)).unwrap();
    let copy = w.join("mytrue");
    std::fs::copy("/bin/true", &copy).unwrap();
    let mut p = base();
    p.write(&w.to_string_lossy()).exec("/usr").exec(&exe);
    let (st, out) = p.run(&[&exe, "exec", &copy.to_string_lossy()]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(get(&kv(&out), "exec", &out), libc::EACCES as i64, "{out}");
    // A program written to memory and run by fd is beyond Landlock's reach.
    let (st, out) = p.run(&[&exe, "memfd_exec", "/bin/true"]);
    if exited(st) == Some(0) && out.trim().is_empty() {
        skip("memfd_exec: Landlock cannot restrict executing a memfd (it is not beneath any path); only a W^X (MDWE) policy would, and none is offered");
    } else {
        assert!(kv(&out).get("memfd_exec").is_some_and(|&e| e != 0), "{out}");
    }
    let _ = std::fs::remove_dir_all(&w);
}

// ---------------------------------------------------------------------------
// syscall surface (seccomp)

#[test]
fn foreign_syscall_abis_are_killed() {
    let exe = hostile();
    let p = base();
    // x32 ABI: getpid, ptrace, unshare; i386 via int 0x80: getpid, ptrace, unshare.
    for (abi, nr) in [
        ("x32", 39),
        ("x32", 521),
        ("x32", 272),
        ("int80", 20),
        ("int80", 26),
        ("int80", 310),
    ] {
        let (ch, r) = p
            .spawn_captured(&[&exe, "abi", abi, &nr.to_string()])
            .unwrap();
        let out = read_all(r);
        // SAFETY: plain data, zero is valid.
        let mut res: sl_result = unsafe { std::mem::zeroed() };
        assert_eq!(sl_wait_result(ch.0, &mut res), SL_OK);
        assert_eq!(out.trim(), "before", "{abi} {nr} returned:\n{out}");
        // Killed by the supervisor, which names the call (x32 numbers keep their bit).
        let want = if abi == "x32" { nr | 0x4000_0000 } else { nr };
        assert_eq!(
            (res.reason, res.syscall),
            (SL_END_SECCOMP, want),
            "{abi} {nr}: status {:#x}",
            res.status
        );
    }
}

#[test]
fn namespaces_and_clone3_are_refused() {
    let (st, out) = base().run(&[&hostile(), "ns"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    let (eperm, enosys) = (libc::EPERM as i64, libc::ENOSYS as i64);
    assert_eq!(get(&m, "clone3", &out), enosys, "{out}");
    assert_eq!(get(&m, "clone3_newuser", &out), enosys, "{out}");
    for key in [
        "clone_newuser",
        "clone_newuser_highbits",
        "clone_newns",
        "clone_newpid",
        "clone_newnet",
        "clone_newuts",
        "clone_newipc",
        "clone_newcgroup",
        "clone_untraced",
        "unshare_user",
        "unshare_ns",
        "unshare_net",
        "unshare_files",
        "setns",
    ] {
        assert_eq!(get(&m, key, &out), eperm, "{key}:\n{out}");
    }
    assert_eq!(get(&m, "fork", &out), 0, "a plain fork must work:\n{out}");
}

#[test]
fn io_uring_is_absent() {
    let (st, out) = base().run(&[&hostile(), "io_uring"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        assert_eq!(get(&m, key, &out), libc::ENOSYS as i64, "{key}:\n{out}");
    }
}

#[test]
fn ptrace_and_cross_process_memory_are_refused() {
    let mut p = base();
    p.read("/proc");
    let me = std::process::id().to_string();
    let (st, out) = p.run(&[&hostile(), "ptrace", &me]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "attach_sibling",
        "seize_sibling",
        "traceme",
        "attach_parent",
        "attach_host",
        "vm_writev_sibling",
        "vm_readv_sibling",
        "vm_readv_parent",
        "pidfd_getfd_sibling",
    ] {
        assert_eq!(get(&m, key, &out), libc::EPERM as i64, "{key}:\n{out}");
    }
    assert_eq!(
        get(&m, "mem_write_sibling", &out),
        libc::EACCES as i64,
        "{out}"
    );
}

#[test]
fn tiocsti_cannot_push_input_into_the_terminal() {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two fds; NULL name, termios and winsize are allowed.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r != 0 {
        skip("tiocsti: no pseudo-terminal available (openpty failed)");
        return;
    }
    // SAFETY: both fds are new and ours.
    let (master, slave) = unsafe {
        use std::os::fd::FromRawFd;
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    };
    // SAFETY: termios is plain data filled by tcgetattr; raw mode makes any
    // injected byte readable at once.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave.as_raw_fd(), &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t);
    }
    let (rd, wr) = pipe();
    let p = base();
    assert_eq!(
        sl_policy_set_stdio(p.0, slave.as_raw_fd(), wr.as_raw_fd(), wr.as_raw_fd()),
        SL_OK
    );
    let ch = p.spawn(&[&hostile(), "tiocsti"]).unwrap();
    drop(wr);
    let out = read_all(rd);
    assert_eq!(exited(ch.wait()), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "tiocsti",
        "tiocsti_highbits",
        "tiocsti_allhigh",
        "tioclinux",
        "tioclinux_highbits",
    ] {
        assert_eq!(get(&m, key, &out), libc::EPERM as i64, "{key}:\n{out}");
    }
    assert_eq!(
        get(&m, "tcgets", &out),
        0,
        "the pty must be a working terminal:\n{out}"
    );
    // Nothing reached the terminal's input queue.
    // SAFETY: plain fcntl and read on our own fd into a local buffer.
    let n = unsafe {
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        let mut b = [0u8; 16];
        libc::read(slave.as_raw_fd(), b.as_mut_ptr().cast(), b.len())
    };
    assert!(n < 0, "{n} bytes were pushed into the terminal");
    drop(master);
}

#[test]
fn prctl_cannot_undo_the_sandbox() {
    let (st, out) = base().run(&[&hostile(), "prctl"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "set_dumpable_0",
        "set_dumpable_highbits",
        "set_securebits",
        "set_ptracer_any",
        "set_ptracer_highbits",
        "set_tsc",
        "arch_set_cpuid",
    ] {
        assert_eq!(get(&m, key, &out), libc::EPERM as i64, "{key}:\n{out}");
    }
    // The kernel itself refuses to clear no_new_privs.
    assert_eq!(get(&m, "clear_nnp", &out), libc::EINVAL as i64, "{out}");
    assert_eq!(get(&m, "get_nnp", &out), 1, "{out}");
    assert_eq!(get(&m, "get_dumpable", &out), 1, "{out}");
}

#[test]
fn personality_cannot_weaken_memory_protection() {
    let (st, out) = base().run(&[&hostile(), "personality"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "read_implies_exec",
        "rie_highbits",
        "linux32",
        "uname26",
        "addr_compat_layout",
        "mmap_page_zero",
    ] {
        assert_eq!(get(&m, key, &out), libc::EPERM as i64, "{key}:\n{out}");
    }
    assert_eq!(
        get(&m, "current", &out) & 0x0400000,
        0,
        "READ_IMPLIES_EXEC is set:\n{out}"
    );
}

#[test]
fn a_nested_seccomp_listener_cannot_override_the_sandbox() {
    let exe = hostile();
    // With a seed the sandbox has a listener: the kernel refuses a second one.
    let mut seeded = base();
    seeded.seed(1);
    let (st, out) = seeded.run(&[&exe, "seccomp"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(get(&m, "listener", &out), libc::EBUSY as i64, "{out}");
    // Without a seed too: every sandbox has a listener (metadata changes are
    // answered by the supervisor), so no program can install its own.
    let (st, out) = within(30, "nested listener", move || {
        base().run(&[&exe, "seccomp"])
    });
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(get(&m, "listener", &out), libc::EBUSY as i64, "{out}");
    assert_eq!(get(&m, "plain_filter", &out), 0, "{out}");
}

// ---------------------------------------------------------------------------
// processes and signals

/// Start `daemon MODE` and return the child and the daemon's pid.
fn start_daemon(p: &Policy, exe: &str, mode: &str) -> (Child, i32, BufReader<std::fs::File>) {
    let (ch, line, rd) = spawn_until(p, &[exe, "daemon", mode], "daemon=");
    let pid: i32 = line["daemon=".len()..].parse().unwrap();
    // In "exit" mode the first process leaves as soon as the daemon printed,
    // and the sandbox (daemon included) may already be gone by now.
    assert!(
        mode == "exit" || alive(pid),
        "the daemon {pid} is not running"
    );
    (ch, pid, rd)
}

#[test]
fn setsid_double_fork_cannot_outlive_the_sandbox() {
    let exe = tagged("hx_daemon");
    let p = base();
    // 1. sl_child_kill(SIGKILL).
    let (ch, d, _rd) = start_daemon(&p, &exe, "wait");
    ch.kill(libc::SIGKILL);
    assert_eq!(signaled(wait_for(&ch, 10)), Some(libc::SIGKILL));
    assert!(!alive(d), "the daemon survived sl_child_kill");
    // 2. The first process exits on its own: the sandbox ends with it.
    let (ch, d, _rd) = start_daemon(&p, &exe, "exit");
    assert_eq!(exited(wait_for(&ch, 10)), Some(0));
    assert!(!alive(d), "the daemon survived its sandbox's end");
    // 3. The handle is freed while everything runs.
    let (ch, d, _rd) = start_daemon(&p, &exe, "wait");
    drop(ch);
    // 4. A timeout.
    let mut t = base();
    t.timeout_ms(300);
    let (ch, d2, _rd2) = start_daemon(&t, &exe, "wait");
    assert_eq!(signaled(wait_for(&ch, 10)), Some(libc::SIGKILL));
    assert!(sl_child_timed_out(ch.0));
    assert!(!alive(d2), "the daemon survived the timeout");
    assert_eq!(
        survivors("hx_daemon", 10),
        Vec::<i32>::new(),
        "daemons left (one was {d})"
    );
}

/// A child forked by a traced process can run, fork, exit and be reaped
/// before its parent's fork event reaches the supervisor; the late event must
/// not re-register the dead pid (the sandbox would never end, and a later kill
/// would hit whatever process reuses that pid).
#[test]
fn posix_spawn_races_leave_no_survivors() {
    let exe = tagged("hx_race");
    let p = base();
    for round in 0..30 {
        // Launch 20 daemonizing children with vfork-style clones and exit at once.
        let (ch, r) = p.spawn_captured(&[&exe, "spawnrace", "20"]).unwrap();
        let out = read_all(r);
        let mut st = 0;
        let rc = sl_wait_timeout(ch.0, 10_000, &mut st);
        assert_eq!(
            rc,
            SL_OK,
            "round {round}: the sandbox never ended although none of its {} processes is left ({:?})",
            out.lines().count(),
            procs_named("hx_race")
        );
        assert_eq!(exited(st), Some(0));
        // sl_wait returned: nothing of that sandbox may be left, not even a zombie.
        assert_eq!(
            procs_named("hx_race"),
            Vec::<i32>::new(),
            "processes outlived the sandbox"
        );
    }
}

#[test]
fn kill_minus_one_hits_only_the_sandbox() {
    if sl_landlock_abi() < 6 {
        skip(&format!(
            "kill(-1): Landlock ABI {} cannot scope signals (needs 6)",
            sl_landlock_abi()
        ));
        return;
    }
    let mut decoy = Decoy::new();
    let p = base();
    assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
    let sup = supervisor();
    let (st, out) = p.run(&[&hostile(), "killall", &decoy.pid().to_string()]);
    let m = kv(&out);
    assert_eq!(get(&m, "guard", &out), libc::EPERM as i64, "{out}");
    assert_eq!(get(&m, "kill_parent", &out), libc::EPERM as i64, "{out}");
    // kill(0, SIGKILL) reached the probe itself (its group is the host's) and nothing else.
    assert!(out.contains("kill_minus_1="), "{out}");
    assert!(!out.contains("survived"), "{out}");
    assert_eq!(signaled(st), Some(libc::SIGKILL), "{out}");
    assert!(decoy.alive(), "the decoy outside the sandbox was killed");
    assert_host_intact(sup);
}

#[test]
fn signals_to_processes_outside_are_refused() {
    if sl_landlock_abi() < 6 {
        skip(&format!(
            "signals: Landlock ABI {} cannot scope signals (needs 6)",
            sl_landlock_abi()
        ));
        return;
    }
    let mut decoy = Decoy::new();
    let me = std::process::id().to_string();
    let (st, out) = base().run(&[&hostile(), "signals", &me, &decoy.pid().to_string()]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    for key in [
        "kill_host_0",
        "kill_parent_0",
        "kill_decoy",
        "tgkill_decoy",
        "sigqueue_decoy",
        "pidfd_send_decoy",
    ] {
        assert_eq!(get(&m, key, &out), libc::EPERM as i64, "{key}:\n{out}");
    }
    // F_SETOWN itself is allowed, but the SIGIO-style signal must not arrive.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        decoy.alive(),
        "the decoy got a signal from the sandbox:\n{out}"
    );
}

#[test]
fn a_fork_bomb_under_a_timeout_is_killed_and_reaped() {
    let exe = tagged("hx_bomb");
    let mut p = base();
    p.timeout_ms(1500);
    let sup = {
        assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
        supervisor()
    };
    let t = Instant::now();
    // Capped at 1,500 processes: this machine's pid space (32,768) is shared.
    let (ch, _line, _rd) = spawn_until(&p, &[&exe, "forkbomb", "1500"], "started");
    let st = wait_for(&ch, 30);
    assert_eq!(signaled(st), Some(libc::SIGKILL), "status {st:#x}");
    assert!(sl_child_timed_out(ch.0));
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    // Everything is reaped when sl_wait returns: no process, no zombie.
    assert_eq!(
        procs_named("hx_bomb"),
        Vec::<i32>::new(),
        "bomb processes left"
    );
    assert_host_intact(sup);
}

// ---------------------------------------------------------------------------
// the supervisor under attack

#[test]
fn a_notification_flood_does_not_starve_another_sandbox() {
    let exe = hostile();
    let mut p = base();
    p.seed(3);
    assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
    let sup = supervisor();
    let p = std::sync::Arc::new(p);
    let (p2, exe2) = (p.clone(), exe.clone());
    // 16 threads × 2,500 seeded getrandom calls = 40,000 notifications.
    let flood = std::thread::spawn(move || p2.run(&[&exe2, "flood", "16", "2500"]));
    // Meanwhile another sandbox keeps being served.
    let mut worst = Duration::ZERO;
    let mut rounds = 0;
    while !flood.is_finished() || rounds < 3 {
        let t = Instant::now();
        let (st, out) = p.run(&[&exe, "flood", "1", "100"]);
        worst = worst.max(t.elapsed());
        rounds += 1;
        assert_eq!(exited(st), Some(0), "{out}");
        assert_eq!(kv(&out).get("ok"), Some(&100), "{out}");
        assert!(
            worst < Duration::from_secs(10),
            "a small sandbox waited {worst:?} during the flood"
        );
    }
    let (st, out) = flood.join().unwrap();
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(
        (get(&m, "ok", &out), get(&m, "bad", &out)),
        (40_000, 0),
        "{out}"
    );
    eprintln!("flood: {rounds} small sandboxes served alongside, the slowest in {worst:?}");
    assert_host_intact(sup);
}

#[test]
fn children_that_die_with_notifications_pending() {
    let exe = hostile();
    let mut p = base();
    p.seed(4);
    assert_eq!(exited(p.run(&["/bin/true"]).0), Some(0));
    let sup = supervisor();
    for round in 0..6 {
        let mode = ["exit", "kill", "exec"][round % 3];
        let (st, out) = p.run(&[&exe, "pending", "8", "30", mode]);
        match mode {
            "kill" => assert_eq!(signaled(st), Some(libc::SIGKILL), "{mode}: {st:#x} {out}"),
            _ => assert_eq!(exited(st), Some(0), "{mode}: {st:#x} {out}"),
        }
        // The supervisor still answers.
        let (st, out) = p.run(&[&exe, "flood", "2", "50"]);
        assert_eq!(
            (exited(st), kv(&out).get("ok").copied()),
            (Some(0), Some(100)),
            "{out}"
        );
    }
    // The host kills a sandbox in the middle of a flood.
    for _ in 0..3 {
        let ch = p.spawn(&[&exe, "flood", "8", "100000000"]).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        ch.kill(libc::SIGKILL);
        assert_eq!(signaled(wait_for(&ch, 10)), Some(libc::SIGKILL));
    }
    assert_host_intact(sup);
}

#[test]
fn signals_interrupting_notified_calls() {
    let mut p = base();
    p.seed(5);
    let exe = hostile();
    let (st, out) = within(60, "interrupted getrandom", move || {
        p.run(&[&exe, "interrupted", "2000"])
    });
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    let (ok, eintr, bad) = (
        get(&m, "ok", &out),
        get(&m, "eintr", &out),
        get(&m, "bad", &out),
    );
    assert_eq!(ok + eintr + bad, 2000, "{out}");
    assert!(ok > 0, "no call completed:\n{out}");
    eprintln!("interrupted: ok={ok} eintr={eintr} short={bad}");
}

#[test]
fn descriptor_exhaustion_does_not_break_mediation() {
    let mut p = base();
    p.seed(6);
    assert_eq!(sl_policy_set_limit(p.0, SL_LIMIT_OPEN_FILES, 256), SL_OK);
    let (st, out) = p.run(&[&hostile(), "fdexhaust"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(get(&m, "errno", &out), libc::EMFILE as i64, "{out}");
    assert!(get(&m, "opened", &out) > 200, "{out}");
    assert_eq!(get(&m, "getrandom", &out), 16, "{out}");
}

/// The path is read by the supervisor, then again by the kernel after
/// CONTINUE: a thread that swaps the buffer in between must never obtain the
/// real random device (nor, in the second case, a file Landlock forbids).
#[test]
fn toctou_path_swap_never_yields_real_entropy() {
    let exe = hostile();
    let w = writable("toctou");
    let plain = w.join("plain-file");
    std::fs::write(&plain, "plain").unwrap();
    let mut p = base();
    p.seed(7).write(&w.to_string_lossy());
    let (st, out) = p.run(&[
        &exe,
        "toctou",
        "/dev/urandom",
        &plain.to_string_lossy(),
        "20000",
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(
        get(&m, "real", &out),
        0,
        "the real /dev/urandom was opened through a swapped path:\n{out}"
    );
    // The same with a symlink swapped between the two targets.
    let link = w.join("link");
    let (st, out) = p.run(&[
        &exe,
        "toctou_link",
        &link.to_string_lossy(),
        "/dev/urandom",
        &plain.to_string_lossy(),
        "20000",
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        get(&kv(&out), "real", &out),
        0,
        "the real /dev/urandom was opened through a swapped symlink:\n{out}"
    );
}

#[test]
fn toctou_path_swap_never_opens_a_forbidden_file() {
    let exe = hostile();
    let o = Outside::new("toctou");
    let mut p = base();
    p.seed(8);
    let (st, out) = p.run(&[&exe, "toctou", "/dev/urandom", &o.file(), "20000"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(
        get(&m, "other", &out),
        0,
        "the forbidden file was opened:\n{out}"
    );
    assert!(
        get(&m, "seeded", &out) > 0,
        "the swap never hit /dev/urandom:\n{out}"
    );
    o.assert_intact();
}

#[test]
fn huge_argv_and_env_spawn_or_fail_cleanly() {
    let exe = hostile();
    // SAFETY: sysconf has no side effects.
    let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) } as usize;
    let big = "a".repeat(100 << 10);
    // 1. Near the limit: about 3/4 of ARG_MAX in 100 KiB arguments, plus env.
    let n = arg_max * 3 / 4 / big.len();
    let e = exe.clone();
    let b = big.clone();
    let (st, out) = within(60, "near-ARG_MAX spawn", move || {
        let mut p = base();
        p.env("BIG", &b[..50 << 10]);
        let mut argv: Vec<&str> = vec![&e, "args"];
        argv.extend(std::iter::repeat(b.as_str()).take(n));
        p.run(&argv)
    });
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(get(&m, "argc", &out), n as i64 + 2);
    assert!(get(&m, "bytes", &out) as usize > n * big.len());
    // 2. Many tiny arguments (100,000).
    let e = exe.clone();
    let (st, out) = within(60, "100k arguments", move || {
        let mut argv: Vec<&str> = vec![&e, "args"];
        argv.extend(std::iter::repeat("x").take(100_000));
        base().run(&argv)
    });
    assert_eq!(
        (exited(st), kv(&out).get("argc").copied()),
        (Some(0), Some(100_002)),
        "{out}"
    );
    // 3. Over the limits: each must fail with a clean error, quickly.
    let over_one = "b".repeat(200 << 10); // one argument above MAX_ARG_STRLEN (128 KiB)
    let over_total = vec![big.clone(); arg_max * 2 / big.len()];
    let huge_env = "c".repeat(64 << 20);
    type Case = (&'static str, Vec<String>, Option<String>);
    let cases: Vec<Case> = vec![
        ("one argument over 128 KiB", vec![over_one], None),
        ("twice ARG_MAX of arguments", over_total, None),
        ("a 64 MiB environment variable", vec![], Some(huge_env)),
    ];
    for (what, extra, env) in cases {
        let e = exe.clone();
        let r = within(60, what, move || {
            let mut p = base();
            if let Some(v) = env {
                p.env("HUGE", &v);
            }
            let mut argv: Vec<&str> = vec![&e, "args"];
            argv.extend(extra.iter().map(|s| s.as_str()));
            p.spawn(&argv).map(|c| c.wait())
        });
        match r {
            Err((code, msg)) => {
                assert!(
                    [SL_E_EXEC, SL_E_INVALID, SL_E_NOMEM].contains(&code),
                    "{what}: code {code}: {msg}"
                );
                assert!(
                    msg.contains("too long") || msg.contains("E2BIG") || msg.contains("large"),
                    "{what}: {msg}"
                );
            }
            Ok(st) => panic!("{what}: spawned (status {st:#x}) although the kernel cannot exec it"),
        }
    }
}

#[test]
fn setuid_binaries_grant_nothing() {
    if !is_root() {
        skip("setuid: making a set-user-ID probe needs root (chown); no system set-user-ID program prints its euid");
        return;
    }
    let exe = tagged("hx_suid");
    let nobody = 65534;
    let c_exe = c(&exe);
    // SAFETY: chown/chmod of our own scratch file.
    unsafe {
        assert_eq!(libc::chown(c_exe.as_ptr(), nobody, nobody), 0);
        assert_eq!(libc::chmod(c_exe.as_ptr(), 0o6755), 0);
    }
    // Natively the bits take effect (the control)...
    let native_out = native(&[&exe, "ids"]);
    let nm = kv(&native_out);
    if nm.get("euid") != Some(&(nobody as i64)) {
        skip(&format!(
            "setuid: the scratch file system ignores set-user-ID bits (nosuid?): {native_out}"
        ));
        return;
    }
    // ...and under no_new_privs they do not.
    let (st, out) = base().run(&[&exe, "ids"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let m = kv(&out);
    assert_eq!(
        get(&m, "euid", &out),
        get(&m, "uid", &out),
        "the set-user-ID bit took effect:\n{out}"
    );
    assert_eq!(
        get(&m, "egid", &out),
        get(&m, "gid", &out),
        "the set-group-ID bit took effect:\n{out}"
    );
}

#[test]
fn abstract_unix_sockets_of_the_host_are_unreachable() {
    if sl_landlock_abi() < 6 {
        skip(&format!(
            "abstract sockets: Landlock ABI {} cannot scope them (needs 6)",
            sl_landlock_abi()
        ));
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    let name = format!("sandlock-hostile-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    // Natively reachable (the control)...
    let native_out = native(&[&hostile(), "connect_abstract", &name]);
    assert_eq!(kv(&native_out).get("connect"), Some(&0), "{native_out}");
    // ...refused from the sandbox.
    let (st, out) = base().run(&[&hostile(), "connect_abstract", &name]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(get(&kv(&out), "connect", &out), libc::EPERM as i64, "{out}");
}

#[test]
fn pathname_unix_sockets_are_a_network_rule() {
    let o = Outside::new("unixsock");
    let path = o.dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (st, out) = base().run(&[&hostile(), "connect_path", &path.to_string_lossy()]);
    assert_eq!(exited(st), Some(0), "{out}");
    let r = get(&kv(&out), "connect", &out);
    if r == 0 {
        skip("pathname UNIX sockets: a sandbox can connect to a host socket outside its rules (Landlock has no right for it); socket rules belong to the network issue");
    } else {
        assert_eq!(r, libc::EACCES as i64, "{out}");
    }
}

// ---------------------------------------------------------------------------
// the host or the supervisor dies: nothing of the sandbox survives.
// These run a copy of this test binary as a separate host, so that killing
// its supervisor does not disturb the other tests.

const INNER: &str = "SANDLOCK_HOSTILE_INNER";

/// Run `test` of this binary in a child process with `INNER=mode`; its stdout.
fn run_inner(test: &str, mode: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, mode)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Never hang the suite: the inner host gets 60 s.
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn inner_pids(out: &str) -> Vec<i32> {
    let line = out
        .lines()
        .find_map(|l| l.split_once("INNER-PIDS ").map(|(_, r)| r))
        .unwrap_or_else(|| panic!("the inner host printed no pids:\n{out}"));
    line.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The inner host: start a stubborn daemonizing sandbox, print the pids, then
/// either die (`host`) or kill its own supervisor (`supervisor`).
#[test]
#[ignore = "helper: run only by the tests below, as a separate host process"]
fn inner_host() {
    let Ok(mode) = std::env::var(INNER) else {
        return;
    };
    let exe = tagged(if mode == "host" {
        "hx_orphan_h"
    } else {
        "hx_orphan_s"
    });
    let p = base();
    let (ch, d, _rd) = start_daemon(&p, &exe, "wait");
    let sup = supervisor();
    println!("INNER-PIDS {} {d} {sup}", ch.pid());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    if mode == "supervisor" {
        // SAFETY: killing our own supervisor process on purpose.
        unsafe { libc::kill(sup, libc::SIGKILL) };
        let mut st = 0;
        assert_eq!(sl_wait(ch.0, &mut st), SL_E_SUPERVISOR);
    }
    // SAFETY: leaving at once, without freeing anything, as a crashing host would.
    unsafe { libc::_exit(0) };
}

#[test]
fn host_death_takes_the_sandbox_with_it() {
    let out = run_inner("inner_host", "host");
    let pids = inner_pids(&out);
    let left = survivors("hx_orphan_h", 10);
    assert!(
        left.is_empty(),
        "processes outlived their host: {left:?} (inner pids {pids:?})"
    );
    assert!(!alive(pids[2]), "the supervisor outlived its host");
}

#[test]
fn supervisor_death_takes_a_stubborn_sandbox_with_it() {
    let out = run_inner("inner_host", "supervisor");
    let pids = inner_pids(&out);
    // The daemon cleared its parent-death signal, ignores SIGTERM/SIGHUP and
    // left the session: only the tracer's exit-kill can reach it.
    let left = survivors("hx_orphan_s", 10);
    assert!(
        left.is_empty(),
        "processes outlived their supervisor: {left:?} (inner pids {pids:?})"
    );
}

/// The inner host for the deadlock cases: everything under a deadline; on a
/// hang, print it, kill our own supervisor (its tracees die with it) and leave.
#[test]
#[ignore = "helper: run only by the tests below, as a separate host process"]
fn inner_spawn_deadline() {
    let Ok(mode) = std::env::var(INNER) else {
        return;
    };
    // Start the supervisor with a harmless policy first, so that its pid is known.
    assert_eq!(exited(Policy::system().run(&["/bin/true"]).0), Some(0));
    let sup = supervisor();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut p = base();
        p.seed(11);
        let mut keep = Vec::new();
        if mode == "lowfd" {
            // A low open-files limit puts the reserved random-fd range over
            // the low fds the child itself uses before exec.
            assert_eq!(sl_policy_set_limit(p.0, SL_LIMIT_OPEN_FILES, 20), SL_OK);
        } else {
            // Many live sandboxes push the supervisor's own fd numbers (which
            // a new child holds until exec) up into the default reserved range
            // (2 fds per sandbox: ~495 reach fd 992).
            for _ in 0..520 {
                match p.spawn(&["/bin/sleep", "60"]) {
                    Ok(c) => keep.push(c),
                    Err(e) => {
                        let _ = tx.send(format!("error while filling: {e:?}"));
                        return;
                    }
                }
            }
        }
        let r = match p.spawn(&["/bin/true"]) {
            Ok(c) => format!("ok {:#x}", c.wait()),
            Err(e) => format!("error {e:?}"),
        };
        let _ = tx.send(r);
        drop(keep);
    });
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| "HANG".to_string());
    println!("INNER-RESULT {r}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    if r == "HANG" {
        // SAFETY: killing our own supervisor: its stuck tracees die with it.
        unsafe { libc::kill(sup, libc::SIGKILL) };
    }
    // SAFETY: leaving without waiting for a stuck thread.
    unsafe { libc::_exit(0) };
}

fn inner_result(out: &str) -> String {
    out.lines()
        .find_map(|l| l.split_once("INNER-RESULT ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("the inner host printed no result:\n{out}"))
}

/// Between its seccomp filter and exec, the child still reads the supervisor's
/// go pipe; when that fd number falls in the reserved random-fd range the read
/// is notified to the supervisor, which is itself blocked waiting for that
/// child: neither moves again, and every other sandbox of the host stalls.
#[test]
fn a_low_open_files_limit_does_not_deadlock_the_supervisor() {
    let r = inner_result(&run_inner("inner_spawn_deadline", "lowfd"));
    assert!(r.starts_with("ok"), "{r}");
}

/// The same with the default range (the top 32 fds under 1024): the
/// supervisor holds 2 fds per live sandbox, so past ~495 live sandboxes the
/// go pipe of the next child is numbered 992 or above.
#[test]
fn many_live_seeded_sandboxes_do_not_deadlock_the_supervisor() {
    let r = inner_result(&run_inner("inner_spawn_deadline", "many"));
    assert!(r.starts_with("ok"), "{r}");
}

#[test]
fn metadata_changes_work_beneath_writable_paths() {
    // The other side of host_file_metadata_is_out_of_reach: done on the child's
    // behalf, chmod/utimes/xattrs still work where the policy allows writes.
    let dir = scratch().join("meta-ok");
    std::fs::create_dir_all(&dir).unwrap();
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777));
    let mut p = base();
    p.write(&dir.to_string_lossy());
    let f = dir.join("f");
    let script = format!(
        "touch {f} && chmod 600 {f} && touch -d @1 {f} && stat -c '%a %Y' {f} && chmod 640 /proc/self/fd/0 2>/dev/null; echo done",
        f = f.display()
    );
    let (st, out) = p.run(&["/bin/sh", "-c", &script]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.lines().next(), Some("600 1"), "{out}");
}
