//! The Landlock ruleset built from a policy's path rules.
//!
//! Built once per policy in the host (the fd is cached on the policy and sent to
//! the supervisor with each spawn), then applied by the child with a raw
//! `landlock_restrict_self`. Strictness is decided in `spawn.rs` from the ABI;
//! here the crate runs best-effort, so every right this kernel knows is handled.

use crate::error::{Code, Error, Result};
use crate::policy::{Access, Policy};
use ::landlock::{
    Access as _, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    Scope, ABI,
};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

/// The newest ABI whose rights we hand out: V6 adds signal and abstract-socket scopes.
const TARGET: ABI = ABI::V6;

/// Always reachable: programs expect these, and they leak nothing.
const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];
const DEVICES_RO: &[&str] = &["/dev/urandom", "/dev/random"];

fn rights(access: Access, exec_handled: bool) -> BitFlags<AccessFs> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let r = match access {
        Access::Read => read,
        Access::Write => AccessFs::from_all(TARGET) & !AccessFs::Execute,
        Access::Exec => read | AccessFs::Execute,
    };
    if exec_handled {
        r
    } else {
        r & !AccessFs::Execute
    }
}

fn ll_err(what: String, e: impl std::fmt::Display) -> Error {
    Error::new(Code::Sys, format!("Landlock: {what}: {e}"))
}

fn build(policy: &Policy) -> Result<Option<OwnedFd>> {
    if crate::features::landlock_abi() == 0 {
        return Ok(None);
    }
    let exec_handled = policy.rules.iter().any(|r| r.access == Access::Exec);
    let mut handled = AccessFs::from_all(TARGET);
    if !exec_handled {
        handled &= !AccessFs::Execute;
    }
    let mut rs = Ruleset::default()
        .handle_access(handled)
        .map_err(|e| ll_err("handling rights".into(), e))?
        .scope(Scope::Signal | Scope::AbstractUnixSocket)
        .map_err(|e| ll_err("scoping".into(), e))?
        .create()
        .map_err(|e| ll_err("creating the ruleset".into(), e))?;
    let defaults = DEVICES_RW
        .iter()
        .map(|d| (Path::new(*d), Access::Write))
        .chain(DEVICES_RO.iter().map(|d| (Path::new(*d), Access::Read)));
    let user = policy.rules.iter().map(|r| (r.path.as_path(), r.access));
    for (path, access) in defaults.chain(user) {
        let fd = match PathFd::new(path) {
            Ok(fd) => fd,
            // A missing default device is not the user's problem.
            Err(_) if !policy.rules.iter().any(|r| r.path == path) => continue,
            Err(e) => return Err(ll_err(format!("opening '{}'", path.display()), e)),
        };
        let mut r = rights(access, exec_handled);
        if !path.is_dir() {
            r &= AccessFs::from_file(TARGET);
        }
        rs = rs
            .add_rule(PathBeneath::new(fd, r))
            .map_err(|e| ll_err(format!("adding a rule for '{}'", path.display()), e))?;
    }
    Ok(rs.into())
}

/// The ruleset fd for `policy` (None when the kernel has no Landlock), cached.
pub fn ruleset_for(policy: &Policy) -> Result<Arc<Option<OwnedFd>>> {
    let mut cache = policy.ruleset.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = cache.as_ref() {
        return Ok(r.clone());
    }
    let r = Arc::new(build(policy)?);
    *cache = Some(r.clone());
    Ok(r)
}
