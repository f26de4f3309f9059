//! `sl_policy`: what a sandbox may do. Setters validate at once and name the bad argument.

use super::{boundary, c_path, c_str, non_null};
use crate::error::Error;
use crate::policy::{Access, Policy};
use std::ffi::{c_char, c_int, OsStr};
use std::os::unix::ffi::OsStrExt;

/// A sandbox policy: paths, seed, environment, stdio, limits.
///
/// Create with `sl_policy_new`, free with `sl_policy_free`. A policy is read, never
/// changed, by `sl_spawn`, so one policy can start many children from many threads
/// at once. Setters must not run concurrently with other calls on the same policy.
pub struct sl_policy {
    pub(crate) inner: Policy,
}

/// Borrow the policy behind a handle, refusing NULL.
///
/// # Safety
/// `p` is NULL or a live handle from `sl_policy_new`.
pub(crate) unsafe fn policy_mut<'a>(
    func: &str,
    p: *mut sl_policy,
) -> Result<&'a mut Policy, Error> {
    non_null(func, "policy", p)?;
    // SAFETY: non-NULL and, per the API contract, a live handle not used concurrently.
    Ok(unsafe { &mut (*p).inner })
}

/// Create an empty policy.
///
/// The empty policy allows no file access except `/dev/null`, `/dev/zero`,
/// `/dev/full` (read/write) and `/dev/urandom`, `/dev/random` (read), passes no
/// environment variables, inherits the host's stdio, has no timeout and no seed,
/// and is strict: a spawn fails with `SL_E_UNSUPPORTED` when the kernel cannot
/// enforce the policy.
///
/// Returns `SL_OK` and writes the handle to `*out`, or `SL_E_INVALID` if `out` is NULL.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sl_policy_new(out: *mut *mut sl_policy) -> c_int {
    boundary(|| {
        non_null("sl_policy_new", "out", out)?;
        let p = Box::new(sl_policy {
            inner: Policy::new(),
        });
        // SAFETY: `out` is non-NULL; the caller provides writable storage.
        unsafe { *out = Box::into_raw(p) };
        Ok(())
    })
}

/// Copy a policy (rules, seed, environment, stdio, limits) into a new handle.
///
/// Returns `SL_OK`, or `SL_E_INVALID` if `policy` or `out` is NULL. Safe to call
/// while other threads spawn from `policy`.
#[no_mangle]
pub extern "C" fn sl_policy_clone(policy: *const sl_policy, out: *mut *mut sl_policy) -> c_int {
    boundary(|| {
        non_null("sl_policy_clone", "policy", policy)?;
        non_null("sl_policy_clone", "out", out)?;
        // SAFETY: non-NULL live handle; cloning only reads it.
        let copy = unsafe { (*policy).inner.clone() };
        // SAFETY: `out` is non-NULL writable storage.
        unsafe { *out = Box::into_raw(Box::new(sl_policy { inner: copy })) };
        Ok(())
    })
}

/// Free a policy. NULL is accepted and ignored.
///
/// Children already spawned from it are not affected.
#[no_mangle]
pub extern "C" fn sl_policy_free(policy: *mut sl_policy) {
    // Not a `boundary`: freeing must leave the last error message alone.
    super::quiet((), || {
        if !policy.is_null() {
            // SAFETY: a handle from sl_policy_new, freed exactly once by contract.
            drop(unsafe { Box::from_raw(policy) });
        }
    });
}

fn allow(func: &str, policy: *mut sl_policy, path: *const c_char, access: Access) -> i32 {
    boundary(|| {
        // SAFETY: per the API contract, policy is NULL or live, path NULL or a C string.
        let (p, path) = unsafe { (policy_mut(func, policy)?, c_path(func, "path", path)?) };
        p.allow(path, access)
    })
}

/// Let the child read files and list directories beneath `path` (a Landlock rule).
///
/// `path` must be absolute and exist now. Returns `SL_OK`, or `SL_E_INVALID`
/// (NULL argument, relative or missing path; the message names it).
#[no_mangle]
pub extern "C" fn sl_policy_allow_read(policy: *mut sl_policy, path: *const c_char) -> c_int {
    allow("sl_policy_allow_read", policy, path, Access::Read)
}

