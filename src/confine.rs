//! Self-confinement: a policy's Landlock ruleset and seccomp deny list applied
//! to the calling process itself (`sl_confine_self`).
//!
//! Order, chosen so that a failure leaves the process as it was:
//! 1. refuse every setting that needs the supervisor or only concerns a
//!    spawned child, and what the kernel cannot enforce in strict mode;
//! 2. prepare the ruleset fd, the BPF program and the rlimits (checked against
//!    the current hard limits, so that setting them cannot fail later);
//! 3. a trial run: a `CLONE_VM|CLONE_VFORK` child on its own stack applies
//!    the same Landlock domain and filter to itself with raw syscalls and
//!    exits, so the per-task limits (16 nested Landlock domains, the seccomp
//!    instruction budget) are met before anything touches the caller;
//! 4. `PR_SET_NO_NEW_PRIVS`, the seccomp filter with `SECCOMP_FILTER_FLAG_TSYNC`
//!    (all threads, all or nothing), Landlock with `LANDLOCK_RESTRICT_SELF_TSYNC`
//!    where the kernel has it (ABI 8), then the rlimits.

use crate::error::{Code, Error, Result};
use crate::outcome::Limit;
use crate::policy::{Policy, TimeMode, DEFAULT_TIME_STEP_NS};
use crate::seccomp::filter::{build_program, FilterOptions};
use crate::sys::{exit_group, syscall2, syscall3, syscall5};
use std::os::fd::AsRawFd;

const F: &str = "sl_confine_self";

const PR_SET_NO_NEW_PRIVS: usize = 38;
const SECCOMP_SET_MODE_FILTER: usize = 1;
const SECCOMP_FILTER_FLAG_TSYNC: usize = 1;
/// Landlock ABI 8 (`landlock_restrict_self` on every thread of the process).
const LANDLOCK_RESTRICT_SELF_TSYNC: usize = 1 << 3;
const TSYNC_ABI: i32 = 8;
const TRIAL_STACK: usize = 64 * 1024;

/// The settings of `policy` that `sl_confine_self` cannot honour, named by setter.
fn unsupported(policy: &Policy) -> Vec<&'static str> {
    let mut out = Vec::new();
    let d = &policy.det;
    if policy.seed.is_some() {
        out.push("sl_policy_set_random_seed (seeded randomness needs the supervisor)");
    }
    if policy.events.is_some() {
        out.push("sl_policy_set_event_handler (events need the supervisor)");
    }
    if d.time_mode != TimeMode::Real {
        out.push("sl_policy_set_time (virtual time needs the supervisor)");
    }
    if d.time_step_ns != DEFAULT_TIME_STEP_NS {
        out.push("sl_policy_set_time_step_ns (virtual time needs the supervisor)");
    }
    if d.cpu_count.is_some() {
        out.push("sl_policy_set_cpu_count (a virtual CPU count needs the supervisor)");
    }
    if d.hostname.is_some() {
        out.push("sl_policy_set_hostname (a virtual host name needs the supervisor)");
    }
    if policy.proc_view {
        out.push("sl_policy_set_proc_view (the /proc view needs the supervisor)");
    }
    if policy.timeout_ms.is_some() {
        out.push("sl_policy_set_timeout_ms (the timeout is kept by the supervisor)");
    }
    for (l, what) in [
        (
            Limit::Memory,
            "sl_policy_set_limit(SL_LIMIT_MEMORY) (polled by the supervisor)",
        ),
        (
            Limit::Processes,
            "sl_policy_set_limit(SL_LIMIT_PROCESSES) (counted by the supervisor)",
        ),
        (
            Limit::CpuSeconds,
            "sl_policy_set_limit(SL_LIMIT_CPU_SECONDS) (summed by the supervisor)",
        ),
    ] {
        if policy.limits[l.index()] != 0 {
            out.push(what);
        }
    }
    if policy.env.inherit || !policy.env.vars.is_empty() {
        out.push("sl_policy_set_env / sl_policy_inherit_env (a spawned child's environment)");
    }
    if policy.workdir.is_some() {
        out.push("sl_policy_set_workdir (a copy-on-write workdir needs the supervisor)");
    }
    if policy.cwd.is_some() {
        out.push("sl_policy_set_cwd (a spawned child's directory)");
    }
    if policy.stdio.iter().any(Option::is_some) {
        out.push("sl_policy_set_stdio (a spawned child's stdio)");
    }
    out
}

/// How many threads this process has, from /proc (None if it cannot tell).
fn thread_count() -> Option<usize> {
    crate::procfs::Status::of(std::process::id() as libc::pid_t)?
        .field("Threads")?
        .parse()
        .ok()
}

