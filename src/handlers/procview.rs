//! The sandbox's view of `/proc`: its own processes only, and a machine the
//! size of its memory limit.
//!
//! **Processes** (`sl_policy_set_proc_view`). Without namespaces the kernel
//! shows every process of the host in `/proc`; the supervisor hides those
//! that are not tasks of this sandbox (`Sandbox::members`, the tasks it
//! traces). Every call that can look at a `/proc/PID` path is notified and
//! done on the child's behalf, on the path copied once from its memory:
//!
//! - `stat`, `lstat`, `newfstatat`, `statx`, `access`, `faccessat(2)`,
//!   `readlink(at)`, `statfs`: the supervisor resolves the path itself
//!   (`openat2` with `O_PATH`, relative to our copy of the child's dirfd or its
//!   cwd, following symlinks as the call would), decides on the descriptor it
//!   holds, and answers from that descriptor (`fstatat(fd, "", AT_EMPTY_PATH)`
//!   and so on) into the child's buffer. The kernel never reads the path again,
//!   so a thread swapping it after the check changes nothing.
//! - opens of a visible `/proc/PID` file are done by the supervisor on the held
//!   descriptor and installed with ADDFD; hidden ones fail with ENOENT; other
//!   opens continue in the kernel. That `continue` re-reads the path, so the
//!   Landlock ruleset carries the guarantee: with the view on, a rule covering
//!   `/proc` is narrowed (`carve_proc`) to `/proc`'s other entries, so the
//!   kernel never lets the child open anything beneath a `/proc/PID` itself.
//! - directory reads (`getdents64`, `getdents`) are always served from our
//!   copy of the descriptor: `/proc` lists only member PIDs, `/proc/PID/task`
//!   only member TIDs, a directory inside a hidden process fails with ENOENT.
//! - `chdir` is checked on a resolution of its own and then continues (the
//!   kernel offers no way to change another process's cwd): a thread racing
//!   it can enter a hidden `/proc/PID`, and learns that it exists, but every
//!   later access relative to that cwd is resolved and hidden as above.
//!
//! Whether a held descriptor is hidden is read from the descriptor: its file
//! system type (`fstatfs`: PROC_SUPER_MAGIC) and its path (`/proc/self/fd/N`),
//! whose first component after `/proc` is the PID (procfs entries cannot be
//! renamed). `/proc/self` and `/proc/thread-self` are rewritten to the caller's
//! PID/TID when the path starts with them; reached another way (a symlink to
//! `/proc/self`, `self` relative to a `/proc` descriptor) they would name the
//! supervisor, which is not a member, and so are missing (fail closed).
//!
//! **Memory** (`SL_LIMIT_MEMORY`): `sysinfo` reports the limit as the total
//! and the limit minus the sandbox's resident memory (never more than the host
//! has free) as free RAM; with the process view it also counts only the
//! sandbox's tasks in `procs`. Opens of `/proc/meminfo` get a synthesized file
//! with the same numbers (MemTotal, MemFree, MemAvailable) where opens are
//! notified anyway (the process view, a seed, a CPU count, a host name, open
//! events): a memory limit alone does not route every open through the
//! supervisor (BENCHMARKS.md, section g).

use super::dirs::{take_fd, Dirs};
use super::path::OpenCall;
use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Path calls routed to this handler with the view on (opens come with the
/// other open handlers).
pub const SYSCALLS: &[i64] = &[
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_access,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlink,
    libc::SYS_readlinkat,
    libc::SYS_statfs,
    libc::SYS_chdir,
    libc::SYS_getdents64,
    libc::SYS_getdents,
];

/// `statfs.f_type` of procfs (linux/magic.h).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

pub struct ProcView {
    /// Hide other processes (else only the memory view is on).
    hide: bool,
    /// SL_LIMIT_MEMORY in bytes, 0 = none.
    mem_limit: u64,
    /// Readable and writable roots, for opens done on the child's behalf.
    readable: Vec<PathBuf>,
    writable: Vec<PathBuf>,
    deny: Vec<PathBuf>,
    /// Listings of filtered /proc directories (sorted with a seed).
    dirs: Dirs,
    sorted: bool,
}

/// Where a descriptor held by the supervisor points.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// Not procfs.
    Other,
    /// The procfs root itself.
    Root,
    /// A procfs entry that belongs to no process (`cpuinfo`, `sys/...`, the
    /// `self` link itself).
    Shared(PathBuf),
    /// Inside `/proc/PID` (and `task/TID`, if there), with the rest of the path.
    Pid(libc::pid_t, Option<libc::pid_t>, PathBuf),
    /// Another procfs mount, or a path we cannot read: treated as hidden.
    Unknown,
}

