//! Text profiles (`sl_policy_from_string`, `sl_policy_from_file`, docs/profile.md).
//!
//! - every `sl_policy_*` setter of src/ffi has a profile key, found by reading
//!   the sources, so a new setter without a key fails here;
//! - a profile and the equivalent setter calls give the same policy and the
//!   same behaviour (one probe spawned under both);
//! - bad input names the line and the key and never yields a policy;
//! - the full example of docs/profile.md parses and names every key.

mod common;

use common::{c, last_error, Policy};
use sandlock::ffi::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// A source file or directory: from `$SANDLOCK_SOURCE_DIR` (the copy that
/// tests/unprivileged.sh makes) when it has it, else from the crate.
fn source(rel: &str) -> PathBuf {
    std::env::var_os("SANDLOCK_SOURCE_DIR")
        .map(|d| PathBuf::from(d).join(rel))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel))
}

/// `sl_policy_*` functions that build or free a policy rather than set something.
const NOT_SETTERS: &[&str] = &[
    "sl_policy_new",
    "sl_policy_clone",
    "sl_policy_free",
    "sl_policy_from_string",
    "sl_policy_from_file",
];

/// Setters deliberately without a key, each documented in docs/profile.md.
const NO_KEY: &[(&str, &str)] = &[
    ("sl_policy_set_stdio", "takes fds of the calling process"),
    (
        "sl_policy_set_event_handler",
        "takes a function pointer of the calling process",
    ),
    (
        "sl_policy_clear_env",
        "a profile starts from an empty policy, whose environment is clear",
    ),
];