/// The per-process rlimits to set, each checked against the current hard limit.
fn rlimits(policy: &Policy) -> Result<Vec<(libc::__rlimit_resource_t, u64)>> {
    let mut out = Vec::new();
    for (l, res, name) in [
        (Limit::OpenFiles, libc::RLIMIT_NOFILE, "SL_LIMIT_OPEN_FILES"),
        (Limit::FileSize, libc::RLIMIT_FSIZE, "SL_LIMIT_FILE_SIZE"),
    ] {
        let v = policy.limits[l.index()];
        if v == 0 {
            continue;
        }
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the rlimit on our stack.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            return Err(Error::last_os(format!("{F}: getrlimit for {name}")));
        }
        if v > cur.rlim_max {
            return Err(Error::new(
                Code::Invalid,
                format!(
                    "{F}: {name} {v} is above this process's hard limit {}, which it cannot raise; \
                     nothing was applied",
                    cur.rlim_max
                ),
            ));
        }
        out.push((res, v));
    }
    Ok(out)
}

/// What the trial child is given and reports (shared memory: `CLONE_VM`).
#[repr(C)]
struct Trial {
    ruleset_fd: libc::c_int,
    prog: libc::sock_fprog,
    /// 0 = all applied; else 1 no_new_privs, 2 Landlock, 3 seccomp.
    stage: u8,
    errno: i32,
}

/// The trial child: applies the domain and the filter to itself, reports, exits.
extern "C" fn trial_main(arg: *mut libc::c_void) -> libc::c_int {
    let t = arg as *mut Trial;
    // SAFETY: `arg` is the live Trial of `trial`, whose thread is suspended
    // (CLONE_VFORK) until this child exits; only raw syscalls and plain stores
    // follow, as befits a CLONE_VM child that shares the caller's TLS.
    unsafe {
        let report = |stage: u8, r: isize| {
            (*t).stage = stage;
            (*t).errno = -r as i32;
            exit_group(0)
        };
        let r = syscall5(libc::SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if r < 0 {
            report(1, r);
        }
        if (*t).ruleset_fd >= 0 {
            let r = syscall2(
                libc::SYS_landlock_restrict_self,
                (*t).ruleset_fd as usize,
                0,
            );
            if r < 0 {
                report(2, r);
            }
        }
        let r = syscall3(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0,
            &(*t).prog as *const libc::sock_fprog as usize,
        );
        if r < 0 {
            report(3, r);
        }
        (*t).stage = 0;
        exit_group(0)
    }
}

/// Apply everything in a throw-away child first: a refusal there costs nothing.
fn trial(ruleset_fd: libc::c_int, prog: &[libc::sock_filter]) -> Result<()> {
    let mut t = Box::new(Trial {
        ruleset_fd,
        prog: libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        },
        stage: 255,
        errno: 0,
    });
    // SAFETY: a fresh anonymous mapping, unmapped below.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            TRIAL_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(Error::last_os(format!("{F}: mmap of a trial stack")));
    }
    // The child starts with every signal blocked: no host handler may run on
    // its stack with our memory.
    // SAFETY: sigset_t is plain data; the calls fill and install it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers on our stack.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the child runs `trial_main` on its own stack with `t`; CLONE_VFORK
    // suspends this thread until the child has exited, so `t`, `prog` and the
    // stack outlive it. Exit signal 0: no SIGCHLD reaches the host, and only a
    // __WALL wait (ours, below) can reap it.
    let pid = unsafe {
        libc::clone(
            trial_main,
            stack.cast::<u8>().add(TRIAL_STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK,
            &mut *t as *mut Trial as *mut libc::c_void,
        )
    };
    let clone_errno = crate::error::last_errno();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid > 0 {
        let mut st = 0;
        // SAFETY: reaps our own child; `st` is a valid out pointer.
        while unsafe { libc::waitpid(pid, &mut st, libc::__WALL) } < 0
            && crate::error::last_errno() == libc::EINTR
        {}
    }
    // SAFETY: the child has exited (CLONE_VFORK); nobody uses the stack.
    unsafe { libc::munmap(stack, TRIAL_STACK) };
    if pid < 0 {
        return Err(Error::sys(
            format!("{F}: clone of a trial process"),
            clone_errno,
        ));
    }
    match t.stage {
        0 => Ok(()),
        1 => Err(Error::sys(
            format!("{F}: prctl(PR_SET_NO_NEW_PRIVS) failed in a trial; nothing was applied"),
            t.errno,
        )),
        2 => Err(Error::sys(
            format!(
                "{F}: the kernel refused the Landlock domain in a trial{}; nothing was applied",
                if t.errno == libc::E2BIG {
                    " (this process already has 16 nested Landlock domains)"
                } else {
                    ""
                }
            ),
            t.errno,
        )),
        3 => Err(Error::sys(
            format!("{F}: the kernel refused the seccomp filter in a trial; nothing was applied"),
            t.errno,
        )),
        _ => Err(Error::new(
            Code::Internal,
            format!("{F}: the trial process did not report; nothing was applied"),
        )),
    }
}

