//! The messages between the host library and the supervisor, and their encoding.
//!
//! Spawn requests go over the shared control socket, each carrying a fresh
//! per-child socket; every later message about that child (its spawn result, a
//! kill, its exit status) travels on the per-child socket. Closing the host end
//! of a per-child socket tells the supervisor to kill that sandbox.

/// Requests larger than this travel in a sealed memfd instead of inline.
pub const INLINE_MAX: usize = 32 * 1024;
/// Receive buffer for any message on a per-child socket or an inline request.
pub const BUF_LEN: usize = INLINE_MAX + 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SpawnRequest {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Paths to try with execve, in order (the PATH search is done by the host).
    pub candidates: Vec<Vec<u8>>,
    pub cwd: Option<Vec<u8>>,
    pub seed: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Which of stdin/stdout/stderr come with the message (absent = closed in the child).
    pub stdio: [bool; 3],
    pub has_ruleset: bool,
    /// Turn off address-space randomization in the child.
    pub no_aslr: bool,
    /// Resource limits, indexed by `Limit::index()`, 0 = none.
    pub limits: crate::outcome::Limits,
    /// Virtual time and machine identity.
    pub det: crate::policy::Determinism,
    /// Run without what this kernel cannot enforce (e.g. CPUID faulting) instead of failing.
    pub best_effort: bool,
    /// Paths with write rules and denied paths: where metadata may change.
    pub writable: Vec<Vec<u8>>,
    pub deny: Vec<Vec<u8>>,
    /// UDP allowed, and destination rules ("CIDR:port") connected on behalf.
    pub allow_udp: bool,
    pub connect: Vec<Vec<u8>>,
    /// Paths with read or exec rules (where an allowed open may be done on the child's behalf).
    pub readable: Vec<Vec<u8>>,
    /// The event kinds the host's handler wants (`events::KIND_*`), 0 = none.
    pub events: u32,
    /// TCP ports the policy allows connecting to (an allowed connect event is
    /// connected on behalf only to these, or to a destination rule).
    pub tcp_connect: Vec<u16>,
    /// TCP bind ports and bind rules: where an allowed bind event is bound on
    /// behalf; the rules are also bound on behalf without events.
    pub tcp_bind: Vec<u16>,
    pub bind: Vec<Vec<u8>>,
    /// `/proc` shows only the sandbox's processes (`handlers/procview.rs`).
    pub proc_view: bool,
    /// The copy-on-write workdir and the run's state directory (`cow.rs`).
    pub workdir: Option<(Vec<u8>, Vec<u8>)>,
}

/// Supervisor → host, on the per-child socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The program runs; a pidfd for it is attached.
    Spawned { pid: i32 },
    /// The spawn failed; nothing is left running.
    Failed {
        code: i32,
        errno: i32,
        message: String,
    },
    /// The sandbox is over: the first process's raw wait status, why it ended
    /// (`outcome::End`) and a detail (the limit or the syscall number).
    Exited { status: i32, end: u8, detail: i64 },
    /// A held call waits for the host's decision (`Command::Decide` with the same id).
    Event {
        id: u64,
        event: crate::events::Event,
    },
}

/// Host → supervisor, on the per-child socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Kill {
        sig: i32,
    },
    /// The answer to `Report::Event` `id` (`events::Decision::encode`).
    Decide {
        id: u64,
        action: u8,
        errno: i32,
    },
}

#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    pub fn list(&mut self, l: &[Vec<u8>]) -> &mut Self {
        self.u64(l.len() as u64);
        for b in l {
            self.bytes(b);
        }
        self
    }
    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(x) => self.u8(1).u64(x),
            None => self.u8(0),
        }
    }
}

pub struct Dec<'a>(pub &'a [u8]);

pub type DecResult<T> = Result<T, &'static str>;

impl Dec<'_> {
    fn take(&mut self, n: usize) -> DecResult<&[u8]> {
        if self.0.len() < n {
            return Err("truncated message");
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub fn u8(&mut self) -> DecResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u64(&mut self) -> DecResult<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    pub fn i32(&mut self) -> DecResult<i32> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    pub fn bytes(&mut self) -> DecResult<Vec<u8>> {
        let n = self.u64()?;
        if n > self.0.len() as u64 {
            return Err("truncated message");
        }
        Ok(self.take(n as usize)?.to_vec())
    }
    pub fn list(&mut self) -> DecResult<Vec<Vec<u8>>> {
        let n = self.u64()?;
        if n > self.0.len() as u64 {
            return Err("truncated message");
        }
        (0..n).map(|_| self.bytes()).collect()
    }
    pub fn opt_u64(&mut self) -> DecResult<Option<u64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.u64()?),
        })
    }
}

