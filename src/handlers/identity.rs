//! The machine the sandbox sees: CPU count, host name, boot and random UUIDs.
//!
//! - `sched_getaffinity` answers CPUs 0..n-1, `getcpu` answers CPU 0 node 0.
//! - `uname` answers the policy's host name as nodename (the rest is the host's).
//! - Opens of `/proc/cpuinfo` (n processor blocks), `/proc/stat` (n `cpuN`
//!   lines, the `cpu` line their sum), `/sys/devices/system/cpu/
//!   {online,possible,present}` ("0-(n-1)"), `/proc/sys/kernel/hostname` and
//!   `/etc/hostname`, `/proc/sys/kernel/random/uuid` (a new seeded UUID per
//!   open) and `.../boot_id` (one seeded UUID per sandbox) are answered with a
//!   sealed, read-only memfd holding the synthesized text, installed by ADDFD
//!   as the open's result. The path is resolved by the supervisor (symlinks,
//!   `..`, `/proc/self`, dirfd-relative), after a cheap check of its last
//!   component, so only opens whose name ends like one of these are resolved.

use super::path::{child_path, OpenCall};
use super::Reply;
use crate::seccomp::mem;
use crate::seccomp::notify::{self, SeccompNotif};
use crate::supervisor::proto::SpawnRequest;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha8Rng;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

/// The boot id's stream among `random::stream`'s (random.rs uses 0..=2,
/// 1<<32 upwards and lineage hashes).
const STREAM_BOOT_ID: u64 = 4;

/// UUIDs of one caller lineage: a key of their own, the lineage as stream id.
fn uuid_stream(seed: u64, lineage: u64) -> ChaCha8Rng {
    use rand_chacha::rand_core::SeedableRng;
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..24].copy_from_slice(b"sandlock/uuid/v1");
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(lineage);
    rng
}

/// Last path components worth resolving; everything else continues at once.
const NAMES: &[&[u8]] = &[
    b"cpuinfo",
    b"stat",
    b"online",
    b"possible",
    b"present",
    b"hostname",
    b"uuid",
    b"boot_id",
];

/// CPUID feature words hidden from the sandbox (`trace/insn.rs`), hidden from
/// the `flags` line of /proc/cpuinfo too so both stories agree.
const HIDDEN_FLAGS: &[&str] = &["rdrand", "rdseed", "rdpid", "hle", "rtm"];

pub struct Identity {
    cpus: Option<u32>,
    hostname: Option<Vec<u8>>,
    /// Without a seed the real uuid and boot_id files are read.
    seed: Option<u64>,
    /// Seeded UUID streams, one per caller lineage (see `random.rs`).
    uuids: std::collections::HashMap<u64, ChaCha8Rng>,
    /// The lineage of the task being served.
    pub caller: u64,
    boot_id: Option<String>,
    hide_rng: bool,
    etc_hostname: Option<PathBuf>,
    cpuinfo: Option<Vec<u8>>,
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}\n",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// "0" or "0-(n-1)", as the kernel prints a CPU list.
fn cpu_list(n: u32) -> String {
    if n <= 1 {
        "0\n".into()
    } else {
        format!("0-{}\n", n - 1)
    }
}

