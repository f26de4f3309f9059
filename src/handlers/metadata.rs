//! File metadata changes (chmod, chown, utimes, xattrs), confined like writes.
//!
//! Landlock has no right for metadata: without this, a sandbox could chmod,
//! chown or touch any file its user owns, even outside every rule. These calls
//! are notified and done *on the child's behalf*: the supervisor reads the
//! arguments once, opens the target itself (`O_PATH`, following symlinks exactly
//! as the call would), checks the file it holds against the policy's writable
//! paths, and applies the change to that very file. A path or fd swapped by
//! another thread after the check cannot redirect the change (no TOCTOU).
//!
//! The supervisor has dropped every capability (process.rs), so acting for
//! the child never grants more than the child's own uid could do.

use super::path::child_path;
use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::SeccompNotif;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The syscalls this handler answers (the filter notifies exactly these).
pub const SYSCALLS: &[i64] = &[
    libc::SYS_chmod,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchmodat2,
    libc::SYS_chown,
    libc::SYS_fchown,
    libc::SYS_lchown,
    libc::SYS_fchownat,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
    libc::SYS_utimensat,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
];

/// Where metadata may change: beneath a writable path, not beneath a denied one.
pub struct Metadata {
    writable: Vec<PathBuf>,
    deny: Vec<PathBuf>,
}

/// What a notified call targets.
/// `Real`: a path of the supervisor's own (the workdir's upper copy), not followed.
enum Target {
    Path { dirfd: i32, addr: u64, follow: bool },
    Fd(i32),
    Real(PathBuf),
}

/// The change to make.
enum Change {
    Mode(u32),
    Owner(u32, u32),
    /// None = now; Some = (atime, mtime) as timespecs.
    Times(Option<[libc::timespec; 2]>),
    SetXattr {
        name: CString,
        value: Vec<u8>,
        flags: i32,
    },
    RemoveXattr(CString),
}

fn errno() -> i32 {
    crate::error::last_errno()
}

fn ret(r: libc::c_int) -> Reply {
    if r < 0 {
        Reply::Errno(errno())
    } else {
        Reply::Value(0)
    }
}

impl Metadata {
    pub fn new(writable: &[Vec<u8>], deny: &[Vec<u8>]) -> Metadata {
        let canon = |v: &[Vec<u8>]| -> Vec<PathBuf> {
            v.iter()
                .map(|b| {
                    let p = Path::new(std::ffi::OsStr::from_bytes(b));
                    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
                })
                .collect()
        };
        Metadata {
            writable: canon(writable),
            deny: canon(deny),
        }
    }

    /// Answer a metadata call, or None if `n` is not one.
    pub fn handle(&self, n: &SeccompNotif) -> Option<Reply> {
        let nr = n.data.nr as i64;
        if !SYSCALLS.contains(&nr) {
            return None;
        }
        Some(match self.decode(n) {
            Ok((target, change)) => self.apply(n.pid as libc::pid_t, target, change),
            Err(e) => Reply::Errno(e),
        })
    }

    /// Apply the change `n` asks for to `real` instead of its own target
    /// (the copy-on-write workdir's upper copy, `cow.rs`).
    pub fn apply_to(&self, pid: libc::pid_t, n: &SeccompNotif, real: &Path) -> Reply {
        match self.decode(n) {
            Ok((_, change)) => self.apply(pid, Target::Real(real.to_path_buf()), change),
            Err(e) => Reply::Errno(e),
        }
    }

