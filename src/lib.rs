//! sandlock: run a program in a deterministic, unprivileged sandbox.
//!
//! Module map (see DESIGN.md §3 for the architecture):
//! - `ffi`: the C boundary only (handles, error slot, panic catching).
//! - `policy`: the policy value, validated on set.
//! - `profile`: a policy from a TOML text profile; `confine`: a policy applied to the caller itself.
//! - `landlock`: the Landlock ruleset built from a policy.
//! - `seccomp`: BPF assembly, the deny list, notification ioctls, child memory.
//! - `supervisor`: the private helper process, its wire protocol, the host link.
//! - `spawn` / `child`: preparing a child, and the raw-syscall code between clone and exec.
//! - `trace`: the ptrace side (fork tracking, exec stops, rdtsc/cpuid emulation).
//! - `vdso`: finding and redirecting vDSO entry points.
//! - `handlers`: one file per virtualized thing.
#![allow(non_camel_case_types)]

pub mod confine;
pub mod cow;
pub mod error;
pub mod events;
pub mod features;
pub mod ffi;
pub mod landlock;
pub mod outcome;
pub mod policy;
pub mod profile;
pub mod seccomp;
pub mod supervisor;

mod child;
mod entry;
mod handlers;
mod procfs;
mod spawn;
mod sys;
mod trace;
mod vdso;
