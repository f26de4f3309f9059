//! A classic-BPF assembler for x86_64 seccomp filters, and an interpreter for
//! testing them without a kernel.
//!
//! Layout of an assembled program:
//! 1. `arch != AUDIT_ARCH_X86_64` → KILL_PROCESS. `int 0x80` reports
//!    AUDIT_ARCH_I386 with i386 syscall numbers, which would otherwise be
//!    matched against the x86_64 table.
//! 2. `nr >= 0x40000000` (the x32 bit) → KILL_PROCESS, except `nr == -1`.
//!    x32 syscalls share the x86_64 arch value, so only the number tells them
//!    apart. `-1` is what a tracer writes to skip a syscall, and seccomp runs
//!    after the ptrace syscall-entry stop; it reaches no syscall (the kernel
//!    skips or answers ENOSYS), so it goes to `default` instead of killing.
//! 3. A balanced binary search over ranges of syscall numbers. Seccomp install
//!    cost grows with the work per syscall number (the kernel emulates the filter
//!    once per number to fill its action cache), and every syscall pays for the
//!    filter path: O(log n) keeps both small (DESIGN.md §4.2, spike §A).
//!    Adjacent numbers with the same constant action are merged into one range.
//! 4. Each leaf either returns a constant, or runs one rule's argument checks.
//!    Constant leaves never load an argument, so the kernel's per-syscall
//!    action cache can mark allowed numbers as "always allow" and skip the
//!    filter for them entirely.
//!
//! Classic BPF conditional jumps have 8-bit offsets and only jump forward. A
//! conditional whose target is farther than 255 instructions jumps to a
//! `BPF_JA` trampoline (32-bit offset) placed right after it.

/// `AUDIT_ARCH_X86_64` from linux/audit.h (EM_X86_64 | 64BIT | LE).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`, what `int 0x80` reports on x86_64.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// Kernel limit on the length of one filter program.
pub const BPF_MAXINSNS: usize = 4096;

// Opcode parts from linux/bpf_common.h.
const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_K: u16 = 0x00;
const BPF_AND: u16 = 0x50;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGT: u16 = 0x20;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;

const OP_LD_ABS: u16 = BPF_LD | BPF_W | BPF_ABS;
const OP_AND_K: u16 = BPF_ALU | BPF_AND | BPF_K;
const OP_JA: u16 = BPF_JMP | BPF_JA;
const OP_JEQ_K: u16 = BPF_JMP | BPF_JEQ | BPF_K;
const OP_JGT_K: u16 = BPF_JMP | BPF_JGT | BPF_K;
const OP_JGE_K: u16 = BPF_JMP | BPF_JGE | BPF_K;
const OP_JSET_K: u16 = BPF_JMP | BPF_JSET | BPF_K;
const OP_RET_K: u16 = BPF_RET | BPF_K;

// Offsets into struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;
const SECCOMP_DATA_SIZE: u32 = 64;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// A ptrace stop (`PTRACE_EVENT_SECCOMP`) for the tracer (seccomp(2)).
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;

/// Layout-compatible with the kernel's `struct seccomp_data`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

/// What the filter tells the kernel to do with a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    /// Fail the syscall with this errno; the kernel caps it at 4095.
    Errno(u16),
    /// Hand the syscall to the user-notification listener.
    Notify,
    KillProcess,
    /// Deliver SIGSYS to the thread.
    Trap,
    /// Stop the thread for its ptrace tracer (which may rewrite the call).
    Trace,
}

impl Action {
    /// The `SECCOMP_RET_*` value the filter returns for this action.
    pub fn ret_value(&self) -> u32 {
        match *self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::Notify => SECCOMP_RET_USER_NOTIF,
            Action::KillProcess => SECCOMP_RET_KILL_PROCESS,
            Action::Trap => SECCOMP_RET_TRAP,
            Action::Trace => SECCOMP_RET_TRACE,
        }
    }
}

/// A test on one syscall argument (`arg` is 0..=5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgTest {
    /// `(arg & mask) == value`. With `low32`, the argument's high half is
    /// treated as zero: the kernel reads `int`/`unsigned int` parameters from
    /// the low half only, so a check on the full 64 bits can be bypassed by
    /// setting junk high bits (CVE-2019-10063, ioctl TIOCSTI). A `value` with
    /// bits outside the effective mask never matches.
    MaskedEq {
        arg: u8,
        mask: u64,
        value: u64,
        low32: bool,
    },
    /// `(arg & mask) != 0`, on all 64 bits.
    AnyBits { arg: u8, mask: u64 },
    /// `lo <= low32(arg) <= hi`, unsigned. Empty when `lo > hi`.
    Range32 { arg: u8, lo: u32, hi: u32 },
}

/// The rule for one syscall number: `checks` in order, first match wins,
/// else `otherwise`. Without checks, the action is constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallRule {
    pub nr: u32,
    pub checks: Vec<(ArgTest, Action)>,
    pub otherwise: Action,
}

impl SyscallRule {
    /// A rule with no argument checks.
    pub fn constant(nr: u32, action: Action) -> SyscallRule {
        SyscallRule {
            nr,
            checks: Vec::new(),
            otherwise: action,
        }
    }
}

