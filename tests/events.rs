//! Event callbacks (issue 6): the host decides on execs, opens, connects and
//! binds at run time and hears refusals (the deny list included), driven
//! through the C API with `extern "C"` callbacks.

mod common;

use common::*;
use sandlock::ffi::*;
use std::ffi::{c_void, CStr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a test's callback saw, and how it decides: userdata for `decide`.
struct Rules {
    seen: Mutex<Vec<String>>,
    /// (kind, substring of "path argv…", answer, errno)
    rules: Vec<(i32, &'static str, i32, i32)>,
    /// Sleep this long when a rule with SL_ALLOW matches "slow".
    slow: Duration,
}

impl Rules {
    fn new(rules: Vec<(i32, &'static str, i32, i32)>) -> Box<Rules> {
        Box::new(Rules {
            seen: Mutex::new(Vec::new()),
            rules,
            slow: Duration::ZERO,
        })
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn describe(ev: &sl_event) -> String {
    // SAFETY: the library passes valid strings for the duration of the call.
    let s = |p: *const libc::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    if ev.kind == SL_EVENT_CONNECT || ev.denied == SL_EVENT_CONNECT {
        return format!("{}:{} family={}", s(ev.address), ev.port, ev.family);
    }
    if ev.kind == SL_EVENT_BIND || ev.denied == SL_EVENT_BIND {
        return format!(
            "{}:{} family={} type={}",
            s(ev.address),
            ev.port,
            ev.family,
            ev.flags
        );
    }
    let mut out = s(ev.path);
    for i in 0..ev.argc as usize {
        // SAFETY: argv has argc entries.
        out.push(' ');
        out.push_str(&s(unsafe { *ev.argv.add(i) }));
    }
    out
}

unsafe extern "C" fn decide(ev: *mut sl_event, userdata: *mut c_void) -> i32 {
    // SAFETY: userdata is the test's Rules, alive until its children are freed.
    let r = unsafe { &*(userdata as *const Rules) };
    // SAFETY: a valid event for the duration of the call.
    let ev = unsafe { &mut *ev };
    let what = describe(ev);
    if ev.kind == SL_EVENT_DENIED {
        // SAFETY: a valid string for the duration of the call.
        let why = unsafe { CStr::from_ptr(ev.reason) }.to_string_lossy();
        // SAFETY: as above.
        let name = unsafe { CStr::from_ptr(ev.syscall_name) }.to_string_lossy();
        let mut seen = r.seen.lock().unwrap();
        seen.push(format!(
            "denied kind={} nr={} errno={} {what} ({why})",
            ev.denied, ev.syscall, ev.error
        ));
        seen.push(format!("name nr={} {name}", ev.syscall));
        return 12345; // ignored
    }
    r.seen.lock().unwrap().push(format!(
        "{} {what}",
        match ev.kind {
            SL_EVENT_EXEC => "exec",
            SL_EVENT_CONNECT => "connect",
            SL_EVENT_BIND => "bind",
            _ => "open",
        }
    ));
    for &(kind, pat, answer, errno) in &r.rules {
        if kind == ev.kind && what.contains(pat) {
            if pat.contains("slow") {
                std::thread::sleep(r.slow);
            }
            if errno != 0 {
                ev.deny_errno = errno;
            }
            return answer;
        }
    }
    SL_ALLOW
}

fn with_handler(p: &Policy, mask: i32, r: &Rules) {
    assert_eq!(
        sl_policy_set_event_handler(
            p.0,
            mask as u32,
            Some(decide),
            r as *const Rules as *mut c_void
        ),
        SL_OK,
        "{}",
        last_error()
    );
}

fn sh(p: &Policy, script: &str) -> (i32, String) {
    p.run(&["/bin/sh", "-c", script])
}

#[test]
fn exec_allowed_and_denied_by_argv() {
    let p = Policy::system();
    let r = Rules::new(vec![(SL_EVENT_EXEC, "forbidden", SL_DENY, libc::EPERM)]);
    with_handler(&p, SL_EVENT_EXEC, &r);
    let (st, out) = sh(&p, "/bin/echo allowed; /bin/echo forbidden; echo rc=$?");
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.contains("allowed\n"), "{out}");
    assert!(!out.contains("forbidden\n"), "{out}");
    assert!(out.contains("rc=126") || out.contains("rc=127"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    let seen = r.seen();
    assert!(
        seen.contains(&"exec /bin/echo /bin/echo allowed".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"exec /bin/echo /bin/echo forbidden".to_string()),
        "{seen:?}"
    );
    // The first program, chosen by the host, is not an event.
    assert!(
        !seen.iter().any(|s| s.starts_with("exec /bin/sh")),
        "{seen:?}"
    );
    drop(p);
}

#[test]
fn open_denied_by_path() {
    let dir = scratch().join("open_denied");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("public"), "PUBLIC\n").unwrap();
    std::fs::write(dir.join("secret"), "SECRET\n").unwrap();
    let mut p = Policy::system();
    p.read(dir.to_str().unwrap());
    let r = Rules::new(vec![(SL_EVENT_OPEN, "secret", SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_OPEN, &r);
    let d = dir.display();
    let (st, out) = sh(&p, &format!("cat {d}/public; cat {d}/secret; echo rc=$?"));
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.contains("PUBLIC"), "{out}");
    assert!(!out.contains("SECRET"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
    let seen = r.seen();
    assert!(seen.iter().any(|s| s.ends_with("/secret")), "{seen:?}");
    // Opens of the loader and libraries were asked about too, and allowed.
    assert!(seen.iter().any(|s| s.contains("libc")), "{seen:?}");
}

#[test]
fn racing_thread_cannot_swap_the_opened_path() {
    let prog = probe("openrace", &["-pthread"]);
    let dir = scratch().join("race");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("okay"), "OKAY").unwrap();
    std::fs::write(dir.join("deny"), "DENY").unwrap();
    let mut p = Policy::system();
    p.read(dir.to_str().unwrap())
        .read(&scratch().to_string_lossy());
    let r = Rules::new(vec![(SL_EVENT_OPEN, "/race/deny", SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_OPEN, &r);
    let ok = format!("{}/okay", dir.display());
    let deny = format!("{}/deny", dir.display());
    let (st, out) = p.run(&[&prog, &ok, &deny, "3000"]);
    assert_eq!(exited(st), Some(0), "the child got the denied file: {out}");
    let n: i32 = out
        .trim()
        .strip_prefix("ok=")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n > 0, "no open was ever allowed: {out}");
    let seen = r.seen();
    assert!(
        seen.iter().any(|s| s.ends_with("/race/deny")),
        "the race never showed the denied path"
    );
}

#[test]
fn slow_callback_denies_after_the_timeout_without_stalling_others() {
    let dir = scratch().join("slow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("slowfile"), "CONTENT\n").unwrap();
    let mut p = Policy::system();
    p.read(dir.to_str().unwrap());
    let mut r = Rules::new(vec![(SL_EVENT_OPEN, "slowfile", SL_ALLOW, 0)]);
    r.slow = Duration::from_millis(SL_EVENT_TIMEOUT_MS as u64 + 1500);
    with_handler(&p, SL_EVENT_OPEN, &r);
    let start = Instant::now();
    let (slow, rd) = p
        .spawn_captured(&[
            "/bin/sh",
            "-c",
            &format!("cat {}/slowfile; echo rc=$?", dir.display()),
        ])
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Another sandbox runs to completion while the first one waits.
    let other = Policy::system();
    let t = Instant::now();
    let (st, out) = other.run(&["/bin/echo", "other"]);
    assert_eq!((exited(st), out.as_str()), (Some(0), "other\n"));
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let out = read_all(rd);
    assert_eq!(exited(slow.wait()), Some(0), "{out}");
    assert!(!out.contains("CONTENT"), "{out}");
    assert!(
        out.contains("Permission denied") && out.contains("rc=1"),
        "{out}"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(SL_EVENT_TIMEOUT_MS as u64),
        "{took:?}"
    );
    drop(slow);
}

#[test]
fn garbage_answer_denies() {
    let p = Policy::system();
    let r = Rules::new(vec![(SL_EVENT_EXEC, "/bin/echo", 42, 0)]);
    with_handler(&p, SL_EVENT_EXEC, &r);
    let (st, out) = sh(&p, "/bin/echo hello; echo rc=$?");
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(!out.contains("hello\n"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
}

#[test]
fn kill_decision_ends_the_sandbox() {
    let p = Policy::system();
    let r = Rules::new(vec![(SL_EVENT_EXEC, "/bin/echo", SL_KILL, 0)]);
    with_handler(&p, SL_EVENT_EXEC, &r);
    let (child, rd) = p
        .spawn_captured(&["/bin/sh", "-c", "/bin/echo hello; echo after"])
        .unwrap();
    let out = read_all(rd);
    let mut res: sl_result = unsafe { std::mem::zeroed() };
    assert_eq!(sl_wait_result(child.0, &mut res), SL_OK, "{}", last_error());
    assert_eq!(res.reason, SL_END_KILLED, "{out}");
    assert!(!out.contains("hello") && !out.contains("after"), "{out}");
}

#[test]
fn handler_arguments_are_checked() {
    let p = Policy::empty();
    let r = Rules::new(vec![]);
    let ud = &*r as *const Rules as *mut c_void;
    assert_eq!(
        sl_policy_set_event_handler(std::ptr::null_mut(), 1, Some(decide), ud),
        SL_E_INVALID
    );
    assert_eq!(
        sl_policy_set_event_handler(p.0, 0, Some(decide), ud),
        SL_E_INVALID
    );
    assert_eq!(
        sl_policy_set_event_handler(p.0, 0x100, Some(decide), ud),
        SL_E_INVALID
    );
    assert!(last_error().contains("mask"), "{}", last_error());
    assert_eq!(
        sl_policy_set_event_handler(p.0, 0, None, std::ptr::null_mut()),
        SL_OK
    );
}

#[test]
fn racing_thread_cannot_swap_the_executed_program() {
    let prog = probe("execrace", &["-pthread"]);
    let dir = scratch().join("xrace");
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, deny) = (dir.join("okay"), dir.join("deny"));
    for f in [&ok, &deny] {
        if !f.exists() {
            std::fs::copy(&prog, f).unwrap();
        }
    }
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy());
    let r = Rules::new(vec![(SL_EVENT_EXEC, "/xrace/deny", SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_EXEC, &r);
    let (ok, deny) = (ok.to_string_lossy(), deny.to_string_lossy());
    let (mut ran_ok, mut killed) = (0, 0);
    for _ in 0..20 {
        let (child, rd) = p.spawn_captured(&[&prog, &ok, &deny]).unwrap();
        let out = read_all(rd);
        let mut res: sl_result = unsafe { std::mem::zeroed() };
        assert_eq!(sl_wait_result(child.0, &mut res), SL_OK, "{}", last_error());
        assert!(
            !out.contains("/xrace/deny"),
            "the denied program ran: {out}"
        );
        if res.reason == SL_END_KILLED {
            // The swap came after the decision: caught at the exec stop.
            killed += 1;
        } else {
            assert_eq!(out, format!("ran {ok}\n"));
            ran_ok += 1;
        }
    }
    eprintln!("allowed program ran {ran_ok} times, swap caught {killed} times");
    assert!(r.seen().iter().any(|s| s.contains("/xrace/deny")));
}

#[test]
fn refusals_are_reported() {
    let dir = scratch().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file"), "x").unwrap();
    let mut p = Policy::system();
    p.read(dir.to_str().unwrap());
    let r = Rules::new(vec![(SL_EVENT_EXEC, "forbidden", SL_DENY, libc::EPERM)]);
    with_handler(&p, SL_EVENT_EXEC | SL_EVENT_DENIED, &r);
    let script = format!(
        "/bin/echo forbidden; /bin/chmod 600 {}/file; echo done",
        dir.display()
    );
    let (st, out) = sh(&p, &script);
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.contains("done"), "{out}");
    let seen = r.seen();
    let want = format!(
        "denied kind={SL_EVENT_EXEC} nr={} errno={} /bin/echo /bin/echo forbidden (refused by the event callback)",
        libc::SYS_execve,
        libc::EPERM
    );
    assert!(seen.contains(&want), "{seen:?}");
    assert!(
        seen.iter().any(|s| s.starts_with("denied kind=0 ")
            && s.contains(&format!("errno={}", libc::EACCES))
            && s.contains("writable")),
        "{seen:?}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("file")).unwrap().permissions(),
    );
    assert_ne!(mode & 0o777, 0o600);
}

#[test]
fn fifo_open_does_not_block_the_supervisor() {
    let dir = scratch().join("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe");
    if !fifo.exists() {
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }
    let mut p = Policy::system();
    p.write(dir.to_str().unwrap()).timeout_ms(20_000);
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_OPEN, &r);
    let f = fifo.display();
    let (st, out) = sh(&p, &format!("(sleep 0.3; echo through > {f}) & cat {f}"));
    assert_eq!((exited(st), out.as_str()), (Some(0), "through\n"));
}

#[test]
fn many_children_with_handlers_at_once() {
    let p = Policy::system();
    let r = Rules::new(vec![(SL_EVENT_EXEC, "no", SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_EXEC | SL_EVENT_OPEN, &r);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|i| {
                let p = &p;
                s.spawn(move || sh(p, &format!("/bin/echo yes{i}; /bin/echo no{i}; true")))
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            let (st, out) = h.join().unwrap();
            assert_eq!(exited(st), Some(0), "{out}");
            assert!(out.starts_with(&format!("yes{i}\n")), "{out}");
            assert!(!out.contains(&format!("no{i}\n")), "{out}");
        }
    });
}

/// A loopback listener that accepts (and drops) connections until the test ends.
fn listener() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            drop(c);
        }
    });
    port
}

/// Leaked: the rules' patterns are `&'static str`.
fn pat(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

const CONNECT: &str = "import socket, sys\nfor port in sys.argv[1:]:\n    s = socket.socket()\n    try:\n        s.connect(('127.0.0.1', int(port))); print('connected', s.getpeername()[1])\n    except OSError as e: print('errno', e.errno)\n    s.close()";

#[test]
fn connect_allowed_and_denied_by_address() {
    let (a, b, c) = (listener(), listener(), listener());
    let p = Policy::system();
    for port in [a, b] {
        assert_eq!(sl_policy_allow_tcp_connect(p.0, port), SL_OK);
    }
    // `c` is not in the policy: the callback allowing it cannot widen the policy.
    let r = Rules::new(vec![
        (
            SL_EVENT_CONNECT,
            pat(format!("127.0.0.1:{b} ")),
            SL_DENY,
            libc::ENETUNREACH,
        ),
        (
            SL_EVENT_CONNECT,
            pat(format!("127.0.0.1:{c} ")),
            SL_ALLOW,
            0,
        ),
    ]);
    with_handler(&p, SL_EVENT_CONNECT | SL_EVENT_DENIED, &r);
    let (st, out) = p.run(&[
        "python3",
        "-c",
        CONNECT,
        &a.to_string(),
        &b.to_string(),
        &c.to_string(),
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        format!(
            "connected {a}\nerrno {}\nerrno {}\n",
            libc::ENETUNREACH,
            libc::EACCES
        )
    );
    let seen = r.seen();
    for port in [a, b, c] {
        let want = format!("connect 127.0.0.1:{port} family={}", libc::AF_INET);
        assert!(seen.contains(&want), "{want} not in {seen:?}");
    }
    assert!(
        seen.iter().any(
            |s| s.starts_with(&format!("denied kind={SL_EVENT_CONNECT} "))
                && s.contains(&format!("127.0.0.1:{c} "))
                && s.contains("not by the policy")
        ),
        "{seen:?}"
    );
}

#[test]
fn connect_allowed_through_a_destination_rule() {
    let a = listener();
    let p = Policy::system();
    // No port rule: only the destination rule lets the allowed connect through.
    let rule = std::ffi::CString::new(format!("127.0.0.0/8:{a}")).unwrap();
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_CONNECT | SL_EVENT_DENIED, &r);
    let (st, out) = p.run(&["python3", "-c", CONNECT, &a.to_string()]);
    assert_eq!((exited(st), out), (Some(0), format!("connected {a}\n")));
    assert!(r.seen().iter().any(|s| s.contains(&format!(":{a} "))));
}

#[test]
fn connect_denial_is_reported() {
    let a = listener();
    let p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_connect(p.0, a), SL_OK);
    let r = Rules::new(vec![(SL_EVENT_CONNECT, pat(format!(":{a} ")), SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_CONNECT | SL_EVENT_DENIED, &r);
    let (st, out) = p.run(&["python3", "-c", CONNECT, &a.to_string()]);
    assert_eq!(
        (exited(st), out),
        (Some(0), format!("errno {}\n", libc::EACCES))
    );
    let want = format!(
        "denied kind={SL_EVENT_CONNECT} nr={} errno={} 127.0.0.1:{a} family={} (refused by the event callback)",
        libc::SYS_connect,
        libc::EACCES,
        libc::AF_INET
    );
    assert!(r.seen().contains(&want), "{:?}", r.seen());
}

#[test]
fn an_allowed_connect_that_never_completes_stalls_no_other_sandbox() {
    let (_l, _fill, port) = blackhole();
    let mut p = Policy::system();
    p.timeout_ms(20_000);
    let rule = std::ffi::CString::new(format!("127.0.0.1:{port}")).unwrap();
    assert_eq!(sl_policy_allow_connect(p.0, rule.as_ptr()), SL_OK);
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_CONNECT, &r);
    // SO_SNDTIMEO 500 ms: the allowed connect, made by the supervisor, ends
    // with EINPROGRESS as it would natively.
    let code = "import socket, sys, struct\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack('ll', 0, 500000))\nprint('connecting', flush=True)\ntry:\n    s.connect(('127.0.0.1', int(sys.argv[1]))); print('connected')\nexcept OSError as e: print('errno', e.errno)";
    let (a, out) = p
        .spawn_captured(&["python3", "-c", code, &port.to_string()])
        .unwrap();
    assert_eq!(read_line(&out), "connecting");
    std::thread::sleep(Duration::from_millis(100));
    // Meanwhile another sandbox is served at once.
    let t = Instant::now();
    let (st, b) = Policy::system().run(&["/bin/true"]);
    let took = t.elapsed();
    assert_eq!(exited(st), Some(0), "{b}");
    assert!(took < Duration::from_millis(2000), "B took {took:?}");
    assert_eq!(exited(a.wait()), Some(0));
    assert_eq!(read_all(out), format!("errno {}\n", libc::EINPROGRESS));
    assert!(r.seen().iter().any(|s| s.contains(&format!(":{port} "))));
}

#[test]
fn racing_thread_cannot_swap_the_connected_port() {
    let prog = probe("connrace", &["-pthread"]);
    let (ok, deny) = (listener(), listener());
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy());
    // The policy allows both ports: only the callback's decision keeps `deny` out.
    for port in [ok, deny] {
        assert_eq!(sl_policy_allow_tcp_connect(p.0, port), SL_OK);
    }
    let r = Rules::new(vec![(
        SL_EVENT_CONNECT,
        pat(format!(":{deny} ")),
        SL_DENY,
        0,
    )]);
    with_handler(&p, SL_EVENT_CONNECT, &r);
    let (st, out) = p.run(&[&prog, &ok.to_string(), &deny.to_string(), "2000"]);
    assert_eq!(
        exited(st),
        Some(0),
        "the child got connected to the denied port: {out}"
    );
    let n: i32 = out
        .trim()
        .strip_prefix("ok=")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    eprintln!("{}", out.trim());
    assert!(n > 0, "no connect was ever allowed: {out}");
    assert!(
        r.seen().iter().any(|s| s.contains(&format!(":{deny} "))),
        "the race never showed the denied port"
    );
}

/// A TCP port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Binds each "HOST:PORT[/udp]" argument and prints the bound port or the errno.
const BIND: &str = "import socket, sys\nfor a in sys.argv[1:]:\n    host, port = a.split(',')\n    udp = port.endswith('u')\n    fam = socket.AF_INET6 if ':' in host else socket.AF_INET\n    s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)\n    try:\n        s.bind((host, int(port.rstrip('u')))); print('bound', s.getsockname()[1])\n    except OSError as e: print('errno', e.errno)\n    s.close()";

#[test]
fn bind_allowed_and_denied_by_address() {
    let (a, b, c) = (free_port(), free_port(), free_port());
    let p = Policy::system();
    for port in [a, b] {
        assert_eq!(sl_policy_allow_tcp_bind(p.0, port), SL_OK);
    }
    // `c` is not in the policy: the callback allowing it cannot widen the policy.
    let r = Rules::new(vec![
        (
            SL_EVENT_BIND,
            pat(format!("127.0.0.1:{b} ")),
            SL_DENY,
            libc::EADDRNOTAVAIL,
        ),
        (SL_EVENT_BIND, pat(format!("127.0.0.1:{c} ")), SL_ALLOW, 0),
    ]);
    with_handler(&p, SL_EVENT_BIND | SL_EVENT_DENIED, &r);
    let arg = |port: u16| format!("127.0.0.1,{port}");
    let (st, out) = p.run(&["python3", "-c", BIND, &arg(a), &arg(b), &arg(c)]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        format!(
            "bound {a}\nerrno {}\nerrno {}\n",
            libc::EADDRNOTAVAIL,
            libc::EACCES
        )
    );
    let seen = r.seen();
    for port in [a, b, c] {
        let want = format!(
            "bind 127.0.0.1:{port} family={} type={}",
            libc::AF_INET,
            libc::SOCK_STREAM
        );
        assert!(seen.contains(&want), "{want} not in {seen:?}");
    }
    let refused = format!(
        "denied kind={SL_EVENT_BIND} nr={} errno={} 127.0.0.1:{c} family={} type={} (allowed by the event callback but not by the policy's TCP bind ports or bind rules)",
        libc::SYS_bind,
        libc::EACCES,
        libc::AF_INET,
        libc::SOCK_STREAM
    );
    assert!(seen.contains(&refused), "{seen:?}");
    let denied = format!(
        "denied kind={SL_EVENT_BIND} nr={} errno={} 127.0.0.1:{b} family={} type={} (refused by the event callback)",
        libc::SYS_bind,
        libc::EADDRNOTAVAIL,
        libc::AF_INET,
        libc::SOCK_STREAM
    );
    assert!(seen.contains(&denied), "{seen:?}");
}

#[test]
fn bind_event_contents_ipv6_udp_and_ephemeral() {
    let (a, u) = (free_port(), free_port());
    let p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_bind(p.0, 0), SL_OK);
    assert_eq!(sl_policy_allow_udp(p.0, true), SL_OK);
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_BIND | SL_EVENT_CONNECT, &r);
    // TCP port `a` is not in the policy (only 0 = ephemeral is); UDP is any port.
    let (st, out) = p.run(&[
        "python3",
        "-c",
        BIND,
        "::1,0",
        &format!("::1,{a}"),
        &format!("127.0.0.1,{u}u"),
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("bound ") && lines[0] != "bound 0",
        "{out}"
    );
    assert_eq!(lines[1], format!("errno {}", libc::EACCES), "{out}");
    assert_eq!(lines[2], format!("bound {u}"), "{out}");
    let seen = r.seen();
    for want in [
        format!(
            "bind ::1:0 family={} type={}",
            libc::AF_INET6,
            libc::SOCK_STREAM
        ),
        format!(
            "bind ::1:{a} family={} type={}",
            libc::AF_INET6,
            libc::SOCK_STREAM
        ),
        format!(
            "bind 127.0.0.1:{u} family={} type={}",
            libc::AF_INET,
            libc::SOCK_DGRAM
        ),
    ] {
        assert!(seen.contains(&want), "{want} not in {seen:?}");
    }
}

#[test]
fn bind_rule_binds_on_behalf_without_events() {
    let (a, b) = (free_port(), free_port());
    let p = Policy::system();
    let rule = std::ffi::CString::new(format!("127.0.0.0/8:{a}")).unwrap();
    assert_eq!(sl_policy_allow_bind(p.0, rule.as_ptr()), SL_OK);
    let bad = std::ffi::CString::new("127.0.0.1").unwrap();
    assert_eq!(sl_policy_allow_bind(p.0, bad.as_ptr()), SL_E_INVALID);
    assert!(
        last_error().contains("sl_policy_allow_bind"),
        "{}",
        last_error()
    );
    // The rule names 127.0.0.0/8 only: the same port on another address, or
    // another port, is left to Landlock, which has no bind port for them.
    let (st, out) = p.run(&[
        "python3",
        "-c",
        BIND,
        &format!("127.0.0.1,{a}"),
        &format!("0.0.0.0,{a}"),
        &format!("127.0.0.1,{b}"),
    ]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        format!(
            "bound {a}\nerrno {}\nerrno {}\n",
            libc::EACCES,
            libc::EACCES
        )
    );
}

#[test]
fn racing_thread_cannot_swap_the_bound_port() {
    let prog = probe("bindrace", &["-pthread"]);
    let (ok, deny) = (free_port(), free_port());
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy());
    // The policy allows both ports: only the callback's decision keeps `deny` out.
    for port in [ok, deny] {
        assert_eq!(sl_policy_allow_tcp_bind(p.0, port), SL_OK);
    }
    let r = Rules::new(vec![(SL_EVENT_BIND, pat(format!(":{deny} ")), SL_DENY, 0)]);
    with_handler(&p, SL_EVENT_BIND, &r);
    let (st, out) = p.run(&[&prog, &ok.to_string(), &deny.to_string(), "2000"]);
    eprintln!("{}", out.trim());
    assert_eq!(
        exited(st),
        Some(0),
        "a socket got bound to the denied port: {out}"
    );
    let n: i32 = out
        .trim()
        .strip_prefix("ok=")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n > 0, "no bind was ever allowed: {out}");
    assert!(
        r.seen().iter().any(|s| s.contains(&format!(":{deny} "))),
        "the race never showed the denied port"
    );
}

/// Deny-listed calls, made with raw syscall numbers; prints each errno.
const DENY_LIST: &str = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor nr, args in [(101, (0, 0, 0, 0)), (272, (0x10000000,)), (321, (0, 0, 0)), (165, (0, 0, 0, 0, 0)), (425, (1, 0))]:\n    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])\n    print(nr, r, os.strerror(ctypes.get_errno()))";

