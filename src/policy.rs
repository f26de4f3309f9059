//! The policy value: plain Rust, validated when each setting is made.
//!
//! A policy is never changed by spawning. The Landlock ruleset built from it is
//! cached (and dropped by every setter that changes a path rule), so that many
//! spawns of one policy pay for the ruleset once.

use crate::error::{Error, Result};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a path rule lets the child do beneath that path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read files, list directories.
    Read,
    /// Read, plus create, write, truncate, rename and remove.
    Write,
    /// Execute files (and read them, which loading needs).
    Exec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRule {
    pub path: PathBuf,
    pub access: Access,
}

/// The environment a child starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvSpec {
    /// Start from the host's environment as it is at spawn time.
    pub inherit: bool,
    /// Variables set (Some) or removed (None), in order; later entries win.
    pub vars: Vec<(OsString, Option<OsString>)>,
}

/// How the sandbox's clocks run (`SL_TIME_*` in the C API, same numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeMode {
    /// The host's clocks, untouched.
    #[default]
    Real = 0,
    /// Starts at the given time and runs at the real pace.
    Offset = 1,
    /// Always the given time, except that sleeps advance it.
    Frozen = 2,
    /// Starts at the given time; every read and every sleep advances it.
    Logical = 3,
}

impl TimeMode {
    pub fn from_i32(v: i32) -> Option<TimeMode> {
        use TimeMode::*;
        [Real, Offset, Frozen, Logical]
            .into_iter()
            .find(|m| *m as i32 == v)
    }
}

/// What logical time advances per clock read unless set: 1 ms, so a program
/// that busy-waits for a second needs a thousand reads, not a million.
pub const DEFAULT_TIME_STEP_NS: u64 = 1_000_000;
/// The longest host name `uname` can hold (HOST_NAME_MAX).
pub const MAX_HOSTNAME: usize = 64;
/// The most CPUs a sandbox may claim (glibc's CPU_SETSIZE).
pub const MAX_CPUS: u32 = 1024;

/// Virtual time and machine identity (DESIGN.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Determinism {
    pub time_mode: TimeMode,
    /// CLOCK_REALTIME at the start, in ns since the epoch (not used in Real mode).
    pub time_start_ns: i64,
    /// Logical mode: what each clock read adds.
    pub time_step_ns: u64,
    /// The CPU count the sandbox sees; None = the host's.
    pub cpu_count: Option<u32>,
    /// The host name the sandbox sees; None = the host's.
    pub hostname: Option<Vec<u8>>,
}

