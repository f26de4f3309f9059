//! `sl_child`: a running (or finished) sandbox, and spawning one.

use super::policy::sl_policy;
use super::{boundary, non_null, quiet};
use crate::error::{Code, Error};
use crate::spawn::Child;
use std::ffi::{c_char, c_int, CStr, CString};

/// A sandboxed child started by `sl_spawn`.
///
/// `sl_wait`, `sl_try_wait`, `sl_wait_timeout`, `sl_child_kill` and the getters may
/// be called from different threads at once (a wait in one thread, a kill in
/// another). `sl_child_free` must not run concurrently with any other call on it.
pub struct sl_child {
    pub(crate) inner: Child,
}

/// Collect a NULL-terminated `char *const argv[]`.
///
/// # Safety
/// `argv` is non-NULL and NULL-terminated, each entry a C string.
unsafe fn collect_argv(argv: *const *mut c_char) -> Result<Vec<CString>, Error> {
    const MAX_ARGS: usize = 1 << 20;
    let mut out = Vec::new();
    for i in 0.. {
        if i >= MAX_ARGS {
            return Err(Error::invalid(format!(
                "sl_spawn: argv has more than {MAX_ARGS} entries (missing NULL terminator?)"
            )));
        }
        // SAFETY: within the NULL-terminated array, by contract.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: each entry is a NUL-terminated string, by contract.
        out.push(unsafe { CStr::from_ptr(p) }.to_owned());
    }
    if out.is_empty() {
        return Err(Error::invalid("sl_spawn: argv is empty (argv[0] is NULL)"));
    }
    Ok(out)
}

/// Start `argv[0]` with arguments `argv` in a sandbox described by `policy`.
///
/// `argv` is an execve-style NULL-terminated array. An `argv[0]` without a slash
/// is searched in the PATH of the child's environment (or
/// `/usr/local/bin:/usr/bin:/bin` when it has none), as `execvp` does. The child
/// runs under Landlock and seccomp; it is traced and reaped by the library's
/// supervisor process, never by the host, so a host thread calling `waitpid(-1)`
/// cannot disturb it.
///
/// Returns `SL_OK` and writes `*out` once the program has been executed, or:
/// `SL_E_INVALID` (NULL or empty argument), `SL_E_EXEC` (program not found or not
/// executable, including a Landlock refusal), `SL_E_SETUP` (the child could not
/// confine itself), `SL_E_UNSUPPORTED` (strict policy, kernel lacks a feature),
/// `SL_E_SUPERVISOR`, `SL_E_SYS`. The message says which stage and errno.
/// Nothing is left running on failure. Thread-safe; `policy` is not changed.
#[no_mangle]
pub extern "C" fn sl_spawn(
    policy: *const sl_policy,
    argv: *const *mut c_char,
    out: *mut *mut sl_child,
) -> c_int {
    boundary(|| {
        non_null("sl_spawn", "policy", policy)?;
        non_null("sl_spawn", "argv", argv)?;
        non_null("sl_spawn", "out", out)?;
        // SAFETY: argv is non-NULL and NULL-terminated by contract.
        let args = unsafe { collect_argv(argv)? };
        // SAFETY: non-NULL live handle; spawning only reads it.
        let child = crate::spawn::spawn(unsafe { &(*policy).inner }, args)?;
        // SAFETY: `out` is non-NULL writable storage.
        unsafe { *out = Box::into_raw(Box::new(sl_child { inner: child })) };
        Ok(())
    })
}

/// Borrow a child handle, refusing NULL.
fn handle<'a>(func: &str, c: *const sl_child) -> Result<&'a Child, Error> {
    non_null(func, "child", c)?;
    // SAFETY: non-NULL live handle by contract; `Child` is internally synchronized.
    Ok(unsafe { &(*c).inner })
}

fn store_status(func: &str, status: *mut i32, value: i32) -> Result<(), Error> {
    non_null(func, "status", status)?;
    // SAFETY: non-NULL writable int by contract.
    unsafe { *status = value };
    Ok(())
}

