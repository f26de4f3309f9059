//! Re-arming CPUID faulting without stepping the tracee: a stub written into
//! the new image's own vDSO runs `arch_prctl(ARCH_SET_CPUID, 0)` as the
//! program's first instructions, then jumps to its real entry point.
//!
//! The fallback (`exec.rs`, `inject_set_cpuid`) single-steps the tracee
//! twice and reads and writes its registers four times; measured on the
//! benchmark VM that was ~70 µs of each deterministic exec stop, against one
//! more vDSO write and one `PTRACE_SETREGS` here.
//!
//! At the exec stop the registers already hold the program's starting state,
//! except `rax`, which execve's return sets to 0 afterwards (spike Extra A).
//! The stub leaves the program exactly that state: it changes only `rax`,
//! `rdi`, `rsi` and (through `syscall`) `rcx` and `r11`, and puts the values
//! read at the exec stop back with `mov`s, which, like `jrcxz` and the
//! indirect `jmp`, leave the flags alone; `syscall` saves and restores the
//! flags itself. It writes no memory (the stack is untouched).
//!
//! ```text
//!       mov eax, 158            # SYS_arch_prctl
//!       mov edi, 0x1012         # ARCH_SET_CPUID
//!       mov esi, 0              # 0: make cpuid fault
//!       syscall
//!       mov rcx, rax
//!       jrcxz 1f                # 0: armed
//!       ud2                     # else SIGILL before the program ran (FAIL_AT)
//! 1:    movabs rdi, <rdi>       # rax is already 0, as execve left it
//!       movabs rsi, <rsi>
//!       movabs rcx, <rcx>
//!       movabs r11, <r11>
//!       jmp [rip + 0]
//!       .quad <entry>
//! ```
//!
//! If the call fails, `ud2` raises SIGILL before any instruction of the
//! program ran: the tracer sees it at [`FAIL_AT`] and ends the sandbox; even
//! unseen, the signal's default action kills the process (signal handlers
//! are reset by execve), so it never runs with cpuid unmasked.

/// Bytes of the stub.
pub const LEN: usize = 78;
/// Offset of the `ud2` reached when the call failed.
pub const FAIL_AT: u64 = 22;

/// The stub for a program entered at `regs.rip` with `regs`' rdi, rsi, rcx, r11.
pub fn build(regs: &libc::user_regs_struct) -> [u8; LEN] {
    let mut b = Vec::with_capacity(LEN);
    b.extend_from_slice(&[0xb8, 0x9e, 0x00, 0x00, 0x00]); // mov eax, 158
    b.extend_from_slice(&[0xbf, 0x12, 0x10, 0x00, 0x00]); // mov edi, 0x1012
    b.extend_from_slice(&[0xbe, 0x00, 0x00, 0x00, 0x00]); // mov esi, 0
    b.extend_from_slice(&[0x0f, 0x05]); // syscall
    b.extend_from_slice(&[0x48, 0x89, 0xc1]); // mov rcx, rax
    b.extend_from_slice(&[0xe3, 0x02]); // jrcxz +2
    debug_assert_eq!(b.len() as u64, FAIL_AT);
    b.extend_from_slice(&[0x0f, 0x0b]); // ud2
    for (prefix, v) in [
        ([0x48, 0xbf], regs.rdi), // movabs rdi
        ([0x48, 0xbe], regs.rsi), // movabs rsi
        ([0x48, 0xb9], regs.rcx), // movabs rcx
        ([0x49, 0xbb], regs.r11), // movabs r11
    ] {
        b.extend_from_slice(&prefix);
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0xff, 0x25, 0x00, 0x00, 0x00, 0x00]); // jmp [rip+0]
    b.extend_from_slice(&regs.rip.to_le_bytes());
    b.try_into().unwrap_or([0xcc; LEN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::arch::asm;

    const ARCH_GET_CPUID: libc::c_ulong = 0x1011;

    /// Where the stub jumps: checks what it was entered with, then exits
    /// (raw syscalls only: it runs in a forked child).
    extern "C" fn entry(rdi: u64, rsi: u64) -> ! {
        // SAFETY: plain system calls with integer arguments.
        unsafe {
            let armed = libc::syscall(libc::SYS_arch_prctl, ARCH_GET_CPUID, 0) == 0;
            let code = if rdi != 0x1111_2222_3333_4444 {
                3
            } else if rsi != 0x5555_6666_7777_8888 {
                4
            } else if !armed {
                5
            } else {
                0
            };
            libc::syscall(libc::SYS_exit_group, code);
        }
        unreachable!()
    }

    #[test]
    fn stub_arms_faulting_and_enters_with_the_registers_given() {
        if crate::trace::CPUID_FAULTING.is_err() {
            eprintln!("no CPUID faulting here; skipping");
            return;
        }
        // SAFETY: user_regs_struct is plain data; zero is a valid value.
        let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        r.rip = entry as *const () as u64;
        r.rdi = 0x1111_2222_3333_4444;
        r.rsi = 0x5555_6666_7777_8888;
        let stub = build(&r);
        assert_eq!(&stub[FAIL_AT as usize..FAIL_AT as usize + 2], &[0x0f, 0x0b]);
        // SAFETY: a fresh anonymous mapping, written, then made executable;
        // the child only runs the stub, which ends in `entry`, which exits.
        unsafe {
            let page = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(page, libc::MAP_FAILED);
            std::ptr::copy_nonoverlapping(stub.as_ptr(), page.cast::<u8>(), LEN);
            assert_eq!(
                libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC),
                0
            );
            let pid = libc::fork();
            if pid == 0 {
                // As at a call: rsp 16-byte aligned minus the return address.
                asm!(
                    "and rsp, -16",
                    "sub rsp, 8",
                    "jmp {s}",
                    s = in(reg) page,
                    options(noreturn)
                );
            }
            let mut st = 0;
            assert_eq!(libc::waitpid(pid, &mut st, 0), pid);
            libc::munmap(page, 4096);
            assert!(libc::WIFEXITED(st), "status {st:#x}");
            assert_eq!(libc::WEXITSTATUS(st), 0, "3/4: a register, 5: not armed");
        }
    }
}