impl Default for Determinism {
    fn default() -> Determinism {
        Determinism {
            time_mode: TimeMode::Real,
            time_start_ns: 0,
            time_step_ns: DEFAULT_TIME_STEP_NS,
            cpu_count: None,
            hostname: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Policy {
    pub rules: Vec<PathRule>,
    /// Paths that stay unreachable even beneath an allowed path.
    pub deny: Vec<PathBuf>,
    /// TCP ports the child may bind / connect to (Landlock, ABI >= 4).
    pub tcp_bind: Vec<u16>,
    pub tcp_connect: Vec<u16>,
    /// UDP sockets are allowed (any port).
    pub allow_udp: bool,
    /// Destination rules ("CIDR:port"), connected on the child's behalf.
    pub connect_rules: Vec<String>,
    /// Bind rules ("CIDR:port" of the local address), bound on the child's behalf.
    pub bind_rules: Vec<String>,
    pub seed: Option<u64>,
    pub env: EnvSpec,
    pub cwd: Option<PathBuf>,
    /// Child stdin, stdout, stderr: a host fd, or None to pass the host's own.
    pub stdio: [Option<RawFd>; 3],
    pub timeout_ms: Option<u64>,
    /// Run with what the kernel can enforce instead of failing.
    pub best_effort: bool,
    /// Resource limits of the whole sandbox (0 = none), indexed by `Limit::index()`.
    pub limits: crate::outcome::Limits,
    /// Virtual time and machine identity (clock mode, CPU count, hostname).
    pub det: Determinism,
    /// The run-time decision handler, if any (`events.rs`).
    pub events: Option<crate::events::Handler>,
    /// `/proc` shows only the sandbox's own processes (`handlers/procview.rs`).
    pub proc_view: bool,
    /// The copy-on-write working directory and what to do with its changes (`cow.rs`).
    pub workdir: Option<(PathBuf, crate::cow::Mode)>,
    /// The Landlock ruleset built from `rules`, shared by every spawn.
    pub(crate) ruleset: Mutex<Option<Arc<Option<OwnedFd>>>>,
}

impl Clone for Policy {
    fn clone(&self) -> Policy {
        Policy {
            rules: self.rules.clone(),
            deny: self.deny.clone(),
            tcp_bind: self.tcp_bind.clone(),
            tcp_connect: self.tcp_connect.clone(),
            allow_udp: self.allow_udp,
            connect_rules: self.connect_rules.clone(),
            bind_rules: self.bind_rules.clone(),
            seed: self.seed,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            stdio: self.stdio,
            timeout_ms: self.timeout_ms,
            best_effort: self.best_effort,
            limits: self.limits,
            det: self.det.clone(),
            events: self.events.clone(),
            proc_view: self.proc_view,
            workdir: self.workdir.clone(),
            ruleset: Mutex::new(None),
        }
    }
}

fn check_path(what: &str, path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::invalid(format!("{what}: the path is empty")));
    }
    if !path.is_absolute() {
        return Err(Error::invalid(format!(
            "{what}: '{}' is not an absolute path",
            path.display()
        )));
    }
    if let Err(e) = std::fs::metadata(path) {
        return Err(Error::with_errno(
            crate::error::Code::Invalid,
            format!("{what}: cannot use '{}'", path.display()),
            e.raw_os_error().unwrap_or(libc::EINVAL),
        ));
    }
    Ok(())
}

impl Policy {
    pub fn new() -> Policy {
        Policy::default()
    }

    fn forget_ruleset(&mut self) {
        *self.ruleset.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Add a Landlock path-beneath rule. The path must exist and be absolute.
    pub fn allow(&mut self, path: &Path, access: Access) -> Result<()> {
        let what = match access {
            Access::Read => "sl_policy_allow_read",
            Access::Write => "sl_policy_allow_write",
            Access::Exec => "sl_policy_allow_exec",
        };
        check_path(what, path)?;
        self.rules.push(PathRule {
            path: path.to_path_buf(),
            access,
        });
        self.forget_ruleset();
        Ok(())
    }

    /// Keep `path` unreachable even beneath allowed paths. It need not exist yet,
    /// but its parent must: the rule is computed from the parent's entries.
    pub fn deny(&mut self, path: &Path) -> Result<()> {
        let f = "sl_policy_deny_path";
        if !path.is_absolute() {
            return Err(Error::invalid(format!(
                "{f}: '{}' is not an absolute path",
                path.display()
            )));
        }
        let clean: PathBuf = path.components().collect();
        if clean
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(Error::invalid(format!(
                "{f}: '{}' contains '..'",
                path.display()
            )));
        }
        if clean.parent().is_none() {
            return Err(Error::invalid(format!("{f}: cannot deny '/'")));
        }
        self.deny.push(clean);
        self.forget_ruleset();
        Ok(())
    }

    pub fn allow_tcp(&mut self, bind: bool, port: u16) {
        if bind {
            self.tcp_bind.push(port);
        } else {
            self.tcp_connect.push(port);
        }
        self.forget_ruleset();
    }

    /// Add a destination rule like "10.0.0.0/8:443" (checked now).
    pub fn allow_connect(&mut self, rule: &str) -> Result<()> {
        crate::handlers::net::ConnectRule::parse(rule)
            .map_err(|e| Error::invalid(format!("sl_policy_allow_connect: '{rule}': {e}")))?;
        self.connect_rules.push(rule.to_string());
        Ok(())
    }

    /// Add a bind rule like "127.0.0.1:8080" or "0.0.0.0/0:*" (checked now).
    pub fn allow_bind(&mut self, rule: &str) -> Result<()> {
        crate::handlers::net::ConnectRule::parse(rule)
            .map_err(|e| Error::invalid(format!("sl_policy_allow_bind: '{rule}': {e}")))?;
        self.bind_rules.push(rule.to_string());
        Ok(())
    }

