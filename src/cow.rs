//! The copy-on-write working directory, host side: the private state
//! directory of one run, the change list, commit and abort.
//!
//! Layout of a run's state directory (`$TMPDIR/sandlock-cow-XXXXXX`, mode
//! 0700, made by the host at spawn):
//! - `upper/`: the upper layer, written only by the supervisor on the child's
//!   behalf (`handlers/cow.rs`); `upper/REL` shadows `DIR/REL`.
//! - `whiteouts`: the logical paths the run deleted (relative to `DIR`, each
//!   ending with a NUL), written by the supervisor when the sandbox is over. A
//!   whiteout hides the lower entry and everything beneath it; an upper
//!   directory at a whited-out path is opaque (shows no lower entries).
//!
//! The lower directory is never written while the child runs (Landlock gives
//! the child read access only, and the supervisor writes only beneath
//! `upper/`). Commit applies the difference between the lower directory and
//! the merged view, each file atomically (a temporary file in the destination
//! directory, then rename(2)).

use crate::error::{Code, Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What happens to a run's changes (`SL_COW_*` in the C API, same numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Commit if the first process exited with status 0, else abort.
    #[default]
    Auto = 0,
    /// Always commit when the sandbox is over.
    Commit = 1,
    /// Always discard.
    Abort = 2,
    /// Leave the upper layer on disk for inspection.
    Keep = 3,
    /// The host decides after the wait: `sl_child_commit` / `sl_child_abort`.
    Manual = 4,
}

impl Mode {
    pub fn from_i32(v: i32) -> Option<Mode> {
        use Mode::*;
        [Auto, Commit, Abort, Keep, Manual]
            .into_iter()
            .find(|m| *m as i32 == v)
    }
}

/// What a change does to the workdir (`SL_CHANGE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Added = 1,
    Modified = 2,
    Deleted = 3,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Added => 'A',
            Kind::Modified => 'M',
            Kind::Deleted => 'D',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: Kind,
    /// Relative to the workdir.
    pub rel: PathBuf,
    /// The entry (after the change; before it for a deletion) is a directory.
    pub is_dir: bool,
    /// Already applied to the workdir by a commit.
    pub applied: bool,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pending,
    Committed,
    Aborted,
    Kept,
    /// A commit failed midway; the state directory is kept.
    Failed,
}

/// One run's copy-on-write state, owned by the child handle.
#[derive(Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub mode: Mode,
    pub state: PathBuf,
    pub decision: Decision,
    /// The change list as of the decision (with `applied` flags after a commit).
    pub changes: Option<Vec<Change>>,
    /// NUL-terminated copy of the upper directory's path, for the C API.
    pub upper_c: CString,
}

pub const UPPER: &str = "upper";
pub const WHITEOUTS: &str = "whiteouts";

fn io_err(what: String, e: std::io::Error) -> Error {
    Error::with_errno(
        Code::Sys,
        format!("{what}: {e}"),
        e.raw_os_error().unwrap_or(libc::EIO),
    )
}

/// Make a fresh private state directory, outside `dir`: in `$TMPDIR`, else
/// the first of /tmp, /var/tmp, /dev/shm that is not inside the workdir.
fn make_state(dir: &Path) -> Result<PathBuf> {
    let bases = std::env::var_os("TMPDIR")
        .filter(|t| Path::new(t).is_absolute())
        .into_iter()
        .map(PathBuf::from)
        .chain(["/tmp", "/var/tmp", "/dev/shm"].map(PathBuf::from));
    let base = bases
        .filter_map(|b| std::fs::canonicalize(b).ok())
        .find(|b| !b.starts_with(dir) && b.is_dir())
        .ok_or_else(|| {
            Error::invalid(
                "sl_spawn: no directory for the workdir's private upper layer outside the \
                 workdir ($TMPDIR, /tmp, /var/tmp and /dev/shm are all inside it)",
            )
        })?;
    let mut tmpl = Path::new(&base)
        .join("sandlock-cow-XXXXXX")
        .into_os_string()
        .into_vec();
    tmpl.push(0);
    // SAFETY: mkdtemp rewrites the NUL-terminated template in place.
    let r = unsafe { libc::mkdtemp(tmpl.as_mut_ptr().cast()) };
    if r.is_null() {
        return Err(Error::sys(
            "sl_spawn: creating the workdir's state directory (mkdtemp in $TMPDIR)",
            crate::error::last_errno(),
        ));
    }
    tmpl.pop();
    let state = PathBuf::from(std::ffi::OsString::from_vec(tmpl));
    // Canonical, so the supervisor's comparisons with kernel-given paths hold.
    let state = std::fs::canonicalize(&state).unwrap_or(state);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(state.join(UPPER))
        .map_err(|e| io_err("sl_spawn: creating the upper directory".into(), e))?;
    Ok(state)
}

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::DirBuilderExt;

