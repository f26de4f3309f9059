//! Seeded randomness: `getrandom()` and the random devices, however they are reached.
//!
//! - `getrandom` is answered from the seeded stream (flags and buffer errors as the kernel's).
//! - An open of anything that is the `/dev/urandom` or `/dev/random` character device
//!   (by any path, symlink or `/proc/self/fd` spelling: decided by `stat`, not by name)
//!   gets the real device installed at a reserved fd (960..991), so `fstat` and
//!   `ioctl` look right; reads on that range are answered from the seeded stream
//!   in full, never with EOF (research/spike-spawn-kill-random.md §C).
//! - The device is installed open for *writing* only (`F_GETFL` is answered as
//!   read-only): should an fd ever leave the reserved range unseen (passed over a
//!   UNIX socket, say), reading it fails with EBADF instead of returning real
//!   entropy. And Landlock refuses the child any open of the devices itself
//!   (`landlock.rs`), so a path swapped after the supervisor looked at it cannot
//!   reach the real device either: only the supervisor's installed fd can.
//! - `dup` keeps a copy inside the range. `dup2`/`dup3` onto an fd outside the
//!   range (a shell's `< /dev/urandom`) installs a pipe that the supervisor keeps
//!   full from a stream of its own: still endless and seeded, but a FIFO.
//! - `sendfile`/`splice`/`copy_file_range` from the device fail with EINVAL, so
//!   programs fall back to `read`.

use super::path::child_path;
use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Largest single answer: the kernel's own cap on one read (MAX_RW_COUNT).
const MAX_ANSWER: usize = (i32::MAX as usize) & !4095;
/// Bytes generated and copied at a time, so memory stays small for huge reads.
const CHUNK: usize = 1 << 20;
const FEED_CHUNK: usize = 64 << 10;

const STREAM_GETRANDOM: u64 = 0;
const STREAM_DEVICE: u64 = 1;
/// Stream for the auxv AT_RANDOM bytes (used by the exec-stop code).
pub const STREAM_AT_RANDOM: u64 = 2;
const STREAM_FEED_BASE: u64 = 1 << 32;

/// A ChaCha8 stream keyed by the seed, one stream id per source.
pub fn stream(seed: u64, id: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..26].copy_from_slice(b"sandlock/random/v1");
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(id);
    rng
}

/// A pipe the supervisor keeps full of seeded bytes.
pub struct Feed {
    pub wfd: OwnedFd,
    rng: ChaCha8Rng,
    buf: Vec<u8>,
    off: usize,
}

impl Feed {
    /// Write what the pipe takes. False once the reader is gone.
    pub fn pump(&mut self) -> bool {
        loop {
            if self.off == self.buf.len() {
                self.rng.fill_bytes(&mut self.buf);
                self.off = 0;
            }
            let rest = &self.buf[self.off..];
            // SAFETY: writes from our buffer to our own non-blocking pipe end.
            let n = unsafe { libc::write(self.wfd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                self.off += n as usize;
                continue;
            }
            let e = crate::error::last_errno();
            return n < 0 && (e == libc::EAGAIN || e == libc::EINTR);
        }
    }
}

pub struct Random {
    seed: u64,
    /// The reserved fd numbers where random devices live in the child.
    slots: std::ops::RangeInclusive<u32>,
    /// One stream per (caller lineage, source): concurrent processes then
    /// draw the same bytes whatever order the scheduler runs them in.
    streams: std::collections::HashMap<(u64, u64), ChaCha8Rng>,
    /// The lineage (`trace::ExecState::lineage_id`) of the task being served.
    pub caller: u64,
    feeds_made: u64,
    buf: Vec<u8>,
    pub feeds: Vec<Feed>,
}

/// Which random device this path is, as the kernel would resolve it (following
/// symlinks): the device's own path, or None.
fn random_device(path: &std::path::Path) -> Option<&'static CStr> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: stat fills a plain struct from a NUL-terminated path.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    if unsafe { libc::stat(c.as_ptr(), &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFCHR
    {
        return None;
    }
    if st.st_rdev == libc::makedev(1, 9) {
        Some(c"/dev/urandom")
    } else if st.st_rdev == libc::makedev(1, 8) {
        Some(c"/dev/random")
    } else {
        None
    }
}

