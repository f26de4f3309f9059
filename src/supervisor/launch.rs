//! Starting one sandboxed child from the supervisor: prepare, clone, attach, exec.
//!
//! Sequence (DESIGN.md §4.2): everything is prepared here; the child confines
//! itself with raw syscalls (`child.rs`), sends back its seccomp listener, and
//! waits on a pipe; we attach with `PTRACE_SEIZE` so that no exec goes unseen,
//! release it, and learn from the status socket whether its exec worked (the
//! socket is close-on-exec: EOF means success) and from its first exec stop
//! whether the new image could be prepared.
//!
//! Only the preparation and the `clone` happen in the request: the rest is a
//! `Launch` driven by the supervisor's poll loop (the status socket is polled,
//! the child's wait statuses are handed to it), so spawns from many host
//! threads overlap and nothing else waits while a child sets up and execs.
//! The child runs on our memory (CLONE_VM) until its exec or exit: that memory
//! is kept in the `Launch` until EOF on the status socket (close-on-exec fds
//! are closed after the new mm is in place), the exec stop, or its reaping.

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
    // SECCOMP_RET_TRACE stops: the copy-on-write workdir (chdir, exec) and
    // timed waits with an absolute deadline under virtual time (`handlers/timedwait.rs`).
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

/// Prepare and clone the child; the rest happens in `Launch`, from the poll loop.
pub fn start(req: &SpawnRequest, fds: RequestFds) -> Result<Launch> {
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
    // buffer `args` points to, move (their heap and mmap addresses unchanged) into the
    // returned `Launch`, which frees them only once the child has exec'd or is gone:
    // EOF on the status socket, its exec stop, or its reaping (`Launch` below).
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

    Ok(Launch {
        pid,
        status: Some(status_ours),
        go: Some(go_ours),
        pidfd: None,
        listener: None,
        owned: true,
        memory: Some(ChildMemory {
            _args: args,
            _stack: stack,
            _filter: filter,
            _strings: (candidates, argv, envp, cwd),
            _pointers: (cand_p, argv_p, envp_p),
            _fds: fds,
        }),
    })
}

/// What the child runs on until its exec or exit: it shares our memory
/// (CLONE_VM), so none of it may be freed before.
struct ChildMemory {
    _args: Box<ChildArgs>,
    _stack: Stack,
    _filter: Vec<libc::sock_filter>,
    _strings: (Vec<CString>, Vec<CString>, Vec<CString>, Option<CString>),
    _pointers: (
        Vec<*const libc::c_char>,
        Vec<*const libc::c_char>,
        Vec<*const libc::c_char>,
    ),
    _fds: RequestFds,
}

/// A child between `clone` and its first exec stop. The supervisor goes on
/// serving everything else meanwhile: it polls `status_fd` (the listener or
/// a setup error, then EOF at the exec) and hands this child's wait statuses
/// to `on_wait` (its exit, or the exec stop, which finishes the spawn).
pub struct Launch {
    pub pid: libc::pid_t,
    status: Option<OwnedFd>,
    /// Our end of the go pipe; None once the child was attached and released.
    go: Option<OwnedFd>,
    pidfd: Option<OwnedFd>,
    listener: Option<OwnedFd>,
    /// The child is ours to kill: not reaped, not handed over to a sandbox.
    owned: bool,
    memory: Option<ChildMemory>,
}

/// Where a launch stands after an event.
pub enum Step {
    Wait,
    /// Over: the sandbox's first process runs its program (and is the
    /// caller's now), or the spawn failed (the child is then reaped).
    Done(Result<Started>),
}

/// SIGKILL our child and wait until it is gone (it may be traced).
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: killing our own child, not yet reaped (so the pid is still it).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    loop {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
        let gone = r == pid && (libc::WIFEXITED(st) || libc::WIFSIGNALED(st));
        if gone || (r < 0 && crate::error::last_errno() != libc::EINTR) {
            break;
        }
    }
}

impl Launch {
    /// The status socket, while it still has something to say.
    pub fn status_fd(&self) -> Option<RawFd> {
        self.status.as_ref().map(|s| s.as_raw_fd())
    }

    /// Fail: the child is killed and reaped, and its memory then freed.
    fn fail(&mut self, e: Error) -> Step {
        kill_and_reap(self.pid);
        self.owned = false;
        self.memory = None;
        Step::Done(Err(e))
    }

