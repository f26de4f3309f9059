//! Code that runs in the new child between `clone(CLONE_VM)` and `execve`.
//!
//! The child shares the supervisor's memory and even its TLS, so it may only use
//! raw system calls (`sys.rs`), read what the supervisor prepared in
//! [`ChildArgs`], and write to its own stack. No allocation, no locks, no libc
//! calls that touch errno, no panics. Any failure is reported to the supervisor
//! as a (stage, errno) record on the status socket, then the child exits.

use crate::sys::{exit_group, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6};
// prctl checks that unused arguments are zero, hence syscall5 for it.
use libc::{c_char, c_int, c_void};

/// Where the child was when something failed (sent to the supervisor).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Signals = 1,
    Stdio = 2,
    Fds = 3,
    Cwd = 4,
    DeathSignal = 5,
    Personality = 6,
    NoNewPrivs = 7,
    Landlock = 8,
    Seccomp = 9,
    SendListener = 10,
    WaitForTracer = 11,
    Exec = 12,
    Limits = 13,
    Tsc = 14,
}

impl Stage {
    pub fn from_u8(v: u8) -> Option<Stage> {
        use Stage::*;
        [
            Signals,
            Stdio,
            Fds,
            Cwd,
            DeathSignal,
            Personality,
            NoNewPrivs,
            Landlock,
            Seccomp,
            SendListener,
            WaitForTracer,
            Exec,
            Limits,
            Tsc,
        ]
        .into_iter()
        .find(|s| *s as u8 == v)
    }
}

/// Everything the child needs, prepared by the supervisor before `clone`.
#[repr(C)]
pub struct ChildArgs {
    pub status_fd: c_int,
    pub go_fd: c_int,
    /// Sources for fds 0, 1, 2; -1 closes that fd in the child.
    pub stdio: [c_int; 3],
    pub ruleset_fd: c_int,
    pub cwd: *const c_char,
    /// NULL-terminated list of paths to try with execve.
    pub candidates: *const *const c_char,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    pub prog: libc::sock_fprog,
    pub want_listener: bool,
    pub no_aslr: bool,
    /// Make `rdtsc`/`rdtscp` fault (PR_TSC_SIGSEGV) so the tracer can answer them.
    pub trap_tsc: bool,
    pub parent_pid: c_int,
    /// (resource, limit) pairs for prlimit64, the first `n_rlimits` used.
    pub rlimits: [[u64; 2]; 4],
    pub n_rlimits: usize,
}

const PR_SET_PDEATHSIG: usize = 1;
const PR_SET_NO_NEW_PRIVS: usize = 38;
const SECCOMP_SET_MODE_FILTER: usize = 1;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: usize = 1 << 3;
const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
const ADDR_NO_RANDOMIZE: usize = 0x0040000;
const PR_SET_TSC: usize = 26;
const PR_TSC_ENABLE: usize = 1;
const PR_TSC_SIGSEGV: usize = 2;

