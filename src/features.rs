//! What this kernel can enforce, probed once, and the library version.

use once_cell::sync::Lazy;
use std::ffi::CStr;

pub static VERSION_CSTR: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("version string"),
    };

const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

pub const VERSION_MAJOR: u32 = parse(env!("CARGO_PKG_VERSION_MAJOR"));
pub const VERSION_MINOR: u32 = parse(env!("CARGO_PKG_VERSION_MINOR"));
pub const VERSION_PATCH: u32 = parse(env!("CARGO_PKG_VERSION_PATCH"));

pub fn version_number() -> u32 {
    VERSION_MAJOR * 1_000_000 + VERSION_MINOR * 1000 + VERSION_PATCH
}

static LANDLOCK_ABI: Lazy<i32> = Lazy::new(|| {
    // Tests of old-kernel behaviour pretend to have a lower ABI (never a higher one).
    let cap = std::env::var("SANDLOCK_TEST_MAX_LANDLOCK_ABI")
        .ok()
        .and_then(|v| v.parse::<i32>().ok());
    kernel_landlock_abi().min(cap.unwrap_or(i32::MAX))
});

fn kernel_landlock_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: the version query takes no pointer and has no side effect.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        0
    } else {
        v as i32
    }
}

/// The kernel's Landlock ABI, 0 when Landlock is missing or disabled.
pub fn landlock_abi() -> i32 {
    *LANDLOCK_ABI
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    // SAFETY: uname NUL-terminates release.
    let rel = unsafe { CStr::from_ptr(u.release.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let maj: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let min: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (maj, min) >= (major, minor)
}

static FEATURES: Lazy<u32> = Lazy::new(|| {
    use crate::ffi::*;
    let abi = landlock_abi();
    let mut f = 0;
    if abi >= 1 {
        f |= SL_FEATURE_LANDLOCK;
    }
    if abi >= 3 {
        f |= SL_FEATURE_LANDLOCK_TRUNCATE;
    }
    if abi >= 4 {
        f |= SL_FEATURE_LANDLOCK_NET;
    }
    if abi >= 6 {
        f |= SL_FEATURE_LANDLOCK_SCOPE;
    }
    if crate::seccomp::notify::notify_supported() {
        f |= SL_FEATURE_SECCOMP_NOTIFY;
        if kernel_at_least(6, 6) {
            f |= SL_FEATURE_SYNC_WAKEUP;
        }
    }
    f
});

/// `SL_FEATURE_*` bits for this kernel.
pub fn features() -> u32 {
    *FEATURES
}
