//! Denied paths inside allowed trees, and Landlock TCP port rules.
mod common;
use common::*;
use sandlock::ffi::*;

fn tree() -> std::path::PathBuf {
    let root = scratch().join(format!(
        "deny-{}",
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace(':', "_")
    ));
    let _ = std::fs::remove_dir_all(&root);
    for d in ["work/secret/inner", "work/src"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("work/secret/key"), "TOP SECRET").unwrap();
    std::fs::write(root.join("work/src/main.c"), "int main;").unwrap();
    for d in ["", "work", "work/secret", "work/secret/inner", "work/src"] {
        let _ = std::fs::set_permissions(
            root.join(d),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        );
    }
    root
}

fn deny_policy(root: &std::path::Path) -> Policy {
    let mut p = Policy::system();
    p.write(&root.to_string_lossy());
    assert_eq!(
        sl_policy_deny_path(p.0, c(&root.join("work/secret").to_string_lossy()).as_ptr()),
        SL_OK
    );
    p
}

#[test]
fn a_denied_path_stays_unreachable_inside_a_writable_tree() {
    let root = tree();
    let p = deny_policy(&root);
    let sh = |script: &str| {
        let (st, out) = p.run(&[
            "/bin/sh",
            "-c",
            &format!("cd {} && {script}", root.display()),
        ]);
        (exited(st), out)
    };
    // The rest of the tree works.
    assert_eq!(sh("cat work/src/main.c").1, "int main;");
    assert_eq!(
        sh("echo new > work/src/new && cat work/src/new").1.trim(),
        "new"
    );
    // Every way into the secret fails.
    for script in [
        "cat work/secret/key",
        "cat work/src/../secret/key",
        "ln -s ../secret/key work/src/link && cat work/src/link",
        "ln work/secret/key work/src/hard",
        "mv work/secret/key work/src/stolen",
        "echo x > work/secret/new",
        "mv work/src/main.c work/secret/",
        "cat /proc/self/root$(pwd)/work/secret/key",
        "mkdir work/secret/inner/more",
        "touch work/secret/inner/new",
        "cp work/src/main.c work/secret/inner/",
    ] {
        let (code, out) = sh(script);
        assert_ne!(code, Some(0), "`{script}` succeeded: {out}");
        assert!(!out.contains("TOP SECRET"), "`{script}` leaked: {out}");
    }
    // Documented limit: Landlock grants ReadDir beneath the listable parents, so
    // the names (never the contents) inside a denied directory can be listed.
    assert_eq!(
        sh("ls work/secret")
            .1
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["inner", "key"]
    );
    // Nothing was changed in the secret, and the stolen file does not exist.
    assert_eq!(
        std::fs::read_to_string(root.join("work/secret/key")).unwrap(),
        "TOP SECRET"
    );
    assert!(!root.join("work/src/stolen").exists() && !root.join("work/secret/new").exists());
    assert!(!root.join("work/secret/main.c").exists());
}

#[test]
fn deny_path_refuses_bad_input() {
    let p = Policy::system();
    assert_eq!(
        sl_policy_deny_path(p.0, c("relative").as_ptr()),
        SL_E_INVALID
    );
    assert_eq!(sl_policy_deny_path(p.0, c("/").as_ptr()), SL_E_INVALID);
    assert_eq!(
        sl_policy_deny_path(p.0, c("/a/../b").as_ptr()),
        SL_E_INVALID
    );
    assert_eq!(sl_policy_deny_path(p.0, std::ptr::null()), SL_E_INVALID);
    assert_eq!(
        sl_policy_deny_path(std::ptr::null_mut(), c("/x").as_ptr()),
        SL_E_INVALID
    );
}

fn listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

const CONNECT: &str = "import socket, sys\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', int(sys.argv[1]))); print('connected')\nexcept OSError as e: print('errno', e.errno)";

#[test]
fn tcp_connect_only_to_allowed_ports() {
    if sl_landlock_abi() < 4 {
        eprintln!(
            "skipped: Landlock ABI {} has no TCP rules",
            sl_landlock_abi()
        );
        return;
    }
    let (_a, allowed) = listener();
    let (_b, other) = listener();
    let mut p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_connect(p.0, allowed), SL_OK);
    let run = |port: u16| p.run(&["python3", "-c", CONNECT, &port.to_string()]).1;
    assert_eq!(run(allowed).trim(), "connected");
    assert_eq!(run(other).trim(), format!("errno {}", libc::EACCES));
    // With no rule at all, nothing connects.
    let q = Policy::system();
    assert_eq!(
        q.run(&["python3", "-c", CONNECT, &allowed.to_string()])
            .1
            .trim(),
        format!("errno {}", libc::EACCES)
    );
    let _ = &mut p;
}

