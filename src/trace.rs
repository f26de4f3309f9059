//! The ptrace side of the supervisor: following forks, exec stops, exits.
//!
//! Each sandbox's first process is attached with `PTRACE_SEIZE` before its exec
//! (`supervisor/launch.rs`), with TRACEFORK|TRACEVFORK|TRACECLONE so every
//! descendant is attached automatically and race-free (research/spike-exec-ptrace.md
//! Q9: without TRACEVFORK, posix_spawn and dash children escape). Knowing every
//! task is what lets a kill reach the whole tree, `setsid()` and double forks
//! included, and it keeps pids from being reused while we serve notifications.
//!
//! Determinism: at every exec stop the new image is prepared before its first
//! instruction (`exec.rs`: AT_RANDOM, vDSO, CPUID faulting; `fastclock.rs`:
//! the frozen clock in user space), the SIGSEGVs of trapped rdtsc/cpuid are
//! answered instead of delivered (`insn.rs`), and the supervisor thread traps
//! what the sandbox it serves traps (`selfmode.rs`), which keeps context
//! switches between them cheap.

mod entrystub;
mod exec;
mod fastclock;
mod insn;
pub(crate) mod regs;
mod selfmode;

pub(crate) use exec::{ExecState, Failure};
pub(crate) use insn::CPUID_FAULTING;

use crate::error::{Code, Error};
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

/// Restart a tracee at a seccomp stop so that it stops again at the call's
/// exit (ptrace(2), "Syscall-stops").
fn resume_to_exit(pid: libc::pid_t) {
    // SAFETY: restarting our own tracee; a task killed meanwhile just gives ESRCH.
    unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, 0) };
}

/// Is `pid` a live (not zombie) task traced by this process?
fn traced_and_alive(pid: libc::pid_t) -> bool {
    let Some(st) = crate::procfs::Status::of(pid) else {
        return false;
    };
    let zombie = st
        .field("State")
        .is_some_and(|v| v.starts_with('Z') || v.starts_with('X'));
    !zombie && st.pid("TracerPid") == Some(std::process::id() as libc::pid_t)
}

impl Supervisor {
    /// Handle one `waitpid` result for a traced task.
    pub(crate) fn on_wait_status(&mut self, pid: libc::pid_t, status: i32) {
        // Right after an exec or an emulated instruction a program usually
        // traps again within ~30 µs (glibc's start-up runs ~43 cpuid and 8
        // rdtsc). Spinning up to 100 µs on that task's next status instead of
        // going back to poll made things slower on the 2-vCPU benchmark VM:
        // 20 deterministic execs of /bin/true took 56 ms with the spin, 45 ms
        // without (python3 start-up 19.4 vs 18.6 ms; interleaved runs,
        // BENCHMARKS.md section i). The spinning supervisor holds a CPU the
        // tracee could use, and misses whenever the program runs on (after its
        // last trap, a spin is 100 µs lost for every other task).
        self.one_status(pid, status);
    }

    /// Handle one wait status; true if the task was just resumed after an
    /// exec stop or an emulated instruction.
    fn one_status(&mut self, pid: libc::pid_t, status: i32) -> bool {
        if let Some(sb) = self.owner.get(&pid).and_then(|id| self.sandboxes.get(id)) {
            mirror(&sb.exec);
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            self.task_exited(pid, status);
            return false;
        }
        if !libc::WIFSTOPPED(status) {
            return false;
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
                if !self.exec_matches(pid, former) {
                    resume(pid, 0);
                    return false;
                }
                return self.on_exec(pid);
            }
            libc::PTRACE_EVENT_SECCOMP => {
                if self.on_seccomp_stop(pid) {
                    resume_to_exit(pid);
                } else {
                    resume(pid, 0);
                }
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
            // A signal is about to be delivered: deliver it unchanged, unless
            // it is an rdtsc or cpuid we trapped on purpose.
            0 if sig == libc::SIGSEGV && self.emulate(pid) => {
                resume(pid, 0);
                return true;
            }
            0 if sig == libc::SIGSYS && self.foreign_abi_call(pid) => {}
            0 if sig == libc::SIGILL && self.entry_stub_failed(pid) => {}
            0 if sig == libc::SIGTRAP && self.on_syscall_exit(pid) => resume(pid, 0),
            0 => resume(pid, sig),
            _ => resume(pid, 0),
        }
        false
    }

