//! Determinism settings of `sl_policy`: virtual time and machine identity.

use super::policy::{policy_mut, sl_policy};
use super::{boundary, c_str};
use crate::policy::TimeMode;
use std::ffi::{c_char, c_int};

/// `sl_policy_set_time` mode: the host's clocks, untouched (the default).
pub const SL_TIME_REAL: i32 = 0;
/// `sl_policy_set_time` mode: the clocks start at `start_ns` and run at the real pace.
pub const SL_TIME_OFFSET: i32 = 1;
/// `sl_policy_set_time` mode: every read returns `start_ns`, except that sleeps advance it.
pub const SL_TIME_FROZEN: i32 = 2;
/// `sl_policy_set_time` mode: starts at `start_ns`; each clock read advances it by the
/// step (`sl_policy_set_time_step_ns`), each sleep by its length.
pub const SL_TIME_LOGICAL: i32 = 3;

// Literals for cbindgen; they must match the core enum.
const _: () = {
    assert!(SL_TIME_REAL == TimeMode::Real as i32);
    assert!(SL_TIME_OFFSET == TimeMode::Offset as i32);
    assert!(SL_TIME_FROZEN == TimeMode::Frozen as i32);
    assert!(SL_TIME_LOGICAL == TimeMode::Logical as i32);
};

/// Choose how the child's clocks run.
///
/// `mode` is one of `SL_TIME_REAL`, `SL_TIME_OFFSET`, `SL_TIME_FROZEN`,
/// `SL_TIME_LOGICAL`; `start_ns` is the wall-clock time (`CLOCK_REALTIME`, ns
/// since 1970) the child sees at its start, ignored for `SL_TIME_REAL`.
///
/// Except in `SL_TIME_REAL` mode every clock is virtual: `clock_gettime` (every
/// clock id), `gettimeofday`, `time`, `clock_getres`, through the system call and
/// through the vDSO (which is redirected at every exec, before the program's
/// first instruction, so static binaries and Go are covered), and `rdtsc`/`rdtscp`
/// (trapped and answered from the virtual clock: 1 tick per ns). `CLOCK_MONOTONIC`
/// and `CLOCK_BOOTTIME` start at 100 s; `CLOCK_TAI` is `CLOCK_REALTIME` + 37 s;
/// `clock_getres` answers 1 ns. In frozen and logical mode the CPU-time clocks
/// report the virtual time elapsed since the start; in offset mode they are real.
///
/// In frozen and logical mode, `nanosleep`, `clock_nanosleep` (relative or
/// `TIMER_ABSTIME`) and `poll`/`ppoll`/`select`/`pselect` without descriptors
/// return at once and advance the virtual clock by the time asked, so `sleep 5`
/// takes milliseconds and the clock then reads 5 s later. A wait on descriptors
/// with a timeout (`poll`, `select`, `epoll_wait`...) really waits; it advances
/// the virtual clock by its whole timeout if no descriptor was ready when it
/// started (so a loop that waits until a deadline ends), else not at all.
/// Waits and timers given an absolute deadline (futex `FUTEX_WAIT_BITSET`,
/// `FUTEX_LOCK_PI`, `FUTEX_LOCK_PI2` and `FUTEX_WAIT_REQUEUE_PI` with a timeout,
/// so `pthread_cond_timedwait`, `sem_timedwait`, `pthread_mutex_timedlock`;
/// `futex_waitv`; `mq_timedsend`/`mq_timedreceive`; `timerfd_settime` and
/// `timer_settime` with their ABSTIME flag) get it translated to the real
/// clock by the remaining virtual time, at a ptrace stop: they wait for real,
/// and in frozen and logical mode one that times out advances the virtual
/// clock to its deadline. `alarm`, interval timers, and the expiries and
/// intervals of POSIX timers and timerfds run on the real clock.
///
/// Cost: in frozen mode a clock read stays in user space (about as fast as
/// native); in offset and logical mode it is a round trip to the supervisor
/// (several microseconds); each `rdtsc` is a trap (tens of microseconds).
///
/// The clock is one per sandbox, shared by its processes: processes that read
/// it concurrently see an order that depends on scheduling. If the vDSO of a
/// new program cannot be redirected, that program is killed (and `sl_spawn`
/// fails for the first one) rather than run with the real clock.
///
/// Independent of the random seed. Returns `SL_OK`, or `SL_E_INVALID` (NULL
/// policy, unknown mode, negative `start_ns`). Not thread-safe with other calls
/// on the same policy.
#[no_mangle]
pub extern "C" fn sl_policy_set_time(policy: *mut sl_policy, mode: c_int, start_ns: i64) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_time", policy)? }.set_time(mode, start_ns)
    })
}

/// Set how far each clock read moves logical time (`SL_TIME_LOGICAL`), in ns.
///
/// Default 1000000 (1 ms): successive reads differ, and a program that waits for
/// time to pass by reading the clock in a loop needs few reads. Reads of any
/// clock (and `rdtsc`) by any process of the sandbox advance the one shared
/// clock. Returns `SL_OK`, or `SL_E_INVALID` (NULL policy, `step_ns` not within
/// 1 ns .. 1 hour). Not thread-safe with other calls on the same policy.
#[no_mangle]
pub extern "C" fn sl_policy_set_time_step_ns(policy: *mut sl_policy, step_ns: i64) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_time_step_ns", policy)? }.set_time_step_ns(step_ns)
    })
}

/// Make the child see `n` CPUs; 0 returns to the host's count.
///
/// `sched_getaffinity` (so `nproc` and `os.sched_getaffinity`), `/proc/cpuinfo`
/// (n processor blocks, copied from the first real one, with a fixed MHz),
/// `/sys/devices/system/cpu/online`, `possible` and `present` (`0-(n-1)`, so
/// `sysconf(_SC_NPROCESSORS_ONLN)` and `_CONF`) and `getcpu` (always CPU 0) agree
/// on it. It does not limit how many CPUs the program really uses. Returns
/// `SL_OK`, or `SL_E_INVALID` (NULL policy, `n` outside 0..1024). Not thread-safe
/// with other calls on the same policy.
#[no_mangle]
pub extern "C" fn sl_policy_set_cpu_count(policy: *mut sl_policy, n: c_int) -> c_int {
    boundary(|| {
        // SAFETY: NULL or live handle, by contract.
        unsafe { policy_mut("sl_policy_set_cpu_count", policy)? }.set_cpu_count(n)
    })
}

/// Make the child see `name` as the host name; NULL returns to the host's.
///
/// `uname` (its nodename, so `gethostname` and `hostname`),
/// `/proc/sys/kernel/hostname` and `/etc/hostname` answer `name`. It must have 1
/// to 64 bytes and no spaces or control characters. The string is copied.
/// Returns `SL_OK`, or `SL_E_INVALID` (NULL policy, bad name; the message says
/// why). Not thread-safe with other calls on the same policy.
#[no_mangle]
pub extern "C" fn sl_policy_set_hostname(policy: *mut sl_policy, name: *const c_char) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_hostname";
        // SAFETY: NULL or live handle, by contract.
        let p = unsafe { policy_mut(f, policy)? };
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: non-NULL C string by contract.
            Some(unsafe { c_str(f, "name", name)? }.to_bytes())
        };
        p.set_hostname(name)
    })
}