    fn decode(&self, n: &SeccompNotif) -> Result<(Target, Change), i32> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let nofollow = |flags: u64| flags as i32 & libc::AT_SYMLINK_NOFOLLOW == 0;
        let path = |dirfd: u64, addr: u64, follow: bool| Target::Path {
            dirfd: dirfd as i32,
            addr,
            follow,
        };
        let cwd = libc::AT_FDCWD as u64;
        Ok(match n.data.nr as i64 {
            libc::SYS_chmod => (path(cwd, a[0], true), Change::Mode(a[1] as u32)),
            libc::SYS_fchmod => (Target::Fd(a[0] as i32), Change::Mode(a[1] as u32)),
            libc::SYS_fchmodat => (path(a[0], a[1], true), Change::Mode(a[2] as u32)),
            libc::SYS_fchmodat2 => (path(a[0], a[1], nofollow(a[3])), Change::Mode(a[2] as u32)),
            libc::SYS_chown => (
                path(cwd, a[0], true),
                Change::Owner(a[1] as u32, a[2] as u32),
            ),
            libc::SYS_lchown => (
                path(cwd, a[0], false),
                Change::Owner(a[1] as u32, a[2] as u32),
            ),
            libc::SYS_fchown => (
                Target::Fd(a[0] as i32),
                Change::Owner(a[1] as u32, a[2] as u32),
            ),
            libc::SYS_fchownat => {
                let t = if a[4] as i32 & libc::AT_EMPTY_PATH != 0 && self.empty_path(pid, a[1]) {
                    Target::Fd(a[0] as i32)
                } else {
                    path(a[0], a[1], nofollow(a[4]))
                };
                (t, Change::Owner(a[2] as u32, a[3] as u32))
            }
            libc::SYS_utime => (
                path(cwd, a[0], true),
                Change::Times(read_utimbuf(pid, a[1])?),
            ),
            libc::SYS_utimes => (
                path(cwd, a[0], true),
                Change::Times(read_timevals(pid, a[1])?),
            ),
            libc::SYS_futimesat => (
                path(a[0], a[1], true),
                Change::Times(read_timevals(pid, a[2])?),
            ),
            libc::SYS_utimensat => {
                // A NULL path means the file of dirfd itself (futimens).
                let t = if a[1] == 0 {
                    Target::Fd(a[0] as i32)
                } else {
                    path(a[0], a[1], nofollow(a[3]))
                };
                (t, Change::Times(read_timespecs(pid, a[2])?))
            }
            libc::SYS_setxattr | libc::SYS_lsetxattr | libc::SYS_fsetxattr => {
                let name = read_name(pid, a[1])?;
                if a[3] > 65536 {
                    return Err(libc::E2BIG);
                }
                let mut value = vec![0u8; a[3] as usize];
                if mem::read(pid, a[2], &mut value).map_err(|_| libc::EFAULT)? != value.len() {
                    return Err(libc::EFAULT);
                }
                let t = match n.data.nr as i64 {
                    libc::SYS_fsetxattr => Target::Fd(a[0] as i32),
                    nr => path(cwd, a[0], nr == libc::SYS_setxattr),
                };
                (
                    t,
                    Change::SetXattr {
                        name,
                        value,
                        flags: a[4] as i32,
                    },
                )
            }
            libc::SYS_removexattr | libc::SYS_lremovexattr | libc::SYS_fremovexattr => {
                let name = read_name(pid, a[1])?;
                let t = match n.data.nr as i64 {
                    libc::SYS_fremovexattr => Target::Fd(a[0] as i32),
                    nr => path(cwd, a[0], nr == libc::SYS_removexattr),
                };
                (t, Change::RemoveXattr(name))
            }
            _ => return Err(libc::ENOSYS),
        })
    }

    fn empty_path(&self, pid: libc::pid_t, addr: u64) -> bool {
        addr == 0 || mem::read_cstr(pid, addr, 1).is_ok_and(|p| p.is_empty())
    }

    /// Open what the call targets, check it, and change it.
    fn apply(&self, pid: libc::pid_t, target: Target, change: Change) -> Reply {
        let (fd, follow) = match open_target(pid, &target) {
            Ok(x) => x,
            Err(e) => return Reply::Errno(e),
        };
        let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let real = std::fs::read_link(&proc_path).unwrap_or_default();
        // Anonymous objects (pipes, sockets, memfds) have no path: they are the
        // child's own, and changing them reaches nothing outside.
        let anonymous = !real.as_os_str().as_bytes().starts_with(b"/");
        if !anonymous && !self.writable_path(&real) {
            return Reply::Errno(libc::EACCES);
        }
        let is_link =
            !follow && std::fs::symlink_metadata(&real).is_ok_and(|m| m.file_type().is_symlink());
        let Ok(c_proc) = CString::new(proc_path) else {
            return Reply::Errno(libc::EINVAL);
        };
        // SAFETY (every call below): NUL-terminated paths and buffers we own.
        match change {
            Change::Mode(_) if is_link => Reply::Errno(libc::EOPNOTSUPP),
            Change::Mode(mode) => {
                ret(unsafe { libc::chmod(c_proc.as_ptr(), mode as libc::mode_t) })
            }
            Change::Owner(uid, gid) => ret(unsafe {
                libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH)
            }),
            Change::Times(_) | Change::SetXattr { .. } | Change::RemoveXattr(_) if is_link => {
                Reply::Errno(libc::EPERM)
            }
            Change::Times(times) => {
                let tp = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
                ret(unsafe { libc::utimensat(libc::AT_FDCWD, c_proc.as_ptr(), tp, 0) })
            }
            Change::SetXattr { name, value, flags } => ret(unsafe {
                libc::setxattr(
                    c_proc.as_ptr(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    flags,
                )
            }),
            Change::RemoveXattr(name) => {
                ret(unsafe { libc::removexattr(c_proc.as_ptr(), name.as_ptr()) })
            }
        }
    }

    fn writable_path(&self, real: &Path) -> bool {
        self.writable.iter().any(|w| real.starts_with(w))
            && !self.deny.iter().any(|d| real.starts_with(d))
    }
}

