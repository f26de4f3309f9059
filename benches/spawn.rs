//! `make bench`: what the sandbox costs, as ratios against a baseline measured
//! in the same run, in the same process, configurations interleaved round-robin
//! (research/spike-spawn-kill-random.md §A/§D: medians on this 2-vCPU VM move by
//! ±20 % between runs, so only within-run comparisons mean anything).
//!
//! Sections (issue 5):
//!   a. spawn+wait of /bin/true and of a static no-op: sandlock vs posix_spawn
//!   b. the same from a host holding 1 GiB of touched memory vs 10 MiB
//!   c. the whole process, timed from outside: sandlock-run --system -- /bin/true vs /bin/true
//!   d. an unmediated syscall (getppid) in the child vs native
//!   e. a mediated syscall (seeded getrandom(16)): cost per call, notifications/s
//!   f. 8 host threads spawning at once: spawns/s vs posix_spawn
//!   g. the /proc view (sl_policy_set_proc_view): stat(), open() and `ls -l
//!      /usr/bin` with the view vs without (the price of path calls done on
//!      the child's behalf)
//!   h. a copy-on-write workdir: 50 `cat` runs under it vs a readable dir
//!   i. exec under full determinism (seed + frozen time): python3 start-up
//!      and a shell loop of 20 `/bin/true` vs the same without determinism
//!      and vs native (the exec stops, cpuid and rdtsc traps)
//!   j. virtual time: a futex wait with an absolute deadline that has passed
//!      (a trace stop), one 1 ms ahead (a trace stop and an exit stop), and an
//!      untimed FUTEX_WAKE (not mediated), frozen time vs no virtual time
//!
//! Environment: SANDLOCK_BENCH_QUICK=1 runs fewer repetitions (a smoke test);
//! SANDLOCK_BENCH_SUPERVISOR=FILE runs another build's supervisor.
//! The supervisor is target/release/libsandlock.so (built by `cargo bench`).

use sandlock::ffi::*;
use std::ffi::{c_char, CString};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// statistics and the report

#[derive(Clone, Copy)]
struct Stat {
    p10: f64,
    p50: f64,
    p90: f64,
}

fn stat(v: &[f64]) -> Stat {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |f: f64| s[((s.len() - 1) as f64 * f).round() as usize];
    Stat {
        p10: q(0.10),
        p50: q(0.50),
        p90: q(0.90),
    }
}

struct Row {
    what: String,
    base: Stat,
    ours: Stat,
    unit: &'static str,
    /// Display: ratio of medians, or the difference, or both.
    target: String,
    ok: Option<bool>,
    extra: String,
}

fn fmt(s: Stat, unit: &str) -> String {
    let (k, u) = match unit {
        "ns" if s.p50 >= 10_000.0 => (1e-3, "µs"),
        "µs" if s.p50 >= 10_000.0 => (1e-3, "ms"),
        _ => (1.0, unit),
    };
    format!("{:.2} {u} ({:.2}–{:.2})", s.p50 * k, s.p10 * k, s.p90 * k)
}

fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "| {:<58} | {:<26} | {:<26} | {:>6} | {:<24} | {:<4} |",
        "measurement", "baseline p50 (p10–p90)", "sandlock p50 (p10–p90)", "ratio", "target", "met"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(60),
        "-".repeat(28),
        "-".repeat(28),
        "-".repeat(8),
        "-".repeat(26),
        "-".repeat(6)
    );
    for r in rows {
        let ratio = r.ours.p50 / r.base.p50;
        println!(
            "| {:<58} | {:<26} | {:<26} | {:>5.2}× | {:<24} | {:<4} |",
            r.what,
            fmt(r.base, r.unit),
            fmt(r.ours, r.unit),
            ratio,
            r.target,
            match r.ok {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "–",
            }
        );
        if !r.extra.is_empty() {
            println!(
                "|   {:<56} |{}|{}|{}|{}|{}|",
                r.extra,
                " ".repeat(28),
                " ".repeat(28),
                " ".repeat(8),
                " ".repeat(26),
                " ".repeat(6)
            );
        }
    }
    println!();
}

/// Run `configs` round-robin: `warmup` untimed rounds, then `reps` timed ones.
/// Each closure returns one sample (any unit). The order rotates every round so
/// that no configuration always follows the same one.
fn round_robin(
    configs: &mut [&mut dyn FnMut() -> f64],
    warmup: usize,
    reps: usize,
) -> Vec<Vec<f64>> {
    let n = configs.len();
    let mut out = vec![Vec::with_capacity(reps); n];
    for r in 0..warmup + reps {
        for k in 0..n {
            let i = (k + r) % n;
            let v = configs[i]();
            if r >= warmup {
                out[i].push(v);
            }
        }
    }
    out
}

fn reps(full: usize) -> usize {
    if std::env::var_os("SANDLOCK_BENCH_QUICK").is_some() {
        (full / 10).max(5)
    } else {
        full
    }
}