/// /proc/cpuinfo for `n` CPUs, built from the first block of the real one.
pub fn synth_cpuinfo(real: &str, n: u32, hide_rng: bool) -> String {
    let first: Vec<&str> = real.split("\n\n").next().unwrap_or("").lines().collect();
    // The MHz line changes from read to read on real hardware; bogomips is
    // fixed at boot (and is twice the MHz on x86), so derive it from that.
    let mhz = first.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "bogomips").then(|| v.trim().parse::<f64>().ok())?
    });
    let mut out = String::new();
    for i in 0..n {
        for line in &first {
            let Some((k, v)) = line.split_once(':') else {
                out.push_str(line);
                out.push('\n');
                continue;
            };
            let value = match k.trim() {
                "processor" | "core id" | "apicid" | "initial apicid" => i.to_string(),
                "physical id" => "0".into(),
                "siblings" | "cpu cores" => n.to_string(),
                "cpu MHz" => {
                    mhz.map_or_else(|| v.trim().to_string(), |b| format!("{:.3}", b / 2.0))
                }
                "flags" if hide_rng => v
                    .split_whitespace()
                    .filter(|f| !HIDDEN_FLAGS.contains(f))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => {
                    out.push_str(line);
                    out.push('\n');
                    continue;
                }
            };
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&value);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// /proc/stat for `n` CPUs: lines `cpu0`..`cpu(n-1)` (the host's, repeated
/// if it has fewer), and the `cpu` line as their sum; the rest unchanged.
pub fn synth_stat(real: &str, n: u32) -> String {
    let host: Vec<Vec<u64>> = real
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .collect();
    if host.is_empty() {
        return real.to_string();
    }
    let lines: Vec<&Vec<u64>> = (0..n as usize).map(|i| &host[i % host.len()]).collect();
    let width = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut sum = vec![0u64; width];
    for l in &lines {
        for (s, v) in sum.iter_mut().zip(l.iter()) {
            *s += v;
        }
    }
    let join = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
    let mut out = format!("cpu  {}\n", join(&sum));
    for (i, l) in lines.iter().enumerate() {
        out.push_str(&format!("cpu{i} {}\n", join(l)));
    }
    for l in real.lines().filter(|l| !l.starts_with("cpu")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

impl Identity {
    /// The identity for a request; None if it changes nothing.
    pub fn new(req: &SpawnRequest) -> Option<Identity> {
        let d = &req.det;
        if req.seed.is_none() && d.cpu_count.is_none() && d.hostname.is_none() {
            return None;
        }
        let stream = |id| req.seed.map(|s| super::random::stream(s, id));
        Some(Identity {
            cpus: d.cpu_count,
            hostname: d.hostname.clone(),
            seed: req.seed,
            uuids: std::collections::HashMap::new(),
            caller: 0,
            boot_id: stream(STREAM_BOOT_ID).map(|mut r| uuid(&mut r)),
            hide_rng: req.seed.is_some(),
            etc_hostname: std::fs::canonicalize("/etc/hostname").ok(),
            cpuinfo: None,
        })
    }

    /// Answer an identity system call or open; None if it is not one of ours.
    pub fn handle(&mut self, listener: RawFd, n: &SeccompNotif) -> Option<Reply> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        match n.data.nr as i64 {
            libc::SYS_uname => self.hostname.as_ref().map(|h| uname(pid, a[0], h)),
            libc::SYS_sched_getaffinity => self
                .cpus
                .map(|c| affinity(pid, a[0] as i32, a[1] as u32, a[2], c)),
            libc::SYS_getcpu => {
                let ok = [a[0], a[1]]
                    .iter()
                    .all(|&p| p == 0 || mem::write(pid, p, &0u32.to_ne_bytes()) == Ok(4));
                Some(if ok {
                    Reply::Value(0)
                } else {
                    Reply::Errno(libc::EFAULT)
                })
            }
            libc::SYS_open | libc::SYS_openat | libc::SYS_openat2 => self.open(listener, n),
            _ => None,
        }
    }

    fn open(&mut self, listener: RawFd, n: &SeccompNotif) -> Option<Reply> {
        let call = OpenCall::of(n)?;
        if call.flags & (libc::O_PATH | libc::O_ACCMODE) != libc::O_RDONLY
            || !NAMES.contains(&call.file_name())
        {
            return None;
        }
        let full = child_path(n.pid as libc::pid_t, call.dirfd, &call.path);
        if call.flags & libc::O_NOFOLLOW != 0
            && std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink())
        {
            return None;
        }
        let canon = std::fs::canonicalize(&full).ok()?;
        let text = self.content(&canon)?;
        Some(serve(
            listener,
            n.id,
            &canon.to_string_lossy(),
            text.as_bytes(),
            call.flags & libc::O_CLOEXEC != 0,
        ))
    }

    /// The synthesized text of a canonical path, or None to read the real file.
    fn content(&mut self, canon: &std::path::Path) -> Option<String> {
        let host = |h: &Vec<u8>| format!("{}\n", String::from_utf8_lossy(h));
        if Some(canon) == self.etc_hostname.as_deref() {
            return self.hostname.as_ref().map(host);
        }
        match canon.to_str()? {
            "/proc/cpuinfo" if self.cpus.is_some() || self.hide_rng => {
                // With a seed and the host's CPU count, still synthesized: the
                // MHz line changes between reads, and the flags must agree
                // with what cpuid shows.
                let (cpus, hide) = (self.cpus, self.hide_rng);
                let text = self.cpuinfo.get_or_insert_with(|| {
                    let real = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
                    let host = real.matches("\nprocessor").count() as u32
                        + u32::from(real.starts_with("processor"));
                    synth_cpuinfo(&real, cpus.unwrap_or(host.max(1)), hide).into_bytes()
                });
                Some(String::from_utf8_lossy(text).into_owned())
            }
            "/proc/stat" => {
                let real = std::fs::read_to_string("/proc/stat").ok()?;
                self.cpus.map(|n| synth_stat(&real, n))
            }
            "/sys/devices/system/cpu/online"
            | "/sys/devices/system/cpu/possible"
            | "/sys/devices/system/cpu/present" => self.cpus.map(cpu_list),
            "/proc/sys/kernel/hostname" => self.hostname.as_ref().map(host),
            "/proc/sys/kernel/random/uuid" => {
                let (seed, caller) = (self.seed?, self.caller);
                let rng = self
                    .uuids
                    .entry(caller)
                    .or_insert_with(|| uuid_stream(seed, caller));
                Some(uuid(rng))
            }
            "/proc/sys/kernel/random/boot_id" => self.boot_id.clone(),
            _ => None,
        }
    }
}

fn uname(pid: libc::pid_t, addr: u64, hostname: &[u8]) -> Reply {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Reply::Continue;
    }
    u.nodename = [0; 65];
    for (d, &s) in u.nodename.iter_mut().zip(hostname.iter().take(64)) {
        *d = s as libc::c_char;
    }
    // SAFETY: reads the bytes of a plain local struct for the copy.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&u as *const libc::utsname).cast::<u8>(),
            std::mem::size_of::<libc::utsname>(),
        )
    };
    match mem::write(pid, addr, bytes) {
        Ok(w) if w == bytes.len() => Reply::Value(0),
        _ => Reply::Errno(libc::EFAULT),
    }
}

