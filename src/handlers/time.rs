//! Virtual time: one clock per sandbox, read through `clock_gettime` (every
//! clock id), `gettimeofday`, `time` and `clock_getres`, whether the program
//! made the system call or called the vDSO (redirected to the system call by
//! `vdso.rs`), and advanced by sleeps in frozen and logical mode.
//!
//! Clocks, all derived from the virtual time elapsed since the sandbox started:
//! - REALTIME (and _COARSE, _ALARM): the policy's start time + elapsed.
//! - MONOTONIC (and _RAW, _COARSE), BOOTTIME (and _ALARM): 100 s + elapsed, so
//!   they start at a fixed value.
//! - TAI: REALTIME + 37 s (the UTC-TAI offset since 2017).
//! - CPU-time clocks (process, thread, and other processes' by pid): in frozen
//!   and logical mode the elapsed virtual time, so they are deterministic and
//!   never run faster than the wall clock; in offset mode the real ones.
//! - clock_getres: 1 ns for every clock.
//!
//! Sleeps in frozen/logical mode return at once and add what they asked for:
//! `nanosleep`, `clock_nanosleep` (relative, or TIMER_ABSTIME up to its
//! target), and `poll`/`ppoll`/`select`/`pselect6` without descriptors.
//! Waits on descriptors with a timeout stay real and advance virtual time as
//! `wait.rs` explains; waits and timers with an absolute deadline have it
//! translated to the real clock (`timedwait.rs`). Approximations, documented
//! in the C header: `alarm`, itimers, and the expiries and intervals of POSIX
//! timers and timerfds run on the real clock; a sleep
//! interrupted by a signal in the real world cannot happen in the virtual
//! one; the sigmask of a descriptor-less `ppoll`/`pselect6` is not applied.

use super::Reply;
use crate::policy::{Determinism, TimeMode};
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use std::os::fd::RawFd;
use std::time::Instant;

const NS: i64 = 1_000_000_000;
/// Where CLOCK_MONOTONIC and CLOCK_BOOTTIME start.
pub const MONO_START_NS: i64 = 100 * NS;
/// CLOCK_TAI - CLOCK_REALTIME.
const TAI_OFFSET_NS: i64 = 37 * NS;

const TIMER_ABSTIME: i32 = 1;

/// What a clock id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Realtime,
    Monotonic,
    Tai,
    Cpu,
}

/// Classify a clockid_t the way the kernel does (posix-timers.c, posix-cpu-timers.c).
fn kind(clk: i32) -> Result<Kind, i32> {
    match clk {
        0 | 5 | 8 => Ok(Kind::Realtime),
        1 | 4 | 6 | 7 | 9 => Ok(Kind::Monotonic),
        11 => Ok(Kind::Tai),
        2 | 3 => Ok(Kind::Cpu),
        // Negative ids are CPU clocks of a pid/tid (low bits 0..2) or, with
        // low bits 3, a clock device fd (PTP): no device clock is virtual, so
        // refuse it rather than let real time through.
        c if c < 0 && c & 7 < 3 => Ok(Kind::Cpu),
        _ => Err(libc::EINVAL),
    }
}

/// One sandbox's clock.
pub struct Clock {
    mode: TimeMode,
    start_ns: i64,
    step_ns: i64,
    /// Offset mode: real time runs from here.
    origin: Instant,
    /// What sleeps and logical steps added.
    advanced: i64,
    /// Timed waits with an absolute deadline, translated (`timedwait.rs`).
    pub(crate) waits: super::timedwait::TimedWaits,
}

impl Clock {
    /// The clock for a policy; None when time is real.
    pub fn new(d: &Determinism) -> Option<Clock> {
        (d.time_mode != TimeMode::Real).then(|| Clock {
            mode: d.time_mode,
            start_ns: d.time_start_ns,
            step_ns: d.time_step_ns.min(i64::MAX as u64) as i64,
            origin: Instant::now(),
            advanced: 0,
            waits: Default::default(),
        })
    }

    /// Virtual nanoseconds since the sandbox started.
    pub fn elapsed(&self) -> i64 {
        let real = match self.mode {
            TimeMode::Offset => self.origin.elapsed().as_nanos().min(i64::MAX as u128) as i64,
            _ => 0,
        };
        real.saturating_add(self.advanced)
    }

    /// The virtual `CLOCK_MONOTONIC` in ns (what rdtsc is derived from).
    pub fn monotonic_ns(&self) -> i64 {
        MONO_START_NS.saturating_add(self.elapsed())
    }

    /// Move virtual time forward (a sleep).
    pub fn advance(&mut self, ns: i64) {
        self.advanced = self.advanced.saturating_add(ns.max(0));
    }

    /// Do timeouts move virtual time (frozen and logical mode)?
    pub fn fast_forwards(&self) -> bool {
        matches!(self.mode, TimeMode::Frozen | TimeMode::Logical)
    }