fn own(fd: i64) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(crate::error::last_errno());
    }
    // SAFETY: a new fd owned here (checked non-negative).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn cstr(b: &[u8]) -> Result<CString, i32> {
    CString::new(b).map_err(|_| libc::EINVAL)
}

/// The path behind one of our descriptors.
fn fd_path(fd: RawFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

fn fstatfs_type(fd: RawFd) -> Option<i64> {
    // SAFETY: statfs is plain data; fstatfs fills it from our fd.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstatfs(fd, &mut s) } == 0).then_some(s.f_type)
}

fn fstat(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: stat is plain data; fstatat fills it from our fd.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: as above; an empty NUL-terminated path with AT_EMPTY_PATH.
    if unsafe { libc::fstatat(fd, empty.as_ptr(), &mut st, libc::AT_EMPTY_PATH) } != 0 {
        return Err(crate::error::last_errno());
    }
    Ok(st)
}

/// Classify a procfs path as the kernel names it (`/proc/...`).
fn place_of_path(p: &Path) -> Place {
    let Ok(rest) = p.strip_prefix("/proc") else {
        return Place::Unknown;
    };
    let mut comps = rest.components().map(|c| c.as_os_str().as_bytes());
    let Some(first) = comps.next() else {
        return Place::Root;
    };
    let Some(pid) = pid_name(first) else {
        // No shared entry starts with a digit; "123 (deleted)" is how the
        // kernel names the directory of a process that just died.
        if first.first().is_some_and(u8::is_ascii_digit) {
            return Place::Unknown;
        }
        return Place::Shared(rest.to_path_buf());
    };
    let tid = match (comps.next(), comps.next()) {
        (Some(b"task"), Some(t)) => match pid_name(t) {
            Some(t) => Some(t),
            None => return Place::Unknown,
        },
        _ => None,
    };
    Place::Pid(pid, tid, rest.to_path_buf())
}

/// A decimal PID as procfs spells it (no sign, no leading zero).
fn pid_name(b: &[u8]) -> Option<libc::pid_t> {
    if b.is_empty() || b.len() > 10 || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn place(fd: RawFd) -> Place {
    if fstatfs_type(fd) != Some(PROC_SUPER_MAGIC) {
        return Place::Other;
    }
    match fd_path(fd) {
        Some(p) => place_of_path(&p),
        None => Place::Unknown,
    }
}

fn visible(p: &Place, members: &HashSet<libc::pid_t>) -> bool {
    match p {
        Place::Other | Place::Root | Place::Shared(_) => true,
        Place::Pid(pid, tid, _) => {
            members.contains(pid) && tid.map_or(true, |t| members.contains(&t))
        }
        Place::Unknown => false,
    }
}

/// `/proc/self...` and `/proc/thread-self...` at the start of an absolute
/// path, spelled as the caller's own PID (the supervisor's `self` is not the
/// child's). `keep_link`: the path names the link itself (`lstat`,
/// `readlink`, `O_NOFOLLOW`), which is then left alone.
fn rewrite_self(path: &[u8], tgid: &Tgid, tid: libc::pid_t, keep_link: bool) -> Vec<u8> {
    if !path.starts_with(b"/") {
        return path.to_vec();
    }
    // Components with their end offsets, skipping empty and "." ones.
    let mut comps = Vec::new();
    let mut at = 0;
    for c in path.split(|&b| b == b'/') {
        let end = at + c.len();
        if !c.is_empty() && c != b"." {
            comps.push((c, end));
        }
        at = end + 1;
        if comps.len() == 2 {
            break;
        }
    }
    let [(b"proc", _), (link, end)] = comps[..] else {
        return path.to_vec();
    };
    let rest = &path[end.min(path.len())..];
    if keep_link && rest.is_empty() {
        return path.to_vec();
    }
    let me = match link {
        b"self" => format!("/proc/{}", tgid.get()),
        b"thread-self" => format!("/proc/{}/task/{tid}", tgid.get()),
        _ => return path.to_vec(),
    };
    let mut out = me.into_bytes();
    out.extend_from_slice(rest);
    out
}

/// The process of the calling task, found only if a call needs it (most
/// absolute paths do not).
pub(crate) struct Tgid {
    tid: libc::pid_t,
    tgid: std::cell::Cell<Option<libc::pid_t>>,
}

impl Tgid {
    fn new(tid: libc::pid_t) -> Tgid {
        Tgid {
            tid,
            tgid: std::cell::Cell::new(None),
        }
    }

    /// A leader is recognized with one `pidfd_open` (which refuses other
    /// threads: pidfd_open(2)), without reading its status.
    fn get(&self) -> libc::pid_t {
        if let Some(t) = self.tgid.get() {
            return t;
        }
        let tid = self.tid;
        // SAFETY: pidfd_open of a task of ours; the fd is ours on success.
        let t = match own(unsafe { libc::syscall(libc::SYS_pidfd_open, tid, 0) }) {
            Ok(_) => tid,
            Err(_) => crate::procfs::tgid(tid).unwrap_or(tid),
        };
        self.tgid.set(Some(t));
        t
    }
}

/// The start of the child's lookup: our copy of its dirfd, or its cwd.
fn base(tgid: &Tgid, tid: libc::pid_t, dirfd: i32) -> Result<OwnedFd, i32> {
    if dirfd == libc::AT_FDCWD {
        let p = cstr(format!("/proc/{tid}/cwd").as_bytes())?;
        // SAFETY: a NUL-terminated path; the fd is ours on success.
        own(unsafe { libc::open(p.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) } as i64)
    } else {
        take_fd(tgid.get(), dirfd).ok_or(libc::EBADF)
    }
}

/// What one notified call asks to look up.
struct Lookup {
    dirfd: i32,
    path: Vec<u8>,
    /// O_NOFOLLOW and/or O_DIRECTORY.
    oflags: i32,
    /// openat2's RESOLVE_* flags.
    resolve: u64,
    /// AT_EMPTY_PATH with an empty path: the dirfd itself.
    empty_ok: bool,
}

impl Lookup {
    /// The lookup of an `*at` call: `path` read from the child at `addr`
    /// (NULL only with AT_EMPTY_PATH, as statx allows since 6.11), with the
    /// call's AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH flags.
    fn at(tid: libc::pid_t, dirfd: i32, addr: u64, flags: i32) -> Result<Lookup, i32> {
        let path = if addr == 0 {
            if flags & libc::AT_EMPTY_PATH == 0 {
                return Err(libc::EFAULT);
            }
            Vec::new()
        } else {
            mem::read_cstr(tid, addr, libc::PATH_MAX as usize)?
        };
        Ok(Lookup {
            dirfd,
            path,
            oflags: if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
                libc::O_NOFOLLOW
            } else {
                0
            },
            resolve: 0,
            empty_ok: flags & libc::AT_EMPTY_PATH != 0,
        })
    }
}

/// `openat2(dirfd, path, O_PATH | oflags, resolve)` as the child would, held by us.
fn resolve(tgid: &Tgid, tid: libc::pid_t, l: &Lookup) -> Result<OwnedFd, i32> {
    if l.path.is_empty() {
        if !l.empty_ok {
            return Err(libc::ENOENT);
        }
        return base(tgid, tid, l.dirfd);
    }
    let keep_link = l.oflags & libc::O_NOFOLLOW != 0;
    let path = cstr(&rewrite_self(&l.path, tgid, tid, keep_link))?;
    let base = if path.as_bytes().starts_with(b"/") && l.resolve == 0 {
        None
    } else {
        Some(base(tgid, tid, l.dirfd)?)
    };
    // struct open_how: u64 flags, u64 mode, u64 resolve (linux/openat2.h).
    let how: [u64; 3] = [
        (libc::O_PATH | libc::O_CLOEXEC | l.oflags) as u64,
        0,
        l.resolve,
    ];
    let dfd = base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd());
    // SAFETY: a NUL-terminated path and a local open_how of the size passed;
    // the fd is ours on success.
    own(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dfd,
            path.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    })
}

