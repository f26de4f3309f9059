//! Syscalls the supervisor answers itself, one file per virtualized thing.

pub mod connect;
pub mod cow;
pub mod denylist;
pub mod dirs;
pub mod events;
pub mod identity;
pub mod metadata;
pub mod net;
pub mod path;
pub mod procview;
pub mod random;
pub mod time;
pub mod timedwait;
pub mod wait;

use crate::seccomp::notify;
use std::os::fd::RawFd;

/// What to tell the kernel about one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Let the kernel run the call as it is.
    Continue,
    /// The call returns this value.
    Value(i64),
    /// The call fails with this errno.
    Errno(i32),
    /// Already answered (for example by an atomic ADDFD).
    Done,
}

/// Send `reply` for notification `id`. A task that died meanwhile (ENOENT) is fine.
pub fn send(listener: RawFd, id: u64, reply: Reply) {
    let _ = match reply {
        Reply::Continue => notify::respond_continue(listener, id),
        Reply::Value(v) => notify::respond_value(listener, id, v),
        Reply::Errno(e) => notify::respond_error(listener, id, e),
        Reply::Done => Ok(()),
    };
}
