//! The seed's behaviour: getrandom and the random devices give seeded bytes.
mod common;
use common::*;

/// Runs `argv` natively until two runs differ (proves the probe is really random here).
fn assert_native_differs(argv: &[&str]) {
    let first = native(argv);
    let differs = (0..5).any(|_| native(argv) != first);
    assert!(
        differs,
        "{argv:?} printed the same thing natively every time: {first}"
    );
}

fn seeded(seed: u64, argv: &[&str]) -> String {
    let mut p = Policy::system();
    p.read(&scratch().to_string_lossy()).seed(seed);
    let (st, out) = p.run(argv);
    assert_eq!(exited(st), Some(0), "{argv:?}: {out}");
    out
}

/// Native runs differ; two runs with one seed agree; another seed differs.
fn assert_deterministic(argv: &[&str]) -> String {
    assert_native_differs(argv);
    let a = seeded(42, argv);
    let b = seeded(42, argv);
    assert_eq!(a, b, "{argv:?} differs between two runs with one seed");
    let c = seeded(7, argv);
    assert_ne!(a, c, "{argv:?} ignores the seed");
    a
}

#[test]
fn python_urandom_and_random() {
    assert_deterministic(&[
        "python3",
        "-c",
        "import os, random; print(os.urandom(16).hex(), random.random())",
    ]);
}

#[test]
fn getrandom_syscall() {
    let exe = probe("randprobe", &[]);
    let out = assert_deterministic(&[&exe, "getrandom"]);
    assert!(out.starts_with("r=32 "), "{out}");
}

#[test]
fn getrandom_errors_match_the_kernel() {
    let exe = probe("randprobe", &[]);
    let native_out = native(&[&exe, "errors"]);
    let sandboxed = seeded(1, &[&exe, "errors"]);
    assert_eq!(sandboxed, native_out);
    assert_eq!(
        sandboxed.trim(),
        format!(
            "badflags=-1/{} badptr=-1/{} random+insecure=-1/{} zero=0",
            libc::EINVAL,
            libc::EFAULT,
            libc::EINVAL
        )
    );
}

#[test]
fn dev_urandom_by_path_by_shell_redirect_and_random() {
    assert_deterministic(&["sh", "-c", "head -c 64 /dev/urandom | od -x"]);
    assert_deterministic(&["sh", "-c", "head -c 64 < /dev/urandom | od -x"]);
    assert_deterministic(&["sh", "-c", "head -c 32 /dev/random | od -x"]);
    // Symlinks and /proc/self/fd spellings are the same device.
    assert_deterministic(&[
        "sh",
        "-c",
        "exec 3</dev/urandom; head -c 32 /proc/self/fd/3 | od -x",
    ]);
}

#[test]
fn the_device_looks_like_a_device() {
    let exe = probe("randprobe", &[]);
    let out = seeded(3, &[&exe, "device"]);
    let mut lines = out.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("chr=1 rdev=1:9 n=64 "), "{out}");
    assert!(lines.next().unwrap().starts_with("dup n=16 "), "{out}");
    assert_eq!(out, seeded(3, &[&exe, "device"]));
    let random = seeded(3, &[&exe, "device", "/dev/random"]);
    assert!(random.starts_with("chr=1 rdev=1:8 n=64 "), "{random}");
}

#[test]
fn the_stream_never_ends() {
    // 64 MiB in one read call: deterministic, no EOF and no short count.
    let argv = [
        "python3",
        "-c",
        "import hashlib\nd = open('/dev/urandom', 'rb', buffering=0).read(1 << 26)\nprint(len(d), hashlib.sha256(d).hexdigest())",
    ];
    let a = seeded(5, &argv);
    assert!(a.starts_with("67108864 "), "{a}");
    assert_eq!(a, seeded(5, &argv));
    assert_ne!(a, seeded(6, &argv));
}

#[test]
fn running_out_of_reserved_slots_fails_instead_of_leaking_entropy() {
    let exe = probe("randprobe", &[]);
    let out = seeded(9, &[&exe, "exhaust"]);
    assert_eq!(out.trim(), format!("ok=32 fail=8 errno={}", libc::EMFILE));
}
