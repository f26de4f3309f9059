//! Events: exec and open calls held until the host's callback decides.
//!
//! The supervisor never blocks on the host. A notified call whose kind the
//! handler wants is copied once (path, argv, flags), sent as `Report::Event`,
//! and left pending in the kernel (the calling thread sleeps); the loop goes on
//! serving every sandbox. `Command::Decide` completes it; so does the
//! deadline ([`crate::events::DECISION_TIMEOUT`], then EACCES).
//!
//! TOCTOU: what the callback saw must be what happens.
//! - **open**: on allow, the supervisor opens the *copied* path itself and
//!   installs the file in the child with an atomic ADDFD, so swapping the
//!   path in the child's memory after the copy changes nothing. The supervisor
//!   is not Landlocked, so it does that only when the file it opened (its real
//!   path, read back from the descriptor) lies beneath a rule of the policy
//!   that allows the access (read rules for reads, write rules for writes and
//!   creation) and beneath no denied path, never under /proc, and only for
//!   regular files and directories (a FIFO or device open could block the
//!   supervisor or act on opening). Otherwise
//!   the call continues and Landlock decides: then the kernel re-reads the
//!   path, and a racing thread could swap it for another path *that Landlock
//!   also allows outside the policy's rules* (the implicit /dev carve-outs).
//! - **exec**: an exec cannot be done on the child's behalf. The supervisor
//!   opens the program (`O_PATH`) when it copies the call; on allow, the call
//!   continues, and at the ptrace exec stop (before the new image runs one
//!   instruction) the supervisor checks that `/proc/PID/exe` is that same
//!   inode and that the new image's argv is the decided argv. A mismatch kills
//!   the sandbox. For a `#!` script, the running image is the interpreter: only
//!   the arguments after argv[0] are checked (documented weaker guarantee).
//!   With exec events on, an exec stop with no decision also kills the sandbox
//!   (only the first exec, which the host chose, needs none).

use super::net;
use super::path::{child_path, OpenCall};
use super::Reply;
use crate::events::{Event, KIND_BIND, KIND_CONNECT, KIND_DENIED, KIND_EXEC, KIND_OPEN};
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use crate::supervisor::proto::Report;
use crate::supervisor::sock;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Exec arguments larger than this (bytes) are refused with E2BIG while exec
/// events are on: the event must carry all of them.
pub const MAX_ARGV_BYTES: usize = 64 * 1024;
/// Send-buffer space kept free for the exit report.
const SEND_RESERVE: usize = 8192;

/// What the policy lets a TCP socket connect to (Landlock's port rules and
/// the destination rules) and bind to (port rules and local-address rules):
/// an allowed connect or bind event is carried out on behalf only then.
pub struct Ports {
    pub tcp: Vec<u16>,
    pub rules: Vec<net::ConnectRule>,
    pub tcp_bind: Vec<u16>,
    pub bind_rules: Vec<net::ConnectRule>,
}

pub struct Events {
    mask: u32,
    ports: Ports,
    readable: Vec<PathBuf>,
    writable: Vec<PathBuf>,
    deny: Vec<PathBuf>,
    pending: HashMap<u64, Pending>,
    /// Allowed execs, by calling thread: what the exec stop must show.
    expect: HashMap<libc::pid_t, Expect>,
    /// With `SL_EVENT_DENIED`: the calls the filter sends here instead of
    /// failing them (`denylist.rs`).
    denylist: Option<super::denylist::DenyList>,
}

pub struct Pending {
    pub n: SeccompNotif,
    pub deadline: Instant,
    what: What,
    /// Exec: the program path as copied (for refusal reports).
    exec_path: Vec<u8>,
}

enum What {
    Exec {
        file: OwnedFd,
        argv: Vec<Vec<u8>>,
    },
    Open {
        call: OpenCall,
        mode: u32,
    },
    /// The child's socket (duplicated at the copy) and the address copied
    /// once; `bind`: a bind, else a connect.
    Connect {
        sock: OwnedFd,
        raw: Vec<u8>,
        ip: std::net::IpAddr,
        port: u16,
        bind: bool,
        /// The socket type (SO_TYPE), for reports.
        ty: i32,
    },
}