#[test]
fn deny_list_hits_are_reported_with_the_same_errno() {
    let plain = Policy::system();
    let (st, before) = plain.run(&["python3", "-c", DENY_LIST]);
    assert_eq!(exited(st), Some(0), "{before}");
    assert_eq!(
        before,
        "101 -1 Operation not permitted\n272 -1 Operation not permitted\n\
         321 -1 Operation not permitted\n165 -1 Operation not permitted\n\
         425 -1 Function not implemented\n"
    );
    let p = Policy::system();
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_DENIED, &r);
    let (st, after) = p.run(&["python3", "-c", DENY_LIST]);
    assert_eq!((exited(st), after.as_str()), (Some(0), before.as_str()));
    let seen = r.seen();
    for (nr, name, errno) in [
        (libc::SYS_ptrace, "ptrace", libc::EPERM),
        (libc::SYS_unshare, "unshare", libc::EPERM),
        (libc::SYS_bpf, "bpf", libc::EPERM),
        (libc::SYS_mount, "mount", libc::EPERM),
        (libc::SYS_io_uring_setup, "io_uring_setup", libc::ENOSYS),
    ] {
        let want = format!("denied kind=0 nr={nr} errno={errno}  (on the deny list)");
        assert!(seen.contains(&want), "{want} not in {seen:?}");
        assert!(seen.contains(&format!("name nr={nr} {name}")), "{seen:?}");
    }
}

