//! The copy-on-write working directory, supervisor side (`cow.rs` is the host
//! side: change list, commit, abort).
//!
//! Namespace-free: every path syscall is notified while a workdir is set, and
//! a path that resolves beneath the workdir `DIR` is served from the merged
//! view of a private upper directory (`STATE/upper`, made by the host, 0700)
//! over `DIR` (the lower layer), minus a set of whiteouts (deleted logical
//! paths) kept here. Paths elsewhere go to the other handlers and the kernel.
//!
//! - Reads (`open` read-only, `stat` family, `access`, `readlink`,
//!   `getdents64`) see upper over lower: an entry in upper wins, a whited-out
//!   one is ENOENT, else the lower one. A lower entry reached by the plain
//!   path continues in the kernel (Landlock gives the child read access to
//!   `DIR`); anything else is opened or looked at by the supervisor and the
//!   result installed (ADDFD) or written back.
//! - Writes (`open` for writing or creating, `creat`, `truncate`, `mkdir`,
//!   `mknod`, `unlink`, `rmdir`, `rename`, `link`, `symlink`, metadata calls)
//!   first copy the entry up (parents as directories with their modes, files
//!   with mode and times), then act on the upper copy, on the child's behalf.
//!   The lower directory is never written: the child has at most read access
//!   to it, and the supervisor writes only beneath upper. The supervisor is
//!   single-threaded and the child cannot reach upper by its own path (it is
//!   in no Landlock rule), so upper does not change between a lookup and the
//!   act; every path it builds comes from a resolved logical path (no `..`,
//!   symlinks already followed), and the final component is opened with
//!   `O_NOFOLLOW`.
//! - `chdir` into a directory that exists only in upper, and `execve` of a
//!   program made in the run, cannot be done on behalf: at their ptrace stop
//!   the path argument is rewritten to the upper path ([`Cow::trace_stop`]).
//!   A process whose working directory is an upper directory has its paths
//!   mapped back to logical ones; `getcwd` answers the logical path.
//!
//! Paths are resolved here component by component, following symlinks in the
//! merged view; outside `DIR` components are taken lexically (a symlink
//! elsewhere that points into `DIR` reaches the lower directory only, through
//! the kernel: read-only by Landlock). Limits are listed in README.md.

use super::dirs::{Dirs, Entry};
use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The syscalls the filter routes here while a workdir is set: notified,
/// except chdir, execve and execveat, which stop for the tracer
/// (`SECCOMP_RET_TRACE`, [`Cow::trace_stop`]).
pub const SYSCALLS: &[i64] = &[
    libc::SYS_open,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_creat,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_mkdir,
    libc::SYS_mkdirat,
    libc::SYS_mknod,
    libc::SYS_mknodat,
    libc::SYS_unlink,
    libc::SYS_unlinkat,
    libc::SYS_rmdir,
    libc::SYS_rename,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_link,
    libc::SYS_linkat,
    libc::SYS_symlink,
    libc::SYS_symlinkat,
    libc::SYS_truncate,
    libc::SYS_getdents64,
    libc::SYS_getdents,
    libc::SYS_getcwd,
    libc::SYS_chdir,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_getxattr,
    libc::SYS_lgetxattr,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
];

/// Where a logical path is in the merged view.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loc {
    Upper(PathBuf),
    Lower(PathBuf),
    Absent,
}

/// A resolved path argument.
enum Res {
    /// Not beneath the workdir: not ours.
    Outside,
    /// Beneath it: the path relative to `DIR` ("" = `DIR` itself), and whether
    /// the kernel would reach the same lower entry from the original argument
    /// (no symlink followed by us, base not in upper).
    Inside { rel: PathBuf, direct: bool },
}

pub struct Cow {
    dir: PathBuf,
    upper: PathBuf,
    state: PathBuf,
    whiteouts: BTreeSet<PathBuf>,
    deny: Vec<PathBuf>,
    dirs: Dirs,
    /// Metadata changes, allowed beneath upper only.
    meta: super::metadata::Metadata,
    /// The last resolved path ended with a slash (an open may not create it).
    trailing: std::cell::Cell<bool>,
}

fn errno() -> i32 {
    crate::error::last_errno()
}

fn cstr(p: &Path) -> Result<CString, i32> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)
}

fn own(fd: libc::c_int) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a new fd owned here (checked non-negative).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_raw(p: &Path, flags: i32, mode: u32) -> Result<OwnedFd, i32> {
    let c = cstr(p)?;
    // SAFETY: a NUL-terminated path; the fd is ours on success.
    own(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY, mode) })
}

fn lstat(p: &Path) -> Option<libc::stat> {
    let c = cstr(p).ok()?;
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a local struct.
    (unsafe { libc::lstat(c.as_ptr(), &mut st) } == 0).then_some(st)
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn ret(r: libc::c_int) -> Reply {
    if r < 0 {
        Reply::Errno(errno())
    } else {
        Reply::Value(0)
    }
}

fn child_umask(pid: libc::pid_t) -> u32 {
    crate::procfs::Status::of(pid)
        .and_then(|st| u32::from_str_radix(st.field("Umask")?, 8).ok())
        .unwrap_or(0o022)
}

/// Run `f` with the process umask at 0 (the supervisor is single-threaded).
fn no_umask<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: umask only swaps a process attribute.
    let old = unsafe { libc::umask(0) };
    let r = f();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    r
}

impl Cow {
    pub fn new(dir: &[u8], state: &[u8], deny: &[Vec<u8>]) -> Cow {
        let state = PathBuf::from(OsStr::from_bytes(state));
        let upper_b = state.join(crate::cow::UPPER).into_os_string().into_vec();
        Cow {
            dir: PathBuf::from(OsStr::from_bytes(dir)),
            upper: state.join(crate::cow::UPPER),
            state,
            whiteouts: BTreeSet::new(),
            deny: deny
                .iter()
                .map(|d| {
                    let p = Path::new(OsStr::from_bytes(d));
                    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
                })
                .collect(),
            dirs: Dirs::default(),
            meta: super::metadata::Metadata::new(&[upper_b], &[]),
            trailing: std::cell::Cell::new(false),
        }
    }

    /// Write the whiteouts for the host (when the sandbox is over).
    pub fn save(&self) {
        let mut b = Vec::new();
        for w in &self.whiteouts {
            b.extend_from_slice(w.as_os_str().as_bytes());
            b.push(0);
        }
        let _ = std::fs::write(self.state.join(crate::cow::WHITEOUTS), b);
    }