/// Let the child read, create, write, truncate, rename and remove beneath `path`.
///
/// `path` must be absolute and exist now. Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_allow_write(policy: *mut sl_policy, path: *const c_char) -> c_int {
    allow("sl_policy_allow_write", policy, path, Access::Write)
}

/// Let the child execute (and read) files beneath `path`.
///
/// Execution is confined only once a policy has at least one exec rule: without
/// any, the child may execute whatever it may read. With one or more, it may
/// execute only files beneath exec paths. `path` must be absolute and exist now.
/// Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_allow_exec(policy: *mut sl_policy, path: *const c_char) -> c_int {
    allow("sl_policy_allow_exec", policy, path, Access::Exec)
}

/// Make the run deterministic with this seed.
///
/// `getrandom()` (syscall and vDSO), reads of `/dev/urandom` and `/dev/random`
/// (however opened), the `AT_RANDOM` auxv bytes, `/proc/sys/kernel/random/uuid`
/// and `boot_id` all come from ChaCha streams keyed by `seed` (one per process,
/// by its place in the fork tree): two runs with one seed read the same bytes.
/// A seed also turns off ASLR (and keeps it off), hides RDRAND/RDSEED in
/// `cpuid` (strict mode needs CPUID faulting), answers `getcpu` with CPU 0, and
/// lists directories sorted. Time is separate: see `sl_policy_set_time`. If
/// seeded bytes cannot be served, the run fails rather than reading real
/// entropy. Returns `SL_OK` or `SL_E_INVALID` (NULL policy).
#[no_mangle]
pub extern "C" fn sl_policy_set_random_seed(policy: *mut sl_policy, seed: u64) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_random_seed", policy)? }.set_seed(seed);
        Ok(())
    })
}

/// Set an environment variable for the child; `value` NULL removes it.
///
/// By default the child's environment is empty: call `sl_policy_inherit_env` to
/// start from the host's environment (read at each spawn). Later calls win.
/// Returns `SL_OK`, or `SL_E_INVALID` (NULL policy or name, empty name, name with '=').
#[no_mangle]
pub extern "C" fn sl_policy_set_env(
    policy: *mut sl_policy,
    name: *const c_char,
    value: *const c_char,
) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_env";
        // SAFETY: pointers are NULL or valid C strings by contract.
        let (p, name) = unsafe { (policy_mut(f, policy)?, c_str(f, "name", name)?) };
        let value = if value.is_null() {
            None
        } else {
            // SAFETY: non-NULL C string by contract.
            Some(OsStr::from_bytes(
                unsafe { c_str(f, "value", value)? }.to_bytes(),
            ))
        };
        p.set_env(OsStr::from_bytes(name.to_bytes()), value)
    })
}

/// Start the child's environment from the host's (`on` = true) or from nothing.
///
/// The host's environment is read at each `sl_spawn`. Variables from
/// `sl_policy_set_env` apply on top. Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_inherit_env(policy: *mut sl_policy, on: bool) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_inherit_env", policy)? }.inherit_env(on);
        Ok(())
    })
}

/// Forget every variable set with `sl_policy_set_env` and stop inheriting.
///
/// The child then starts with an empty environment. Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_clear_env(policy: *mut sl_policy) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_clear_env", policy)? }.clear_env();
        Ok(())
    })
}

/// Run the child in directory `dir` (absolute, existing). Default: the host's cwd.
///
/// Returns `SL_OK` or `SL_E_INVALID` (NULL, relative, missing or not a directory).
/// The child also needs a Landlock rule covering `dir` to list it.
#[no_mangle]
pub extern "C" fn sl_policy_set_cwd(policy: *mut sl_policy, dir: *const c_char) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_cwd";
        // SAFETY: pointers are NULL or valid by contract.
        let (p, dir) = unsafe { (policy_mut(f, policy)?, c_path(f, "dir", dir)?) };
        p.set_cwd(dir)
    })
}