fn write_all(pid: libc::pid_t, addr: u64, bytes: &[u8]) -> Result<(), i32> {
    match mem::write(pid, addr, bytes) {
        Ok(w) if w == bytes.len() => Ok(()),
        _ => Err(libc::EFAULT),
    }
}

/// The bytes of a plain-data value, for copying into the child.
fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: reads the bytes of a plain-data local for the copy.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

fn reply(r: Result<i64, i32>) -> Reply {
    match r {
        Ok(v) => Reply::Value(v),
        Err(e) => Reply::Errno(e),
    }
}

impl ProcView {
    /// The view for a request; None if it changes nothing.
    pub fn new(req: &crate::supervisor::proto::SpawnRequest) -> Option<ProcView> {
        let mem_limit = req.limits[crate::outcome::Limit::Memory.index()];
        if !req.proc_view && mem_limit == 0 {
            return None;
        }
        let paths = |v: &[Vec<u8>]| {
            v.iter()
                .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
                .collect()
        };
        Some(ProcView {
            hide: req.proc_view,
            mem_limit,
            readable: paths(&req.readable),
            writable: paths(&req.writable),
            deny: paths(&req.deny),
            dirs: Dirs::default(),
            sorted: req.seed.is_some(),
        })
    }

    /// Answer a call; None if it is not one of ours (the other handlers then
    /// see it, and finally the kernel).
    pub fn handle(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        members: &HashSet<libc::pid_t>,
    ) -> Option<Reply> {
        let nr = n.data.nr as i64;
        if nr == libc::SYS_sysinfo {
            return Some(self.sysinfo(n, members));
        }
        if matches!(nr, libc::SYS_open | libc::SYS_openat | libc::SYS_openat2) {
            return self.open(listener, n, members);
        }
        if !self.hide || !SYSCALLS.contains(&nr) {
            return None;
        }
        let tid = n.pid as libc::pid_t;
        let tgid = &Tgid::new(tid);
        if matches!(nr, libc::SYS_getdents64 | libc::SYS_getdents) {
            return Some(self.getdents(n, tgid, members));
        }
        let a = n.data.args;
        let lookup = |dirfd: i32, addr: u64, flags: i32| Lookup::at(tid, dirfd, addr, flags);
        let cwd = libc::AT_FDCWD;
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        let r = match nr {
            libc::SYS_stat => self.stat(tid, tgid, lookup(cwd, a[0], 0), a[1], members),
            libc::SYS_lstat => self.stat(tid, tgid, lookup(cwd, a[0], nofollow), a[1], members),
            libc::SYS_newfstatat => {
                let l = lookup(a[0] as i32, a[1], a[3] as i32);
                self.stat(tid, tgid, l, a[2], members)
            }
            libc::SYS_statx => self.statx(tid, tgid, n, members),
            libc::SYS_access => self.access(tid, tgid, lookup(cwd, a[0], 0), a[1], 0, members),
            libc::SYS_faccessat => {
                self.access(tid, tgid, lookup(a[0] as i32, a[1], 0), a[2], 0, members)
            }
            libc::SYS_faccessat2 => {
                let f = a[3] as i32;
                let l = lookup(a[0] as i32, a[1], f);
                self.access(tid, tgid, l, a[2], f, members)
            }
            libc::SYS_readlink => {
                self.readlink(tid, tgid, lookup(cwd, a[0], nofollow), a[1], a[2], members)
            }
            libc::SYS_readlinkat => {
                let l = lookup(a[0] as i32, a[1], nofollow | libc::AT_EMPTY_PATH);
                self.readlink(tid, tgid, l, a[2], a[3], members)
            }
            libc::SYS_statfs => self.statfs(tid, tgid, lookup(cwd, a[0], 0), a[1], members),
            libc::SYS_chdir => {
                let l = lookup(cwd, a[0], 0).map(|mut l| {
                    l.oflags |= libc::O_DIRECTORY;
                    l
                });
                return Some(match self.held(tid, tgid, l, members) {
                    Ok(_) => Reply::Continue,
                    Err(e) => Reply::Errno(e),
                });
            }
            _ => return None,
        };
        Some(reply(r))
    }

