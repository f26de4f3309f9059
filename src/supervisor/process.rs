//! The supervisor process: one thread, one poll loop.
//!
//! It watches the control socket (spawn requests), a signalfd for SIGCHLD (ptrace
//! stops and exits, handled in `trace.rs`), each sandbox's host socket (kill,
//! hang-up) and seccomp listener, and the seeded pipes it keeps full. Handling
//! everything on one thread keeps ptrace legal (only the tracer thread may
//! issue requests) and makes pid reuse impossible while a notification is
//! being served (see `seccomp/mem.rs`).

use super::launch::{self, RequestFds};
use super::proto::{Command, Report, SpawnRequest, BUF_LEN};
use super::sock;
use crate::error::{Code, Error};
use crate::handlers::{
    self, dirs::Dirs, events::Events, identity::Identity, random::Random, time::Clock,
};
use crate::outcome::{End, Limit, Limits};
use crate::seccomp::notify;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

pub(crate) struct Sandbox {
    /// The host's end of this child's socket; None once the host let go.
    pub host: Option<OwnedFd>,
    pub main_pid: libc::pid_t,
    pub listener: Option<OwnedFd>,
    /// Every traced task (process or thread) of this sandbox.
    pub members: HashSet<libc::pid_t>,
    pub main_status: Option<i32>,
    /// Why the supervisor ended it, if it did (timeout, limit, kill, seccomp).
    pub cause: Option<(End, i64)>,
    pub limits: Limits,
    /// CPU ticks used by processes that already exited (for the CPU limit).
    pub cpu_spent_ticks: u64,
    /// The CPU ticks last seen for each live process.
    pub cpu_last: HashMap<libc::pid_t, u64>,
    pub deadline: Option<Instant>,
    pub random: Option<Random>,
    /// The virtual clock (None: real time).
    pub clock: Option<Clock>,
    /// CPU count, host name, seeded UUIDs (None: the host's).
    pub identity: Option<Identity>,
    /// Sorted directory listings (with a seed).
    pub dirs: Option<Dirs>,
    /// Where chmod/chown/utimes/xattr may act.
    pub metadata: crate::handlers::metadata::Metadata,
    /// Socket families, UDP, destination rules.
    pub net: crate::handlers::net::Net,
    /// What each exec stop does, and the lineage of every task.
    pub exec: crate::trace::ExecState,
    /// Calls held for the host's event callback (None: no handler).
    pub events: Option<crate::handlers::events::Events>,
    /// The /proc view and the memory limit's meminfo/sysinfo (None: the host's).
    pub procview: Option<crate::handlers::procview::ProcView>,
    /// The copy-on-write workdir's merged view (None: no workdir).
    pub cow: Option<crate::handlers::cow::Cow>,
}

pub(crate) struct Supervisor {
    ctl: OwnedFd,
    sigfd: OwnedFd,
    pub sandboxes: HashMap<u64, Sandbox>,
    next_limit_check: Instant,
    /// Which sandbox each traced task belongs to.
    pub owner: HashMap<libc::pid_t, u64>,
    /// Tasks whose first ptrace stop has been seen (later PTRACE_EVENT_STOPs are group stops).
    pub started: HashSet<libc::pid_t>,
    next_id: u64,
    /// Spawns between clone and their first exec stop, by pid (`launch.rs`).
    launching: HashMap<libc::pid_t, Launching>,
}

/// A spawn under way: the child, its request, who waits for the answer.
struct Launching {
    launch: launch::Launch,
    req: SpawnRequest,
    reply_to: OwnedFd,
    exec: crate::trace::ExecState,
}

#[derive(Clone, Copy)]
enum Tag {
    Ctl,
    Sig,
    Host(u64),
    Listener(u64),
    Feed(u64, usize),
    /// A connect made on behalf, under way (sandbox, notification id).
    Connect(u64, u64),
    /// The status socket of a spawn under way (its child's pid).
    Launch(libc::pid_t),
}

