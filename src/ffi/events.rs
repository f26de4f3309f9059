//! Event callbacks: the host decides at run time on execs, opens, connects and binds.

use super::boundary;
use super::policy::{policy_mut, sl_policy};
use crate::error::Error;
use crate::events::{Decision, Event, Handler};
use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::Arc;

/// Event kind (and mask bit): a process is about to execute a program
/// (`execve`, `execveat`). `path` and `argv` are set. The sandbox's first
/// program, chosen by the host in `sl_spawn`, is not reported.
pub const SL_EVENT_EXEC: i32 = 1;
/// Event kind (and mask bit): a process is about to open a file (`open`,
/// `openat`, `openat2`). `path` (as the program passed it, possibly relative)
/// and `flags` (the `O_*` flags) are set.
pub const SL_EVENT_OPEN: i32 = 2;

/// Event kind (and mask bit): a report, not a question. The library refused
/// a call itself: the callback denied it (or did not answer in time, or
/// answered garbage), an allowed exec turned out different at the exec stop
/// (the sandbox is killed), a connect the callback allowed is outside the
/// policy's ports and destination rules (EACCES), or a metadata change
/// (chmod, chown, utimes, xattrs) fell outside the writable paths, a call
/// on the seccomp deny list was made (ptrace, bpf, mount, unshare, a clone
/// with namespace flags…: it gets the same errno as without a handler), or a
/// socket was refused (family, type, UDP not allowed, TCP Fast Open).
/// `denied` says what kind of call (`SL_EVENT_EXEC`, `SL_EVENT_OPEN`,
/// `SL_EVENT_CONNECT`, `SL_EVENT_BIND`, or 0 for others), `syscall`,
/// `syscall_name`, `error` and `reason` say which, how and why;
/// `path`/`argv`/`flags`/`address`/`port`/`family` are set as for that kind
/// when known. The return value is ignored. With this kind in the mask, the
/// deny list's calls are answered by the supervisor (they are rare; `clone3`
/// and `rseq`, which libc falls back from, stay in the filter and are not
/// reported). Landlock's own refusals are not reported: the kernel tells
/// only the audit log, which needs privileges. Reports are
/// best effort: they are dropped while the host is not reading (a callback
/// that blocks).
pub const SL_EVENT_DENIED: i32 = 4;
/// Event kind (and mask bit): a process is about to connect an IPv4 or IPv6
/// socket (`connect`). `address` (text, e.g. "127.0.0.1" or "::1"), `port`
/// and `family` (`AF_INET` or `AF_INET6`) are set. Connects of other sockets
/// (UNIX, netlink) are not reported. An allowed connect is made by the
/// supervisor on the process's own socket, to the address the event showed,
/// only if the policy allows it anyway (a port of
/// `sl_policy_allow_tcp_connect` or a rule of `sl_policy_allow_connect`; UDP
/// sockets, when allowed, for any destination); otherwise it fails with EACCES.
pub const SL_EVENT_CONNECT: i32 = 8;
/// Event kind (and mask bit): a process is about to bind an IPv4 or IPv6
/// socket to a local address (`bind`). `address` (text, "0.0.0.0", "::1"),
/// `port` (0 = an ephemeral port), `family` and `flags` (the socket type,
/// `SOCK_STREAM` or `SOCK_DGRAM`) are set. Binds of other sockets are not
/// reported; `listen` is not an event (it uses the address bound before). An
/// allowed bind is made by the supervisor on the process's own socket, to
/// the address the event showed, only if the policy allows it anyway (a port
/// of `sl_policy_allow_tcp_bind` or a rule of `sl_policy_allow_bind`; UDP
/// sockets, when allowed, on any address); otherwise it fails with EACCES.
pub const SL_EVENT_BIND: i32 = 16;

/// Callback answer: let the call run (still subject to the policy's rules).
pub const SL_ALLOW: i32 = 0;
/// Callback answer: the call fails with `ev->deny_errno` (EACCES unless the callback set it).
pub const SL_DENY: i32 = 1;
/// Callback answer: kill the whole sandbox (it ends as `SL_END_KILLED`).
pub const SL_KILL: i32 = 2;

/// How long the supervisor waits for a callback's answer before it denies the
/// call with EACCES, in milliseconds. A late answer is ignored.
pub const SL_EVENT_TIMEOUT_MS: i32 = 5000;

