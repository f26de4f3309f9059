//! The shared library is also a program: the supervisor.
//!
//! `build.rs` sets the cdylib's ELF entry point to `sl__supervisor_start` and
//! this file gives it an `.interp` section, so the kernel can execute
//! `libsandlock.so` directly (glibc's libc.so.6 does the same to print its
//! version). The library needs no second file to install or find, and a host
//! that `dlopen`s it is unaffected: the loader ignores both for shared objects.
//!
//! Entered this way, no C runtime start-up runs for the library itself (the
//! loader still relocates it and initializes libc), so the supervisor uses no
//! command-line arguments and no constructors.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
std::arch::global_asm!(
    ".globl sl__supervisor_start",
    ".type sl__supervisor_start,@function",
    "sl__supervisor_start:",
    // The kernel leaves rsp 16-byte aligned at argc; clear the frame pointer and
    // keep the alignment the ABI requires at a call.
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym supervisor_start,
);

extern "C" fn supervisor_start() -> ! {
    let code = std::panic::catch_unwind(crate::supervisor::process::main).unwrap_or(70);
    // SAFETY: leaving the process without running host-style atexit handlers.
    unsafe { libc::_exit(code) }
}

/// The program interpreter for running the library as a program (x86_64 glibc).
#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
#[used]
#[link_section = ".interp"]
static INTERP: [u8; 28] = *b"/lib64/ld-linux-x86-64.so.2\0";
