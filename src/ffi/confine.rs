//! Self-confinement: a policy applied to the calling process itself.

use super::policy::sl_policy;
use super::{boundary, non_null};
use std::ffi::c_int;

/// Confine the CALLING PROCESS ITSELF with `policy`. IRREVERSIBLE.
///
/// **There is no way back**: after `SL_OK` this process, every thread in it
/// (see below) and everything it starts later can never again open files
/// outside the policy's path rules, bind or connect TCP ports it does not
/// allow, or make the system calls of the sandbox's deny list (`ptrace`,
/// `mount`, `bpf`, `perf_event_open`, `io_uring`, namespaces, ... fail with
/// `EPERM` or `ENOSYS`). Meant for a host that drops its own rights once
/// start-up is done. Nothing is undone by freeing the policy.
///
/// What is applied: `PR_SET_NO_NEW_PRIVS`; the policy's Landlock ruleset (read,
/// write, exec and denied paths, TCP ports, and the signal and abstract-socket
/// scopes, so the process can no longer signal processes started before this
/// call, nor reach abstract UNIX sockets outside it); the seccomp deny-list
/// filter of `sl_spawn`, on every thread (`SECCOMP_FILTER_FLAG_TSYNC`); and the
/// per-process limits `SL_LIMIT_OPEN_FILES` and `SL_LIMIT_FILE_SIZE` (soft =
/// hard, so they cannot be raised again). Threads: with Landlock ABI 8 or later
/// (`LANDLOCK_RESTRICT_SELF_TSYNC`) the Landlock rules cover every thread.
/// Older kernels can apply them only to the calling thread and the threads it
/// creates afterwards: in strict mode this function then refuses to run in a
/// process that already has other threads (`SL_E_UNSUPPORTED`); in best-effort
/// mode it confines the calling thread and its future threads only.
///
/// Refused, before anything is applied, with `SL_E_INVALID` and a message
/// naming each setting: whatever needs the sandbox supervisor or concerns only
/// a spawned child: a random seed, virtual time and time step, CPU count, host
/// name, timeout, `SL_LIMIT_MEMORY`, `SL_LIMIT_PROCESSES`,
/// `SL_LIMIT_CPU_SECONDS`, environment, cwd and stdio settings. Also
/// `SL_E_INVALID` for a NULL policy or a limit above the current hard limit;
/// `SL_E_UNSUPPORTED`, in strict mode, when the kernel cannot enforce the
/// policy (as for `sl_spawn`: no Landlock, Landlock ABI < 6) or, see above,
/// other threads without TSYNC.
///
/// Atomic: on any error the process is left as it was (at most
/// `no_new_privs` is set). The whole domain and filter are first tried in a
/// short-lived child process, so kernel refusals such as the limit of 16
/// nested Landlock domains are met before the caller changes. Only if the
/// kernel then refuses Landlock after accepting the filter (not seen in
/// practice) does `SL_E_SYS` say the process is partly confined.
///
/// Spawning after confinement is not supported: a sandbox supervisor started
/// by the confined process inherits the deny list, which forbids the `ptrace`
/// it needs.
///
/// Thread-safety: do not call it from several threads at once. It may be called
/// again later to narrow the rights further (Landlock nests at most 16 domains).
/// The policy is only read, so threads may spawn from it meanwhile. Returns
/// `SL_OK` or a negative `SL_E_*` code as above.
#[no_mangle]
pub extern "C" fn sl_confine_self(policy: *const sl_policy) -> c_int {
    boundary(|| {
        non_null("sl_confine_self", "policy", policy)?;
        // SAFETY: non-NULL live handle, by contract; only read.
        crate::confine::confine_self(unsafe { &(*policy).inner })
    })
}