/// Apply `policy`'s Landlock ruleset and seccomp deny list to the calling process.
///
/// Either everything is applied, or nothing but (at worst) `no_new_privs`;
/// see `sl_confine_self` in src/ffi/confine.rs for the contract.
pub fn confine_self(policy: &Policy) -> Result<()> {
    let refused = unsupported(policy);
    if !refused.is_empty() {
        return Err(Error::invalid(format!(
            "{F}: the policy sets what only a spawned sandbox can do: {}; nothing was applied",
            refused.join("; ")
        )));
    }
    crate::spawn::check_kernel(policy).map_err(|e| Error {
        message: e.message.replacen("sl_spawn:", &format!("{F}:"), 1) + "; nothing was applied",
        ..e
    })?;
    let abi = crate::features::landlock_abi();
    let tsync = abi >= TSYNC_ABI;
    if abi > 0 && !tsync && !policy.best_effort {
        match thread_count() {
            Some(1) => {}
            other => {
                let what = match other {
                    Some(n) => format!("this process has {n} threads"),
                    None => "the thread count is unknown (/proc/self/status unreadable)".into(),
                };
                return Err(Error::new(
                    Code::Unsupported,
                    format!(
                        "{F}: {what}, and Landlock ABI {abi} can confine only the calling thread \
                         (all threads need LANDLOCK_RESTRICT_SELF_TSYNC, ABI {TSYNC_ABI}); call it \
                         before starting threads, or call sl_policy_set_best_effort() to confine \
                         the calling thread and the threads it starts later; nothing was applied"
                    ),
                ));
            }
        }
    }
    let limits = rlimits(policy)?;
    let ruleset = crate::landlock::ruleset_for(policy)?;
    let ruleset_fd = ruleset.as_ref().as_ref().map_or(-1, |fd| fd.as_raw_fd());
    let prog = build_program(&FilterOptions::default())
        .map_err(|e| Error::new(Code::Internal, format!("{F}: building the filter: {e}")))?;
    trial(ruleset_fd, &prog)?;

    // From here on the calling process changes.
    // SAFETY: prctl with integer arguments.
    let r = unsafe { syscall5(libc::SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r < 0 {
        return Err(Error::sys(
            format!("{F}: prctl(PR_SET_NO_NEW_PRIVS); nothing was applied"),
            -r as i32,
        ));
    }
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `prog`, alive for the call; the kernel copies it.
    let r = unsafe {
        syscall3(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const libc::sock_fprog as usize,
        )
    };
    if r > 0 {
        return Err(Error::new(
            Code::Sys,
            format!(
                "{F}: thread {r} of this process cannot take the seccomp filter (it has filters \
                 of its own); only no_new_privs was set, nothing else was applied"
            ),
        ));
    }
    if r < 0 {
        return Err(Error::sys(
            format!("{F}: seccomp; only no_new_privs was set, nothing else was applied"),
            -r as i32,
        ));
    }
    if ruleset_fd >= 0 {
        let flags = if tsync {
            LANDLOCK_RESTRICT_SELF_TSYNC
        } else {
            0
        };
        // SAFETY: a ruleset fd we own, integer flags.
        let r = unsafe { syscall2(libc::SYS_landlock_restrict_self, ruleset_fd as usize, flags) };
        if r < 0 {
            return Err(Error::sys(
                format!(
                    "{F}: landlock_restrict_self after the seccomp filter was installed: the \
                     process is only partly confined (the deny list applies, the path rules do not)"
                ),
                -r as i32,
            ));
        }
    }
    for (res, v) in limits {
        let lim = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        // SAFETY: setrlimit reads the rlimit on our stack. It cannot fail:
        // `v` was checked against the hard limit above.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            return Err(Error::last_os(format!(
                "{F}: setrlimit after confinement: the process is confined, without this limit"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_settings_are_named() {
        let mut p = Policy::new();
        assert!(unsupported(&p).is_empty());
        p.set_seed(1);
        p.set_timeout_ms(5);
        p.set_limit(Limit::Memory, 1 << 20);
        p.set_limit(Limit::OpenFiles, 64); // per-process: allowed
        p.set_hostname(Some(b"box")).unwrap();
        p.set_proc_view(true);
        p.set_workdir(std::path::Path::new("/tmp"), 0).unwrap();
        let got = unsupported(&p).join("\n");
        for want in [
            "sl_policy_set_random_seed",
            "sl_policy_set_timeout_ms",
            "SL_LIMIT_MEMORY",
            "sl_policy_set_hostname",
            "sl_policy_set_proc_view",
            "sl_policy_set_workdir",
        ] {
            assert!(got.contains(want), "{want} missing from {got}");
        }
        assert!(!got.contains("OPEN_FILES"), "{got}");
    }

    #[test]
    fn rlimits_above_the_hard_limit_are_refused() {
        let mut p = Policy::new();
        p.set_limit(Limit::OpenFiles, 16);
        assert_eq!(rlimits(&p).unwrap(), vec![(libc::RLIMIT_NOFILE, 16)]);
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: fills `cur`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
        if cur.rlim_max != libc::RLIM_INFINITY {
            p.set_limit(Limit::OpenFiles, cur.rlim_max + 1);
            let e = rlimits(&p).unwrap_err();
            assert!(e.message.contains("hard limit"), "{}", e.message);
        }
    }
}