/// Give up every capability, for good: a sandbox started by root must not keep
/// CAP_DAC_OVERRIDE, CAP_MKNOD, CAP_SYS_PTRACE and the like. Emptying the bounding
/// set (possible only with CAP_SETPCAP, that is as root) is what keeps an exec
/// by uid 0 from regaining them; for other users there is nothing to drop and
/// the calls fail harmlessly.
fn drop_capabilities() {
    const PR_CAPBSET_DROP: usize = 24;
    const PR_CAP_AMBIENT: usize = 47;
    const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    for cap in 0..64usize {
        // SAFETY: prctl with integer arguments; EINVAL past the last capability.
        unsafe { syscall5(libc::SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        syscall5(
            libc::SYS_prctl,
            PR_CAP_AMBIENT,
            PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let header = [LINUX_CAPABILITY_VERSION_3, 0u32];
    let data = [0u32; 6]; // two {effective, permitted, inheritable} sets, all empty
                          // SAFETY: capset reads a header and two data structs from our stack.
    unsafe {
        syscall2(
            libc::SYS_capset,
            header.as_ptr() as usize,
            data.as_ptr() as usize,
        )
    };
}

/// Report `stage` and `errno` on the status socket and exit.
fn fail(a: &ChildArgs, stage: Stage, errno: isize) -> ! {
    let e = (errno as i32).to_le_bytes();
    let rec = [b'E', stage as u8, e[0], e[1], e[2], e[3]];
    // SAFETY: writes 6 bytes from our stack to a socket we own.
    unsafe {
        syscall3(
            libc::SYS_write,
            a.status_fd as usize,
            rec.as_ptr() as usize,
            rec.len(),
        )
    };
    exit_group(127)
}

fn check(a: &ChildArgs, stage: Stage, r: isize) -> isize {
    if r < 0 {
        fail(a, stage, -r)
    }
    r
}

/// Send the listener fd with SCM_RIGHTS (or a record saying there is none).
fn send_listener(a: &ChildArgs, listener: c_int) {
    let tag: u8 = if listener >= 0 { b'L' } else { b'N' };
    let mut iov = libc::iovec {
        iov_base: &tag as *const u8 as *mut c_void,
        iov_len: 1,
    };
    // cmsghdr (16 bytes) + one int, padded: CMSG_SPACE(4) = 24 on x86_64.
    let mut cbuf = [0u64; 3];
    cbuf[0] = 20; // cmsg_len = CMSG_LEN(4)
    cbuf[1] = (libc::SOL_SOCKET as u32 as u64) | ((libc::SCM_RIGHTS as u32 as u64) << 32);
    cbuf[2] = listener as u32 as u64;
    // SAFETY: msghdr is plain data, zero is a valid value.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if listener >= 0 {
        msg.msg_control = cbuf.as_mut_ptr() as *mut c_void;
        msg.msg_controllen = 24;
    }
    // SAFETY: msg points at our stack buffers, alive for the call.
    let r = unsafe {
        syscall3(
            libc::SYS_sendmsg,
            a.status_fd as usize,
            &msg as *const _ as usize,
            0,
        )
    };
    check(a, Stage::SendListener, r);
}

/// The child's entry point, called by `clone` on the child's own stack.
///
/// `arg` points to a `ChildArgs` that stays valid until the child execs or exits
/// (the supervisor keeps it until the status socket reports exec or exit).
pub(crate) extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `launch::start` passes a live ChildArgs, kept until we exec or exit.
    let a = unsafe { &*(arg as *const ChildArgs) };

    // Signals: the supervisor blocks SIGCHLD and ignores SIGPIPE; the program must not.
    let empty: u64 = 0;
    // SAFETY: an 8-byte sigset from our stack.
    check(a, Stage::Signals, unsafe {
        syscall4(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            8,
        )
    });
    let dfl = [0u64; 4]; // kernel sigaction: handler SIG_DFL, flags, restorer, mask
                         // SAFETY: a 32-byte kernel sigaction from our stack.
    check(a, Stage::Signals, unsafe {
        syscall4(
            libc::SYS_rt_sigaction,
            libc::SIGPIPE as usize,
            dfl.as_ptr() as usize,
            0,
            8,
        )
    });

    // Stdio: every source is >= 3 in the supervisor, so targets never clobber sources.
    for (target, &src) in a.stdio.iter().enumerate() {
        // SAFETY: plain fd operations.
        let r = unsafe {
            if src >= 0 {
                syscall2(libc::SYS_dup2, src as usize, target)
            } else {
                syscall1(libc::SYS_close, target);
                0
            }
        };
        check(a, Stage::Stdio, r);
    }
    // Everything else the supervisor had open closes at exec (status, go, ruleset included).
    // SAFETY: marks fds close-on-exec; no memory involved.
    let r = unsafe {
        syscall3(
            libc::SYS_close_range,
            3,
            u32::MAX as usize,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        // Before Linux 5.11: mark them one by one.
        for fd in 3..65536usize {
            // SAFETY: fcntl on a possibly-closed fd just fails with EBADF.
            unsafe {
                syscall3(
                    libc::SYS_fcntl,
                    fd,
                    libc::F_SETFD as usize,
                    libc::FD_CLOEXEC as usize,
                )
            };
        }
    }

    if !a.cwd.is_null() {
        // SAFETY: a NUL-terminated path prepared by the supervisor.
        check(a, Stage::Cwd, unsafe {
            syscall1(libc::SYS_chdir, a.cwd as usize)
        });
    }

    // SAFETY: prctl with integer arguments.
    check(a, Stage::DeathSignal, unsafe {
        syscall5(
            libc::SYS_prctl,
            PR_SET_PDEATHSIG,
            libc::SIGKILL as usize,
            0,
            0,
            0,
        )
    });
    // The supervisor may have died before the line above: then nobody would kill us.
    // SAFETY: no arguments.
    if unsafe { syscall1(libc::SYS_getppid, 0) } != a.parent_pid as isize {
        exit_group(127);
    }

    if a.no_aslr {
        // SAFETY: 0xffffffff only queries the persona.
        let cur = unsafe { syscall1(libc::SYS_personality, 0xffff_ffff) };
        check(a, Stage::Personality, cur);
        // SAFETY: sets a persona flag on ourselves.
        check(a, Stage::Personality, unsafe {
            syscall1(libc::SYS_personality, cur as usize | ADDR_NO_RANDOMIZE)
        });
    }

    drop_capabilities();

    // Survives exec and fork (research/spike-exec-ptrace.md Q1); set before
    // the filter, which refuses PR_SET_TSC so the program cannot undo it.
    // Set either way: clone copied the supervisor thread's setting, which
    // follows the sandbox it last served (trace/selfmode.rs).
    let tsc = if a.trap_tsc {
        PR_TSC_SIGSEGV
    } else {
        PR_TSC_ENABLE
    };
    // SAFETY: prctl with integer arguments.
    check(a, Stage::Tsc, unsafe {
        syscall5(libc::SYS_prctl, PR_SET_TSC, tsc, 0, 0, 0)
    });

    // SAFETY: prctl with integer arguments.
    check(a, Stage::NoNewPrivs, unsafe {
        syscall5(libc::SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    });

    if a.ruleset_fd >= 0 {
        // SAFETY: a ruleset fd prepared by the host; flags 0.
        check(a, Stage::Landlock, unsafe {
            syscall2(libc::SYS_landlock_restrict_self, a.ruleset_fd as usize, 0)
        });
    }

    let flags = if a.want_listener {
        SECCOMP_FILTER_FLAG_NEW_LISTENER
    } else {
        0
    };
    // SAFETY: `prog` points at a filter that lives until exec.
    let listener = check(a, Stage::Seccomp, unsafe {
        syscall3(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &a.prog as *const _ as usize,
        )
    });
    send_listener(
        a,
        if a.want_listener {
            listener as c_int
        } else {
            -1
        },
    );
    if a.want_listener {
        // SAFETY: our copy of the listener must not reach the program.
        unsafe { syscall1(libc::SYS_close, listener as usize) };
    }

    // Limits come after the listener exists: the supervisor's own fds (closed at
    // exec) may fill every number below a low open-files limit until then.
    for r in &a.rlimits[..a.n_rlimits.min(4)] {
        // soft = hard: the program cannot raise it.
        let lim = [r[1], r[1]];
        // SAFETY: prlimit64 on ourselves (pid 0) with a 16-byte rlimit from our stack.
        check(a, Stage::Limits, unsafe {
            syscall4(
                libc::SYS_prlimit64,
                0,
                r[0] as usize,
                lim.as_ptr() as usize,
                0,
            )
        });
    }

    // Wait until the supervisor has attached with ptrace, so no exec goes unseen.
    // recvfrom, not read: with a seed the filter hands reads on the reserved
    // random-device fd numbers to the supervisor, which is busy waiting for us,
    // and the go socket may well have such a number.
    let mut byte = 0u8;
    // SAFETY: receives one byte into our stack; no address is asked for (NULL, NULL).
    let r = unsafe {
        syscall6(
            libc::SYS_recvfrom,
            a.go_fd as usize,
            &mut byte as *mut u8 as usize,
            1,
            0,
            0,
            0,
        )
    };
    if r != 1 {
        fail(
            a,
            Stage::WaitForTracer,
            if r < 0 { -r } else { libc::EPIPE as isize },
        );
    }

    // Try each candidate as execvp does: remember EACCES, go on past ENOENT-like errors.
    let mut saw_eacces = false;
    let mut last = libc::ENOENT as isize;
    let mut i = 0;
    loop {
        // SAFETY: the list is NULL-terminated, prepared by the supervisor.
        let path = unsafe { *a.candidates.add(i) };
        if path.is_null() {
            break;
        }
        // SAFETY: NUL-terminated strings and NULL-terminated arrays, alive until exec.
        let r = unsafe {
            syscall3(
                libc::SYS_execve,
                path as usize,
                a.argv as usize,
                a.envp as usize,
            )
        };
        match -r as c_int {
            libc::EACCES => saw_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {
                last = -r
            }
            _ => fail(a, Stage::Exec, -r),
        }
        i += 1;
    }
    fail(
        a,
        Stage::Exec,
        if saw_eacces {
            libc::EACCES as isize
        } else {
            last
        },
    )
}