#[test]
fn deny_list_argument_checks_and_socket_refusals_are_reported() {
    let p = Policy::system();
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_DENIED, &r);
    // clone(CLONE_NEWUSER) through os.unshare's sibling: a raw clone with the flag,
    // TIOCSTI on stdin, and a UDP socket the policy does not allow.
    let script = "import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall(56, ctypes.c_long(0x10000000 | 17), 0, 0, 0, 0)\nprint('clone', r, ctypes.get_errno())\nc = ctypes.c_char(b'x')\nr = libc.ioctl(0, 0x5412, ctypes.byref(c))\nprint('ioctl', r, ctypes.get_errno())\ntry: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nexcept OSError as e: print('udp', e.errno)\nprint('threads ok' if os.fork() else os._exit(0))";
    let (st, out) = p.run(&["python3", "-c", script]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        format!(
            "clone -1 {e}\nioctl -1 {e}\nudp {}\nthreads ok\n",
            libc::EACCES,
            e = libc::EPERM
        )
    );
    let seen = r.seen();
    let has = |pat: &str| seen.iter().any(|s| s.contains(pat));
    assert!(
        has(&format!(
            "nr={} errno={}  (on the deny list: namespace",
            libc::SYS_clone,
            libc::EPERM
        )),
        "{seen:?}"
    );
    assert!(has("TIOCSTI"), "{seen:?}");
    assert!(has("socket refused: UDP"), "{seen:?}");
    assert!(seen.contains(&format!("name nr={} socket", libc::SYS_socket)));
    // A plain fork (clone without namespace flags) is not a refusal.
    assert_eq!(
        seen.iter()
            .filter(|s| s.starts_with(&format!("denied kind=0 nr={} ", libc::SYS_clone)))
            .count(),
        1,
        "{seen:?}"
    );
}