impl SpawnRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.list(&self.argv).list(&self.envp).list(&self.candidates);
        match &self.cwd {
            Some(c) => e.u8(1).bytes(c),
            None => e.u8(0),
        };
        e.opt_u64(self.seed).opt_u64(self.timeout_ms);
        let flags = self.stdio[0] as u8
            | (self.stdio[1] as u8) << 1
            | (self.stdio[2] as u8) << 2
            | (self.has_ruleset as u8) << 3
            | (self.no_aslr as u8) << 4
            | (self.best_effort as u8) << 5
            | (self.proc_view as u8) << 6;
        e.u8(flags);
        for l in self.limits {
            e.u64(l);
        }
        let d = &self.det;
        e.u8(d.time_mode as u8)
            .u64(d.time_start_ns as u64)
            .u64(d.time_step_ns)
            .opt_u64(d.cpu_count.map(u64::from));
        match &d.hostname {
            Some(h) => e.u8(1).bytes(h),
            None => e.u8(0),
        };
        e.list(&self.writable).list(&self.deny);
        e.u8(self.allow_udp as u8).list(&self.connect);
        e.list(&self.readable);
        e.i32(self.events as i32);
        let ports: Vec<u8> = self
            .tcp_connect
            .iter()
            .flat_map(|p| p.to_le_bytes())
            .collect();
        e.bytes(&ports);
        let ports: Vec<u8> = self.tcp_bind.iter().flat_map(|p| p.to_le_bytes()).collect();
        e.bytes(&ports).list(&self.bind);
        match &self.workdir {
            Some((dir, state)) => e.u8(1).bytes(dir).bytes(state),
            None => e.u8(0),
        };
        e.0
    }

    pub fn decode(b: &[u8]) -> DecResult<SpawnRequest> {
        let mut d = Dec(b);
        let argv = d.list()?;
        let envp = d.list()?;
        let candidates = d.list()?;
        let cwd = match d.u8()? {
            0 => None,
            _ => Some(d.bytes()?),
        };
        let seed = d.opt_u64()?;
        let timeout_ms = d.opt_u64()?;
        let f = d.u8()?;
        let mut limits = crate::outcome::Limits::default();
        for l in limits.iter_mut() {
            *l = d.u64()?;
        }
        let det = crate::policy::Determinism {
            time_mode: crate::policy::TimeMode::from_i32(d.u8()? as i32).ok_or("bad time mode")?,
            time_start_ns: d.u64()? as i64,
            time_step_ns: d.u64()?,
            cpu_count: d.opt_u64()?.map(|n| n as u32),
            hostname: match d.u8()? {
                0 => None,
                _ => Some(d.bytes()?),
            },
        };
        let writable = d.list()?;
        let deny = d.list()?;
        let allow_udp = d.u8()? != 0;
        let connect = d.list()?;
        let readable = d.list()?;
        let events = d.i32()? as u32;
        let ports = d.bytes()?;
        if ports.len() % 2 != 0 {
            return Err("bad port list");
        }
        let tcp_connect = ports
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let ports = d.bytes()?;
        if ports.len() % 2 != 0 {
            return Err("bad port list");
        }
        let tcp_bind = ports
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let bind = d.list()?;
        let workdir = match d.u8()? {
            0 => None,
            _ => Some((d.bytes()?, d.bytes()?)),
        };
        Ok(SpawnRequest {
            argv,
            envp,
            candidates,
            cwd,
            seed,
            timeout_ms,
            stdio: [f & 1 != 0, f & 2 != 0, f & 4 != 0],
            has_ruleset: f & 8 != 0,
            no_aslr: f & 16 != 0,
            limits,
            det,
            best_effort: f & 32 != 0,
            proc_view: f & 64 != 0,
            writable,
            deny,
            allow_udp,
            connect,
            readable,
            events,
            tcp_connect,
            tcp_bind,
            bind,
            workdir,
        })
    }
}