/// Entry from `entry.rs`: returns the exit code.
pub fn main() -> i32 {
    // Run by hand (no control socket at fd 3): say what this file is.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat fills a local struct; fd 3 may be closed.
    if unsafe { libc::fstat(super::link::CTL_FD, &mut st) } != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFSOCK
    {
        eprintln!(
            "libsandlock {}: the sandlock library. It runs as a program only as the \
             sandbox supervisor, started by the library itself.",
            crate::features::VERSION_CSTR.to_string_lossy()
        );
        return 2;
    }
    // Fork once so the long-lived supervisor is not the host's child.
    // SAFETY: single-threaded at this point; the parent only exits.
    match unsafe { libc::fork() } {
        -1 => return 1,
        0 => {}
        _ => return 0,
    }
    // SAFETY: plain prctl/signal calls on ourselves.
    unsafe {
        // Orphans of sandboxed processes come back to us, not to init.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        // A host or reader that went away must give EPIPE, not kill us.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    drop_own_capabilities();
    let sigfd = match child_signalfd() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("sandlock supervisor: {e}");
            return 1;
        }
    };
    // SAFETY: fd 3 is the control socket the library placed there for us.
    let ctl = unsafe { OwnedFd::from_raw_fd(super::link::CTL_FD) };
    // SAFETY: sets close-on-exec on our own fd, so children never inherit it.
    unsafe { libc::fcntl(ctl.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut hello = vec![b'H'];
    hello.extend_from_slice(&(std::process::id() as i32).to_le_bytes());
    if sock::send(ctl.as_raw_fd(), &hello, &[]).is_err() {
        return 1;
    }
    let mut sup = Supervisor {
        ctl,
        sigfd,
        sandboxes: HashMap::new(),
        next_limit_check: Instant::now(),
        owner: HashMap::new(),
        started: HashSet::new(),
        next_id: 1,
        launching: HashMap::new(),
    };
    while sup.iterate() {}
    // The host is gone: nothing may outlive it.
    let ids: Vec<u64> = sup.sandboxes.keys().copied().collect();
    for id in ids {
        sup.kill_tree(id);
    }
    sup.launching.clear(); // kills and reaps them
    0
}

/// The supervisor acts for its children (metadata changes, opens) and must never
/// be able to do more than they can: a root host's capabilities stop here. It
/// needs none itself: tracing, /proc/PID/mem and pidfd_getfd on its own
/// same-uid, capability-less children are allowed to any process.
fn drop_own_capabilities() {
    // SAFETY: prctl/capset on ourselves with integer arguments and local structs.
    unsafe {
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = [0x2008_0522u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this process
        let data = [0u32; 6];
        libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr());
    }
}

fn child_signalfd() -> Result<OwnedFd, Error> {
    // SAFETY: sigset manipulation on a local, then blocking SIGCHLD for this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(Error::last_os("signalfd"));
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

impl Supervisor {
    /// One round of the loop. False once the host has gone.
    fn iterate(&mut self) -> bool {
        let mut fds = vec![
            libc::pollfd {
                fd: self.ctl.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let mut tags = vec![Tag::Ctl, Tag::Sig];
        for (&pid, l) in &self.launching {
            if let Some(fd) = l.launch.status_fd() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                tags.push(Tag::Launch(pid));
            }
        }
        let mut next_deadline: Option<Instant> = None;
        for (&id, sb) in &self.sandboxes {
            if let Some(h) = &sb.host {
                fds.push(libc::pollfd {
                    fd: h.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                tags.push(Tag::Host(id));
            }
            if let Some(l) = &sb.listener {
                fds.push(libc::pollfd {
                    fd: l.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                tags.push(Tag::Listener(id));
            }
            if let Some(r) = &sb.random {
                for (i, f) in r.feeds.iter().enumerate() {
                    fds.push(libc::pollfd {
                        fd: f.wfd.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    });
                    tags.push(Tag::Feed(id, i));
                }
            }
            for (n, fd) in sb.net.connects.fds() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                });
                tags.push(Tag::Connect(id, n));
            }
            if let Some(d) = sb.net.connects.next_deadline() {
                next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
            }
            if sb.main_status.is_none() {
                if let Some(d) = sb.deadline {
                    next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
                }
            }
            if let Some(d) = sb.events.as_ref().and_then(|e| e.next_deadline()) {
                next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
            }
        }
        if self.sandboxes.values().any(|s| {
            s.limits[Limit::Memory.index()] != 0 || s.limits[Limit::CpuSeconds.index()] != 0
        }) {
            next_deadline =
                Some(next_deadline.map_or(self.next_limit_check, |n| n.min(self.next_limit_check)));
        }
        let timeout = next_deadline.map_or(-1, |d| {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            (ms + 1).min(i32::MAX as u128) as i32
        });
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 && crate::error::last_errno() != libc::EINTR {
            eprintln!(
                "sandlock supervisor: poll: {}",
                std::io::Error::last_os_error()
            );
            return false;
        }
        let mut dead_feeds: Vec<(u64, usize)> = Vec::new();
        for (p, tag) in fds.iter().zip(tags) {
            if p.revents == 0 {
                continue;
            }
            match tag {
                Tag::Ctl => {
                    if p.revents & libc::POLLIN != 0 {
                        if !self.on_request() {
                            return false;
                        }
                    } else {
                        return false;
                    }
                }
                Tag::Sig => self.on_sigchld(),
                Tag::Host(id) => self.on_host(id),
                Tag::Listener(id) => self.on_notification(id, p.revents),
                Tag::Feed(id, i) => {
                    let alive = p.revents & libc::POLLOUT != 0
                        && self
                            .sandboxes
                            .get_mut(&id)
                            .and_then(|s| s.random.as_mut())
                            .and_then(|r| r.feeds.get_mut(i))
                            .is_some_and(|f| f.pump());
                    if !alive {
                        dead_feeds.push((id, i));
                    }
                }
                Tag::Launch(pid) => self.on_launch(pid, None),
                Tag::Connect(id, n) => {
                    if let Some(sb) = self.sandboxes.get_mut(&id) {
                        if let Some(l) = sb.listener.as_ref() {
                            sb.net.connects.ready(l.as_raw_fd(), n);
                        }
                    }
                }
            }
        }
        for (id, i) in dead_feeds.into_iter().rev() {
            if let Some(r) = self.sandboxes.get_mut(&id).and_then(|s| s.random.as_mut()) {
                if i < r.feeds.len() {
                    r.feeds.remove(i);
                }
            }
        }
        let now = Instant::now();
        let expired: Vec<u64> = self
            .sandboxes
            .iter()
            .filter(|(_, s)| {
                s.main_status.is_none() && s.cause.is_none() && s.deadline.is_some_and(|d| d <= now)
            })
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.end_sandbox(id, End::Timeout, 0);
        }
        // Decisions the host did not make in time are denials.
        for sb in self.sandboxes.values_mut() {
            let (Some(ev), Some(l)) = (sb.events.as_mut(), sb.listener.as_ref()) else {
                continue;
            };
            let host = sb.host.as_ref().map(|h| h.as_raw_fd());
            for p in ev.expired(now) {
                handlers::send(l.as_raw_fd(), p.n.id, handlers::Reply::Errno(libc::EACCES));
                let why = "no decision from the event callback in time";
                ev.report_denied(host, Events::denied_event(&p, libc::EACCES, why));
            }
        }
        // Connects on behalf: the child's SO_SNDTIMEO, interrupted callers.
        for sb in self.sandboxes.values_mut() {
            match sb.listener.as_ref() {
                Some(l) => sb.net.connects.tick(l.as_raw_fd(), now),
                None => sb.net.connects.clear(),
            }
        }
        if now >= self.next_limit_check {
            self.check_limits();
            self.next_limit_check = now + LIMIT_POLL;
        }
        true
    }

    /// A spawn request on the control socket. False if the host has gone.
    fn on_request(&mut self) -> bool {
        let mut buf = vec![0u8; BUF_LEN];
        let (n, fds) = match sock::recv(self.ctl.as_raw_fd(), &mut buf, true) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) => {
                eprintln!("sandlock supervisor: bad request: {e}");
                return true;
            }
        };
        if n == 0 {
            return false;
        }
        let mut fds: std::collections::VecDeque<OwnedFd> = fds.into();
        let Some(reply_to) = fds.pop_front() else {
            return true;
        };
        let body = match buf[0] {
            b'I' => buf[1..n].to_vec(),
            b'M' => match fds.pop_back().map(read_all) {
                Some(Ok(b)) => b,
                _ => {
                    fail(
                        &reply_to,
                        Error::new(Code::Internal, "sl_spawn: unreadable request"),
                    );
                    return true;
                }
            },
            _ => return true,
        };
        let req = match SpawnRequest::decode(&body) {
            Ok(r) => r,
            Err(e) => {
                fail(
                    &reply_to,
                    Error::new(Code::Internal, format!("sl_spawn: bad request: {e}")),
                );
                return true;
            }
        };
        let mut stdio: [Option<OwnedFd>; 3] = [None, None, None];
        for (i, s) in stdio.iter_mut().enumerate() {
            if req.stdio[i] {
                *s = fds.pop_front();
            }
        }
        let ruleset = if req.has_ruleset {
            fds.pop_front()
        } else {
            None
        };
        // A seeded run must hide RDRAND/RDSEED, which only CPUID faulting can.
        let cpuid_ok = match *crate::trace::CPUID_FAULTING {
            Err(e) if req.seed.is_some() && !req.best_effort => {
                let msg = "sl_spawn: this CPU or kernel cannot make CPUID fault \
                     (arch_prctl(ARCH_SET_CPUID)), so a seeded program could see RDRAND/RDSEED; \
                     call sl_policy_set_best_effort() to run without hiding them";
                fail(&reply_to, Error::with_errno(Code::Unsupported, msg, e));
                return true;
            }
            r => r.is_ok(),
        };
        // Started here, finished from the loop (`on_launch`): other requests,
        // notifications and stops are served while this child sets up and execs.
        match launch::start(&req, RequestFds { stdio, ruleset }) {
            Ok(launch) => {
                let exec = crate::trace::ExecState::new(&req, launch.pid, cpuid_ok);
                let l = Launching {
                    launch,
                    req,
                    reply_to,
                    exec,
                };
                self.launching.insert(l.launch.pid, l);
            }
            Err(e) => fail(&reply_to, e),
        }
        true
    }

    /// The status socket (`status` None) or a wait status of the spawn under
    /// way of `pid`; once it is over, its answer.
    fn on_launch(&mut self, pid: libc::pid_t, status: Option<i32>) {
        let Some(l) = self.launching.get_mut(&pid) else {
            return;
        };
        let step = match status {
            None => l.launch.on_status(&l.req),
            Some(s) => l.launch.on_wait(&l.req, s, &mut l.exec),
        };
        if let launch::Step::Done(result) = step {
            if let Some(l) = self.launching.remove(&pid) {
                self.launched(l, result);
            }
        }
    }

    /// A spawn is over: the sandbox starts, or the host hears why not.
    fn launched(&mut self, l: Launching, result: Result<launch::Started, Error>) {
        let Launching {
            req,
            reply_to,
            exec,
            ..
        } = l;
        match result {
            Ok(st) => {
                let id = self.next_id;
                self.next_id += 1;
                let rules: Vec<crate::handlers::net::ConnectRule> = req
                    .connect
                    .iter()
                    .filter_map(|r| {
                        crate::handlers::net::ConnectRule::parse(&String::from_utf8_lossy(r)).ok()
                    })
                    .collect();
                let bind_rules: Vec<crate::handlers::net::ConnectRule> = req
                    .bind
                    .iter()
                    .filter_map(|r| {
                        crate::handlers::net::ConnectRule::parse(&String::from_utf8_lossy(r)).ok()
                    })
                    .collect();
                let sb = Sandbox {
                    host: None,
                    main_pid: st.pid,
                    listener: st.listener,
                    members: [st.pid].into_iter().collect(),
                    main_status: None,
                    cause: None,
                    limits: req.limits,
                    cpu_spent_ticks: 0,
                    cpu_last: HashMap::new(),
                    deadline: req
                        .timeout_ms
                        .map(|ms| Instant::now() + std::time::Duration::from_millis(ms)),
                    random: req
                        .seed
                        .map(|s| Random::new(s, launch::random_fd_slots(&req.limits))),
                    clock: Clock::new(&req.det),
                    identity: Identity::new(&req),
                    dirs: req.seed.map(|_| Dirs::default()),
                    metadata: crate::handlers::metadata::Metadata::new(&req.writable, &req.deny),
                    net: crate::handlers::net::Net {
                        allow_udp: req.allow_udp,
                        connect: rules.clone(),
                        bind: bind_rules.clone(),
                        tcp_bind: req.tcp_bind.clone(),
                        connects: Default::default(),
                    },
                    exec,
                    events: (req.events != 0).then(|| {
                        crate::handlers::events::Events::new(
                            req.events,
                            &req.readable,
                            &req.writable,
                            &req.deny,
                            crate::handlers::events::Ports {
                                tcp: req.tcp_connect.clone(),
                                rules,
                                tcp_bind: req.tcp_bind.clone(),
                                bind_rules,
                            },
                        )
                        .with_deny_list(&req)
                    }),
                    procview: crate::handlers::procview::ProcView::new(&req),
                    cow: req
                        .workdir
                        .as_ref()
                        .map(|(dir, state)| crate::handlers::cow::Cow::new(dir, state, &req.deny)),
                };
                self.owner.insert(st.pid, id);
                self.started.insert(st.pid);
                self.sandboxes.insert(id, sb);
                let msg = Report::Spawned { pid: st.pid }.encode();
                if sock::send(reply_to.as_raw_fd(), &msg, &[st.pidfd.as_raw_fd()]).is_ok() {
                    if let Some(sb) = self.sandboxes.get_mut(&id) {
                        sb.host = Some(reply_to);
                    }
                } else {
                    self.kill_tree(id);
                }
            }
            Err(e) => fail(&reply_to, e),
        }
    }

    fn on_sigchld(&mut self) {
        let mut info = [0u8; 128];
        // SAFETY: drains our non-blocking signalfd into a local buffer.
        while unsafe { libc::read(self.sigfd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) }
            > 0
        {}
        loop {
            let mut st = 0;
            // SAFETY: waits for any of our children or tracees without blocking.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::__WALL | libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if self.launching.contains_key(&pid) {
                self.on_launch(pid, Some(st));
                continue;
            }
            self.on_wait_status(pid, st);
        }
    }

    fn on_host(&mut self, id: u64) {
        let Some(fd) = self
            .sandboxes
            .get(&id)
            .and_then(|s| s.host.as_ref())
            .map(|h| h.as_raw_fd())
        else {
            return;
        };
        let mut buf = [0u8; 64];
        match sock::recv(fd, &mut buf, true) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((n, _)) if n > 0 => {
                if let Ok(Command::Decide {
                    id: ev,
                    action,
                    errno,
                }) = Command::decode(&buf[..n])
                {
                    self.on_decision(id, ev, crate::events::Decision::decode(action, errno));
                } else if let Ok(Command::Kill { sig }) = Command::decode(&buf[..n]) {
                    if sig == libc::SIGKILL {
                        self.end_sandbox(id, End::Killed, 0);
                    } else if let Some(sb) = self.sandboxes.get(&id) {
                        if sb.main_status.is_none() {
                            // SAFETY: signalling a traced, not yet reaped task of ours.
                            unsafe { libc::kill(sb.main_pid, sig) };
                        }
                    }
                }
            }
            _ => {
                // EOF: the host freed the handle (or died). Kill, then forget.
                if let Some(sb) = self.sandboxes.get_mut(&id) {
                    sb.host = None;
                }
                self.kill_tree(id);
                self.finish_if_done(id);
            }
        }
    }

    fn on_notification(&mut self, id: u64, revents: i16) {
        let Some(sb) = self.sandboxes.get_mut(&id) else {
            return;
        };
        let Some(l) = sb.listener.as_ref().map(|l| l.as_raw_fd()) else {
            return;
        };
        if revents & libc::POLLIN == 0 {
            // Every task with the filter is gone.
            sb.listener = None;
            return;
        }
        serve_one(l, sb);
    }

    /// The host decided on held call `ev` of sandbox `id`. Unknown or expired ids are ignored.
    fn on_decision(&mut self, id: u64, ev: u64, d: crate::events::Decision) {
        use crate::events::Decision;
        let Some(sb) = self.sandboxes.get_mut(&id) else {
            return;
        };
        let Some(p) = sb.events.as_mut().and_then(|e| e.take(ev)) else {
            return;
        };
        let Some(l) = sb.listener.as_ref().map(|l| l.as_raw_fd()) else {
            return;
        };
        // The task may have died meanwhile; then its pid must not be used.
        if !notify::id_valid(l, p.n.id) {
            return;
        }
        let host = sb.host.as_ref().map(|h| h.as_raw_fd());
        match d {
            Decision::Deny(e) => {
                handlers::send(l, p.n.id, handlers::Reply::Errno(e));
                if let Some(ev) = sb.events.as_ref() {
                    let why = "refused by the event callback";
                    ev.report_denied(host, Events::denied_event(&p, e, why));
                }
            }
            Decision::Kill => {
                handlers::send(l, p.n.id, handlers::Reply::Errno(libc::EACCES));
                if let Some(ev) = sb.events.as_ref() {
                    let why = "the event callback killed the sandbox";
                    ev.report_denied(host, Events::denied_event(&p, libc::EACCES, why));
                }
                self.end_sandbox(id, End::Killed, 0);
            }
            Decision::Allow => {
                crate::trace::mirror(&sb.exec);
                let n = p.n;
                let mut events = sb.events.take();
                let mut connects = std::mem::take(&mut sb.net.connects);
                let reply = match events.as_mut() {
                    Some(e) => e.allow(l, host, p, &mut connects, || answer(l, sb, &n)),
                    None => handlers::Reply::Errno(libc::EACCES),
                };
                sb.events = events;
                sb.net.connects.absorb(connects);
                handlers::send(l, n.id, reply);
            }
        }
    }

    /// At the exec stop of `pid` (formerly `former`): false if the new image is
    /// not what the host's callback allowed; the sandbox is then being killed.
    pub fn exec_matches(&mut self, pid: libc::pid_t, former: libc::pid_t) -> bool {
        let Some(&id) = self.owner.get(&pid).or_else(|| self.owner.get(&former)) else {
            return true;
        };
        let Some(sb) = self.sandboxes.get_mut(&id) else {
            return true;
        };
        let host = sb.host.as_ref().map(|h| h.as_raw_fd());
        let Some(ev) = sb.events.as_mut() else {
            return true;
        };
        match ev.check_exec(pid, former) {
            Ok(()) => true,
            Err(why) => {
                let report = crate::events::Event {
                    kind: crate::events::KIND_DENIED | crate::events::KIND_EXEC << 8,
                    pid,
                    nr: libc::SYS_execve,
                    reason: format!("{why}; the sandbox was killed"),
                    ..Default::default()
                };
                ev.report_denied(host, report);
                eprintln!("sandlock: pid {pid}: {why}; killing the sandbox");
                self.end_sandbox(id, End::Killed, 0);
                false
            }
        }
    }

    /// End a running sandbox for `end` (first cause wins), killing every task.
    pub fn end_sandbox(&mut self, id: u64, end: End, detail: i64) {
        if let Some(sb) = self.sandboxes.get_mut(&id) {
            if sb.main_status.is_none() && sb.cause.is_none() {
                sb.cause = Some((end, detail));
            }
        }
        self.kill_tree(id);
    }

    /// A new task joined sandbox `id`: enforce the process-count limit.
    pub fn on_new_task(&mut self, id: u64) {
        let Some(sb) = self.sandboxes.get(&id) else {
            return;
        };
        let max = sb.limits[Limit::Processes.index()];
        if max == 0 {
            return;
        }
        // Threads share their leader's pid as tgid; count thread groups only.
        let procs = sb.members.iter().filter(|&&p| is_process(p)).count() as u64;
        if procs > max {
            self.end_sandbox(id, End::Limit, Limit::Processes as i64);
        }
    }

    /// A task of sandbox `id` is gone: keep the CPU time it had used.
    pub fn on_task_gone(&mut self, id: u64, pid: libc::pid_t) {
        if let Some(sb) = self.sandboxes.get_mut(&id) {
            if let Some(t) = sb.cpu_last.remove(&pid) {
                sb.cpu_spent_ticks += t;
            }
        }
    }

    /// Poll memory and CPU use of sandboxes that have those limits.
    fn check_limits(&mut self) {
        let mut over = Vec::new();
        for (&id, sb) in self.sandboxes.iter_mut() {
            let (mem_max, cpu_max) = (
                sb.limits[Limit::Memory.index()],
                sb.limits[Limit::CpuSeconds.index()],
            );
            if (mem_max == 0 && cpu_max == 0) || sb.main_status.is_some() || sb.cause.is_some() {
                continue;
            }
            let (mut rss, mut ticks) = (0u64, sb.cpu_spent_ticks);
            for &p in sb.members.iter().filter(|&&p| is_process(p)) {
                let (r, t) = usage(p);
                sb.cpu_last.insert(p, t);
                rss += r;
                ticks += t;
            }
            if mem_max != 0 && rss > mem_max {
                over.push((id, Limit::Memory));
            } else if cpu_max != 0 && ticks >= cpu_max.saturating_mul(clock_ticks()) {
                over.push((id, Limit::CpuSeconds));
            }
        }
        for (id, l) in over {
            self.end_sandbox(id, End::Limit, l as i64);
        }
    }

    /// SIGKILL every task of the sandbox. Their exits arrive through SIGCHLD.
    pub fn kill_tree(&mut self, id: u64) {
        if let Some(sb) = self.sandboxes.get(&id) {
            for &pid in &sb.members {
                // SAFETY: each member is a traced task we have not reaped, so the pid is ours.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }

    /// Report and forget a sandbox whose first process exited and whose tasks are all gone.
    /// Kill and reap our children that belong to no sandbox.
    ///
    /// A task forked by a process killed at its fork-event stop has no member
    /// parent left: it is orphaned to us (the subreaper) before that parent's
    /// exit is reported, but its own first stop may still be queued. Before a
    /// sandbox is reported over, such strays are killed and waited for, so
    /// nothing of it outlives `sl_wait`.
    fn reap_strays(&mut self) {
        let me = std::process::id();
        let Ok(list) = std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")) else {
            return;
        };
        for pid in list
            .split_whitespace()
            .filter_map(|p| p.parse::<libc::pid_t>().ok())
        {
            if self.owner.contains_key(&pid) || self.launching.contains_key(&pid) {
                continue;
            }
            // SAFETY: our own child, not yet reaped, so the pid is still it.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            loop {
                let mut st = 0;
                // SAFETY: waiting for our own child.
                let r = unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
                if r < 0 && crate::error::last_errno() == libc::EINTR {
                    continue;
                }
                if r < 0 || libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
                    break;
                }
            }
            self.started.remove(&pid);
        }
    }

    pub fn finish_if_done(&mut self, id: u64) {
        let Some(sb) = self.sandboxes.get(&id) else {
            return;
        };
        if !sb.members.is_empty() || (sb.main_status.is_none() && sb.host.is_some()) {
            return;
        }
        let Some(sb) = self.sandboxes.remove(&id) else {
            return;
        };
        self.reap_strays();
        if let Some(c) = &sb.cow {
            c.save();
        }
        if let (Some(h), Some(status)) = (&sb.host, sb.main_status) {
            let (end, detail) = sb.cause.unwrap_or((End::from_status(status), 0));
            let msg = Report::Exited {
                status,
                end: end as u8,
                detail,
            }
            .encode();
            let _ = sock::send(h.as_raw_fd(), &msg, &[]);
        }
    }
}

