//! Register access and single-stepping of a stopped tracee.

use super::exec::Failure;

pub fn get(pid: libc::pid_t) -> Result<libc::user_regs_struct, i32> {
    // SAFETY: user_regs_struct is plain data; zero is a valid value.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: the tracee is stopped; the kernel fills `r`.
    if unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            pid,
            0,
            &mut r as *mut libc::user_regs_struct,
        )
    } < 0
    {
        return Err(crate::error::last_errno());
    }
    Ok(r)
}

pub fn set(pid: libc::pid_t, r: &libc::user_regs_struct) -> Result<(), i32> {
    // SAFETY: the tracee is stopped; the kernel reads `r`.
    if unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            pid,
            0,
            r as *const libc::user_regs_struct,
        )
    } < 0
    {
        return Err(crate::error::last_errno());
    }
    Ok(())
}

/// The siginfo of the signal the tracee is stopped for.
pub fn siginfo(pid: libc::pid_t) -> Option<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; zero is a valid value.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the tracee is in a signal-delivery stop; the kernel fills `si`.
    if unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid,
            0,
            &mut si as *mut libc::siginfo_t,
        )
    } < 0
    {
        return None;
    }
    Some(si)
}

/// `si_code` of the signal the tracee is stopped for.
pub fn si_code(pid: libc::pid_t) -> Option<i32> {
    siginfo(pid).map(|si| si.si_code)
}

/// Execute one instruction (or finish a pending syscall exit) and wait for the
/// trap. Signals that arrive meanwhile are kept in `pending` for the caller to
/// deliver once the tracee runs its own code again.
pub fn step(pid: libc::pid_t, pending: &mut Vec<i32>) -> Result<(), Failure> {
    loop {
        // SAFETY: single-stepping our own stopped tracee, no signal injected.
        if unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, pid, 0, 0) } < 0 {
            return Err(Failure::Refused(format!(
                "cannot single-step pid {pid}: {}",
                crate::error::errno_text(crate::error::last_errno())
            )));
        }
        let mut st = 0;
        // SAFETY: waiting for this one tracee of ours.
        while unsafe { libc::waitpid(pid, &mut st, libc::__WALL) } < 0 {
            if crate::error::last_errno() != libc::EINTR {
                return Err(Failure::Died(libc::SIGKILL));
            }
        }
        if !libc::WIFSTOPPED(st) {
            return Err(Failure::Died(st));
        }
        let sig = libc::WSTOPSIG(st);
        if st >> 16 != 0 {
            continue; // an event or group stop: keep stepping
        }
        if sig == libc::SIGTRAP {
            return Ok(());
        }
        pending.push(sig);
    }
}