    /// The looked-up file, held by us, or ENOENT if it belongs to a hidden process.
    fn held(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        l: Result<Lookup, i32>,
        members: &HashSet<libc::pid_t>,
    ) -> Result<(OwnedFd, Place), i32> {
        let fd = resolve(tgid, tid, &l?)?;
        let p = place(fd.as_raw_fd());
        if !visible(&p, members) {
            return Err(libc::ENOENT);
        }
        Ok((fd, p))
    }

    fn stat(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        l: Result<Lookup, i32>,
        buf: u64,
        members: &HashSet<libc::pid_t>,
    ) -> Result<i64, i32> {
        let (fd, _) = self.held(tid, tgid, l, members)?;
        let st = fstat(fd.as_raw_fd())?;
        write_all(tid, buf, bytes_of(&st))?;
        Ok(0)
    }

    fn statx(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        n: &SeccompNotif,
        members: &HashSet<libc::pid_t>,
    ) -> Result<i64, i32> {
        let a = n.data.args;
        let (dirfd, addr, flags, mask, buf) = (a[0] as i32, a[1], a[2] as i32, a[3] as u32, a[4]);
        let l = Lookup::at(tid, dirfd, addr, flags)?;
        let (fd, _) = self.held(tid, tgid, Ok(l), members)?;
        // SAFETY: statx is plain data; the kernel fills it from our fd.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        let sync = flags & libc::AT_STATX_SYNC_TYPE;
        // SAFETY: an empty NUL-terminated path with AT_EMPTY_PATH, a local statx.
        if unsafe {
            libc::statx(
                fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH | sync,
                mask,
                &mut stx,
            )
        } != 0
        {
            return Err(crate::error::last_errno());
        }
        write_all(tid, buf, bytes_of(&stx))?;
        Ok(0)
    }