/// How often memory and CPU limits are checked.
const LIMIT_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Is this task a thread-group leader (a process, not a thread)?
fn is_process(pid: libc::pid_t) -> bool {
    crate::procfs::tgid(pid) == Some(pid)
}

/// (resident bytes, CPU ticks) of a process, 0s if it is gone.
pub(crate) fn usage(pid: libc::pid_t) -> (u64, u64) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0)
        // SAFETY: sysconf has no memory effects.
        * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .map(|s| {
            let f: Vec<&str> = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            // Fields after the command: state is [0]; utime, stime are [11], [12].
            f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        })
        .unwrap_or(0);
    (rss, ticks)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64
}

/// Receive one notification and answer it: the clock, then identity (which
/// serves some opens), then randomness (the other opens).
fn serve_one(listener: RawFd, sb: &mut Sandbox) {
    crate::trace::mirror(&sb.exec);
    let n = match notify::recv(listener) {
        Ok(n) => n,
        Err(_) => return, // the task died between poll and recv
    };
    let host = sb.host.as_ref().map(|h| h.as_raw_fd());
    if let Some(r) = sb.events.as_mut().and_then(|e| e.hold(listener, &n, host)) {
        handlers::send(listener, n.id, r);
        return;
    }
    let reply = answer(listener, sb, &n);
    handlers::send(listener, n.id, reply);
    let nr = n.data.nr as i64;
    if reply == handlers::Reply::Errno(libc::EACCES)
        && crate::handlers::metadata::SYSCALLS.contains(&nr)
    {
        if let Some(ev) = sb.events.as_ref() {
            let report = crate::events::Event {
                kind: crate::events::KIND_DENIED,
                pid: n.pid as i32,
                nr,
                errno: libc::EACCES,
                reason: "metadata change outside the policy's writable paths".into(),
                ..Default::default()
            };
            ev.report_denied(host, report);
        }
    }
    if let (Some(ev), Some(why)) = (sb.events.as_ref(), handlers::net::refusal(&n, reply)) {
        let errno = match reply {
            handlers::Reply::Errno(e) => e,
            _ => 0,
        };
        let report = crate::events::Event {
            kind: crate::events::KIND_DENIED,
            pid: n.pid as i32,
            nr,
            errno,
            reason: why,
            ..Default::default()
        };
        ev.report_denied(host, report);
    }
}

