//! Network policy beyond Landlock's TCP ports.
//!
//! - `socket()` is answered here from its (register) arguments, which the child
//!   cannot change after the call: UNIX sockets, TCP over IPv4/IPv6 and
//!   `NETLINK_ROUTE` (what libc's `getaddrinfo` and `if_nameindex` read; changing
//!   routes needs CAP_NET_ADMIN, which the sandbox lacks) are allowed. UDP only
//!   when the policy allows it; MPTCP and SCTP (which Landlock's TCP rules do not
//!   see), raw and packet sockets, other netlink protocols and every other family
//!   are refused.
//! - TCP Fast Open (`MSG_FASTOPEN`, `TCP_FASTOPEN_CONNECT`) would connect without
//!   `connect()`, past Landlock: refused (the flags are checked in the filter).
//! - Destination rules (`sl_policy_allow_connect`, "CIDR:port"): `connect()` is
//!   notified, the address is copied once, and a matching connect is made *by
//!   the supervisor* on the child's own socket (taken with `pidfd_getfd`), so
//!   the address decided on is the one connected to. Everything else goes on to
//!   Landlock's port rules unchanged. The connect is only started there and
//!   finished from the poll loop, so a slow destination never stalls the
//!   supervisor (`connect.rs`).
//! - Bind rules (`sl_policy_allow_bind`, "CIDR:port" of the local address)
//!   work the same way for `bind()`: a matching bind is done by the supervisor
//!   on the child's socket with the copied address; others go on to Landlock.
//! - `listen()` on a bound socket uses the address bound before. But a
//!   `listen()` on an *unbound* TCP socket binds it to an ephemeral port
//!   without `bind()`, and Landlock (which hooks bind and connect) does not
//!   see that: a sandbox with no bind rule could listen on 0.0.0.0 (found
//!   while adding bind events, on Landlock ABI 7). So listen is notified: the
//!   supervisor takes the child's socket object once (`pidfd_getfd`), refuses
//!   (EACCES) an unbound IPv4/IPv6 TCP socket unless the policy allows port 0
//!   (`sl_policy_allow_tcp_bind(p, 0)`, or a bind rule for port 0), and
//!   otherwise calls listen on that same object itself, so swapping the
//!   descriptor for an unbound socket after the check changes nothing.

use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::SeccompNotif;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const IPPROTO_MPTCP: i32 = 262;
pub const TCP_FASTOPEN_CONNECT: u64 = 30;
pub const MSG_FASTOPEN: u64 = 0x2000_0000;

/// One destination rule: a network and a port (None = any port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRule {
    pub net: IpAddr,
    pub prefix: u8,
    pub port: Option<u16>,
}

impl ConnectRule {
    /// Parse "10.0.0.0/8:443", "127.0.0.1:*", "[::1]:8080", "[fd00::]/8:*".
    pub fn parse(s: &str) -> Result<ConnectRule, String> {
        let (addr, port) = s.rsplit_once(':').ok_or("expected ADDRESS[/PREFIX]:PORT")?;
        let port = match port {
            "*" => None,
            p => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("'{p}' is not a port (0-65535 or *)"))?,
            ),
        };
        let (ip, prefix) = match addr.split_once('/') {
            Some((ip, len)) => (
                ip,
                Some(
                    len.parse::<u8>()
                        .map_err(|_| format!("'{len}' is not a prefix length"))?,
                ),
            ),
            None => (addr, None),
        };
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let net: IpAddr = ip
            .parse()
            .map_err(|_| format!("'{ip}' is not an IPv4 or IPv6 address"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(format!("prefix /{prefix} is longer than {max} bits"));
        }
        Ok(ConnectRule { net, prefix, port })
    }

    pub fn matches(&self, ip: IpAddr, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        // A v4-mapped IPv6 address is the IPv4 address it maps.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (full, rest) = ((bits / 8) as usize, bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) & (0xff << (8 - rest)) == 0
}

pub struct Net {
    pub allow_udp: bool,
    pub connect: Vec<ConnectRule>,
    /// Bind rules (local address and port), bound on behalf.
    pub bind: Vec<ConnectRule>,
    /// TCP bind ports (for a listen that would take an ephemeral port).
    pub tcp_bind: Vec<u16>,
    /// Connects made on behalf that are still under way.
    pub connects: super::connect::Connects,
}

impl Net {
    /// Answer a network call, or None if `n` is not one handled here.
    pub fn handle(&mut self, n: &SeccompNotif) -> Option<Reply> {
        let a = n.data.args;
        match n.data.nr as i64 {
            libc::SYS_socket => Some(self.socket(a[0] as i32, a[1] as i32 & 0xf, a[2] as i32)),
            libc::SYS_setsockopt
                if a[1] as i32 == libc::IPPROTO_TCP && a[2] == TCP_FASTOPEN_CONNECT =>
            {
                Some(Reply::Errno(libc::EPERM))
            }
            libc::SYS_setsockopt => Some(Reply::Continue),
            libc::SYS_connect if !self.connect.is_empty() => Some(self.connect(n)),
            libc::SYS_bind if !self.bind.is_empty() => Some(self.bind(n)),
            libc::SYS_listen => Some(self.listen(n)),
            _ => None,
        }
    }