    /// A `SECCOMP_RET_TRACE` stop: the copy-on-write workdir's chdir and
    /// exec, or a timed wait whose deadline is translated
    /// (`handlers/timedwait.rs`). True: stop again at the call's exit.
    fn on_seccomp_stop(&mut self, pid: libc::pid_t) -> bool {
        let Some(sb) = self
            .owner
            .get(&pid)
            .and_then(|id| self.sandboxes.get_mut(id))
        else {
            return false;
        };
        if let Some(c) = &mut sb.clock {
            if let Some(exit) = crate::handlers::timedwait::trace_stop(c, pid) {
                return exit;
            }
        }
        if let Some(c) = &sb.cow {
            c.trace_stop(pid);
        }
        false
    }

    /// A SIGTRAP stop: true if it was the exit of a translated timed wait
    /// (a timeout moves frozen time, published to the user-space clocks).
    fn on_syscall_exit(&mut self, pid: libc::pid_t) -> bool {
        let Some(sb) = self
            .owner
            .get(&pid)
            .and_then(|id| self.sandboxes.get_mut(id))
        else {
            return false;
        };
        let Some(c) = &mut sb.clock else {
            return false;
        };
        if !crate::handlers::timedwait::syscall_exit(c, pid) {
            return false;
        }
        sb.exec.publish(c.elapsed());
        true
    }

