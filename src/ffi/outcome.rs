//! Resource limits and the structured reason a sandbox ended.

use super::child::sl_child;
use super::policy::{policy_mut, sl_policy};
use super::{boundary, non_null};
use crate::error::Error;
use crate::outcome::{End, Limit};
use std::ffi::c_int;

/// Limit: total resident memory of all the sandbox's processes, in bytes (polled every 20 ms).
pub const SL_LIMIT_MEMORY: i32 = 1;
/// Limit: number of live processes in the sandbox (threads not counted). Stops fork bombs.
pub const SL_LIMIT_PROCESSES: i32 = 2;
/// Limit: open files per process (RLIMIT_NOFILE); opening more fails with EMFILE.
pub const SL_LIMIT_OPEN_FILES: i32 = 3;
/// Limit: total CPU time of all the sandbox's processes, in seconds.
pub const SL_LIMIT_CPU_SECONDS: i32 = 4;
/// Limit: largest file a process may write, in bytes (RLIMIT_FSIZE: EFBIG / SIGXFSZ).
pub const SL_LIMIT_FILE_SIZE: i32 = 5;

/// Ended: the first process exited by itself (`exit_code` is valid).
pub const SL_END_EXITED: i32 = 1;
/// Ended: the first process was killed by a signal (`signal` is valid).
pub const SL_END_SIGNALED: i32 = 2;
/// Ended: the host killed the sandbox with `sl_child_kill(c, SIGKILL)`.
pub const SL_END_KILLED: i32 = 3;
/// Ended: the timeout set with `sl_policy_set_timeout_ms` elapsed.
pub const SL_END_TIMEOUT: i32 = 4;
/// Ended: a resource limit was exceeded (`limit` says which `SL_LIMIT_*`).
pub const SL_END_LIMIT: i32 = 5;
/// Ended: a process made a forbidden system call (`syscall` has its number).
pub const SL_END_SECCOMP: i32 = 6;

// Literals for cbindgen; they must match the core enums.
const _: () = {
    assert!(SL_LIMIT_MEMORY == Limit::Memory as i32);
    assert!(SL_LIMIT_PROCESSES == Limit::Processes as i32);
    assert!(SL_LIMIT_OPEN_FILES == Limit::OpenFiles as i32);
    assert!(SL_LIMIT_CPU_SECONDS == Limit::CpuSeconds as i32);
    assert!(SL_LIMIT_FILE_SIZE == Limit::FileSize as i32);
    assert!(SL_END_EXITED == End::Exited as i32);
    assert!(SL_END_SIGNALED == End::Signaled as i32);
    assert!(SL_END_KILLED == End::Killed as i32);
    assert!(SL_END_TIMEOUT == End::Timeout as i32);
    assert!(SL_END_LIMIT == End::Limit as i32);
    assert!(SL_END_SECCOMP == End::Seccomp as i32);
};

/// How a sandbox ended, filled by `sl_wait_result`.
#[repr(C)]
pub struct sl_result {
    /// One of `SL_END_*`.
    pub reason: c_int,
    /// The first process's raw wait status, as `sl_wait` gives it.
    pub status: c_int,
    /// The exit code when the first process exited, else -1.
    pub exit_code: c_int,
    /// The signal that killed the first process, else 0.
    pub signal: c_int,
    /// The first process dumped core.
    pub core_dumped: bool,
    /// With `SL_END_LIMIT`: the `SL_LIMIT_*` exceeded, else 0.
    pub limit: c_int,
    /// With `SL_END_SECCOMP`: the system call number, else -1.
    pub syscall: i64,
    /// Reserved for later fields; zero.
    pub reserved: [i64; 4],
}

/// Limit a resource of the whole sandbox; `value` 0 removes the limit.
///
/// `which` is one of `SL_LIMIT_*`. Exceeding `SL_LIMIT_MEMORY`,
/// `SL_LIMIT_PROCESSES` or `SL_LIMIT_CPU_SECONDS` kills the whole sandbox and
/// `sl_wait_result` reports `SL_END_LIMIT` with the limit. `SL_LIMIT_OPEN_FILES`
/// and `SL_LIMIT_FILE_SIZE` are per-process kernel limits: the call that would
/// exceed them fails. No cgroup or privilege is needed. With
/// `SL_LIMIT_MEMORY`, `sysinfo()` (glibc's `sysconf(_SC_PHYS_PAGES)`) reports
/// the limit as the machine's RAM, and so does `/proc/meminfo` where the
/// supervisor sees opens anyway (`sl_policy_set_proc_view`, a seed, a CPU
/// count or a host name). Returns `SL_OK` or
/// `SL_E_INVALID` (NULL policy, unknown `which`).
#[no_mangle]
pub extern "C" fn sl_policy_set_limit(policy: *mut sl_policy, which: c_int, value: u64) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_limit";
        // SAFETY: NULL or live handle, by contract.
        let p = unsafe { policy_mut(f, policy)? };
        let l = Limit::from_i32(which)
            .ok_or_else(|| Error::invalid(format!("{f}: {which} is not an SL_LIMIT_* value")))?;
        p.set_limit(l, value);
        Ok(())
    })
}

/// Wait until the child has exited, then describe how the sandbox ended.
///
/// Waits like `sl_wait` (and may be mixed with it). Returns `SL_OK` and fills
/// `*out`, `SL_E_INVALID` (NULL argument) or `SL_E_SUPERVISOR`.
#[no_mangle]
pub extern "C" fn sl_wait_result(child: *mut sl_child, out: *mut sl_result) -> c_int {
    boundary(|| {
        let f = "sl_wait_result";
        non_null(f, "child", child)?;
        non_null(f, "out", out)?;
        // SAFETY: non-NULL live handle, by contract.
        let o = unsafe { &(*child).inner }
            .wait_outcome(None)?
            .unwrap_or(crate::spawn::Outcome {
                status: 0,
                end: End::Exited,
                detail: 0,
            });
        let st = o.status;
        let r = sl_result {
            reason: o.end as i32,
            status: st,
            exit_code: if libc::WIFEXITED(st) {
                libc::WEXITSTATUS(st)
            } else {
                -1
            },
            signal: if libc::WIFSIGNALED(st) {
                libc::WTERMSIG(st)
            } else {
                0
            },
            core_dumped: libc::WIFSIGNALED(st) && libc::WCOREDUMP(st),
            limit: if o.end == End::Limit {
                o.detail as i32
            } else {
                0
            },
            syscall: if o.end == End::Seccomp { o.detail } else { -1 },
            reserved: [0; 4],
        };
        // SAFETY: non-NULL writable sl_result, by contract.
        unsafe { out.write(r) };
        Ok(())
    })
}