impl Run {
    pub fn new(dir: &Path, mode: Mode) -> Result<Run> {
        let state = make_state(dir)?;
        let upper_c = CString::new(state.join(UPPER).into_os_string().into_vec())
            .map_err(|_| Error::invalid("sl_spawn: $TMPDIR contains a NUL byte"))?;
        Ok(Run {
            dir: dir.to_path_buf(),
            mode,
            state,
            decision: Decision::Pending,
            changes: None,
            upper_c,
        })
    }

    pub fn upper(&self) -> PathBuf {
        self.state.join(UPPER)
    }

    fn whiteouts(&self) -> BTreeSet<PathBuf> {
        let raw = std::fs::read(self.state.join(WHITEOUTS)).unwrap_or_default();
        raw.split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(OsStr::from_bytes(s)))
            .collect()
    }

    /// The changes the merged view makes to the workdir, sorted by path.
    pub fn compute_changes(&self) -> Result<Vec<Change>> {
        let upper = self.upper();
        let wh = self.whiteouts();
        let mut out: BTreeMap<PathBuf, Change> = BTreeMap::new();
        let mut add = |rel: &Path, kind, is_dir| {
            out.entry(rel.to_path_buf()).or_insert(Change {
                kind,
                rel: rel.to_path_buf(),
                is_dir,
                applied: false,
            });
        };
        // Deletions: whited-out lower entries with nothing in upper, and lower
        // entries beneath a whiteout that upper does not have.
        for w in &wh {
            let lower = self.dir.join(w);
            let Some(lm) = lower_meta(&self.dir, w) else {
                continue;
            };
            if std::fs::symlink_metadata(upper.join(w)).is_err() {
                add(w, Kind::Deleted, lm.is_dir());
            }
            if lm.is_dir() {
                for (rel, m) in walk(&lower, w) {
                    if std::fs::symlink_metadata(upper.join(&rel)).is_err() {
                        add(&rel, Kind::Deleted, m.is_dir());
                    }
                }
            }
        }
        for (rel, um) in walk(&upper, Path::new("")) {
            let lower = self.dir.join(&rel);
            match lower_meta(&self.dir, &rel) {
                None => add(&rel, Kind::Added, um.is_dir()),
                Some(lm) => {
                    if differs(&upper.join(&rel), &um, &lower, &lm) {
                        add(&rel, Kind::Modified, um.is_dir());
                    }
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// The change list (computed once, then kept with its applied flags).
    pub fn changes(&mut self) -> Result<&[Change]> {
        if self.changes.is_none() {
            if matches!(self.decision, Decision::Committed) {
                return Ok(&[]);
            }
            if matches!(self.decision, Decision::Aborted) {
                return Err(Error::invalid(
                    "the run's changes were discarded (aborted): there is no change list",
                ));
            }
            self.changes = Some(self.compute_changes()?);
        }
        Ok(self.changes.as_deref().unwrap_or_default())
    }

    /// Discard the upper layer.
    pub fn abort(&mut self) {
        if self.changes.is_none() {
            self.changes = self.compute_changes().ok();
        }
        let _ = remove_state(&self.state);
        self.decision = Decision::Aborted;
    }

    /// Leave the upper layer where it is.
    pub fn keep(&mut self) {
        let _ = self.changes();
        self.decision = Decision::Kept;
    }

    /// Apply the changes to the workdir: type changes removed first, then
    /// directories and files parent-first (each file through a temporary
    /// file and rename), then deletions deepest-first.
    pub fn commit(&mut self, func: &str) -> Result<()> {
        self.changes()?;
        let upper = self.upper();
        let mut list = self.changes.take().unwrap_or_default();
        let r = apply(&self.dir, &upper, &mut list);
        self.changes = Some(list);
        match r {
            Ok(()) => {
                let _ = remove_state(&self.state);
                self.decision = Decision::Committed;
                Ok(())
            }
            Err((rel, e)) => {
                self.decision = Decision::Failed;
                let done: Vec<String> = self
                    .changes
                    .iter()
                    .flatten()
                    .filter(|c| c.applied)
                    .map(|c| format!("{} {}", c.kind.letter(), self.dir.join(&c.rel).display()))
                    .collect();
                // The message names the first ones; sl_child_changes has them all.
                const SHOWN: usize = 20;
                let mut shown = done.iter().take(SHOWN).cloned().collect::<Vec<_>>();
                if done.len() > SHOWN {
                    shown.push(format!(
                        "and {} more (sl_child_changes lists them)",
                        done.len() - SHOWN
                    ));
                }
                Err(Error::with_errno(
                    Code::Sys,
                    format!(
                        "{func}: committing '{}' failed: {e}; already applied ({}): {}; the rest \
                         stays in '{}'",
                        self.dir.join(rel).display(),
                        done.len(),
                        if done.is_empty() {
                            "none".to_string()
                        } else {
                            shown.join(", ")
                        },
                        upper.display()
                    ),
                    e.raw_os_error().unwrap_or(libc::EIO),
                ))
            }
        }
    }

    /// The automatic decision once the sandbox is over (`status`: raw wait status).
    pub fn settle(&mut self, status: i32, func: &str) -> Result<()> {
        if self.decision != Decision::Pending {
            return Ok(());
        }
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        match self.mode {
            Mode::Auto if ok => self.commit(func),
            Mode::Auto | Mode::Abort => {
                self.abort();
                Ok(())
            }
            Mode::Commit => self.commit(func),
            Mode::Keep => {
                self.keep();
                Ok(())
            }
            Mode::Manual => Ok(()),
        }
    }
}

impl Drop for Run {
    /// An undecided run is discarded (a KEEP run, or a failed commit, stays).
    fn drop(&mut self) {
        if self.decision == Decision::Pending {
            let _ = remove_state(&self.state);
        }
    }
}

/// Remove a state directory, even where the run left read-only directories.
fn remove_state(state: &Path) -> std::io::Result<()> {
    fn open_up(d: &Path) {
        let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700));
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&e.path());
                }
            }
        }
    }
    open_up(state);
    std::fs::remove_dir_all(state)
}