#[test]
fn tcp_bind_only_to_allowed_ports() {
    if sl_landlock_abi() < 4 {
        eprintln!(
            "skipped: Landlock ABI {} has no TCP rules",
            sl_landlock_abi()
        );
        return;
    }
    let free = {
        let (l, port) = listener();
        drop(l);
        port
    };
    let p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_bind(p.0, free), SL_OK);
    let bind = "import socket, sys\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', int(sys.argv[1]))); print('bound')\nexcept OSError as e: print('errno', e.errno)";
    assert_eq!(
        p.run(&["python3", "-c", bind, &free.to_string()]).1.trim(),
        "bound"
    );
    let other = if free == 65535 { free - 1 } else { free + 1 };
    assert_eq!(
        p.run(&["python3", "-c", bind, &other.to_string()]).1.trim(),
        format!("errno {}", libc::EACCES)
    );
}

const SOCK: &str = "import socket, sys\nfam = {'inet': socket.AF_INET, 'inet6': socket.AF_INET6, 'unix': socket.AF_UNIX, 'netlink': socket.AF_NETLINK, 'packet': socket.AF_PACKET}\nty = {'stream': socket.SOCK_STREAM, 'dgram': socket.SOCK_DGRAM, 'raw': socket.SOCK_RAW}\ntry:\n    socket.socket(fam[sys.argv[1]], ty[sys.argv[2]], int(sys.argv[3])); print('ok')\nexcept OSError as e: print('errno', e.errno)";

#[test]
fn socket_families_udp_raw_mptcp_sctp() {
    let p = Policy::system();
    let run = |f: &str, t: &str, proto: i32| {
        p.run(&["python3", "-c", SOCK, f, t, &proto.to_string()])
            .1
            .trim()
            .to_string()
    };
    let e = |n: i32| format!("errno {n}");
    // Natively (as any user) TCP, UDP, MPTCP and netlink-route sockets can be made.
    assert_eq!(run("inet", "stream", 0), "ok");
    assert_eq!(run("inet6", "stream", 0), "ok");
    assert_eq!(run("unix", "dgram", 0), "ok");
    assert_eq!(run("netlink", "raw", 0), "ok"); // NETLINK_ROUTE, for libc
    assert_eq!(run("inet", "dgram", 0), e(libc::EACCES));
    assert_eq!(run("inet6", "dgram", 0), e(libc::EACCES));
    assert_eq!(run("inet", "raw", 1), e(libc::EACCES));
    assert_eq!(run("inet", "stream", 262), e(libc::EPROTONOSUPPORT)); // MPTCP
    assert_eq!(run("inet", "stream", 132), e(libc::EPROTONOSUPPORT)); // SCTP
    assert_eq!(run("netlink", "raw", 9), e(libc::EAFNOSUPPORT)); // NETLINK_AUDIT
    assert_eq!(run("packet", "raw", 0), e(libc::EAFNOSUPPORT));
    // UDP when allowed.
    let q = Policy::system();
    assert_eq!(sl_policy_allow_udp(q.0, true), SL_OK);
    assert_eq!(
        q.run(&["python3", "-c", SOCK, "inet", "dgram", "0"])
            .1
            .trim(),
        "ok"
    );
}

#[test]
fn tcp_fast_open_is_refused() {
    let (_l, port) = listener();
    let mut p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_connect(p.0, port), SL_OK);
    let fo = "import socket, sys\ns = socket.socket()\ntry:\n    s.sendto(b'x', 0x20000000, ('127.0.0.1', int(sys.argv[1]))); print('sent')\nexcept OSError as e: print('errno', e.errno)\ns2 = socket.socket()\ntry:\n    s2.setsockopt(socket.IPPROTO_TCP, 30, 1); print('set')\nexcept OSError as e: print('errno', e.errno)";
    let out = p.run(&["python3", "-c", fo, &port.to_string()]).1;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["errno", "1", "errno", "1"],
        "{out}"
    );
    let _ = &mut p;
}