/// Give the child these host fds as its stdin, stdout and stderr; -1 = the host's own.
///
/// The fds are duplicated at each spawn, so the host may close them after
/// `sl_spawn` returns. Every other fd of the host is closed in the child.
/// Returns `SL_OK` or `SL_E_INVALID` (NULL policy, an fd that is not open or < -1).
#[no_mangle]
pub extern "C" fn sl_policy_set_stdio(
    policy: *mut sl_policy,
    stdin_fd: c_int,
    stdout_fd: c_int,
    stderr_fd: c_int,
) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_stdio", policy)? }
            .set_stdio([stdin_fd, stdout_fd, stderr_fd])
    })
}

/// Kill the whole sandbox `ms` milliseconds after it starts; 0 = no timeout.
///
/// A child killed this way reports `WIFSIGNALED` with `SIGKILL`, and
/// `sl_child_timed_out` returns true. Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_set_timeout_ms(policy: *mut sl_policy, ms: u64) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_timeout_ms", policy)? }.set_timeout_ms(ms);
        Ok(())
    })
}

/// Choose strict (`on` = false, the default) or best-effort enforcement.
///
/// Strict: `sl_spawn` fails with `SL_E_UNSUPPORTED` and says what is missing when
/// the kernel cannot enforce the policy (no Landlock, Landlock ABI < 3 which
/// cannot restrict truncate, ABI < 6 which cannot stop signals to host processes,
/// no seccomp user notification while a seed is set). Best effort: run with what
/// the kernel enforces; `sl_features()` tells what that is. Returns `SL_OK` or `SL_E_INVALID`.
#[no_mangle]
pub extern "C" fn sl_policy_set_best_effort(policy: *mut sl_policy, on: bool) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_best_effort", policy)? }.set_best_effort(on);
        Ok(())
    })
}

/// Keep `path` unreachable even beneath an allowed path.
///
/// Nothing beneath `path` can be read, written, executed, created, renamed or
/// linked into, through any spelling (symlinks and `..` included, since
/// Landlock checks resolved paths), including files created there later.
/// `path` must be absolute; it need not exist, but its parent must. Names stay
/// listable: the parents' entries, and (since Landlock grants directory listing
/// beneath a path) the names, never the contents, of entries inside `path`. Enforced with
/// Landlock alone: the allow rules around `path` are rebuilt from the
/// directory entries present when the policy is first spawned. Returns `SL_OK`
/// or `SL_E_INVALID` (NULL, relative, `/`, or `..` in the path).
#[no_mangle]
pub extern "C" fn sl_policy_deny_path(policy: *mut sl_policy, path: *const c_char) -> c_int {
    boundary(|| {
        let f = "sl_policy_deny_path";
        // SAFETY: pointers are NULL or valid by contract.
        let (p, path) = unsafe { (policy_mut(f, policy)?, c_path(f, "path", path)?) };
        p.deny(path)
    })
}

/// Let the child bind TCP `port` (Landlock ABI >= 4).
///
/// Without any TCP rule the child can neither bind nor connect TCP sockets.
/// Returns `SL_OK` or `SL_E_INVALID` (NULL policy). Port 0 means "an
/// ephemeral port chosen by the kernel".
#[no_mangle]
pub extern "C" fn sl_policy_allow_tcp_bind(policy: *mut sl_policy, port: u16) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_allow_tcp_bind", policy)? }.allow_tcp(true, port);
        Ok(())
    })
}

/// Let the child connect to TCP `port` on any address (Landlock ABI >= 4).
///
/// Returns `SL_OK` or `SL_E_INVALID` (NULL policy).
#[no_mangle]
pub extern "C" fn sl_policy_allow_tcp_connect(policy: *mut sl_policy, port: u16) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_allow_tcp_connect", policy)? }.allow_tcp(false, port);
        Ok(())
    })
}

/// Let the child use UDP sockets (IPv4 and IPv6, any port).
///
/// Without it, `socket(AF_INET*, SOCK_DGRAM)` fails with EACCES (so does DNS
/// over UDP). Raw, packet, MPTCP and SCTP sockets, netlink other than
/// `NETLINK_ROUTE`, and TCP Fast Open are always refused. Returns `SL_OK` or
/// `SL_E_INVALID` (NULL policy).
#[no_mangle]
pub extern "C" fn sl_policy_allow_udp(policy: *mut sl_policy, on: bool) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_allow_udp", policy)? }.allow_udp = on;
        Ok(())
    })
}

