//! Timed waits and timers with an ABSOLUTE deadline, under virtual time.
//!
//! A program computes such a deadline from a virtual clock (`time.rs`:
//! REALTIME = policy start + elapsed, MONOTONIC = 100 s + elapsed), but the
//! kernel compares it with the real clock: a deadline in the real past times
//! out at once (`while now < end: q.get(timeout=0.1)` spins forever under
//! frozen time), one in the real future waits far too long. Affected: `futex`
//! FUTEX_WAIT_BITSET / FUTEX_WAIT_REQUEUE_PI / FUTEX_LOCK_PI / FUTEX_LOCK_PI2
//! (glibc's pthread_cond_timedwait and _clockwait, sem_timedwait and
//! _clockwait, pthread_mutex_timedlock and _clocklock, pthread_rwlock_timed*,
//! so Python's `Lock.acquire(timeout=)`, `Event.wait(t)`, `Queue.get(timeout=)`
//! and C++'s `condition_variable::wait_for/until`), `futex_waitv`,
//! `mq_timedsend`/`mq_timedreceive`, and `timerfd_settime`/`timer_settime`
//! with their ABSTIME flag.
//!
//! What a timed wait means here: it waits for real (only the program knows
//! what it waits for; another thread or process may end it), with its
//! deadline translated, `real = real_now(clock) + (deadline - virtual_now(clock))`
//! (a remaining time ≤ 0 gives a deadline in the past, so the kernel times out
//! at once, as it would have). A wait that times out (ETIMEDOUT) moves frozen
//! and logical time to its deadline, as `wait.rs` does for relative waits; a
//! wait that is woken leaves virtual time as it is.
//!
//! Mechanism. A seccomp notification cannot change a call's arguments, and
//! writing the translated deadline into the program's own struct would corrupt
//! a caller that reuses it (glibc passes the user's pointer through, and
//! `while (!ready) pthread_cond_timedwait(&c, &m, &deadline)` is the usual
//! loop). So the filter sends exactly these calls to the tracer instead
//! (`SECCOMP_RET_TRACE`, the stop `handlers/cow.rs` uses for chdir/exec):
//! only futex calls whose command (`op & FUTEX_CMD_MASK`, low 32 bits) is one
//! of the four with an absolute deadline and whose timeout pointer is not
//! NULL, so an untimed futex (every mutex) stays in the kernel at native
//! speed. At the stop, the translated copy is written below the thread's
//! stack (`mem::write_below_stack`, shared with cow.rs) and the timeout
//! register is pointed at it; the clock and, for FUTEX_WAIT_BITSET, the bitset
//! are untouched. The blocking calls are resumed with PTRACE_SYSCALL, for one
//! syscall-exit stop that reads the result: ETIMEDOUT advances virtual time.
//! ptrace(2): since Linux 4.8 the seccomp stop follows syscall-entry, and a
//! tracee restarted from it with PTRACE_SYSCALL reports syscall-exit-stop;
//! PTRACE_GET_SYSCALL_INFO (Linux 5.3) tells that stop from a SIGTRAP.
//!
//! Restarts. A signal handler's frame is written below the stack pointer,
//! over the copy. A call the kernel restarts with the same registers
//! (-ERESTARTNOINTR for FUTEX_LOCK_PI, -ERESTARTSYS with SA_RESTART) comes
//! back to a trace stop with the timeout register on the copy and the same
//! stack pointer: the copy is written again from what was kept, never
//! translated twice. A futex wait restarted through `restart_syscall` (a
//! signal without handler) keeps its real deadline in the kernel's restart
//! block (kernel/futex/waitwake.c, futex_wait_restart) and is not seen again:
//! if it then times out, virtual time does not move (left approximate).
//!
//! Timers: `timerfd_settime`/`timer_settime` with TFD_TIMER_ABSTIME /
//! TIMER_ABSTIME get their `it_value` translated the same way (the clock is
//! the timer's: `clockid` in /proc/PID/fdinfo/FD, `ClockID` in
//! /proc/PID/timers). The timer then fires after the right real delay, but
//! it runs on the real clock: its expiry does not move frozen time, its
//! `it_interval` repeats in real time, and `timerfd_gettime`/`timer_gettime`
//! report the real remaining time. `alarm` and `setitimer` take relative
//! times and stay real (they are not translated and do not advance time).