#[test]
fn destination_rules_connect_on_behalf() {
    let (_a, port) = listener();
    let mut p = Policy::system();
    // No port rule at all: only the destination rule can let this through.
    assert_eq!(
        sl_policy_allow_connect(p.0, c(&format!("127.0.0.0/8:{port}")).as_ptr()),
        SL_OK
    );
    let run = |host: &str, port: u16| {
        let code = format!(
            "import socket\ns = socket.socket()\ntry:\n    s.connect(('{host}', {port})); print('connected', s.getpeername()[1])\nexcept OSError as e: print('errno', e.errno)"
        );
        p.run(&["python3", "-c", &code]).1.trim().to_string()
    };
    assert_eq!(run("127.0.0.1", port), format!("connected {port}"));
    // Same network, another port: refused by Landlock (no port rule).
    let (_b, other) = listener();
    assert_eq!(run("127.0.0.1", other), format!("errno {}", libc::EACCES));
    // A rule for another network does not match.
    let q = Policy::system();
    assert_eq!(
        sl_policy_allow_connect(q.0, c(&format!("10.0.0.0/8:{port}")).as_ptr()),
        SL_OK
    );
    let code = format!("import socket\ns = socket.socket()\ntry:\n    s.connect(('127.0.0.1', {port})); print('connected')\nexcept OSError as e: print('errno', e.errno)");
    assert_eq!(
        q.run(&["python3", "-c", &code]).1.trim(),
        format!("errno {}", libc::EACCES)
    );
    let _ = &mut p;
}

/// Has `fd` data (or EOF) to read right now?
fn readable(fd: &std::os::fd::OwnedFd) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll on one local pollfd without waiting.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// Does the supervisor hold a descriptor of socket inode `ino`?
fn supervisor_holds(ino: &str) -> bool {
    let sup = sandlock::supervisor::link::supervisor_pid().expect("supervisor");
    let want = format!("socket:[{ino}]");
    std::fs::read_dir(format!("/proc/{sup}/fd"))
        .unwrap()
        .flatten()
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy() == want))
}

/// Prints "connecting INODE" (its socket's), then connects (argv[1]: port,
/// argv[2], if given: SO_SNDTIMEO in ms, and then a second connect), printing
/// "connected" or "errno N" for each.
const SLOW_CONNECT: &str = "import socket, sys, os, struct, signal
signal.signal(signal.SIGUSR1, lambda *a: print('signaled', flush=True))
s = socket.socket()
tries = 1
if len(sys.argv) > 2:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 0, int(sys.argv[2]) * 1000))
    tries = 2
print('connecting', os.fstat(s.fileno()).st_ino, flush=True)
for i in range(tries):
    try:
        s.connect(('127.0.0.1', int(sys.argv[1]))); print('connected', flush=True)
    except OSError as e: print('errno', e.errno, flush=True)";

/// Sandbox A, whose destination rule allows the black hole, starts its
/// connect; returns it, its output and its socket's inode once the connect
/// has reached the supervisor.
fn start_slow_connect(port: u16, extra: &[&str]) -> (Child, std::os::fd::OwnedFd, String) {
    let mut p = Policy::system();
    // A connect that never returns fails the test instead of hanging it.
    p.timeout_ms(20_000);
    let rule = c(&format!("127.0.0.1:{port}"));
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    let port = port.to_string();
    let mut argv = vec!["python3", "-c", SLOW_CONNECT, &port];
    argv.extend_from_slice(extra);
    let (child, out) = p.spawn_captured(&argv).unwrap();
    let line = read_line(&out);
    let ino = line
        .strip_prefix("connecting ")
        .unwrap_or_else(|| panic!("A: {line}"))
        .to_string();
    // Time for A's connect notification to reach the supervisor.
    std::thread::sleep(std::time::Duration::from_millis(300));
    (child, out, ino)
}

#[test]
fn a_connect_that_never_completes_stalls_no_other_sandbox() {
    let (_l, _fill, port) = blackhole();
    let (a, a_out, ino) = start_slow_connect(port, &[]);
    // Sandbox B: a spawn, seeded /dev/urandom reads served by the supervisor,
    // an exit. (The supervisor used to connect for A synchronously, for up
    // to 5 s, and served nobody meanwhile.)
    let mut b = Policy::system();
    b.seed(7);
    let t = std::time::Instant::now();
    let (st, out) = b.run(&["od", "-An", "-tx1", "-N8", "/dev/urandom"]);
    let took = t.elapsed();
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.split_whitespace().count(), 8, "{out}");
    assert!(
        took < std::time::Duration::from_secs(2),
        "sandbox B took {took:?} while A's connect was pending"
    );
    // A's connect is still pending, held by the supervisor.
    assert!(
        !readable(&a_out),
        "A's connect returned: {}",
        read_line(&a_out)
    );
    assert!(alive(a.pid()));
    assert!(
        supervisor_holds(&ino),
        "the supervisor does not hold A's socket"
    );
    a.kill(libc::SIGKILL);
    a.wait();
}