    pub fn set_seed(&mut self, seed: u64) {
        self.seed = Some(seed);
        // The ruleset depends on it (the random devices are carved out).
        self.forget_ruleset();
    }

    pub fn set_env(&mut self, name: &OsStr, value: Option<&OsStr>) -> Result<()> {
        let n = name.as_bytes();
        if n.is_empty() || n.contains(&b'=') {
            return Err(Error::invalid(format!(
                "sl_policy_set_env: '{}' is not a valid variable name (empty or contains '=')",
                name.to_string_lossy()
            )));
        }
        self.env
            .vars
            .push((name.to_os_string(), value.map(|v| v.to_os_string())));
        Ok(())
    }

    /// Forget every variable set and stop inheriting the host's environment.
    pub fn clear_env(&mut self) {
        self.env = EnvSpec::default();
    }

    pub fn inherit_env(&mut self, on: bool) {
        self.env.inherit = on;
    }

    pub fn set_cwd(&mut self, dir: &Path) -> Result<()> {
        check_path("sl_policy_set_cwd", dir)?;
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "sl_policy_set_cwd: '{}' is not a directory",
                dir.display()
            )));
        }
        self.cwd = Some(dir.to_path_buf());
        Ok(())
    }

    pub fn set_stdio(&mut self, fds: [RawFd; 3]) -> Result<()> {
        let mut out = [None; 3];
        for (i, &fd) in fds.iter().enumerate() {
            if fd == -1 {
                continue;
            }
            if fd < 0 {
                return Err(Error::invalid(format!(
                    "sl_policy_set_stdio: fd {fd} for {} is negative (use -1 to inherit)",
                    ["stdin", "stdout", "stderr"][i]
                )));
            }
            // SAFETY: F_GETFD only inspects the descriptor table entry.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                return Err(Error::with_errno(
                    crate::error::Code::Invalid,
                    format!(
                        "sl_policy_set_stdio: fd {fd} for {} is not open",
                        ["stdin", "stdout", "stderr"][i]
                    ),
                    libc::EBADF,
                ));
            }
            out[i] = Some(fd);
        }
        self.stdio = out;
        Ok(())
    }

    pub fn set_timeout_ms(&mut self, ms: u64) {
        self.timeout_ms = if ms == 0 { None } else { Some(ms) };
    }

    pub fn set_limit(&mut self, which: crate::outcome::Limit, value: u64) {
        self.limits[which.index()] = value;
    }

    pub fn set_best_effort(&mut self, on: bool) {
        self.best_effort = on;
        self.forget_ruleset();
    }

    /// The child's environment, as `NAME=value` strings, computed now.
    pub fn environment(&self) -> Vec<CString> {
        let mut vars: Vec<(OsString, OsString)> = Vec::new();
        if self.env.inherit {
            vars.extend(std::env::vars_os());
        }
        for (name, value) in &self.env.vars {
            vars.retain(|(n, _)| n != name);
            if let Some(v) = value {
                vars.push((name.clone(), v.clone()));
            }
        }
        vars.into_iter()
            .filter_map(|(n, v)| {
                let mut b = n.as_bytes().to_vec();
                b.push(b'=');
                b.extend_from_slice(v.as_bytes());
                CString::new(b).ok()
            })
            .collect()
    }
}

/// Setters of the determinism settings (validated, each error names its argument).
impl Policy {
    pub fn set_time(&mut self, mode: i32, start_ns: i64) -> Result<()> {
        let f = "sl_policy_set_time";
        let Some(m) = TimeMode::from_i32(mode) else {
            return Err(Error::invalid(format!(
                "{f}: mode {mode} is not one of SL_TIME_REAL, SL_TIME_OFFSET, SL_TIME_FROZEN, SL_TIME_LOGICAL"
            )));
        };
        if m != TimeMode::Real && start_ns < 0 {
            return Err(Error::invalid(format!(
                "{f}: start_ns {start_ns} is before 1970 (must be >= 0)"
            )));
        }
        self.det.time_mode = m;
        self.det.time_start_ns = if m == TimeMode::Real { 0 } else { start_ns };
        Ok(())
    }

