//! Version and feature queries.

use super::quiet;
use std::ffi::{c_char, c_int};

/// The library version as "MAJOR.MINOR.PATCH". Static, never NULL.
#[no_mangle]
pub extern "C" fn sl_version() -> *const c_char {
    quiet(c"".as_ptr(), || crate::features::VERSION_CSTR.as_ptr())
}

/// The library version as MAJOR*1000000 + MINOR*1000 + PATCH.
///
/// Compare with `SL_VERSION_NUMBER` from the header to detect a mismatch between
/// the header a program was built with and the library it runs with.
#[no_mangle]
pub extern "C" fn sl_version_number() -> u32 {
    quiet(0, crate::features::version_number)
}

/// Landlock is available (any ABI).
pub const SL_FEATURE_LANDLOCK: u32 = 1;
/// Landlock can restrict truncate (ABI >= 3).
pub const SL_FEATURE_LANDLOCK_TRUNCATE: u32 = 1 << 1;
/// Landlock can restrict TCP bind/connect (ABI >= 4).
pub const SL_FEATURE_LANDLOCK_NET: u32 = 1 << 2;
/// Landlock can scope signals and abstract UNIX sockets (ABI >= 6).
pub const SL_FEATURE_LANDLOCK_SCOPE: u32 = 1 << 3;
/// seccomp user notification is available (needed for a seed).
pub const SL_FEATURE_SECCOMP_NOTIFY: u32 = 1 << 4;
/// The notification fd can be set to synchronous wake-up (Linux >= 6.6): faster.
pub const SL_FEATURE_SYNC_WAKEUP: u32 = 1 << 5;

/// What this kernel can enforce, as `SL_FEATURE_*` bits. Probed once, then cached.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sl_features() -> u32 {
    quiet(0, crate::features::features)
}

/// The Landlock ABI version of this kernel, or 0 if Landlock is unavailable.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sl_landlock_abi() -> c_int {
    quiet(0, crate::features::landlock_abi)
}