struct Expect {
    dev: u64,
    ino: u64,
    argv: Vec<Vec<u8>>,
    script: bool,
}

fn errno() -> i32 {
    crate::error::last_errno()
}

fn canon(v: &[Vec<u8>]) -> Vec<PathBuf> {
    v.iter()
        .map(|b| {
            let p = Path::new(std::ffi::OsStr::from_bytes(b));
            std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
        })
        .collect()
}

fn open_raw(path: &Path, flags: i32, mode: u32) -> Result<OwnedFd, i32> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: opening a NUL-terminated path we built; the fd is ours on success.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a new fd owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: fstat fills a local struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
}

fn real_path(fd: RawFd) -> PathBuf {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default()
}

fn family_of(ip: std::net::IpAddr) -> i32 {
    if ip.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

/// A connect or bind to decide on: the child's socket, duplicated now, and
/// its address, copied once. Ok(None): not an IPv4/IPv6 socket, the call
/// continues unchanged. Err: the answer (an unreadable address, a bad
/// descriptor). An IPv4/IPv6 socket given an address of another family
/// (AF_UNSPEC disconnects) is connected (bound) on behalf at once with the
/// copied bytes, without an event, so a racing thread cannot turn it into an
/// IP address afterwards (the kernel then gives its own error).
fn connect_event(
    listener: RawFd,
    pid: libc::pid_t,
    n: &SeccompNotif,
    bind: bool,
) -> Result<Option<(Event, What)>, Reply> {
    let [fd, addr, len, ..] = n.data.args;
    let sock = net::child_fd(pid, fd as i32).map_err(Reply::Errno)?;
    match net::sockopt(&sock, libc::SO_DOMAIN) {
        Ok(libc::AF_INET | libc::AF_INET6) => {}
        Ok(_) => return Ok(None),
        Err(e) => return Err(Reply::Errno(e)),
    }
    let ty = net::sockopt(&sock, libc::SO_TYPE).unwrap_or(0);
    let len = len as u32 as usize;
    if len > std::mem::size_of::<libc::sockaddr_storage>() {
        return Err(Reply::Errno(libc::EINVAL));
    }
    let mut raw = vec![0u8; len];
    if mem::read(pid, addr, &mut raw).ok() != Some(len) {
        return Err(Reply::Errno(libc::EFAULT));
    }
    let Some((ip, port)) = net::destination(&raw) else {
        // The socket and address belong to the task that made the call (mem.rs).
        if !notify::id_valid(listener, n.id) {
            return Err(Reply::Done);
        }
        // No IPv4/IPv6 address (AF_UNSPEC disconnects, another family or a
        // short address is refused): such a connect never waits.
        return Err(if bind {
            net::bind_sock(&sock, &raw)
        } else {
            match super::connect::connect_once(sock.as_raw_fd(), &raw) {
                Ok(()) => Reply::Value(0),
                Err(e) => Reply::Errno(e),
            }
        });
    };
    let ev = Event {
        kind: if bind { KIND_BIND } else { KIND_CONNECT },
        pid,
        nr: n.data.nr as i64,
        flags: ty,
        address: ip.to_string(),
        port: port as i32,
        family: family_of(ip),
        ..Event::default()
    };
    Ok(Some((
        ev,
        What::Connect {
            sock,
            raw,
            ip,
            port,
            bind,
            ty,
        },
    )))
}

/// The NUL-terminated pointer array at `addr`, and the strings it points to.
fn read_argv(pid: libc::pid_t, addr: u64) -> Result<Vec<Vec<u8>>, i32> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    for i in 0.. {
        let mut p = [0u8; 8];
        if mem::read(pid, addr + 8 * i, &mut p)? != 8 {
            return Err(libc::EFAULT);
        }
        let p = u64::from_le_bytes(p);
        if p == 0 {
            break;
        }
        let s =
            mem::read_cstr(pid, p, MAX_ARGV_BYTES - total.min(MAX_ARGV_BYTES)).map_err(|e| {
                if e == libc::ENAMETOOLONG {
                    libc::E2BIG
                } else {
                    e
                }
            })?;
        total += s.len() + 1;
        if total > MAX_ARGV_BYTES {
            return Err(libc::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

fn child_umask(pid: libc::pid_t) -> u32 {
    crate::procfs::Status::of(pid)
        .and_then(|st| u32::from_str_radix(st.field("Umask")?, 8).ok())
        .unwrap_or(0o022)
}

impl Events {
    pub fn new(
        mask: u32,
        readable: &[Vec<u8>],
        writable: &[Vec<u8>],
        deny: &[Vec<u8>],
        ports: Ports,
    ) -> Events {
        Events {
            mask,
            ports,
            readable: canon(readable),
            writable: canon(writable),
            deny: canon(deny),
            pending: HashMap::new(),
            expect: HashMap::new(),
            denylist: None,
        }
    }

    /// Answer (and report) the deny list's calls, which the filter sends to
    /// the supervisor when the handler wants `SL_EVENT_DENIED`.
    pub fn with_deny_list(mut self, req: &crate::supervisor::proto::SpawnRequest) -> Events {
        if self.mask & KIND_DENIED != 0 {
            self.denylist = Some(super::denylist::DenyList::new(req));
        }
        self
    }

    /// If `n` is a call the host wants to decide: copy it, send the event on
    /// `host` and keep it pending (Some(Done)), or answer it at once on
    /// failure. None: not an event; serve it as usual.
    pub fn hold(
        &mut self,
        listener: RawFd,
        n: &SeccompNotif,
        host: Option<RawFd>,
    ) -> Option<Reply> {
        if let Some((errno, ev)) = self.denylist.as_ref().and_then(|d| d.check(n)) {
            self.report_denied(host, ev);
            return Some(Reply::Errno(errno));
        }
        let nr = n.data.nr as i64;
        let pid = n.pid as libc::pid_t;
        let a = n.data.args;
        let is_exec = matches!(nr, libc::SYS_execve | libc::SYS_execveat);
        let is_open = matches!(nr, libc::SYS_open | libc::SYS_openat | libc::SYS_openat2);
        let is_connect = nr == libc::SYS_connect;
        let is_bind = nr == libc::SYS_bind;
        if !(is_exec && self.mask & KIND_EXEC != 0
            || is_open && self.mask & KIND_OPEN != 0
            || is_connect && self.mask & KIND_CONNECT != 0
            || is_bind && self.mask & KIND_BIND != 0)
        {
            return None;
        }
        let (event, what) = if is_connect || is_bind {
            match connect_event(listener, pid, n, is_bind) {
                Ok(Some(x)) => x,
                Ok(None) => return None,
                Err(r) => return Some(r),
            }
        } else if is_exec {
            let (dirfd, addr, argv_addr, flags) = if nr == libc::SYS_execve {
                (libc::AT_FDCWD, a[0], a[1], 0)
            } else {
                (a[0] as i32, a[1], a[2], a[4] as i32)
            };
            let path = match mem::read_cstr(pid, addr, libc::PATH_MAX as usize) {
                Ok(p) => p,
                Err(e) => return Some(Reply::Errno(e)),
            };
            let argv = match read_argv(pid, argv_addr) {
                Ok(v) => v,
                Err(e) => return Some(Reply::Errno(e)),
            };
            let target = if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                PathBuf::from(format!("/proc/{pid}/fd/{dirfd}"))
            } else if path.is_empty() {
                return Some(Reply::Errno(libc::ENOENT));
            } else {
                child_path(pid, dirfd, &path)
            };
            let nofollow = if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
                libc::O_NOFOLLOW
            } else {
                0
            };
            // A program that cannot be opened cannot be run either: answer with
            // the same error, without asking (execvp tries many such paths).
            let file = match open_raw(&target, libc::O_PATH | nofollow, 0) {
                Ok(f) => f,
                Err(e) => return Some(Reply::Errno(e)),
            };
            let ev = Event {
                kind: KIND_EXEC,
                pid,
                path,
                argv: argv.clone(),
                flags: 0,
                nr,
                ..Event::default()
            };
            (ev, What::Exec { file, argv })
        } else {
            let Some(call) = OpenCall::of(n) else {
                return Some(Reply::Errno(libc::EFAULT));
            };
            let mode = match nr {
                libc::SYS_open => a[2] as u32,
                libc::SYS_openat => a[3] as u32,
                _ => {
                    let mut how = [0u8; 16];
                    match mem::read(pid, a[2], &mut how) {
                        Ok(16) => {
                            u64::from_le_bytes(how[8..].try_into().unwrap_or_default()) as u32
                        }
                        _ => return Some(Reply::Errno(libc::EFAULT)),
                    }
                }
            };
            let ev = Event {
                kind: KIND_OPEN,
                pid,
                path: call.path.clone(),
                argv: Vec::new(),
                flags: call.flags,
                nr,
                ..Event::default()
            };
            (ev, What::Open { call, mode })
        };
        // What was read belongs to the task that made the call (mem.rs).
        if !notify::id_valid(listener, n.id) {
            return Some(Reply::Done);
        }
        let Some(host) = host else {
            return Some(Reply::Errno(libc::EACCES));
        };
        // Never wait for the host, and always leave room for the exit report:
        // while the host does not read (a slow callback), new events are denied.
        let exec_path = if is_exec {
            event.path.clone()
        } else {
            Vec::new()
        };
        let msg = Report::Event { id: n.id, event }.encode();
        if sock::room(host) < 2 * msg.len() + SEND_RESERVE || sock::send_nowait(host, &msg).is_err()
        {
            return Some(Reply::Errno(libc::EACCES));
        }
        self.pending.insert(
            n.id,
            Pending {
                n: *n,
                deadline: Instant::now() + crate::events::DECISION_TIMEOUT,
                what,
                exec_path,
            },
        );
        Some(Reply::Done)
    }

    /// Tell the host (if it asked for `SL_EVENT_DENIED`) that the library
    /// refused a call itself. Best effort: dropped if the host is not reading.
    pub fn report_denied(&self, host: Option<RawFd>, ev: Event) {
        let Some(host) = host else {
            return;
        };
        if self.mask & KIND_DENIED == 0 {
            return;
        }
        let msg = Report::Event { id: 0, event: ev }.encode();
        if sock::room(host) >= 2 * msg.len() + SEND_RESERVE {
            let _ = sock::send_nowait(host, &msg);
        }
    }

    /// A refusal report about held call `p`.
    pub fn denied_event(p: &Pending, errno: i32, reason: &str) -> Event {
        let (kind, path, argv, flags) = match &p.what {
            What::Exec { argv, .. } => (KIND_EXEC, Vec::new(), argv.clone(), 0),
            What::Open { call, .. } => (KIND_OPEN, call.path.clone(), Vec::new(), call.flags),
            What::Connect {
                bind: false, ty, ..
            } => (KIND_CONNECT, Vec::new(), Vec::new(), *ty),
            What::Connect { bind: true, ty, .. } => (KIND_BIND, Vec::new(), Vec::new(), *ty),
        };
        let (address, port, family) = match &p.what {
            What::Connect { ip, port, .. } => (ip.to_string(), *port as i32, family_of(*ip)),
            _ => (String::new(), 0, 0),
        };
        let path = if kind == KIND_EXEC {
            p.exec_path.clone()
        } else {
            path
        };
        Event {
            kind: KIND_DENIED | kind << 8,
            pid: p.n.pid as i32,
            path,
            argv,
            flags,
            nr: p.n.data.nr as i64,
            errno,
            reason: reason.into(),
            address,
            port,
            family,
        }
    }

    pub fn take(&mut self, id: u64) -> Option<Pending> {
        self.pending.remove(&id)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Pending calls whose decision is overdue, removed.
    pub fn expired(&mut self, now: Instant) -> Vec<Pending> {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.pending.remove(&id))
            .collect()
    }

    /// Carry out an allowed call; `other` is the answer of the usual handlers
    /// (identity, random…), which keep serving the files they synthesize.
    /// A connect the policy refuses is reported to `host` (`KIND_DENIED`);
    /// one it allows is started in `connects` (`Reply::Done` while under way).
    pub fn allow(
        &mut self,
        listener: RawFd,
        host: Option<RawFd>,
        p: Pending,
        connects: &mut super::connect::Connects,
        other: impl FnOnce() -> Reply,
    ) -> Reply {
        let id = p.n.id;
        let refusal = match p.what {
            What::Connect { bind: false, .. } => Some(
                "allowed by the event callback but not by the policy's TCP ports or destination rules",
            ),
            What::Connect { bind: true, .. } => Some(
                "allowed by the event callback but not by the policy's TCP bind ports or bind rules",
            ),
            _ => None,
        }
        .map(|why| Self::denied_event(&p, libc::EACCES, why));
        match p.what {
            What::Exec { file, argv } => {
                let Some(st) = fstat(file.as_raw_fd()) else {
                    return Reply::Errno(libc::EACCES);
                };
                // The kernel runs only regular files; and reading a FIFO's
                // first bytes below would block the supervisor.
                if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Reply::Errno(libc::EACCES);
                }
                let script = std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))
                    .ok()
                    .and_then(|mut f| {
                        let mut b = [0u8; 2];
                        std::io::Read::read_exact(&mut f, &mut b)
                            .ok()
                            .map(|_| b == *b"#!")
                    })
                    .unwrap_or(false);
                self.expect.insert(
                    p.n.pid as libc::pid_t,
                    Expect {
                        dev: st.st_dev,
                        ino: st.st_ino,
                        argv,
                        script,
                    },
                );
                Reply::Continue
            }
            What::Open { call, mode } => match other() {
                Reply::Continue => self.open_for(listener, &p.n, &call, mode),
                r => r,
            },
            // Never `other()`: the usual handler would read the address again.
            What::Connect {
                sock,
                raw,
                ip,
                port,
                bind,
                ..
            } => {
                if bind && self.bind_allowed(&sock, ip, port) {
                    net::bind_sock(&sock, &raw)
                } else if !bind && self.connect_allowed(&sock, ip, port) {
                    connects.start(id, sock, &raw)
                } else {
                    if let Some(ev) = refusal {
                        self.report_denied(host, ev);
                    }
                    Reply::Errno(libc::EACCES)
                }
            }
        }
    }

    /// Would the policy let `sock` connect to `ip`:`port` anyway? The
    /// supervisor is not Landlocked, so it connects on behalf only then: a TCP
    /// port allowed by the policy, or a destination rule. Other sockets
    /// (UDP, which exists only when the policy allows it) are not port-checked.
    fn connect_allowed(&self, sock: &OwnedFd, ip: std::net::IpAddr, port: u16) -> bool {
        if net::sockopt(sock, libc::SO_PROTOCOL) != Ok(libc::IPPROTO_TCP) {
            return true;
        }
        self.ports.tcp.contains(&port) || self.ports.rules.iter().any(|r| r.matches(ip, port))
    }

    /// Would the policy let `sock` bind to `ip`:`port` anyway? As for
    /// connects: a TCP bind port of the policy (0 = an ephemeral port, as
    /// Landlock counts it) or a bind rule; UDP sockets are not port-checked.
    fn bind_allowed(&self, sock: &OwnedFd, ip: std::net::IpAddr, port: u16) -> bool {
        if net::sockopt(sock, libc::SO_PROTOCOL) != Ok(libc::IPPROTO_TCP) {
            return true;
        }
        self.ports.tcp_bind.contains(&port)
            || self.ports.bind_rules.iter().any(|r| r.matches(ip, port))
    }

    fn allowed(&self, real: &Path, write: bool) -> bool {
        if real.starts_with("/proc") || !real.is_absolute() {
            return false;
        }
        let under = |v: &[PathBuf]| v.iter().any(|w| real.starts_with(w));
        (under(&self.writable) || !write && under(&self.readable)) && !under(&self.deny)
    }

    /// Open the decided path on the child's behalf and install the file, if
    /// the policy allows it; else let the kernel (and Landlock) run the call.
    fn open_for(&self, listener: RawFd, n: &SeccompNotif, call: &OpenCall, mode: u32) -> Reply {
        let pid = n.pid as libc::pid_t;
        let f = call.flags;
        if call.path.is_empty() {
            return Reply::Errno(libc::ENOENT);
        }
        let write =
            f & libc::O_ACCMODE != libc::O_RDONLY || f & (libc::O_TRUNC | libc::O_CREAT) != 0;
        let target = child_path(pid, call.dirfd, &call.path);
        let cloexec = f & libc::O_CLOEXEC != 0;
        let fd = match open_raw(
            &target,
            libc::O_PATH | (f & (libc::O_NOFOLLOW | libc::O_DIRECTORY)),
            0,
        ) {
            Ok(held) => {
                let real = real_path(held.as_raw_fd());
                // Only regular files and directories: opening a FIFO or a
                // device could block the supervisor (or have side effects).
                let plain = fstat(held.as_raw_fd()).is_some_and(|st| {
                    matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR)
                });
                if !plain || !self.allowed(&real, write) {
                    return Reply::Continue;
                }
                if f & libc::O_CREAT != 0 && f & libc::O_EXCL != 0 {
                    return Reply::Errno(libc::EEXIST);
                }
                if f & libc::O_PATH != 0 {
                    held
                } else {
                    let again =
                        f & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW) | libc::O_NOCTTY;
                    let proc = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
                    match open_raw(&proc, again, 0) {
                        Ok(fd) => fd,
                        Err(e) => return Reply::Errno(e),
                    }
                }
            }
            Err(libc::ENOENT) if f & libc::O_CREAT != 0 => {
                let name = call.file_name();
                if name.is_empty() || name == b"." || name == b".." {
                    return Reply::Continue;
                }
                let dir = &call.path[..call.path.len() - name.len()];
                let dir = if dir.is_empty() { &b"."[..] } else { dir };
                let Ok(parent) = open_raw(
                    &child_path(pid, call.dirfd, dir),
                    libc::O_PATH | libc::O_DIRECTORY,
                    0,
                ) else {
                    return Reply::Continue;
                };
                let real = real_path(parent.as_raw_fd()).join(std::ffi::OsStr::from_bytes(name));
                if !self.allowed(&real, true) {
                    return Reply::Continue;
                }
                let Ok(c) = CString::new(name) else {
                    return Reply::Errno(libc::EINVAL);
                };
                let mode = mode & 0o7777 & !child_umask(pid);
                // SAFETY: umask swaps are process-wide but the supervisor has one thread;
                // openat on a directory fd we hold with a NUL-terminated name.
                let fd = unsafe {
                    let old = libc::umask(0);
                    let fd = libc::openat(
                        parent.as_raw_fd(),
                        c.as_ptr(),
                        f | libc::O_CLOEXEC | libc::O_NOCTTY,
                        mode,
                    );
                    libc::umask(old);
                    fd
                };
                if fd < 0 {
                    return Reply::Errno(errno());
                }
                // SAFETY: a new fd owned here.
                unsafe { OwnedFd::from_raw_fd(fd) }
            }
            Err(e) => return Reply::Errno(e),
        };
        match notify::addfd(listener, n.id, fd.as_raw_fd(), None, cloexec, true) {
            Ok(_) | Err(libc::ENOENT) => Reply::Done,
            Err(e) => Reply::Errno(e),
        }
    }

    /// At the exec stop of `pid` (formerly `former`): does the new image match
    /// the decision? Err says why not.
    pub fn check_exec(&mut self, pid: libc::pid_t, former: libc::pid_t) -> Result<(), String> {
        if self.mask & KIND_EXEC == 0 {
            return Ok(());
        }
        let Some(e) = self.expect.remove(&former) else {
            return Err("an exec that no decision allowed".into());
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut got: Vec<Vec<u8>> = cmdline.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
        if cmdline.last() == Some(&0) || cmdline.is_empty() {
            got.pop();
        }
        if e.script {
            let tail = e.argv.get(1..).unwrap_or(&[]);
            if !got.ends_with(tail) {
                return Err("the script's arguments changed after the decision".into());
            }
            return Ok(());
        }
        let exe = std::fs::metadata(format!("/proc/{pid}/exe"));
        let same = exe.is_ok_and(|m| {
            std::os::unix::fs::MetadataExt::dev(&m) == e.dev
                && std::os::unix::fs::MetadataExt::ino(&m) == e.ino
        });
        if !same {
            return Err("the program changed after the decision".into());
        }
        let empty_ok = e.argv.is_empty() && (got.is_empty() || got == [Vec::<u8>::new()]);
        if got != e.argv && !empty_ok {
            return Err("the arguments changed after the decision".into());
        }
        Ok(())
    }
}
