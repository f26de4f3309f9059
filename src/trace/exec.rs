//! What happens at each exec stop, before the new program's first instruction
//! (research/spike-exec-ptrace.md Q4/Q5, Extra A):
//! 1. the 16 `AT_RANDOM` bytes (stack canary, pointer guard, glibc's hash
//!    seeds) are overwritten with seeded bytes, through `/proc/PID/mem`;
//! 2. the vDSO entry points are redirected (`vdso.rs`), also through
//!    `/proc/PID/mem`, the only way to write its read-only pages;
//! 3. CPUID faulting, which exec turns off, is turned back on by running
//!    `arch_prctl(ARCH_SET_CPUID, 0)` in the child: from a stub in its vDSO
//!    that then jumps to the entry point (`entrystub.rs`), or, where the vDSO
//!    has no room for it, by single-stepping an injected call
//!    (`inject_set_cpuid`).
//!
//! Seeded bytes are drawn per process lineage, not in the order processes
//! happen to exec: a process is named by its parent's name and how many
//! children the parent had made before it, so two processes of a pipeline
//! that exec concurrently still get the same bytes in every run.

use super::entrystub;
use super::fastclock::FastClock;
use super::regs;
use crate::supervisor::proto::SpawnRequest;
use crate::vdso;
use rand_chacha::rand_core::RngCore;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

const AT_RANDOM: u64 = 25;
const AT_SYSINFO_EHDR: u64 = 33;
const ARCH_SET_CPUID: u64 = 0x1012;

/// Why the exec stop could not be completed.
#[derive(Debug)]
pub enum Failure {
    /// The task is gone; its wait status was consumed and is given here.
    Died(i32),
    /// The program cannot run as the policy asks (the message says why).
    Refused(String),
}

/// A task's place in the sandbox's process tree, and its counters.
#[derive(Clone, Copy, Debug, Default)]
struct Lineage {
    id: u64,
    children: u64,
    execs: u64,
    tsc_reads: u64,
    /// Where the entry stub of its image stops if re-arming failed (0: none).
    stub_fail: u64,
}

/// Per sandbox: what each exec stop must do, and the lineage of every task.
pub struct ExecState {
    seed: Option<u64>,
    wants: vdso::Wants,
    /// CPUID faulting is re-armed at each exec and cpuid answered (`insn.rs`).
    pub cpuid: bool,
    /// rdtsc/rdtscp fault (PR_TSC_SIGSEGV, set in `child.rs`) and are answered.
    pub tsc: bool,
    lineage: HashMap<libc::pid_t, Lineage>,
    /// Frozen mode: the clock answered in user space, and its start time.
    fast: Option<(FastClock, i64)>,
}