    fn access(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        l: Result<Lookup, i32>,
        mode: u64,
        flags: i32,
        members: &HashSet<libc::pid_t>,
    ) -> Result<i64, i32> {
        let (fd, _) = self.held(tid, tgid, l, members)?;
        // SAFETY: faccessat2 on our fd with an empty NUL-terminated path.
        let r = unsafe {
            libc::syscall(
                libc::SYS_faccessat2,
                fd.as_raw_fd(),
                c"".as_ptr(),
                mode as i32,
                libc::AT_EMPTY_PATH | (flags & libc::AT_EACCESS),
            )
        };
        if r != 0 {
            return Err(crate::error::last_errno());
        }
        Ok(0)
    }

    fn readlink(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        l: Result<Lookup, i32>,
        buf: u64,
        size: u64,
        members: &HashSet<libc::pid_t>,
    ) -> Result<i64, i32> {
        if size as i32 <= 0 {
            return Err(libc::EINVAL);
        }
        let (fd, p) = self.held(tid, tgid, l, members)?;
        if fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Err(libc::EINVAL);
        }
        let mut out = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: readlinkat on our O_PATH symlink fd into a local buffer.
        let r = unsafe {
            libc::readlinkat(
                fd.as_raw_fd(),
                c"".as_ptr(),
                out.as_mut_ptr().cast(),
                out.len(),
            )
        };
        if r < 0 {
            return Err(crate::error::last_errno());
        }
        out.truncate(r as usize);
        // The links that name the reader: ours would name the supervisor.
        if let Place::Shared(rest) = &p {
            if rest == Path::new("self") {
                out = tgid.get().to_string().into_bytes();
            } else if rest == Path::new("thread-self") {
                out = format!("{}/task/{tid}", tgid.get()).into_bytes();
            }
        }
        out.truncate(size as u32 as usize);
        write_all(tid, buf, &out)?;
        Ok(out.len() as i64)
    }

    fn statfs(
        &self,
        tid: libc::pid_t,
        tgid: &Tgid,
        l: Result<Lookup, i32>,
        buf: u64,
        members: &HashSet<libc::pid_t>,
    ) -> Result<i64, i32> {
        let (fd, _) = self.held(tid, tgid, l, members)?;
        // SAFETY: statfs is plain data; fstatfs fills it from our fd.
        let mut s: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut s) } != 0 {
            return Err(crate::error::last_errno());
        }
        write_all(tid, buf, bytes_of(&s))?;
        Ok(0)
    }

    /// Directory reads, always from our copy of the descriptor.
    fn getdents(&mut self, n: &SeccompNotif, tgid: &Tgid, members: &HashSet<libc::pid_t>) -> Reply {
        let tid = n.pid as libc::pid_t;
        let wide = n.data.nr as i64 == libc::SYS_getdents64;
        let a = n.data.args;
        let Some(dir) = take_fd(tgid.get(), a[0] as i32) else {
            return Reply::Errno(libc::EBADF);
        };
        // SAFETY: fcntl only inspects our fd.
        let fl = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_GETFL) };
        if fl < 0 || fl & libc::O_PATH != 0 {
            return Reply::Errno(libc::EBADF);
        }
        match fstat(dir.as_raw_fd()) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => return Reply::Errno(libc::ENOTDIR),
            Err(e) => return Reply::Errno(e),
        }
        let p = place(dir.as_raw_fd());
        if !visible(&p, members) {
            return Reply::Errno(libc::ENOENT);
        }
        let filtered = match &p {
            Place::Root => true,
            Place::Pid(_, None, rest) => rest
                .components()
                .nth(1)
                .is_some_and(|c| c.as_os_str() == "task" && rest.components().count() == 2),
            _ => false,
        };
        if filtered || self.sorted {
            let keep = |name: &[u8]| pid_name(name).map_or(true, |p| members.contains(&p));
            let keep_all = |_: &[u8]| true;
            let keep: &dyn Fn(&[u8]) -> bool = if filtered { &keep } else { &keep_all };
            return self
                .dirs
                .serve(n, dir, wide, keep, self.sorted)
                .unwrap_or(Reply::Errno(libc::EINVAL));
        }
        // The kernel's own answer, read through our copy (same open file and
        // offset), so the descriptor cannot be swapped after the check.
        let count = (a[2] as u32 as usize).min(1 << 20);
        let mut buf = vec![0u8; count];
        let sys = if wide {
            libc::SYS_getdents64
        } else {
            libc::SYS_getdents
        };
        // SAFETY: the kernel writes at most `count` bytes into our buffer.
        let r = unsafe { libc::syscall(sys, dir.as_raw_fd(), buf.as_mut_ptr(), count) };
        if r < 0 {
            return Reply::Errno(crate::error::last_errno());
        }
        match write_all(tid, a[1], &buf[..r as usize]) {
            Ok(()) => Reply::Value(r),
            Err(e) => Reply::Errno(e),
        }
    }

    /// Would the policy's rules let the child open `/proc/...` this way?
    fn allowed(&self, real: &Path, write: bool) -> bool {
        let under = |v: &[PathBuf]| v.iter().any(|w| real.starts_with(w));
        (under(&self.writable) || !write && under(&self.readable)) && !under(&self.deny)
    }

    fn open(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        members: &HashSet<libc::pid_t>,
    ) -> Option<Reply> {
        let call = OpenCall::of(n)?;
        let is_meminfo = self.mem_limit != 0 && call.file_name() == b"meminfo";
        if !self.hide && !is_meminfo || call.path.is_empty() {
            return None;
        }
        let tid = n.pid as libc::pid_t;
        let tgid = &Tgid::new(tid);
        let rflags = if n.data.nr as i64 == libc::SYS_openat2 {
            let mut how = [0u8; 24];
            match mem::read(tid, n.data.args[2], &mut how) {
                Ok(24) => u64::from_le_bytes(how[16..].try_into().unwrap_or_default()),
                _ => return Some(Reply::Errno(libc::EFAULT)),
            }
        } else {
            0
        };
        let f = call.flags;
        let l = Lookup {
            dirfd: call.dirfd,
            path: call.path.clone(),
            oflags: f & (libc::O_NOFOLLOW | libc::O_DIRECTORY),
            resolve: rflags,
            empty_ok: false,
        };
        // A name that does not resolve: the kernel gives the error (or creates
        // the file); a swapped path is then judged by Landlock.
        let held = resolve(tgid, tid, &l).ok()?;
        let p = place(held.as_raw_fd());
        if !visible(&p, members) {
            return self.hide.then_some(Reply::Errno(libc::ENOENT));
        }
        let cloexec = f & libc::O_CLOEXEC != 0;
        if is_meminfo
            && p == Place::Shared(PathBuf::from("meminfo"))
            && f & (libc::O_PATH | libc::O_ACCMODE) == libc::O_RDONLY
        {
            let text = self.meminfo(members);
            return Some(super::identity::serve(
                listener,
                n.id,
                "/proc/meminfo",
                text.as_bytes(),
                cloexec,
            ));
        }
        let Place::Pid(..) = p else {
            return None; // Landlock decides on everything but /proc/PID
        };
        if !self.hide {
            return None;
        }
        // A visible process's file: opened here, since the child's own
        // Landlock rules never reach beneath /proc/PID.
        let write =
            f & libc::O_ACCMODE != libc::O_RDONLY || f & (libc::O_TRUNC | libc::O_CREAT) != 0;
        let real = fd_path(held.as_raw_fd()).unwrap_or_default();
        if !self.allowed(&real, write) {
            return Some(Reply::Errno(libc::EACCES));
        }
        if f & libc::O_CREAT != 0 && f & libc::O_EXCL != 0 {
            return Some(Reply::Errno(libc::EEXIST));
        }
        let fd = if f & libc::O_PATH != 0 {
            held
        } else {
            let is_link =
                fstat(held.as_raw_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
            if is_link {
                return Some(Reply::Errno(libc::ELOOP)); // O_NOFOLLOW on a link
            }
            let again = f & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW)
                | libc::O_NOCTTY
                | libc::O_CLOEXEC;
            let proc = cstr(format!("/proc/self/fd/{}", held.as_raw_fd()).as_bytes()).ok()?;
            // SAFETY: a NUL-terminated path; the fd is ours on success.
            match own(unsafe { libc::open(proc.as_ptr(), again, 0) } as i64) {
                Ok(fd) => fd,
                Err(e) => return Some(Reply::Errno(e)),
            }
        };
        Some(
            match notify::addfd(listener, n.id, fd.as_raw_fd(), None, cloexec, true) {
                Ok(_) | Err(libc::ENOENT) => Reply::Done,
                Err(e) => Reply::Errno(e),
            },
        )
    }

    /// Resident bytes of the sandbox's processes.
    fn rss(members: &HashSet<libc::pid_t>) -> u64 {
        members
            .iter()
            .filter(|&&p| crate::procfs::tgid(p) == Some(p))
            .map(|&p| crate::supervisor::process::usage(p).0)
            .sum()
    }

    /// /proc/meminfo with the memory limit as the machine's memory.
    fn meminfo(&self, members: &HashSet<libc::pid_t>) -> String {
        let real = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        synth_meminfo(&real, self.mem_limit, Self::rss(members))
    }

    fn sysinfo(&self, n: &SeccompNotif, members: &HashSet<libc::pid_t>) -> Reply {
        // SAFETY: sysinfo is plain data; the kernel fills it.
        let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sysinfo(&mut si) } != 0 {
            return Reply::Errno(crate::error::last_errno());
        }
        if self.mem_limit != 0 {
            let unit = u64::from(si.mem_unit.max(1));
            let total = self.mem_limit;
            let free = total
                .saturating_sub(Self::rss(members))
                .min(si.freeram as u64 * unit);
            si.totalram = (total / unit) as _;
            si.freeram = (free / unit) as _;
            si.sharedram = si.sharedram.min(si.totalram);
            si.bufferram = si.bufferram.min(si.freeram);
        }
        if self.hide {
            si.procs = members.len().min(u16::MAX as usize) as u16;
        }
        match write_all(n.pid as libc::pid_t, n.data.args[0], bytes_of(&si)) {
            Ok(()) => Reply::Value(0),
            Err(e) => Reply::Errno(e),
        }
    }
}

