//! The copy-on-write working directory: `sl_policy_set_workdir` and the
//! decisions on a child's changes.

use super::child::sl_child;
use super::policy::{policy_mut, sl_policy};
use super::{boundary, c_path, non_null, quiet};
use crate::cow::{Decision, Kind, Mode};
use crate::error::Error;
use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;

/// `sl_policy_set_workdir` mode: commit the changes if the first process exited
/// with status 0, discard them otherwise (the default).
pub const SL_COW_AUTO: i32 = 0;
/// `sl_policy_set_workdir` mode: always commit when the sandbox is over.
pub const SL_COW_COMMIT: i32 = 1;
/// `sl_policy_set_workdir` mode: always discard the changes.
pub const SL_COW_ABORT: i32 = 2;
/// `sl_policy_set_workdir` mode: leave the upper layer on disk for inspection
/// (`sl_child_upper_dir` says where); the workdir is not changed.
pub const SL_COW_KEEP: i32 = 3;
/// `sl_policy_set_workdir` mode: the host decides after the wait with
/// `sl_child_commit` or `sl_child_abort` (`sl_child_free` of an undecided child aborts).
pub const SL_COW_MANUAL: i32 = 4;

/// `sl_change` kind: the run created this entry.
pub const SL_CHANGE_ADDED: i32 = 1;
/// `sl_change` kind: the run changed this entry (content, mode, symlink target, type, or a
/// file's modification time).
pub const SL_CHANGE_MODIFIED: i32 = 2;
/// `sl_change` kind: the run deleted this entry.
pub const SL_CHANGE_DELETED: i32 = 3;

const _: () = {
    assert!(SL_COW_AUTO == Mode::Auto as i32);
    assert!(SL_COW_COMMIT == Mode::Commit as i32);
    assert!(SL_COW_ABORT == Mode::Abort as i32);
    assert!(SL_COW_KEEP == Mode::Keep as i32);
    assert!(SL_COW_MANUAL == Mode::Manual as i32);
    assert!(SL_CHANGE_ADDED == Kind::Added as i32);
    assert!(SL_CHANGE_MODIFIED == Kind::Modified as i32);
    assert!(SL_CHANGE_DELETED == Kind::Deleted as i32);
};

/// One change of a run to its workdir, as `sl_child_changes` reports it.
#[repr(C)]
pub struct sl_change {
    /// `SL_CHANGE_ADDED`, `SL_CHANGE_MODIFIED` or `SL_CHANGE_DELETED`.
    pub kind: c_int,
    /// Absolute path beneath the workdir; valid during the callback only.
    pub path: *const c_char,
    /// The entry is a directory (after the change; before it for a deletion).
    pub is_dir: bool,
    /// A commit (complete or failed) has already applied it to the workdir.
    pub applied: bool,
}

/// Called once per change by `sl_child_changes`; return 0 to go on, anything
/// else to stop.
pub type sl_change_fn =
    Option<extern "C" fn(change: *const sl_change, userdata: *mut c_void) -> c_int>;

/// Give the child a copy-on-write view of `dir`.
///
/// The child may create, modify, delete and rename files and directories under
/// `dir`, but its writes land in a private upper layer (a 0700 directory under
/// `$TMPDIR`, or `/tmp`) kept by the supervisor; reads see the upper layer over
/// `dir`. `dir` itself gets read access (and nothing more) in the Landlock
/// rules: it is never written while the child runs, so a crash, kill or
/// timeout leaves it as it was. When the sandbox is over, by `mode`:
/// `SL_COW_AUTO` (commit on exit status 0, abort otherwise), `SL_COW_COMMIT`,
/// `SL_COW_ABORT`, `SL_COW_KEEP`, or `SL_COW_MANUAL` (`sl_child_commit` /
/// `sl_child_abort`). Automatic decisions are made by the first wait that
/// sees the end; a child freed without such a wait (even one still running,
/// which is killed) is aborted, or kept for `SL_COW_KEEP`. A commit applies each file atomically (a temporary file in the
/// destination directory, then rename): creations and modifications parents
/// first, deletions children first.
///
/// `dir` must be an absolute path to an existing directory other than `/`, and
/// no write rule of the policy may contain it or lie beneath it (checked here
/// and again by `sl_spawn`). Setting it again replaces the previous workdir.
/// Returns `SL_OK` or `SL_E_INVALID` (NULL, relative or missing path, not a
/// directory, unknown mode, writable through a write rule). Not thread-safe
/// on the same policy. `sl_spawn` refuses a workdir with `SL_E_UNSUPPORTED`
/// where the kernel lacks Landlock or seccomp user notification, even with
/// `sl_policy_set_best_effort`. Limits (symlinks, hard links, descriptors
/// opened before a copy-up, ...) are listed in README.md.
#[no_mangle]
pub extern "C" fn sl_policy_set_workdir(
    policy: *mut sl_policy,
    dir: *const c_char,
    mode: c_int,
) -> c_int {
    boundary(|| {
        let f = "sl_policy_set_workdir";
        // SAFETY: NULL or a live handle, by contract.
        let p = unsafe { policy_mut(f, policy)? };
        // SAFETY: NULL or a NUL-terminated string, by contract.
        let d = unsafe { c_path(f, "dir", dir)? };
        let before = p.workdir.clone();
        let r = p.set_workdir(d, mode);
        if r.is_err() {
            p.workdir = before;
        }
        r
    })
}