    pub fn set_time_step_ns(&mut self, step_ns: i64) -> Result<()> {
        if !(1..=3_600_000_000_000).contains(&step_ns) {
            return Err(Error::invalid(format!(
                "sl_policy_set_time_step_ns: step_ns {step_ns} is not between 1 ns and one hour"
            )));
        }
        self.det.time_step_ns = step_ns as u64;
        Ok(())
    }

    pub fn set_cpu_count(&mut self, n: i32) -> Result<()> {
        if n < 0 || n as u32 > MAX_CPUS {
            return Err(Error::invalid(format!(
                "sl_policy_set_cpu_count: n {n} is not between 1 and {MAX_CPUS} (0 = the host's)"
            )));
        }
        self.det.cpu_count = (n > 0).then_some(n as u32);
        Ok(())
    }

    pub fn set_hostname(&mut self, name: Option<&[u8]>) -> Result<()> {
        let f = "sl_policy_set_hostname";
        if let Some(n) = name {
            if n.is_empty() || n.len() > MAX_HOSTNAME {
                return Err(Error::invalid(format!(
                    "{f}: name must have 1 to {MAX_HOSTNAME} bytes, not {}",
                    n.len()
                )));
            }
            if n.iter().any(|&b| b <= b' ' || b == 0x7f) {
                return Err(Error::invalid(format!(
                    "{f}: name '{}' contains a space or a control character",
                    String::from_utf8_lossy(n)
                )));
            }
        }
        self.det.hostname = name.map(|n| n.to_vec());
        Ok(())
    }
}

/// The /proc view (`handlers/procview.rs`).
impl Policy {
    /// Show only the sandbox's own processes in `/proc`. The Landlock ruleset
    /// depends on it (a rule covering `/proc` is carved), so it is rebuilt.
    pub fn set_proc_view(&mut self, on: bool) {
        if self.proc_view != on {
            self.proc_view = on;
            self.forget_ruleset();
        }
    }
}

/// The copy-on-write working directory (`cow.rs`).
impl Policy {
    pub fn set_workdir(&mut self, dir: &Path, mode: i32) -> Result<()> {
        let f = "sl_policy_set_workdir";
        let Some(m) = crate::cow::Mode::from_i32(mode) else {
            return Err(Error::invalid(format!(
                "{f}: mode {mode} is not one of SL_COW_AUTO, SL_COW_COMMIT, SL_COW_ABORT, \
                 SL_COW_KEEP, SL_COW_MANUAL"
            )));
        };
        check_path(f, dir)?;
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "{f}: '{}' is not a directory",
                dir.display()
            )));
        }
        let canon = std::fs::canonicalize(dir).map_err(|e| {
            Error::with_errno(
                crate::error::Code::Invalid,
                format!("{f}: cannot resolve '{}'", dir.display()),
                e.raw_os_error().unwrap_or(libc::EINVAL),
            )
        })?;
        if canon == Path::new("/") {
            return Err(Error::invalid(format!("{f}: the workdir cannot be '/'")));
        }
        self.workdir = Some((canon, m));
        self.forget_ruleset();
        self.check_workdir(f)
    }

    /// A workdir must not also be writable directly (a write rule on it, inside
    /// it or above it would let the child change it in place).
    pub fn check_workdir(&self, f: &str) -> Result<()> {
        let Some((dir, _)) = &self.workdir else {
            return Ok(());
        };
        for r in self.rules.iter().filter(|r| r.access == Access::Write) {
            let w = std::fs::canonicalize(&r.path).unwrap_or_else(|_| r.path.clone());
            if dir.starts_with(&w) || w.starts_with(dir) {
                return Err(Error::invalid(format!(
                    "{f}: the workdir '{}' is also writable directly through the write rule \
                     '{}': drop one of the two",
                    dir.display(),
                    r.path.display()
                )));
            }
        }
        Ok(())
    }
}