const _: () = {
    assert!(SL_EVENT_EXEC as u32 == crate::events::KIND_EXEC);
    assert!(SL_EVENT_OPEN as u32 == crate::events::KIND_OPEN);
    assert!(SL_EVENT_DENIED as u32 == crate::events::KIND_DENIED);
    assert!(SL_EVENT_CONNECT as u32 == crate::events::KIND_CONNECT);
    assert!(SL_EVENT_BIND as u32 == crate::events::KIND_BIND);
    assert!(SL_EVENT_TIMEOUT_MS as u128 == crate::events::DECISION_TIMEOUT.as_millis());
};

/// What a sandboxed process is about to do, given to an `sl_event_fn`.
///
/// Every pointer is valid only during the callback. The strings are exactly
/// what the supervisor copied from the process once, and what the decision
/// applies to (see `sl_policy_set_event_handler`).
#[repr(C)]
pub struct sl_event {
    /// One `SL_EVENT_*` kind.
    pub kind: c_int,
    /// The calling thread's id (the pid for a single-threaded process).
    pub pid: c_int,
    /// The program (exec) or the file (open), as the process passed it. Connect: "".
    pub path: *const c_char,
    /// Exec: the `argc` arguments, NULL-terminated. Open: NULL.
    pub argv: *const *const c_char,
    /// Exec: the number of arguments. Open: 0.
    pub argc: c_int,
    /// Open: the `O_*` flags. Connect, bind: the socket type (`SOCK_STREAM`,
    /// `SOCK_DGRAM`). Exec: 0.
    pub flags: c_int,
    /// The errno the call fails with if the callback returns `SL_DENY`: EACCES
    /// unless the callback writes another (1..4095). The only field the
    /// callback may write.
    pub deny_errno: c_int,
    /// `SL_EVENT_DENIED`: the kind of call refused (`SL_EVENT_EXEC`,
    /// `SL_EVENT_OPEN`, `SL_EVENT_CONNECT`, `SL_EVENT_BIND`, or 0 for another
    /// call). Else 0.
    pub denied: c_int,
    /// `SL_EVENT_DENIED`: the errno the call got. Else 0.
    pub error: c_int,
    /// The system call number (x86_64 numbering).
    pub syscall: i64,
    /// `SL_EVENT_DENIED`: why, in words. Else "".
    pub reason: *const c_char,
    /// Connect: the destination address as text ("127.0.0.1", "::1"). Bind:
    /// the local address. Else "".
    pub address: *const c_char,
    /// Connect: the destination port. Bind: the local port. Else 0.
    pub port: c_int,
    /// Connect, bind: `AF_INET` or `AF_INET6`. Else 0.
    pub family: c_int,
    /// The name of `syscall` ("ptrace", "openat", "bind"), or "" if the
    /// library has no name for it (it names the deny list's calls and those
    /// events are about).
    pub syscall_name: *const c_char,
}

/// An event callback: returns `SL_ALLOW`, `SL_DENY` or `SL_KILL`. Any other
/// value is treated as `SL_DENY` with EACCES.
pub type sl_event_fn =
    Option<unsafe extern "C" fn(ev: *mut sl_event, userdata: *mut c_void) -> c_int>;

