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