/// Every `pub extern "C" fn sl_policy_*` in src/ffi.
fn ffi_setters() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(source("src/ffi")).unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in src.lines() {
            if let Some(rest) = line.trim().strip_prefix("pub extern \"C\" fn ") {
                let name = rest.split('(').next().unwrap().trim();
                if name.starts_with("sl_policy_") && !NOT_SETTERS.contains(&name) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out.sort();
    assert!(out.len() >= 15, "found only {out:?}");
    out
}

type Setter = fn(&mut sandlock::policy::Policy);

/// For each setter: a profile using its key, and the same setting made with
/// the Rust setter the C function wraps.
fn key_table() -> Vec<(&'static str, &'static str, Setter)> {
    use sandlock::outcome::Limit;
    use sandlock::policy::Access;
    use std::ffi::OsStr;
    vec![
        ("sl_policy_allow_read", "read = [\"/usr\", \"/tmp\"]", |p| {
            p.allow(Path::new("/usr"), Access::Read).unwrap();
            p.allow(Path::new("/tmp"), Access::Read).unwrap();
        }),
        ("sl_policy_allow_write", "write = [\"/tmp\"]", |p| {
            p.allow(Path::new("/tmp"), Access::Write).unwrap()
        }),
        ("sl_policy_allow_exec", "exec = [\"/usr/bin\"]", |p| {
            p.allow(Path::new("/usr/bin"), Access::Exec).unwrap()
        }),
        ("sl_policy_deny_path", "deny = [\"/etc/shadow\"]", |p| {
            p.deny(Path::new("/etc/shadow")).unwrap()
        }),
        ("sl_policy_set_random_seed", "seed = 0xdeadbeef", |p| {
            p.set_seed(0xdead_beef)
        }),
        (
            "sl_policy_set_env",
            "unset_env = [\"HOME\"]\n[env]\nA = \"1\"\n",
            |p| {
                p.set_env(OsStr::new("A"), Some(OsStr::new("1"))).unwrap();
                p.set_env(OsStr::new("HOME"), None).unwrap();
            },
        ),
        ("sl_policy_inherit_env", "inherit_env = true", |p| {
            p.inherit_env(true)
        }),
        ("sl_policy_set_cwd", "cwd = \"/tmp\"", |p| {
            p.set_cwd(Path::new("/tmp")).unwrap()
        }),
        ("sl_policy_set_timeout_ms", "timeout_ms = 1_500", |p| {
            p.set_timeout_ms(1500)
        }),
        ("sl_policy_set_best_effort", "best_effort = true", |p| {
            p.set_best_effort(true)
        }),
        (
            "sl_policy_allow_tcp_bind",
            "network.tcp_bind = [0, 8080]",
            |p| {
                p.allow_tcp(true, 0);
                p.allow_tcp(true, 8080);
            },
        ),
        (
            "sl_policy_allow_tcp_connect",
            "[network]\ntcp_connect = [443]",
            |p| p.allow_tcp(false, 443),
        ),
        ("sl_policy_allow_udp", "[network]\nudp = true", |p| {
            p.allow_udp = true
        }),
        (
            "sl_policy_allow_connect",
            "[network]\nconnect = [\"10.0.0.0/8:443\", \"127.0.0.1:*\"]",
            |p| {
                p.allow_connect("10.0.0.0/8:443").unwrap();
                p.allow_connect("127.0.0.1:*").unwrap();
            },
        ),
        (
            "sl_policy_allow_bind",
            "[network]\nbind = [\"127.0.0.1:8080\", \"[::]/0:*\"]",
            |p| {
                p.allow_bind("127.0.0.1:8080").unwrap();
                p.allow_bind("[::]/0:*").unwrap();
            },
        ),
        (
            "sl_policy_set_limit",
            "[limits]\nmemory = \"512M\"\nprocesses = 64\nopen_files = 256\n\
             cpu_seconds = 10\nfile_size = 4096\n",
            |p| {
                p.set_limit(Limit::Memory, 512 << 20);
                p.set_limit(Limit::Processes, 64);
                p.set_limit(Limit::OpenFiles, 256);
                p.set_limit(Limit::CpuSeconds, 10);
                p.set_limit(Limit::FileSize, 4096);
            },
        ),
        (
            "sl_policy_set_time",
            "[time]\nmode = \"logical\"\nstart = 2000-01-01T00:00:01.5Z\n",
            |p| p.set_time(3, 946_684_801_500_000_000).unwrap(),
        ),
        ("sl_policy_set_time_step_ns", "time.step_ns = 250", |p| {
            p.set_time_step_ns(250).unwrap()
        }),
        ("sl_policy_set_cpu_count", "cpu_count = 3", |p| {
            p.set_cpu_count(3).unwrap()
        }),
        ("sl_policy_set_hostname", "hostname = \"box-1\"", |p| {
            p.set_hostname(Some(b"box-1")).unwrap()
        }),
        ("sl_policy_set_proc_view", "proc_view = true", |p| {
            p.set_proc_view(true)
        }),
        (
            "sl_policy_set_workdir",
            "[workdir]\npath = \"/tmp\"\nmode = \"keep\"\n",
            |p| p.set_workdir(std::path::Path::new("/tmp"), 3).unwrap(),
        ),
    ]
}

#[test]
fn every_setter_has_a_key() {
    let table = key_table();
    let mut missing = Vec::new();
    for setter in ffi_setters() {
        if NO_KEY.iter().any(|(n, _)| *n == setter) {
            continue;
        }
        let Some((_, text, set)) = table.iter().find(|(n, _, _)| *n == setter) else {
            missing.push(setter);
            continue;
        };
        // The profile gives exactly what the setter gives.
        let from_profile = sandlock::profile::parse(text)
            .unwrap_or_else(|e| panic!("{setter}: {text:?}: {}", e.message));
        let mut by_setter = sandlock::policy::Policy::new();
        set(&mut by_setter);
        assert_eq!(
            format!("{from_profile:?}"),
            format!("{by_setter:?}"),
            "{setter}: the profile {text:?} differs from the setter calls"
        );
        assert_ne!(
            format!("{from_profile:?}"),
            format!("{:?}", sandlock::policy::Policy::new()),
            "{setter}: the profile {text:?} changed nothing"
        );
    }
    assert!(
        missing.is_empty(),
        "setters without a profile key (add one to src/profile.rs, docs/profile.md and \
         key_table here): {missing:?}"
    );
}

/// A profile through the C API: the handle, or (code, message) with `*out` untouched.
fn from_string(text: &[u8]) -> Result<Policy, (i32, String)> {
    common::setup();
    let sentinel = 0x5a5a_usize as *mut sl_policy;
    let mut out = sentinel;
    let text = CString::new(text).unwrap();
    let r = sl_policy_from_string(text.as_ptr(), &mut out);
    if r == SL_OK {
        assert!(!out.is_null() && out != sentinel);
        return Ok(Policy(out));
    }
    assert_eq!(out, sentinel, "*out changed by a failed call");
    Err((r, last_error()))
}

fn from_file(path: &Path) -> Result<Policy, (i32, String, i32)> {
    common::setup();
    let sentinel = 0x5a5a_usize as *mut sl_policy;
    let mut out = sentinel;
    let r = sl_policy_from_file(c(path.to_str().unwrap()).as_ptr(), &mut out);
    if r == SL_OK {
        return Ok(Policy(out));
    }
    assert_eq!(out, sentinel, "*out changed by a failed call");
    Err((r, last_error(), sl_last_errno()))
}

/// Expect SL_E_INVALID naming `line` and every needle.
#[track_caller]
fn bad(text: &str, line: usize, needles: &[&str]) -> String {
    let (code, msg) = match from_string(text.as_bytes()) {
        Ok(_) => panic!("accepted: {text:?}"),
        Err(e) => e,
    };
    assert_eq!(code, SL_E_INVALID, "{msg}");
    assert!(
        msg.starts_with(&format!("profile line {line}, column ")),
        "{text:?}: wrong line in {msg:?}"
    );
    for n in needles {
        assert!(msg.contains(n), "{text:?}: {n:?} not in {msg:?}");
    }
    msg
}

#[test]
fn bad_input_names_line_and_key() {
    // Unknown keys, with a suggestion when one is close.
    bad(
        "seed = 1\nread = [\"/usr\"]\nraed = [\"/etc\"]\n",
        3,
        &[
            "column 1",
            "key 'raed'",
            "unknown key",
            "did you mean 'read'?",
        ],
    );
    bad(
        "[limits]\nmemroy = 5\n",
        2,
        &["'limits.memroy'", "'limits.memory'"],
    );
    bad(
        "[time]\nmode = \"frozen\"\nbegin = 5\n",
        3,
        &["'time.begin'"],
    );
    bad("[sandbox]\nx = 1\n", 1, &["key 'sandbox'", "unknown key"]);
    let m = bad("zzzzzz = 1\n", 1, &["key 'zzzzzz'"]);
    assert!(!m.contains("did you mean"), "{m}");

    // Wrong types.
    bad(
        "\nseed = \"42\"\n",
        2,
        &[
            "column 8",
            "key 'seed'",
            "expected an integer, found a string",
        ],
    );
    bad("read = \"/usr\"\n", 1, &["key 'read'", "expected an array"]);
    bad(
        "read = [\"/usr\", 5]\n",
        1,
        &["column 17", "found an integer"],
    );
    bad("best_effort = 1\n", 1, &["'best_effort'", "boolean"]);
    bad("env = [\"A=1\"]\n", 1, &["'env'", "table"]);
    bad("[env]\nA = 1\n", 2, &["'env.A'", "expected a string"]);
    bad("limits = 5\n", 1, &["'limits'", "expected a table"]);
    bad("timeout_ms = 1.5\n", 1, &["found a float"]);

    // Bad values, checked by the setters.
    let m = bad(
        "read = [\"/usr\"]\nwrite = [\"tmp/x\"]\n",
        2,
        &["key 'write'", "'tmp/x' is not an absolute path"],
    );
    assert!(!m.contains("sl_policy_"), "setter prefix left in {m}");
    bad(
        "exec = [\"/nonexistent-sandlock/bin\"]\n",
        1,
        &["key 'exec'", "No such file or directory"],
    );
    assert_eq!(sl_last_errno(), libc::ENOENT);
    bad("deny = [\"/\"]\n", 1, &["key 'deny'", "cannot deny '/'"]);
    bad(
        "cwd = \"/etc/passwd\"\n",
        1,
        &["key 'cwd'", "not a directory"],
    );
    bad("cpu_count = 5000\n", 1, &["key 'cpu_count'", "5000"]);
    bad(
        "hostname = \"two words\"\n",
        1,
        &["key 'hostname'", "space"],
    );
    bad("[env]\n\"A=B\" = \"x\"\n", 2, &["key 'env.A=B'"]);
    bad(
        "unset_env = [\"X\"]\n[env]\nX = \"1\"\n",
        1,
        &["'unset_env'", "also set in [env]"],
    );
    bad(
        "timeout_ms = -5\n",
        1,
        &["'timeout_ms'", "must not be negative"],
    );
    bad("seed = 18446744073709551616\n", 1, &["'seed'", "too large"]);
    bad(
        "[network]\ntcp_bind = [80, 70000]\n",
        2,
        &["column 17", "'network.tcp_bind'", "70000"],
    );
    bad("[time]\nmode = \"slow\"\n", 2, &["'time.mode'", "'slow'"]);
    bad(
        "[time]\nmode = \"frozen\"\n",
        2,
        &["'time.mode'", "time.start"],
    );
    bad("[time]\nstart = 5\n", 2, &["'time.start'", "time.mode"]);
    bad(
        "[time]\nmode = \"offset\"\nstart = 2000-01-01T00:00:00\n",
        3,
        &["'time.start'", "UTC offset"],
    );
    bad("time.step_ns = 0\n", 1, &["'time.step_ns'"]);

    // Sizes.
    for s in ["\"12XB\"", "\"1.5G\"", "\"M\"", "\"99999999999T\"", "true"] {
        bad(
            &format!("[limits]\nfile_size = 1\nmemory = {s}\n"),
            3,
            &["key 'limits.memory'"],
        );
    }

    // Not TOML at all.
    bad("seed = 1\nseed = 2\n", 2, &["key 'seed'", "duplicate key"]);
    bad(
        "[env]\nA = \"1\"\n[env]\nB = \"2\"\n",
        3,
        &["duplicate key"],
    );
    bad("read = [\"/usr\"\n", 1, &["not valid TOML"]);
    bad("seed = \n", 1, &["not valid TOML"]);
}

#[test]
fn a_late_error_leaves_no_policy() {
    // Valid settings come first; the bad one at the end still yields nothing.
    let text = "read = [\"/usr\"]\nseed = 3\ncwd = \"/tmp\"\n[limits]\nprocesses = 4\n\
                [network]\ntcp_connect = [443]\n[env]\nA = \"1\"\n[time]\nmode = \"bogus\"\n";
    let (code, msg) = from_string(text.as_bytes()).err().unwrap();
    assert_eq!(code, SL_E_INVALID);
    assert!(
        msg.contains("line 11") && msg.contains("time.mode"),
        "{msg}"
    );
}

#[test]
fn non_utf8_and_files() {
    let dir = common::scratch().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();

    let (code, msg) = from_string(b"seed = 1\nhostname = \"b\xffx\"\n")
        .err()
        .unwrap();
    assert_eq!(code, SL_E_INVALID);
    assert!(
        msg.contains("line 2, column 14") && msg.contains("UTF-8"),
        "{msg}"
    );

    let f = dir.join("latin1.toml");
    std::fs::write(&f, b"# caf\xe9\nseed = 1\n").unwrap();
    let (code, msg, _) = from_file(&f).err().unwrap();
    assert_eq!(code, SL_E_INVALID);
    assert!(
        msg.contains(&format!("profile '{}' line 1", f.display())) && msg.contains("UTF-8"),
        "{msg}"
    );

    let f = dir.join("typo.toml");
    std::fs::write(&f, "seed = 1\n\n  raed = [\"/usr\"]\n").unwrap();
    let (_, msg, _) = from_file(&f).err().unwrap();
    assert_eq!(
        msg,
        format!(
            "profile '{}' line 3, column 3: key 'raed': unknown key (did you mean 'read'?)",
            f.display()
        )
    );

    let missing = dir.join("missing.toml");
    let (code, msg, errno) = from_file(&missing).err().unwrap();
    assert_eq!(code, SL_E_INVALID);
    assert_eq!(errno, libc::ENOENT);
    assert!(
        msg.contains("sl_policy_from_file") && msg.contains(&*missing.to_string_lossy()),
        "{msg}"
    );
    let (code, _, errno) = from_file(&dir).err().unwrap();
    assert_eq!((code, errno), (SL_E_INVALID, libc::EISDIR));

    let f = dir.join("ok.toml");
    std::fs::write(&f, "read = [\"/usr\"]\n[limits]\nopen_files = 64\n").unwrap();
    assert!(from_file(&f).is_ok());
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    assert!(from_file(&empty).is_ok());
}

#[test]
fn null_arguments() {
    common::setup();
    let mut out = std::ptr::null_mut();
    let text = c("seed = 1");
    assert_eq!(
        sl_policy_from_string(std::ptr::null(), &mut out),
        SL_E_INVALID
    );
    assert!(last_error().contains("sl_policy_from_string: text is NULL"));
    assert_eq!(
        sl_policy_from_string(text.as_ptr(), std::ptr::null_mut()),
        SL_E_INVALID
    );
    assert!(last_error().contains("sl_policy_from_string: out is NULL"));
    assert_eq!(
        sl_policy_from_file(std::ptr::null(), &mut out),
        SL_E_INVALID
    );
    assert!(last_error().contains("sl_policy_from_file: path is NULL"));
    assert_eq!(
        sl_policy_from_file(c("/tmp/x.toml").as_ptr(), std::ptr::null_mut()),
        SL_E_INVALID
    );
    assert!(last_error().contains("sl_policy_from_file: out is NULL"));
    assert!(out.is_null());
}

/// The full example of docs/profile.md parses, and mentions every key.
#[test]
fn documented_example_is_valid_and_complete() {
    let doc = std::fs::read_to_string(source("docs/profile.md")).unwrap();
    let start = doc
        .find("## A full example")
        .expect("a full example section");
    let block = &doc[start..];
    let body = block
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    let p = from_string(body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    drop(p);
    use sandlock::profile::{LIMIT_KEYS, NETWORK_KEYS, TIME_KEYS, TOP_KEYS};
    for k in TOP_KEYS {
        assert!(
            body.contains(&format!("\n{k} ")) || body.contains(&format!("[{k}]")),
            "{k} is missing from the example"
        );
        assert!(
            doc.contains(&format!("`{k}`")) || doc.contains(&format!("`{k}.")),
            "{k} is missing from the table"
        );
    }
    for (section, keys) in [
        ("limits", LIMIT_KEYS),
        ("network", NETWORK_KEYS),
        ("time", TIME_KEYS),
        ("workdir", sandlock::profile::WORKDIR_KEYS),
    ] {
        for k in keys {
            assert!(
                body.contains(&format!("\n{k} ")),
                "{section}.{k} in example"
            );
            assert!(
                doc.contains(&format!("`{section}.{k}`")),
                "{section}.{k} in the table"
            );
        }
    }
    for (setter, _) in NO_KEY {
        assert!(doc.contains(setter) || *setter == "sl_policy_set_stdio");
    }
    assert!(doc.contains("Stdio"));
}

/// One probe, spawned under a profile and under the same setter calls.
#[test]
fn profile_and_setters_behave_the_same() {
    let dir = common::scratch().join("roundtrip");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret"), "SECRET\n").unwrap();
    std::fs::write(dir.join("open"), "OPEN\n").unwrap();
    let d = dir.to_str().unwrap();
    let system: Vec<&str> = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();

    let probe = format!(
        "cat {d}/secret 2>/dev/null || echo DENIED; cat {d}/open; \
         od -An -N12 -tx1 /dev/urandom; echo \"FOO=$FOO\"; pwd; ulimit -n; uname -n; nproc; \
         date -u +%s"
    );
    let argv = ["/bin/sh", "-c", probe.as_str()];

    // By setters, through the C API.
    let mut by_setters = Policy::empty();
    for s in &system {
        by_setters.read(s);
    }
    by_setters.read(d);
    assert_eq!(
        sl_policy_deny_path(by_setters.0, c(&format!("{d}/secret")).as_ptr()),
        SL_OK
    );
    by_setters.seed(77).timeout_ms(60_000);
    by_setters.env("PATH", "/usr/bin:/bin").env("FOO", "bar");
    assert_eq!(sl_policy_set_cwd(by_setters.0, c(d).as_ptr()), SL_OK);
    assert_eq!(
        sl_policy_set_limit(by_setters.0, SL_LIMIT_OPEN_FILES, 64),
        SL_OK
    );
    assert_eq!(
        sl_policy_set_hostname(by_setters.0, c("profiled").as_ptr()),
        SL_OK
    );
    assert_eq!(sl_policy_set_cpu_count(by_setters.0, 3), SL_OK);
    assert_eq!(
        sl_policy_set_time(by_setters.0, SL_TIME_FROZEN, 946_684_800 * 1_000_000_000),
        SL_OK
    );

    // By a profile file.
    let read: Vec<String> = system
        .iter()
        .map(|s| format!("\"{s}\""))
        .chain([format!("\"{d}\"")])
        .collect();
    let text = format!(
        "read = [{}]\ndeny = [\"{d}/secret\"]\nseed = 77\ncwd = \"{d}\"\n\
         cpu_count = 3\nhostname = \"profiled\"\ntimeout_ms = 60000\n\
         [env]\nPATH = \"/usr/bin:/bin\"\nFOO = \"bar\"\n\
         [limits]\nopen_files = 64\n\
         [time]\nmode = \"frozen\"\nstart = 2000-01-01T00:00:00Z\n",
        read.join(", ")
    );
    let file = dir.join("probe.toml");
    std::fs::write(&file, &text).unwrap();
    let by_profile = from_file(&file).unwrap_or_else(|e| panic!("{e:?}\n{text}"));

    let (st1, out1) = by_setters.run(&argv);
    let (st2, out2) = by_profile.run(&argv);
    assert_eq!(common::exited(st1), Some(0), "{out1}");
    assert_eq!(common::exited(st2), Some(0), "{out2}");
    assert_eq!(
        out1, out2,
        "setters (left) and profile (right) behave differently"
    );
    let lines: Vec<&str> = out2.lines().collect();
    assert_eq!(lines[0], "DENIED", "{out2}");
    assert_eq!(lines[1], "OPEN", "{out2}");
    assert_eq!(lines[3], "FOO=bar", "{out2}");
    assert_eq!(lines[4], d, "{out2}");
    assert_eq!(lines[5], "64", "{out2}");
    assert_eq!(lines[6], "profiled", "{out2}");
    assert_eq!(lines[7], "3", "{out2}");
    assert_eq!(lines[8], "946684800", "{out2}");

    // The seed is really in force: another seed, other bytes.
    let other = from_string(text.replace("seed = 77", "seed = 78").as_bytes()).unwrap();
    let (_, out3) = other.run(&argv);
    assert_ne!(lines[2], out3.lines().nth(2).unwrap_or(""), "{out3}");
}
