//! Answering the instructions that fault on purpose: `rdtsc`/`rdtscp` (the
//! child runs with PR_TSC_SIGSEGV) and `cpuid` (CPUID faulting). The tracer
//! sees them as a SIGSEGV with si_code SI_KERNEL at the instruction; it writes
//! the result registers, steps over the instruction and drops the signal.
//! Any other SIGSEGV (a real fault, one sent by kill) is delivered unchanged.
//!
//! - rdtsc: the virtual CLOCK_MONOTONIC in ns (a 1 GHz counter), plus 1000 per
//!   earlier read by the same task, so it always moves forward, also in
//!   frozen mode. rdtscp also reports TSC_AUX 0 (CPU 0, node 0).
//! - cpuid: the real answer, minus what varies between runs or lets a program
//!   reach entropy or CPU identity without a system call: RDRAND, RDSEED,
//!   RDPID, HLE/RTM (transactions abort at random), the APIC ids. The vendor
//!   and the rest stay real: glibc refuses to start on an incoherent CPU
//!   (research/spike-exec-ptrace.md Extra A).

use super::exec::ExecState;
use super::regs;
use once_cell::sync::Lazy;
use std::arch::asm;

const SI_KERNEL: i32 = 0x80;
const ARCH_GET_CPUID: libc::c_ulong = 0x1011;
const ARCH_SET_CPUID: libc::c_ulong = 0x1012;
/// What each earlier rdtsc of a task adds.
const TSC_STEP: u64 = 1000;

fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: cpuid only writes the four registers named here; rbx is reserved
    // by LLVM, so it is saved in a scratch register around the instruction.
    unsafe {
        asm!(
            "mov {t:r}, rbx",
            "cpuid",
            "xchg {t:r}, rbx",
            t = out(reg) b,
            inout("eax") leaf => a,
            inout("ecx") sub => c,
            out("edx") d,
            options(nostack, preserves_flags),
        );
    }
    [a, b, c, d]
}

thread_local! {
    /// Answers already computed: the real cpuid is slow in a VM (it exits),
    /// and the supervisor has to turn its own faulting off and on around it
    /// (two more exits): ~20 µs a miss on the benchmark VM, against ~0.3 µs
    /// for a hit.
    static ANSWERS: std::cell::RefCell<std::collections::HashMap<(u32, u32), [u32; 4]>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// At most this many answers are kept: a program asking for many subleaves
/// costs time, never the supervisor's memory.
const MAX_ANSWERS: usize = 1024;

/// The cache key of (leaf, ECX). Most leaves ignore ECX, and callers leave
/// whatever it held (glibc's `__cpuid` does not set it): keyed by the raw
/// value, every start-up of a program missed the cache again. Only the leaves
/// documented without subleaves drop it (Intel SDM vol. 2A "CPUID", AMD APM
/// vol. 3 appendix E); any other leaf keeps its subleaf, so an unknown one
/// is merely answered more slowly, never mixed up with another subleaf.
fn key(leaf: u32, sub: u32) -> (u32, u32) {
    let no_subleaf = matches!(
        leaf,
        0..=3 | 5 | 6 | 0xa | 0x16 | 0x8000_0000..=0x8000_0008 | 0x8000_000a | 0x8000_0019
            | 0x8000_001a | 0x8000_001e
    );
    (leaf, if no_subleaf { 0 } else { sub })
}

/// The cpuid answer the sandbox sees for (leaf, subleaf).
pub fn answer(leaf: u32, sub: u32) -> [u32; 4] {
    let k = key(leaf, sub);
    if let Some(r) = ANSWERS.with(|a| a.borrow().get(&k).copied()) {
        return r;
    }
    let r = masked(super::selfmode::with_cpuid(|| cpuid(k.0, k.1)), k.0, k.1);
    ANSWERS.with(|a| {
        let mut a = a.borrow_mut();
        if a.len() < MAX_ANSWERS {
            a.insert(k, r);
        }
    });
    r
}

/// The real answer minus what must not reach the sandbox.
fn masked(mut r: [u32; 4], leaf: u32, sub: u32) -> [u32; 4] {
    match leaf {
        1 => {
            r[2] &= !(1 << 30); // RDRAND
            r[1] &= 0x00ff_ffff; // initial APIC id: which CPU ran the instruction
        }
        7 if sub == 0 => {
            r[1] &= !((1 << 18) | (1 << 11) | (1 << 4)); // RDSEED, RTM, HLE
            r[2] &= !(1 << 22); // RDPID reads the CPU number
        }
        0xb | 0x1f => r[3] = 0, // x2APIC id
        0x8000_001e => {
            r[0] = 0; // extended APIC id
            r[1] &= !0xff; // compute unit id
            r[2] &= !0xff; // node id
        }
        0x8000_0026 => r[3] = 0, // AMD extended topology: x2APIC id
        _ => {}
    }
    r
}

/// Whether this CPU and kernel can make CPUID fault (Intel since Ivy Bridge,
/// AMD from Linux 6.17 or where the hypervisor offers it). Probed once on the
/// supervisor's own thread, then turned back off.
pub static CPUID_FAULTING: Lazy<Result<(), i32>> = Lazy::new(|| {
    // SAFETY: arch_prctl with integer arguments on the calling thread only.
    unsafe {
        if libc::syscall(libc::SYS_arch_prctl, ARCH_GET_CPUID, 0) < 0 {
            return Err(crate::error::last_errno());
        }
        if libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0) < 0 {
            return Err(crate::error::last_errno());
        }
        libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1);
    }
    Ok(())
});