/// sched_getaffinity(pid, len, mask) as the kernel answers it with `n` CPUs.
fn affinity(pid: libc::pid_t, target: i32, len: u32, mask: u64, n: u32) -> Reply {
    if target < 0 {
        return Reply::Errno(libc::ESRCH);
    }
    if (len as u64) * 8 < n as u64 || len % 8 != 0 {
        return Reply::Errno(libc::EINVAL);
    }
    // The kernel copies whole longs: cpumask_size() for nr_cpu_ids = n.
    let size = (n as usize).div_ceil(64) * 8;
    let ret = size.min(len as usize);
    let mut bits = vec![0u8; ret];
    for cpu in 0..n as usize {
        bits[cpu / 8] |= 1 << (cpu % 8);
    }
    match mem::write(pid, mask, &bits) {
        Ok(w) if w == ret => Reply::Value(ret as i64),
        _ => Reply::Errno(libc::EFAULT),
    }
}

/// Install a sealed read-only memfd holding `data` as the result of the open.
pub(crate) fn serve(listener: RawFd, id: u64, name: &str, data: &[u8], cloexec: bool) -> Reply {
    match sealed_memfd(name, data) {
        Ok(fd) => match notify::addfd(listener, id, fd.as_raw_fd(), None, cloexec, true) {
            Ok(_) | Err(libc::ENOENT) => Reply::Done,
            Err(e) => Reply::Errno(e),
        },
        Err(e) => Reply::Errno(e),
    }
}

fn sealed_memfd(name: &str, data: &[u8]) -> Result<OwnedFd, i32> {
    let cname = std::ffi::CString::new(format!("sandlock:{name}")).map_err(|_| libc::EINVAL)?;
    // SAFETY: a NUL-terminated name; the new fd is ours.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(crate::error::last_errno());
    }
    // SAFETY: a new fd owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writes from our slice to our memfd.
        let w = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        if w <= 0 {
            return Err(crate::error::last_errno());
        }
        off += w as usize;
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(crate::error::last_errno());
    }
    // A fresh read-only open of the same file: the program gets its own
    // offset from 0 and a descriptor it cannot write through.
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| libc::EINVAL)?;
    // SAFETY: a NUL-terminated path; the new fd is ours.
    let ro = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if ro < 0 {
        return Err(crate::error::last_errno());
    }
    // SAFETY: a new fd owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(ro) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu MHz\t\t: 2445.426\n\
        physical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\napicid\t\t: 0\n\
        flags\t\t: fpu rdrand sse rdseed\nbogomips\t: 4890.85\n\nprocessor\t: 1\n";

    #[test]
    fn cpuinfo_has_n_blocks() {
        let s = synth_cpuinfo(SAMPLE, 3, true);
        assert_eq!(s.matches("processor\t: ").count(), 3);
        assert!(s.contains("processor\t: 2\n"));
        assert!(s.contains("siblings\t: 3\n"));
        assert!(s.contains("cpu MHz\t\t: 2445.425\n"));
        assert!(s.contains("flags\t\t: fpu sse\n"));
        assert!(s.contains("vendor_id\t: AuthenticAMD\n"));
        assert!(synth_cpuinfo(SAMPLE, 1, false).contains("rdrand"));
    }

    #[test]
    fn stat_has_n_cpu_lines() {
        let real = "cpu  10 0 20 300\ncpu0 4 0 10 150\ncpu1 6 0 10 150\nintr 5 1\nctxt 9\n";
        let s = synth_stat(real, 3);
        assert_eq!(
            s,
            "cpu  14 0 30 450\ncpu0 4 0 10 150\ncpu1 6 0 10 150\ncpu2 4 0 10 150\n\
             intr 5 1\nctxt 9\n"
        );
        assert_eq!(
            synth_stat(real, 1),
            "cpu  4 0 10 150\ncpu0 4 0 10 150\nintr 5 1\nctxt 9\n"
        );
    }

    #[test]
    fn lists_and_uuids() {
        assert_eq!(cpu_list(1), "0\n");
        assert_eq!(cpu_list(4), "0-3\n");
        let mut r = uuid_stream(1, 7);
        let u = uuid(&mut r);
        assert_eq!(u.len(), 37);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert_ne!(u, uuid(&mut r));
    }

    #[test]
    fn memfd_is_sealed_and_read_only() {
        let fd = sealed_memfd("t", b"hello\n").unwrap();
        let mut b = [0u8; 16];
        // SAFETY: reads into a local buffer from our fd.
        let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
        assert_eq!(&b[..n as usize], b"hello\n");
        // SAFETY: write from a local buffer; expected to fail.
        assert!(unsafe { libc::write(fd.as_raw_fd(), b.as_ptr().cast(), 1) } < 0);
    }
}