/// Every entry beneath `root` (not `root` itself), as (prefix/rel, metadata),
/// parents before children, sorted.
fn walk(root: &Path, prefix: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let p = root.join(&n);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let rel = prefix.join(&n);
        let dir = m.is_dir();
        out.push((rel.clone(), m));
        if dir {
            out.extend(walk(&p, &rel));
        }
    }
    out
}

/// Does the upper entry differ from the lower one (type, mode, content,
/// symlink target; for files also the modification time)?
fn differs(u: &Path, um: &std::fs::Metadata, l: &Path, lm: &std::fs::Metadata) -> bool {
    let ft = |m: &std::fs::Metadata| m.mode() & libc::S_IFMT;
    if ft(um) != ft(lm) || um.mode() & 0o7777 != lm.mode() & 0o7777 {
        return true;
    }
    if um.file_type().is_symlink() {
        return std::fs::read_link(u).ok() != std::fs::read_link(l).ok();
    }
    if um.is_file() {
        // A copy-up keeps the modification time: a different one is the
        // run's (touch, or a write that left the same bytes).
        if um.len() != lm.len() || (um.mtime(), um.mtime_nsec()) != (lm.mtime(), lm.mtime_nsec()) {
            return true;
        }
        return !same_content(u, l);
    }
    false
}

fn same_content(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 64 << 10], vec![0u8; 64 << 10]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        match (na, nb) {
            (Ok(x), Ok(y)) if x == y => {
                if ba[..x] != bb[..y] {
                    return false;
                }
                if x == 0 {
                    return true;
                }
            }
            _ => return false,
        }
    }
    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

type ApplyErr = (PathBuf, std::io::Error);

