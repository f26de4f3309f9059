//! The supervisor: a private helper process, one per host process.
//!
//! Why a process and not a thread in the host: see DESIGN.md §4.1. In short, a
//! ptrace tracer inside the host would lose its tracees' stops to any host thread
//! calling `waitpid(-1)`, and forking a large host is slow. The supervisor forks
//! the children, traces them (exec stops, fork tracking, kill of the whole
//! tree), answers their seccomp notifications, reaps them and reports statuses.

pub mod launch;
pub mod link;
pub mod process;
pub mod proto;
pub mod sock;
