//! Starting one sandboxed child from the supervisor: prepare, clone, attach, exec.
//!
//! Sequence (DESIGN.md §4.2): everything is prepared here; the child confines
//! itself with raw syscalls (`child.rs`), sends back its seccomp listener, and
//! waits on a pipe; we attach with `PTRACE_SEIZE` so that no exec goes unseen,
//! release it, and learn from the status socket whether its exec worked (the
//! socket is close-on-exec: EOF means success).

use super::proto::SpawnRequest;
use super::sock;
use crate::child::{child_main, ChildArgs, Stage};
use crate::error::{errno_text, Code, Error, Result};
use crate::seccomp::filter::{build_program, FilterOptions};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The fd numbers where seeded random devices are installed in the child: 32
/// numbers just under the usual 1024 open-files limit, or under a lower limit.
pub fn random_fd_slots(limits: &crate::outcome::Limits) -> std::ops::RangeInclusive<u32> {
    let max = match limits[crate::outcome::Limit::OpenFiles.index()] {
        0 => 1024,
        n => n.min(1024) as u32,
    };
    max.saturating_sub(32).max(3)..=max.saturating_sub(1).max(3)
}

const STACK_SIZE: usize = 256 * 1024;

pub const PTRACE_OPTIONS: libc::c_int = libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_EXITKILL
    // SECCOMP_RET_TRACE stops (only the copy-on-write workdir asks for them: chdir, exec).
    | libc::PTRACE_O_TRACESECCOMP;

pub struct Started {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    pub listener: Option<OwnedFd>,
}

/// The fds that came with a spawn request, in their roles.
pub struct RequestFds {
    pub stdio: [Option<OwnedFd>; 3],
    pub ruleset: Option<OwnedFd>,
}

/// A private anonymous mapping used as the child's stack; unmapped on drop.
struct Stack {
    base: *mut libc::c_void,
}

impl Stack {
    fn new() -> Result<Stack> {
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last_os("mmap of the child stack"));
        }
        Ok(Stack { base })
    }

    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our mapping; stacks grow down.
        unsafe { self.base.cast::<u8>().add(STACK_SIZE).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, no longer used by anyone.
        unsafe { libc::munmap(self.base, STACK_SIZE) };
    }
}

/// Per-process kernel limits that back the sandbox-wide ones.
fn rlimits_for(limits: &crate::outcome::Limits) -> ([[u64; 2]; 4], usize) {
    use crate::outcome::Limit;
    let mut out = [[0u64; 2]; 4];
    let mut n = 0;
    for (l, res) in [
        (Limit::OpenFiles, libc::RLIMIT_NOFILE),
        (Limit::FileSize, libc::RLIMIT_FSIZE),
        // Total CPU is polled by the supervisor; this stops one process at once.
        (Limit::CpuSeconds, libc::RLIMIT_CPU),
    ] {
        let v = limits[l.index()];
        if v != 0 {
            out[n] = [res as u64, v];
            n += 1;
        }
    }
    (out, n)
}

fn cstrings(list: &[Vec<u8>], what: &str) -> Result<Vec<CString>> {
    list.iter()
        .map(|b| {
            CString::new(b.clone())
                .map_err(|_| Error::invalid(format!("sl_spawn: {what} contains a NUL byte")))
        })
        .collect()
}