    /// A real path as the child means it: upper paths back to logical ones.
    fn logical(&self, real: PathBuf) -> PathBuf {
        match real.strip_prefix(&self.upper) {
            Ok(rest) => self.dir.join(rest),
            Err(_) => real,
        }
    }

    fn rel_of(&self, logical: &Path) -> Option<PathBuf> {
        logical.strip_prefix(&self.dir).ok().map(Path::to_path_buf)
    }

    fn whited(&self, rel: &Path) -> bool {
        rel.ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| self.whiteouts.contains(a))
    }

    fn locate(&self, rel: &Path) -> Loc {
        if rel.as_os_str().is_empty() {
            return Loc::Lower(self.dir.clone());
        }
        let up = self.upper.join(rel);
        if lstat(&up).is_some() {
            return Loc::Upper(up);
        }
        if self.whited(rel) {
            return Loc::Absent;
        }
        let low = self.dir.join(rel);
        if lstat(&low).is_some() {
            Loc::Lower(low)
        } else {
            Loc::Absent
        }
    }

    fn real(&self, rel: &Path) -> Option<PathBuf> {
        match self.locate(rel) {
            Loc::Upper(p) | Loc::Lower(p) => Some(p),
            Loc::Absent => None,
        }
    }

    fn denied(&self, rel: &Path) -> bool {
        let p = self.dir.join(rel);
        self.deny.iter().any(|d| p.starts_with(d))
    }

    /// Resolve the child's (dirfd, path) as the kernel would, in the merged view.
    fn resolve(&self, pid: libc::pid_t, dirfd: i32, path: &[u8], follow: bool) -> Result<Res, i32> {
        if path.is_empty() {
            return Ok(Res::Outside);
        }
        let (mut cur, mut direct) = if path[0] == b'/' {
            (PathBuf::from("/"), true)
        } else {
            let base = if dirfd == libc::AT_FDCWD {
                format!("/proc/{pid}/cwd")
            } else {
                format!("/proc/{pid}/fd/{dirfd}")
            };
            let Ok(real) = std::fs::read_link(base) else {
                return Ok(Res::Outside);
            };
            if !real.is_absolute() {
                return Ok(Res::Outside);
            }
            let in_upper = real.starts_with(&self.upper);
            (self.logical(real), !in_upper)
        };
        if path.starts_with(b"/proc/") || path == b"/proc" {
            return Ok(Res::Outside);
        }
        let trailing = path.ends_with(b"/");
        let mut queue: VecDeque<Vec<u8>> = path
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec)
            .collect();
        let mut links = 0;
        let mut upper_link = false;
        while let Some(c) = queue.pop_front() {
            if c == b".." {
                cur.pop();
                continue;
            }
            cur.push(OsStr::from_bytes(&c));
            let last = queue.is_empty();
            if last && !follow && !trailing {
                continue;
            }
            let Some(rel) = self.rel_of(&cur) else {
                continue;
            };
            let Some(real) = self.real(&rel) else {
                continue;
            };
            let Ok(target) = std::fs::read_link(&real) else {
                continue;
            };
            links += 1;
            if links > 40 {
                return Err(libc::ELOOP);
            }
            direct = false;
            upper_link |= real.starts_with(&self.upper);
            cur.pop();
            let t = target.as_os_str().as_bytes();
            if t.starts_with(b"/") {
                cur = PathBuf::from("/");
            }
            for part in t
                .split(|&c| c == b'/')
                .filter(|c| !c.is_empty() && *c != b".")
                .rev()
            {
                queue.push_front(part.to_vec());
            }
        }
        Ok(match self.rel_of(&cur) {
            Some(rel) => {
                // "name/" must be a directory (or, for a creation, becomes one).
                if trailing {
                    if let Some(real) = self.real(&rel) {
                        if !lstat(&real).is_some_and(|st| is_dir(&st)) {
                            return Err(libc::ENOTDIR);
                        }
                    }
                }
                self.trailing.set(trailing);
                Res::Inside { rel, direct }
            }
            // Out of the workdir through a symlink that exists only in upper:
            // the kernel cannot follow it, and the supervisor must not act
            // outside the workdir for the child.
            None if upper_link => return Err(libc::ENOENT),
            None => Res::Outside,
        })
    }

    /// Resolve, or say the call is not ours (None).
    fn arg(
        &self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        follow: bool,
    ) -> Option<Result<(PathBuf, bool), i32>> {
        let path = match mem::read_cstr(pid, addr, libc::PATH_MAX as usize) {
            Ok(p) => p,
            Err(_) => return None,
        };
        match self.resolve(pid, dirfd as i32, &path, follow) {
            Ok(Res::Outside) => None,
            Ok(Res::Inside { rel, direct }) => {
                if self.denied(&rel) {
                    Some(Err(libc::EACCES))
                } else {
                    Some(Ok((rel, direct)))
                }
            }
            Err(e) => Some(Err(e)),
        }
    }

    /// Would the child's own rights allow `mode` (W_OK, X_OK) on the merged
    /// entry `rel`? The run may do in its view only what its user could do
    /// in the directory itself (the supervisor has the child's uid and no
    /// capabilities, so `faccessat(AT_EACCESS)` answers for it).
    fn may(&self, rel: &Path, mode: i32) -> Result<(), i32> {
        // The merged entry: a copy-up keeps the mode, a chmod in the run changes it.
        let Some(low) = self.real(rel) else {
            return Ok(());
        };
        let c = cstr(&low)?;
        // SAFETY: a NUL-terminated path.
        let r = unsafe {
            libc::faccessat(
                libc::AT_FDCWD,
                c.as_ptr(),
                mode,
                libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 && errno() == libc::EACCES {
            return Err(libc::EACCES);
        }
        Ok(())
    }

    /// `may` on the directory that holds `rel` (creating or removing in it).
    fn may_change_in(&self, rel: &Path) -> Result<(), i32> {
        self.may(
            rel.parent().unwrap_or(Path::new("")),
            libc::W_OK | libc::X_OK,
        )
    }

    /// Make sure `rel`'s parent directories exist in upper; returns the upper parent.
    fn copy_up_parents(&self, rel: &Path) -> Result<PathBuf, i32> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let mut built = PathBuf::new();
        for comp in parent.components() {
            built.push(comp);
            let up = self.upper.join(&built);
            if lstat(&up).is_some() {
                continue;
            }
            let mode = match self.locate(&built) {
                Loc::Lower(l) => match lstat(&l) {
                    Some(st) if is_dir(&st) => st.st_mode & 0o7777,
                    Some(_) => return Err(libc::ENOTDIR),
                    None => return Err(libc::ENOENT),
                },
                Loc::Upper(_) => continue,
                Loc::Absent => return Err(libc::ENOENT),
            };
            let c = cstr(&up)?;
            // SAFETY: a NUL-terminated path beneath our upper directory.
            if in_writable(&up, || {
                no_umask(|| unsafe { libc::mkdir(c.as_ptr(), mode) })
            }) != 0
            {
                return Err(errno());
            }
        }
        let up = self.upper.join(parent);
        match lstat(&up) {
            Some(st) if is_dir(&st) => Ok(up),
            Some(_) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    /// Copy `rel` up (if it is not in upper yet); its upper path.
    fn copy_up(&self, rel: &Path) -> Result<PathBuf, i32> {
        let low = match self.locate(rel) {
            Loc::Upper(p) => return Ok(p),
            Loc::Absent => return Err(libc::ENOENT),
            Loc::Lower(l) => l,
        };
        if rel.as_os_str().is_empty() {
            return Ok(self.upper.clone());
        }
        self.copy_up_parents(rel)?;
        let up = self.upper.join(rel);
        in_writable(&up, || self.copy_entry(&low, &up))
    }

    /// Copy the lower entry `low` to `up` (whose parent exists).
    fn copy_entry(&self, low: &Path, up: &Path) -> Result<PathBuf, i32> {
        let (low, up) = (low.to_path_buf(), up.to_path_buf());
        let st = lstat(&low).ok_or(libc::ENOENT)?;
        let mode = st.st_mode & 0o7777;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let c = cstr(&up)?;
                // SAFETY: a NUL-terminated path beneath upper.
                if no_umask(|| unsafe { libc::mkdir(c.as_ptr(), mode) }) != 0 {
                    return Err(errno());
                }
            }
            libc::S_IFLNK => {
                let t =
                    std::fs::read_link(&low).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
                std::os::unix::fs::symlink(t, &up)
                    .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
                return Ok(up);
            }
            libc::S_IFREG => {
                let src = open_raw(&low, libc::O_RDONLY | libc::O_NOFOLLOW, 0)?;
                let dst = no_umask(|| {
                    open_raw(
                        &up,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                        mode,
                    )
                })?;
                let mut from = std::fs::File::from(src);
                let mut to = std::fs::File::from(dst);
                if let Err(e) = std::io::copy(&mut from, &mut to) {
                    let _ = std::fs::remove_file(&up);
                    return Err(e.raw_os_error().unwrap_or(libc::EIO));
                }
                let times = [st_atime(&st), st_mtime(&st)];
                // SAFETY: futimens on our fd with a local array of two timespecs.
                unsafe { libc::futimens(to.as_raw_fd(), times.as_ptr()) };
                return Ok(up);
            }
            _ => return Err(libc::EPERM),
        }
        let c = cstr(&up)?;
        let times = [st_atime(&st), st_mtime(&st)];
        // SAFETY: a NUL-terminated path and a local array of two timespecs.
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) };
        Ok(up)
    }

    /// The merged entries of logical directory `rel`, sorted by name.
    fn merged(&self, rel: &Path) -> Option<Vec<Entry>> {
        let mut by_name: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
        let up = self.upper.join(rel);
        let opaque_or_gone = !rel.as_os_str().is_empty() && self.whited(rel);
        if !opaque_or_gone {
            for e in list_dir(&self.dir.join(rel)).unwrap_or_default() {
                if e.name != b"."
                    && e.name != b".."
                    && self.whited(&rel.join(OsStr::from_bytes(&e.name)))
                {
                    continue;
                }
                by_name.insert(e.name.clone(), e);
            }
        }
        if lstat(&up).is_some_and(|st| is_dir(&st)) {
            for e in list_dir(&up).unwrap_or_default() {
                if (e.name == b"." || e.name == b"..") && by_name.contains_key(&e.name) {
                    continue;
                }
                by_name.insert(e.name.clone(), e);
            }
        }
        Some(by_name.into_values().collect())
    }

    fn is_empty_dir(&self, rel: &Path) -> bool {
        self.merged(rel)
            .is_some_and(|l| l.iter().all(|e| e.name == b"." || e.name == b".."))
    }

    /// Answer a notified call, or None if it is not about the workdir.
    pub fn handle(&mut self, listener: RawFd, n: &SeccompNotif) -> Option<Reply> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let cwd = libc::AT_FDCWD as u64;
        let nofollow = |flags: u64| flags as i32 & libc::AT_SYMLINK_NOFOLLOW != 0;
        let r = match n.data.nr as i64 {
            libc::SYS_open => self.open(listener, n, cwd, a[0], a[1] as i32, a[2] as u32),
            libc::SYS_openat => self.open(listener, n, a[0], a[1], a[2] as i32, a[3] as u32),
            libc::SYS_creat => self.open(
                listener,
                n,
                cwd,
                a[0],
                libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC,
                a[1] as u32,
            ),
            libc::SYS_openat2 => {
                let mut how = [0u8; 16];
                if mem::read(pid, a[2], &mut how).ok()? != 16 {
                    return None;
                }
                let flags = u64::from_le_bytes(how[..8].try_into().ok()?) as i32;
                let mode = u64::from_le_bytes(how[8..].try_into().ok()?) as u32;
                self.open(listener, n, a[0], a[1], flags, mode)
            }
            libc::SYS_stat => self.stat(pid, cwd, a[0], a[1], true),
            libc::SYS_lstat => self.stat(pid, cwd, a[0], a[1], false),
            libc::SYS_newfstatat => self.stat(pid, a[0], a[1], a[2], !nofollow(a[3])),
            libc::SYS_statx => self.statx(pid, a),
            libc::SYS_access => self.access(pid, cwd, a[0], a[1] as i32, 0),
            libc::SYS_faccessat => self.access(pid, a[0], a[1], a[2] as i32, 0),
            libc::SYS_faccessat2 => self.access(pid, a[0], a[1], a[2] as i32, a[3] as i32),
            libc::SYS_readlink => self.readlink(pid, cwd, a[0], a[1], a[2]),
            libc::SYS_readlinkat => self.readlink(pid, a[0], a[1], a[2], a[3]),
            libc::SYS_mkdir => self.mkdir(pid, cwd, a[0], a[1] as u32),
            libc::SYS_mkdirat => self.mkdir(pid, a[0], a[1], a[2] as u32),
            libc::SYS_mknod => self.mknod(pid, cwd, a[0], a[1] as u32),
            libc::SYS_mknodat => self.mknod(pid, a[0], a[1], a[2] as u32),
            libc::SYS_unlink => self.unlink(pid, cwd, a[0], false),
            libc::SYS_rmdir => self.unlink(pid, cwd, a[0], true),
            libc::SYS_unlinkat => {
                self.unlink(pid, a[0], a[1], a[2] as i32 & libc::AT_REMOVEDIR != 0)
            }
            libc::SYS_rename => self.rename(pid, [cwd, a[0], cwd, a[1]], 0),
            libc::SYS_renameat => self.rename(pid, [a[0], a[1], a[2], a[3]], 0),
            libc::SYS_renameat2 => self.rename(pid, [a[0], a[1], a[2], a[3]], a[4] as u32),
            libc::SYS_link => self.link(pid, [cwd, a[0], cwd, a[1]], 0),
            libc::SYS_linkat => self.link(pid, [a[0], a[1], a[2], a[3]], a[4] as i32),
            libc::SYS_symlink => self.symlink(pid, a[0], cwd, a[1]),
            libc::SYS_symlinkat => self.symlink(pid, a[0], a[1], a[2]),
            libc::SYS_truncate => self.truncate(pid, a[0], a[1] as i64),
            libc::SYS_getdents64 | libc::SYS_getdents => self.getdents(n),
            libc::SYS_getcwd => self.getcwd(pid, a[0], a[1]),
            libc::SYS_getxattr | libc::SYS_lgetxattr => {
                self.xattr_read(pid, n.data.nr as i64 == libc::SYS_getxattr, a, true)
            }
            libc::SYS_listxattr | libc::SYS_llistxattr => {
                self.xattr_read(pid, n.data.nr as i64 == libc::SYS_listxattr, a, false)
            }
            nr if super::metadata::SYSCALLS.contains(&nr) => self.metadata(pid, n),
            _ => None,
        }?;
        Some(match r {
            Ok(reply) => reply,
            Err(e) => Reply::Errno(e),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        dirfd: u64,
        addr: u64,
        flags: i32,
        mode: u32,
    ) -> Option<Result<Reply, i32>> {
        let pid = n.pid as libc::pid_t;
        let excl = flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let (rel, direct) = match self.arg(pid, dirfd, addr, follow)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        if self.trailing.get() && flags & libc::O_CREAT != 0 && self.locate(&rel) == Loc::Absent {
            return Some(Err(libc::EISDIR));
        }
        Some(self.open_rel(listener, n, &rel, direct, flags, mode))
    }

    fn open_rel(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        rel: &Path,
        direct: bool,
        flags: i32,
        mode: u32,
    ) -> Result<Reply, i32> {
        let pid = n.pid as libc::pid_t;
        let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY
            || flags & (libc::O_TRUNC | libc::O_CREAT) != 0
            || tmpfile;
        let cloexec = flags & libc::O_CLOEXEC != 0;
        let loc = self.locate(rel);
        let fd = if !write || flags & libc::O_PATH != 0 {
            match loc {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Lower(_) if direct => return Ok(Reply::Continue),
                Loc::Lower(p) | Loc::Upper(p) => {
                    let st = lstat(&p).ok_or(libc::ENOENT)?;
                    let plain = matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR);
                    if !plain && flags & libc::O_PATH == 0 {
                        // A FIFO or device could block the supervisor or act on opening.
                        return if direct {
                            Ok(Reply::Continue)
                        } else {
                            Err(libc::EACCES)
                        };
                    }
                    open_raw(
                        &p,
                        flags & !(libc::O_CREAT | libc::O_EXCL) | libc::O_NOFOLLOW,
                        0,
                    )?
                }
            }
        } else {
            if rel.as_os_str().is_empty() && !tmpfile {
                return Err(libc::EISDIR);
            }
            let exists = loc != Loc::Absent;
            if exists && flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0 {
                return Err(libc::EEXIST);
            }
            if !exists && flags & libc::O_CREAT == 0 {
                return Err(libc::ENOENT);
            }
            if exists {
                if let Loc::Lower(p) = &loc {
                    let st = lstat(p).ok_or(libc::ENOENT)?;
                    if is_dir(&st) && !tmpfile {
                        return Err(libc::EISDIR);
                    }
                    if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR) {
                        return Err(libc::EACCES);
                    }
                }
                if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
                    self.may(rel, libc::W_OK)?;
                }
                let up = self.copy_up(rel)?;
                let st = lstat(&up).ok_or(libc::ENOENT)?;
                if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR) {
                    return Err(libc::EACCES);
                }
                let m = mode & 0o7777 & !child_umask(pid);
                no_umask(|| {
                    open_raw(
                        &up,
                        flags & !(libc::O_CREAT | libc::O_EXCL) | libc::O_NOFOLLOW,
                        m,
                    )
                })?
            } else {
                self.may_change_in(rel)?;
                let parent = self.copy_up_parents(rel)?;
                let name = rel.file_name().ok_or(libc::EINVAL)?;
                let m = mode & 0o7777 & !child_umask(pid);
                no_umask(|| open_raw(&parent.join(name), flags | libc::O_NOFOLLOW, m))?
            }
        };
        match notify::addfd(listener, n.id, fd.as_raw_fd(), None, cloexec, true) {
            Ok(_) | Err(libc::ENOENT) => Ok(Reply::Done),
            Err(e) => Err(e),
        }
    }

    fn stat(
        &self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        buf: u64,
        follow: bool,
    ) -> Option<Result<Reply, i32>> {
        let (rel, direct) = match self.arg(pid, dirfd, addr, follow)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let p = match self.locate(&rel) {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Lower(_) if direct => return Ok(Reply::Continue),
                Loc::Lower(p) | Loc::Upper(p) => p,
            };
            let st = lstat(&p).ok_or_else(errno)?;
            // SAFETY: viewing a plain-data struct as its bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&st as *const libc::stat).cast::<u8>(),
                    std::mem::size_of::<libc::stat>(),
                )
            };
            write_back(pid, buf, bytes)
        })())
    }

    fn statx(&self, pid: libc::pid_t, a: [u64; 6]) -> Option<Result<Reply, i32>> {
        let flags = a[2] as i32;
        let (rel, direct) =
            match self.arg(pid, a[0], a[1], flags & libc::AT_SYMLINK_NOFOLLOW == 0)? {
                Ok(x) => x,
                Err(e) => return Some(Err(e)),
            };
        Some((|| {
            let p = match self.locate(&rel) {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Lower(_) if direct => return Ok(Reply::Continue),
                Loc::Lower(p) | Loc::Upper(p) => p,
            };
            let c = cstr(&p)?;
            // SAFETY: statx is plain data filled by the kernel.
            let mut sx: libc::statx = unsafe { std::mem::zeroed() };
            // SAFETY: a NUL-terminated path and a local struct.
            let r = unsafe {
                libc::statx(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW | (flags & libc::AT_STATX_SYNC_TYPE),
                    a[3] as u32,
                    &mut sx,
                )
            };
            if r != 0 {
                return Err(errno());
            }
            // SAFETY: viewing a plain-data struct as its bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&sx as *const libc::statx).cast::<u8>(),
                    std::mem::size_of::<libc::statx>(),
                )
            };
            write_back(pid, a[4], bytes)
        })())
    }

    fn access(
        &self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        mode: i32,
        flags: i32,
    ) -> Option<Result<Reply, i32>> {
        let (rel, direct) =
            match self.arg(pid, dirfd, addr, flags & libc::AT_SYMLINK_NOFOLLOW == 0)? {
                Ok(x) => x,
                Err(e) => return Some(Err(e)),
            };
        Some(match self.locate(&rel) {
            Loc::Absent => Err(libc::ENOENT),
            Loc::Lower(_) if direct && mode & libc::W_OK == 0 => Ok(Reply::Continue),
            Loc::Lower(p) | Loc::Upper(p) => {
                // Writable through the upper layer if the file itself lets its owner write.
                let c = match cstr(&p) {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                // SAFETY: a NUL-terminated path.
                Ok(ret(unsafe {
                    libc::faccessat(
                        libc::AT_FDCWD,
                        c.as_ptr(),
                        mode,
                        libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW,
                    )
                }))
            }
        })
    }

    fn readlink(
        &self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        buf: u64,
        size: u64,
    ) -> Option<Result<Reply, i32>> {
        let (rel, direct) = match self.arg(pid, dirfd, addr, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let p = match self.locate(&rel) {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Lower(_) if direct => return Ok(Reply::Continue),
                Loc::Lower(p) | Loc::Upper(p) => p,
            };
            if (size as i64) <= 0 {
                return Err(libc::EINVAL);
            }
            let t = std::fs::read_link(&p).map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL))?;
            let t = t.as_os_str().as_bytes();
            let t = &t[..t.len().min(size as usize)];
            match mem::write(pid, buf, t) {
                Ok(w) if w == t.len() => Ok(Reply::Value(t.len() as i64)),
                _ => Err(libc::EFAULT),
            }
        })())
    }

    fn mkdir(
        &mut self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        mode: u32,
    ) -> Option<Result<Reply, i32>> {
        let (rel, _) = match self.arg(pid, dirfd, addr, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            if self.locate(&rel) != Loc::Absent {
                return Err(libc::EEXIST);
            }
            self.may_change_in(&rel)?;
            let parent = self.copy_up_parents(&rel)?;
            let c = cstr(&parent.join(rel.file_name().ok_or(libc::EEXIST)?))?;
            let m = mode & 0o7777 & !child_umask(pid);
            // SAFETY: a NUL-terminated path beneath upper.
            Ok(ret(no_umask(|| unsafe { libc::mkdir(c.as_ptr(), m) })))
        })())
    }

    fn mknod(
        &mut self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        mode: u32,
    ) -> Option<Result<Reply, i32>> {
        let (rel, _) = match self.arg(pid, dirfd, addr, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            // Only regular files: devices, FIFOs and sockets are refused in the workdir.
            if !matches!(mode & libc::S_IFMT, 0 | libc::S_IFREG) {
                return Err(libc::EPERM);
            }
            if self.locate(&rel) != Loc::Absent {
                return Err(libc::EEXIST);
            }
            self.may_change_in(&rel)?;
            let parent = self.copy_up_parents(&rel)?;
            let m = mode & 0o7777 & !child_umask(pid);
            let name = rel.file_name().ok_or(libc::EEXIST)?;
            no_umask(|| {
                open_raw(
                    &parent.join(name),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    m,
                )
            })?;
            Ok(Reply::Value(0))
        })())
    }

    fn unlink(
        &mut self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        dir: bool,
    ) -> Option<Result<Reply, i32>> {
        let (rel, _) = match self.arg(pid, dirfd, addr, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            if rel.as_os_str().is_empty() {
                return Err(if dir { libc::EBUSY } else { libc::EISDIR });
            }
            let loc = self.locate(&rel);
            let p = match &loc {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Upper(p) | Loc::Lower(p) => p.clone(),
            };
            let st = lstat(&p).ok_or(libc::ENOENT)?;
            self.may_change_in(&rel)?;
            match (dir, is_dir(&st)) {
                (false, true) => return Err(libc::EISDIR),
                (true, false) => return Err(libc::ENOTDIR),
                (true, true) if !self.is_empty_dir(&rel) => return Err(libc::ENOTEMPTY),
                _ => {}
            }
            if let Loc::Upper(up) = &loc {
                let r = if dir {
                    std::fs::remove_dir(up)
                } else {
                    std::fs::remove_file(up)
                };
                r.map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            }
            if lstat(&self.dir.join(&rel)).is_some() {
                self.whiteouts.insert(rel);
            }
            Ok(Reply::Value(0))
        })())
    }

    /// Copy up a directory and everything visible beneath it (for a rename of
    /// a directory with lower entries). Refused past `COPY_TREE_MAX` entries
    /// or `COPY_TREE_BYTES` of file data: the supervisor serves every sandbox
    /// and must not copy for long.
    fn copy_up_tree(&self, rel: &Path) -> Result<(), i32> {
        let mut todo = vec![rel.to_path_buf()];
        let mut all = Vec::new();
        let (mut n, mut bytes) = (0usize, 0u64);
        while let Some(d) = todo.pop() {
            for e in self.merged(&d).unwrap_or_default() {
                if e.name == b"." || e.name == b".." {
                    continue;
                }
                let child = d.join(OsStr::from_bytes(&e.name));
                n += 1;
                if let Loc::Lower(p) = self.locate(&child) {
                    bytes += lstat(&p).map_or(0, |st| st.st_size as u64);
                }
                if n > COPY_TREE_MAX || bytes > COPY_TREE_BYTES {
                    return Err(libc::EXDEV);
                }
                if e.kind == libc::DT_DIR {
                    todo.push(child.clone());
                }
                all.push(child);
            }
        }
        self.copy_up(rel)?;
        all.sort(); // parents first
        for c in all {
            self.copy_up(&c)?;
        }
        Ok(())
    }

    /// Has logical directory `rel` lower entries (a rename must then copy the
    /// tree up first, `copy_up_tree`)?
    fn has_lower_dir(&self, rel: &Path) -> bool {
        !rel.as_os_str().is_empty()
            && !self.whited(rel)
            && lstat(&self.dir.join(rel)).is_some_and(|st| is_dir(&st))
    }

    fn two(
        &self,
        pid: libc::pid_t,
        a: [u64; 4],
        follow_old: bool,
    ) -> Option<Result<(PathBuf, PathBuf), i32>> {
        let read = |addr| mem::read_cstr(pid, addr, libc::PATH_MAX as usize).ok();
        let (p1, p2) = (read(a[1])?, read(a[3])?);
        let r1 = self.resolve(pid, a[0] as i32, &p1, follow_old);
        let r2 = self.resolve(pid, a[2] as i32, &p2, false);
        match (r1, r2) {
            (Err(e), _) | (_, Err(e)) => Some(Err(e)),
            (Ok(Res::Outside), Ok(Res::Outside)) => None,
            (Ok(Res::Inside { rel: o, .. }), Ok(Res::Inside { rel: n, .. })) => {
                if self.denied(&o) || self.denied(&n) {
                    Some(Err(libc::EACCES))
                } else {
                    Some(Ok((o, n)))
                }
            }
            // One side in the workdir, the other outside: another "file system".
            _ => Some(Err(libc::EXDEV)),
        }
    }

    fn rename(&mut self, pid: libc::pid_t, a: [u64; 4], flags: u32) -> Option<Result<Reply, i32>> {
        let (old, new) = match self.two(pid, a, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            if flags & !libc::RENAME_NOREPLACE != 0 {
                return Err(libc::EINVAL);
            }
            if old.as_os_str().is_empty() || new.as_os_str().is_empty() {
                return Err(libc::EBUSY);
            }
            if new.starts_with(&old) && new != old {
                return Err(libc::EINVAL);
            }
            let src = self.real(&old).ok_or(libc::ENOENT)?;
            let sst = lstat(&src).ok_or(libc::ENOENT)?;
            if old == new {
                return Ok(Reply::Value(0));
            }
            if let Some(dst) = self.real(&new) {
                if flags & libc::RENAME_NOREPLACE != 0 {
                    return Err(libc::EEXIST);
                }
                let dst_st = lstat(&dst).ok_or(libc::ENOENT)?;
                match (is_dir(&sst), is_dir(&dst_st)) {
                    (true, false) => return Err(libc::ENOTDIR),
                    (false, true) => return Err(libc::EISDIR),
                    (true, true) if !self.is_empty_dir(&new) => return Err(libc::ENOTEMPTY),
                    _ => {}
                }
            }
            self.may_change_in(&old)?;
            self.may_change_in(&new)?;
            if is_dir(&sst) && self.has_lower_dir(&old) {
                // The whole tree moves to upper first; past the cap (or on
                // anything that cannot be copied) EXDEV, and `mv` copies.
                self.copy_up_tree(&old).map_err(|_| libc::EXDEV)?;
            }
            let up_src = self.copy_up(&old)?;
            let parent = self.copy_up_parents(&new)?;
            let up_dst = parent.join(new.file_name().ok_or(libc::EINVAL)?);
            if lstat(&up_dst).is_some_and(|st| is_dir(&st)) && is_dir(&sst) {
                std::fs::remove_dir(&up_dst).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            }
            std::fs::rename(&up_src, &up_dst).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            if lstat(&self.dir.join(&old)).is_some() {
                self.whiteouts.insert(old.clone());
            }
            // A directory over a lower one hides the lower entries (opaque).
            if is_dir(&sst) && lstat(&self.dir.join(&new)).is_some() {
                self.whiteouts.insert(new.clone());
            }
            Ok(Reply::Value(0))
        })())
    }

    fn link(&mut self, pid: libc::pid_t, a: [u64; 4], flags: i32) -> Option<Result<Reply, i32>> {
        let (old, new) = match self.two(pid, a, flags & libc::AT_SYMLINK_FOLLOW != 0)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            if self.real(&new).is_some() {
                return Err(libc::EEXIST);
            }
            let src = self.real(&old).ok_or(libc::ENOENT)?;
            if lstat(&src).is_some_and(|st| is_dir(&st)) {
                return Err(libc::EPERM);
            }
            self.may_change_in(&new)?;
            let up_src = self.copy_up(&old)?;
            let parent = self.copy_up_parents(&new)?;
            std::fs::hard_link(&up_src, parent.join(new.file_name().ok_or(libc::EINVAL)?))
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            Ok(Reply::Value(0))
        })())
    }

    fn symlink(
        &mut self,
        pid: libc::pid_t,
        target: u64,
        dirfd: u64,
        addr: u64,
    ) -> Option<Result<Reply, i32>> {
        let (rel, _) = match self.arg(pid, dirfd, addr, false)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let t = mem::read_cstr(pid, target, libc::PATH_MAX as usize)?;
            if t.is_empty() {
                return Err(libc::ENOENT);
            }
            if self.locate(&rel) != Loc::Absent {
                return Err(libc::EEXIST);
            }
            self.may_change_in(&rel)?;
            let parent = self.copy_up_parents(&rel)?;
            std::os::unix::fs::symlink(
                OsStr::from_bytes(&t),
                parent.join(rel.file_name().ok_or(libc::EEXIST)?),
            )
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            Ok(Reply::Value(0))
        })())
    }

    fn truncate(&mut self, pid: libc::pid_t, addr: u64, len: i64) -> Option<Result<Reply, i32>> {
        let (rel, _) = match self.arg(pid, libc::AT_FDCWD as u64, addr, true)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let p = self.real(&rel).ok_or(libc::ENOENT)?;
            let st = lstat(&p).ok_or(libc::ENOENT)?;
            if is_dir(&st) {
                return Err(libc::EISDIR);
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(libc::EINVAL);
            }
            if len < 0 {
                return Err(libc::EINVAL);
            }
            self.may(&rel, libc::W_OK)?;
            let up = self.copy_up(&rel)?;
            let f = open_raw(&up, libc::O_WRONLY | libc::O_NOFOLLOW, 0)?;
            // SAFETY: ftruncate on our own fd.
            Ok(ret(unsafe { libc::ftruncate(f.as_raw_fd(), len) }))
        })())
    }

    fn getdents(&mut self, n: &SeccompNotif) -> Option<Result<Reply, i32>> {
        let pid = n.pid as libc::pid_t;
        let real = std::fs::read_link(format!("/proc/{pid}/fd/{}", n.data.args[0] as i32)).ok()?;
        let rel = self.rel_of(&self.logical(real))?;
        // Listed only when a read starts (offset 0) or is not cached.
        let mut dirs = std::mem::take(&mut self.dirs);
        let r = dirs.handle_with(n, |_| self.merged(&rel)).map(Ok);
        self.dirs = dirs;
        r
    }

    fn getcwd(&self, pid: libc::pid_t, buf: u64, size: u64) -> Option<Result<Reply, i32>> {
        let real = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        if !real.starts_with(&self.upper) {
            return None;
        }
        let mut p = self.logical(real).into_os_string().into_vec();
        p.push(0);
        Some(if (p.len() as u64) > size {
            Err(libc::ERANGE)
        } else {
            match mem::write(pid, buf, &p) {
                Ok(w) if w == p.len() => Ok(Reply::Value(p.len() as i64)),
                _ => Err(libc::EFAULT),
            }
        })
    }

    /// Where a chdir to `addr` must go: None = as the call says; Ok = this
    /// real directory instead; Err = fail.
    fn chdir_target(&self, pid: libc::pid_t, addr: u64) -> Option<Result<PathBuf, i32>> {
        let (rel, direct) = match self.arg(pid, libc::AT_FDCWD as u64, addr, true)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let Some(real) = self.real(&rel) else {
            return Some(Err(libc::ENOENT));
        };
        if !lstat(&real).is_some_and(|st| is_dir(&st)) {
            return Some(Err(libc::ENOTDIR));
        }
        // A directory with lower entries: the lower one (paths beneath it are
        // mapped through the merged view anyway); else the upper one.
        let target = if rel.as_os_str().is_empty() || self.has_lower_dir(&rel) {
            self.dir.join(&rel)
        } else {
            real
        };
        if direct && target == self.dir.join(&rel) {
            return None;
        }
        Some(Ok(target))
    }

    /// Which program an exec at (dirfd, addr) must run: None = as the call
    /// says; Ok = this real file (a program made or changed in the run, in
    /// upper); Err = fail.
    fn exec_target(
        &self,
        pid: libc::pid_t,
        dirfd: u64,
        addr: u64,
        follow: bool,
    ) -> Option<Result<PathBuf, i32>> {
        let (rel, direct) = match self.arg(pid, dirfd, addr, follow)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        match self.locate(&rel) {
            Loc::Absent => Some(Err(libc::ENOENT)),
            Loc::Lower(_) if direct => None,
            Loc::Lower(p) | Loc::Upper(p) => Some(Ok(p)),
        }
    }

    /// At a `SECCOMP_RET_TRACE` stop (the filter traces chdir, execve and
    /// execveat while a workdir is set): a chdir into a directory that exists
    /// only in upper, or an exec of a program made in the run, cannot be done
    /// on the child's behalf through a notification, so the path argument is
    /// rewritten to the real upper path: the new path is written below the
    /// thread's stack pointer (past the 128-byte red zone of the x86-64 ABI)
    /// and the argument register pointed at it. A failure skips the call
    /// (syscall number -1, ptrace(2) "PTRACE_EVENT_SECCOMP") with the errno in
    /// `rax`. Another thread changing that memory meanwhile gains nothing:
    /// the kernel then runs the call on whatever path it finds, under
    /// Landlock (which gives upper read and execute rights only).
    pub fn trace_stop(&self, pid: libc::pid_t) {
        use crate::trace::regs;
        let Ok(mut r) = regs::get(pid) else {
            return;
        };
        let cwd = libc::AT_FDCWD as u64;
        let nr = r.orig_rax as i64;
        let decision = match nr {
            libc::SYS_chdir => self.chdir_target(pid, r.rdi),
            libc::SYS_execve => self.exec_target(pid, cwd, r.rdi, true),
            libc::SYS_execveat => {
                let flags = r.r8 as i32;
                let empty = flags & libc::AT_EMPTY_PATH != 0
                    && mem::read_cstr(pid, r.rsi, 1).is_ok_and(|p| p.is_empty());
                if empty {
                    None
                } else {
                    self.exec_target(pid, r.rdi, r.rsi, flags & libc::AT_SYMLINK_NOFOLLOW == 0)
                }
            }
            _ => None,
        };
        match decision {
            None => return,
            Some(Ok(p)) => {
                let mut b = p.into_os_string().into_vec();
                b.push(0);
                // A hostile thread may call with any stack pointer (then EFAULT).
                if let Some(at) = mem::write_below_stack(pid, r.rsp, &b) {
                    if nr == libc::SYS_execveat {
                        r.rsi = at; // an absolute path: dirfd is ignored
                    } else {
                        r.rdi = at;
                    }
                } else {
                    r.orig_rax = u64::MAX;
                    r.rax = (-libc::EFAULT) as i64 as u64;
                }
            }
            Some(Err(e)) => {
                r.orig_rax = u64::MAX;
                r.rax = (-e) as i64 as u64;
            }
        }
        let _ = regs::set(pid, &r);
    }

    /// getxattr/listxattr (`get`: value of the name at a[1] into a[2], size a[3];
    /// else the list into a[1], size a[2]) in the merged view.
    fn xattr_read(
        &self,
        pid: libc::pid_t,
        follow: bool,
        a: [u64; 6],
        get: bool,
    ) -> Option<Result<Reply, i32>> {
        let (rel, direct) = match self.arg(pid, libc::AT_FDCWD as u64, a[0], follow)? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        Some((|| {
            let p = match self.locate(&rel) {
                Loc::Absent => return Err(libc::ENOENT),
                Loc::Lower(_) if direct => return Ok(Reply::Continue),
                Loc::Lower(p) | Loc::Upper(p) => p,
            };
            let c = cstr(&p)?;
            let (buf, size) = if get { (a[2], a[3]) } else { (a[1], a[2]) };
            let mut out = vec![0u8; (size as usize).min(65536)];
            // SAFETY: NUL-terminated path and name; the kernel writes at most out.len() bytes.
            let n = unsafe {
                if get {
                    let name = mem::read_cstr(pid, a[1], 256)?;
                    let name = CString::new(name).map_err(|_| libc::EINVAL)?;
                    libc::lgetxattr(
                        c.as_ptr(),
                        name.as_ptr(),
                        out.as_mut_ptr().cast(),
                        out.len(),
                    )
                } else {
                    libc::llistxattr(c.as_ptr(), out.as_mut_ptr().cast(), out.len())
                }
            };
            if n < 0 {
                return Err(errno());
            }
            let n = n as usize;
            if size != 0 && n > 0 && mem::write(pid, buf, &out[..n]).ok() != Some(n) {
                return Err(libc::EFAULT);
            }
            Ok(Reply::Value(n as i64))
        })())
    }

    /// chmod/chown/utimes/xattr beneath the workdir: on the upper copy.
    fn metadata(&mut self, pid: libc::pid_t, n: &SeccompNotif) -> Option<Result<Reply, i32>> {
        let a = n.data.args;
        let cwd = libc::AT_FDCWD as u64;
        let nofollow = |f: u64| f as i32 & libc::AT_SYMLINK_NOFOLLOW != 0;
        // (dirfd, path address, follow) of path-based calls; fd-based ones by the fd's path.
        let target = match n.data.nr as i64 {
            libc::SYS_chmod | libc::SYS_chown | libc::SYS_utime | libc::SYS_utimes => {
                Some((cwd, a[0], true))
            }
            libc::SYS_setxattr | libc::SYS_removexattr => Some((cwd, a[0], true)),
            libc::SYS_lchown | libc::SYS_lsetxattr | libc::SYS_lremovexattr => {
                Some((cwd, a[0], false))
            }
            libc::SYS_fchmodat | libc::SYS_futimesat => Some((a[0], a[1], true)),
            libc::SYS_fchmodat2 => Some((a[0], a[1], !nofollow(a[3]))),
            libc::SYS_fchownat if a[4] as i32 & libc::AT_EMPTY_PATH == 0 => {
                Some((a[0], a[1], !nofollow(a[4])))
            }
            libc::SYS_utimensat if a[1] != 0 => Some((a[0], a[1], !nofollow(a[3]))),
            _ => None,
        };
        let rel = match target {
            Some((d, p, f)) => match self.arg(pid, d, p, f)? {
                Ok((rel, _)) => rel,
                Err(e) => return Some(Err(e)),
            },
            None => {
                // fd-based: the fd's file, if it is in the workdir (either layer).
                let fd = a[0] as i32;
                let real = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
                let rel = self.rel_of(&self.logical(real))?;
                if self.denied(&rel) {
                    return Some(Err(libc::EACCES));
                }
                rel
            }
        };
        // The upper copy belongs to the child's user: a mode or owner change
        // of someone else's file must fail as it would on disk.
        let owner_only = matches!(
            n.data.nr as i64,
            libc::SYS_chmod
                | libc::SYS_fchmod
                | libc::SYS_fchmodat
                | libc::SYS_fchmodat2
                | libc::SYS_chown
                | libc::SYS_fchown
                | libc::SYS_lchown
                | libc::SYS_fchownat
        );
        if let Loc::Lower(low) = self.locate(&rel) {
            // SAFETY: geteuid has no memory effects.
            let me = unsafe { libc::geteuid() };
            if owner_only && lstat(&low).is_some_and(|st| st.st_uid != me) {
                return Some(Err(libc::EPERM));
            }
        }
        // Copy up, then let the metadata handler apply the change to the
        // upper file by its path: it checks the path against `writable`.
        if let Err(e) = self.copy_up(&rel) {
            return Some(Err(e));
        }
        let up = self.upper.join(&rel);
        // Times of a symlink itself (`lutimes`, `cp -a`): the metadata handler
        // works through an O_PATH descriptor, which cannot; the upper path is ours.
        if n.data.nr as i64 == libc::SYS_utimensat
            && a[1] != 0
            && nofollow(a[3])
            && lstat(&up).is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        {
            let mut raw = [0u8; 32];
            let ts = if a[2] == 0 {
                None
            } else if mem::read(pid, a[2], &mut raw).ok() == Some(32) {
                let f = |i: usize| {
                    i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default())
                };
                Some([
                    libc::timespec {
                        tv_sec: f(0),
                        tv_nsec: f(1),
                    },
                    libc::timespec {
                        tv_sec: f(2),
                        tv_nsec: f(3),
                    },
                ])
            } else {
                return Some(Err(libc::EFAULT));
            };
            let c = match cstr(&up) {
                Ok(c) => c,
                Err(e) => return Some(Err(e)),
            };
            let tp = ts.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
            // SAFETY: a NUL-terminated path beneath upper and NULL or two timespecs.
            return Some(Ok(ret(unsafe {
                libc::utimensat(libc::AT_FDCWD, c.as_ptr(), tp, libc::AT_SYMLINK_NOFOLLOW)
            })));
        }
        Some(Ok(self.meta.apply_to(pid, n, &up)))
    }
}

