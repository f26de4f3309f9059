//! The supervisor thread mirrors the rdtsc/CPUID trapping of the sandbox it
//! is serving.
//!
//! Linux flips CR4.TSD and the CPUID-faulting MSR at every context switch
//! between a task that traps and one that does not. In a VM each flip can
//! exit to the hypervisor: measured on the Firecracker VM of this project, a
//! notification round trip went from 7 µs to 42 µs once the child trapped
//! rdtsc and CPUID, and back to 6.7 µs when the supervisor trapped them too
//! (no flip when both sides agree). So before serving a sandbox, the
//! supervisor sets its own thread to that sandbox's mode.
//!
//! For that, the supervisor must never run `rdtsc` or `cpuid` itself while
//! trapping: its own vDSO clock entries are redirected to system calls once
//! (`vdso.rs`, through /proc/self/mem), std's CPU-feature cache is filled
//! before the first switch, and the one place that runs `cpuid` on purpose
//! (`insn.rs`) turns faulting off around it. If any of that fails, the
//! supervisor stays in the default mode and only pays the slower switches.

use std::cell::Cell;

const PR_SET_TSC: libc::c_int = 26;
const PR_TSC_ENABLE: libc::c_ulong = 1;
const PR_TSC_SIGSEGV: libc::c_ulong = 2;
const ARCH_SET_CPUID: libc::c_ulong = 0x1012;

thread_local! {
    /// None: not tried yet; Some(false): cannot mirror; Some(true): ready.
    static READY: Cell<Option<bool>> = const { Cell::new(None) };
    /// The current (tsc trapped, cpuid faulting) of this thread.
    static MODE: Cell<(bool, bool)> = const { Cell::new((false, false)) };
}

/// Make this thread safe to run with rdtsc and cpuid trapped.
fn prepare() -> bool {
    // Fill std's feature-detection cache now (it runs cpuid once, lazily).
    let _ = std::arch::is_x86_feature_detected!("sse4.2");
    // SAFETY: getauxval only reads the auxiliary vector.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
    if base == 0 {
        return true; // no vDSO: every clock read is a system call already
    }
    let Ok(mem) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")
    else {
        return false;
    };
    let wants = crate::vdso::Wants {
        time: true,
        ..Default::default()
    };
    super::exec::patch_vdso(&mem, base, wants, None).is_ok()
}

fn ready() -> bool {
    READY.with(|r| {
        if r.get().is_none() {
            r.set(Some(prepare()));
        }
        r.get() == Some(true)
    })
}

/// Trap rdtsc (`tsc`) and fault on cpuid (`cpuid`) on this thread, or not,
/// to match the sandbox about to be served. Cheap when already matching.
pub fn mirror(tsc: bool, cpuid: bool) {
    let (cur_tsc, cur_cpuid) = MODE.with(Cell::get);
    if (tsc, cpuid) == (cur_tsc, cur_cpuid) || !ready() {
        return;
    }
    let (mut now_tsc, mut now_cpuid) = (cur_tsc, cur_cpuid);
    if tsc != cur_tsc {
        let v = if tsc { PR_TSC_SIGSEGV } else { PR_TSC_ENABLE };
        // SAFETY: prctl with integer arguments on the calling thread.
        if unsafe { libc::prctl(PR_SET_TSC, v, 0, 0, 0) } == 0 {
            now_tsc = tsc;
        }
    }
    if cpuid != cur_cpuid && set_cpuid_faulting(cpuid) {
        now_cpuid = cpuid;
    }
    MODE.with(|m| m.set((now_tsc, now_cpuid)));
}

fn set_cpuid_faulting(on: bool) -> bool {
    // SAFETY: arch_prctl with integer arguments on the calling thread.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_SET_CPUID,
            if on { 0 } else { 1 } as libc::c_ulong,
        ) == 0
    }
}

/// Run `f` (which executes `cpuid`) with CPUID faulting off on this thread.
pub fn with_cpuid<T>(f: impl FnOnce() -> T) -> T {
    let faulting = MODE.with(Cell::get).1;
    if faulting {
        set_cpuid_faulting(false);
    }
    let r = f();
    if faulting {
        set_cpuid_faulting(true);
    }
    r
}