    /// The status socket is readable.
    pub fn on_status(&mut self, req: &SpawnRequest) -> Step {
        let Some(fd) = self.status_fd() else {
            return Step::Wait;
        };
        let mut buf = [0u8; 16];
        let (n, mut got) = match sock::recv(fd, &mut buf, true) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Wait,
            Err(e) => {
                return self.fail(Error::sys(
                    "reading the child's status",
                    e.raw_os_error().unwrap_or(0),
                ))
            }
        };
        if self.go.is_none() {
            // Released: EOF when it has exec'd, else the record of a failed exec.
            return match (n, buf[0]) {
                (0, _) => {
                    // Its memory is its own now; ours can go. The exec stop follows.
                    self.memory = None;
                    self.status = None;
                    Step::Wait
                }
                (6, b'E') => {
                    let stage = Stage::from_u8(buf[1]).unwrap_or(Stage::Exec);
                    let errno = i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
                    self.fail(stage_error(req, stage, errno))
                }
                _ => self.fail(Error::new(
                    Code::Internal,
                    "unexpected record from the child",
                )),
            };
        }
        // 1. The listener, or the record of a failed setup.
        self.listener = match (n, buf[0]) {
            (1, b'L') if got.len() == 1 => Some(got.remove(0)),
            (1, b'N') => None,
            (6, b'E') => {
                let stage = Stage::from_u8(buf[1]).unwrap_or(Stage::Signals);
                let errno = i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
                return self.fail(stage_error(req, stage, errno));
            }
            (0, _) => {
                return self.fail(Error::new(
                    Code::Setup,
                    "sl_spawn: the child died during setup",
                ))
            }
            _ => {
                return self.fail(Error::new(
                    Code::Internal,
                    "unexpected message from the child",
                ))
            }
        };
        // 2. Attach before it can exec.
        let pid = self.pid;
        // SAFETY: seizing our own child; no memory is passed.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, PTRACE_OPTIONS as libc::c_long) } < 0 {
            let errno = crate::error::last_errno();
            return self.fail(Error::with_errno(
                Code::Unsupported,
                "sl_spawn: cannot trace the child with ptrace (a Yama ptrace_scope of 3 forbids it)",
                errno,
            ));
        }
        // SAFETY: pidfd_open of our own, not yet reaped, child.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if pidfd < 0 {
            return self.fail(Error::last_os("pidfd_open"));
        }
        // SAFETY: a new fd owned here.
        self.pidfd = Some(unsafe { OwnedFd::from_raw_fd(pidfd) });
        // 3. Release it; how its exec went comes on the status socket and as
        // its exec stop.
        if let Some(go) = self.go.take() {
            // SAFETY: writes one byte from our stack to our pipe.
            unsafe { libc::write(go.as_raw_fd(), b"g".as_ptr().cast(), 1) };
        }
        Step::Wait
    }

    /// A wait status of the child (reaped already if it is an exit).
    pub fn on_wait(
        &mut self,
        req: &SpawnRequest,
        status: i32,
        exec: &mut crate::trace::ExecState,
    ) -> Step {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            // Gone (reaped by that wait), so its memory is free; its record,
            // if any, says why.
            self.owned = false;
            self.memory = None;
            let mut buf = [0u8; 16];
            let record = self
                .status_fd()
                .and_then(|fd| sock::recv(fd, &mut buf, true).ok())
                .filter(|&(n, _)| n == 6 && buf[0] == b'E');
            let e = match record {
                Some(_) => {
                    let stage = Stage::from_u8(buf[1]).unwrap_or(Stage::Exec);
                    stage_error(
                        req,
                        stage,
                        i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]),
                    )
                }
                None if self.go.is_some() => {
                    Error::new(Code::Setup, "sl_spawn: the child died during setup")
                }
                None => Error::new(
                    Code::Exec,
                    format!("sl_spawn: the program died while starting (wait status {status:#x})"),
                ),
            };
            return Step::Done(Err(e));
        }
        if !libc::WIFSTOPPED(status) {
            return Step::Wait;
        }
        if status >> 16 != libc::PTRACE_EVENT_EXEC {
            crate::trace::resume_before_exec(self.pid, status);
            return Step::Wait;
        }
        // The exec is done: the child no longer runs on our memory.
        self.memory = None;
        if let Err(e) = crate::trace::first_exec(self.pid, exec) {
            // It died, or was killed and reaped there.
            self.owned = false;
            return Step::Done(Err(e));
        }
        let (Some(pidfd), listener) = (self.pidfd.take(), self.listener.take()) else {
            return self.fail(Error::new(Code::Internal, "exec stop before attach"));
        };
        if let Some(l) = &listener {
            // Synchronous wake-up makes a notification round trip ~5 µs instead of ~50 µs
            // (research/spike-spawn-kill-random.md §D). Older kernels lack it: no harm.
            let _ = crate::seccomp::notify::set_sync_wakeup(l.as_raw_fd());
        }
        self.owned = false;
        Step::Done(Ok(Started {
            pid: self.pid,
            pidfd,
            listener,
        }))
    }
}

impl Drop for Launch {
    /// A launch abandoned midway (the supervisor is ending): nothing of it
    /// stays, and its memory is freed only once it is gone.
    fn drop(&mut self) {
        if self.owned {
            kill_and_reap(self.pid);
        }
    }
}