/// Run `f`, which creates `up`, with `up`'s parent writable for the moment:
/// a copy-up into a read-only directory (a file the run may change inside a
/// directory it may not) is the supervisor's own business. The child's
/// rights were checked on the merged entries before (`Cow::may`).
fn in_writable<T>(up: &Path, f: impl FnOnce() -> T) -> T {
    let parent = up
        .parent()
        .and_then(|p| lstat(p).map(|st| (p, st.st_mode & 0o7777)));
    let restore = match parent {
        Some((p, mode)) if mode & 0o300 != 0o300 => cstr(p).ok().map(|c| (c, mode)),
        _ => None,
    };
    if let Some((c, mode)) = &restore {
        // SAFETY: a NUL-terminated path beneath upper, a directory we own.
        unsafe { libc::chmod(c.as_ptr(), mode | 0o300) };
    }
    let r = f();
    if let Some((c, mode)) = &restore {
        // SAFETY: as above.
        unsafe { libc::chmod(c.as_ptr(), *mode) };
    }
    r
}

/// The most entries, and file bytes, a directory rename copies up.
const COPY_TREE_MAX: usize = 10_000;
const COPY_TREE_BYTES: u64 = 64 << 20;

fn st_atime(st: &libc::stat) -> libc::timespec {
    libc::timespec {
        tv_sec: st.st_atime,
        tv_nsec: st.st_atime_nsec,
    }
}

fn st_mtime(st: &libc::stat) -> libc::timespec {
    libc::timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec,
    }
}

fn write_back(pid: libc::pid_t, addr: u64, bytes: &[u8]) -> Result<Reply, i32> {
    match mem::write(pid, addr, bytes) {
        Ok(w) if w == bytes.len() => Ok(Reply::Value(0)),
        _ => Err(libc::EFAULT),
    }
}

/// The entries of a real directory, unsorted.
fn list_dir(p: &Path) -> Option<Vec<Entry>> {
    let fd = open_raw(p, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).ok()?;
    super::dirs::listing(&fd)
}

use std::os::unix::ffi::OsStringExt;