/// A 64-bit mix (splitmix64's finalizer) of two values.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl ExecState {
    /// `cpuid_ok`: this machine can fault on CPUID (see `insn::cpuid_faulting`).
    pub fn new(req: &SpawnRequest, main_pid: libc::pid_t, cpuid_ok: bool) -> ExecState {
        let seeded = req.seed.is_some();
        let virtual_time = req.det.time_mode != crate::policy::TimeMode::Real;
        let mut lineage = HashMap::new();
        lineage.insert(
            main_pid,
            Lineage {
                id: mix(0, 1),
                ..Default::default()
            },
        );
        ExecState {
            seed: req.seed,
            wants: vdso::Wants {
                time: virtual_time,
                getcpu: seeded || req.det.cpu_count.is_some(),
                getrandom: seeded,
            },
            cpuid: seeded && cpuid_ok,
            tsc: virtual_time,
            lineage,
            fast: (req.det.time_mode == crate::policy::TimeMode::Frozen)
                .then(|| (FastClock::new(), req.det.time_start_ns)),
        }
    }

    fn active(&self) -> bool {
        self.seed.is_some() || self.wants.any() || self.cpuid
    }

    /// `child` was made by `parent` (fork, vfork or a thread).
    pub fn on_fork(&mut self, parent: libc::pid_t, child: libc::pid_t) {
        if self.lineage.contains_key(&child) {
            return; // seen already (its first stop came before the parent's event)
        }
        let p = self.lineage.entry(parent).or_default();
        p.children += 1;
        let id = mix(p.id, p.children);
        if let Some((f, _)) = &mut self.fast {
            f.forked(parent, child);
        }
        self.lineage.insert(
            child,
            Lineage {
                id,
                ..Default::default()
            },
        );
    }

    pub fn on_gone(&mut self, pid: libc::pid_t) {
        self.lineage.remove(&pid);
        if let Some((f, _)) = &mut self.fast {
            f.gone(pid);
        }
    }

    /// Frozen virtual time moved to `elapsed`: update every process's
    /// user-space clock, before the sleeper that moved it resumes.
    pub fn publish(&mut self, elapsed: i64) {
        if let Some((f, _)) = &mut self.fast {
            f.publish(elapsed);
        }
    }

    /// A stable name for this task, the same in every run of the sandbox.
    pub fn lineage_id(&self, pid: libc::pid_t) -> u64 {
        self.lineage.get(&pid).map_or(0, |l| l.id)
    }

    /// Count one rdtsc of `pid`; returns how many it made before.
    pub fn count_tsc(&mut self, pid: libc::pid_t) -> u64 {
        let l = self.lineage.entry(pid).or_default();
        l.tsc_reads += 1;
        l.tsc_reads - 1
    }

    /// Did `pid` stop (SIGILL at `rip`) in its entry stub because
    /// `arch_prctl(ARCH_SET_CPUID, 0)` failed (`entrystub.rs`)?
    pub fn stub_failed(&self, pid: libc::pid_t, rip: u64) -> bool {
        self.lineage
            .get(&pid)
            .is_some_and(|l| l.stub_fail != 0 && l.stub_fail == rip)
    }

    /// The AT_RANDOM bytes for the `exec`-th exec of lineage `id`.
    fn at_random(seed: u64, id: u64, exec: u64) -> [u8; 16] {
        let mut rng =
            crate::handlers::random::stream(seed, crate::handlers::random::STREAM_AT_RANDOM);
        // 4 words per draw; a 64-bit position keeps within ChaCha's 68-bit counter.
        rng.set_word_pos((mix(id, exec) as u128) << 2);
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b
    }
}

/// (AT_SYSINFO_EHDR, AT_RANDOM) of the new image, from the kernel's copy of
/// its auxiliary vector (the stack's copy is memory other tasks might reach).
/// Read until its AT_NULL, usually in one `read` (no `statx`, no read at EOF).
fn auxv(pid: libc::pid_t) -> Result<(u64, u64), String> {
    use std::io::Read;
    let what = |e: std::io::Error| format!("reading /proc/{pid}/auxv: {e}");
    let mut f = File::open(format!("/proc/{pid}/auxv")).map_err(what)?;
    let mut raw = vec![0u8; 1024];
    let mut len = 0;
    loop {
        if len == raw.len() {
            raw.resize(len * 2, 0);
        }
        let n = f.read(&mut raw[len..]).map_err(what)?;
        len += n;
        let ended = raw[..len - len % 16]
            .chunks_exact(16)
            .any(|p| p[..8] == [0; 8]);
        if n == 0 || ended {
            break;
        }
    }
    let (mut ehdr, mut random) = (0, 0);
    for pair in raw[..len].chunks_exact(16) {
        let k = u64::from_le_bytes(pair[..8].try_into().unwrap_or_default());
        let v = u64::from_le_bytes(pair[8..].try_into().unwrap_or_default());
        match k {
            0 => break, // AT_NULL
            AT_SYSINFO_EHDR => ehdr = v,
            AT_RANDOM => random = v,
            _ => {}
        }
    }
    Ok((ehdr, random))
}

fn write_at(mem: &File, addr: u64, data: &[u8], what: &str) -> Result<(), String> {
    match mem.write_at(data, addr) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(n) => Err(format!(
            "writing {what}: short write ({n} of {} bytes)",
            data.len()
        )),
        // EIO/EPERM here is the kernel's proc_mem.force_override policy.
        Err(e) => Err(format!("writing {what} through /proc/PID/mem: {e}")),
    }
}