/// The first bytes of the instruction at `rip`.
fn code_at(pid: libc::pid_t, rip: u64) -> [u8; 3] {
    let mut b = [0u8; 3];
    // Code pages may be readable (process_vm_readv) or execute-only (/proc/PID/mem).
    if crate::seccomp::mem::read(pid, rip, &mut b).unwrap_or(0) < 2 {
        if let Ok(f) = std::fs::File::open(format!("/proc/{pid}/mem")) {
            let _ = std::os::unix::fs::FileExt::read_at(&f, &mut b, rip);
        }
    }
    b
}

/// The tracee `pid` stopped for SIGSEGV: answer it if it is one of our traps.
/// True when handled (resume without the signal).
pub fn emulate(pid: libc::pid_t, st: &mut ExecState, mono_ns: Option<i64>) -> bool {
    if !st.tsc && !st.cpuid || regs::si_code(pid) != Some(SI_KERNEL) {
        return false;
    }
    let Ok(mut r) = regs::get(pid) else {
        return false;
    };
    let len = match code_at(pid, r.rip) {
        [0x0f, 0x31, _] if st.tsc => 2,
        [0x0f, 0x01, 0xf9] if st.tsc => {
            r.rcx = 0; // TSC_AUX: CPU 0, node 0
            3
        }
        [0x0f, 0xa2, _] if st.cpuid => {
            let [a, b, c, d] = answer(r.rax as u32, r.rcx as u32);
            (r.rax, r.rbx, r.rcx, r.rdx) = (a as u64, b as u64, c as u64, d as u64);
            r.rip += 2;
            return regs::set(pid, &r).is_ok();
        }
        _ => return false,
    };
    let tsc =
        (mono_ns.unwrap_or(0).max(0) as u64).wrapping_add(st.count_tsc(pid).wrapping_mul(TSC_STEP));
    r.rax = tsc & 0xffff_ffff;
    r.rdx = tsc >> 32;
    r.rip += len;
    regs::set(pid, &r).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_entropy_and_identity() {
        let leaf1 = answer(1, 0);
        assert_eq!(leaf1[2] & (1 << 30), 0);
        assert_eq!(leaf1[1] >> 24, 0);
        assert_eq!(answer(7, 0)[1] & (1 << 18), 0);
        // The vendor is the real one.
        assert_eq!(answer(0, 0), cpuid(0, 0));
        // Stable whichever CPU runs it.
        assert_eq!(answer(1, 0), answer(1, 0));
    }

    #[test]
    fn cache_ignores_stale_ecx_only_where_the_leaf_has_no_subleaf() {
        // Leaves without subleaves share one entry whatever ECX held.
        assert_eq!(key(1, 0xdead_beef), key(1, 0));
        assert_eq!(key(0x8000_0000, 0x7fff_1234), key(0x8000_0000, 0));
        assert_eq!(answer(0x8000_0000, 0x7fff_1234), answer(0x8000_0000, 0));
        // Leaves with subleaves (XSAVE areas, structured features, caches,
        // topology, unknown leaves) never do.
        for leaf in [4, 7, 0xb, 0xd, 0x1f, 0x8000_001d, 0x4000_0000] {
            assert_ne!(key(leaf, 0), key(leaf, 1), "leaf {leaf:#x}");
        }
        // And each cached subleaf is that subleaf's own answer.
        for sub in [0, 1, 2, 0, 1] {
            let real = masked(selfmode_cpuid(0xd, sub), 0xd, sub);
            assert_eq!(answer(0xd, sub), real, "leaf 0xd subleaf {sub}");
        }
        let real = masked(selfmode_cpuid(1, 0), 1, 0);
        assert_eq!(answer(1, 0x1234_5678), real);
    }

    fn selfmode_cpuid(leaf: u32, sub: u32) -> [u32; 4] {
        super::super::selfmode::with_cpuid(|| cpuid(leaf, sub))
    }

    #[test]
    fn cache_is_bounded() {
        // A thread of its own: the cache is per thread.
        std::thread::spawn(|| {
            for sub in 0..(MAX_ANSWERS as u32 + 50) {
                answer(0x4000_0100, sub);
            }
            assert_eq!(ANSWERS.with(|a| a.borrow().len()), MAX_ANSWERS);
        })
        .join()
        .unwrap();
    }
}
