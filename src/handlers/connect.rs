//! Connects made on a child's behalf, without blocking the supervisor.
//!
//! Destination rules and connects an event callback allowed are carried out
//! by the supervisor on the child's own socket (a `pidfd_getfd` duplicate,
//! which shares the open file description, and so its status flags, with the
//! child). A blocking connect there would stop the one supervisor thread, and
//! with it every sandbox of the host, for as long as the destination takes to
//! answer. So the connect is only *started* here:
//!
//! - O_NONBLOCK is set on the shared file only around the `connect` call and
//!   restored right after (a thread of the child changing the file's flags
//!   in that window of a few microseconds loses its change).
//! - A socket the child made non-blocking gets the kernel's answer at once
//!   (EINPROGRESS, a refusal, 0), as its own call would.
//! - A blocking socket whose connect is in progress (EINPROGRESS, or
//!   EALREADY for a connect already under way: the kernel's blocking connect
//!   waits in both cases) keeps its notification pending. The supervisor polls
//!   the socket for POLLOUT with its other descriptors; once it is ready the
//!   connect is called once more, non-blocking: for a finished attempt that
//!   call does what the kernel's blocking connect does after its wait (0 and
//!   the socket marked connected, or the error, cleared, and the socket
//!   unconnected again, so the program may retry), and that is the answer.
//!   (Checked on Linux 6.18: after a refused non-blocking attempt, a second
//!   `connect` returns ECONNREFUSED and a third starts over; after a
//!   successful one, 0 then EISCONN. Answering SO_ERROR instead would leave
//!   the socket "connecting", and a retry would fail with ECONNABORTED.)
//! - The child's own SO_SNDTIMEO bounds it as it bounds the kernel's: "If
//!   the timeout has been reached ... errno set to ... EINPROGRESS (for
//!   connect(2))" (socket(7), SO_RCVTIMEO and SO_SNDTIMEO). The attempt goes
//!   on in the background, as after the kernel's own timeout.
//! - A caller interrupted by a signal, or killed, no longer waits
//!   (`SECCOMP_IOCTL_NOTIF_ID_VALID` fails): checked every `RECHECK`, its
//!   entry is dropped (the kernel's connect also continues in the background
//!   after EINTR; a restarted call arrives as a new notification and finds
//!   the attempt under way). Whatever is pending is closed with its sandbox.
//! - Each pending connect holds one descriptor in the supervisor, which serves
//!   every sandbox of the host: past `MAX_PENDING` connects under way in one
//!   sandbox, a further blocking connect is answered at once with the answer
//!   of an expired SO_SNDTIMEO (EINPROGRESS; the attempt goes on), instead of
//!   letting one sandbox use up the supervisor's descriptors.

use super::Reply;
use crate::seccomp::notify;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How often pending callers are checked for having been interrupted.
const RECHECK: Duration = Duration::from_millis(100);

/// Connects under way at once in one sandbox (one supervisor fd each).
pub const MAX_PENDING: usize = 64;

/// One connect under way for notification `id`.
struct Connecting {
    id: u64,
    sock: OwnedFd,
    raw: Vec<u8>,
    /// The answer if the child's SO_SNDTIMEO expires (the first call's errno).
    errno: i32,
    deadline: Option<Instant>,
}

/// The connects of one sandbox that are still under way.
#[derive(Default)]
pub struct Connects {
    pending: Vec<Connecting>,
    next_check: Option<Instant>,
}

impl Connects {
    /// Connect `sock` to the copied address `raw` for notification `id`: the
    /// answer, or `Reply::Done` while the connect is under way (then it is
    /// answered later, from `ready` or `tick`).
    pub fn start(&mut self, id: u64, sock: OwnedFd, raw: &[u8]) -> Reply {
        let blocking = match status_flags(sock.as_raw_fd()) {
            Ok(f) => f & libc::O_NONBLOCK == 0,
            Err(e) => return Reply::Errno(e),
        };
        let errno = match connect_once(sock.as_raw_fd(), raw) {
            Ok(()) => return Reply::Value(0),
            Err(e @ (libc::EINPROGRESS | libc::EALREADY)) if blocking => e,
            Err(e) => return Reply::Errno(e),
        };
        let deadline = send_timeout(sock.as_raw_fd()).and_then(|t| Instant::now().checked_add(t));
        let c = Connecting {
            id,
            sock,
            raw: raw.to_vec(),
            errno,
            deadline,
        };
        // A loopback handshake is often over before connect returns.
        if writable_now(c.sock.as_raw_fd()) {
            if let Some(r) = finish(&c) {
                return r;
            }
        }
        if self.pending.len() >= MAX_PENDING {
            return Reply::Errno(errno);
        }
        self.pending.push(c);
        if self.next_check.is_none() {
            self.next_check = Some(Instant::now() + RECHECK);
        }
        Reply::Done
    }