#[test]
fn no_deny_list_reports_without_a_denied_handler() {
    // Exec events only: the deny list stays in the filter (nothing notified),
    // the errno is the same, and no report reaches the callback.
    let p = Policy::system();
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_EXEC, &r);
    let (st, out) = p.run(&["python3", "-c", DENY_LIST]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.starts_with("101 -1 Operation not permitted\n"), "{out}");
    assert!(
        r.seen().iter().all(|s| !s.starts_with("denied")),
        "{:?}",
        r.seen()
    );
}

/// listen() on an unbound socket, then on one bound to `argv[1]`; prints each result.
const LISTEN: &str = "import socket, sys\ns = socket.socket()\ntry: s.listen(); print('unbound', s.getsockname()[1] != 0)\nexcept OSError as e: print('unbound errno', e.errno)\nt = socket.socket()\nt.bind(('127.0.0.1', int(sys.argv[1]))); t.listen(); print('bound listening', t.getsockname()[1])";

#[test]
fn listen_on_an_unbound_socket_needs_the_ephemeral_port() {
    // Landlock does not see the ephemeral port a listen without bind takes.
    let a = free_port();
    let p = Policy::system();
    assert_eq!(sl_policy_allow_tcp_bind(p.0, a), SL_OK);
    let r = Rules::new(vec![]);
    with_handler(&p, SL_EVENT_DENIED, &r);
    let (st, out) = p.run(&["python3", "-c", LISTEN, &a.to_string()]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        format!("unbound errno {}\nbound listening {a}\n", libc::EACCES)
    );
    assert!(
        r.seen().iter().any(|s| s.contains(&format!(
            "nr={} errno={}",
            libc::SYS_listen,
            libc::EACCES
        )) && s.contains("ephemeral")),
        "{:?}",
        r.seen()
    );
    // The same without any event handler.
    let plain = Policy::system();
    assert_eq!(sl_policy_allow_tcp_bind(plain.0, a), SL_OK);
    let (st, out) = plain.run(&["python3", "-c", LISTEN, &a.to_string()]);
    assert_eq!(
        (exited(st), out),
        (
            Some(0),
            format!("unbound errno {}\nbound listening {a}\n", libc::EACCES)
        )
    );
    // With port 0 allowed, it listens on an ephemeral port.
    let q = Policy::system();
    assert_eq!(sl_policy_allow_tcp_bind(q.0, 0), SL_OK);
    assert_eq!(sl_policy_allow_tcp_bind(q.0, a), SL_OK);
    let (st, out) = q.run(&["python3", "-c", LISTEN, &a.to_string()]);
    assert_eq!(
        (exited(st), out),
        (Some(0), format!("unbound True\nbound listening {a}\n"))
    );
}