/// A whole filter: per-syscall rules, and `default` for every other number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub default: Action,
    pub rules: Vec<SyscallRule>,
}

/// Whether a test can be decided without looking at the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decided {
    Always,
    Never,
    Depends,
}

fn lo32(x: u64) -> u32 {
    x as u32
}

fn hi32(x: u64) -> u32 {
    (x >> 32) as u32
}

fn arg_lo_off(arg: u8) -> u32 {
    OFF_ARGS + 8 * u32::from(arg)
}

fn arg_hi_off(arg: u8) -> u32 {
    arg_lo_off(arg) + 4
}

impl ArgTest {
    fn arg(&self) -> u8 {
        match *self {
            ArgTest::MaskedEq { arg, .. }
            | ArgTest::AnyBits { arg, .. }
            | ArgTest::Range32 { arg, .. } => arg,
        }
    }

    fn decided(&self) -> Decided {
        match *self {
            ArgTest::MaskedEq {
                mask, value, low32, ..
            } => {
                let mask = if low32 { mask & 0xffff_ffff } else { mask };
                if value & !mask != 0 {
                    Decided::Never
                } else if mask == 0 {
                    Decided::Always
                } else {
                    Decided::Depends
                }
            }
            ArgTest::AnyBits { mask, .. } => {
                if mask == 0 {
                    Decided::Never
                } else {
                    Decided::Depends
                }
            }
            ArgTest::Range32 { lo, hi, .. } => {
                if lo > hi {
                    Decided::Never
                } else if lo == 0 && hi == u32::MAX {
                    Decided::Always
                } else {
                    Decided::Depends
                }
            }
        }
    }
}