    /// (notification id, socket) of each connect under way, to poll for POLLOUT.
    pub fn fds(&self) -> impl Iterator<Item = (u64, RawFd)> + '_ {
        self.pending.iter().map(|c| (c.id, c.sock.as_raw_fd()))
    }

    /// When `tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .iter()
            .filter_map(|c| c.deadline)
            .chain(self.next_check)
            .min()
    }

    /// The socket of notification `id` polled ready: answer it on `listener`
    /// if its connect is over.
    pub fn ready(&mut self, listener: RawFd, id: u64) {
        let Some(i) = self.pending.iter().position(|c| c.id == id) else {
            return;
        };
        // A caller that stopped waiting must not finish the attempt: its
        // restarted call (a new notification) may be waiting for it too.
        if !notify::id_valid(listener, id) {
            self.pending.swap_remove(i);
        } else if let Some(r) = finish(&self.pending[i]) {
            let c = self.pending.swap_remove(i);
            super::send(listener, c.id, r);
        }
        self.idle();
    }

    /// Answer the connects whose SO_SNDTIMEO expired (EINPROGRESS) and forget
    /// callers that stopped waiting.
    pub fn tick(&mut self, listener: RawFd, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            let c = &self.pending[i];
            if c.deadline.is_some_and(|d| d <= now) {
                let c = self.pending.swap_remove(i);
                super::send(listener, c.id, Reply::Errno(c.errno));
            } else {
                i += 1;
            }
        }
        if self.next_check.is_some_and(|t| t <= now) {
            self.pending.retain(|c| notify::id_valid(listener, c.id));
            self.next_check = Some(now + RECHECK);
        }
        self.idle();
    }

    /// Forget everything (the sandbox's listener is gone: nobody waits).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.next_check = None;
    }

    /// Take over the connects of `other`.
    pub fn absorb(&mut self, other: Connects) {
        self.pending.extend(other.pending);
        self.next_check = match (self.next_check, other.next_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.idle();
    }

    fn idle(&mut self) {
        if self.pending.is_empty() {
            self.next_check = None;
        }
    }
}

/// The answer for a connect under way, or None while it still is.
fn finish(c: &Connecting) -> Option<Reply> {
    match connect_once(c.sock.as_raw_fd(), &c.raw) {
        Ok(()) => Some(Reply::Value(0)),
        Err(libc::EALREADY | libc::EINPROGRESS) => None,
        Err(e) => Some(Reply::Errno(e)),
    }
}

/// One `connect` of `sock` to `raw` that never blocks: O_NONBLOCK is set on
/// the (shared) file only for the call, then the flags are restored.
pub fn connect_once(sock: RawFd, raw: &[u8]) -> Result<(), i32> {
    let flags = status_flags(sock)?;
    let toggle = flags & libc::O_NONBLOCK == 0;
    // SAFETY: fcntl and connect on our own descriptor, with a buffer of the
    // length given; the flags set back are the ones read above.
    unsafe {
        if toggle && libc::fcntl(sock, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(crate::error::last_errno());
        }
        let r = libc::connect(sock, raw.as_ptr().cast(), raw.len() as libc::socklen_t);
        let e = crate::error::last_errno();
        if toggle {
            libc::fcntl(sock, libc::F_SETFL, flags);
        }
        if r < 0 {
            Err(e)
        } else {
            Ok(())
        }
    }
}

fn status_flags(sock: RawFd) -> Result<i32, i32> {
    // SAFETY: F_GETFL on our own descriptor.
    let f = unsafe { libc::fcntl(sock, libc::F_GETFL) };
    if f < 0 {
        Err(crate::error::last_errno())
    } else {
        Ok(f)
    }
}

/// The socket's SO_SNDTIMEO, None if unset (0: wait forever).
fn send_timeout(sock: RawFd) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: getsockopt into a correctly sized local.
    let r = unsafe {
        libc::getsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    if r < 0 || tv.tv_sec < 0 || tv.tv_usec < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64))
}

fn writable_now(sock: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd: sock,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one local pollfd, without waiting.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}
