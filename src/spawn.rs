//! Preparing a child in the host: checks, the request, and the handle that
//! follows the child until its exit status arrives.

use crate::error::{Code, Error, Result};
use crate::outcome::End;
use crate::policy::Policy;
use crate::supervisor::proto::{Command, Report, SpawnRequest, BUF_LEN};
use crate::supervisor::{link, sock};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Condvar, Mutex};

const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/usr/bin:/bin";

/// How a sandbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The first process's raw wait status.
    pub status: i32,
    pub end: End,
    /// The limit (`Limit as i64`) or syscall number behind `end`, else 0.
    pub detail: i64,
}

/// A spawned sandbox, seen from the host.
#[derive(Debug)]
pub struct Child {
    sock: Arc<OwnedFd>,
    pid: i32,
    pidfd: OwnedFd,
    /// The exit report once received (held only briefly).
    done: Arc<Done>,
    /// Held while reading the socket, so one waiter reads and others queue.
    /// Separate from `done`, so a kill or a getter never waits for a waiter.
    reader: Mutex<()>,
    /// With an event handler: the thread that owns reading the socket
    /// (`events.rs`); waiters then wait on `done` instead.
    event_thread: Option<std::thread::JoinHandle<()>>,
    /// The copy-on-write workdir's state, decided once the sandbox is over.
    pub(crate) cow: Option<Mutex<crate::cow::Run>>,
}

/// The exit report (or the supervisor's death), shared with the event thread.
#[derive(Debug, Default)]
struct Done {
    state: Mutex<DoneState>,
    cv: Condvar,
}

#[derive(Debug, Default, Clone, Copy)]
struct DoneState {
    outcome: Option<Outcome>,
    /// The event thread saw the socket close without an exit report.
    lost: bool,
}

/// Refuse what the kernel cannot enforce (strict) or note what is skipped (best effort).
/// Also used by `confine.rs` (its messages start with "sl_spawn:", which it renames).
pub(crate) fn check_kernel(policy: &Policy) -> Result<()> {
    use crate::ffi::*;
    let f = crate::features::features();
    if policy.seed.is_some() && f & SL_FEATURE_SECCOMP_NOTIFY == 0 {
        // Even in best effort: a seeded run must never silently read real entropy.
        return Err(Error::new(
            Code::Unsupported,
            "sl_spawn: a random seed needs seccomp user notification (Linux 5.0+), which this kernel lacks",
        ));
    }
    if policy.events.is_some() && f & SL_FEATURE_SECCOMP_NOTIFY == 0 {
        return Err(Error::new(
            Code::Unsupported,
            "sl_spawn: an event handler needs seccomp user notification (Linux 5.0+), which this kernel lacks",
        ));
    }
    if policy.workdir.is_some()
        && (f & SL_FEATURE_SECCOMP_NOTIFY == 0 || crate::features::landlock_abi() == 0)
    {
        // Even in best effort: without Landlock the child could write the
        // workdir in place, without notifications nothing would be mapped.
        return Err(Error::new(
            Code::Unsupported,
            "sl_spawn: a copy-on-write workdir needs Landlock and seccomp user notification, \
             which this kernel lacks",
        ));
    }
    if policy.best_effort {
        return Ok(());
    }
    let abi = crate::features::landlock_abi();
    let missing = if abi == 0 {
        Some("Landlock is not available (kernel older than 5.13, or 'landlock' missing from the lsm= list)".to_string())
    } else if abi < 3 {
        Some(format!(
            "Landlock ABI {abi} cannot restrict truncate (needs ABI 3, Linux 6.2)"
        ))
    } else if abi < 6 {
        Some(format!(
            "Landlock ABI {abi} cannot stop the sandbox from signalling host processes (needs ABI 6, Linux 6.12)"
        ))
    } else {
        None
    };
    match missing {
        Some(m) => Err(Error::new(
            Code::Unsupported,
            format!("sl_spawn: {m}; call sl_policy_set_best_effort() to run with what this kernel enforces"),
        )),
        None => Ok(()),
    }
}

