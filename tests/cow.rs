//! The copy-on-write working directory (issue 7): the child sees its own
//! changes, the directory on disk does not change until a commit; commit,
//! abort, keep, dry run (change list), automatic decisions, kills.

mod common;

use common::*;
use sandlock::ffi::*;
use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};

/// A fresh workdir with a small tree, and its path as a string.
fn tree(name: &str) -> PathBuf {
    let d = scratch().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub/deep")).unwrap();
    std::fs::write(d.join("keep.txt"), "keep\n").unwrap();
    std::fs::write(d.join("edit.txt"), "old line\n").unwrap();
    std::fs::write(d.join("gone.txt"), "bye\n").unwrap();
    std::fs::write(d.join("sub/a.txt"), "a\n").unwrap();
    std::fs::write(d.join("sub/deep/b.txt"), "b\n").unwrap();
    d
}

/// Every entry beneath `d` with its content ("dir" for directories), sorted.
fn snapshot(d: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        let mut names: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.push((rel, "dir".into()));
                walk(root, &p, out);
            } else if m.file_type().is_symlink() {
                out.push((
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                ));
            } else {
                out.push((
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                ));
            }
        }
    }
    walk(d, d, &mut out);
    out
}

fn cow_policy(dir: &Path, mode: i32) -> Policy {
    let p = Policy::system();
    let d = c(dir.to_str().unwrap());
    assert_eq!(
        sl_policy_set_workdir(p.0, d.as_ptr(), mode),
        SL_OK,
        "{}",
        last_error()
    );
    assert_eq!(sl_policy_set_cwd(p.0, d.as_ptr()), SL_OK);
    p
}

extern "C" fn collect(ch: *const sl_change, ud: *mut c_void) -> i32 {
    // SAFETY: valid for the call; ud is the test's Vec.
    let (ch, v) = unsafe { (&*ch, &mut *(ud as *mut Vec<String>)) };
    // SAFETY: a valid string for the call.
    let path = unsafe { CStr::from_ptr(ch.path) }.to_string_lossy();
    let k = match ch.kind {
        SL_CHANGE_ADDED => "A",
        SL_CHANGE_MODIFIED => "M",
        SL_CHANGE_DELETED => "D",
        _ => "?",
    };
    v.push(format!(
        "{k} {path}{}{}",
        if ch.is_dir { "/" } else { "" },
        if ch.applied { " (applied)" } else { "" }
    ));
    0
}

fn changes(ch: &Child, dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    assert_eq!(
        sl_child_changes(
            ch.0,
            Some(collect),
            &mut v as *mut Vec<String> as *mut c_void
        ),
        SL_OK,
        "{}",
        last_error()
    );
    let prefix = format!("{}/", dir.display());
    v.into_iter().map(|s| s.replacen(&prefix, "", 1)).collect()
}

const SCRIPT: &str = "set -e
echo new > new.txt
echo 'more' >> edit.txt
sed -i 's/old/NEW/' edit.txt
rm gone.txt
mkdir -p made/inner
echo x > made/inner/x.txt
mv sub/a.txt sub/renamed.txt
cp keep.txt copy.txt
rm -r sub/deep
ls
echo ---
ls sub made made/inner
echo ---
cat edit.txt new.txt sub/renamed.txt made/inner/x.txt
test ! -e gone.txt
test ! -e sub/deep
";

const SEEN: &str = "copy.txt\nedit.txt\nkeep.txt\nmade\nnew.txt\nsub\n---\nmade:\ninner\n\n\
made/inner:\nx.txt\n\nsub:\nrenamed.txt\n---\nNEW line\nmore\nnew\na\nx\n";

const CHANGES: &[&str] = &[
    "A copy.txt",
    "M edit.txt",
    "D gone.txt",
    "A made/",
    "A made/inner/",
    "A made/inner/x.txt",
    "A new.txt",
    "D sub/a.txt",
    "D sub/deep/",
    "D sub/deep/b.txt",
    "A sub/renamed.txt",
];

#[test]
fn the_child_sees_its_changes_and_the_disk_does_not_until_commit() {
    let d = tree("manual");
    let before = snapshot(&d);
    let p = cow_policy(&d, SL_COW_MANUAL);
    let (ch, out) = p.spawn_captured(&["sh", "-c", SCRIPT]).unwrap();
    let out = read_all(out);
    assert_eq!(exited(ch.wait()), Some(0), "{out}");
    assert_eq!(out, SEEN);
    assert_eq!(
        snapshot(&d),
        before,
        "the workdir changed before the commit"
    );
    assert_eq!(changes(&ch, &d), CHANGES);
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    let after = snapshot(&d);
    let want: Vec<(String, String)> = [
        ("copy.txt", "keep\n"),
        ("edit.txt", "NEW line\nmore\n"),
        ("keep.txt", "keep\n"),
        ("made", "dir"),
        ("made/inner", "dir"),
        ("made/inner/x.txt", "x\n"),
        ("new.txt", "new\n"),
        ("sub", "dir"),
        ("sub/renamed.txt", "a\n"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(after, want);
    let applied: Vec<String> = CHANGES.iter().map(|c| format!("{c} (applied)")).collect();
    assert_eq!(changes(&ch, &d), applied);
    // Decided once.
    assert_eq!(sl_child_commit(ch.0), SL_E_INVALID);
    assert!(
        last_error().contains("already committed"),
        "{}",
        last_error()
    );
}
