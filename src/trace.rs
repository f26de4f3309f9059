//! The ptrace side of the supervisor: following forks, exec stops, exits.
//!
//! Each sandbox's first process is attached with `PTRACE_SEIZE` before its exec
//! (`supervisor/launch.rs`), with TRACEFORK|TRACEVFORK|TRACECLONE so every
//! descendant is attached automatically and race-free (research/spike-exec-ptrace.md
//! Q9: without TRACEVFORK, posix_spawn and dash children escape). Knowing every
//! task is what lets a kill reach the whole tree, `setsid()` and double forks
//! included, and it keeps pids from being reused while we serve notifications.

use crate::supervisor::process::Supervisor;

fn event_msg(pid: libc::pid_t) -> u64 {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: the tracee is in a ptrace stop; the kernel writes one c_ulong.
    unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0,
            &mut msg as *mut libc::c_ulong,
        )
    };
    msg as u64
}

fn resume(pid: libc::pid_t, sig: i32) {
    // SAFETY: restarting our own tracee; a task killed meanwhile just gives ESRCH.
    unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long) };
}

/// A field like "PPid:\t123" from /proc/PID/status.
fn status_field(pid: libc::pid_t, key: &str) -> Option<libc::pid_t> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

impl Supervisor {
    /// Handle one `waitpid` result for a traced task.
    pub(crate) fn on_wait_status(&mut self, pid: libc::pid_t, status: i32) {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.task_exited(pid, status);
            return;
        }
        if !libc::WIFSTOPPED(status) {
            return;
        }
        let sig = libc::WSTOPSIG(status);
        match status >> 16 {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                let child = event_msg(pid) as libc::pid_t;
                self.adopt(child, pid);
                resume(pid, 0);
            }
            libc::PTRACE_EVENT_EXEC => {
                // A non-leader thread that execs takes over the leader's pid.
                let former = event_msg(pid) as libc::pid_t;
                if former != pid {
                    self.forget(former);
                }
                resume(pid, 0);
            }
            libc::PTRACE_EVENT_STOP => {
                if self.started.insert(pid) {
                    // First stop of an auto-attached task: it may arrive before its
                    // parent's fork event, so find its sandbox now if needed.
                    if !self.owner.contains_key(&pid) {
                        self.adopt_unknown(pid);
                    }
                    resume(pid, 0);
                } else if matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // A group stop: stay stopped until SIGCONT, as without a tracer.
                    // SAFETY: PTRACE_LISTEN on our tracee in a group stop.
                    unsafe { libc::ptrace(libc::PTRACE_LISTEN, pid, 0, 0) };
                } else {
                    resume(pid, 0);
                }
            }
            // A signal is about to be delivered: deliver it unchanged.
            0 => resume(pid, sig),
            _ => resume(pid, 0),
        }
    }

    fn adopt(&mut self, child: libc::pid_t, parent: libc::pid_t) {
        if let Some(&id) = self.owner.get(&parent) {
            self.owner.insert(child, id);
            if let Some(sb) = self.sandboxes.get_mut(&id) {
                sb.members.insert(child);
                // A sandbox being killed must not gain survivors.
                if sb.main_status.is_some() || sb.host.is_none() || sb.cause.is_some() {
                    // SAFETY: a traced task of ours.
                    unsafe { libc::kill(child, libc::SIGKILL) };
                }
            }
            self.on_new_task(id);
        }
    }

    fn adopt_unknown(&mut self, pid: libc::pid_t) {
        let parent = [status_field(pid, "Tgid:"), status_field(pid, "PPid:")]
            .into_iter()
            .flatten()
            .find(|p| *p != pid && self.owner.contains_key(p));
        match parent {
            Some(p) => self.adopt(pid, p),
            // Its parent is already gone: it belongs to a sandbox being torn down.
            // SAFETY: a task traced by us.
            None => unsafe {
                libc::kill(pid, libc::SIGKILL);
            },
        }
    }

    fn forget(&mut self, pid: libc::pid_t) -> Option<u64> {
        self.started.remove(&pid);
        let id = self.owner.remove(&pid)?;
        if let Some(sb) = self.sandboxes.get_mut(&id) {
            sb.members.remove(&pid);
        }
        Some(id)
    }

    fn task_exited(&mut self, pid: libc::pid_t, status: i32) {
        let Some(id) = self.forget(pid) else { return };
        self.on_task_gone(id, pid);
        let main_exited = self.sandboxes.get_mut(&id).is_some_and(|sb| {
            if sb.main_pid == pid && sb.main_status.is_none() {
                sb.main_status = Some(status);
                true
            } else {
                false
            }
        });
        if main_exited {
            // The sandbox lives as long as its first process: the rest goes now.
            self.kill_tree(id);
        }
        self.finish_if_done(id);
    }
}