use super::time::Clock;
use crate::seccomp::mem;
use crate::trace::regs;
use std::collections::HashMap;

const NS: i64 = 1_000_000_000;

/// futex(2) commands with a timeout that is an absolute deadline.
pub const FUTEX_LOCK_PI: u32 = 6;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAIT_REQUEUE_PI: u32 = 11;
pub const FUTEX_LOCK_PI2: u32 = 13;
/// `op & FUTEX_CMD_MASK` is the command: everything but FUTEX_PRIVATE_FLAG
/// (128) and FUTEX_CLOCK_REALTIME (256) (include/uapi/linux/futex.h).
pub const FUTEX_CMD_MASK: u32 = !(128 | 256);
const FUTEX_CLOCK_REALTIME: u32 = 256;
/// Not in every libc crate version.
pub const SYS_FUTEX_WAITV: libc::c_long = 449;
/// TFD_TIMER_ABSTIME and TIMER_ABSTIME.
pub const ABSTIME: u64 = 1;

const ETIMEDOUT: i64 = libc::ETIMEDOUT as i64;
const ERESTARTSYS: i64 = 512;
const ERESTARTNOINTR: i64 = 513;
const ERESTARTNOHAND: i64 = 514;

/// A blocking call whose deadline was translated, until its syscall-exit stop.
#[derive(Clone, Copy, Debug)]
struct Pending {
    nr: u64,
    rsp: u64,
    /// Where the translated copy is, and what it holds.
    copy: u64,
    bytes: [u8; 16],
    clk: i32,
    /// The program's (virtual) deadline in ns.
    deadline: i64,
    /// Resumed with PTRACE_SYSCALL: its next syscall stop is this call's exit.
    at_exit: bool,
}

/// The translated waits of one sandbox, by thread.
#[derive(Default)]
pub struct TimedWaits {
    pending: HashMap<libc::pid_t, Pending>,
}

/// Which argument register holds the deadline.
#[derive(Clone, Copy)]
enum Reg {
    Rdx,
    R10,
    R8,
}

fn reg(r: &mut libc::user_regs_struct, which: Reg) -> &mut u64 {
    match which {
        Reg::Rdx => &mut r.rdx,
        Reg::R10 => &mut r.r10,
        Reg::R8 => &mut r.r8,
    }
}

/// A valid `struct timespec` as ns (what the kernel's timespec64_valid accepts).
fn parse(b: &[u8]) -> Option<i64> {
    let s = i64::from_le_bytes(b[0..8].try_into().ok()?);
    let f = i64::from_le_bytes(b[8..16].try_into().ok()?);
    (s >= 0 && (0..NS).contains(&f)).then(|| s.saturating_mul(NS).saturating_add(f))
}

fn timespec_bytes(v: i64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&v.div_euclid(NS).to_le_bytes());
    b[8..].copy_from_slice(&v.rem_euclid(NS).to_le_bytes());
    b
}

fn real_now(clk: i32) -> Option<i64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the kernel to fill.
    (unsafe { libc::clock_gettime(clk, &mut t) } == 0)
        .then(|| t.tv_sec.saturating_mul(NS).saturating_add(t.tv_nsec))
}

/// The real deadline for the program's virtual `deadline` on `clk`, never
/// negative (an invalid timespec would turn a timeout into EINVAL).
pub fn translate(virtual_now: i64, real_now: i64, deadline: i64) -> i64 {
    real_now
        .saturating_add(deadline.saturating_sub(virtual_now))
        .max(0)
}

/// The value of a `clockid: N` (fdinfo) or `ClockID: N` (timers) line.
fn clock_field(text: &str, key: &str) -> Option<i32> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

/// The clock of timerfd `fd` of `pid`.
fn timerfd_clock(pid: libc::pid_t, fd: u64) -> Option<i32> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd as i32)).ok()?;
    clock_field(&t, "clockid:")
}