/// /proc/meminfo for a machine of `limit` bytes of which the sandbox uses `rss`.
pub fn synth_meminfo(real: &str, limit: u64, rss: u64) -> String {
    let total = limit / 1024;
    let field = |k: &str| {
        real.lines().find_map(|l| {
            let (key, v) = l.split_once(':')?;
            (key == k).then(|| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        })
    };
    let free = total
        .saturating_sub(rss / 1024)
        .min(field("MemFree").unwrap_or(u64::MAX));
    let avail = total
        .saturating_sub(rss / 1024)
        .min(field("MemAvailable").unwrap_or(u64::MAX))
        .max(free);
    let mut out = String::new();
    for line in real.lines() {
        let Some((key, v)) = line.split_once(':') else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let Some(kb) = v
            .trim()
            .strip_suffix("kB")
            .and_then(|n| n.trim().parse::<u64>().ok())
        else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let value = match key {
            "MemTotal" => total,
            "MemFree" => free,
            "MemAvailable" => avail,
            // Caches of a machine this small: none of the host's.
            "Buffers" | "Cached" | "SwapCached" | "Shmem" | "SReclaimable" => 0,
            // Sizes that are not the machine's memory.
            k if k.starts_with("Swap")
                || k.starts_with("Vmalloc")
                || k.starts_with("DirectMap")
                || k.starts_with("Commit")
                || k.starts_with("Huge")
                || k == "Hugetlb" =>
            {
                kb
            }
            _ => kb.min(total),
        };
        // The kernel's layout: the key and colon padded to 16, the number to 8.
        out.push_str(&format!("{:<16}{value:>8} kB\n", format!("{key}:")));
    }
    out
}

/// With the view on, a rule that covers `/proc` (`/` or `/proc` itself) no
/// longer covers the processes' directories: `/proc` keeps only its names
/// (ReadDir), and each of its other entries present now gets the rule. The
/// `self`, `thread-self`, `mounts`, `net` ... links get none: they resolve into
/// `/proc/PID`, which the supervisor opens on the child's behalf.
pub(crate) fn carve_proc(
    rules: Vec<(PathBuf, landlock::BitFlags<landlock::AccessFs>)>,
) -> Vec<(PathBuf, landlock::BitFlags<landlock::AccessFs>)> {
    use landlock::{AccessFs, BitFlags};
    let proc = Path::new("/proc");
    let mut out = Vec::new();
    for (path, r) in rules {
        if !proc.starts_with(&path) {
            out.push((path, r));
            continue;
        }
        if path != proc {
            out.extend(crate::landlock::carve(
                vec![(path.clone(), r)],
                &[proc.to_path_buf()],
            ));
        }
        if r.contains(AccessFs::ReadDir) {
            out.push((proc.to_path_buf(), BitFlags::from(AccessFs::ReadDir)));
        }
        let Ok(entries) = std::fs::read_dir(proc) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if pid_name(name.as_bytes()).is_some() || e.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            out.push((e.path(), r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        assert_eq!(place_of_path(Path::new("/proc")), Place::Root);
        assert_eq!(
            place_of_path(Path::new("/proc/cpuinfo")),
            Place::Shared("cpuinfo".into())
        );
        assert_eq!(
            place_of_path(Path::new("/proc/12/status")),
            Place::Pid(12, None, "12/status".into())
        );
        assert_eq!(
            place_of_path(Path::new("/proc/12/task/13/comm")),
            Place::Pid(12, Some(13), "12/task/13/comm".into())
        );
        assert_eq!(place_of_path(Path::new("/other/proc/1")), Place::Unknown);
        assert_eq!(
            place_of_path(Path::new("/proc/12 (deleted)")),
            Place::Unknown
        );
        assert_eq!(pid_name(b"012"), None);
        assert_eq!(pid_name(b"-1"), None);
        assert_eq!(pid_name(b"7"), Some(7));
        let m: HashSet<libc::pid_t> = [12].into_iter().collect();
        assert!(visible(&place_of_path(Path::new("/proc/12/status")), &m));
        assert!(!visible(&place_of_path(Path::new("/proc/1/status")), &m));
        assert!(!visible(&place_of_path(Path::new("/proc/12/task/13")), &m));
        assert!(!visible(&Place::Unknown, &m));
    }

    #[test]
    fn self_is_the_caller() {
        let t = Tgid::new(8);
        t.tgid.set(Some(7));
        let r = |p: &[u8], keep| String::from_utf8(rewrite_self(p, &t, 8, keep)).unwrap();
        assert_eq!(r(b"/proc/self/status", false), "/proc/7/status");
        assert_eq!(r(b"//proc/./self/fd/", false), "/proc/7/fd/");
        assert_eq!(r(b"/proc/thread-self/comm", false), "/proc/7/task/8/comm");
        assert_eq!(r(b"/proc/self", false), "/proc/7");
        assert_eq!(r(b"/proc/self", true), "/proc/self");
        assert_eq!(r(b"/proc/self/exe", true), "/proc/7/exe");
        assert_eq!(r(b"/proc/selfish", false), "/proc/selfish");
        assert_eq!(r(b"/tmp/self", false), "/tmp/self");
        assert_eq!(r(b"self/status", false), "self/status");
    }

    #[test]
    fn meminfo_is_the_limit() {
        let real = "MemTotal:       16000000 kB\nMemFree:         8000000 kB\n\
                    MemAvailable:   12000000 kB\nBuffers:          100000 kB\n\
                    Cached:          3000000 kB\nSwapTotal:       2000000 kB\n\
                    Active:          5000000 kB\nHugePages_Total:       0\n";
        let s = synth_meminfo(real, 256 << 20, 16 << 20);
        assert!(s.contains("MemTotal:         262144 kB\n"), "{s}");
        assert!(s.contains("MemFree:          245760 kB\n"), "{s}");
        assert!(s.contains("MemAvailable:     245760 kB\n"), "{s}");
        assert!(s.contains("Cached:                0 kB\n"), "{s}");
        assert!(s.contains("SwapTotal:       2000000 kB\n"), "{s}");
        assert!(s.contains("Active:           262144 kB\n"), "{s}");
        assert!(s.contains("HugePages_Total:       0\n"), "{s}");
        // The host has less free than the limit would leave: the host wins.
        let tight = synth_meminfo(real, 64 << 30, 0);
        assert!(tight.contains("MemFree:         8000000 kB\n"), "{tight}");
    }
}
