//! Dynamic policy: events the host decides on at run time.
//!
//! The supervisor (another process) holds a notified `execve`, `open` or `connect`,
//! copies its arguments once and sends an [`Event`] over the child's socket
//! (`Report::Event`); it then goes on serving everything else. In the host, one
//! thread per child with an event handler (the *event thread*, started by
//! `spawn.rs`) owns the reading side of that socket: it calls the handler for
//! each event, sends the [`Decision`] back (`Command::Decide`), and hands the
//! exit report to `Child::wait_outcome` through a condition variable.
//!
//! The supervisor never waits for the host: a decision that does not arrive
//! within [`DECISION_TIMEOUT`] is a denial (EACCES), and a late one is ignored.

use std::sync::Arc;
use std::time::Duration;

/// Event kinds, also the bits of the handler's mask (`SL_EVENT_*`).
pub const KIND_EXEC: u32 = 1;
pub const KIND_OPEN: u32 = 2;
/// A report (no decision): the library refused something itself.
pub const KIND_DENIED: u32 = 4;
pub const KIND_CONNECT: u32 = 8;
pub const KIND_BIND: u32 = 16;
/// Every kind the supervisor can report.
pub const KINDS: u32 = KIND_EXEC | KIND_OPEN | KIND_DENIED | KIND_CONNECT | KIND_BIND;

/// How long the supervisor waits for a decision before denying.
pub const DECISION_TIMEOUT: Duration = Duration::from_secs(5);

/// What a process of the sandbox is about to do (or, for `KIND_DENIED`, what
/// the library refused: the kind is then `KIND_DENIED | refused_kind << 8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `KIND_*`.
    pub kind: u32,
    /// The calling task (thread id, in the host's pid namespace).
    pub pid: i32,
    /// Exec: the path as the program passed it. Open: the path as passed.
    pub path: Vec<u8>,
    /// Exec: the arguments. Open: empty.
    pub argv: Vec<Vec<u8>>,
    /// Open: the open flags. Connect, bind: the socket type (SOCK_STREAM,
    /// SOCK_DGRAM). Exec: 0.
    pub flags: i32,
    /// Denied: the system call refused, the errno it got, and why.
    pub nr: i64,
    pub errno: i32,
    pub reason: String,
    /// Connect: the destination address as text ("127.0.0.1", "::1"), its
    /// port and family (AF_INET or AF_INET6). Bind: the local address, port
    /// and family. Else "", 0, 0.
    pub address: String,
    pub port: i32,
    pub family: i32,
}

/// The host's answer to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The call fails with this errno.
    Deny(i32),
    /// The whole sandbox is killed (it ends as `End::Killed`).
    Kill,
}

impl Decision {
    pub fn encode(self) -> (u8, i32) {
        match self {
            Decision::Allow => (0, 0),
            Decision::Deny(e) => (1, e),
            Decision::Kill => (2, 0),
        }
    }

    /// Anything unknown, or a deny with a nonsensical errno, is a denial with EACCES.
    pub fn decode(action: u8, errno: i32) -> Decision {
        match action {
            0 => Decision::Allow,
            1 if (1..4096).contains(&errno) => Decision::Deny(errno),
            2 => Decision::Kill,
            _ => Decision::Deny(libc::EACCES),
        }
    }
}

/// The handler a policy carries: which kinds, and the function deciding them.
#[derive(Clone)]
pub struct Handler {
    pub mask: u32,
    pub decide: Arc<dyn Fn(&Event) -> Decision + Send + Sync>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handler {{ mask: {:#x} }}", self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_decisions_deny() {
        assert_eq!(Decision::decode(0, 0), Decision::Allow);
        assert_eq!(
            Decision::decode(1, libc::EPERM),
            Decision::Deny(libc::EPERM)
        );
        assert_eq!(Decision::decode(1, 0), Decision::Deny(libc::EACCES));
        assert_eq!(Decision::decode(1, -5), Decision::Deny(libc::EACCES));
        assert_eq!(Decision::decode(2, 0), Decision::Kill);
        assert_eq!(Decision::decode(77, 0), Decision::Deny(libc::EACCES));
        for d in [Decision::Allow, Decision::Deny(2), Decision::Kill] {
            let (a, e) = d.encode();
            assert_eq!(Decision::decode(a, e), d);
        }
    }
}