#[test]
fn a_connect_on_behalf_to_a_closed_port_is_refused_as_natively() {
    let closed = {
        let (l, port) = listener();
        drop(l);
        port
    };
    // Twice on the same socket (the second is a new attempt natively), then
    // a non-blocking attempt, which reports EINPROGRESS or the refusal at once.
    let code = "import socket, sys, select\nport = int(sys.argv[1])\ns = socket.socket()\nfor i in range(2):\n    try:\n        s.connect(('127.0.0.1', port)); print('connected')\n    except OSError as e: print('errno', e.errno)\nt = socket.socket()\nt.setblocking(False)\nr = t.connect_ex(('127.0.0.1', port))\nif r == 115:\n    select.select([], [t], [], 5)\n    r = t.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)\nprint('errno', r)";
    let want = format!("errno {0}\nerrno {0}\nerrno {0}\n", libc::ECONNREFUSED);
    assert_eq!(native(&["python3", "-c", code, &closed.to_string()]), want);
    let p = Policy::system();
    let rule = c(&format!("127.0.0.1:{closed}"));
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    let (st, out) = p.run(&["python3", "-c", code, &closed.to_string()]);
    assert_eq!((exited(st), out), (Some(0), want));
    // A successful connect, then another on the connected socket: EISCONN.
    let (_l, open) = listener();
    let code = "import socket, sys\ns = socket.socket()\nfor i in range(2):\n    try:\n        s.connect(('127.0.0.1', int(sys.argv[1]))); print('connected')\n    except OSError as e: print('errno', e.errno)";
    let want = format!("connected\nerrno {}\n", libc::EISCONN);
    assert_eq!(native(&["python3", "-c", code, &open.to_string()]), want);
    let p = Policy::system();
    let rule = c(&format!("127.0.0.1:{open}"));
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    assert_eq!(p.run(&["python3", "-c", code, &open.to_string()]).1, want);
}

#[test]
fn the_childs_send_timeout_bounds_a_connect_on_behalf() {
    let (_l, _fill, port) = blackhole();
    // Natively: EINPROGRESS when SO_SNDTIMEO expires, then EALREADY for a
    // second connect while the first attempt goes on.
    let want = format!("errno {}\nerrno {}\n", libc::EINPROGRESS, libc::EALREADY);
    let native_out = native(&["python3", "-c", SLOW_CONNECT, &port.to_string(), "300"]);
    assert_eq!(native_out.split_once('\n').unwrap().1, want);
    let (a, out, _) = start_slow_connect(port, &["300"]);
    assert_eq!(exited(a.wait()), Some(0));
    assert_eq!(read_all(out), want);
}

#[test]
fn nothing_of_a_pending_connect_outlives_its_sandbox() {
    let (_l, _fill, port) = blackhole();
    // Killed while its connect is pending.
    let (a, _out, ino) = start_slow_connect(port, &[]);
    assert!(
        supervisor_holds(&ino),
        "the supervisor does not hold A's socket"
    );
    a.kill(libc::SIGKILL);
    a.wait();
    let t = std::time::Instant::now();
    while supervisor_holds(&ino) && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!supervisor_holds(&ino), "the supervisor kept A's socket");
    // Interrupted by a signal: the call returns (Python then waits for the
    // attempt itself), and the supervisor lets go of the socket.
    let (a, out, ino) = start_slow_connect(port, &[]);
    a.kill(libc::SIGUSR1);
    assert_eq!(read_line(&out), "signaled");
    let t = std::time::Instant::now();
    while supervisor_holds(&ino) && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        !supervisor_holds(&ino),
        "the supervisor kept an interrupted caller's socket"
    );
    assert!(alive(a.pid()));
    a.kill(libc::SIGKILL);
    a.wait();
}

#[test]
fn one_sandbox_cannot_hold_unbounded_supervisor_fds_with_pending_connects() {
    let (_l, _fill, port) = blackhole();
    let mut p = Policy::system();
    p.timeout_ms(20_000);
    let rule = c(&format!("127.0.0.1:{port}"));
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    // 70 threads connect at once: 64 wait (MAX_PENDING), the others are told
    // EINPROGRESS at once, as after an expired SO_SNDTIMEO.
    let code = "import socket, sys, threading, time, os
port = int(sys.argv[1])
done = []
def go():
    s = socket.socket()
    try:
        s.connect(('127.0.0.1', port)); done.append('connected')
    except OSError as e: done.append(e.errno)
for i in range(70):
    threading.Thread(target=go, daemon=True).start()
time.sleep(1.5)
print(sorted(done), flush=True)
os._exit(0)";
    let (st, out) = p.run(&["python3", "-c", code, &port.to_string()]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out.trim(),
        format!("{:?}", [libc::EINPROGRESS; 6]),
        "not 6 immediate answers"
    );
}