fn fd_device(pid: libc::pid_t, fd: u64) -> Option<&'static CStr> {
    random_device(&PathBuf::from(format!(
        "/proc/{pid}/fd/{}",
        fd as u32 as i32
    )))
}

/// The file status flags of fd `fd` in `pid`, from /proc/PID/fdinfo (octal "flags:").
fn fd_flags(pid: libc::pid_t, fd: u64) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd as u32)).ok()?;
    let v = s.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
    // fdinfo shows O_CLOEXEC too, which F_GETFL does not report.
    i32::from_str_radix(v, 8).ok().map(|f| f & !libc::O_CLOEXEC)
}

fn fd_is_random(pid: libc::pid_t, fd: u64) -> bool {
    fd_device(pid, fd).is_some()
}

fn open_device(dev: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: opening a device read-only; the fd is ours on success.
    let fd = unsafe { libc::open(dev.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(crate::error::last_errno());
    }
    // SAFETY: a new fd owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Random {
    pub fn new(seed: u64, slots: std::ops::RangeInclusive<u32>) -> Random {
        Random {
            seed,
            slots,
            streams: std::collections::HashMap::new(),
            caller: 0,
            feeds_made: 0,
            buf: Vec::new(),
            feeds: Vec::new(),
        }
    }

    fn in_range(&self, fd: u64) -> bool {
        self.slots.contains(&(fd as u32))
    }

    /// The first reserved fd number (from `min`) that `pid` has free.
    fn free_slot(&self, pid: libc::pid_t, min: u32) -> Option<u32> {
        ((*self.slots.start()).max(min)..=*self.slots.end())
            .find(|n| std::fs::symlink_metadata(format!("/proc/{pid}/fd/{n}")).is_err())
    }

    /// Answer one notification. Unknown calls continue unchanged.
    pub fn handle(&mut self, listener: RawFd, n: &SeccompNotif) -> Reply {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        match n.data.nr as i64 {
            libc::SYS_getrandom => self.getrandom(listener, n),
            libc::SYS_open => self.open(listener, n, libc::AT_FDCWD, a[0], a[1]),
            libc::SYS_openat => self.open(listener, n, a[0] as i32, a[1], a[2]),
            libc::SYS_openat2 => {
                let mut how = [0u8; 8];
                match mem::read(pid, a[2], &mut how) {
                    Ok(8) => self.open(listener, n, a[0] as i32, a[1], u64::from_le_bytes(how)),
                    _ => Reply::Continue,
                }
            }
            libc::SYS_read | libc::SYS_pread64
                if self.in_range(a[0]) && fd_is_random(pid, a[0]) =>
            {
                self.fill(listener, n, &[(a[1], a[2])])
            }
            libc::SYS_readv | libc::SYS_preadv | libc::SYS_preadv2
                if self.in_range(a[0]) && fd_is_random(pid, a[0]) =>
            {
                match read_iovecs(pid, a[1], a[2]) {
                    Ok(iov) => self.fill(listener, n, &iov),
                    Err(e) => Reply::Errno(e),
                }
            }
            libc::SYS_dup if self.in_range(a[0]) => match fd_device(pid, a[0]) {
                Some(dev) => self.install(listener, n, dev, None, false),
                None => Reply::Continue,
            },
            libc::SYS_fcntl
                if a[1] as i32 == libc::F_GETFL
                    && self.in_range(a[0])
                    && fd_is_random(pid, a[0]) =>
            {
                // Report the read-only open the program asked for (see the module doc).
                let flags = fd_flags(pid, a[0]).unwrap_or(0);
                Reply::Value(((flags & !libc::O_ACCMODE) | libc::O_RDONLY) as i64)
            }
            libc::SYS_fcntl
                if (a[1] as i32 == libc::F_DUPFD || a[1] as i32 == libc::F_DUPFD_CLOEXEC)
                    && self.in_range(a[0]) =>
            {
                let Some(dev) = fd_device(pid, a[0]) else {
                    return Reply::Continue;
                };
                let min = a[2] as u32;
                match self.free_slot(pid, min) {
                    Some(slot) => self.install(
                        listener,
                        n,
                        dev,
                        Some(slot),
                        a[1] as i32 == libc::F_DUPFD_CLOEXEC,
                    ),
                    None => Reply::Errno(libc::EMFILE),
                }
            }
            libc::SYS_dup2 | libc::SYS_dup3 if a[0] != a[1] && self.in_range(a[0]) => {
                let Some(dev) = fd_device(pid, a[0]) else {
                    return Reply::Continue;
                };
                let cloexec =
                    n.data.nr as i64 == libc::SYS_dup3 && a[2] as i32 & libc::O_CLOEXEC != 0;
                if self.in_range(a[1]) {
                    self.install(listener, n, dev, Some(a[1] as u32), cloexec)
                } else {
                    self.feed(listener, n, a[1] as u32, cloexec)
                }
            }
            libc::SYS_sendfile if self.in_range(a[1]) && fd_is_random(pid, a[1]) => {
                Reply::Errno(libc::EINVAL)
            }
            libc::SYS_splice | libc::SYS_copy_file_range
                if self.in_range(a[0]) && fd_is_random(pid, a[0]) =>
            {
                Reply::Errno(libc::EINVAL)
            }
            _ => Reply::Continue,
        }
    }

    fn getrandom(&mut self, listener: RawFd, n: &SeccompNotif) -> Reply {
        const GRND_NONBLOCK: u64 = 1;
        const GRND_RANDOM: u64 = 2;
        const GRND_INSECURE: u64 = 4;
        let [buf, len, flags, ..] = n.data.args;
        if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
            || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
        {
            return Reply::Errno(libc::EINVAL);
        }
        self.fill(listener, n, &[(buf, len)])
    }

    /// Write the device stream (or the getrandom stream) into the child's buffers.
    fn fill(&mut self, listener: RawFd, n: &SeccompNotif, iov: &[(u64, u64)]) -> Reply {
        let total = iov
            .iter()
            .fold(0usize, |a, &(_, l)| a.saturating_add(l as usize))
            .min(MAX_ANSWER);
        if total == 0 {
            return Reply::Value(0);
        }
        // Check before drawing, so a caller that died meanwhile consumes no bytes.
        if !notify::id_valid(listener, n.id) {
            return Reply::Done;
        }
        let source = if n.data.nr as i64 == libc::SYS_getrandom {
            STREAM_GETRANDOM
        } else {
            STREAM_DEVICE
        };
        let (seed, caller) = (self.seed, self.caller);
        // Lineage ids are 64-bit hashes: adding the source keeps them apart from
        // each other and (but for a 2^-50 chance) from the small fixed ids.
        let rng = self
            .streams
            .entry((caller, source))
            .or_insert_with(|| stream(seed, caller.wrapping_add(source)));
        self.buf.resize(CHUNK.min(total), 0);
        let mut done = 0usize;
        'iov: for &(addr, len) in iov {
            let mut off = 0usize;
            while off < len as usize && done < total {
                let want = (len as usize - off).min(total - done).min(CHUNK);
                rng.fill_bytes(&mut self.buf[..want]);
                match mem::write(n.pid as libc::pid_t, addr + off as u64, &self.buf[..want]) {
                    Ok(w) => {
                        done += w;
                        off += w;
                        if w < want {
                            break 'iov;
                        }
                    }
                    Err(_) => break 'iov,
                }
            }
        }
        if done == 0 {
            Reply::Errno(libc::EFAULT)
        } else {
            Reply::Value(done as i64)
        }
    }

    fn open(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        dirfd: i32,
        path_addr: u64,
        flags: u64,
    ) -> Reply {
        let flags = flags as i32;
        if flags & libc::O_PATH != 0 || flags & libc::O_ACCMODE == libc::O_WRONLY {
            return Reply::Continue;
        }
        let pid = n.pid as libc::pid_t;
        let Ok(path) = mem::read_cstr(pid, path_addr, libc::PATH_MAX as usize) else {
            return Reply::Continue;
        };
        if path.is_empty() {
            return Reply::Continue;
        }
        let full = child_path(pid, dirfd, &path);
        if flags & libc::O_NOFOLLOW != 0
            && std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Reply::Continue;
        }
        match random_device(&full) {
            Some(dev) => self.install(listener, n, dev, None, flags & libc::O_CLOEXEC != 0),
            None => Reply::Continue,
        }
    }

    /// Put a fresh random-device file at `slot` (or the first free one) in the child.
    fn install(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        dev: &CStr,
        slot: Option<u32>,
        cloexec: bool,
    ) -> Reply {
        let Some(slot) = slot.or_else(|| self.free_slot(n.pid as libc::pid_t, 0)) else {
            return Reply::Errno(libc::EMFILE);
        };
        let dev = match open_device(dev) {
            Ok(d) => d,
            Err(e) => return Reply::Errno(e),
        };
        match notify::addfd(listener, n.id, dev.as_raw_fd(), Some(slot), cloexec, true) {
            Ok(_) => Reply::Done,
            Err(libc::ENOENT) => Reply::Done,
            Err(e) => Reply::Errno(e),
        }
    }

    /// Put the read end of a seeded pipe at `target` in the child.
    fn feed(&mut self, listener: RawFd, n: &SeccompNotif, target: u32, cloexec: bool) -> Reply {
        let mut p = [0; 2];
        // SAFETY: `p` has room for two fds.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Reply::Errno(crate::error::last_errno());
        }
        // SAFETY: two new fds owned here.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
        // The reader must block like on a device, not see EAGAIN.
        // SAFETY: fcntl flag change on our own fd.
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, 0) };
        let mut f = Feed {
            wfd: w,
            rng: stream(self.seed, STREAM_FEED_BASE + self.feeds_made),
            buf: vec![0; FEED_CHUNK],
            off: FEED_CHUNK,
        };
        self.feeds_made += 1;
        f.pump();
        match notify::addfd(listener, n.id, r.as_raw_fd(), Some(target), cloexec, true) {
            Ok(_) => {
                self.feeds.push(f);
                Reply::Done
            }
            Err(libc::ENOENT) => Reply::Done,
            Err(e) => Reply::Errno(e),
        }
    }
}

fn read_iovecs(pid: libc::pid_t, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, i32> {
    if count > 1024 {
        return Err(libc::EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    if mem::read(pid, addr, &mut raw)? != raw.len() {
        return Err(libc::EFAULT);
    }
    Ok(raw
        .chunks_exact(16)
        .map(|c| {
            let base = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
            (base, len)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_and_id() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        stream(1, 0).fill_bytes(&mut a);
        stream(1, 0).fill_bytes(&mut b);
        assert_eq!(a, b);
        stream(2, 0).fill_bytes(&mut b);
        assert_ne!(a, b);
        stream(1, 1).fill_bytes(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn random_devices_are_found_by_identity() {
        assert_eq!(
            random_device(std::path::Path::new("/dev/urandom")),
            Some(c"/dev/urandom")
        );
        assert_eq!(
            random_device(std::path::Path::new("/dev/random")),
            Some(c"/dev/random")
        );
        assert_eq!(random_device(std::path::Path::new("/dev/null")), None);
    }
}
