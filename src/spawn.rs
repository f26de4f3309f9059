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
use std::sync::Mutex;

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
    sock: OwnedFd,
    pid: i32,
    pidfd: OwnedFd,
    /// The exit report once received (held only briefly).
    done: Mutex<Option<Outcome>>,
    /// Held while reading the socket, so one waiter reads and others queue.
    /// Separate from `done`, so a kill or a getter never waits for a waiter.
    reader: Mutex<()>,
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
    let ruleset = crate::landlock::ruleset_for(policy)?;
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
        Ok(Report::Spawned { pid }) if got.len() == 1 => Ok(Child {
            sock,
            pid,
            pidfd: got.remove(0),
            done: Mutex::new(None),
            reader: Mutex::new(()),
        }),
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
    pub fn wait_outcome(&self, timeout_ms: Option<u64>) -> Result<Option<Outcome>> {
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
                return Err(Error::new(
                    Code::Supervisor,
                    format!(
                        "sl_wait: the sandbox supervisor process died; child {} was killed with it",
                        self.pid
                    ),
                ));
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
                *self.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
                return Ok(Some(o));
            }
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        *self.done.lock().unwrap_or_else(|e| e.into_inner())
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
            let _ = self.wait_outcome(Some(10_000));
        }
    }
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