    fn socket(&self, domain: i32, ty: i32, proto: i32) -> Reply {
        match domain {
            libc::AF_UNIX => Reply::Continue,
            libc::AF_INET | libc::AF_INET6 => match (ty, proto) {
                (_, IPPROTO_MPTCP) | (_, libc::IPPROTO_SCTP) => Reply::Errno(libc::EPROTONOSUPPORT),
                (libc::SOCK_STREAM, 0) | (libc::SOCK_STREAM, libc::IPPROTO_TCP) => Reply::Continue,
                (libc::SOCK_DGRAM, 0) | (libc::SOCK_DGRAM, libc::IPPROTO_UDP) if self.allow_udp => {
                    Reply::Continue
                }
                _ => Reply::Errno(libc::EACCES),
            },
            libc::AF_NETLINK if proto == libc::NETLINK_ROUTE => Reply::Continue,
            _ => Reply::Errno(libc::EAFNOSUPPORT),
        }
    }

    fn connect(&mut self, n: &SeccompNotif) -> Reply {
        let pid = n.pid as libc::pid_t;
        let [fd, addr, len, ..] = n.data.args;
        let len = (len as usize).min(128);
        let mut raw = vec![0u8; len];
        if len < 2 || mem::read(pid, addr, &mut raw).ok() != Some(len) {
            return Reply::Continue; // let the kernel give its own error
        }
        let dest = destination(&raw);
        match dest {
            Some((ip, port)) if self.connect.iter().any(|r| r.matches(ip, port)) => {
                match child_fd(pid, fd as i32) {
                    Ok(sock) => self.connects.start(n.id, sock, &raw),
                    Err(e) => Reply::Errno(e),
                }
            }
            // Not ours to allow: Landlock's port rules decide.
            _ => Reply::Continue,
        }
    }
}

impl Net {
    /// A bind matching a bind rule is done here, on the copied address.
    fn bind(&self, n: &SeccompNotif) -> Reply {
        let pid = n.pid as libc::pid_t;
        let [fd, addr, len, ..] = n.data.args;
        let len = len as u32 as usize;
        if !(2..=128).contains(&len) {
            return Reply::Continue; // let the kernel give its own error
        }
        let mut raw = vec![0u8; len];
        if mem::read(pid, addr, &mut raw).ok() != Some(len) {
            return Reply::Continue;
        }
        match destination(&raw) {
            Some((ip, port)) if self.bind.iter().any(|r| r.matches(ip, port)) => {
                match child_fd(pid, fd as i32) {
                    Ok(sock) => bind_sock(&sock, &raw),
                    Err(e) => Reply::Errno(e),
                }
            }
            _ => Reply::Continue,
        }
    }
}

impl Net {
    /// May an unbound TCP socket of `family` take an ephemeral port?
    fn ephemeral_allowed(&self, family: i32) -> bool {
        let any: IpAddr = if family == libc::AF_INET6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        self.tcp_bind.contains(&0) || self.bind.iter().any(|r| r.matches(any, 0))
    }

    /// `listen()`, on the socket object taken now (see the module comment).
    fn listen(&self, n: &SeccompNotif) -> Reply {
        let pid = n.pid as libc::pid_t;
        let [fd, backlog, ..] = n.data.args;
        let sock = match child_fd(pid, fd as i32) {
            Ok(s) => s,
            Err(e) => return Reply::Errno(e),
        };
        let family = sockopt(&sock, libc::SO_DOMAIN).unwrap_or(0);
        if matches!(family, libc::AF_INET | libc::AF_INET6)
            && sockopt(&sock, libc::SO_PROTOCOL) == Ok(libc::IPPROTO_TCP)
            && local_port(&sock) == Some(0)
            && !self.ephemeral_allowed(family)
        {
            return Reply::Errno(libc::EACCES);
        }
        // SAFETY: listen on our duplicate of the child's socket; never blocks.
        if unsafe { libc::listen(sock.as_raw_fd(), backlog as i32) } < 0 {
            return Reply::Errno(crate::error::last_errno());
        }
        Reply::Value(0)
    }
}

/// The local port of an IPv4/IPv6 socket (0: not bound).
fn local_port(sock: &OwnedFd) -> Option<u16> {
    // SAFETY: getsockname into a zeroed sockaddr_storage of the size given.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above.
    let r = unsafe {
        libc::getsockname(
            sock.as_raw_fd(),
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return None;
    }
    // SAFETY: a plain byte view of the struct the kernel filled (len bytes).
    let raw = unsafe {
        std::slice::from_raw_parts(
            (&ss as *const libc::sockaddr_storage).cast::<u8>(),
            (len as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        )
    };
    destination(raw).map(|(_, port)| port)
}

/// Bind `sock` (the child's socket, duplicated here) to the copied address
/// `raw`. A bind never blocks.
pub fn bind_sock(sock: &OwnedFd, raw: &[u8]) -> Reply {
    // SAFETY: bind on our duplicate with a buffer of the length given.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            raw.as_ptr().cast(),
            raw.len() as libc::socklen_t,
        )
    };
    if r < 0 {
        Reply::Errno(crate::error::last_errno())
    } else {
        Reply::Value(0)
    }
}

