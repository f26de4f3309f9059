//! The C API as C and C++ programs see it.
//!
//! The programs in tests/c/ are compiled here against include/sandlock.h and
//! the cdylib that `cargo test` built (target/<profile>/deps/libsandlock.so,
//! found next to this test's executable), as C99 and as C++11 with
//! `-Wall -Wextra -pedantic -Werror`, then run: plainly, under valgrind
//! (skipped with a message when it is missing) and, for some, built with
//! AddressSanitizer. Also: the c-examples, the `sandlock-run` tool, a Python
//! ctypes client, the exported symbols and the SONAME.
//!
//! Sources are read from `$SANDLOCK_SOURCE_DIR` when set (tests/unprivileged.sh
//! runs a copy of this binary as another user), else from the crate directory.
//! Scratch files go to `$TMPDIR/sandlock-c-<pid>-<test>`, removed unless the test fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest any program here may run before the test fails (valgrind is slow).
const DEADLINE: Duration = Duration::from_secs(180);

const WARN: &[&str] = &["-Wall", "-Wextra", "-pedantic", "-Werror"];

fn source_dir() -> PathBuf {
    std::env::var_os("SANDLOCK_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The cdylib built by `cargo test`, beside this test executable.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let lib = exe.parent().unwrap().join("libsandlock.so");
    assert!(
        lib.exists(),
        "{} not found: run this test through `cargo test`, which builds the cdylib into the \
         deps directory",
        lib.display()
    );
    lib
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    C,
    /// A C source compiled as C++ (`g++ -x c++`).
    CAsCxx,
    Cxx,
}

/// A scratch directory for one test, with `lib/libsandlock.so{,.0}` links to the cdylib.
struct Work {
    dir: PathBuf,
    lib: PathBuf,
}

impl Work {
    fn new(name: &str) -> Work {
        let dir = std::env::temp_dir().join(format!("sandlock-c-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lib = dir.join("lib");
        std::fs::create_dir_all(&lib).unwrap_or_else(|e| panic!("mkdir {}: {e}", lib.display()));
        let so = cdylib();
        // The SONAME is libsandlock.so.0: programs linked with -lsandlock need that name.
        for link in [
            "libsandlock.so",
            &format!("libsandlock.so.{}", env!("CARGO_PKG_VERSION_MAJOR")),
        ] {
            std::os::unix::fs::symlink(&so, lib.join(link)).unwrap();
        }
        Work { dir, lib }
    }

    /// Compile `src` (relative to the source dir) into `out`, failing the test on any diagnostic.
    fn compile(&self, lang: Lang, src: &str, out: &str, extra: &[&str], link_lib: bool) -> PathBuf {
        let root = source_dir();
        let exe = self.dir.join(out);
        let mut cmd = match lang {
            Lang::C => {
                let mut c = Command::new("gcc");
                c.arg("-std=c99");
                c
            }
            Lang::CAsCxx => {
                let mut c = Command::new("g++");
                c.args(["-x", "c++", "-std=c++11"]);
                c
            }
            Lang::Cxx => {
                let mut c = Command::new("g++");
                c.arg("-std=c++11");
                c
            }
        };
        cmd.args(WARN)
            .args(["-g", "-O1"])
            .arg("-I")
            .arg(root.join("include"))
            .arg("-I")
            .arg(root.join("tests/c"))
            .arg(root.join(src))
            .arg("-o")
            .arg(&exe)
            .args(extra);
        if link_lib {
            cmd.arg("-L").arg(&self.lib);
            cmd.arg(format!("-Wl,-rpath,{}", self.lib.display()));
            cmd.arg("-lsandlock");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run the compiler: {e}"));
        assert!(
            out.status.success(),
            "compiling {src} failed: {cmd:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        exe
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Run `cmd` to completion, killing it after DEADLINE.
fn run(mut cmd: Command) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    // Drain the pipes on threads so a chatty program cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

fn show(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(exe: &Path, args: &[&Path]) {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{} failed\n{}",
        exe.display(),
        show(&out)
    );
}

fn valgrind(exe: &Path, args: &[&Path]) {
    if !have("valgrind") {
        eprintln!(
            "skipping the valgrind run of {}: valgrind is not installed",
            exe.display()
        );
        return;
    }
    let mut cmd = Command::new("valgrind");
    // See tests/c/check.h: the programs then ask the library for best effort.
    cmd.env("SANDLOCK_TEST_UNDER_VALGRIND", "1");
    cmd.args([
        "--error-exitcode=99",
        "--leak-check=full",
        "--trace-children=no",
        "--child-silent-after-fork=yes",
        "--quiet",
    ])
    .arg(exe)
    .args(args);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "valgrind found errors in {}\n{}",
        exe.display(),
        show(&out)
    );
}

/// Build `src` as C (and as C++ when `also_cxx`), run both, and the C build under valgrind.
fn c_program(
    name: &str,
    src: &str,
    also_cxx: bool,
    extra: &[&str],
    link_lib: bool,
    args: &[&Path],
) {
    let w = Work::new(name);
    let c = w.compile(Lang::C, src, name, extra, link_lib);
    run_ok(&c, args);
    if also_cxx {
        let cxx = w.compile(Lang::CAsCxx, src, &format!("{name}-cxx"), extra, link_lib);
        run_ok(&cxx, args);
    }
    valgrind(&c, args);
}

#[test]
fn api_errors() {
    c_program("api_errors", "tests/c/api_errors.c", true, &[], true, &[]);
}

#[test]
fn version() {
    c_program("version", "tests/c/version.c", true, &[], true, &[]);
}

#[test]
fn spawn_basic() {
    c_program("spawn_basic", "tests/c/spawn_basic.c", true, &[], true, &[]);
}

#[test]
fn events() {
    c_program("events", "tests/c/events.c", true, &[], true, &[]);
}

#[test]
fn dlopen() {
    let so = cdylib();
    let names: Vec<PathBuf> = header_functions().into_iter().map(PathBuf::from).collect();
    let mut args: Vec<&Path> = vec![&so];
    args.extend(names.iter().map(PathBuf::as_path));
    c_program(
        "dlopen",
        "tests/c/dlopen.c",
        true,
        &["-pthread", "-ldl"],
        false,
        &args,
    );
}

#[test]
fn raii_cpp() {
    let w = Work::new("raii");
    let exe = w.compile(Lang::Cxx, "tests/c/raii.cpp", "raii", &[], true);
    run_ok(&exe, &[]);
    valgrind(&exe, &[]);
}

#[test]
fn address_sanitizer() {
    let w = Work::new("asan");
    let asan = ["-fsanitize=address", "-fno-omit-frame-pointer"];
    for prog in ["api_errors", "spawn_basic"] {
        let exe = w.compile(
            Lang::C,
            &format!("tests/c/{prog}.c"),
            &format!("{prog}-asan"),
            &asan,
            true,
        );
        // Proof that the sanitizer is really in the binary.
        let nm = run({
            let mut c = Command::new("nm");
            c.arg(&exe);
            c
        });
        assert!(
            String::from_utf8_lossy(&nm.stdout).contains("__asan_init"),
            "{prog}: no ASan"
        );
        let mut cmd = Command::new(&exe);
        cmd.env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=98",
        );
        let out = run(cmd);
        assert!(out.status.success(), "{prog} under ASan\n{}", show(&out));
    }
}

/// The header alone compiles cleanly in several language modes, included twice.
#[test]
fn header_compiles_everywhere() {
    let w = Work::new("header");
    let tu = w.dir.join("tu.c");
    std::fs::write(
        &tu,
        "#include <sandlock.h>\n#include <sandlock.h>\nint sl_test_dummy;\n",
    )
    .unwrap();
    let include = source_dir().join("include");
    let modes: &[(&str, &[&str])] = &[
        ("gcc", &["-std=c99", "-Wstrict-prototypes", "-Wundef"]),
        ("gcc", &["-std=c11"]),
        ("gcc", &["-std=c17"]),
        ("gcc", &["-std=gnu99"]),
        ("g++", &["-x", "c++", "-std=c++11", "-Wundef"]),
        ("g++", &["-x", "c++", "-std=c++17"]),
        ("g++", &["-x", "c++", "-std=c++20"]),
    ];
    for (cc, flags) in modes {
        let mut cmd = Command::new(cc);
        cmd.args(*flags)
            .args(WARN)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(&include)
            .arg(&tu);
        let out = run(cmd);
        assert!(
            out.status.success(),
            "{cc} {flags:?}: the header does not compile\n{}",
            show(&out)
        );
    }
}

/// c-examples/ compile cleanly as C99 and as C++11 (the Makefile builds them for real).
#[test]
fn examples_compile() {
    let w = Work::new("examples");
    for ex in ["hello", "sandlock-run"] {
        let src = format!("c-examples/{ex}.c");
        w.compile(Lang::C, &src, ex, &[], true);
        if ex != "hello" {
            // hello.c uses string literals in a `char *const argv[]`, which C++ forbids.
            w.compile(Lang::CAsCxx, &src, &format!("{ex}-cxx"), &[], true);
        }
    }
}

fn sandlock_run(exe: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    run(cmd)
}

/// The command-line tool: exit statuses, messages, determinism.
#[test]
fn sandlock_run_cli() {
    let w = Work::new("cli");
    let exe = w.compile(
        Lang::C,
        "c-examples/sandlock-run.c",
        "sandlock-run",
        &[],
        true,
    );

    let out = sandlock_run(&exe, &["--version"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        show(&out)
    );
    let out = sandlock_run(&exe, &["--help"]);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--seed"),
        "{}",
        show(&out)
    );

    // Bad usage: 2 and a usage line.
    for bad in [
        &[][..],
        &["--seed"],
        &["--seed", "x", "--", "true"],
        &["--bogus", "--", "true"],
        &["--timeout", "-1", "--", "true"],
        &["--memory", "12Q", "--", "true"],
        &["--time", "sometimes", "--", "true"],
        &["--tcp-bind", "65536", "--", "true"],
        &["--max-procs", "-3", "--", "true"],
    ] {
        let out = sandlock_run(&exe, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage: sandlock-run"),
            "{bad:?}\n{}",
            show(&out)
        );
    }

    // The child's status is ours; 128+N when it was killed by signal N.
    let out = sandlock_run(&exe, &["--system", "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = sandlock_run(&exe, &["--system", "--", "false"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = sandlock_run(&exe, &["--system", "--", "sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(128 + 9), "{}", show(&out));
    let out = sandlock_run(&exe, &["--system", "--timeout", "0.2", "--", "sleep", "10"]);
    assert_eq!(out.status.code(), Some(124), "{}", show(&out));
    let out = sandlock_run(&exe, &["--system", "--", "sh", "-c", "kill -KILL $$"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sandlock-run: killed by signal 9 (SIGKILL)"),
        "{}",
        show(&out)
    );

    // Setup errors: 125 and the library's message.
    for (args, needle) in [
        (
            &["--system", "--", "/nonexistent/prog"][..],
            "/nonexistent/prog",
        ),
        (&["--read", "relative/dir", "--", "true"], "relative/dir"),
        (
            &["--system", "--cwd", "/nonexistent/dir", "--", "true"],
            "/nonexistent/dir",
        ),
    ] {
        let out = sandlock_run(&exe, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}\n{}", show(&out));
        assert!(
            err.starts_with("sandlock-run: ") && err.contains(needle),
            "{args:?}\n{}",
            show(&out)
        );
    }

    // Environment: PATH only by default; --env adds, --clear-env empties.
    let out = sandlock_run(&exe, &["--system", "--", "/usr/bin/env"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PATH=/usr/local/bin:/usr/bin:/bin\n",
        "{}",
        show(&out)
    );
    let out = sandlock_run(
        &exe,
        &[
            "--system",
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--",
            "/usr/bin/env",
        ],
    );
    let env = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        env.contains("A=1\n") && env.contains("B=x=y\n") && !env.contains("PATH="),
        "{}",
        show(&out)
    );
    let out = sandlock_run(&exe, &["--system", "--clear-env", "--", "/usr/bin/env"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{}", show(&out));

    // Landlock: outside the allowed paths is refused.
    let out = sandlock_run(&exe, &["--system", "--", "cat", "/proc/self/status"]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        show(&out)
    );

    // SIGTERM to sandlock-run reaches the program (which then dies of it: 128+15).
    {
        use std::io::BufRead;
        let mut child = Command::new(&exe)
            .args(["--system", "--", "sh", "-c", "echo ready; exec sleep 30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        let pid = child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        let start = Instant::now();
        let st = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "SIGTERM was not forwarded"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(st.code(), Some(128 + 15), "after SIGTERM: {st}");
    }

    // No leaks or memory errors on the normal, usage-error and setup-error paths.
    // (Best effort and no seed: valgrind 3.19 fails the Landlock and seccomp calls.)
    if have("valgrind") {
        for (args, code) in [
            (
                &[
                    "--best-effort",
                    "--system",
                    "--env",
                    "A=1",
                    "--",
                    "sh",
                    "-c",
                    "exit 3",
                ][..],
                3,
            ),
            (&["--bogus"], 2),
            (&["--best-effort", "--read", "relative", "--", "true"], 125),
            (&["--memory", "12Q", "--", "true"], 2),
            (
                &["--profile", "/nonexistent/profile.toml", "--", "true"],
                125,
            ),
        ] {
            let mut cmd = Command::new("valgrind");
            cmd.args(["--error-exitcode=99", "--leak-check=full", "--quiet"])
                .args(["--trace-children=no"])
                .arg(&exe)
                .args(args);
            let out = run(cmd);
            assert_eq!(
                out.status.code(),
                Some(code),
                "valgrind {args:?}\n{}",
                show(&out)
            );
        }
    } else {
        eprintln!("skipping sandlock-run under valgrind: valgrind is not installed");
    }

    // Exit reasons: a timeout is 124, an exceeded limit 123, each with a line on stderr.
    let start = Instant::now();
    let out = sandlock_run(&exe, &["--system", "--timeout", "1", "--", "sleep", "30"]);
    assert_eq!(out.status.code(), Some(124), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sandlock-run: timed out after 1000 ms"),
        "{}",
        show(&out)
    );
    assert!(start.elapsed() < Duration::from_secs(20), "{}", show(&out));
    let out = sandlock_run(
        &exe,
        &[
            "--system",
            "--max-procs",
            "5",
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9; do sleep 5 & done; wait",
        ],
    );
    assert_eq!(out.status.code(), Some(123), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sandlock-run: process limit exceeded"),
        "{}",
        show(&out)
    );
    // --verbose reports the library's own refusals (here a metadata change
    // outside the writable paths); without it, only the program's own message.
    let chmod = [
        "--system",
        "--verbose",
        "--",
        "sh",
        "-c",
        "chmod 600 /etc/hostname",
    ];
    let out = sandlock_run(&exe, &chmod);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sandlock-run: blocked:"),
        "{}",
        show(&out)
    );
    // --udp, --bind and --connect set the policy; a bad rule is a setup error.
    let udp = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.1', 0)); t = socket.socket(); t.bind(('127.0.0.1', 0)); print('ok')";
    let out = sandlock_run(
        &exe,
        &[
            "--system",
            "--udp",
            "--bind",
            "127.0.0.1:0",
            "--",
            "python3",
            "-c",
            udp,
        ],
    );
    assert_eq!(
        (out.status.code(), &out.stdout[..]),
        (Some(0), &b"ok\n"[..]),
        "{}",
        show(&out)
    );
    let out = sandlock_run(&exe, &["--system", "--", "python3", "-c", udp]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    for bad in [["--bind", "127.0.0.1"], ["--connect", "nowhere:80"]] {
        let out = sandlock_run(&exe, &[bad[0], bad[1], "--", "true"]);
        assert_eq!(out.status.code(), Some(125), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("sl_policy_allow_"), "{}", show(&out));
    }
    // Deny-list hits too, named, with the errno the program sees unchanged.
    let ptrace = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(0, 0, 0, 0), os.strerror(ctypes.get_errno()))";
    let out = sandlock_run(
        &exe,
        &["--system", "--verbose", "--", "python3", "-c", ptrace],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-1 Operation not permitted\n"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("sandlock-run: blocked: ptrace (syscall 101, errno 1): on the deny list\n"),
        "{}",
        show(&out)
    );
    let quiet = ["--system", "--", "sh", "-c", "chmod 600 /etc/hostname"];
    let out = sandlock_run(&exe, &quiet);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("blocked:"),
        "{}",
        show(&out)
    );
    let out = sandlock_run(&exe, &["--memory", "12Q", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--memory"),
        "{}",
        show(&out)
    );

    // A forbidden system call (a 32-bit `int 0x80` getpid) is 122.
    if cfg!(target_arch = "x86_64") {
        let src = w.dir.join("int80.c");
        std::fs::write(
            &src,
            "int main(void) { long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L)); return (int)(r & 1); }\n",
        )
        .unwrap();
        let prog = w.dir.join("int80");
        let mut cc = Command::new("gcc");
        cc.arg(&src).arg("-o").arg(&prog);
        let out = run(cc);
        assert!(out.status.success(), "{}", show(&out));
        let dir = w.dir.to_str().unwrap();
        let out = sandlock_run(
            &exe,
            &["--system", "--read", dir, "--", prog.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(122), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("sandlock-run: forbidden system call 20"),
            "{}",
            show(&out)
        );
    }

    // --seed: same bytes and a frozen clock at 2000-01-01, twice.
    let det = |extra: &[&str]| {
        let mut a = vec!["--system", "--seed", "1"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[
            "--",
            "sh",
            "-c",
            "head -c 16 /dev/urandom | od -x; date +%s",
        ]);
        let out = sandlock_run(&exe, &a);
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = det(&[]);
    assert_eq!(first, det(&[]), "two runs with --seed 1 differ");
    assert!(first.ends_with("\n946684800\n"), "{first}");
    assert!(
        det(&["--time", "frozen@1000000000"]).ends_with("\n1000000000\n"),
        "--time frozen@SECONDS"
    );
    // An explicit --time real keeps the real clock.
    let real: u64 = det(&["--time", "real"])
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(real > 1_600_000_000, "{real}");
    let out = sandlock_run(
        &exe,
        &[
            "--system",
            "--seed",
            "1",
            "--cpus",
            "3",
            "--",
            "sh",
            "-c",
            "nproc; hostname",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "3\nsandlock\n",
        "{}",
        show(&out)
    );

    // --profile: the policy starts from the file; other options apply on top.
    let profile = w.dir.join("profile.toml");
    let dirs: Vec<&str> = ["/usr", "/lib", "/lib64", "/bin", "/etc"]
        .into_iter()
        .filter(|d| Path::new(d).exists())
        .collect();
    std::fs::write(
        &profile,
        format!(
            "read = {dirs:?}\nhostname = \"fromprofile\"\n\n[env]\nPATH = \"/usr/bin:/bin\"\nA = \"1\"\n"
        ),
    )
    .unwrap();
    let profile_s = profile.to_str().unwrap();
    let out = sandlock_run(
        &exe,
        &[
            "--env",
            "B=2",
            "--profile",
            profile_s,
            "--",
            "sh",
            "-c",
            "hostname; echo $A$B",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fromprofile\n12\n",
        "{}",
        show(&out)
    );
    let bad = w.dir.join("bad.toml");
    std::fs::write(&bad, "read = [\"/usr\"]\nseed = 1\nraed = [\"/etc\"]\n").unwrap();
    let out = sandlock_run(&exe, &["--profile", bad.to_str().unwrap(), "--", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{}", show(&out));
    assert!(
        err.starts_with("sandlock-run: ") && err.contains("line 3") && err.contains("raed"),
        "{}",
        show(&out)
    );

    // Seeded runs repeat; another seed differs.
    let probe = ["--", "sh", "-c", "head -c 32 /dev/urandom | od -An -tx1"];
    let seeded = |seed: &str| {
        let mut a = vec!["--system", "--seed", seed];
        a.extend_from_slice(&probe);
        let out = sandlock_run(&exe, &a);
        assert!(out.status.success(), "{}", show(&out));
        out.stdout
    };
    let a = seeded("42");
    assert!(!a.is_empty());
    assert_eq!(a, seeded("42"), "two runs with --seed 42 differ");
    assert_ne!(a, seeded("7"), "--seed 7 gives the same bytes as --seed 42");
}

/// `sandlock-run --learn`: the printed flags let the program run again
/// (without --system), and without one of them it is refused.
#[test]
fn sandlock_run_learn() {
    let w = Work::new("learn");
    let exe = w.compile(
        Lang::C,
        "c-examples/sandlock-run.c",
        "sandlock-run",
        &[],
        true,
    );
    let prog = ["/bin/sh", "-c", "cat /etc/hostname"];
    let mut args = vec!["--learn", "--"];
    args.extend_from_slice(&prog);
    let learned = sandlock_run(&exe, &args);
    assert!(learned.status.success(), "{}", show(&learned));
    let err = String::from_utf8_lossy(&learned.stderr).into_owned();
    let line = err
        .lines()
        .find(|l| l.starts_with("sandlock-run --"))
        .unwrap_or_else(|| panic!("no learned flags\n{}", show(&learned)))
        .to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.last(), Some(&"--"), "{line}");
    let flags = &words[1..words.len() - 1];
    assert!(
        flags.windows(2).any(|f| f == ["--read", "/etc/hostname"]),
        "{line}"
    );
    assert!(
        flags.windows(2).any(|f| f == ["--exec", "/bin/sh"]),
        "{line}"
    );
    assert!(!line.contains("/dev/null"), "{line}");
    // Deterministic: the same line again, and into --learn-out.
    let again = sandlock_run(&exe, &args);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&line),
        "{line}\n{}",
        show(&again)
    );
    let out_file = w.dir.join("learned.txt");
    let mut a = vec!["--learn-out", out_file.to_str().unwrap(), "--"];
    a.extend_from_slice(&prog);
    let out = sandlock_run(&exe, &a);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sandlock-run --"));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        format!("{line}\n")
    );

    // The learned flags alone: the same output.
    let mut a = flags.to_vec();
    a.push("--");
    a.extend_from_slice(&prog);
    let out = sandlock_run(&exe, &a);
    assert!(out.status.success(), "{a:?}\n{}", show(&out));
    assert_eq!(out.stdout, learned.stdout, "{a:?}\n{}", show(&out));

    // Without the flag for /etc/hostname: refused.
    let pos = flags
        .windows(2)
        .position(|f| f == ["--read", "/etc/hostname"])
        .unwrap();
    let mut a: Vec<&str> = flags[..pos].to_vec();
    a.extend_from_slice(&flags[pos + 2..]);
    a.push("--");
    a.extend_from_slice(&prog);
    let out = sandlock_run(&exe, &a);
    assert_ne!(out.status.code(), Some(0), "{a:?}\n{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{a:?}\n{}",
        show(&out)
    );

    // Writes: refused in learn mode without --write, yet learned (as the
    // directory, since the file could not be created).
    let dir = w.dir.join("out");
    std::fs::create_dir(&dir).unwrap();
    let dir_s = dir.to_str().unwrap();
    let script = format!("echo hi > {dir_s}/f");
    let out = sandlock_run(&exe, &["--learn", "--", "sh", "-c", &script]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!dir.join("f").exists());
    assert!(
        err.contains(&format!(" --write {dir_s} ")),
        "{}",
        show(&out)
    );
    // With --write, the write happens and the file itself is learned.
    let out = sandlock_run(
        &exe,
        &["--learn", "--write", dir_s, "--", "sh", "-c", &script],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(" --write {dir_s}/f ")),
        "{}",
        show(&out)
    );

    // Relative paths are resolved against the program's working directory.
    let out = sandlock_run(
        &exe,
        &["--learn", "--cwd", "/etc", "--", "cat", "./hostname"],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" --read /etc/hostname "),
        "{}",
        show(&out)
    );

    // No leaks or memory errors. Under valgrind an event handler cannot be
    // set up (no seccomp user notification): the setup-error path, 125.
    if have("valgrind") {
        let out_file = w.dir.join("valgrind.txt");
        let mut cmd = Command::new("valgrind");
        cmd.args(["--error-exitcode=99", "--leak-check=full", "--quiet"])
            .args(["--trace-children=no"])
            .arg(&exe)
            .args(["--best-effort", "--learn", "--verbose", "--learn-out"])
            .arg(&out_file)
            .arg("--")
            .args(prog);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(125), "valgrind\n{}", show(&out));
    } else {
        eprintln!("skipping sandlock-run --learn under valgrind: valgrind is not installed");
    }
    // The whole learn run (callback, recording, printing) under ASan and LeakSanitizer.
    let asan = w.compile(
        Lang::C,
        "c-examples/sandlock-run.c",
        "sandlock-run-asan",
        &["-fsanitize=address,undefined", "-fno-omit-frame-pointer"],
        true,
    );
    let mut cmd = Command::new(&asan);
    cmd.env(
        "ASAN_OPTIONS",
        "detect_leaks=1:abort_on_error=0:exitcode=98",
    )
    .env("UBSAN_OPTIONS", "halt_on_error=1:exitcode=97")
    .args(["--learn", "--verbose", "--cwd", "/etc", "--"])
    .args(["sh", "-c", "cat ./hostname /nonexistent; ls /etc/ssl > x"]);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2), "ASan\n{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(" --read /etc/hostname ") && err.contains(" --write /etc "),
        "ASan\n{}",
        show(&out)
    );
}

/// `sandlock-run --learn` also records connects (as `--connect ADDR:PORT`),
/// binds (`--tcp-bind PORT`) and deny-list hits (a `# refused` line): the
/// learned flags run the program again with the same output, and without the
/// connect or the bind flag it is refused.
#[test]
fn sandlock_run_learn_network() {
    let w = Work::new("learn-net");
    let exe = w.compile(
        Lang::C,
        "c-examples/sandlock-run.c",
        "sandlock-run",
        &[],
        true,
    );
    // A loopback server made here, answering every connection.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in server.incoming().flatten() {
            let _ = std::io::Write::write_all(&mut c, b"hello\n");
        }
    });
    let bind_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let script = "import socket, sys, ctypes\n\
        try: s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); print(s.makefile().readline().strip())\n\
        except OSError as e: print('connect errno', e.errno)\n\
        try: b = socket.socket(); b.bind(('127.0.0.1', int(sys.argv[2]))); print('bound')\n\
        except OSError as e: print('bind errno', e.errno)\n\
        libc = ctypes.CDLL(None, use_errno=True); print('ptrace', libc.ptrace(0, 0, 0, 0), ctypes.get_errno())";
    let (p, b) = (port.to_string(), bind_port.to_string());
    let prog = ["python3", "-c", script, &p, &b];
    let mut args = vec!["--learn", "--"];
    args.extend_from_slice(&prog);
    let learned = sandlock_run(&exe, &args);
    assert!(learned.status.success(), "{}", show(&learned));
    assert_eq!(
        String::from_utf8_lossy(&learned.stdout),
        "hello\nbound\nptrace -1 1\n",
        "{}",
        show(&learned)
    );
    let err = String::from_utf8_lossy(&learned.stderr).into_owned();
    assert!(
        err.contains("# refused (no flag allows it): ptrace: on the deny list\n"),
        "{}",
        show(&learned)
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("sandlock-run --"))
        .unwrap_or_else(|| panic!("no learned flags\n{}", show(&learned)))
        .to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    let flags = &words[1..words.len() - 1];
    let connect = format!("127.0.0.1:{port}");
    let pair = |f: &[&str], a: &str, b: &str| f.windows(2).position(|w| w == [a, b]);
    assert!(pair(flags, "--connect", &connect).is_some(), "{line}");
    assert!(pair(flags, "--tcp-bind", &b).is_some(), "{line}");
    assert!(!line.contains("--udp"), "{line}");

    let run_with = |f: &[&str]| {
        let mut a = f.to_vec();
        a.push("--");
        a.extend_from_slice(&prog);
        sandlock_run(&exe, &a)
    };
    let out = run_with(flags);
    assert!(out.status.success(), "{line}\n{}", show(&out));
    assert_eq!(out.stdout, learned.stdout, "{line}\n{}", show(&out));
    for (flag, value, refused) in [
        ("--connect", connect.as_str(), "connect errno 13\nbound\n"),
        ("--tcp-bind", b.as_str(), "hello\nbind errno 13\n"),
    ] {
        let pos = pair(flags, flag, value).unwrap();
        let mut less: Vec<&str> = flags[..pos].to_vec();
        less.extend_from_slice(&flags[pos + 2..]);
        let out = run_with(&less);
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(refused),
            "without {flag} {value}\n{}",
            show(&out)
        );
    }
}

#[test]
fn python_ctypes() {
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| have(p));
    let Some(python) = python else {
        eprintln!("skipping the ctypes test: python3 is not installed");
        return;
    };
    let mut cmd = Command::new(python);
    cmd.arg(source_dir().join("tests/ctypes_test.py"))
        .arg(cdylib());
    let out = run(cmd);
    assert!(out.status.success(), "ctypes client failed\n{}", show(&out));
}

/// The names declared as functions in include/sandlock.h.
fn header_functions() -> BTreeSet<String> {
    let h = std::fs::read_to_string(source_dir().join("include/sandlock.h")).unwrap();
    let mut set = BTreeSet::new();
    for line in h
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('*'))
    {
        if let Some(i) = line.find("sl_") {
            let rest = &line[i..];
            if let Some(j) = rest.find('(') {
                let name = &rest[..j];
                if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    set.insert(name.to_string());
                }
            }
        }
    }
    assert!(
        set.len() > 20,
        "found only {} functions in the header: {set:?}",
        set.len()
    );
    set
}