/// Wait until the child has exited and write its raw wait status to `*status`.
///
/// Use `WIFEXITED`/`WEXITSTATUS`/`WIFSIGNALED`/`WTERMSIG` on it. The sandbox ends
/// when its first process exits: anything it left running is killed before
/// `sl_wait` returns, so nothing outlives it. May be called again after the child
/// exited (same status). Returns `SL_OK`, `SL_E_INVALID` (NULL argument) or
/// `SL_E_SUPERVISOR` (the supervisor died; the child was killed with it).
#[no_mangle]
pub extern "C" fn sl_wait(child: *mut sl_child, status: *mut c_int) -> c_int {
    boundary(|| {
        let f = "sl_wait";
        non_null(f, "status", status)?;
        let st = handle(f, child)?.wait()?;
        store_status(f, status, st)
    })
}

/// Like `sl_wait`, but return at once: `SL_E_AGAIN` if the child is still running.
///
/// `*status` is written only when `SL_OK` is returned.
#[no_mangle]
pub extern "C" fn sl_try_wait(child: *mut sl_child, status: *mut c_int) -> c_int {
    boundary(|| {
        let f = "sl_try_wait";
        non_null(f, "status", status)?;
        match handle(f, child)?.wait_timeout(Some(0))? {
            Some(st) => store_status(f, status, st),
            None => Err(Error::new(
                Code::Again,
                "sl_try_wait: the child is still running",
            )),
        }
    })
}

/// Like `sl_wait`, but give up after `timeout_ms` milliseconds with `SL_E_TIMEOUT`.
///
/// A negative `timeout_ms` waits forever. The child keeps running after a timeout.
/// `*status` is written only when `SL_OK` is returned.
#[no_mangle]
pub extern "C" fn sl_wait_timeout(
    child: *mut sl_child,
    timeout_ms: c_int,
    status: *mut c_int,
) -> c_int {
    boundary(|| {
        let f = "sl_wait_timeout";
        non_null(f, "status", status)?;
        let ms = if timeout_ms < 0 {
            None
        } else {
            Some(timeout_ms as u64)
        };
        match handle(f, child)?.wait_timeout(ms)? {
            Some(st) => store_status(f, status, st),
            None => Err(Error::new(
                Code::Timeout,
                format!("sl_wait_timeout: the child is still running after {timeout_ms} ms"),
            )),
        }
    })
}

/// Send signal `sig` to the child.
///
/// `SIGKILL` kills every process of the sandbox, including ones that called
/// `setsid()` or double-forked. Any other signal goes to the first process only.
/// Killing a child that already exited does nothing and returns `SL_OK`.
/// Returns `SL_E_INVALID` for a NULL child or a signal number outside 1..64.
#[no_mangle]
pub extern "C" fn sl_child_kill(child: *mut sl_child, sig: c_int) -> c_int {
    boundary(|| {
        if !(1..=64).contains(&sig) {
            return Err(Error::invalid(format!(
                "sl_child_kill: {sig} is not a signal number"
            )));
        }
        handle("sl_child_kill", child)?.kill(sig)
    })
}

/// The pid of the child's first process, or -1 if `child` is NULL.
#[no_mangle]
pub extern "C" fn sl_child_pid(child: *const sl_child) -> c_int {
    quiet(-1, || handle("sl_child_pid", child).map_or(-1, |c| c.pid()))
}

/// A pidfd for the child's first process, for the host's own poll loop; -1 if NULL.
///
/// It becomes readable when that process has exited (the status may take a
/// moment longer: use `sl_try_wait` then). The fd belongs to the handle: do not
/// close it; it is closed by `sl_child_free`. Never wait on it with `waitid`.
#[no_mangle]
pub extern "C" fn sl_child_pidfd(child: *const sl_child) -> c_int {
    quiet(-1, || {
        handle("sl_child_pidfd", child).map_or(-1, |c| c.pidfd())
    })
}

/// True if the sandbox was killed because its timeout elapsed.
///
/// Meaningful after a wait returned `SL_OK`; false for NULL.
#[no_mangle]
pub extern "C" fn sl_child_timed_out(child: *const sl_child) -> bool {
    quiet(false, || {
        handle("sl_child_timed_out", child).is_ok_and(|c| c.timed_out())
    })
}

/// Free a child handle. NULL is accepted and ignored.
///
/// If the child is still running, the whole sandbox is killed and reaped first:
/// nothing outlives its handle.
#[no_mangle]
pub extern "C" fn sl_child_free(child: *mut sl_child) {
    // Not a `boundary`: freeing must leave the last error message alone.
    quiet((), || {
        if !child.is_null() {
            // SAFETY: a handle from sl_spawn, freed exactly once by contract.
            drop(unsafe { Box::from_raw(child) });
        }
    });
}