/// Ask `cb` about the events in `mask` (an OR of `SL_EVENT_*`) for every child
/// spawned from this policy. `cb` NULL removes the handler (`mask` is then ignored).
///
/// Threading: `cb` runs in the host on a library thread, one per child (named
/// `sandlock-ev-PID`), never on the caller's thread; events of one child come
/// one at a time, events of different children may come concurrently, so
/// `cb` and `userdata` must be safe to use from several threads. `userdata`
/// must stay valid until every child spawned with this handler has been freed
/// (`sl_child_free` waits for a running callback of that child to return).
///
/// Rules for the callback: it must not call `sl_wait*`, `sl_child_free` or other
/// functions on the child the event comes from (the child cannot end while its
/// thread waits for the answer; a wait would deadlock); other children and
/// policies are fine. An answer that takes longer than `SL_EVENT_TIMEOUT_MS`
/// denies the call with EACCES (the supervisor and the other sandboxes never
/// wait for it); the callback's late answer is ignored. A callback that
/// crashes or aborts takes the host down: that is out of the library's control.
///
/// What the decision holds against: the process's memory is copied once, and
/// a racing thread cannot change what happens after the decision. An allowed
/// open is done by the supervisor itself, on the copied path, when the file
/// lies beneath a rule of this policy that allows the access (and beneath no
/// denied path): the process gets exactly the file decided on. Other allowed
/// opens (for example the implicit `/dev/null`) run normally under Landlock.
/// An allowed exec runs; before the new program runs its first instruction,
/// the supervisor checks that it is the same file (inode) and the same
/// arguments that were decided on, and kills the sandbox (`SL_END_KILLED`) if
/// not. For a `#!` script only the arguments after `argv[0]` are checked.
/// An allowed connect is made by the supervisor on the process's own socket
/// (taken when the address was copied), to the copied address, and only if
/// the policy allows that destination anyway (see `SL_EVENT_CONNECT`; this is
/// stricter than Landlock on kernels without TCP rules). Binds likewise (see
/// `SL_EVENT_BIND`). Execs with more than 64 KiB of arguments fail with E2BIG while exec
/// events are on. An exec or open of a path that does not exist fails at once
/// (ENOENT) without an event.
///
/// Needs seccomp user notification; `sl_confine_self` refuses a policy with a
/// handler. `sl_policy_clone` copies the handler.
///
/// Returns `SL_OK`, or `SL_E_INVALID` (NULL policy, `mask` 0 or with unknown bits).
#[no_mangle]
pub extern "C" fn sl_policy_set_event_handler(
    policy: *mut sl_policy,
    mask: c_uint,
    cb: sl_event_fn,
    userdata: *mut c_void,
) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_event_handler";
        // SAFETY: per the API contract, policy is NULL or a live handle.
        let p = unsafe { policy_mut(f, policy)? };
        let Some(cb) = cb else {
            p.events = None;
            return Ok(());
        };
        if mask == 0 || mask & !crate::events::KINDS != 0 {
            return Err(Error::invalid(format!(
                "{f}: mask {mask:#x} must be a non-empty OR of SL_EVENT_EXEC, SL_EVENT_OPEN, SL_EVENT_CONNECT, SL_EVENT_BIND and SL_EVENT_DENIED"
            )));
        }
        let userdata = userdata as usize;
        p.events = Some(Handler {
            mask,
            decide: Arc::new(move |ev: &Event| call(cb, userdata, ev)),
        });
        Ok(())
    })
}

fn call(
    cb: unsafe extern "C" fn(*mut sl_event, *mut c_void) -> c_int,
    userdata: usize,
    ev: &Event,
) -> Decision {
    let cstr = |b: &[u8]| CString::new(b.to_vec()).unwrap_or_default();
    let path = cstr(&ev.path);
    let args: Vec<CString> = ev.argv.iter().map(|a| cstr(a)).collect();
    let mut ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let report = ev.kind & crate::events::KIND_DENIED != 0;
    let (kind, denied) = if report {
        (SL_EVENT_DENIED, (ev.kind >> 8) as c_int)
    } else {
        (ev.kind as c_int, 0)
    };
    let is_exec = (if report { denied } else { kind }) == SL_EVENT_EXEC;
    let reason = cstr(ev.reason.as_bytes());
    let address = cstr(ev.address.as_bytes());
    let name = cstr(crate::handlers::denylist::syscall_name(ev.nr).as_bytes());
    let mut e = sl_event {
        kind,
        pid: ev.pid,
        path: path.as_ptr(),
        argv: if is_exec {
            ptrs.as_ptr()
        } else {
            std::ptr::null()
        },
        argc: if is_exec { args.len() as c_int } else { 0 },
        flags: ev.flags,
        deny_errno: libc::EACCES,
        denied,
        error: ev.errno,
        syscall: ev.nr,
        reason: reason.as_ptr(),
        address: address.as_ptr(),
        port: ev.port,
        family: ev.family,
        syscall_name: name.as_ptr(),
    };
    // SAFETY: the caller of sl_policy_set_event_handler promised a callback
    // taking these arguments; every pointer in `e` lives until it returns.
    let r = unsafe { cb(&mut e, userdata as *mut c_void) };
    match r {
        SL_ALLOW => Decision::Allow,
        SL_KILL => Decision::Kill,
        SL_DENY if (1..4096).contains(&e.deny_errno) => Decision::Deny(e.deny_errno),
        _ => Decision::Deny(libc::EACCES),
    }
}