fn child_over<'a>(
    func: &str,
    c: *const sl_child,
) -> Result<std::sync::MutexGuard<'a, crate::cow::Run>, Error> {
    non_null(func, "child", c)?;
    // SAFETY: non-NULL live handle by contract.
    let child = unsafe { &(*c).inner };
    let run = child.cow_run(func)?;
    if !child.is_over() {
        return Err(Error::invalid(format!(
            "{func}: the child is still running (call sl_wait first)"
        )));
    }
    Ok(run)
}

fn decided(func: &str, d: Decision) -> Error {
    let what = match d {
        Decision::Committed => "committed",
        Decision::Aborted => "aborted",
        Decision::Kept => "kept (SL_COW_KEEP)",
        Decision::Failed => "partly committed",
        Decision::Pending => "pending",
    };
    Error::invalid(format!("{func}: the run's changes were already {what}"))
}

/// Apply the changes of a finished child to its workdir.
///
/// For `SL_COW_MANUAL`, to commit a kept (`SL_COW_KEEP`) run after all, or to
/// retry a commit that failed. Returns `SL_OK` (the upper layer is then
/// removed), `SL_E_INVALID` (NULL, no workdir, the child still runs, or the
/// changes were already committed or aborted),
/// or `SL_E_SYS` when a file could not be applied: the message names it,
/// lists the changes already applied and where the upper layer stays;
/// `sl_child_changes` then reports `applied` per change. Not thread-safe on
/// the same child.
#[no_mangle]
pub extern "C" fn sl_child_commit(child: *mut sl_child) -> c_int {
    boundary(|| {
        let f = "sl_child_commit";
        let mut run = child_over(f, child)?;
        match run.decision {
            Decision::Pending => {}
            Decision::Failed | Decision::Kept => run.changes = None,
            d => return Err(decided(f, d)),
        }
        run.commit(f)
    })
}

/// Discard the changes of a finished child (its upper layer is removed).
///
/// Also discards a kept (`SL_COW_KEEP`) or partly committed upper layer; the
/// workdir keeps whatever a failed commit had applied. Returns `SL_OK` or
/// `SL_E_INVALID` (NULL, no workdir, the child still runs, already committed
/// or aborted). Not thread-safe on the same child.
#[no_mangle]
pub extern "C" fn sl_child_abort(child: *mut sl_child) -> c_int {
    boundary(|| {
        let f = "sl_child_abort";
        let mut run = child_over(f, child)?;
        match run.decision {
            Decision::Pending | Decision::Kept | Decision::Failed => {
                run.abort();
                Ok(())
            }
            d => Err(decided(f, d)),
        }
    })
}

/// Report each change a finished child made to its workdir, sorted by path.
///
/// `fn` is called once per change with an `sl_change` (kind, absolute path,
/// directory or not, already applied or not) and `userdata`; it returns 0 to
/// go on, anything else to stop. Works before a decision (a dry run: list,
/// then `sl_child_abort`), and after one (the list as it was decided; after a
/// commit each change says whether it was applied). A file the run copied
/// up but left as it was is not a change. Returns `SL_OK`, or `SL_E_INVALID`
/// (NULL, no workdir, the child still runs), `SL_E_SYS` (the upper layer
/// could not be read). Not thread-safe on the same child.
#[no_mangle]
pub extern "C" fn sl_child_changes(
    child: *const sl_child,
    r#fn: sl_change_fn,
    userdata: *mut c_void,
) -> c_int {
    boundary(|| {
        let f = "sl_child_changes";
        let Some(cb) = r#fn else {
            return Err(Error::invalid(format!("{f}: fn is NULL")));
        };
        let mut run = child_over(f, child)?;
        let dir = run.dir.clone();
        for c in run.changes()?.to_vec() {
            let path = CString::new(dir.join(&c.rel).as_os_str().as_bytes())
                .unwrap_or_else(|_| CString::from(c"?"));
            let ch = sl_change {
                kind: c.kind as c_int,
                path: path.as_ptr(),
                is_dir: c.is_dir,
                applied: c.applied,
            };
            if cb(&ch, userdata) != 0 {
                break;
            }
        }
        Ok(())
    })
}

/// The child's upper layer (a directory holding what the run wrote, mirrored
/// beneath it), or NULL if `child` is NULL or has no workdir.
///
/// Meaningful for `SL_COW_KEEP` and after a failed commit, when it stays on
/// disk for inspection: its parent, `$TMPDIR/sandlock-cow-XXXXXX`, also holds
/// `whiteouts` (the deleted paths, relative to the workdir, each ending with a
/// NUL byte); the caller removes that directory, or calls `sl_child_abort`.
/// The string belongs to the handle and is valid until `sl_child_free`.
#[no_mangle]
pub extern "C" fn sl_child_upper_dir(child: *const sl_child) -> *const c_char {
    quiet(std::ptr::null(), || {
        if child.is_null() {
            return std::ptr::null();
        }
        // SAFETY: non-NULL live handle by contract.
        let c = unsafe { &(*child).inner };
        match &c.cow {
            // The CString lives in the Run, which lives as long as the handle.
            Some(r) => r.lock().unwrap_or_else(|e| e.into_inner()).upper_c.as_ptr(),
            None => std::ptr::null(),
        }
    })
}
