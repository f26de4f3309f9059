//! The C boundary: handle conversion, the thread-local error slot and panic catching.
//!
//! Every `extern "C"` function runs its body inside [`boundary`], which turns a panic
//! into `SL_E_INTERNAL` and records the error for `sl_last_error_message()`.
//! No sandbox logic lives here.
//!
//! The entry points are safe `extern "C"` functions taking raw pointers: C
//! cannot honour Rust's `unsafe`, so each one refuses NULL itself and its doc
//! comment (the header) states what a non-NULL pointer must be.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// Declared in the order the header should read: errors and versions, the policy
// and its settings, then spawning and children (cbindgen follows this order).
mod error;

mod version;

mod policy;

mod determinism;

mod outcome;

mod profile;

mod confine;

mod events;

mod child;

mod cow;

pub use child::*;
pub use confine::*;
pub use cow::*;
pub use determinism::*;
pub use error::*;
pub use events::*;
pub use outcome::*;
pub use policy::*;
pub use profile::*;
pub use version::*;

use crate::error::{Code, Error};
use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Run `body`; store its error (or a caught panic) in the error slot and return the code.
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), Error>) -> i32 {
    error::clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => SL_OK,
        Ok(Err(e)) => {
            let code = e.code as i32;
            error::set(e);
            code
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            error::set(Error::new(
                Code::Internal,
                format!("internal error (bug): {what}"),
            ));
            Code::Internal as i32
        }
    }
}

/// Run a body that cannot fail but must not unwind into C; `fallback` on panic.
pub(crate) fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Borrow a C string argument, refusing NULL with a message naming `func` and `arg`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub(crate) unsafe fn c_str<'a>(func: &str, arg: &str, p: *const c_char) -> Result<&'a CStr, Error> {
    if p.is_null() {
        return Err(Error::invalid(format!("{func}: {arg} is NULL")));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// Same as [`c_str`], as a path.
///
/// # Safety
/// As for [`c_str`].
pub(crate) unsafe fn c_path<'a>(
    func: &str,
    arg: &str,
    p: *const c_char,
) -> Result<&'a Path, Error> {
    // SAFETY: forwarded contract.
    let s = unsafe { c_str(func, arg, p)? };
    Ok(Path::new(OsStr::from_bytes(s.to_bytes())))
}

/// Refuse a NULL handle or out-pointer.
pub(crate) fn non_null<T>(func: &str, arg: &str, p: *const T) -> Result<(), Error> {
    if p.is_null() {
        Err(Error::invalid(format!("{func}: {arg} is NULL")))
    } else {
        Ok(())
    }
}