fn apply(dir: &Path, upper: &Path, list: &mut [Change]) -> std::result::Result<(), ApplyErr> {
    let lower_kind = |rel: &Path| lower_meta(dir, rel);
    // 1. Entries whose type changes: the lower one goes first (deepest first).
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| list[b].rel.cmp(&list[a].rel));
    for &i in &order {
        let c = &list[i];
        if c.kind != Kind::Modified {
            continue;
        }
        let (Some(lm), Ok(um)) = (
            lower_kind(&c.rel),
            std::fs::symlink_metadata(upper.join(&c.rel)),
        ) else {
            continue;
        };
        if lm.mode() & libc::S_IFMT != um.mode() & libc::S_IFMT {
            let p = dir.join(&c.rel);
            let r = if lm.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|e| (c.rel.clone(), e))?;
        }
    }
    // 2. Additions and modifications, parents first.
    for c in list.iter_mut() {
        if c.kind == Kind::Deleted {
            continue;
        }
        in_own_dir(&dir.join(&c.rel), || place(dir, upper, &c.rel))
            .map_err(|e| (c.rel.clone(), e))?;
        c.applied = true;
    }
    // 3. Deletions, children first.
    for &i in &order {
        let c = &mut list[i];
        if c.kind != Kind::Deleted {
            continue;
        }
        let p = dir.join(&c.rel);
        let r = in_own_dir(&p, || match lower_meta(dir, &c.rel) {
            Some(m) if m.is_dir() => std::fs::remove_dir(&p),
            Some(_) => std::fs::remove_file(&p),
            None => Ok(()),
        });
        r.map_err(|e| (c.rel.clone(), e))?;
        c.applied = true;
    }
    // 4. The directories' own modes, children first (a read-only directory
    //    had to stay writable while its entries were placed).
    for &i in &order {
        let c = &list[i];
        if c.kind == Kind::Deleted || !c.is_dir {
            continue;
        }
        let m = std::fs::symlink_metadata(upper.join(&c.rel)).map_err(|e| (c.rel.clone(), e))?;
        std::fs::set_permissions(
            dir.join(&c.rel),
            std::fs::Permissions::from_mode(m.mode() & 0o1777),
        )
        .map_err(|e| (c.rel.clone(), e))?;
    }
    Ok(())
}

/// Run `f`, which creates or removes `path`, with `path`'s directory writable
/// for the moment if it is the host's own read-only directory (the run was
/// allowed to change a writable file in it, so its commit must be able to).
fn in_own_dir<T>(path: &Path, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    let parent = path
        .parent()
        .and_then(|p| Some((p, std::fs::symlink_metadata(p).ok()?)));
    // SAFETY: geteuid has no memory effects.
    let me = unsafe { libc::geteuid() };
    let restore = match parent {
        Some((p, m)) if m.is_dir() && m.uid() == me && m.mode() & 0o300 != 0o300 => {
            Some((p, m.mode() & 0o7777))
        }
        _ => None,
    };
    if let Some((p, mode)) = restore {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o300))?;
    }
    let r = f();
    if let Some((p, mode)) = restore {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    }
    r
}

/// The lower entry `rel` of `dir`, reached without following a symlink: None
/// if it is missing or if a directory on the way is a symlink or no directory
/// (then the merged view never saw it: a commit must not write through it).
fn lower_meta(dir: &Path, rel: &Path) -> Option<std::fs::Metadata> {
    let mut p = dir.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        p.push(c);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if parts.peek().is_none() {
            return Some(m);
        }
        if !m.is_dir() {
            return None;
        }
    }
    std::fs::symlink_metadata(dir).ok()
}

/// Put the upper entry `rel` in place in `dir`.
fn place(dir: &Path, upper: &Path, rel: &Path) -> std::io::Result<()> {
    let src = upper.join(rel);
    let dst = dir.join(rel);
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !lower_meta(dir, parent).is_some_and(|m| m.is_dir()) {
            return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR));
        }
    }
    let m = std::fs::symlink_metadata(&src)?;
    // Never set-user-ID or set-group-ID: the host may be more privileged than the run.
    let perm = std::fs::Permissions::from_mode(m.mode() & 0o1777);
    if m.is_dir() {
        match std::fs::symlink_metadata(&dst) {
            Ok(d) if d.is_dir() => {}
            _ => std::fs::create_dir(&dst)?,
        }
        // Writable for the rest of the commit; the final mode comes last.
        return std::fs::set_permissions(
            &dst,
            std::fs::Permissions::from_mode(perm.mode() | 0o700),
        );
    }
    let parent = dst.parent().unwrap_or(dir);
    let name = dst.file_name().unwrap_or_default().to_string_lossy();
    let short: String = name.chars().take(100).collect();
    let mut n = 0;
    let tmp = loop {
        let t = parent.join(format!(".{short}.sandlock-{}-{n}", std::process::id()));
        if std::fs::symlink_metadata(&t).is_err() {
            break t;
        }
        n += 1;
    };
    let r = (|| {
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &tmp)?;
        } else {
            std::fs::copy(&src, &tmp)?;
            // Times first: a read-only mode would forbid opening it again.
            let times = [
                libc::timespec {
                    tv_sec: m.atime(),
                    tv_nsec: m.atime_nsec(),
                },
                libc::timespec {
                    tv_sec: m.mtime(),
                    tv_nsec: m.mtime_nsec(),
                },
            ];
            let c = CString::new(tmp.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
            // SAFETY: a NUL-terminated path and a local array of two timespecs.
            if unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            std::fs::set_permissions(&tmp, perm)?;
        }
        std::fs::rename(&tmp, &dst)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