/// Let the child connect TCP sockets to a network and port: "ADDR[/PREFIX]:PORT".
///
/// Examples: "10.0.0.0/8:443", "127.0.0.1:*" (any port), "[fd00::]/8:22". IPv4
/// rules also match v4-mapped IPv6 addresses. The supervisor copies the address
/// once, checks it, and connects the child's own socket itself, so the address
/// checked is the one connected to (no TOCTOU). The supervisor never waits for
/// it: a blocking connect takes as long as it would natively (the kernel's own
/// timeout, or the socket's SO_SNDTIMEO, then EINPROGRESS) while other calls and
/// sandboxes are served. Connections matching no rule are left to the port rules
/// of `sl_policy_allow_tcp_connect`. Returns `SL_OK` or `SL_E_INVALID` (NULL, or
/// a rule that does not parse; the message says why).
#[no_mangle]
pub extern "C" fn sl_policy_allow_connect(policy: *mut sl_policy, rule: *const c_char) -> c_int {
    boundary(|| {
        let f = "sl_policy_allow_connect";
        // SAFETY: pointers are NULL or valid by contract.
        let (p, rule) = unsafe { (policy_mut(f, policy)?, c_str(f, "rule", rule)?) };
        let rule = rule
            .to_str()
            .map_err(|_| Error::invalid(format!("{f}: the rule is not UTF-8")))?;
        p.allow_connect(rule)
    })
}

/// Let the child bind TCP (and, when allowed, UDP) sockets to a local address
/// and port: "ADDR[/PREFIX]:PORT", as in `sl_policy_allow_connect` ("127.0.0.1:8080",
/// "0.0.0.0/0:*" any IPv4 address and port, "[::1]:0" an ephemeral port on ::1).
///
/// The supervisor copies the address once, checks it, and binds the child's
/// own socket itself, so the address checked is the one bound (no TOCTOU).
/// Binds matching no rule are left to the port rules of
/// `sl_policy_allow_tcp_bind`. `listen()` needs no rule. Returns `SL_OK` or
/// `SL_E_INVALID` (NULL, or a rule that does not parse; the message says why).
/// Not thread-safe on one policy (like every setter).
#[no_mangle]
pub extern "C" fn sl_policy_allow_bind(policy: *mut sl_policy, rule: *const c_char) -> c_int {
    boundary(|| {
        let f = "sl_policy_allow_bind";
        // SAFETY: pointers are NULL or valid by contract.
        let (p, rule) = unsafe { (policy_mut(f, policy)?, c_str(f, "rule", rule)?) };
        let rule = rule
            .to_str()
            .map_err(|_| Error::invalid(format!("{f}: the rule is not UTF-8")))?;
        p.allow_bind(rule)
    })
}

/// Show the child only its own sandbox's processes in `/proc` (off by default).
///
/// With `on`, listing `/proc` (`ls /proc`, `ps`) shows only the processes and
/// threads of this sandbox, and `/proc/PID` of any other process fails with
/// ENOENT for opens, `stat`/`lstat`/`statx`, `access`, `readlink`, `statfs`,
/// `chdir` and directory reads, through any spelling (`/proc/self/..`,
/// symlinks, `..`, paths relative to a `/proc` descriptor). `sysinfo()` then
/// counts only the sandbox's tasks, and with `SL_LIMIT_MEMORY`
/// `/proc/meminfo` shows the limit as the machine's memory. The supervisor
/// performs these path calls
/// on the child's behalf on a path copied once, so every such call costs a
/// round trip through the supervisor (see BENCHMARKS.md); that is why it is
/// opt-in. A rule that lets the child read `/proc` (or `/`) is narrowed so
/// that the kernel never lets the child open a `/proc/PID` file itself.
/// Returns `SL_OK` or `SL_E_INVALID` (NULL policy). Not thread-safe on one
/// policy (as every setter).
#[no_mangle]
pub extern "C" fn sl_policy_set_proc_view(policy: *mut sl_policy, on: bool) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_proc_view", policy)? }.set_proc_view(on);
        Ok(())
    })
}