/// The clock of POSIX timer `id` of `pid`'s process (fs/proc/base.c, show_timer:
/// "ID: n" first, then "signal:", "notify:", "ClockID: n").
fn posix_timer_clock(pid: libc::pid_t, id: u64) -> Option<i32> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/timers")).ok()?;
    let id = (id as i32).to_string();
    let mut mine = false;
    for l in t.lines() {
        if let Some(v) = l.strip_prefix("ID:") {
            mine = v.trim() == id;
        } else if mine && l.starts_with("ClockID:") {
            return clock_field(l, "ClockID:");
        }
    }
    None
}

/// A `SECCOMP_RET_TRACE` stop of `pid`: None if the call is not a timed wait
/// (another trace stop, cow.rs); else whether to resume with PTRACE_SYSCALL
/// for the exit stop.
pub fn trace_stop(clock: &mut Clock, pid: libc::pid_t) -> Option<bool> {
    let mut r = regs::get(pid).ok()?;
    let nr = r.orig_rax as i64;
    const REALTIME: i32 = libc::CLOCK_REALTIME;
    let (which, clk, blocking, offset) = match nr {
        libc::SYS_futex => {
            let op = r.rsi as u32;
            let cmd = op & FUTEX_CMD_MASK;
            let timed = matches!(
                cmd,
                FUTEX_LOCK_PI | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
            );
            if !timed || r.r10 == 0 {
                return Some(false);
            }
            // FUTEX_LOCK_PI is always CLOCK_REALTIME, the others are
            // CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME (futex(2)).
            let rt = cmd == FUTEX_LOCK_PI || op & FUTEX_CLOCK_REALTIME != 0;
            let clk = if rt { REALTIME } else { libc::CLOCK_MONOTONIC };
            (Reg::R10, clk, true, 0)
        }
        SYS_FUTEX_WAITV if r.r10 != 0 => (Reg::R10, r.r8 as i32, true, 0),
        libc::SYS_mq_timedsend | libc::SYS_mq_timedreceive if r.r8 != 0 => {
            (Reg::R8, REALTIME, true, 0)
        }
        libc::SYS_timerfd_settime if r.rsi & ABSTIME != 0 => {
            (Reg::Rdx, timerfd_clock(pid, r.rdi).unwrap_or(-1), false, 16)
        }
        libc::SYS_timer_settime if r.rsi & ABSTIME != 0 => (
            Reg::Rdx,
            posix_timer_clock(pid, r.rdi).unwrap_or(-1),
            false,
            16,
        ),
        SYS_FUTEX_WAITV
        | libc::SYS_mq_timedsend
        | libc::SYS_mq_timedreceive
        | libc::SYS_timerfd_settime
        | libc::SYS_timer_settime => return Some(false),
        _ => return None,
    };
    let addr = *reg(&mut r, which);
    // A restart of a call translated before: write the same copy again.
    if let Some(p) = clock.waits.pending.get_mut(&pid) {
        if p.nr == r.orig_rax && p.rsp == r.rsp && p.copy == addr {
            p.at_exit = mem::write(pid, p.copy, &p.bytes).ok() == Some(16);
            return Some(p.at_exit);
        }
    }
    clock.waits.pending.remove(&pid);
    // The deadline (for timers, the whole itimerspec: interval, then value).
    let mut b = [0u8; 32];
    let len = offset + 16;
    if mem::read(pid, addr, &mut b[..len]).ok() != Some(len) {
        return Some(false); // the kernel gives EFAULT
    }
    let Some(deadline) = parse(&b[offset..len]) else {
        return Some(false); // EINVAL from the kernel
    };
    if offset != 0 && deadline == 0 {
        return Some(false); // a zero it_value disarms the timer
    }
    let (Some(vnow), Some(rnow)) = (clock.now(clk), real_now(clk)) else {
        return Some(false); // EINVAL (a clock id the call refuses), a CPU clock, not a timer
    };
    // A deadline that has passed times out at once, with nothing to advance:
    // no exit stop (half the cost of a wait's mediation).
    let blocking = blocking && deadline > vnow;
    let real = timespec_bytes(translate(vnow, rnow, deadline));
    b[offset..len].copy_from_slice(&real);
    let Some(copy) = mem::write_below_stack(pid, r.rsp, &b[..len]) else {
        return Some(false); // a hostile stack pointer: the call runs as it is
    };
    *reg(&mut r, which) = copy;
    if regs::set(pid, &r).is_err() {
        return Some(false);
    }
    if blocking {
        clock.waits.pending.insert(
            pid,
            Pending {
                nr: r.orig_rax,
                rsp: r.rsp,
                copy,
                bytes: real,
                clk,
                deadline,
                at_exit: true,
            },
        );
    }
    Some(blocking)
}

