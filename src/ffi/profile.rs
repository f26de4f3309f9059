//! Text profiles: a whole `sl_policy` from one TOML document (docs/profile.md).

use super::policy::sl_policy;
use super::{boundary, c_path, c_str, non_null};
use crate::policy::Policy;
use std::ffi::{c_char, c_int};

/// Hand a finished policy to C: written to `*out` only here, after every check.
///
/// # Safety
/// `out` is non-NULL writable storage for one pointer.
unsafe fn publish(out: *mut *mut sl_policy, inner: Policy) {
    // SAFETY: forwarded contract.
    unsafe { *out = Box::into_raw(Box::new(sl_policy { inner })) };
}

/// Build a policy from a text profile (TOML; the format is in docs/profile.md).
///
/// `text` is a NUL-terminated UTF-8 string holding the whole profile, e.g.
/// `read = ["/usr", "/etc"]`, `seed = 42`, `[env] PATH = "/usr/bin"`,
/// `[limits] memory = "512M"`. Every setting is applied with the same
/// validation as its `sl_policy_*` setter, to a new policy that starts empty as
/// from `sl_policy_new`; paths must be absolute and (except `deny`) exist now.
/// Stdio fds are not part of a profile: call `sl_policy_set_stdio` on the result.
///
/// On success returns `SL_OK` and writes a new handle to `*out` (free it with
/// `sl_policy_free`). On failure `*out` is left untouched and no policy exists:
/// never a partial one. Errors: `SL_E_INVALID` for a NULL argument, text that
/// is not valid TOML, an unknown key, a value of the wrong type, or a bad value
/// (a relative or missing path, a bad size, a port above 65535, ...); the
/// message names the line, the column and the key, for example
/// `profile line 3, column 1: key 'raed': unknown key (did you mean 'read'?)`,
/// and `sl_last_errno()` gives the OS errno where there was one (a missing path).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sl_policy_from_string(text: *const c_char, out: *mut *mut sl_policy) -> c_int {
    boundary(|| {
        let f = "sl_policy_from_string";
        // SAFETY: NULL or a NUL-terminated string, by contract.
        let text = unsafe { c_str(f, "text", text)? };
        non_null(f, "out", out)?;
        let p = crate::profile::parse_bytes(text.to_bytes(), "profile")?;
        // SAFETY: `out` is non-NULL writable storage, by contract.
        unsafe { publish(out, p) };
        Ok(())
    })
}

/// Build a policy from the text profile in the file at `path` (see
/// `sl_policy_from_string` and docs/profile.md for the format).
///
/// A relative `path` is taken from the current directory; paths inside the
/// profile must still be absolute. The file must be UTF-8 and at most 1 MiB.
/// Returns `SL_OK` and writes a new handle to `*out`, or `SL_E_INVALID` with
/// `*out` untouched: NULL argument, a file that cannot be read (the message
/// names it, `sl_last_errno()` gives the errno, e.g. `ENOENT`), or any error of
/// `sl_policy_from_string`, whose message then starts with
/// `profile '<path>' line N, column C: key '...'`. Thread-safe.
#[no_mangle]
pub extern "C" fn sl_policy_from_file(path: *const c_char, out: *mut *mut sl_policy) -> c_int {
    boundary(|| {
        let f = "sl_policy_from_file";
        // SAFETY: NULL or a NUL-terminated string, by contract.
        let path = unsafe { c_path(f, "path", path)? };
        non_null(f, "out", out)?;
        let p = crate::profile::load(f, path)?;
        // SAFETY: `out` is non-NULL writable storage, by contract.
        unsafe { publish(out, p) };
        Ok(())
    })
}