/// An `O_PATH` fd on the target, resolved as the child's call would, and
/// whether symlinks were followed.
fn open_target(pid: libc::pid_t, t: &Target) -> Result<(OwnedFd, bool), i32> {
    let (path, flags, follow) = match *t {
        Target::Fd(fd) => (PathBuf::from(format!("/proc/{pid}/fd/{fd}")), 0, true),
        Target::Real(ref p) => (p.clone(), libc::O_NOFOLLOW, false),
        Target::Path {
            dirfd,
            addr,
            follow,
        } => {
            let p = mem::read_cstr(pid, addr, libc::PATH_MAX as usize)?;
            if p.is_empty() {
                return Err(libc::ENOENT);
            }
            (
                child_path(pid, dirfd, &p),
                if follow { 0 } else { libc::O_NOFOLLOW },
                follow,
            )
        }
    };
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: opening a path we built; the fd is ours on success.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | flags) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a new fd owned here.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, follow))
}

fn read_name(pid: libc::pid_t, addr: u64) -> Result<CString, i32> {
    let name = mem::read_cstr(pid, addr, 256)?;
    CString::new(name).map_err(|_| libc::EINVAL)
}

fn read_timespecs(pid: libc::pid_t, addr: u64) -> Result<Option<[libc::timespec; 2]>, i32> {
    if addr == 0 {
        return Ok(None);
    }
    let mut raw = [0u8; 32];
    if mem::read(pid, addr, &mut raw)? != 32 {
        return Err(libc::EFAULT);
    }
    let f = |i: usize| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    Ok(Some([
        libc::timespec {
            tv_sec: f(0),
            tv_nsec: f(1),
        },
        libc::timespec {
            tv_sec: f(2),
            tv_nsec: f(3),
        },
    ]))
}

fn read_timevals(pid: libc::pid_t, addr: u64) -> Result<Option<[libc::timespec; 2]>, i32> {
    Ok(read_timespecs(pid, addr)?.map(|t| {
        t.map(|v| libc::timespec {
            tv_sec: v.tv_sec,
            tv_nsec: v.tv_nsec * 1000,
        })
    }))
}

fn read_utimbuf(pid: libc::pid_t, addr: u64) -> Result<Option<[libc::timespec; 2]>, i32> {
    if addr == 0 {
        return Ok(None);
    }
    let mut raw = [0u8; 16];
    if mem::read(pid, addr, &mut raw)? != 16 {
        return Err(libc::EFAULT);
    }
    let f = |i: usize| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    Ok(Some([
        libc::timespec {
            tv_sec: f(0),
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: f(1),
            tv_nsec: 0,
        },
    ]))
}
