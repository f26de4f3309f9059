//! Waits on descriptors with a timeout, in frozen and logical time.
//!
//! The wait itself stays real (the call continues in the kernel): only the
//! program knows what it waits for. But a virtual clock that does not move
//! while the program waits would let `while now() < deadline: poll(fds, 100)`
//! spin forever. So when none of the descriptors is ready as the wait
//! starts, the wait is taken to last its whole timeout: virtual time advances
//! by it. If a descriptor becomes ready during the real wait, virtual time is
//! ahead by the part not waited (an approximation, documented in the header);
//! if one is ready at once, time does not move.

use crate::seccomp::mem;
use crate::seccomp::notify::SeccompNotif;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// More descriptors than this are not probed (the wait then counts as ready).
const MAX_PROBED: usize = 4096;

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default())
}

/// A `struct timespec` (or `timeval` with `micro`) at `addr` as ns; None if
/// NULL, unreadable or invalid (the kernel will say so).
fn timeout(pid: libc::pid_t, addr: u64, micro: bool) -> Option<i64> {
    if addr == 0 {
        return None;
    }
    let mut b = [0u8; 16];
    if mem::read(pid, addr, &mut b).ok()? != 16 {
        return None;
    }
    let (s, f) = (u64_at(&b, 0) as i64, u64_at(&b, 8) as i64);
    let unit = if micro { 1000 } else { 1 };
    if s < 0 || f < 0 || f.saturating_mul(unit) >= 1_000_000_000 {
        return None;
    }
    Some(s.saturating_mul(1_000_000_000).saturating_add(f * unit))
}

/// The descriptors of a poll array, with the events asked for.
fn poll_fds(pid: libc::pid_t, addr: u64, n: u64) -> Option<Vec<(i32, i16)>> {
    if n as usize > MAX_PROBED {
        return None;
    }
    let mut b = vec![0u8; n as usize * 8];
    if mem::read(pid, addr, &mut b).ok()? != b.len() {
        return None;
    }
    Some(
        b.chunks_exact(8)
            .map(|c| {
                let fd = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                (fd, i16::from_le_bytes([c[4], c[5]]))
            })
            .filter(|&(fd, _)| fd >= 0)
            .collect(),
    )
}

/// The descriptors of select's three sets.
fn select_fds(pid: libc::pid_t, nfds: i32, sets: [u64; 3]) -> Option<Vec<(i32, i16)>> {
    if nfds < 0 || nfds as usize > MAX_PROBED {
        return None;
    }
    let bytes = (nfds as usize).div_ceil(64) * 8;
    let mut out = Vec::new();
    for (set, ev) in sets
        .into_iter()
        .zip([libc::POLLIN, libc::POLLOUT, libc::POLLPRI])
    {
        if set == 0 {
            continue;
        }
        let mut b = vec![0u8; bytes];
        if mem::read(pid, set, &mut b).ok()? != bytes {
            return None;
        }
        for fd in 0..nfds as usize {
            if b[fd / 8] & (1 << (fd % 8)) != 0 {
                out.push((fd as i32, ev));
            }
        }
    }
    Some(out)
}

/// Is any of `fds` of `pid` ready now (or invalid, which ends the wait at once)?
fn any_ready(pid: libc::pid_t, fds: &[(i32, i16)]) -> bool {
    // SAFETY: pidfd_open of a traced task of ours; the fd is ours on success.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if pidfd < 0 {
        return true;
    }
    // SAFETY: a new fd owned here.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let mut held = Vec::with_capacity(fds.len());
    let mut set = Vec::with_capacity(fds.len());
    for &(fd, events) in fds {
        // SAFETY: copies the task's descriptor into ours (we are its tracer).
        let d = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) } as i32;
        if d < 0 {
            return true; // EBADF: the real call returns at once
        }
        // SAFETY: a new fd owned here.
        held.push(unsafe { OwnedFd::from_raw_fd(d) });
        set.push(libc::pollfd {
            fd: d,
            events,
            revents: 0,
        });
    }
    // SAFETY: `set` is a valid pollfd array; a zero timeout only probes.
    unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, 0) != 0 }
}

/// For a wait on descriptors with a finite, non-zero timeout: (timeout in ns,
/// whether a descriptor is ready already). None for anything else.
pub fn inspect(n: &SeccompNotif) -> Option<(i64, bool)> {
    let a = n.data.args;
    let pid = n.pid as libc::pid_t;
    let ms = |v: u64| (v as i32 > 0).then(|| v as i32 as i64 * 1_000_000);
    let (t, fds) = match n.data.nr as i64 {
        libc::SYS_poll => (ms(a[2])?, poll_fds(pid, a[0], a[1] as u32 as u64)?),
        libc::SYS_ppoll => (
            timeout(pid, a[2], false)?,
            poll_fds(pid, a[0], a[1] as u32 as u64)?,
        ),
        libc::SYS_select => (
            timeout(pid, a[4], true)?,
            select_fds(pid, a[0] as i32, [a[1], a[2], a[3]])?,
        ),
        libc::SYS_pselect6 => (
            timeout(pid, a[4], false)?,
            select_fds(pid, a[0] as i32, [a[1], a[2], a[3]])?,
        ),
        libc::SYS_epoll_wait | libc::SYS_epoll_pwait => {
            (ms(a[3])?, vec![(a[0] as i32, libc::POLLIN)])
        }
        libc::SYS_epoll_pwait2 => (
            timeout(pid, a[3], false)?,
            vec![(a[0] as i32, libc::POLLIN)],
        ),
        _ => return None,
    };
    if t == 0 {
        return None;
    }
    Some((t, any_ready(pid, &fds)))
}