/// The paths `execvp` would try for `prog`, given the child's environment.
fn exec_candidates(prog: &[u8], envp: &[CString]) -> Vec<Vec<u8>> {
    if prog.contains(&b'/') {
        return vec![prog.to_vec()];
    }
    let path = envp
        .iter()
        .find_map(|v| v.as_bytes().strip_prefix(b"PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(|&c| c == b':')
        .map(|dir| {
            // An empty PATH element means the current directory, as in execvp.
            let mut p = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            p.push(b'/');
            p.extend_from_slice(prog);
            p
        })
        .collect()
}

/// Is `fd` open in this process?
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

pub fn spawn(policy: &Policy, argv: Vec<CString>) -> Result<Child> {
    check_kernel(policy)?;
    policy.check_workdir("sl_spawn")?;
    let cow = match &policy.workdir {
        Some((dir, mode)) => Some(crate::cow::Run::new(dir, *mode)?),
        None => None,
    };
    let ruleset = match &cow {
        Some(run) => crate::landlock::ruleset_with_upper(policy, &run.upper())?,
        None => crate::landlock::ruleset_for(policy)?,
    };
    let envp = policy.environment();
    let candidates = exec_candidates(argv[0].as_bytes(), &envp);

    let mut fds: Vec<RawFd> = Vec::new();
    let mut stdio = [false; 3];
    for (i, s) in policy.stdio.iter().enumerate() {
        let fd = s.unwrap_or(i as RawFd);
        if is_open(fd) {
            stdio[i] = true;
            fds.push(fd);
        } else if s.is_some() {
            return Err(Error::with_errno(
                Code::Invalid,
                format!(
                    "sl_spawn: the policy's {} fd {fd} is no longer open",
                    ["stdin", "stdout", "stderr"][i]
                ),
                libc::EBADF,
            ));
        }
    }
    if let Some(r) = ruleset.as_ref() {
        fds.push(r.as_raw_fd());
    }
    let req = SpawnRequest {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        envp: envp.iter().map(|a| a.as_bytes().to_vec()).collect(),
        candidates,
        cwd: policy
            .cwd
            .as_ref()
            .map(|c| c.as_os_str().as_bytes().to_vec()),
        seed: policy.seed,
        timeout_ms: policy.timeout_ms,
        stdio,
        has_ruleset: ruleset.is_some(),
        no_aslr: policy.seed.is_some(),
        limits: policy.limits,
        det: policy.det.clone(),
        best_effort: policy.best_effort,
        writable: policy
            .rules
            .iter()
            .filter(|r| r.access == crate::policy::Access::Write)
            .map(|r| r.path.as_os_str().as_bytes().to_vec())
            .collect(),
        deny: policy
            .deny
            .iter()
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .collect(),
        allow_udp: policy.allow_udp,
        connect: policy
            .connect_rules
            .iter()
            .map(|r| r.as_bytes().to_vec())
            .collect(),
        readable: policy
            .rules
            .iter()
            .filter(|r| r.access != crate::policy::Access::Write)
            .map(|r| r.path.as_os_str().as_bytes().to_vec())
            .collect(),
        events: policy.events.as_ref().map_or(0, |h| h.mask),
        tcp_connect: policy.tcp_connect.clone(),
        tcp_bind: policy.tcp_bind.clone(),
        bind: policy
            .bind_rules
            .iter()
            .map(|r| r.as_bytes().to_vec())
            .collect(),
        proc_view: policy.proc_view,
        workdir: cow.as_ref().map(|r| {
            (
                r.dir.as_os_str().as_bytes().to_vec(),
                r.state.as_os_str().as_bytes().to_vec(),
            )
        }),
    };
    let sock = link::request_spawn(&req.encode(), &fds)?;

    let mut buf = vec![0u8; BUF_LEN];
    let (n, mut got) = sock::recv(sock.as_raw_fd(), &mut buf, false).map_err(|e| {
        Error::sys(
            "sl_spawn: reading the supervisor's answer",
            e.raw_os_error().unwrap_or(0),
        )
    })?;
    if n == 0 {
        return Err(Error::new(
            Code::Supervisor,
            "sl_spawn: the sandbox supervisor process exited before answering (see its stderr)",
        ));
    }
    match Report::decode(&buf[..n]) {
        Ok(Report::Spawned { pid }) if got.len() == 1 => {
            let sock = Arc::new(sock);
            let done = Arc::new(Done::default());
            let event_thread = match &policy.events {
                Some(h) => Some(start_event_thread(
                    h.clone(),
                    sock.clone(),
                    done.clone(),
                    pid,
                )?),
                None => None,
            };
            Ok(Child {
                sock,
                pid,
                pidfd: got.remove(0),
                done,
                reader: Mutex::new(()),
                event_thread,
                cow: cow.map(Mutex::new),
            })
        }
        Ok(Report::Failed {
            code,
            errno,
            message,
        }) => Err(Error {
            code: Code::from_i32(code).unwrap_or(Code::Internal),
            errno,
            message,
        }),
        other => Err(Error::new(
            Code::Internal,
            format!("sl_spawn: unexpected supervisor answer {other:?}"),
        )),
    }
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn pidfd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    pub fn timed_out(&self) -> bool {
        self.outcome().is_some_and(|d| d.end == End::Timeout)
    }

    pub fn wait(&self) -> Result<i32> {
        Ok(self.wait_timeout(None)?.unwrap_or_default())
    }

    /// The raw wait status, waiting at most `timeout_ms` (None = forever); None if still running.
    pub fn wait_timeout(&self, timeout_ms: Option<u64>) -> Result<Option<i32>> {
        Ok(self.wait_outcome(timeout_ms)?.map(|o| o.status))
    }

    /// How the sandbox ended, waiting at most `timeout_ms` (None = forever).
    /// With a workdir in an automatic mode, the first wait that sees the end
    /// also commits, aborts or keeps; a failed commit is this wait's error
    /// (the next wait returns the outcome).
    pub fn wait_outcome(&self, timeout_ms: Option<u64>) -> Result<Option<Outcome>> {
        let o = self.wait_outcome_raw(timeout_ms)?;
        if let (Some(o), Some(run)) = (o, &self.cow) {
            let mut run = run.lock().unwrap_or_else(|e| e.into_inner());
            run.settle(o.status, "sl_wait")?;
        }
        Ok(o)
    }

    /// The workdir state, or an error naming `func` if the policy had none.
    pub(crate) fn cow_run(&self, func: &str) -> Result<std::sync::MutexGuard<'_, crate::cow::Run>> {
        match &self.cow {
            Some(r) => Ok(r.lock().unwrap_or_else(|e| e.into_inner())),
            None => Err(Error::invalid(format!(
                "{func}: the child's policy has no workdir (sl_policy_set_workdir)"
            ))),
        }
    }

    /// True once the exit report has arrived.
    pub(crate) fn is_over(&self) -> bool {
        self.outcome().is_some()
    }

    fn wait_outcome_raw(&self, timeout_ms: Option<u64>) -> Result<Option<Outcome>> {
        if self.event_thread.is_some() {
            return self.wait_event_thread(timeout_ms);
        }
        let _reading = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = self.outcome() {
            return Ok(Some(o));
        }
        let deadline =
            timeout_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
        let mut buf = vec![0u8; BUF_LEN];
        loop {
            let left = deadline.map(|d| {
                d.saturating_duration_since(std::time::Instant::now())
                    .as_millis() as u64
            });
            let ready = sock::wait_readable(&self.sock, left)
                .map_err(|e| Error::sys("sl_wait: poll", e.raw_os_error().unwrap_or(0)))?;
            if !ready {
                return Ok(None);
            }
            let (n, _) = match sock::recv(self.sock.as_raw_fd(), &mut buf, true) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => (0, Vec::new()),
                Err(e) => {
                    return Err(Error::sys(
                        "sl_wait: reading the supervisor",
                        e.raw_os_error().unwrap_or(0),
                    ))
                }
            };
            if n == 0 {
                return Err(self.supervisor_died());
            }
            if let Ok(Report::Exited {
                status,
                end,
                detail,
            }) = Report::decode(&buf[..n])
            {
                let end = End::from_u8(end).unwrap_or_else(|| End::from_status(status));
                let o = Outcome {
                    status,
                    end,
                    detail,
                };
                self.done.set(Some(o));
                return Ok(Some(o));
            }
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        self.done.get().outcome
    }

    /// `wait_outcome` for a child whose event thread reads the socket.
    fn wait_event_thread(&self, timeout_ms: Option<u64>) -> Result<Option<Outcome>> {
        let deadline =
            timeout_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
        let mut st = self.done.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(o) = st.outcome {
                return Ok(Some(o));
            }
            if st.lost {
                return Err(self.supervisor_died());
            }
            st = match deadline {
                None => self.done.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    self.done
                        .cv
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    fn supervisor_died(&self) -> Error {
        Error::new(
            Code::Supervisor,
            format!(
                "sl_wait: the sandbox supervisor process died; child {} was killed with it",
                self.pid
            ),
        )
    }

    pub fn kill(&self, sig: i32) -> Result<()> {
        if self.outcome().is_some() {
            return Ok(());
        }
        match sock::send(self.sock.as_raw_fd(), &Command::Kill { sig }.encode(), &[]) {
            Ok(()) => Ok(()),
            // The sandbox is over and the supervisor closed its end: nothing to kill.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) => {
                Ok(())
            }
            Err(e) => Err(Error::sys(
                "sl_child_kill: sending to the supervisor",
                e.raw_os_error().unwrap_or(0),
            )),
        }
    }
}

impl Drop for Child {
    /// Kill what still runs and wait until the supervisor has reaped all of it,
    /// so nothing outlives the handle. Bounded: a supervisor that does not answer
    /// within 10 s is left to its own hang-up handling (closing the socket
    /// below tells it to kill the sandbox too).
    fn drop(&mut self) {
        if self.outcome().is_none() && self.kill(libc::SIGKILL).is_ok() {
            // Not `wait_outcome`: freeing decides nothing about a workdir.
            let _ = self.wait_outcome_raw(Some(10_000));
        }
        // An undecided workdir is discarded when its Run drops; KEEP keeps it.
        if let Some(run) = &self.cow {
            let mut run = run.lock().unwrap_or_else(|e| e.into_inner());
            if run.mode == crate::cow::Mode::Keep && run.decision == crate::cow::Decision::Pending {
                run.keep();
            }
        }
        if let Some(t) = self.event_thread.take() {
            // Wake the thread if it still reads (supervisor not answering);
            // wait for a callback that is running, unless this is the
            // callback's own thread (freeing its child from the callback).
            // SAFETY: shutdown on our own socket; it stays open until the last Arc goes.
            unsafe { libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR) };
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Done {
    fn get(&self) -> DoneState {
        *self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, outcome: Option<Outcome>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Some(o) => st.outcome = Some(o),
            None => st.lost = true,
        }
        self.cv.notify_all();
    }
}

/// Largest message the event thread reads (an exec event carries the argv).
const EVENT_BUF_LEN: usize = crate::handlers::events::MAX_ARGV_BYTES + 64 * 1024;

/// The thread that owns reading `sock`: it answers events with `h` and
/// publishes the exit report in `done`. It ends with the report or the socket.
fn start_event_thread(
    h: crate::events::Handler,
    sock: Arc<OwnedFd>,
    done: Arc<Done>,
    pid: i32,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("sandlock-ev-{pid}"))
        .spawn(move || {
            let mut buf = vec![0u8; EVENT_BUF_LEN];
            loop {
                let n = match sock::recv(sock.as_raw_fd(), &mut buf, false) {
                    Ok((n, _)) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => 0,
                };
                if n == 0 {
                    done.set(None);
                    return;
                }
                match Report::decode(&buf[..n]) {
                    Ok(Report::Exited {
                        status,
                        end,
                        detail,
                    }) => {
                        let end = End::from_u8(end).unwrap_or_else(|| End::from_status(status));
                        done.set(Some(Outcome {
                            status,
                            end,
                            detail,
                        }));
                        return;
                    }
                    Ok(Report::Event { id, event }) => {
                        // A panic in a Rust handler is a denial; a C callback
                        // cannot unwind into us (it aborts, out of our control).
                        let d = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            (h.decide)(&event)
                        }))
                        .unwrap_or(crate::events::Decision::Deny(libc::EACCES));
                        if id == 0 {
                            continue; // a refusal report: nothing to answer
                        }
                        let (action, errno) = d.encode();
                        let msg = Command::Decide { id, action, errno }.encode();
                        // A sandbox that is over no longer listens: nothing to do.
                        let _ = sock::send(sock.as_raw_fd(), &msg, &[]);
                    }
                    _ => {}
                }
            }
        })
        .map_err(|e| {
            Error::sys(
                "sl_spawn: starting the event thread",
                e.raw_os_error().unwrap_or(0),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_execvp() {
        let env = vec![CString::new("PATH=/a::/b").unwrap()];
        assert_eq!(
            exec_candidates(b"ls", &env),
            vec![b"/a/ls".to_vec(), b"./ls".to_vec(), b"/b/ls".to_vec()]
        );
        assert_eq!(exec_candidates(b"./x", &env), vec![b"./x".to_vec()]);
        assert_eq!(exec_candidates(b"ls", &[]).len(), 3);
    }
}