fn pointers(list: &[CString]) -> Vec<*const libc::c_char> {
    list.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Reap a child that failed before or at exec (it may be traced already).
fn reap(pid: libc::pid_t) {
    let mut st = 0;
    // SAFETY: waiting for our own child; __WALL also reaps a traced one.
    while unsafe { libc::waitpid(pid, &mut st, libc::__WALL) } < 0
        && crate::error::last_errno() == libc::EINTR
    {}
}

/// Turn the child's (stage, errno) record into the error the host will see.
fn stage_error(req: &SpawnRequest, stage: Stage, errno: i32) -> Error {
    let prog = String::from_utf8_lossy(req.argv.first().map(|v| v.as_slice()).unwrap_or(b"?"))
        .into_owned();
    let (code, what) = match stage {
        Stage::Exec => {
            let hint = match errno {
                libc::ENOENT if req.candidates.len() > 1 => " (searched the child's PATH)".to_string(),
                libc::EACCES => {
                    " (not executable, or Landlock refused it: is it beneath an allowed read or exec path?)".into()
                }
                _ => String::new(),
            };
            (Code::Exec, format!("cannot execute '{prog}'{hint}"))
        }
        Stage::Cwd => (
            Code::Setup,
            format!(
                "cannot change to the working directory '{}'",
                String::from_utf8_lossy(req.cwd.as_deref().unwrap_or(b""))
            ),
        ),
        Stage::Landlock => (
            Code::Setup,
            "Landlock refused to confine the child (landlock_restrict_self)".into(),
        ),
        Stage::Seccomp => (
            Code::Setup,
            "the kernel refused the seccomp filter (seccomp(SECCOMP_SET_MODE_FILTER))".into(),
        ),
        Stage::NoNewPrivs => (Code::Setup, "prctl(PR_SET_NO_NEW_PRIVS) failed".into()),
        Stage::Limits => (
            Code::Setup,
            "cannot set a resource limit (prlimit64)".into(),
        ),
        other => (
            Code::Setup,
            format!("child setup failed at stage {other:?}"),
        ),
    };
    Error {
        code,
        errno,
        message: format!("sl_spawn: {what}: {}", errno_text(errno)),
    }
}

/// Read the child's record after the go byte: EOF = exec happened.
fn read_record(fd: RawFd) -> Result<Option<(Stage, i32)>> {
    let mut buf = [0u8; 16];
    let (n, _) = sock::recv(fd, &mut buf, false)
        .map_err(|e| Error::sys("reading the child's status", e.raw_os_error().unwrap_or(0)))?;
    if n == 0 {
        return Ok(None);
    }
    if n == 6 && buf[0] == b'E' {
        let stage = Stage::from_u8(buf[1]).unwrap_or(Stage::Exec);
        return Ok(Some((
            stage,
            i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]),
        )));
    }
    Err(Error::new(
        Code::Internal,
        "unexpected record from the child",
    ))
}

