//! Directory listings in a stable order: `getdents64` (and the old `getdents`)
//! return entries sorted by name, whatever order the file system keeps them
//! in (ext4's hash order depends on a per-file-system seed, tmpfs lists the
//! newest first).
//!
//! The supervisor takes a copy of the program's descriptor (`pidfd_getfd`),
//! which shares the open file and its offset, lists the directory itself
//! through a fresh open of it, sorts, and writes the entries into the
//! program's buffer. The directory offset then means "index in the sorted
//! listing": the supervisor moves the shared offset to the next index, each
//! entry's `d_off` is the index after it (so `telldir`/`seekdir` work), and a
//! read at offset 0 (a new listing, or `rewinddir`) lists the directory again.
//! A descriptor whose offset cannot be set that way keeps the kernel's order.

use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::SeccompNotif;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Listings kept for later reads of the same descriptor; dropped past this.
const MAX_CACHED: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub ino: u64,
    pub kind: u8,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct Dirs {
    /// (task, fd, device, inode) → the sorted listing being read.
    cache: HashMap<(libc::pid_t, i32, u64, u64), Vec<Entry>>,
}

fn own(fd: i64) -> Option<OwnedFd> {
    // SAFETY: a new fd owned here (checked non-negative).
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Our copy of descriptor `fd` of task `pid` (same open file, same offset).
pub(crate) fn take_fd(pid: libc::pid_t, fd: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open of a traced task of ours.
    let pidfd = own(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: copies a descriptor of the task into ours (we are its tracer).
    own(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

/// Every entry of the directory open at `dir`, sorted by name.
pub(crate) fn listing(dir: &OwnedFd) -> Option<Vec<Entry>> {
    let mut out = entries(dir)?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

/// Every entry of the directory open at `dir`, in the file system's order.
fn entries(dir: &OwnedFd) -> Option<Vec<Entry>> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok()?;
    // A fresh open file, so that listing does not move the program's offset.
    // SAFETY: a NUL-terminated path; the fd is ours on success.
    let fresh = own(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    } as i64)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        // SAFETY: the kernel writes at most buf.len() bytes into our buffer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fresh.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return None;
        }
        if n == 0 {
            break;
        }
        let mut at = 0usize;
        while at + 19 <= n as usize {
            let ino = u64::from_le_bytes(buf[at..at + 8].try_into().ok()?);
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen < 20 || at + reclen > n as usize {
                return None;
            }
            let name = &buf[at + 19..at + reclen];
            let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            out.push(Entry {
                ino,
                kind: buf[at + 18],
                name: name[..end].to_vec(),
            });
            at += reclen;
        }
    }
    Some(out)
}

/// One record as `getdents64` (wide) or `getdents` lays it out.
fn record(e: &Entry, next: u64, wide: bool) -> Vec<u8> {
    let head = if wide { 19 } else { 18 };
    // Name, NUL, and for the old layout the type byte at the very end.
    let len = (head + e.name.len() + 1 + usize::from(!wide)).next_multiple_of(8);
    let mut r = vec![0u8; len];
    r[..8].copy_from_slice(&e.ino.to_le_bytes());
    r[8..16].copy_from_slice(&next.to_le_bytes());
    r[16..18].copy_from_slice(&(len as u16).to_le_bytes());
    r[head..head + e.name.len()].copy_from_slice(&e.name);
    if wide {
        r[18] = e.kind;
    } else {
        r[len - 1] = e.kind;
    }
    r
}

impl Dirs {
    /// Answer a directory read; None if not one of ours (or not servable).
    pub fn handle(&mut self, n: &SeccompNotif) -> Option<Reply> {
        self.handle_with(n, listing)
    }

    /// `handle` with another source of entries (the copy-on-write workdir's
    /// merged view); `list` gets the program's directory and returns its
    /// entries in the order to serve them.
    pub(crate) fn handle_with(
        &mut self,
        n: &SeccompNotif,
        list: impl FnOnce(&OwnedFd) -> Option<Vec<Entry>>,
    ) -> Option<Reply> {
        let wide = match n.data.nr as i64 {
            libc::SYS_getdents64 => true,
            libc::SYS_getdents => false,
            _ => return None,
        };
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        // Errors (EBADF, ENOTDIR, an O_PATH descriptor) are the kernel's to give.
        let dir = take_fd(pid, a[0] as i32)?;
        self.serve_list(n, dir, wide, list)
    }

    /// Answer a directory read of `dir` (our copy of the program's descriptor)
    /// with the entries `keep` accepts, sorted by name or in the file
    /// system's order; None if this descriptor cannot be served so.
    pub(crate) fn serve(
        &mut self,
        n: &SeccompNotif,
        dir: OwnedFd,
        wide: bool,
        keep: &dyn Fn(&[u8]) -> bool,
        sorted: bool,
    ) -> Option<Reply> {
        self.serve_list(n, dir, wide, |d| {
            let mut list = if sorted { listing(d)? } else { entries(d)? };
            list.retain(|e| keep(&e.name));
            Some(list)
        })
    }

    /// Answer a directory read of `dir` with the entries `list` gives for it,
    /// in that order; None if this descriptor cannot be served so.
    fn serve_list(
        &mut self,
        n: &SeccompNotif,
        dir: OwnedFd,
        wide: bool,
        list: impl FnOnce(&OwnedFd) -> Option<Vec<Entry>>,
    ) -> Option<Reply> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let (fd, buf, count) = (a[0] as i32, a[1], a[2] as u32 as usize);
        // SAFETY: stat is plain data; fstat and fcntl only inspect our fd.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let flags = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_GETFL) };
        // SAFETY: as above.
        if unsafe { libc::fstat(dir.as_raw_fd(), &mut st) } != 0
            || st.st_mode & libc::S_IFMT != libc::S_IFDIR
            || flags < 0
            || flags & libc::O_PATH != 0
        {
            return None;
        }
        // SAFETY: lseek on our copy of the program's open directory.
        let pos = unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_CUR) };
        if pos < 0 {
            return None;
        }
        let key = (pid, fd, st.st_dev, st.st_ino);
        if pos == 0 || !self.cache.contains_key(&key) {
            if self.cache.len() >= MAX_CACHED {
                self.cache.clear();
            }
            self.cache.insert(key, list(&dir)?);
        }
        let list = self.cache.get(&key)?;
        let mut out = Vec::new();
        let mut next = pos as usize;
        for e in list.iter().skip(pos as usize) {
            let r = record(e, next as u64 + 1, wide);
            if out.len() + r.len() > count {
                break;
            }
            out.extend_from_slice(&r);
            next += 1;
        }
        if out.is_empty() && next < list.len() {
            return Some(Reply::Errno(libc::EINVAL)); // buffer too small for one entry
        }
        // Move the shared offset first: if this file system refuses, nothing
        // has been written and the kernel answers in its own order.
        // SAFETY: lseek on our copy of the program's open directory.
        if unsafe { libc::lseek(dir.as_raw_fd(), next as i64, libc::SEEK_SET) } != next as i64 {
            // SAFETY: as above; back to where the program was.
            unsafe { libc::lseek(dir.as_raw_fd(), pos, libc::SEEK_SET) };
            return None;
        }
        match mem::write(pid, buf, &out) {
            Ok(w) if w == out.len() => Some(Reply::Value(out.len() as i64)),
            _ => {
                // SAFETY: as above.
                unsafe { libc::lseek(dir.as_raw_fd(), pos, libc::SEEK_SET) };
                Some(Reply::Errno(libc::EFAULT))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_match_the_kernel_layout() {
        let e = Entry {
            ino: 7,
            kind: libc::DT_REG,
            name: b"abc".to_vec(),
        };
        let r = record(&e, 3, true);
        assert_eq!(r.len(), 24); // 19 + 3 + NUL = 23, aligned to 8
        assert_eq!(&r[19..23], b"abc\0");
        assert_eq!(r[18], libc::DT_REG);
        assert_eq!(u16::from_le_bytes([r[16], r[17]]), 24);
        let old = record(&e, 3, false);
        assert_eq!(old.len(), 24); // 18 + 3 + NUL + type = 23
        assert_eq!(old[23], libc::DT_REG);
        assert_eq!(&old[18..22], b"abc\0");
    }

    #[test]
    fn lists_sorted() {
        let d = std::env::temp_dir().join(format!("sandlock-dirs-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for n in ["zeta", "alpha", "mid"] {
            std::fs::write(d.join(n), b"").unwrap();
        }
        let f = std::fs::File::open(&d).unwrap();
        let names: Vec<Vec<u8>> = listing(&OwnedFd::from(f))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        std::fs::remove_dir_all(&d).unwrap();
        let want: Vec<Vec<u8>> = [".", "..", "alpha", "mid", "zeta"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        assert_eq!(names, want);
    }
}