/// Redirect the vDSO of the new image (with the user-space frozen clock when
/// `frozen` = (start, elapsed) is given and it fits); returns the plan, with
/// offsets made addresses.
pub(super) fn patch_vdso(
    mem: &File,
    base: u64,
    wants: vdso::Wants,
    frozen: Option<(i64, i64)>,
) -> Result<vdso::Plan, String> {
    // A vDSO is two or three pages: one read usually gets the whole image
    // (a short one ends at the mapping's end).
    let mut image = vec![0u8; 16 << 10];
    let n = mem
        .read_at(&mut image, base)
        .map_err(|e| format!("reading the vDSO: {e}"))?;
    let len = vdso::image_len(&image[..n.min(64)])?;
    image.resize(len, 0);
    if len > n {
        mem.read_exact_at(&mut image, base)
            .map_err(|e| format!("reading the vDSO: {e}"))?;
    }
    let mut plan = vdso::plan_cached(&image, wants, frozen)?;
    // All patches in one write of the span they cover (the bytes between
    // them written back unchanged), checked with one read.
    let lo = plan.patches.iter().map(|p| p.offset).min().unwrap_or(0) as usize;
    let hi = plan
        .patches
        .iter()
        .map(|p| p.offset as usize + p.bytes.len())
        .max()
        .unwrap_or(0);
    if hi > image.len() {
        // Code past the image's tables (never seen in a real vDSO): read it too.
        let old = image.len();
        image.resize(hi, 0);
        mem.read_exact_at(&mut image[old..], base + old as u64)
            .map_err(|e| format!("reading the vDSO: {e}"))?;
    }
    if hi > lo {
        let mut span = image[lo..hi].to_vec();
        for p in &plan.patches {
            let at = p.offset as usize - lo;
            span[at..at + p.bytes.len()].copy_from_slice(&p.bytes);
        }
        let names: Vec<&str> = plan.patches.iter().map(|p| p.symbol.as_str()).collect();
        let what = format!("vDSO {}", names.join(", "));
        write_at(mem, base + lo as u64, &span, &what)?;
        let mut back = vec![0u8; span.len()];
        mem.read_exact_at(&mut back, base + lo as u64)
            .map_err(|e| format!("reading back {what}: {e}"))?;
        if back != span {
            return Err(format!("{what} did not take the redirect"));
        }
    }
    plan.syscall_offset = plan.syscall_offset.map(|o| base + o);
    plan.fast = plan.fast.map(|(o, n)| (base + o, n));
    plan.spare = plan.spare.map(|(o, n)| (base + o, n));
    Ok(plan)
}

/// Prepare the new image of `pid`, stopped at PTRACE_EVENT_EXEC; `elapsed` is
/// the virtual time now. Returns a signal to deliver when resuming it (0 for none).
pub fn at_exec(st: &mut ExecState, pid: libc::pid_t, elapsed: i64) -> Result<i32, Failure> {
    if !st.active() {
        return Ok(0);
    }
    let refuse = Failure::Refused;
    let l = st.lineage.entry(pid).or_default();
    l.execs += 1;
    let (id, exec) = (l.id, l.execs);
    let (ehdr, random) = auxv(pid).map_err(refuse)?;
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| refuse(format!("opening /proc/{pid}/mem: {e}")))?;
    if let Some(seed) = st.seed {
        if random == 0 {
            return Err(refuse("the new program has no AT_RANDOM entry".into()));
        }
        let bytes = ExecState::at_random(seed, id, exec);
        write_at(&mem, random, &bytes, "AT_RANDOM").map_err(refuse)?;
    }
    // Without a vDSO every clock read is a system call already.
    let mut syscall_at = None;
    let mut spare = None;
    if st.wants.any() && ehdr != 0 {
        let frozen = st.fast.as_ref().map(|(_, start)| (*start, elapsed));
        let plan = patch_vdso(&mem, ehdr, st.wants, frozen).map_err(refuse)?;
        if let (Some((f, _)), Some((data, slots))) = (&mut st.fast, plan.fast) {
            f.installed(pid, data, slots);
        } else if let Some((f, _)) = &mut st.fast {
            f.gone(pid); // this image answers the clock by system calls
        }
        syscall_at = plan.syscall_offset;
        spare = plan.spare;
    }
    if !st.cpuid {
        return Ok(0);
    }
    if let Some((at, _)) = spare.filter(|&(_, n)| n >= entrystub::LEN as u64) {
        return enter_through_stub(st, &mem, pid, at);
    }
    let at = syscall_at
        .ok_or_else(|| refuse("no vDSO to run arch_prctl(ARCH_SET_CPUID) from".into()))?;
    let (rc, pending) = inject_set_cpuid(pid, at)?;
    if rc != 0 {
        return Err(refuse(format!(
            "arch_prctl(ARCH_SET_CPUID, 0) failed in the new program: {}",
            crate::error::errno_text(-rc as i32)
        )));
    }
    Ok(pending)
}