    /// The virtual value of wall clock `clk` in ns, without a logical step;
    /// None for a clock id the kernel refuses and for CPU-time clocks (whose
    /// real counterpart is the caller's, not the supervisor's).
    pub fn now(&self, clk: i32) -> Option<i64> {
        if kind(clk).ok()? == Kind::Cpu {
            return None;
        }
        self.value(clk).ok().flatten()
    }

    /// A read happened: logical time moves one step.
    fn tick(&mut self) {
        if self.mode == TimeMode::Logical {
            self.advance(self.step_ns);
        }
    }

    /// The clock's value in ns; None = use the real clock (CPU time in offset mode).
    fn value(&self, clk: i32) -> Result<Option<i64>, i32> {
        let e = self.elapsed();
        Ok(Some(match kind(clk)? {
            Kind::Realtime => self.start_ns.saturating_add(e),
            Kind::Monotonic => MONO_START_NS.saturating_add(e),
            Kind::Tai => self
                .start_ns
                .saturating_add(e)
                .saturating_add(TAI_OFFSET_NS),
            Kind::Cpu if self.mode == TimeMode::Offset => return Ok(None),
            Kind::Cpu => e,
        }))
    }

    /// Answer a time system call; None if it is not one of ours.
    pub fn handle(&mut self, listener: RawFd, n: &SeccompNotif) -> Option<Reply> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let reply = match n.data.nr as i64 {
            libc::SYS_clock_gettime => match self.value(a[0] as i32) {
                Ok(None) => Reply::Continue,
                Ok(Some(v)) => {
                    put(pid, a[1], &timespec(v)).map_or_else(Reply::Errno, |_| Reply::Value(0))
                }
                Err(e) => Reply::Errno(e),
            },
            libc::SYS_gettimeofday => {
                let v = self.start_ns.saturating_add(self.elapsed());
                let tv = [v.div_euclid(NS), v.rem_euclid(NS) / 1000];
                let r = (a[0] == 0 || put(pid, a[0], &tv).is_ok())
                    // The kernel's timezone is normally all zeros.
                    && (a[1] == 0 || put(pid, a[1], &[0i32, 0]).is_ok());
                if r {
                    Reply::Value(0)
                } else {
                    Reply::Errno(libc::EFAULT)
                }
            }
            libc::SYS_time => {
                let secs = self.start_ns.saturating_add(self.elapsed()).div_euclid(NS);
                if a[0] != 0 && put(pid, a[0], &[secs]).is_err() {
                    Reply::Errno(libc::EFAULT)
                } else {
                    Reply::Value(secs)
                }
            }
            libc::SYS_clock_getres => match self.value(a[0] as i32) {
                Ok(None) => Reply::Continue,
                Ok(Some(_)) if a[1] == 0 => Reply::Value(0),
                Ok(Some(_)) => {
                    put(pid, a[1], &[0i64, 1]).map_or_else(Reply::Errno, |_| Reply::Value(0))
                }
                Err(e) => Reply::Errno(e),
            },
            _ => return self.sleep(n),
        };
        if matches!(reply, Reply::Value(_)) && self.mode == TimeMode::Logical {
            // Step only for reads that reached the program: one whose caller was
            // killed meanwhile must not shift every later value.
            if send_now(listener, n.id, reply) && n.data.nr as i64 != libc::SYS_clock_getres {
                self.tick();
            }
            return Some(Reply::Done);
        }
        Some(reply)
    }

    /// Fast-forward a sleep (frozen and logical mode only; the filter sends
    /// nothing else).
    fn sleep(&mut self, n: &SeccompNotif) -> Option<Reply> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let r = match n.data.nr as i64 {
            libc::SYS_nanosleep => read_timespec(pid, a[0]).map(|d| {
                self.advance(d);
                Reply::Value(0)
            }),
            libc::SYS_clock_nanosleep => self.clock_nanosleep(pid, a[0] as i32, a[1] as i32, a[2]),
            libc::SYS_poll if a[1] as u32 == 0 => Ok(match a[2] as i32 {
                ms if ms < 0 => Reply::Continue, // no descriptors, no timeout: a pause()
                ms => {
                    self.advance(ms as i64 * 1_000_000);
                    Reply::Value(0)
                }
            }),
            libc::SYS_ppoll if a[1] as u32 == 0 => self.timed_wait(pid, a[2], false),
            libc::SYS_pselect6 if a[0] as i32 == 0 => self.timed_wait(pid, a[4], false),
            libc::SYS_select if a[0] as i32 == 0 => self.timed_wait(pid, a[4], true),
            libc::SYS_poll
            | libc::SYS_ppoll
            | libc::SYS_select
            | libc::SYS_pselect6
            | libc::SYS_epoll_wait
            | libc::SYS_epoll_pwait
            | libc::SYS_epoll_pwait2 => {
                if let Some((t, false)) = super::wait::inspect(n) {
                    self.advance(t);
                }
                Ok(Reply::Continue)
            }
            _ => return None,
        };
        Some(r.unwrap_or_else(Reply::Errno))
    }

    fn clock_nanosleep(
        &mut self,
        pid: libc::pid_t,
        clk: i32,
        flags: i32,
        req: u64,
    ) -> Result<Reply, i32> {
        match clk {
            // The kernel has no sleep on these (no nsleep in their k_clock).
            3 => return Err(libc::EINVAL),
            4..=6 => return Err(libc::EOPNOTSUPP),
            _ => {}
        }
        let d = read_timespec(pid, req)?;
        if flags & TIMER_ABSTIME != 0 {
            let now = self.value(clk)?.unwrap_or_else(|| self.elapsed());
            self.advance(d.saturating_sub(now));
        } else {
            self.advance(d);
        }
        Ok(Reply::Value(0))
    }

    /// ppoll/pselect6/select with no descriptors: a sleep for `*tp`, which the
    /// kernel then sets to the time left (none).
    fn timed_wait(&mut self, pid: libc::pid_t, tp: u64, timeval: bool) -> Result<Reply, i32> {
        if tp == 0 {
            return Ok(Reply::Continue); // waits for a signal only
        }
        let d = if timeval {
            let mut b = [0u8; 16];
            if mem::read(pid, tp, &mut b)? != 16 {
                return Err(libc::EFAULT);
            }
            let (s, us) = (i64_at(&b, 0), i64_at(&b, 8));
            if s < 0 || !(0..1_000_000).contains(&us) {
                return Err(libc::EINVAL);
            }
            s.saturating_mul(NS).saturating_add(us * 1000)
        } else {
            read_timespec(pid, tp)?
        };
        self.advance(d);
        put(pid, tp, &[0i64, 0])?;
        Ok(Reply::Value(0))
    }
}