    fn adopt(&mut self, child: libc::pid_t, parent: libc::pid_t) {
        // A fork event can be handled after the new task already stopped, was
        // killed and reported its exit (events of different tasks come in any
        // order): adding it back then would wait forever for an exit that came.
        if !self.owner.contains_key(&child) && !traced_and_alive(child) {
            return;
        }
        if let Some(&id) = self.owner.get(&parent) {
            self.owner.insert(child, id);
            if let Some(sb) = self.sandboxes.get_mut(&id) {
                sb.members.insert(child);
                sb.exec.on_fork(parent, child);
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
        let st = crate::procfs::Status::of(pid);
        let parent = ["Tgid", "PPid"]
            .into_iter()
            .filter_map(|k| st.as_ref()?.pid(k))
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
            sb.exec.on_gone(pid);
            if let Some(c) = &mut sb.clock {
                crate::handlers::timedwait::gone(c, pid);
            }
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

    /// An exec stop: prepare the new image, then let it run.
    fn on_exec(&mut self, pid: libc::pid_t) -> bool {
        let Some(&id) = self.owner.get(&pid) else {
            resume(pid, 0);
            return false;
        };
        let Some(sb) = self.sandboxes.get_mut(&id) else {
            resume(pid, 0);
            return false;
        };
        let elapsed = sb.clock.as_ref().map_or(0, |c| c.elapsed());
        match exec::at_exec(&mut sb.exec, pid, elapsed) {
            Ok(sig) => {
                resume(pid, sig);
                return true;
            }
            Err(Failure::Died(status)) => self.task_exited(pid, status),
            Err(Failure::Refused(why)) => {
                // Never let a program run with the real clock or real entropy
                // when the policy asked for virtual ones.
                eprintln!("sandlock: pid {pid}: {why}; killing the sandbox");
                self.kill_tree(id);
                resume(pid, 0);
            }
        }
        false
    }

    /// A SIGSYS stop from our filter's foreign-ABI trap: end the sandbox and
    /// report the call. A program's own seccomp traps (native calls) pass on.
    fn foreign_abi_call(&mut self, pid: libc::pid_t) -> bool {
        let Some(si) = regs::siginfo(pid) else {
            return false;
        };
        const SYS_SECCOMP: i32 = 1;
        // SAFETY: reading the raw bytes of a plain struct; SIGSYS's fields are
        // `void *call_addr` at 16, `int syscall` at 24, `unsigned arch` at 28.
        let raw: [u8; 32] = unsafe { std::ptr::read((&si as *const libc::siginfo_t).cast()) };
        let nr = i32::from_ne_bytes([raw[24], raw[25], raw[26], raw[27]]);
        let arch = u32::from_ne_bytes([raw[28], raw[29], raw[30], raw[31]]);
        let ours = arch != crate::seccomp::bpf::AUDIT_ARCH_X86_64
            || (nr as u32) & crate::seccomp::bpf::X32_SYSCALL_BIT != 0;
        if si.si_code != SYS_SECCOMP || !ours {
            return false;
        }
        match self.owner.get(&pid).copied() {
            Some(id) => self.end_sandbox(id, crate::outcome::End::Seccomp, nr as i64),
            // SAFETY: a traced task of ours.
            None => unsafe {
                libc::kill(pid, libc::SIGKILL);
            },
        }
        // The task stays stopped until the SIGKILL just sent takes it.
        true
    }

    /// A SIGILL stop in the entry stub: CPUID faulting could not be re-armed
    /// (`entrystub.rs`); the program has not run yet. End the sandbox.
    fn entry_stub_failed(&mut self, pid: libc::pid_t) -> bool {
        let Some(&id) = self.owner.get(&pid) else {
            return false;
        };
        let rip = regs::get(pid).map_or(0, |r| r.rip);
        if !self
            .sandboxes
            .get(&id)
            .is_some_and(|sb| sb.exec.stub_failed(pid, rip))
        {
            return false;
        }
        eprintln!("sandlock: pid {pid}: arch_prctl(ARCH_SET_CPUID, 0) failed in the new program; killing the sandbox");
        self.kill_tree(id);
        // It stays stopped until the SIGKILL just sent takes it.
        true
    }

    /// A SIGSEGV stop: true if it was a trapped rdtsc/cpuid, now answered.
    fn emulate(&mut self, pid: libc::pid_t) -> bool {
        let Some(sb) = self
            .owner
            .get(&pid)
            .and_then(|id| self.sandboxes.get_mut(id))
        else {
            return false;
        };
        let mono = sb.clock.as_ref().map(|c| c.monotonic_ns());
        insn::emulate(pid, &mut sb.exec, mono)
    }
}

/// Make the supervisor thread trap what this sandbox traps (`selfmode.rs`).
pub(crate) fn mirror(st: &ExecState) {
    selfmode::mirror(st.tsc, st.cpuid);
}

/// A stop of a new sandbox's first process before its first exec (a signal,
/// a group stop): pass any signal on and let it go on to its exec.
pub(crate) fn resume_before_exec(pid: libc::pid_t, status: i32) {
    let sig = if status >> 16 == 0 {
        libc::WSTOPSIG(status)
    } else {
        0
    };
    resume(pid, sig);
}

/// The first exec stop of a new sandbox, awaited (from the supervisor's loop)
/// before it tells the host that the spawn worked, so that a program that
/// cannot be made deterministic fails `sl_spawn` with the reason instead of
/// running. On error the process is gone (reaped).
pub(crate) fn first_exec(pid: libc::pid_t, st: &mut ExecState) -> Result<(), Error> {
    mirror(st);
    let reap = || {
        // SAFETY: killing and reaping our own traced child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        loop {
            let mut s = 0;
            // SAFETY: waiting for our own child.
            let r = unsafe { libc::waitpid(pid, &mut s, libc::__WALL) };
            let gone = r == pid && (libc::WIFEXITED(s) || libc::WIFSIGNALED(s));
            if gone || (r < 0 && crate::error::last_errno() != libc::EINTR) {
                break;
            }
        }
    };
    match exec::at_exec(st, pid, 0) {
        Ok(sig) => {
            resume(pid, sig);
            Ok(())
        }
        Err(Failure::Died(s)) => Err(Error::new(
            Code::Exec,
            format!("sl_spawn: the program died while starting (wait status {s:#x})"),
        )),
        Err(Failure::Refused(why)) => {
            reap();
            Err(Error::new(Code::Unsupported, format!("sl_spawn: {why}")))
        }
    }
}