/// Make the program's first instructions the vDSO stub that re-arms CPUID
/// faulting (`entrystub.rs`), written at `at` (unreachable vDSO bytes).
fn enter_through_stub(
    st: &mut ExecState,
    mem: &File,
    pid: libc::pid_t,
    at: u64,
) -> Result<i32, Failure> {
    let refuse = Failure::Refused;
    let regs_err = |e: i32| {
        refuse(format!(
            "ptrace registers of pid {pid}: {}",
            crate::error::errno_text(e)
        ))
    };
    let mut r = regs::get(pid).map_err(regs_err)?;
    let stub = entrystub::build(&r);
    write_at(mem, at, &stub, "the vDSO entry stub").map_err(refuse)?;
    let mut back = [0u8; entrystub::LEN];
    mem.read_exact_at(&mut back, at)
        .map_err(|e| refuse(format!("reading back the vDSO entry stub: {e}")))?;
    if back != stub {
        return Err(refuse("the vDSO did not take the entry stub".into()));
    }
    r.rip = at;
    regs::set(pid, &r).map_err(regs_err)?;
    st.lineage.entry(pid).or_default().stub_fail = at + entrystub::FAIL_AT;
    Ok(0)
}

/// Run `arch_prctl(ARCH_SET_CPUID, 0)` in the tracee from the `syscall`
/// instruction at `at`, then put its registers back. Returns the call's result
/// and a signal that arrived meanwhile.
fn inject_set_cpuid(pid: libc::pid_t, at: u64) -> Result<(i64, i32), Failure> {
    let mut pending = Vec::new();
    // The first step after an exec stop only completes execve's return to user
    // space, without running an instruction (spike Extra A): the registers
    // after it are the program's true starting state.
    regs::step(pid, &mut pending)?;
    let regs_err = |e: i32| {
        Failure::Refused(format!(
            "ptrace registers of pid {pid}: {}",
            crate::error::errno_text(e)
        ))
    };
    let saved = regs::get(pid).map_err(regs_err)?;
    let mut r = saved;
    r.rip = at;
    r.rax = libc::SYS_arch_prctl as u64;
    r.rdi = ARCH_SET_CPUID;
    r.rsi = 0;
    r.orig_rax = u64::MAX; // not inside a system call: no restart logic applies
    regs::set(pid, &r).map_err(regs_err)?;
    regs::step(pid, &mut pending)?;
    let after = regs::get(pid).map_err(regs_err)?;
    regs::set(pid, &saved).map_err(regs_err)?;
    if after.rip != at + 2 {
        return Err(Failure::Refused(format!(
            "the injected system call did not run (rip {:#x}, expected {:#x})",
            after.rip,
            at + 2
        )));
    }
    Ok((after.rax as i64, pending.first().copied().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lineage_names_do_not_depend_on_timing() {
        let req = SpawnRequest {
            seed: Some(1),
            ..Default::default()
        };
        let mut a = ExecState::new(&req, 100, false);
        a.on_fork(100, 200);
        a.on_fork(100, 300);
        a.on_fork(300, 301);
        let mut b = ExecState::new(&req, 7, false);
        b.on_fork(7, 8);
        b.on_fork(7, 9);
        b.on_fork(9, 10);
        b.on_fork(9, 10); // a repeated event changes nothing
        assert_eq!(a.lineage_id(301), b.lineage_id(10));
        assert_eq!(a.lineage_id(200), b.lineage_id(8));
        assert_ne!(a.lineage_id(200), a.lineage_id(300));
        assert_eq!(ExecState::at_random(1, 5, 1), ExecState::at_random(1, 5, 1));
        assert_ne!(ExecState::at_random(1, 5, 1), ExecState::at_random(1, 5, 2));
        assert_ne!(ExecState::at_random(1, 5, 1), ExecState::at_random(2, 5, 1));
    }
}