/// A callback that blocks on every event while the gate is closed.
struct Gate {
    closed: Mutex<bool>,
    cv: std::sync::Condvar,
    calls: std::sync::atomic::AtomicUsize,
}

impl Gate {
    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.cv.notify_all();
    }
}

/// Opens the gate when dropped, so a failing test never leaves the callback blocked.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

unsafe extern "C" fn gated(ev: *mut sl_event, userdata: *mut c_void) -> i32 {
    // SAFETY: userdata is the test's Gate, alive until its child is freed.
    let g = unsafe { &*(userdata as *const Gate) };
    g.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: a valid event for the duration of the call.
    if unsafe { (*ev).kind } == SL_EVENT_DENIED {
        // Reports wait while the gate is closed; decisions (opens) do not.
        let mut closed = g.closed.lock().unwrap();
        while *closed {
            closed = g.cv.wait(closed).unwrap();
        }
    }
    SL_ALLOW
}

/// The program: 20,000 deny-list calls (reports, not waited for) while the
/// host's callback is stuck, then 2,000 opens (events), then exit.
const FLOOD: &str = "import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nfor i in range(20000): libc.ptrace(0, 0, 0, 0)\nok = den = 0\nfor i in range(2000):\n    try: os.close(os.open(sys.argv[1], os.O_RDONLY)); ok += 1\n    except PermissionError: den += 1\nprint(ok, den)";