/// The return value at a syscall-exit stop; None for any other stop. The
/// supervisor does not set PTRACE_O_TRACESYSGOOD, so a syscall stop is a
/// SIGTRAP stop whose siginfo has `si_code` SIGTRAP (kernel/ptrace.c,
/// ptrace_report_syscall: `ptrace_notify(SIGTRAP | 0x80 if TRACESYSGOOD)`);
/// a SIGTRAP sent by a program has SI_USER/SI_TKILL (≤ 0), an int3
/// SI_KERNEL, a debug trap TRAP_BRKPT/TRAP_TRACE/TRAP_HWBKPT (1, 2, 4).
/// (PTRACE_GET_SYSCALL_INFO would need TRACESYSGOOD to say "exit".)
fn exit_value(pid: libc::pid_t) -> Option<i64> {
    let si = regs::siginfo(pid)?;
    if si.si_signo != libc::SIGTRAP || si.si_code & !0x80 != libc::SIGTRAP {
        return None;
    }
    Some(regs::get(pid).ok()?.rax as i64)
}

/// A SIGTRAP stop of `pid`: true if it was the syscall-exit stop of a
/// translated wait (now handled; the caller resumes the task).
pub fn syscall_exit(clock: &mut Clock, pid: libc::pid_t) -> bool {
    let Some(p) = clock.waits.pending.get(&pid).copied() else {
        return false;
    };
    if !p.at_exit {
        return false; // resumed without an exit stop (waiting for a restart)
    }
    let Some(rval) = exit_value(pid) else {
        return false;
    };
    match -rval {
        // The kernel runs the call again with the same registers.
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND => {
            if let Some(p) = clock.waits.pending.get_mut(&pid) {
                p.at_exit = false;
            }
            return true;
        }
        ETIMEDOUT if clock.fast_forwards() => {
            if let Some(now) = clock.now(p.clk) {
                clock.advance(p.deadline.saturating_sub(now));
            }
        }
        _ => {}
    }
    clock.waits.pending.remove(&pid);
    true
}

/// A task is gone: forget its wait.
pub fn gone(clock: &mut Clock, pid: libc::pid_t) {
    clock.waits.pending.remove(&pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_translate_by_the_remaining_time() {
        // 1.5 s left on the virtual clock: 1.5 s from the real now.
        assert_eq!(
            translate(100 * NS, 5000 * NS, 101 * NS + NS / 2),
            5001 * NS + NS / 2
        );
        // Past deadlines stay past (the kernel times out at once), never negative.
        assert_eq!(translate(100 * NS, 5000 * NS, 99 * NS), 4999 * NS);
        assert_eq!(translate(100 * NS, 5 * NS, 0), 0);
        assert_eq!(translate(0, i64::MAX - 1, i64::MAX), i64::MAX);
    }

    #[test]
    fn timespecs_and_clock_fields() {
        assert_eq!(parse(&timespec_bytes(3 * NS + 7)), Some(3 * NS + 7));
        let mut bad = timespec_bytes(0);
        bad[8..].copy_from_slice(&NS.to_le_bytes());
        assert_eq!(parse(&bad), None);
        assert_eq!(parse(&timespec_bytes(-NS)), None);
        let fdinfo = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\nclockid: 1\nticks: 0\n";
        assert_eq!(clock_field(fdinfo, "clockid:"), Some(1));
        assert_eq!(clock_field("ClockID: 0\n", "ClockID:"), Some(0));
        assert_eq!(clock_field("pos: 0\n", "clockid:"), None);
    }
}
