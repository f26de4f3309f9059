//! The Landlock ruleset built from a policy's path and port rules.
//!
//! Built once per policy in the host (the fd is cached on the policy and sent to
//! the supervisor with each spawn), then applied by the child with a raw
//! `landlock_restrict_self`. Strictness is decided in `spawn.rs` from the ABI;
//! here the crate runs best-effort, so every right this kernel knows is handled.
//!
//! Denied paths: Landlock only adds rights beneath a path, it cannot subtract.
//! So an allow rule with a denied path inside it is replaced by rules on every
//! sibling along the way ("carving"): the directories from the allowed path down
//! to the denied one keep only `ReadDir` (their names stay listable), their other
//! entries keep the full rule, and the denied path gets nothing. Nothing beneath
//! it is reachable, and nothing can be created, renamed or linked into it later,
//! since no rule grants a `Make*` or `Refer` right there. Symlinks among the
//! siblings get no rule: Landlock checks the resolved path, so a link pointing
//! into a denied tree is refused and one pointing elsewhere is judged there.

use crate::error::{Code, Error, Result};
use crate::policy::{Access, Policy};
use ::landlock::{
    Access as _, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, ABI,
};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
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

/// Replace rules that contain a denied path by rules on the siblings around it.
pub(crate) fn carve(
    rules: Vec<(PathBuf, BitFlags<AccessFs>)>,
    deny: &[PathBuf],
) -> Vec<(PathBuf, BitFlags<AccessFs>)> {
    let mut out = Vec::new();
    for (path, r) in rules {
        if deny.iter().any(|d| path.starts_with(d)) {
            continue; // inside a denied tree: deny wins
        }
        let inside: Vec<&PathBuf> = deny
            .iter()
            .filter(|d| d.starts_with(&path) && **d != path)
            .collect();
        if inside.is_empty() {
            out.push((path, r));
        } else {
            carve_dir(&path, r, &inside, &mut out);
        }
    }
    out
}

fn carve_dir(
    dir: &Path,
    r: BitFlags<AccessFs>,
    deny: &[&PathBuf],
    out: &mut Vec<(PathBuf, BitFlags<AccessFs>)>,
) {
    if r.contains(AccessFs::ReadDir) {
        out.push((dir.to_path_buf(), BitFlags::from(AccessFs::ReadDir)));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if deny.iter().any(|d| **d == p) {
            continue;
        }
        let below: Vec<&PathBuf> = deny.iter().copied().filter(|d| d.starts_with(&p)).collect();
        if !below.is_empty() {
            if p.is_dir() {
                carve_dir(&p, r, &below, out);
            }
        } else if !e.file_type().is_ok_and(|t| t.is_symlink()) {
            out.push((p, r));
        }
    }
}