#[test]
fn a_full_host_socket_neither_hangs_nor_loses_the_exit_report() {
    let dir = scratch().join("flood");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("f");
    std::fs::write(&file, "x").unwrap();
    let g = Gate {
        closed: Mutex::new(true),
        cv: std::sync::Condvar::new(),
        calls: 0.into(),
    };
    let mut p = Policy::system();
    p.read(dir.to_str().unwrap()).timeout_ms(60_000);
    assert_eq!(
        sl_policy_set_event_handler(
            p.0,
            (SL_EVENT_OPEN | SL_EVENT_DENIED) as u32,
            Some(gated),
            &g as *const Gate as *mut c_void
        ),
        SL_OK
    );
    let start = Instant::now();
    let (child, rd) = p
        .spawn_captured(&["python3", "-c", FLOOD, file.to_str().unwrap()])
        .unwrap();
    // Declared after the child, so dropped before it: a failing assertion
    // opens the gate before freeing the child (which waits for the callback).
    let _release = OpenOnDrop(&g);
    let pid = child.pid();
    // The callback is stuck on the first report; the sandbox must still run
    // to its end (its events denied at once, its reports dropped)...
    while alive(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the sandbox waits for the stuck host"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let ran = start.elapsed();
    // ...and other sandboxes are served meanwhile.
    let other = Policy::system();
    let t = Instant::now();
    let (st, out) = other.run(&["/bin/echo", "other"]);
    assert_eq!((exited(st), out.as_str()), (Some(0), "other\n"));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(*g.closed.lock().unwrap(), "the gate opened early");
    // Once the host reads again, the exit report arrives.
    g.open();
    let t = Instant::now();
    let out = read_all(rd);
    assert_eq!(exited(child.wait()), Some(0), "{out}");
    let queued = t.elapsed();
    let calls = g.calls.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "ran {ran:?} with the host stuck; {calls} callbacks; exit report {queued:?} after release"
    );
    assert!(queued < Duration::from_secs(5), "{queued:?}");
    // Every open after the socket filled was denied at once, none hung.
    let counts: Vec<u32> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(counts.len(), 2, "{out}");
    assert_eq!(counts[0] + counts[1], 2000, "{out}");
    assert!(counts[1] > 0, "no open was denied: {out}");
    // Far fewer callbacks than calls: the reports beyond capacity were dropped.
    assert!(calls < 20_000, "{calls}");
    drop(child);
}