/// The usual handlers' answer to `n`.
fn answer(listener: RawFd, sb: &mut Sandbox, n: &notify::SeccompNotif) -> handlers::Reply {
    let n = *n;
    let reply = sb
        .cow
        .as_mut()
        .and_then(|c| c.handle(listener, &n))
        .or_else(|| sb.net.handle(&n))
        .or_else(|| sb.metadata.handle(&n))
        .or_else(|| sb.clock.as_mut().and_then(|c| c.handle(listener, &n)))
        .or_else(|| {
            let i = sb.identity.as_mut()?;
            i.caller = sb.exec.lineage_id(n.pid as libc::pid_t);
            i.handle(listener, &n)
        })
        .or_else(|| {
            let v = sb.procview.as_mut()?;
            v.handle(listener, &n, &sb.members)
        })
        .or_else(|| sb.dirs.as_mut().and_then(|d| d.handle(&n)))
        .or_else(|| {
            let r = sb.random.as_mut()?;
            r.caller = sb.exec.lineage_id(n.pid as libc::pid_t);
            Some(r.handle(listener, &n))
        })
        .unwrap_or(handlers::Reply::Continue);
    if let Some(c) = &sb.clock {
        // A sleep moved frozen time: every user-space clock first.
        sb.exec.publish(c.elapsed());
    }
    reply
}

fn fail(reply_to: &OwnedFd, e: Error) {
    let msg = Report::Failed {
        code: e.code as i32,
        errno: e.errno,
        message: e.message,
    }
    .encode();
    let _ = sock::send(reply_to.as_raw_fd(), &msg, &[]);
}

fn read_all(fd: OwnedFd) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::from(fd);
    // The host's writes left the shared offset at the end.
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v)?;
    Ok(v)
}