// ---------------------------------------------------------------------------
// environment: probes, the supervisor, the CLI

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn work_dir() -> PathBuf {
    let d = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("sandlock-bench");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gcc(out: &Path, args: &[&str]) {
    let st = Command::new("gcc")
        .args(args)
        .arg("-o")
        .arg(out)
        .status()
        .expect("gcc");
    assert!(st.success(), "gcc {args:?} failed");
}

/// The most recently modified file beneath `dir`.
fn newest_source(dir: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        let cand = if p.is_dir() {
            newest_source(&p)
        } else {
            e.metadata().and_then(|m| m.modified()).ok().map(|t| (t, p))
        };
        if let Some(c) = cand {
            if best.as_ref().map_or(true, |b| c.0 > b.0) {
                best = Some(c);
            }
        }
    }
    best
}

struct Env {
    noop: String,
    syscalls: String,
    floor: String,
    cli: String,
    cli_is_packaged: bool,
    lib: PathBuf,
}

fn prepare() -> Env {
    // SANDLOCK_BENCH_SUPERVISOR=FILE measures another build's supervisor
    // (same protocol) against this one's numbers: the before/after of a change.
    if let Some(other) = std::env::var_os("SANDLOCK_BENCH_SUPERVISOR") {
        sandlock::supervisor::link::set_supervisor_path(Path::new(&other));
    }
    let lib = root().join("target/release/libsandlock.so");
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build --release` first (make bench does)",
        lib.display()
    );
    // `cargo bench` rebuilds the rlib this program links, not the cdylib that
    // runs as the supervisor: refuse to measure a stale one.
    let lib_time = std::fs::metadata(&lib).and_then(|m| m.modified()).unwrap();
    if let Some((_, newer)) = newest_source(&root().join("src")).filter(|(t, _)| *t > lib_time) {
        eprintln!(
            "{} is older than {}: run `cargo build --release` first (make bench does)",
            lib.display(),
            newer.display()
        );
        std::process::exit(1);
    }
    if std::env::var_os("SANDLOCK_BENCH_SUPERVISOR").is_none() {
        sandlock::supervisor::link::set_supervisor_path(&lib);
    }
    let w = work_dir();
    let progs = root().join("benches/progs");
    let noop = w.join("noop-static");
    gcc(
        &noop,
        &["-O2", "-static", progs.join("noop.c").to_str().unwrap()],
    );
    let syscalls = w.join("syscalls");
    gcc(
        &syscalls,
        &[
            "-O2",
            "-pthread",
            progs.join("syscalls.c").to_str().unwrap(),
        ],
    );
    let floor = w.join("floor");
    gcc(
        &floor,
        &["-O2", "-pthread", progs.join("floor.c").to_str().unwrap()],
    );
    let packaged = root().join("build/sandlock-run");
    let (cli, cli_is_packaged) = if packaged.exists() {
        (packaged, true)
    } else {
        // The library's SONAME is libsandlock.so.MAJOR: give it that name beside the CLI.
        let so = w.join(format!(
            "libsandlock.so.{}",
            env!("CARGO_PKG_VERSION_MAJOR")
        ));
        let _ = std::fs::remove_file(&so);
        std::os::unix::fs::symlink(&lib, &so).unwrap();
        let cli = w.join("mini_run");
        let inc = format!("-I{}", root().join("include").display());
        let rpath = format!("-Wl,-rpath,{}", w.display());
        gcc(
            &cli,
            &[
                "-O2",
                &inc,
                progs.join("mini_run.c").to_str().unwrap(),
                so.to_str().unwrap(),
                &rpath,
            ],
        );
        (cli, false)
    };
    // Everything in the work dir must be readable inside the sandbox.
    Env {
        noop: noop.to_string_lossy().into_owned(),
        syscalls: syscalls.to_string_lossy().into_owned(),
        floor: floor.to_string_lossy().into_owned(),
        cli: cli.to_string_lossy().into_owned(),
        cli_is_packaged,
        lib,
    }
}

/// The policy used throughout: system directories readable, as `--system`.
fn policy(seed: Option<u64>) -> *mut sl_policy {
    let mut p = std::ptr::null_mut();
    assert_eq!(sl_policy_new(&mut p), SL_OK);
    let w = CString::new(work_dir().to_string_lossy().as_bytes()).unwrap();
    for d in ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"] {
        if Path::new(d).exists() {
            let c = CString::new(d).unwrap();
            assert_eq!(sl_policy_allow_read(p, c.as_ptr()), SL_OK);
        }
    }
    assert_eq!(sl_policy_allow_read(p, w.as_ptr()), SL_OK);
    if let Some(s) = seed {
        assert_eq!(sl_policy_set_random_seed(p, s), SL_OK);
    }
    p
}

/// An execve-style `char *const argv[]` (the strings are never written).
fn cargv(args: &[&str]) -> (Vec<CString>, Vec<*mut c_char>) {
    let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*mut c_char> = owned.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    ptrs.push(std::ptr::null_mut());
    (owned, ptrs)
}

/// sl_spawn + sl_wait + sl_child_free; panics on failure.
fn sl_run(p: *mut sl_policy, argv: &[*mut c_char]) -> i32 {
    let mut c = std::ptr::null_mut();
    let r = sl_spawn(p, argv.as_ptr(), &mut c);
    assert_eq!(
        r,
        SL_OK,
        "sl_spawn: {}",
        unsafe { std::ffi::CStr::from_ptr(sl_last_error_message()) }.to_string_lossy()
    );
    let mut st = 0;
    assert_eq!(sl_wait(c, &mut st), SL_OK);
    sl_child_free(c);
    st
}

/// posix_spawn + waitpid, stdout optionally to `out_fd`.
fn native_run(argv: &[*mut c_char], out_fd: Option<i32>) -> i32 {
    // SAFETY: the posix_spawn objects are initialised before use and destroyed
    // after; argv is NULL-terminated; environ is the process's own.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        if let Some(fd) = out_fd {
            libc::posix_spawn_file_actions_adddup2(&mut fa, fd, 1);
        }
        extern "C" {
            static environ: *const *mut c_char;
        }
        let mut pid = 0;
        let r = libc::posix_spawn(
            &mut pid,
            argv[0],
            &fa,
            std::ptr::null(),
            argv.as_ptr(),
            environ,
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        assert_eq!(r, 0, "posix_spawn");
        let mut st = 0;
        libc::waitpid(pid, &mut st, 0);
        st
    }
}

fn us(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e6
}

/// Run under sandlock with stdout captured; returns the output.
fn sl_output(p: *mut sl_policy, args: &[&str]) -> String {
    let mut fds = [0; 2];
    // SAFETY: room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let mut copy = std::ptr::null_mut();
    assert_eq!(sl_policy_clone(p, &mut copy), SL_OK);
    assert_eq!(sl_policy_set_stdio(copy, -1, fds[1], 2), SL_OK);
    let (_o, argv) = cargv(args);
    let mut c = std::ptr::null_mut();
    assert_eq!(sl_spawn(copy, argv.as_ptr(), &mut c), SL_OK);
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let out = read_fd(fds[0]);
    let mut st = 0;
    assert_eq!(sl_wait(c, &mut st), SL_OK);
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "{args:?}: status {st:#x}"
    );
    sl_child_free(c);
    sl_policy_free(copy);
    out
}

fn native_output(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(o.status.success(), "{args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn read_fd(fd: i32) -> String {
    use std::os::fd::FromRawFd;
    // SAFETY: we own `fd`; the File closes it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut s = String::new();
    std::io::Read::read_to_string(&mut f, &mut s).unwrap();
    s
}

// ---------------------------------------------------------------------------
// (a) spawn cost

fn spawn_cost(env: &Env, rows: &mut Vec<Row>) {
    let p = policy(None);
    let (_t, truev) = cargv(&["/bin/true"]);
    let (_n, noopv) = cargv(&[&env.noop]);
    let mut c1 = || {
        let t = Instant::now();
        native_run(&truev, None);
        us(t)
    };
    let mut c2 = || {
        let t = Instant::now();
        sl_run(p, &truev);
        us(t)
    };
    let mut c3 = || {
        let t = Instant::now();
        native_run(&noopv, None);
        us(t)
    };
    let mut c4 = || {
        let t = Instant::now();
        sl_run(p, &noopv);
        us(t)
    };
    let r = round_robin(&mut [&mut c1, &mut c2, &mut c3, &mut c4], 30, reps(400));
    for (what, b, o) in [
        ("a. spawn+wait /bin/true: sandlock vs posix_spawn", 0, 1),
        ("a. spawn+wait static no-op: sandlock vs posix_spawn", 2, 3),
    ] {
        let (base, ours) = (stat(&r[b]), stat(&r[o]));
        let ratio = ours.p50 / base.p50;
        let delta = ours.p50 - base.p50;
        rows.push(Row {
            what: what.into(),
            base,
            ours,
            unit: "µs",
            target: "≤ 1.3× or ≤ +250 µs".into(),
            ok: Some(ratio <= 1.3 || delta <= 250.0),
            extra: format!("difference of medians: {delta:+.0} µs"),
        });
    }
    sl_policy_free(p);
}

// ---------------------------------------------------------------------------
// (b) host memory: worker processes holding 10 MiB and 1 GiB, driven in turn

const WORKER: &str = "SANDLOCK_BENCH_WORKER";

fn worker_main(mib: usize) {
    let lib = std::env::var_os("SANDLOCK_BENCH_LIB")
        .map(PathBuf::from)
        .unwrap();
    sandlock::supervisor::link::set_supervisor_path(&lib);
    let mut mem = vec![0u8; mib << 20];
    for i in (0..mem.len()).step_by(4096) {
        mem[i] = 1;
    }
    let p = policy(None);
    let (_t, truev) = cargv(&["/bin/true"]);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let t = Instant::now();
        match line.as_str() {
            "s" => {
                sl_run(p, &truev);
            }
            "p" => {
                native_run(&truev, None);
            }
            "f" => {
                // SAFETY: the child only calls execv and _exit (async-signal-safe).
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    unsafe {
                        libc::execv(truev[0], truev.as_ptr() as *const *const c_char);
                        libc::_exit(127);
                    }
                }
                let mut st = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
            }
            _ => break,
        }
        writeln!(out, "{:.3} {}", us(t), mem[mem.len() / 2]).unwrap();
        out.flush().unwrap();
    }
}

struct Worker {
    child: std::process::Child,
    rd: BufReader<std::process::ChildStdout>,
}

impl Worker {
    fn start(mib: usize, lib: &Path) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(WORKER, mib.to_string())
            .env("SANDLOCK_BENCH_LIB", lib)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let rd = BufReader::new(child.stdout.take().unwrap());
        Worker { child, rd }
    }

    fn ask(&mut self, cmd: &str) -> f64 {
        let w = self.child.stdin.as_mut().unwrap();
        writeln!(w, "{cmd}").unwrap();
        w.flush().unwrap();
        let mut line = String::new();
        self.rd.read_line(&mut line).unwrap();
        line.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn host_memory(env: &Env, rows: &mut Vec<Row>) {
    let small = std::cell::RefCell::new(Worker::start(10, &env.lib));
    let big = std::cell::RefCell::new(Worker::start(1024, &env.lib));
    let mut c1 = || small.borrow_mut().ask("s");
    let mut c2 = || big.borrow_mut().ask("s");
    let mut c3 = || small.borrow_mut().ask("p");
    let mut c4 = || big.borrow_mut().ask("p");
    let r = round_robin(&mut [&mut c1, &mut c2, &mut c3, &mut c4], 20, reps(200));
    // fork() as the contrast: it copies the page tables (few rounds, it is slow).
    let mut c5 = || small.borrow_mut().ask("f");
    let mut c6 = || big.borrow_mut().ask("f");
    let f = round_robin(&mut [&mut c5, &mut c6], 2, reps(20));
    let (s_small, s_big) = (stat(&r[0]), stat(&r[1]));
    rows.push(Row {
        what: "b. sandlock spawn+wait, host with 1 GiB touched vs 10 MiB".into(),
        base: s_small,
        ours: s_big,
        unit: "µs",
        target: "≤ 1.1×".into(),
        ok: Some(s_big.p50 / s_small.p50 <= 1.1),
        extra: String::new(),
    });
    rows.push(Row {
        what: "b. (reference) posix_spawn+waitpid, 1 GiB vs 10 MiB".into(),
        base: stat(&r[2]),
        ours: stat(&r[3]),
        unit: "µs",
        target: "–".into(),
        ok: None,
        extra: String::new(),
    });
    rows.push(Row {
        what: "b. (reference) fork+exec+wait, 1 GiB vs 10 MiB".into(),
        base: stat(&f[0]),
        ours: stat(&f[1]),
        unit: "µs",
        target: "–".into(),
        ok: None,
        extra: String::new(),
    });
}

// ---------------------------------------------------------------------------
// (c) the whole process, from outside

fn hyperfine_medians(cmds: &[&str]) -> Option<Vec<f64>> {
    Command::new("hyperfine").arg("--version").output().ok()?;
    let json = work_dir().join("hyperfine.json");
    let runs = reps(200).to_string();
    let st = Command::new("hyperfine")
        .args([
            "-N",
            "--warmup",
            "20",
            "--runs",
            &runs,
            "--style",
            "none",
            "--export-json",
        ])
        .arg(&json)
        .args(cmds)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    if !st.success() {
        return None;
    }
    let text = std::fs::read_to_string(&json).ok()?;
    // Each result has "median": seconds; no JSON dependency for one field.
    let v: Vec<f64> = text
        .match_indices("\"median\":")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest.find([',', '}'])?;
            rest[..end].trim().parse::<f64>().ok()
        })
        .map(|s| s * 1e6)
        .collect();
    (v.len() == cmds.len()).then_some(v)
}

fn whole_process(env: &Env, rows: &mut Vec<Row>) {
    let devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&devnull);
    let (_c, cliv) = cargv(&[&env.cli, "--system", "--", "/bin/true"]);
    let (_t, truev) = cargv(&["/bin/true"]);
    let mut c1 = || {
        let t = Instant::now();
        native_run(&truev, Some(fd));
        us(t)
    };
    let mut c2 = || {
        let t = Instant::now();
        let st = native_run(&cliv, Some(fd));
        assert_eq!(st, 0, "{} failed", env.cli);
        us(t)
    };
    let r = round_robin(&mut [&mut c1, &mut c2], 20, reps(300));
    let (base, ours) = (stat(&r[0]), stat(&r[1]));
    let name = if env.cli_is_packaged {
        "build/sandlock-run"
    } else {
        "a minimal C CLI on the .so (build/sandlock-run not built)"
    };
    let cli_cmd = format!("{} --system -- /bin/true", env.cli);
    let extra = match hyperfine_medians(&[&cli_cmd, "/bin/true"]) {
        Some(v) => format!(
            "hyperfine -N cross-check: {:.0} µs vs {:.0} µs = {:.2}×",
            v[0],
            v[1],
            v[0] / v[1]
        ),
        None => "hyperfine not installed: own fork/exec timer only".into(),
    };
    rows.push(Row {
        what: format!("c. whole process: {name} vs /bin/true"),
        base,
        ours,
        unit: "µs",
        target: "≤ 2×".into(),
        ok: Some(ours.p50 / base.p50 <= 2.0),
        extra,
    });
}

// ---------------------------------------------------------------------------
// (d) unmediated syscall, (e) mediated syscall

fn syscall_costs(env: &Env, rows: &mut Vec<Row>) {
    let plain = policy(None);
    let seeded = policy(Some(42));
    let n = "300000";
    let parse = |s: String| s.trim().parse::<f64>().unwrap();
    // (d) Timed by the child itself (no virtual clock in these policies).
    let mut c1 = || parse(native_output(&[&env.syscalls, "getppid", n]));
    let mut c2 = || parse(sl_output(plain, &[&env.syscalls, "getppid", n]));
    let r = round_robin(&mut [&mut c1, &mut c2], 2, reps(20));
    let (base, ours) = (stat(&r[0]), stat(&r[1]));
    rows.push(Row {
        what: "d. getppid() in the child: sandlock (deny list) vs native".into(),
        base,
        ours,
        unit: "ns",
        target: "≤ +40 ns/call".into(),
        ok: Some(ours.p50 - base.p50 <= 40.0),
        extra: format!(
            "difference of medians: {:+.1} ns per call",
            ours.p50 - base.p50
        ),
    });

    // What the kernel's seccomp entry alone costs here (native, same run): the
    // floor under row d, and whether the speculation mitigation that a filter
    // turns on (SSBD, unless SECCOMP_FILTER_FLAG_SPEC_ALLOW) is part of it.
    let floors = |mode: &str, n: &str| -> Vec<(String, f64)> {
        native_output(&[&env.floor, mode, n])
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    };
    let mut fl: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for _ in 0..reps(10) {
        for (i, (_, v)) in floors("filter", n).into_iter().enumerate().take(3) {
            fl[i].push(v);
        }
    }
    rows.push(Row {
        what: "d. (floor) allow-all seccomp filter vs no filter, native".into(),
        base: stat(&fl[0]),
        ours: stat(&fl[1]),
        unit: "ns",
        target: "–".into(),
        ok: None,
        extra: format!(
            "with SECCOMP_FILTER_FLAG_SPEC_ALLOW: {:.1} ns ({:+.1} ns over no filter)",
            stat(&fl[2]).p50,
            stat(&fl[2]).p50 - stat(&fl[0]).p50
        ),
    });

    // (e) Timed from outside, so that a virtual clock in the child cannot
    // distort it: (run with N calls − run with 0 calls) / N.
    let calls = 20_000usize;
    let (_a, zero) = cargv(&[&env.syscalls, "getrandom", "1", "0"]);
    let cs = calls.to_string();
    let (_b, many) = cargv(&[&env.syscalls, "getrandom", "1", &cs]);
    let per_thread = calls / 4;
    let pts = per_thread.to_string();
    let (_c, many4) = cargv(&[&env.syscalls, "getrandom", "4", &pts]);
    let mut z_n = || {
        let t = Instant::now();
        native_run(&zero, None);
        us(t)
    };
    let mut m_n = || {
        let t = Instant::now();
        native_run(&many, None);
        us(t)
    };
    let mut z_s = || {
        let t = Instant::now();
        sl_run(seeded, &zero);
        us(t)
    };
    let mut m_s = || {
        let t = Instant::now();
        sl_run(seeded, &many);
        us(t)
    };
    let mut m4_s = || {
        let t = Instant::now();
        sl_run(seeded, &many4);
        us(t)
    };
    let r = round_robin(
        &mut [&mut z_n, &mut m_n, &mut z_s, &mut m_s, &mut m4_s],
        2,
        reps(20),
    );
    // Pair each round's runs: per-call = (many - zero) / calls, in ns.
    let per = |m: &[f64], z: &[f64], k: usize| -> Vec<f64> {
        m.iter()
            .zip(z)
            .map(|(m, z)| (m - z) * 1e3 / k as f64)
            .collect()
    };
    let native = stat(&per(&r[1], &r[0], calls));
    let sl1 = stat(&per(&r[3], &r[2], calls));
    let sl4 = stat(&per(&r[4], &r[2], calls));
    rows.push(Row {
        what: "e. seeded getrandom(16), 1 thread: sandlock vs native".into(),
        base: native,
        ours: sl1,
        unit: "ns",
        target: "≤ 3 µs/call".into(),
        ok: Some(sl1.p50 <= 3000.0),
        extra: format!("notifications/s, 1 thread: {:.0}", 1e9 / sl1.p50),
    });
    rows.push(Row {
        what: "e. seeded getrandom(16), 4 threads (per call, wall)".into(),
        base: native,
        ours: sl4,
        unit: "ns",
        target: "–".into(),
        ok: None,
        extra: format!(
            "notifications/s the supervisor sustains, 4 threads: {:.0}",
            1e9 / sl4.p50
        ),
    });
    // The floor: a bare notify round trip (getppid answered with a value, no
    // memory access), supervisor as a thread of the target's process and as a
    // separate process, SYNC_WAKE_UP set. Native, same run.
    let mut nf: Vec<Vec<f64>> = vec![Vec::new(); 2];
    for _ in 0..reps(10) {
        for (i, (_, v)) in floors("notify", "20000").into_iter().enumerate().take(2) {
            nf[i].push(v);
        }
    }
    rows.push(Row {
        what: "e. (floor) bare notify round trip: thread vs separate process".into(),
        base: stat(&nf[0]),
        ours: stat(&nf[1]),
        unit: "ns",
        target: "–".into(),
        ok: None,
        extra: "poll + RECV + SEND only: no memory write, no ID_VALID, no bookkeeping".into(),
    });
    sl_policy_free(plain);
    sl_policy_free(seeded);
}

// ---------------------------------------------------------------------------
// (g) the /proc view

fn proc_view_costs(env: &Env, rows: &mut Vec<Row>) {
    let plain = policy(None);
    let viewed = policy(None);
    assert_eq!(sl_policy_set_proc_view(viewed, true), SL_OK);
    let parse = |s: String| s.trim().parse::<f64>().unwrap();
    for (call, n) in [("stat", "20000"), ("open", "20000")] {
        // Timed by the child itself (no virtual clock in these policies).
        let mut c1 = || parse(sl_output(plain, &[&env.syscalls, call, n]));
        let mut c2 = || parse(sl_output(viewed, &[&env.syscalls, call, n]));
        let r = round_robin(&mut [&mut c1, &mut c2], 2, reps(20));
        let (base, ours) = (stat(&r[0]), stat(&r[1]));
        rows.push(Row {
            what: format!("g. {call}() of a file in the child: proc view vs without"),
            base,
            ours,
            unit: "ns",
            target: "–".into(),
            ok: None,
            extra: format!(
                "difference of medians: {:+.1} µs per call (a notification round trip)",
                (ours.p50 - base.p50) / 1e3
            ),
        });
    }
    // A memory limit alone routes no open through the supervisor (sysinfo
    // only; /proc/meminfo follows the limit where opens are seen anyway).
    let limited = policy(None);
    assert_eq!(
        sl_policy_set_limit(limited, SL_LIMIT_MEMORY, 1 << 30),
        SL_OK
    );
    let mut c1 = || parse(sl_output(plain, &[&env.syscalls, "open", "20000"]));
    let mut c2 = || parse(sl_output(limited, &[&env.syscalls, "open", "20000"]));
    let r = round_robin(&mut [&mut c1, &mut c2], 2, reps(20));
    let (base, ours) = (stat(&r[0]), stat(&r[1]));
    rows.push(Row {
        what: "g. open() with SL_LIMIT_MEMORY vs without".into(),
        base,
        ours,
        unit: "ns",
        target: "–".into(),
        ok: None,
        extra: format!(
            "difference of medians: {:+.1} µs per open",
            (ours.p50 - base.p50) / 1e3
        ),
    });
    sl_policy_free(limited);
    let (_a, ls) = cargv(&["/bin/ls", "-l", "/usr/bin"]);
    let devnull = std::fs::File::create("/dev/null").unwrap();
    let out = std::os::fd::AsRawFd::as_raw_fd(&devnull);
    for p in [plain, viewed] {
        assert_eq!(sl_policy_set_stdio(p, -1, out, out), SL_OK);
    }
    let mut c1 = || {
        let t = Instant::now();
        sl_run(plain, &ls);
        us(t)
    };
    let mut c2 = || {
        let t = Instant::now();
        sl_run(viewed, &ls);
        us(t)
    };
    let r = round_robin(&mut [&mut c1, &mut c2], 2, reps(20));
    let files = std::fs::read_dir("/usr/bin").map_or(0, |d| d.count());
    rows.push(Row {
        what: format!("g. ls -l /usr/bin ({files} entries): proc view vs without"),
        base: stat(&r[0]),
        ours: stat(&r[1]),
        unit: "µs",
        target: "–".into(),
        ok: None,
        extra: "whole run, spawn to exit; without the view no path call is notified".into(),
    });
    sl_policy_free(plain);
    sl_policy_free(viewed);
}

// ---------------------------------------------------------------------------
// (f) 8 threads spawning at once

fn threaded(rows: &mut Vec<Row>) {
    const THREADS: usize = 8;
    let per_thread = if std::env::var_os("SANDLOCK_BENCH_QUICK").is_some() {
        5
    } else {
        25
    };
    struct P(*mut sl_policy);
    // SAFETY: a policy may be spawned from by many threads at once (API contract).
    unsafe impl Sync for P {}
    impl P {
        fn get(&self) -> *mut sl_policy {
            self.0
        }
    }
    let p = P(policy(None));
    let p = &p;
    let run = |sandboxed: bool| -> f64 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let (_t, truev) = cargv(&["/bin/true"]);
                    for _ in 0..per_thread {
                        if sandboxed {
                            sl_run(p.get(), &truev);
                        } else {
                            native_run(&truev, None);
                        }
                    }
                });
            }
        });
        (THREADS * per_thread) as f64 / t.elapsed().as_secs_f64()
    };
    let mut c1 = || run(false);
    let mut c2 = || run(true);
    let r = round_robin(&mut [&mut c1, &mut c2], 1, reps(8));
    let (base, ours) = (stat(&r[0]), stat(&r[1]));
    rows.push(Row {
        what: "f. 8 host threads spawning /bin/true: spawns/s".into(),
        base,
        ours,
        unit: "/s",
        target: "(report)".into(),
        ok: None,
        extra: format!(
            "sandlock reaches {:.0} % of posix_spawn's rate",
            100.0 * ours.p50 / base.p50
        ),
    });
    sl_policy_free(p.get());
}

// ---------------------------------------------------------------------------

/// (h) A copy-on-write workdir: 50 `cat` of a file in it, against the same
/// run with the directory only readable (every path syscall of the sandbox
/// then goes through the supervisor).
fn workdir_cost(rows: &mut Vec<Row>) {
    let dir = work_dir().join("cow-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f"), "x".repeat(4096)).unwrap();
    let d = CString::new(dir.to_string_lossy().as_bytes()).unwrap();
    let plain = policy(None);
    assert_eq!(sl_policy_allow_read(plain, d.as_ptr()), SL_OK);
    assert_eq!(sl_policy_set_cwd(plain, d.as_ptr()), SL_OK);
    let cow = policy(None);
    assert_eq!(sl_policy_set_workdir(cow, d.as_ptr(), SL_COW_ABORT), SL_OK);
    assert_eq!(sl_policy_set_cwd(cow, d.as_ptr()), SL_OK);
    let n = 50;
    let script = format!("for i in $(seq {n}); do cat f; done >/dev/null");
    let (_a, argv) = cargv(&["/bin/sh", "-c", &script]);
    let run = |p| {
        let t = Instant::now();
        assert_eq!(sl_run(p, &argv), 0);
        us(t)
    };
    let mut c1 = || run(plain);
    let mut c2 = || run(cow);
    let r = round_robin(&mut [&mut c1, &mut c2], 3, reps(30));
    let (base, ours) = (stat(&r[0]), stat(&r[1]));
    rows.push(Row {
        what: format!("h. {n}× cat of a file: under a workdir vs readable dir"),
        base,
        ours,
        unit: "µs",
        target: "–".into(),
        ok: None,
        extra: format!(
            "{:+.0} µs per cat (its exec stop and path syscalls through the supervisor)",
            (ours.p50 - base.p50) / n as f64
        ),
    });
    sl_policy_free(plain);
    sl_policy_free(cow);
    let _ = std::fs::remove_dir_all(&dir);
}

/// (i) Exec under full determinism: every exec stop prepares the image
/// (AT_RANDOM, vDSO, CPUID faulting) and glibc's start-up then traps ~43
/// cpuid and 8 rdtsc. python3 start-up and a shell loop of execs, each
/// against the same sandbox without determinism and against native.
fn determinism_exec_cost(rows: &mut Vec<Row>) {
    let plain = policy(None);
    let det = policy(Some(42));
    assert_eq!(
        sl_policy_set_time(det, SL_TIME_FROZEN, 1_700_000_000_000_000_000),
        SL_OK
    );
    let python = ["/usr/bin/python3", "/usr/bin/python3.11"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let n = 20;
    let script = format!("for i in $(seq {n}); do /bin/true; done");
    let mut cases: Vec<(String, Vec<&str>, f64)> = vec![(
        format!("i. sh loop of {n}× /bin/true"),
        vec!["/bin/sh", "-c", &script],
        (n + 2) as f64,
    )];
    if let Some(py) = python {
        cases.insert(
            0,
            (
                "i. python3 -c pass".to_string(),
                vec![py, "-c", "pass"],
                1.0,
            ),
        );
    }
    for (what, args, execs) in cases {
        let (_a, argv) = cargv(&args);
        let mut c1 = || {
            let t = Instant::now();
            assert_eq!(native_run(&argv, None), 0);
            us(t)
        };
        let mut c2 = || {
            let t = Instant::now();
            assert_eq!(sl_run(plain, &argv), 0);
            us(t)
        };
        let mut c3 = || {
            let t = Instant::now();
            assert_eq!(sl_run(det, &argv), 0);
            us(t)
        };
        let r = round_robin(&mut [&mut c1, &mut c2, &mut c3], 5, reps(60));
        let (native, sl, full) = (stat(&r[0]), stat(&r[1]), stat(&r[2]));
        rows.push(Row {
            what: format!("{what}: deterministic vs native"),
            base: native,
            ours: full,
            unit: "µs",
            target: if execs == 1.0 { "≤ 1.2×" } else { "–" }.into(),
            ok: (execs == 1.0).then(|| full.p50 / native.p50 <= 1.2),
            extra: format!(
                "without determinism {:.2}× native; determinism adds {:+.0} µs per exec",
                sl.p50 / native.p50,
                (full.p50 - sl.p50) / execs
            ),
        });
    }
    sl_policy_free(plain);
    sl_policy_free(det);
}

// ---------------------------------------------------------------------------
// (j) timed waits under virtual time

fn timed_wait_cost(env: &Env, rows: &mut Vec<Row>) {
    let plain = policy(Some(7));
    let frozen = policy(Some(7));
    assert_eq!(sl_policy_set_time(frozen, SL_TIME_FROZEN, 0), SL_OK);
    for (mode, calls, what, target) in [
        (
            "timedwait",
            2000usize,
            "j. futex wait, absolute deadline passed: frozen time vs none",
            "–",
        ),
        (
            "timedwait1ms",
            200,
            "j. futex wait with a deadline 1 ms ahead: frozen time vs none",
            "–",
        ),
        (
            "futexwake",
            200_000,
            "j. untimed futex (FUTEX_WAKE): frozen time vs none",
            "≤ +40 ns/call",
        ),
    ] {
        // Timed from outside (the child's clock is virtual): (N − 0) / N.
        let (_a, zero) = cargv(&[&env.syscalls, mode, "0"]);
        let k = calls.to_string();
        let (_b, many) = cargv(&[&env.syscalls, mode, &k]);
        let run = |p: *mut sl_policy, argv: &[*mut c_char]| {
            let t = Instant::now();
            assert_eq!(sl_run(p, argv), 0, "{mode}");
            us(t)
        };
        let mut z_p = || run(plain, &zero);
        let mut m_p = || run(plain, &many);
        let mut z_f = || run(frozen, &zero);
        let mut m_f = || run(frozen, &many);
        let r = round_robin(&mut [&mut z_p, &mut m_p, &mut z_f, &mut m_f], 2, reps(20));
        let per = |m: &[f64], z: &[f64]| -> Vec<f64> {
            m.iter()
                .zip(z)
                .map(|(m, z)| (m - z) * 1e3 / calls as f64)
                .collect()
        };
        let (base, ours) = (stat(&per(&r[1], &r[0])), stat(&per(&r[3], &r[2])));
        rows.push(Row {
            what: what.into(),
            base,
            ours,
            unit: "ns",
            target: target.into(),
            ok: (mode == "futexwake").then_some(ours.p50 - base.p50 <= 40.0),
            extra: format!(
                "{:.2}x, {:+.0} ns per call",
                ours.p50 / base.p50,
                ours.p50 - base.p50
            ),
        });
    }
    sl_policy_free(plain);
    sl_policy_free(frozen);
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "nproc {n}, CPU {cpu}, kernel {}, Landlock ABI {}, features {:#x}",
        kernel.trim(),
        sl_landlock_abi(),
        sl_features()
    )
}

fn main() {
    if let Ok(mib) = std::env::var(WORKER) {
        worker_main(mib.parse().unwrap());
        return;
    }
    // `cargo bench` passes --bench; a filter argument selects sections (a..i).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let t0 = Instant::now();
    let env = prepare();
    println!("sandlock benchmarks: {}", machine());
    println!("every row: configurations interleaved round-robin in this run; p50 with p10–p90");
    let mut rows = Vec::new();
    type Section<'a> = (&'static str, &'a dyn Fn(&mut Vec<Row>));
    let sections: [Section; 10] = [
        ("a", &|r| spawn_cost(&env, r)),
        ("b", &|r| host_memory(&env, r)),
        ("c", &|r| whole_process(&env, r)),
        ("d", &|r| syscall_costs(&env, r)),
        ("e", &|_| {}),
        ("f", &|r| threaded(r)),
        ("g", &|r| proc_view_costs(&env, r)),
        ("h", &|r| workdir_cost(r)),
        ("i", &|r| determinism_exec_cost(r)),
        ("j", &|r| timed_wait_cost(&env, r)),
    ];
    for (name, f) in sections {
        if want(name) || (name == "d" && want("e")) {
            let t = Instant::now();
            f(&mut rows);
            eprintln!("section {name}: {:.1} s", t.elapsed().as_secs_f64());
        }
    }
    print_rows(&rows);
    let missed: Vec<&str> = rows
        .iter()
        .filter(|r| r.ok == Some(false))
        .map(|r| r.what.as_str())
        .collect();
    println!(
        "total {:.0} s; targets missed: {}",
        t0.elapsed().as_secs_f64(),
        if missed.is_empty() {
            "none".into()
        } else {
            missed.join("; ")
        }
    );
    let _ = Duration::ZERO;
}