pub fn start(req: &SpawnRequest, fds: RequestFds) -> Result<Started> {
    let candidates = cstrings(&req.candidates, "the program path")?;
    let argv = cstrings(&req.argv, "an argument")?;
    let envp = cstrings(&req.envp, "an environment variable")?;
    let cwd = req
        .cwd
        .as_ref()
        .map(|c| CString::new(c.clone()))
        .transpose()
        .map_err(|_| Error::invalid("sl_spawn: cwd contains a NUL byte"))?;
    let (cand_p, argv_p, envp_p) = (pointers(&candidates), pointers(&argv), pointers(&envp));
    let mut opts = FilterOptions::for_request(req, random_fd_slots(&req.limits));
    // The child's own first exec (the host chose it) is not an event; every
    // later exec stop is checked against a decision (handlers/events.rs).
    opts.first_exec_argv = argv_p.as_ptr() as u64;
    let mut filter = build_program(&opts)
        .map_err(|e| Error::new(Code::Internal, format!("seccomp filter: {e}")))?;

    let (rlimits, n_rlimits) = rlimits_for(&req.limits);
    let (status_ours, status_child) = sock::seqpacket_pair()
        .map_err(|e| Error::sys("socketpair", e.raw_os_error().unwrap_or(0)))?;
    let (go_child, go_ours) = sock::seqpacket_pair()
        .map_err(|e| Error::sys("socketpair", e.raw_os_error().unwrap_or(0)))?;
    let stack = Stack::new()?;
    let fd_or = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
    let args = Box::new(ChildArgs {
        status_fd: status_child.as_raw_fd(),
        go_fd: go_child.as_raw_fd(),
        stdio: [
            fd_or(&fds.stdio[0]),
            fd_or(&fds.stdio[1]),
            fd_or(&fds.stdio[2]),
        ],
        ruleset_fd: fd_or(&fds.ruleset),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        candidates: cand_p.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: envp_p.as_ptr(),
        prog: libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_mut_ptr(),
        },
        want_listener: opts.wants_listener(),
        no_aslr: req.no_aslr,
        // rdtsc reads the real clock: trap it whenever time is virtual (trace/insn.rs).
        trap_tsc: opts.notify_time,
        parent_pid: std::process::id() as i32,
        rlimits,
        n_rlimits,
    });

    // SAFETY: the child runs `child_main` on its own stack with `args`; both, and every
    // buffer `args` points to, stay alive until the status socket reports exec or exit
    // (EOF), which is awaited below on every path before they are dropped.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            &*args as *const ChildArgs as *mut libc::c_void,
        )
    };
    if pid < 0 {
        return Err(Error::last_os("clone"));
    }
    drop(status_child);
    drop(go_child);

    let fail_and_reap = |e: Error| -> Error {
        // Wait for EOF: the child no longer uses our memory once it has exited.
        let mut b = [0u8; 16];
        while matches!(sock::recv(status_ours.as_raw_fd(), &mut b, false), Ok((n, _)) if n > 0) {}
        reap(pid);
        e
    };

    // 1. The listener, or the record of a failed setup.
    let mut buf = [0u8; 16];
    let (n, mut got) = match sock::recv(status_ours.as_raw_fd(), &mut buf, false) {
        Ok(x) => x,
        Err(e) => {
            return Err(fail_and_reap(Error::sys(
                "receiving the seccomp listener",
                e.raw_os_error().unwrap_or(0),
            )))
        }
    };
    let listener = match (n, buf[0]) {
        (1, b'L') if got.len() == 1 => Some(got.remove(0)),
        (1, b'N') => None,
        (6, b'E') => {
            let stage = Stage::from_u8(buf[1]).unwrap_or(Stage::Signals);
            let errno = i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
            return Err(fail_and_reap(stage_error(req, stage, errno)));
        }
        (0, _) => {
            reap(pid);
            return Err(Error::new(
                Code::Setup,
                "sl_spawn: the child died during setup",
            ));
        }
        _ => {
            return Err(fail_and_reap(Error::new(
                Code::Internal,
                "unexpected message from the child",
            )))
        }
    };

    // 2. Attach before it can exec.
    // SAFETY: seizing our own child; no memory is passed.
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, PTRACE_OPTIONS as libc::c_long) } < 0 {
        let errno = crate::error::last_errno();
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Err(fail_and_reap(Error::with_errno(
            Code::Unsupported,
            "sl_spawn: cannot trace the child with ptrace (a Yama ptrace_scope of 3 forbids it)",
            errno,
        )));
    }
    // SAFETY: pidfd_open of our own, not yet reaped, child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    if pidfd < 0 {
        let e = Error::last_os("pidfd_open");
        // SAFETY: killing our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Err(fail_and_reap(e));
    }
    // SAFETY: a new fd owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };

    // 3. Release it and learn how its exec went.
    // SAFETY: writes one byte from our stack to our pipe.
    unsafe { libc::write(go_ours.as_raw_fd(), b"g".as_ptr().cast(), 1) };
    drop(go_ours);
    match read_record(status_ours.as_raw_fd()) {
        Ok(None) => {}
        Ok(Some((stage, errno))) => return Err(fail_and_reap(stage_error(req, stage, errno))),
        Err(e) => {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err(fail_and_reap(e));
        }
    }
    // The child has exec'd: its memory is its own now, and ours can go.
    drop(args);
    drop(stack);
    drop(filter);
    if let Some(l) = &listener {
        // Synchronous wake-up makes a notification round trip ~5 µs instead of ~50 µs
        // (research/spike-spawn-kill-random.md §D). Older kernels lack it: no harm.
        let _ = crate::seccomp::notify::set_sync_wakeup(l.as_raw_fd());
    }
    Ok(Started {
        pid,
        pidfd,
        listener,
    })
}