fn build(policy: &Policy, upper: Option<&Path>) -> Result<Option<OwnedFd>> {
    let abi = crate::features::landlock_abi();
    if abi == 0 {
        return Ok(None);
    }
    let exec_handled = policy.rules.iter().any(|r| r.access == Access::Exec);
    let mut handled = AccessFs::from_all(TARGET);
    if !exec_handled {
        handled &= !AccessFs::Execute;
    }
    let mut rs = Ruleset::default()
        .handle_access(handled)
        .map_err(|e| ll_err("handling rights".into(), e))?;
    if abi >= 4 {
        // No TCP bind or connect unless a port rule allows it.
        rs = rs
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| ll_err("handling TCP".into(), e))?;
    }
    let mut rs = rs
        .scope(Scope::Signal | Scope::AbstractUnixSocket)
        .map_err(|e| ll_err("scoping".into(), e))?
        .create()
        .map_err(|e| ll_err("creating the ruleset".into(), e))?;

    let defaults: Vec<(PathBuf, BitFlags<AccessFs>)> = DEVICES_RW
        .iter()
        .map(|d| (PathBuf::from(d), rights(Access::Write, exec_handled)))
        // With a seed the child never opens the random devices itself: the supervisor
        // installs them (handlers/random.rs), so a path swapped after it looked
        // cannot reach the real device.
        .chain(
            DEVICES_RO
                .iter()
                .filter(|_| policy.seed.is_none())
                .map(|d| (PathBuf::from(d), rights(Access::Read, exec_handled))),
        )
        .filter(|(p, _)| p.exists())
        .collect();
    let user: Vec<(PathBuf, BitFlags<AccessFs>)> = policy
        .rules
        .iter()
        .map(|r| (r.path.clone(), rights(r.access, exec_handled)))
        // The copy-on-write workdir: read only (writes go to the upper layer).
        .chain(
            policy
                .workdir
                .iter()
                .map(|(d, _)| (d.clone(), rights(Access::Read, exec_handled))),
        )
        // Its upper layer: read, and execute where the workdir may (a program
        // built in the run is executed from there, `handlers/cow.rs`).
        .chain(upper.map(|u| {
            let exec = policy.workdir.as_ref().is_some_and(|(d, _)| {
                policy
                    .rules
                    .iter()
                    .filter(|r| r.access == Access::Exec)
                    .any(|r| std::fs::canonicalize(&r.path).is_ok_and(|p| d.starts_with(p)))
            });
            let access = if exec { Access::Exec } else { Access::Read };
            (u.to_path_buf(), rights(access, exec_handled))
        }))
        .collect();
    // With the /proc view, the child never opens beneath /proc/PID itself.
    let user = if policy.proc_view {
        crate::handlers::procview::carve_proc(user)
    } else {
        user
    };
    let mut deny = policy.deny.clone();
    if policy.seed.is_some() {
        deny.extend(DEVICES_RO.iter().map(PathBuf::from));
    }
    for (path, mut r) in defaults.into_iter().chain(carve(user, &deny)) {
        let fd =
            PathFd::new(&path).map_err(|e| ll_err(format!("opening '{}'", path.display()), e))?;
        if !path.is_dir() {
            r &= AccessFs::from_file(TARGET);
        }
        if r.is_empty() {
            continue; // a file under a names-only (ReadDir) rule, carved twice
        }
        rs = rs
            .add_rule(PathBeneath::new(fd, r))
            .map_err(|e| ll_err(format!("adding a rule for '{}'", path.display()), e))?;
    }
    if abi >= 4 {
        for (ports, access) in [
            (&policy.tcp_bind, AccessNet::BindTcp),
            (&policy.tcp_connect, AccessNet::ConnectTcp),
        ] {
            for &port in ports.iter() {
                rs = rs
                    .add_rule(NetPort::new(port, access))
                    .map_err(|e| ll_err(format!("adding a rule for TCP port {port}"), e))?;
            }
        }
    }
    Ok(rs.into())
}

/// The ruleset fd for `policy` (None when the kernel has no Landlock), cached.
pub fn ruleset_for(policy: &Policy) -> Result<Arc<Option<OwnedFd>>> {
    let mut cache = policy.ruleset.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = cache.as_ref() {
        return Ok(r.clone());
    }
    let r = Arc::new(build(policy, None)?);
    *cache = Some(r.clone());
    Ok(r)
}

/// A ruleset for one run with a copy-on-write workdir (not cached): the
/// policy's, plus read (and execute, where the workdir may) on its upper layer.
pub fn ruleset_with_upper(policy: &Policy, upper: &Path) -> Result<Arc<Option<OwnedFd>>> {
    Ok(Arc::new(build(policy, Some(upper))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carving_keeps_siblings_and_drops_the_denied_tree() {
        let root = std::env::temp_dir().join(format!("sandlock-carve-{}", std::process::id()));
        for d in ["a/secret/deep", "a/other", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("a/file"), "x").unwrap();
        std::os::unix::fs::symlink(root.join("a/secret"), root.join("a/link")).unwrap();
        let all = AccessFs::from_all(TARGET);
        let out = carve(vec![(root.clone(), all)], &[root.join("a/secret")]);
        let got: Vec<(String, bool)> = {
            let mut v: Vec<_> = out
                .iter()
                .map(|(p, r)| {
                    (
                        p.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                        *r == all,
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            got,
            vec![
                ("".into(), false),
                ("a".into(), false),
                ("a/file".into(), true),
                ("a/other".into(), true),
                ("b".into(), true)
            ]
        );
        // A rule inside the denied tree disappears; one elsewhere is untouched.
        let out = carve(
            vec![(root.join("a/secret/deep"), all), (root.join("b"), all)],
            &[root.join("a/secret")],
        );
        assert_eq!(out, vec![(root.join("b"), all)]);
        std::fs::remove_dir_all(root).unwrap();
    }
}
