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

#[derive(Debug, Default)]
pub struct Policy {
    pub rules: Vec<PathRule>,
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
    /// The Landlock ruleset built from `rules`, shared by every spawn.
    pub(crate) ruleset: Mutex<Option<Arc<Option<OwnedFd>>>>,
}

impl Clone for Policy {
    fn clone(&self) -> Policy {
        Policy {
            rules: self.rules.clone(),
            seed: self.seed,
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            stdio: self.stdio,
            timeout_ms: self.timeout_ms,
            best_effort: self.best_effort,
            limits: self.limits,
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

    pub fn set_seed(&mut self, seed: u64) {
        self.seed = Some(seed);
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
