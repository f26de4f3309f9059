//! Error codes and the thread-local last-error slot.

use crate::error::{Code, Error};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

/// Success.
pub const SL_OK: i32 = 0;
/// An argument was NULL or invalid; the message names it.
pub const SL_E_INVALID: i32 = -1;
/// Memory could not be allocated.
pub const SL_E_NOMEM: i32 = -2;
/// The kernel cannot enforce what the policy asks (strict mode), or lacks a feature.
pub const SL_E_UNSUPPORTED: i32 = -3;
/// A system call failed in the library; `sl_last_errno()` has the errno.
pub const SL_E_SYS: i32 = -4;
/// Sandbox setup failed in the child before exec (Landlock, seccomp, cwd, fds).
pub const SL_E_SETUP: i32 = -5;
/// The program could not be executed (not found, not executable, refused by Landlock).
pub const SL_E_EXEC: i32 = -6;
/// `sl_try_wait`: the child is still running. Not a failure.
pub const SL_E_AGAIN: i32 = -7;
/// `sl_wait_timeout`: the child did not exit in time. Not a failure.
pub const SL_E_TIMEOUT: i32 = -8;
/// The supervisor process died or could not be started; the child is gone.
pub const SL_E_SUPERVISOR: i32 = -9;
/// A bug in the library (a caught panic). Please report it with the message.
pub const SL_E_INTERNAL: i32 = -10;

// The C constants are literals (cbindgen emits them as-is); they must match the core codes.
const _: () = {
    assert!(SL_E_INVALID == Code::Invalid as i32);
    assert!(SL_E_NOMEM == Code::NoMem as i32);
    assert!(SL_E_UNSUPPORTED == Code::Unsupported as i32);
    assert!(SL_E_SYS == Code::Sys as i32);
    assert!(SL_E_SETUP == Code::Setup as i32);
    assert!(SL_E_EXEC == Code::Exec as i32);
    assert!(SL_E_AGAIN == Code::Again as i32);
    assert!(SL_E_TIMEOUT == Code::Timeout as i32);
    assert!(SL_E_SUPERVISOR == Code::Supervisor as i32);
    assert!(SL_E_INTERNAL == Code::Internal as i32);
};

struct Slot {
    message: CString,
    errno: i32,
}

thread_local! {
    static LAST: RefCell<Slot> = RefCell::new(Slot { message: CString::default(), errno: 0 });
}

pub(crate) fn clear() {
    let _ = LAST.try_with(|s| {
        let mut s = s.borrow_mut();
        s.message = CString::default();
        s.errno = 0;
    });
}

pub(crate) fn set(e: Error) {
    let message = CString::new(e.message.replace('\0', "\\0")).unwrap_or_default();
    let _ = LAST.try_with(|s| {
        let mut s = s.borrow_mut();
        s.message = message;
        s.errno = e.errno;
    });
}

/// The message of the last failed `sl_*` call on this thread.
///
/// Never NULL: an empty string when the last call succeeded. The text names the
/// argument, path or system call and the errno. The pointer stays valid until the
/// next `sl_*` call on the same thread. Thread-safe (the slot is per thread).
#[no_mangle]
pub extern "C" fn sl_last_error_message() -> *const c_char {
    super::quiet(c"".as_ptr(), || {
        LAST.try_with(|s| s.borrow().message.as_ptr())
            .unwrap_or(c"".as_ptr())
    })
}

/// The OS errno behind the last failed `sl_*` call on this thread, or 0 if there was none.
///
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sl_last_errno() -> c_int {
    super::quiet(0, || LAST.try_with(|s| s.borrow().errno).unwrap_or(0))
}

/// A static, human-readable name for an `SL_OK` / `SL_E_*` code.
///
/// Returns "unknown error code" for values outside the set. Never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn sl_strerror(code: c_int) -> *const c_char {
    super::quiet(c"unknown error code".as_ptr(), || {
        if code == SL_OK {
            return c"success".as_ptr();
        }
        Code::from_i32(code).map_or(c"unknown error code".as_ptr(), |c| c.describe().as_ptr())
    })
}