/// The library exports exactly the header's functions (plus its private `sl__` entry
/// point), nothing without the `sl_` prefix.
#[test]
fn exported_symbols() {
    let mut cmd = Command::new("nm");
    cmd.args(["-D", "--defined-only", "--format=posix"])
        .arg(cdylib());
    let out = run(cmd);
    assert!(out.status.success(), "{}", show(&out));
    let mut exported = BTreeSet::new();
    let mut foreign = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if name.starts_with("sl__") {
            continue;
        } else if name.starts_with("sl_") {
            exported.insert(name.to_string());
        } else if !name.is_empty() {
            foreign.push(name.to_string());
        }
    }
    assert!(
        foreign.is_empty(),
        "exported symbols without the sl_ prefix: {foreign:?}"
    );
    let declared = header_functions();
    assert_eq!(
        exported, declared,
        "exported (left) vs declared in the header (right)"
    );
}

#[test]
fn soname() {
    let mut cmd = Command::new("readelf");
    cmd.arg("-d").arg(cdylib());
    let out = run(cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(
        "Library soname: [libsandlock.so.{}]",
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert!(text.contains(&want), "no `{want}` in readelf -d:\n{text}");
    // Executable (it runs as the supervisor) and not unloadable (-z nodelete).
    assert!(
        text.contains("NODELETE"),
        "the library is not linked -z nodelete:\n{text}"
    );
}

/// tests/c/api_errors.c calls every function of the header (with NULL and bad input
/// where it has any): a new entry point needs its checks there.
#[test]
fn api_errors_covers_every_function() {
    let src = std::fs::read_to_string(source_dir().join("tests/c/api_errors.c")).unwrap();
    let missing: Vec<_> = header_functions()
        .into_iter()
        .filter(|f| !src.contains(&format!("{f}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "tests/c/api_errors.c does not exercise {missing:?}: add NULL/bad-input checks"
    );
}

/// `sandlock-run --workdir DIR [--dry-run]`: the dry run lists the changes
/// and leaves DIR alone; without it, exit 0 commits and exit 1 does not.
#[test]
fn sandlock_run_workdir() {
    let w = Work::new("workdir");
    let exe = w.compile(
        Lang::C,
        "c-examples/sandlock-run.c",
        "sandlock-run",
        &[],
        true,
    );
    let d = std::env::temp_dir().join(format!("sandlock-cli-cow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("old.txt"), "old\n").unwrap();
    std::fs::write(d.join("sub/edit.txt"), "1\n").unwrap();
    let ds = d.to_str().unwrap();
    let script = "cd \"$0\" && echo new > new.txt && rm old.txt && echo 2 >> sub/edit.txt && mkdir made && cat sub/edit.txt";
    let run = |extra: &[&str], code: &str| {
        let mut args = vec!["--system", "--workdir", ds];
        args.extend_from_slice(extra);
        let s = format!("{script}; exit {code}");
        args.extend_from_slice(&["--", "/bin/sh", "-c", &s, ds]);
        sandlock_run(&exe, &args)
    };
    let out = run(&["--dry-run"], "0");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n");
    let want = format!("A {ds}/made\nA {ds}/new.txt\nD {ds}/old.txt\nM {ds}/sub/edit.txt\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), want);
    assert!(d.join("old.txt").exists() && !d.join("new.txt").exists());
    let out = run(&[], "1");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(d.join("old.txt").exists() && !d.join("new.txt").exists());
    let out = run(&[], "0");
    assert!(out.status.success(), "{}", show(&out));
    assert!(!d.join("old.txt").exists() && d.join("made").is_dir());
    assert_eq!(
        std::fs::read_to_string(d.join("sub/edit.txt")).unwrap(),
        "1\n2\n"
    );
    // Usage and setup errors.
    let out = sandlock_run(&exe, &["--system", "--dry-run", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = sandlock_run(&exe, &["--system", "--workdir", "rel", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an absolute path"));
    let out = sandlock_run(
        &exe,
        &["--system", "--write", ds, "--workdir", ds, "--", "true"],
    );
    assert_eq!(out.status.code(), Some(125), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("also writable"));
    std::fs::remove_dir_all(&d).unwrap();
}