fn i64_at(b: &[u8], o: usize) -> i64 {
    i64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default())
}

/// A duration from the child's `struct timespec`, validated as the kernel does.
fn read_timespec(pid: libc::pid_t, addr: u64) -> Result<i64, i32> {
    let mut b = [0u8; 16];
    if mem::read(pid, addr, &mut b)? != 16 {
        return Err(libc::EFAULT);
    }
    let (s, ns) = (i64_at(&b, 0), i64_at(&b, 8));
    if s < 0 || !(0..NS).contains(&ns) {
        return Err(libc::EINVAL);
    }
    Ok(s.saturating_mul(NS).saturating_add(ns))
}

fn timespec(v: i64) -> [i64; 2] {
    [v.div_euclid(NS), v.rem_euclid(NS)]
}

/// Write plain integers into the child; EFAULT if it cannot all be written.
fn put<T: Copy>(pid: libc::pid_t, addr: u64, v: &[T]) -> Result<(), i32> {
    // SAFETY: T is a plain integer type; its bytes are read for the copy only.
    let bytes =
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) };
    match mem::write(pid, addr, bytes) {
        Ok(w) if w == bytes.len() => Ok(()),
        _ => Err(libc::EFAULT),
    }
}

/// Send a reply at once; false if its caller is gone.
fn send_now(listener: RawFd, id: u64, reply: Reply) -> bool {
    match reply {
        Reply::Value(v) => notify::respond_value(listener, id, v).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(mode: TimeMode) -> Clock {
        Clock::new(&Determinism {
            time_mode: mode,
            time_start_ns: 946_684_800 * NS,
            time_step_ns: 1000,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn real_mode_has_no_clock() {
        assert!(Clock::new(&Determinism::default()).is_none());
    }

    #[test]
    fn clock_ids() {
        let mut c = clock(TimeMode::Frozen);
        assert_eq!(c.value(0), Ok(Some(946_684_800 * NS)));
        assert_eq!(c.value(5), c.value(0));
        assert_eq!(c.value(1), Ok(Some(MONO_START_NS)));
        assert_eq!(c.value(7), Ok(Some(MONO_START_NS)));
        assert_eq!(c.value(11), Ok(Some(946_684_837 * NS)));
        assert_eq!(c.value(2), Ok(Some(0)));
        assert_eq!(c.value((!5) << 3), Ok(Some(0))); // pid 5, CPUCLOCK_PROF
        assert_eq!(c.value((!5) << 3 | 3), Err(libc::EINVAL)); // FD_TO_CLOCKID(5)
        assert_eq!(c.value(10), Err(libc::EINVAL));
        assert_eq!(c.value(12), Err(libc::EINVAL));
        c.advance(2 * NS);
        assert_eq!(c.value(0), Ok(Some(946_684_802 * NS)));
        assert_eq!(c.value(2), Ok(Some(2 * NS)));
        c.tick(); // frozen: reads do not move time
        assert_eq!(c.value(1), Ok(Some(MONO_START_NS + 2 * NS)));
    }

    #[test]
    fn logical_steps_and_offset_runs() {
        let mut c = clock(TimeMode::Logical);
        c.tick();
        c.tick();
        assert_eq!(c.elapsed(), 2000);
        let c = clock(TimeMode::Offset);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.elapsed() >= 2_000_000);
        assert_eq!(c.value(3), Ok(None));
    }

    #[test]
    fn negative_times_split_like_the_kernel() {
        assert_eq!(timespec(-1), [-1, NS - 1]);
        assert_eq!(timespec(3 * NS + 5), [3, 5]);
    }
}
