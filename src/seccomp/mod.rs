//! Seccomp: a classic-BPF assembler with an interpreter for tests (`bpf`), the
//! sandbox's filter built from options (`filter`), the user-notification fd
//! ioctls the supervisor uses to answer trapped syscalls (`notify`), and access
//! to a notifying child's memory (`mem`).

pub mod bpf;
pub mod filter;
pub mod mem;
pub mod notify;