impl Report {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        match self {
            Report::Spawned { pid } => e.u8(b'S').i32(*pid),
            Report::Failed {
                code,
                errno,
                message,
            } => e.u8(b'F').i32(*code).i32(*errno).bytes(message.as_bytes()),
            Report::Exited {
                status,
                end,
                detail,
            } => e.u8(b'E').i32(*status).u8(*end).u64(*detail as u64),
            Report::Event { id, event } => e
                .u8(b'V')
                .u64(*id)
                .i32(event.kind as i32)
                .i32(event.pid)
                .bytes(&event.path)
                .list(&event.argv)
                .i32(event.flags)
                .u64(event.nr as u64)
                .i32(event.errno)
                .bytes(event.reason.as_bytes())
                .bytes(event.address.as_bytes())
                .i32(event.port)
                .i32(event.family),
        };
        e.0
    }

    pub fn decode(b: &[u8]) -> DecResult<Report> {
        let mut d = Dec(b);
        Ok(match d.u8()? {
            b'S' => Report::Spawned { pid: d.i32()? },
            b'F' => Report::Failed {
                code: d.i32()?,
                errno: d.i32()?,
                message: String::from_utf8_lossy(&d.bytes()?).into_owned(),
            },
            b'E' => Report::Exited {
                status: d.i32()?,
                end: d.u8()?,
                detail: d.u64()? as i64,
            },
            b'V' => Report::Event {
                id: d.u64()?,
                event: crate::events::Event {
                    kind: d.i32()? as u32,
                    pid: d.i32()?,
                    path: d.bytes()?,
                    argv: d.list()?,
                    flags: d.i32()?,
                    nr: d.u64()? as i64,
                    errno: d.i32()?,
                    reason: String::from_utf8_lossy(&d.bytes()?).into_owned(),
                    address: String::from_utf8_lossy(&d.bytes()?).into_owned(),
                    port: d.i32()?,
                    family: d.i32()?,
                },
            },
            _ => return Err("unknown report"),
        })
    }
}

impl Command {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        match *self {
            Command::Kill { sig } => e.u8(b'K').i32(sig),
            Command::Decide { id, action, errno } => e.u8(b'D').u64(id).u8(action).i32(errno),
        };
        e.0
    }

    pub fn decode(b: &[u8]) -> DecResult<Command> {
        let mut d = Dec(b);
        match d.u8()? {
            b'K' => Ok(Command::Kill { sig: d.i32()? }),
            b'D' => Ok(Command::Decide {
                id: d.u64()?,
                action: d.u8()?,
                errno: d.i32()?,
            }),
            _ => Err("unknown command"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_request_round_trip() {
        let r = SpawnRequest {
            argv: vec![b"a".to_vec(), vec![0xff, 0xfe]],
            envp: vec![b"X=1".to_vec()],
            candidates: vec![b"/bin/a".to_vec()],
            cwd: Some(b"/tmp".to_vec()),
            seed: Some(7),
            timeout_ms: None,
            stdio: [true, false, true],
            has_ruleset: true,
            no_aslr: true,
            limits: [1, 0, 3, 0, 5],
            det: crate::policy::Determinism {
                time_mode: crate::policy::TimeMode::Logical,
                time_start_ns: 946_684_800_000_000_000,
                time_step_ns: 1000,
                cpu_count: Some(3),
                hostname: Some(b"box".to_vec()),
            },
            best_effort: true,
            writable: vec![b"/tmp/w".to_vec()],
            deny: vec![b"/tmp/w/secret".to_vec(), b"/x".to_vec()],
            allow_udp: true,
            connect: vec![b"10.0.0.0/8:443".to_vec()],
            readable: vec![b"/usr".to_vec()],
            events: 3,
            tcp_connect: vec![80, 65535],
            tcp_bind: vec![0, 8080],
            bind: vec![b"127.0.0.1:*".to_vec()],
            proc_view: true,
            workdir: Some((b"/w".to_vec(), b"/tmp/sandlock-cow-x".to_vec())),
        };
        assert_eq!(SpawnRequest::decode(&r.encode()).unwrap(), r);
        let plain = SpawnRequest::default();
        assert_eq!(SpawnRequest::decode(&plain.encode()).unwrap(), plain);
        assert!(SpawnRequest::decode(&r.encode()[..10]).is_err());
    }

    #[test]
    fn reports_round_trip() {
        for r in [
            Report::Spawned { pid: 5 },
            Report::Failed {
                code: -6,
                errno: 2,
                message: "no".into(),
            },
            Report::Exited {
                status: 256,
                end: 5,
                detail: -3,
            },
            Report::Event {
                id: 9,
                event: crate::events::Event {
                    kind: 1,
                    pid: 4,
                    path: b"/bin/true".to_vec(),
                    argv: vec![b"true".to_vec(), b"x".to_vec()],
                    flags: 0,
                    nr: 59,
                    errno: 13,
                    reason: "why".into(),
                    address: "::1".into(),
                    port: 443,
                    family: 10,
                },
            },
        ] {
            assert_eq!(Report::decode(&r.encode()).unwrap(), r);
        }
        assert_eq!(
            Command::decode(&Command::Kill { sig: 9 }.encode()).unwrap(),
            Command::Kill { sig: 9 }
        );
        let dec = Command::Decide {
            id: 1 << 40,
            action: 1,
            errno: 13,
        };
        assert_eq!(Command::decode(&dec.encode()).unwrap(), dec);
    }
}