/// Why `reply` refuses the network call `n`, for a refusal report (None: not
/// a refusal made here).
pub fn refusal(n: &SeccompNotif, reply: Reply) -> Option<String> {
    let Reply::Errno(_) = reply else {
        return None;
    };
    let a = n.data.args;
    match n.data.nr as i64 {
        libc::SYS_socket => {
            let (domain, ty, proto) = (a[0] as i32, a[1] as i32 & 0xf, a[2] as i32);
            let what = match domain {
                libc::AF_INET | libc::AF_INET6 if proto == IPPROTO_MPTCP => "MPTCP".to_string(),
                libc::AF_INET | libc::AF_INET6 if proto == libc::IPPROTO_SCTP => "SCTP".into(),
                libc::AF_INET | libc::AF_INET6 if ty == libc::SOCK_DGRAM => {
                    "UDP (not allowed by the policy)".into()
                }
                libc::AF_INET | libc::AF_INET6 => format!("IP type {ty} protocol {proto}"),
                libc::AF_NETLINK => format!("netlink protocol {proto}"),
                libc::AF_PACKET => "packet".into(),
                _ => format!("family {domain}"),
            };
            Some(format!(
                "socket refused: {what}; only UNIX, TCP and NETLINK_ROUTE sockets (UDP when allowed)"
            ))
        }
        libc::SYS_setsockopt => Some("TCP Fast Open (TCP_FASTOPEN_CONNECT) refused".into()),
        libc::SYS_listen if reply == Reply::Errno(libc::EACCES) => Some(
            "listen on an unbound TCP socket would bind an ephemeral port, which the policy does not allow (TCP bind port 0)"
                .into(),
        ),
        _ => None,
    }
}

/// The IPv4 or IPv6 destination in a copied sockaddr, if it is one.
pub fn destination(raw: &[u8]) -> Option<(IpAddr, u16)> {
    if raw.len() < 2 {
        return None;
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]) as i32;
    match (family, raw.len()) {
        (libc::AF_INET, 16..) => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            Some((
                IpAddr::V4(Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7])),
                port,
            ))
        }
        (libc::AF_INET6, 28..) => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let mut o = [0u8; 16];
            o.copy_from_slice(&raw[8..24]);
            Some((IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        _ => None,
    }
}

/// A duplicate of descriptor `fd` of the process that thread `pid` belongs to.
pub fn child_fd(pid: libc::pid_t, fd: i32) -> Result<OwnedFd, i32> {
    let tgid = crate::procfs::tgid(pid).unwrap_or(pid);
    // SAFETY: pidfd_open/pidfd_getfd create new fds owned here on success.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, tgid, 0) as i32;
        if pidfd < 0 {
            return Err(crate::error::last_errno());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        let s = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) as i32;
        if s < 0 {
            return Err(crate::error::last_errno());
        }
        Ok(OwnedFd::from_raw_fd(s))
    }
}

/// An integer socket option of `sock` (SO_DOMAIN, SO_TYPE…).
pub fn sockopt(sock: &OwnedFd, opt: i32) -> Result<i32, i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: getsockopt into a correctly sized local.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&mut v as *mut i32).cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(crate::error::last_errno())
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_match() {
        let r = ConnectRule::parse("10.0.0.0/8:443").unwrap();
        assert!(r.matches("10.1.2.3".parse().unwrap(), 443));
        assert!(!r.matches("10.1.2.3".parse().unwrap(), 80));
        assert!(!r.matches("11.0.0.1".parse().unwrap(), 443));
        assert!(r.matches("::ffff:10.9.9.9".parse().unwrap(), 443));
        let any = ConnectRule::parse("127.0.0.1:*").unwrap();
        assert!(any.matches("127.0.0.1".parse().unwrap(), 1));
        assert!(!any.matches("127.0.0.2".parse().unwrap(), 1));
        let v6 = ConnectRule::parse("[fd00::]/8:22").unwrap();
        assert!(v6.matches("fdab::1".parse().unwrap(), 22));
        assert!(!v6.matches("fe80::1".parse().unwrap(), 22));
        let r = ConnectRule::parse("192.168.1.0/23:1").unwrap();
        assert!(r.matches("192.168.0.200".parse().unwrap(), 1));
        assert!(!r.matches("192.168.2.1".parse().unwrap(), 1));
        for bad in [
            "10.0.0.0/33:1",
            "host:80",
            "1.2.3.4",
            "1.2.3.4:99999",
            "::1/8",
        ] {
            assert!(ConnectRule::parse(bad).is_err(), "{bad}");
        }
    }
}