/// The single return value of a rule whose outcome does not depend on its
/// arguments, so its leaf can be a constant (cache-friendly, mergeable).
fn constant_outcome(rule: &SyscallRule) -> Option<u32> {
    let mut outcomes = Vec::new();
    let mut reaches_otherwise = true;
    for (test, action) in &rule.checks {
        match test.decided() {
            Decided::Never => {}
            Decided::Depends => outcomes.push(action.ret_value()),
            Decided::Always => {
                outcomes.push(action.ret_value());
                reaches_otherwise = false;
                break;
            }
        }
    }
    if reaches_otherwise {
        outcomes.push(rule.otherwise.ret_value());
    }
    let first = outcomes[0];
    outcomes.iter().all(|&o| o == first).then_some(first)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

/// One instruction before layout; conditional jumps name labels, not offsets.
#[derive(Clone, Copy, Debug)]
enum Ir {
    Stmt {
        code: u16,
        k: u32,
    },
    Cond {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
}

#[derive(Default)]
struct Asm {
    ir: Vec<Ir>,
    /// Index into `ir` of the instruction each label names.
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Points `l` at the next instruction emitted.
    fn bind(&mut self, l: Label) {
        debug_assert!(self.labels[l.0].is_none(), "label bound twice");
        self.labels[l.0] = Some(self.ir.len());
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.ir.push(Ir::Stmt { code, k });
    }

    fn ld(&mut self, off: u32) {
        self.stmt(OP_LD_ABS, off);
    }

    fn ret(&mut self, k: u32) {
        self.stmt(OP_RET_K, k);
    }

    fn cond(&mut self, code: u16, k: u32, jt: Label, jf: Label) {
        self.ir.push(Ir::Cond { code, k, jt, jf });
    }

    /// A conditional whose false branch is the next instruction.
    fn cond_else_next(&mut self, code: u16, k: u32, jt: Label) {
        let next = self.label();
        self.cond(code, k, jt, next);
        self.bind(next);
    }

    /// A conditional whose true branch is the next instruction.
    fn cond_then_next(&mut self, code: u16, k: u32, jf: Label) {
        let next = self.label();
        self.cond(code, k, next, jf);
        self.bind(next);
    }

    /// Resolves labels into offsets, adding trampolines for jumps beyond 255.
    fn finish(self) -> Result<Vec<libc::sock_filter>, String> {
        let n = self.ir.len();
        let target = |l: Label, from: usize| -> Result<usize, String> {
            match self.labels[l.0] {
                Some(t) if t > from && t < n => Ok(t),
                Some(t) => Err(format!(
                    "internal: jump from {from} to {t} is not forward within {n}"
                )),
                None => Err("internal: unbound label".to_string()),
            }
        };
        // far[i] = (true branch needs a trampoline, false branch needs one).
        // Marking a jump far only ever lengthens other jumps, so iterating to a
        // fixed point terminates, after at most one pass per conditional.
        let mut far = vec![(false, false); n];
        let mut addr = vec![0usize; n];
        loop {
            let mut a = 0usize;
            for i in 0..n {
                addr[i] = a;
                a += 1 + usize::from(far[i].0) + usize::from(far[i].1);
            }
            if a > BPF_MAXINSNS {
                return Err(format!(
                    "seccomp filter needs {a} instructions, more than the kernel's {BPF_MAXINSNS}"
                ));
            }
            let mut changed = false;
            for i in 0..n {
                if let Ir::Cond { jt, jf, .. } = self.ir[i] {
                    let base = addr[i] + 1;
                    if !far[i].0 && addr[target(jt, i)?] - base > 255 {
                        far[i].0 = true;
                        changed = true;
                    }
                    if !far[i].1 && addr[target(jf, i)?] - base > 255 {
                        far[i].1 = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }

        let mut out: Vec<libc::sock_filter> = Vec::new();
        let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
        for i in 0..n {
            debug_assert_eq!(out.len(), addr[i]);
            match self.ir[i] {
                Ir::Stmt { code, k } => out.push(insn(code, 0, 0, k)),
                Ir::Cond { code, k, jt, jf } => {
                    let base = addr[i] + 1;
                    let t = addr[target(jt, i)?];
                    let f = addr[target(jf, i)?];
                    // Trampolines sit right after the conditional: the true
                    // branch's first, then the false branch's.
                    let jt_off = if far[i].0 { 0 } else { (t - base) as u8 };
                    let jf_off = if far[i].1 {
                        u8::from(far[i].0)
                    } else {
                        (f - base) as u8
                    };
                    out.push(insn(code, jt_off, jf_off, k));
                    for (is_far, dest) in [(far[i].0, t), (far[i].1, f)] {
                        if is_far {
                            let off = dest - (out.len() + 1);
                            out.push(insn(OP_JA, 0, 0, off as u32));
                        }
                    }
                }
            }
        }
        // The kernel's classic-BPF checker rejects a program not ending in RET.
        match out.last() {
            Some(last) if last.code == OP_RET_K => Ok(out),
            _ => Err("internal: program does not end in RET".to_string()),
        }
    }
}

/// A range of syscall numbers, from `start` up to the next segment's start.
#[derive(Clone, Copy, Debug)]
struct Segment {
    start: u32,
    leaf: Leaf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    Const(u32),
    /// Index of a rule with argument checks; its segment is one number wide.
    Checks(usize),
}

fn segments(spec: &FilterSpec) -> Result<Vec<Segment>, String> {
    let mut order: Vec<usize> = (0..spec.rules.len()).collect();
    order.sort_by_key(|&i| spec.rules[i].nr);
    for pair in order.windows(2) {
        if spec.rules[pair[0]].nr == spec.rules[pair[1]].nr {
            return Err(format!(
                "two seccomp rules for syscall {}",
                spec.rules[pair[0]].nr
            ));
        }
    }
    let default = spec.default.ret_value();
    let mut segs: Vec<Segment> = Vec::new();
    // Merging equal constant neighbours keeps the tree (and install cost) small
    // when many rules share an action or repeat the default.
    fn push(segs: &mut Vec<Segment>, seg: Segment) {
        match (segs.last(), seg.leaf) {
            (Some(prev), Leaf::Const(_)) if prev.leaf == seg.leaf => {}
            _ => segs.push(seg),
        }
    }
    let mut next = 0u32;
    for &i in &order {
        let rule = &spec.rules[i];
        if rule.nr > next {
            push(
                &mut segs,
                Segment {
                    start: next,
                    leaf: Leaf::Const(default),
                },
            );
        }
        let leaf = match constant_outcome(rule) {
            Some(ret) => Leaf::Const(ret),
            None => Leaf::Checks(i),
        };
        push(
            &mut segs,
            Segment {
                start: rule.nr,
                leaf,
            },
        );
        // nr < X32_SYSCALL_BIT was checked, so this cannot overflow.
        next = rule.nr + 1;
    }
    push(
        &mut segs,
        Segment {
            start: next,
            leaf: Leaf::Const(default),
        },
    );
    Ok(segs)
}

/// Emits a search over `segs`, knowing A holds a number inside their span.
fn emit_search(asm: &mut Asm, spec: &FilterSpec, segs: &[Segment]) {
    if let [only] = segs {
        match only.leaf {
            Leaf::Const(ret) => asm.ret(ret),
            Leaf::Checks(i) => emit_rule(asm, &spec.rules[i]),
        }
        return;
    }
    let mid = segs.len() / 2;
    let right = asm.label();
    asm.cond_else_next(OP_JGE_K, segs[mid].start, right);
    emit_search(asm, spec, &segs[..mid]);
    asm.bind(right);
    emit_search(asm, spec, &segs[mid..]);
}

/// Emits one rule's checks, each followed by its action, then `otherwise`.
fn emit_rule(asm: &mut Asm, rule: &SyscallRule) {
    for (test, action) in &rule.checks {
        match test.decided() {
            Decided::Never => continue,
            Decided::Always => {
                asm.ret(action.ret_value());
                return;
            }
            Decided::Depends => {
                let hit = asm.label();
                let miss = asm.label();
                emit_test(asm, test, hit, miss);
                asm.bind(hit);
                asm.ret(action.ret_value());
                asm.bind(miss);
            }
        }
    }
    asm.ret(rule.otherwise.ret_value());
}

/// Emits a test that jumps to `hit` or `miss`; only for `Decided::Depends`.
fn emit_test(asm: &mut Asm, test: &ArgTest, hit: Label, miss: Label) {
    match *test {
        ArgTest::MaskedEq {
            arg,
            mask,
            value,
            low32,
        } => {
            let mask = if low32 { mask & 0xffff_ffff } else { mask };
            let mut halves = Vec::with_capacity(2);
            if lo32(mask) != 0 {
                halves.push((arg_lo_off(arg), lo32(mask), lo32(value)));
            }
            if hi32(mask) != 0 {
                halves.push((arg_hi_off(arg), hi32(mask), hi32(value)));
            }
            let last = halves.len() - 1;
            for (idx, (off, m, v)) in halves.into_iter().enumerate() {
                asm.ld(off);
                if m != u32::MAX {
                    asm.stmt(OP_AND_K, m);
                }
                if idx == last {
                    asm.cond(OP_JEQ_K, v, hit, miss);
                } else {
                    asm.cond_then_next(OP_JEQ_K, v, miss);
                }
            }
        }
        ArgTest::AnyBits { arg, mask } => {
            let mut halves = Vec::with_capacity(2);
            if lo32(mask) != 0 {
                halves.push((arg_lo_off(arg), lo32(mask)));
            }
            if hi32(mask) != 0 {
                halves.push((arg_hi_off(arg), hi32(mask)));
            }
            let last = halves.len() - 1;
            for (idx, (off, m)) in halves.into_iter().enumerate() {
                asm.ld(off);
                if idx == last {
                    asm.cond(OP_JSET_K, m, hit, miss);
                } else {
                    asm.cond_else_next(OP_JSET_K, m, hit);
                }
            }
        }
        ArgTest::Range32 { arg, lo, hi } => {
            asm.ld(arg_lo_off(arg));
            if lo == 0 {
                asm.cond(OP_JGT_K, hi, miss, hit);
            } else if hi == u32::MAX {
                asm.cond(OP_JGE_K, lo, hit, miss);
            } else {
                asm.cond_then_next(OP_JGE_K, lo, miss);
                asm.cond(OP_JGT_K, hi, miss, hit);
            }
        }
    }
}

/// Assembles `spec` into a program for `seccomp(SECCOMP_SET_MODE_FILTER)`.
///
/// Errors: two rules for one number, a number with the x32 bit (unreachable
/// past the x32 check), an argument index above 5, or more than
/// `BPF_MAXINSNS` instructions.
pub fn assemble(spec: &FilterSpec) -> Result<Vec<libc::sock_filter>, String> {
    assemble_with(spec, Action::KillProcess)
}

/// Like [`assemble`], with `foreign` as the answer to foreign-ABI calls (i386
/// `int 0x80`, x32): `Trap` lets a tracer see which call it was (SIGSYS
/// carries the number) before it kills the process itself.
pub fn assemble_with(spec: &FilterSpec, foreign: Action) -> Result<Vec<libc::sock_filter>, String> {
    for rule in &spec.rules {
        if rule.nr >= X32_SYSCALL_BIT {
            return Err(format!(
                "seccomp rule for syscall {:#x}: numbers with the x32 bit are killed before the search",
                rule.nr
            ));
        }
        if let Some((test, _)) = rule.checks.iter().find(|(t, _)| t.arg() > 5) {
            return Err(format!(
                "seccomp rule for syscall {}: argument index {} out of range",
                rule.nr,
                test.arg()
            ));
        }
    }
    let segs = segments(spec)?;

    let mut asm = Asm::default();
    let kill = foreign.ret_value();
    let arch_ok = asm.label();
    let search = asm.label();
    let high_nr = asm.label();

    asm.ld(OFF_ARCH);
    asm.cond_else_next(OP_JEQ_K, AUDIT_ARCH_X86_64, arch_ok);
    asm.ret(kill);
    asm.bind(arch_ok);
    asm.ld(OFF_NR);
    asm.cond(OP_JGE_K, X32_SYSCALL_BIT, high_nr, search);
    asm.bind(high_nr);
    asm.cond_else_next(OP_JEQ_K, u32::MAX, search);
    asm.ret(kill);
    asm.bind(search);
    emit_search(&mut asm, spec, &segs);

    asm.finish()
}

/// Runs `prog` on `data` like the kernel would and returns the `SECCOMP_RET_*`
/// value. Supports exactly what `assemble` emits (LD W ABS, AND K, JA, JEQ/JGT/
/// JGE/JSET K, RET K).
///
/// # Panics
/// On any other instruction, a misaligned or out-of-range load, or running
/// off the end: the kernel rejects such programs, so a test should fail loudly.
pub fn interpret(prog: &[libc::sock_filter], data: &SeccompData) -> u32 {
    let word = |k: u32| -> u32 {
        assert!(
            k % 4 == 0 && k < SECCOMP_DATA_SIZE,
            "bad seccomp_data load at offset {k}"
        );
        match k {
            0 => data.nr as u32,
            4 => data.arch,
            8 => lo32(data.instruction_pointer),
            12 => hi32(data.instruction_pointer),
            _ => {
                let arg = data.args[((k - OFF_ARGS) / 8) as usize];
                if (k - OFF_ARGS) % 8 == 0 {
                    lo32(arg)
                } else {
                    hi32(arg)
                }
            }
        }
    };
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = prog
            .get(pc)
            .unwrap_or_else(|| panic!("BPF program ran off its end at {pc}"));
        let branch = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
        pc += 1;
        match ins.code {
            OP_LD_ABS => a = word(ins.k),
            OP_AND_K => a &= ins.k,
            OP_JA => pc += ins.k as usize,
            OP_JEQ_K => pc += branch(a == ins.k),
            OP_JGT_K => pc += branch(a > ins.k),
            OP_JGE_K => pc += branch(a >= ins.k),
            OP_JSET_K => pc += branch(a & ins.k != 0),
            OP_RET_K => return ins.k,
            code => panic!("unsupported BPF opcode {code:#x} at {}", pc - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic generator so failures reproduce without a seed file.
    struct Lcg(u64);

    impl Lcg {
        fn next_u32(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 32) as u32
        }

        fn next_u64(&mut self) -> u64 {
            (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    fn reference_test(test: &ArgTest, args: &[u64; 6]) -> bool {
        match *test {
            ArgTest::MaskedEq {
                arg,
                mask,
                value,
                low32,
            } => {
                let x = args[usize::from(arg)];
                let x = if low32 { x & 0xffff_ffff } else { x };
                x & mask == value
            }
            ArgTest::AnyBits { arg, mask } => args[usize::from(arg)] & mask != 0,
            ArgTest::Range32 { arg, lo, hi } => {
                let x = args[usize::from(arg)] as u32;
                lo <= x && x <= hi
            }
        }
    }

    /// The spec's meaning, written as plainly as possible.
    fn reference(spec: &FilterSpec, d: &SeccompData) -> u32 {
        let nr = d.nr as u32;
        if d.arch != AUDIT_ARCH_X86_64 || (nr >= X32_SYSCALL_BIT && nr != u32::MAX) {
            return SECCOMP_RET_KILL_PROCESS;
        }
        match spec.rules.iter().find(|r| r.nr == nr) {
            None => spec.default.ret_value(),
            Some(rule) => rule
                .checks
                .iter()
                .find(|(t, _)| reference_test(t, &d.args))
                .map_or(rule.otherwise, |(_, a)| *a)
                .ret_value(),
        }
    }

    fn random_action(rng: &mut Lcg) -> Action {
        match rng.below(5) {
            0 => Action::Allow,
            1 => Action::Errno(rng.below(200) as u16),
            2 => Action::Notify,
            3 => Action::KillProcess,
            _ => Action::Trap,
        }
    }

    fn random_mask(rng: &mut Lcg) -> u64 {
        match rng.below(6) {
            0 => u64::MAX,
            1 => 0xffff_ffff,
            2 => 1 << rng.below(64),
            3 => rng.next_u64() & 0xffff_0000_0000,
            4 => 0,
            _ => rng.next_u64(),
        }
    }

    fn random_test(rng: &mut Lcg) -> ArgTest {
        let arg = rng.below(6) as u8;
        match rng.below(3) {
            0 => {
                let mask = random_mask(rng);
                let low32 = rng.chance(50);
                let effective = if low32 { mask & 0xffff_ffff } else { mask };
                // Mostly satisfiable values, sometimes ones that never match.
                let value = if rng.chance(85) {
                    rng.next_u64() & effective
                } else {
                    rng.next_u64()
                };
                ArgTest::MaskedEq {
                    arg,
                    mask,
                    value,
                    low32,
                }
            }
            1 => ArgTest::AnyBits {
                arg,
                mask: random_mask(rng),
            },
            _ => {
                let lo = match rng.below(4) {
                    0 => 0,
                    _ => rng.below(2000) as u32,
                };
                let hi = match rng.below(5) {
                    0 => u32::MAX,
                    1 => lo.saturating_sub(1),
                    _ => lo.saturating_add(rng.below(50) as u32),
                };
                ArgTest::Range32 { arg, lo, hi }
            }
        }
    }

    fn random_spec(rng: &mut Lcg, max_rules: u64, check_percent: u64) -> FilterSpec {
        let count = rng.below(max_rules + 1) as usize;
        let span = (count as u64 * 2).max(8);
        let mut nrs: Vec<u32> = Vec::new();
        while nrs.len() < count {
            let nr = rng.below(span) as u32;
            if !nrs.contains(&nr) {
                nrs.push(nr);
            }
        }
        let rules = nrs
            .into_iter()
            .map(|nr| {
                let checks = if rng.chance(check_percent) {
                    (0..1 + rng.below(3))
                        .map(|_| (random_test(rng), random_action(rng)))
                        .collect()
                } else {
                    Vec::new()
                };
                SyscallRule {
                    nr,
                    checks,
                    otherwise: random_action(rng),
                }
            })
            .collect();
        FilterSpec {
            default: random_action(rng),
            rules,
        }
    }

    /// An argument value likely to sit on the edge of `test`.
    fn value_near(rng: &mut Lcg, test: &ArgTest) -> u64 {
        let noise = rng.next_u64();
        match *test {
            ArgTest::MaskedEq { mask, value, .. } => match rng.below(4) {
                0 => value,
                1 => value | (noise & !mask),
                // Junk in the high half: matches only under low32.
                2 => (noise & 0xffff_ffff_0000_0000) | (value & 0xffff_ffff),
                _ => value ^ (1 << rng.below(64)),
            },
            ArgTest::AnyBits { mask, .. } => match rng.below(3) {
                0 => noise & !mask,
                1 => mask & (1 << rng.below(64)),
                _ => noise,
            },
            ArgTest::Range32 { lo, hi, .. } => {
                let low = match rng.below(5) {
                    0 => lo,
                    1 => hi,
                    2 => lo.wrapping_sub(1),
                    3 => hi.wrapping_add(1),
                    _ => noise as u32,
                };
                // Junk in the high half must not change the outcome.
                (noise & 0xffff_ffff_0000_0000) | u64::from(low)
            }
        }
    }

    fn random_data(rng: &mut Lcg, spec: &FilterSpec) -> SeccompData {
        let mut d = SeccompData {
            nr: 0,
            arch: AUDIT_ARCH_X86_64,
            instruction_pointer: rng.next_u64(),
            args: [0; 6],
        };
        for a in d.args.iter_mut() {
            *a = match rng.below(4) {
                0 => 0,
                1 => u64::MAX,
                _ => rng.next_u64(),
            };
        }
        let rule = if spec.rules.is_empty() {
            None
        } else {
            Some(&spec.rules[rng.below(spec.rules.len() as u64) as usize])
        };
        d.nr = match (rng.below(20), rule) {
            (0, _) => (X32_SYSCALL_BIT | rng.below(600) as u32) as i32,
            (1, _) => -1,
            (2, _) => rng.next_u32() as i32,
            (3..=5, _) | (_, None) => rng.below(1000) as i32,
            (_, Some(r)) => r.nr as i32,
        };
        if let Some(r) = rule {
            for (test, _) in &r.checks {
                if rng.chance(60) {
                    d.args[usize::from(test.arg())] = value_near(rng, test);
                }
            }
        }
        d.arch = match rng.below(20) {
            0 => AUDIT_ARCH_I386,
            1 => rng.next_u32(),
            _ => AUDIT_ARCH_X86_64,
        };
        d
    }

    /// Mirrors the kernel's action-cache precomputation: follow the path for
    /// `nr` knowing only nr and arch; None if it loads anything else.
    fn constant_path(prog: &[libc::sock_filter], nr: u32) -> Option<u32> {
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            pc += 1;
            let branch = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
            match ins.code {
                OP_LD_ABS if ins.k == OFF_NR => a = nr,
                OP_LD_ABS if ins.k == OFF_ARCH => a = AUDIT_ARCH_X86_64,
                OP_LD_ABS | OP_AND_K => return None,
                OP_JA => pc += ins.k as usize,
                OP_JEQ_K => pc += branch(a == ins.k),
                OP_JGT_K => pc += branch(a > ins.k),
                OP_JGE_K => pc += branch(a >= ins.k),
                OP_JSET_K => pc += branch(a & ins.k != 0),
                OP_RET_K => return Some(ins.k),
                code => panic!("unexpected opcode {code:#x}"),
            }
        }
    }

    fn check_spec(rng: &mut Lcg, spec: &FilterSpec, prog: &[libc::sock_filter], samples: usize) {
        for _ in 0..samples {
            let d = random_data(rng, spec);
            assert_eq!(
                interpret(prog, &d),
                reference(spec, &d),
                "data {d:?}\nspec {spec:?}"
            );
        }
        for rule in &spec.rules {
            if rule.checks.is_empty() {
                assert_eq!(
                    constant_path(prog, rule.nr),
                    Some(rule.otherwise.ret_value())
                );
            }
        }
    }

    #[test]
    fn random_specs_match_reference() {
        let mut rng = Lcg(0x5eed);
        let mut assembled = 0;
        for round in 0..150 {
            let max_rules = if round % 3 == 0 { 400 } else { 40 };
            let spec = random_spec(&mut rng, max_rules, 25);
            let prog = match assemble(&spec) {
                Ok(p) => p,
                Err(e) => {
                    assert!(e.contains("more than the kernel's"), "{e}");
                    continue;
                }
            };
            assembled += 1;
            assert!(prog.len() <= BPF_MAXINSNS);
            check_spec(&mut rng, &spec, &prog, 3000);
        }
        assert!(assembled >= 140, "only {assembled} specs assembled");
    }

    #[test]
    fn header_kills_foreign_arch_and_x32_but_not_minus_one() {
        let spec = FilterSpec {
            default: Action::Allow,
            rules: vec![SyscallRule::constant(1, Action::Errno(1))],
        };
        let prog = assemble(&spec).unwrap();
        let run = |nr: i32, arch: u32| {
            interpret(
                &prog,
                &SeccompData {
                    nr,
                    arch,
                    ..Default::default()
                },
            )
        };
        assert_eq!(run(1, AUDIT_ARCH_X86_64), SECCOMP_RET_ERRNO | 1);
        assert_eq!(run(0, AUDIT_ARCH_X86_64), SECCOMP_RET_ALLOW);
        assert_eq!(run(20, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(run(1, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(
            run(0x4000_0001, AUDIT_ARCH_X86_64),
            SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(run(-2, AUDIT_ARCH_X86_64), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(run(-1, AUDIT_ARCH_X86_64), SECCOMP_RET_ALLOW);
    }

    #[test]
    fn low32_ignores_high_half() {
        let spec = FilterSpec {
            default: Action::Allow,
            rules: vec![SyscallRule {
                nr: 16,
                checks: vec![(
                    ArgTest::MaskedEq {
                        arg: 1,
                        mask: u64::MAX,
                        value: 0x5412,
                        low32: true,
                    },
                    Action::Errno(1),
                )],
                otherwise: Action::Allow,
            }],
        };
        let prog = assemble(&spec).unwrap();
        for (req, want) in [
            (0x5412u64, SECCOMP_RET_ERRNO | 1),
            (0xdead_0000_5412, SECCOMP_RET_ERRNO | 1),
            (0xffff_ffff_0000_5412, SECCOMP_RET_ERRNO | 1),
            (0x5413, SECCOMP_RET_ALLOW),
            (0x1_0000_5413, SECCOMP_RET_ALLOW),
        ] {
            let mut d = SeccompData {
                nr: 16,
                arch: AUDIT_ARCH_X86_64,
                ..Default::default()
            };
            d.args[1] = req;
            assert_eq!(interpret(&prog, &d), want, "request {req:#x}");
        }
    }

    #[test]
    fn large_filter_needs_trampolines_and_evaluates_right() {
        let mut rng = Lcg(42);
        let rules: Vec<SyscallRule> = (0..400u32)
            .map(|i| SyscallRule {
                nr: i * 2 + 1,
                checks: if i % 2 == 0 {
                    vec![
                        (
                            ArgTest::Range32 {
                                arg: 0,
                                lo: 10,
                                hi: 20 + i,
                            },
                            Action::Notify,
                        ),
                        (
                            ArgTest::MaskedEq {
                                arg: 1,
                                mask: 0xffff_0000_ffff,
                                value: u64::from(i),
                                low32: false,
                            },
                            Action::Errno(i as u16),
                        ),
                    ]
                } else {
                    Vec::new()
                },
                otherwise: if i % 3 == 0 {
                    Action::Allow
                } else {
                    Action::Errno(1)
                },
            })
            .collect();
        let spec = FilterSpec {
            default: Action::Trap,
            rules,
        };
        let prog = assemble(&spec).unwrap();
        assert!(
            prog.len() > 512,
            "expected a big program, got {}",
            prog.len()
        );
        let trampolines = prog.iter().filter(|i| i.code == OP_JA).count();
        assert!(trampolines > 0, "no trampolines in {} insns", prog.len());
        for ins in &prog {
            if ins.code == OP_JA {
                assert!(ins.k > 255, "a trampoline that was not needed");
            }
        }
        check_spec(&mut rng, &spec, &prog, 20000);
        // Every rule, with arguments picked to hit each check.
        for rule in &spec.rules {
            for (test, _) in &rule.checks {
                for _ in 0..20 {
                    let mut d = SeccompData {
                        nr: rule.nr as i32,
                        arch: AUDIT_ARCH_X86_64,
                        ..Default::default()
                    };
                    d.args[usize::from(test.arg())] = value_near(&mut rng, test);
                    assert_eq!(interpret(&prog, &d), reference(&spec, &d), "{d:?}");
                }
            }
        }
    }

    /// The kernel's checker accepts a trampolined program, and agrees with
    /// `interpret` on it. Rules sit above every real syscall number so the
    /// child can still exit.
    #[test]
    fn kernel_accepts_large_program() {
        let rules: Vec<SyscallRule> = (0..400u32)
            .map(|i| SyscallRule {
                nr: 1000 + 2 * i,
                checks: if i % 2 == 0 {
                    vec![(
                        ArgTest::Range32 {
                            arg: 0,
                            lo: 10,
                            hi: 20,
                        },
                        Action::Errno(200),
                    )]
                } else {
                    Vec::new()
                },
                otherwise: Action::Errno((i % 100 + 1) as u16),
            })
            .collect();
        let spec = FilterSpec {
            default: Action::Allow,
            rules,
        };
        let prog = assemble(&spec).unwrap();
        assert!(prog.iter().any(|i| i.code == OP_JA));
        // (nr, arg0, expected errno), computed before the fork.
        let mut probes = [(0i64, 0u64, 0i32); 64];
        for (j, probe) in probes.iter_mut().enumerate() {
            let nr = 1000 + 25 * j as i64;
            let arg0 = [0u64, 15, 0xffff_ffff_0000_0014, 21][j % 4];
            let mut d = SeccompData {
                nr: nr as i32,
                arch: AUDIT_ARCH_X86_64,
                ..Default::default()
            };
            d.args[0] = arg0;
            let ret = interpret(&prog, &d);
            let errno = if ret == SECCOMP_RET_ALLOW {
                libc::ENOSYS
            } else {
                (ret & 0xffff) as i32
            };
            *probe = (nr, arg0, errno);
        }
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the child only makes raw syscalls and reads errno (no locks,
        // no allocation) before _exit; `prog` and `probes` were built before
        // the fork and stay valid in the child.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: see the fork above.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::syscall(
                        libc::SYS_seccomp,
                        libc::SECCOMP_SET_MODE_FILTER,
                        0,
                        &fprog as *const libc::sock_fprog,
                    ) != 0
                {
                    libc::_exit(101);
                }
                let mut bad = 0;
                for &(nr, arg0, errno) in &probes {
                    if libc::syscall(nr, arg0) != -1 || *libc::__errno_location() != errno {
                        bad += 1;
                    }
                }
                libc::_exit(bad);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child; status is a valid out pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "101: install failed, else mismatches"
        );
    }

    #[test]
    fn both_branches_far() {
        // assemble() never makes both branches far, but finish() must handle it.
        let mut asm = Asm::default();
        let (t, f) = (asm.label(), asm.label());
        asm.ld(OFF_NR);
        asm.cond(OP_JEQ_K, 7, t, f);
        for _ in 0..300 {
            asm.ret(0xdead);
        }
        asm.bind(t);
        asm.ret(1);
        for _ in 0..300 {
            asm.ret(0xbeef);
        }
        asm.bind(f);
        asm.ret(2);
        let prog = asm.finish().unwrap();
        assert_eq!(prog.len(), 2 + 2 + 602);
        let run = |nr| {
            let d = SeccompData {
                nr,
                ..Default::default()
            };
            interpret(&prog, &d)
        };
        assert_eq!(run(7), 1);
        assert_eq!(run(8), 2);
    }

    #[test]
    fn degenerate_checks_become_constant_leaves() {
        let never = ArgTest::AnyBits { arg: 0, mask: 0 };
        let always = ArgTest::Range32 {
            arg: 0,
            lo: 0,
            hi: u32::MAX,
        };
        let spec = FilterSpec {
            default: Action::Allow,
            rules: vec![
                SyscallRule {
                    nr: 3,
                    checks: vec![(never, Action::KillProcess)],
                    otherwise: Action::Errno(5),
                },
                SyscallRule {
                    nr: 4,
                    checks: vec![(always, Action::Errno(6)), (never, Action::Trap)],
                    otherwise: Action::Allow,
                },
            ],
        };
        let prog = assemble(&spec).unwrap();
        assert_eq!(constant_path(&prog, 3), Some(SECCOMP_RET_ERRNO | 5));
        assert_eq!(constant_path(&prog, 4), Some(SECCOMP_RET_ERRNO | 6));
        assert_eq!(constant_path(&prog, 5), Some(SECCOMP_RET_ALLOW));
    }

    #[test]
    fn errors() {
        let dup = FilterSpec {
            default: Action::Allow,
            rules: vec![
                SyscallRule::constant(7, Action::Allow),
                SyscallRule::constant(7, Action::Errno(1)),
            ],
        };
        assert!(assemble(&dup).unwrap_err().contains("two seccomp rules"));

        let x32 = FilterSpec {
            default: Action::Allow,
            rules: vec![SyscallRule::constant(X32_SYSCALL_BIT, Action::Allow)],
        };
        assert!(assemble(&x32).is_err());

        let bad_arg = FilterSpec {
            default: Action::Allow,
            rules: vec![SyscallRule {
                nr: 1,
                checks: vec![(ArgTest::AnyBits { arg: 6, mask: 1 }, Action::Trap)],
                otherwise: Action::Allow,
            }],
        };
        assert!(assemble(&bad_arg).is_err());

        let huge = FilterSpec {
            default: Action::Allow,
            rules: (0..1500)
                .map(|nr| SyscallRule {
                    nr,
                    checks: vec![(
                        ArgTest::Range32 {
                            arg: 0,
                            lo: 1,
                            hi: 2,
                        },
                        Action::Trap,
                    )],
                    otherwise: Action::Allow,
                })
                .collect(),
        };
        assert!(assemble(&huge)
            .unwrap_err()
            .contains("more than the kernel's"));
    }

    #[test]
    fn empty_spec_is_header_plus_default() {
        let spec = FilterSpec {
            default: Action::Errno(38),
            rules: Vec::new(),
        };
        let prog = assemble(&spec).unwrap();
        assert_eq!(prog.len(), 8);
        let d = SeccompData {
            nr: 39,
            arch: AUDIT_ARCH_X86_64,
            ..Default::default()
        };
        assert_eq!(interpret(&prog, &d), SECCOMP_RET_ERRNO | 38);
    }

    #[test]
    fn action_values() {
        assert_eq!(Action::Allow.ret_value(), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            Action::Errno(1).ret_value(),
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
        );
        assert_eq!(Action::Notify.ret_value(), libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(
            Action::KillProcess.ret_value(),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(Action::Trap.ret_value(), libc::SECCOMP_RET_TRAP);
        assert_eq!(std::mem::size_of::<SeccompData>(), 64);
        assert_eq!(
            std::mem::size_of::<SeccompData>(),
            std::mem::size_of::<libc::seccomp_data>()
        );
    }
}
