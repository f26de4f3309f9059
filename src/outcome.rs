//! Why a sandbox ended, and the resource limits that can end it.

/// What ended a sandbox (sent from the supervisor with the exit status).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first process exited by itself.
    Exited = 1,
    /// The first process was killed by a signal that was not ours.
    Signaled = 2,
    /// The host killed it (`sl_child_kill` with SIGKILL).
    Killed = 3,
    /// Its wall-time limit elapsed.
    Timeout = 4,
    /// A resource limit was exceeded (detail: which `Limit`).
    Limit = 5,
    /// A process made a forbidden system call (detail: its number).
    Seccomp = 6,
}

impl End {
    pub fn from_u8(v: u8) -> Option<End> {
        use End::*;
        [Exited, Signaled, Killed, Timeout, Limit, Seccomp]
            .into_iter()
            .find(|e| *e as u8 == v)
    }

    /// The reason for a status when the supervisor recorded no cause of its own.
    pub fn from_status(status: i32) -> End {
        if libc::WIFSIGNALED(status) {
            End::Signaled
        } else {
            End::Exited
        }
    }
}

/// A resource limit of the whole sandbox. Values are the C constants `SL_LIMIT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Total resident memory of all its processes, in bytes.
    Memory = 1,
    /// Number of live processes (threads are not counted).
    Processes = 2,
    /// Open files per process (RLIMIT_NOFILE).
    OpenFiles = 3,
    /// Total CPU time of all its processes, in seconds.
    CpuSeconds = 4,
    /// Largest file a process may write, in bytes (RLIMIT_FSIZE).
    FileSize = 5,
}

pub const LIMIT_COUNT: usize = 5;

impl Limit {
    pub fn from_i32(v: i32) -> Option<Limit> {
        use Limit::*;
        [Memory, Processes, OpenFiles, CpuSeconds, FileSize]
            .into_iter()
            .find(|l| *l as i32 == v)
    }

    pub fn index(self) -> usize {
        self as usize - 1
    }

    pub fn name(self) -> &'static str {
        match self {
            Limit::Memory => "memory",
            Limit::Processes => "processes",
            Limit::OpenFiles => "open files",
            Limit::CpuSeconds => "CPU seconds",
            Limit::FileSize => "file size",
        }
    }
}

/// Limits of one sandbox: index `Limit::index()`, 0 = none.
pub type Limits = [u64; LIMIT_COUNT];
