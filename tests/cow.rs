//! The copy-on-write working directory (issue 7): the child sees its own
//! changes, the directory on disk does not change until a commit; commit,
//! abort, keep, dry run (change list), automatic decisions, kills.

mod common;

use common::*;
use sandlock::ffi::*;
use std::ffi::{c_void, CStr};
use std::path::{Path, PathBuf};

/// The tests run one at a time: the leak test counts this process's fds and
/// the upper directories in $TMPDIR.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _g = serial();
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

/// Run `script` under `mode` and wait; the child handle, its status and output.
fn run_in(d: &Path, mode: i32, script: &str) -> (Child, i32, String) {
    let p = cow_policy(d, mode);
    let (ch, out) = p.spawn_captured(&["sh", "-c", script]).unwrap();
    let out = read_all(out);
    let st = ch.wait();
    (ch, st, out)
}

#[test]
fn abort_and_dry_run_leave_the_disk_alone() {
    let _g = serial();
    let d = tree("abort");
    let before = snapshot(&d);
    let (ch, st, out) = run_in(&d, SL_COW_MANUAL, SCRIPT);
    assert_eq!(exited(st), Some(0), "{out}");
    // A dry run: the list, then abort.
    assert_eq!(changes(&ch, &d), CHANGES);
    let upper = unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
        .to_string_lossy()
        .into_owned();
    assert!(Path::new(&upper).is_dir());
    assert_eq!(sl_child_abort(ch.0), SL_OK, "{}", last_error());
    assert_eq!(snapshot(&d), before);
    assert!(
        !Path::new(&upper).exists(),
        "the upper layer was not removed"
    );
    assert_eq!(sl_child_commit(ch.0), SL_E_INVALID);
    assert!(last_error().contains("already aborted"), "{}", last_error());
    // The list as it was decided stays readable.
    assert_eq!(changes(&ch, &d), CHANGES);
}

#[test]
fn auto_commits_on_exit_0_and_aborts_otherwise() {
    let _g = serial();
    let d = tree("auto");
    let before = snapshot(&d);
    let (_ch, st, _) = run_in(&d, SL_COW_AUTO, "echo x > new.txt; rm gone.txt; exit 1");
    assert_eq!(exited(st), Some(1));
    assert_eq!(snapshot(&d), before, "exit 1 must abort");
    let (ch, st, _) = run_in(&d, SL_COW_AUTO, "echo x > new.txt; rm gone.txt");
    assert_eq!(exited(st), Some(0));
    assert_eq!(std::fs::read_to_string(d.join("new.txt")).unwrap(), "x\n");
    assert!(!d.join("gone.txt").exists());
    assert_eq!(sl_child_abort(ch.0), SL_E_INVALID, "already committed");
    // COMMIT commits whatever the status; ABORT never does.
    let (_c, st, _) = run_in(&d, SL_COW_COMMIT, "echo y > y.txt; exit 3");
    assert_eq!(exited(st), Some(3));
    assert!(d.join("y.txt").exists());
    let (_c, st, _) = run_in(&d, SL_COW_ABORT, "echo z > z.txt");
    assert_eq!(exited(st), Some(0));
    assert!(!d.join("z.txt").exists());
}

#[test]
fn keep_leaves_the_upper_layer_and_says_where() {
    let _g = serial();
    let d = tree("keep");
    let before = snapshot(&d);
    let upper;
    {
        let (ch, st, _) = run_in(&d, SL_COW_KEEP, "echo k > kept.txt; echo more >> edit.txt");
        assert_eq!(exited(st), Some(0));
        upper = PathBuf::from(
            unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
                .to_string_lossy()
                .into_owned(),
        );
        assert_eq!(changes(&ch, &d), ["M edit.txt", "A kept.txt"]);
    }
    // A kept run can still be committed later.
    {
        let (ch, st, _) = run_in(&d, SL_COW_KEEP, "echo later > later.txt");
        assert_eq!(exited(st), Some(0));
        assert!(!d.join("later.txt").exists());
        assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
        assert_eq!(
            std::fs::read_to_string(d.join("later.txt")).unwrap(),
            "later\n"
        );
        std::fs::remove_file(d.join("later.txt")).unwrap();
    }
    // Freed: the upper layer stays, the workdir is unchanged.
    assert_eq!(snapshot(&d), before);
    assert_eq!(
        std::fs::read_to_string(upper.join("kept.txt")).unwrap(),
        "k\n"
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("edit.txt")).unwrap(),
        "old line\nmore\n"
    );
    std::fs::remove_dir_all(upper.parent().unwrap()).unwrap();
}

#[test]
fn a_kill_mid_write_leaves_the_directory_as_before() {
    let _g = serial();
    let d = tree("kill");
    let before = snapshot(&d);
    for mode in [SL_COW_AUTO, SL_COW_COMMIT] {
        let p = cow_policy(&d, mode);
        let ch = p
            .spawn(&[
                "sh",
                "-c",
                "echo start >> edit.txt; exec dd if=/dev/zero of=big.bin bs=64k count=100000 2>/dev/null",
            ])
            .unwrap();
        // Wait until the big file is being written (seen through the upper layer).
        let upper = PathBuf::from(
            unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
                .to_string_lossy()
                .into_owned(),
        );
        let t0 = std::time::Instant::now();
        while std::fs::metadata(upper.join("big.bin")).map_or(true, |m| m.len() < (1 << 20)) {
            assert!(t0.elapsed().as_secs() < 20, "the writer never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        ch.kill(libc::SIGKILL);
        let st = ch.wait();
        assert_eq!(signaled(st), Some(libc::SIGKILL));
        if mode == SL_COW_COMMIT {
            // COMMIT applies what the run wrote, but only once it is over.
            assert!(d.join("big.bin").exists());
            std::fs::remove_file(d.join("big.bin")).unwrap();
            std::fs::write(d.join("edit.txt"), "old line\n").unwrap();
        }
        assert_eq!(snapshot(&d), before, "mode {mode}");
        drop(ch);
        assert!(!upper.exists());
    }
}

#[test]
fn a_thousand_small_files_are_committed() {
    let _g = serial();
    let d = tree("many");
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "mkdir many && cd many && i=0; while [ $i -lt 1000 ]; do echo $i > f$i; i=$((i+1)); done; ls | wc -l",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.trim(), "1000");
    assert!(!d.join("many").exists());
    assert_eq!(changes(&ch, &d).len(), 1001);
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    for i in [0, 1, 500, 999] {
        assert_eq!(
            std::fs::read_to_string(d.join(format!("many/f{i}"))).unwrap(),
            format!("{i}\n")
        );
    }
    assert_eq!(std::fs::read_dir(d.join("many")).unwrap().count(), 1000);
    // No temporary files left behind.
    assert!(std::fs::read_dir(d.join("many")).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let _g = serial();
    let d = tree("bad");
    let p = Policy::system();
    let ds = c(d.to_str().unwrap());
    assert_eq!(
        sl_policy_set_workdir(std::ptr::null_mut(), ds.as_ptr(), 0),
        SL_E_INVALID
    );
    assert!(last_error().contains("policy is NULL"), "{}", last_error());
    assert_eq!(
        sl_policy_set_workdir(p.0, std::ptr::null(), 0),
        SL_E_INVALID
    );
    assert!(last_error().contains("dir is NULL"), "{}", last_error());
    assert_eq!(
        sl_policy_set_workdir(p.0, c("rel/dir").as_ptr(), 0),
        SL_E_INVALID
    );
    assert!(
        last_error().contains("not an absolute path"),
        "{}",
        last_error()
    );
    assert_eq!(
        sl_policy_set_workdir(p.0, c("/no/such/dir").as_ptr(), 0),
        SL_E_INVALID
    );
    assert!(last_error().contains("/no/such/dir"), "{}", last_error());
    let f = d.join("keep.txt");
    assert_eq!(
        sl_policy_set_workdir(p.0, c(f.to_str().unwrap()).as_ptr(), 0),
        SL_E_INVALID
    );
    assert!(last_error().contains("not a directory"), "{}", last_error());
    assert_eq!(sl_policy_set_workdir(p.0, ds.as_ptr(), 9), SL_E_INVALID);
    assert!(last_error().contains("mode 9"), "{}", last_error());
    assert_eq!(sl_policy_set_workdir(p.0, ds.as_ptr(), -1), SL_E_INVALID);
    assert_eq!(sl_policy_set_workdir(p.0, c("/").as_ptr(), 0), SL_E_INVALID);
    // Writable directly: through a write rule above it, on it or inside it.
    for w in [scratch(), d.clone(), d.join("sub")] {
        let mut q = Policy::system();
        q.write(w.to_str().unwrap());
        assert_eq!(sl_policy_set_workdir(q.0, ds.as_ptr(), 0), SL_E_INVALID);
        assert!(last_error().contains("also writable"), "{}", last_error());
        // And the other way round, at spawn.
        let r = Policy::system();
        assert_eq!(sl_policy_set_workdir(r.0, ds.as_ptr(), 0), SL_OK);
        let mut r = r;
        r.write(w.to_str().unwrap());
        let e = r.spawn(&["true"]).err().expect("spawn must fail");
        assert_eq!(e.0, SL_E_INVALID);
        assert!(e.1.contains("also writable"), "{}", e.1);
    }
    // A failed setter keeps the previous workdir.
    assert_eq!(
        sl_policy_set_workdir(p.0, ds.as_ptr(), SL_COW_MANUAL),
        SL_OK
    );
    assert_eq!(
        sl_policy_set_workdir(p.0, c("/no/such").as_ptr(), 0),
        SL_E_INVALID
    );
    // Decisions on a child without a workdir, or still running.
    let plain = Policy::system();
    let ch = plain.spawn(&["true"]).unwrap();
    ch.wait();
    assert_eq!(sl_child_commit(ch.0), SL_E_INVALID);
    assert!(last_error().contains("no workdir"), "{}", last_error());
    assert!(sl_child_upper_dir(ch.0).is_null());
    let ch = p.spawn(&["sleep", "10"]).unwrap();
    assert_eq!(sl_child_commit(ch.0), SL_E_INVALID);
    assert!(last_error().contains("still running"), "{}", last_error());
    assert_eq!(sl_child_abort(ch.0), SL_E_INVALID);
    assert_eq!(
        sl_child_changes(ch.0, None, std::ptr::null_mut()),
        SL_E_INVALID
    );
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn cow_dirs() -> usize {
    let tmp = std::env::var_os("TMPDIR").map_or(PathBuf::from("/tmp"), PathBuf::from);
    std::fs::read_dir(tmp)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sandlock-cow-")
        })
        .count()
}

#[test]
fn nothing_leaks_after_free() {
    let _g = serial();
    let d = tree("leaks");
    // Warm up (the supervisor's socket stays open).
    drop(run_in(&d, SL_COW_ABORT, "true"));
    let (fds, dirs) = (open_fds(), cow_dirs());
    let mut pids = Vec::new();
    for mode in [SL_COW_AUTO, SL_COW_ABORT, SL_COW_MANUAL] {
        for script in ["echo a > a.txt; exit 1", "echo b > b.txt; rm -f a.txt"] {
            let (ch, _, _) = run_in(&d, mode, script);
            pids.push(ch.pid());
            drop(ch);
        }
        // Undecided and freed while running: aborted, killed.
        let p = cow_policy(&d, mode);
        let ch = p.spawn(&["sh", "-c", "echo c > c.txt; sleep 30"]).unwrap();
        pids.push(ch.pid());
        drop(ch);
    }
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived its handle");
    }
    assert!(!d.join("c.txt").exists());
    assert_eq!(open_fds(), fds, "fds leaked");
    assert_eq!(cow_dirs(), dirs, "upper directories leaked");
}

#[test]
fn tools_see_a_consistent_merged_view() {
    let _g = serial();
    let d = tree("tools");
    std::os::unix::fs::symlink("sub/a.txt", d.join("link")).unwrap();
    let script = "set -e
cat link
echo via-link > link
cat sub/a.txt
ln -s keep.txt l2; readlink l2; cat l2
chmod 600 keep.txt; stat -c %a keep.txt
truncate -s 2 edit.txt; cat edit.txt; echo
test -w edit.txt
find . | sort
mv sub moved
ls moved moved/deep
cp -r moved copied; rm -r moved
rmdir copied/deep/ 2>/dev/null || echo notempty
ln edit.txt hard; cat hard; echo
touch -d 2001-01-01T00:00:00Z keep.txt; stat -c %Y keep.txt
ls
";
    let (ch, st, out) = run_in(&d, SL_COW_MANUAL, script);
    let want = "a\nvia-link\nkeep.txt\nkeep\n600\nol\n.\n./edit.txt\n./gone.txt\n./keep.txt\n\
./l2\n./link\n./sub\n./sub/a.txt\n./sub/deep\n./sub/deep/b.txt\n\
moved:\na.txt\ndeep\n\nmoved/deep:\nb.txt\nnotempty\nol\n978307200\n\
copied\nedit.txt\ngone.txt\nhard\nkeep.txt\nl2\nlink\n";
    assert_eq!(out, want);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        changes(&ch, &d),
        [
            "A copied/",
            "A copied/a.txt",
            "A copied/deep/",
            "A copied/deep/b.txt",
            "M edit.txt",
            "A hard",
            "M keep.txt",
            "A l2",
            "D sub/",
            "D sub/a.txt",
            "D sub/deep/",
            "D sub/deep/b.txt",
        ]
    );
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert!(!d.join("sub").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("copied/a.txt")).unwrap(),
        "via-link\n"
    );
    assert_eq!(std::fs::read_to_string(d.join("hard")).unwrap(), "ol");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let m = std::fs::metadata(d.join("keep.txt")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert_eq!(m.mtime(), 978307200);
    assert_eq!(
        std::fs::read_link(d.join("l2")).unwrap(),
        Path::new("keep.txt")
    );
}

#[test]
fn chdir_into_directories_made_in_the_run() {
    let _g = serial();
    let d = tree("chdir");
    let script = "set -e
mkdir -p build/x
cd build
/bin/pwd
echo hi > f
ls
cd x
echo deep > g
cd ../..
cat build/f build/x/g
cd sub
/bin/pwd
echo s > s.txt
cd ..
cd /nonexistent 2>/dev/null || echo no-such-dir
cd edit.txt 2>/dev/null || echo not-a-dir
rm -r build
cd build 2>/dev/null || echo gone
";
    let (ch, st, out) = run_in(&d, SL_COW_MANUAL, script);
    let dd = d.display();
    assert_eq!(
        out,
        format!("{dd}/build\nf\nx\nhi\ndeep\n{dd}/sub\nno-such-dir\nnot-a-dir\ngone\n")
    );
    assert_eq!(exited(st), Some(0));
    assert_eq!(changes(&ch, &d), ["A sub/s.txt"]);
}

/// A lower symlink replaced by a directory: the commit writes into the new
/// directory, never through the old link; set-user-ID bits are dropped.
#[test]
fn commit_never_writes_through_a_lower_symlink() {
    let _g = serial();
    let d = tree("symlink-swap");
    let outside = scratch().join("outside");
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("f"), "outside\n").unwrap();
    std::os::unix::fs::symlink(&outside, d.join("esc")).unwrap();
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "set -e; cat esc/f 2>/dev/null || echo denied; rm esc; mkdir esc; echo inside > esc/f; echo s > suid; chmod 4755 suid; ls -l suid | cut -c1-10",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out, "denied\n-rwsr-xr-x\n");
    assert_eq!(changes(&ch, &d), ["M esc/", "A esc/f", "A suid"]);
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert_eq!(
        std::fs::read_to_string(outside.join("f")).unwrap(),
        "outside\n"
    );
    assert!(std::fs::symlink_metadata(d.join("esc")).unwrap().is_dir());
    assert_eq!(
        std::fs::read_to_string(d.join("esc/f")).unwrap(),
        "inside\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("suid"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
}

/// Programs made in the run run from the upper layer; exec rules confine
/// them as they confine the workdir's own programs.
#[test]
fn programs_made_in_the_run_can_be_executed() {
    let _g = serial();
    let d = tree("exec");
    std::fs::copy("/bin/echo", d.join("lower-echo")).unwrap();
    let script = "mkdir -p bin && cp /bin/echo bin/e && printf '#!/bin/sh\\necho script $1\\n' > s.sh && chmod +x s.sh
bin/e built 2>&1 || echo no-built
./s.sh arg 2>&1 || echo no-script
./lower-echo lower 2>&1 || echo no-lower
cd bin && ./e from-bin-dir 2>&1 || echo no-cd-built
";
    let (_c, st, out) = run_in(&d, SL_COW_ABORT, script);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out, "built\nscript arg\nlower\nfrom-bin-dir\n");
    // Exec confined to the system directories: neither kind runs.
    let confined = |with_dir: bool| {
        let p = cow_policy(&d, SL_COW_ABORT);
        for x in ["/usr", "/bin", "/lib", "/lib64"] {
            if Path::new(x).exists() {
                assert_eq!(sl_policy_allow_exec(p.0, c(x).as_ptr()), SL_OK);
            }
        }
        if with_dir {
            assert_eq!(
                sl_policy_allow_exec(p.0, c(d.to_str().unwrap()).as_ptr()),
                SL_OK
            );
        }
        let (ch, r) = p.spawn_captured(&["sh", "-c", script]).unwrap();
        let out = read_all(r);
        assert_eq!(exited(ch.wait()), Some(0), "{out}");
        out
    };
    let out = confined(false);
    assert!(
        out.contains("no-built") && out.contains("no-script") && out.contains("no-lower"),
        "{out}"
    );
    assert_eq!(confined(true), "built\nscript arg\nlower\nfrom-bin-dir\n");
}

/// Freeing decides nothing: a run freed without a wait is aborted, even in
/// COMMIT mode (a KEEP run is kept).
#[test]
fn free_without_a_wait_aborts() {
    let _g = serial();
    let d = tree("free");
    let before = snapshot(&d);
    for mode in [SL_COW_COMMIT, SL_COW_AUTO, SL_COW_KEEP] {
        let p = cow_policy(&d, mode);
        let ch = p
            .spawn(&["sh", "-c", "echo x > new.txt; rm gone.txt"])
            .unwrap();
        let upper = PathBuf::from(
            unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
                .to_string_lossy()
                .into_owned(),
        );
        // Let it finish (exit 0) without the host waiting.
        let t0 = std::time::Instant::now();
        while alive(ch.pid()) {
            assert!(t0.elapsed().as_secs() < 20);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(ch);
        assert_eq!(snapshot(&d), before, "mode {mode}");
        assert_eq!(upper.exists(), mode == SL_COW_KEEP, "mode {mode}");
        if mode == SL_COW_KEEP {
            assert!(upper.join("new.txt").exists());
            std::fs::remove_dir_all(upper.parent().unwrap()).unwrap();
        }
    }
}

/// A commit that fails midway names the file, lists what was applied, keeps
/// the rest in the upper layer, and can be retried.
#[test]
fn a_failed_commit_says_what_was_applied() {
    let _g = serial();
    let d = tree("failed-commit");
    let (ch, st, _) = run_in(
        &d,
        SL_COW_MANUAL,
        "echo a > a.txt && echo n > sub/new.txt && echo z > z.txt",
    );
    assert_eq!(exited(st), Some(0));
    assert_eq!(changes(&ch, &d), ["A a.txt", "A sub/new.txt", "A z.txt"]);
    // Someone replaces sub by a file before the host commits.
    std::fs::remove_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub"), "in the way\n").unwrap();
    assert_eq!(sl_child_commit(ch.0), SL_E_SYS);
    let msg = last_error();
    let ds = d.display();
    assert!(
        msg.contains(&format!("committing '{ds}/sub/new.txt' failed")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("already applied (1): A {ds}/a.txt;")),
        "{msg}"
    );
    let upper = unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains(&upper), "{msg}");
    assert!(Path::new(&upper).join("z.txt").exists());
    assert_eq!(
        changes(&ch, &d),
        ["A a.txt (applied)", "A sub/new.txt", "A z.txt"]
    );
    assert!(d.join("a.txt").exists() && !d.join("z.txt").exists());
    // Out of the way again: the retry applies the rest.
    std::fs::remove_file(d.join("sub")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert_eq!(
        std::fs::read_to_string(d.join("sub/new.txt")).unwrap(),
        "n\n"
    );
    assert_eq!(std::fs::read_to_string(d.join("z.txt")).unwrap(), "z\n");
    assert!(!Path::new(&upper).exists());
}

/// A denied path inside the workdir stays out of reach, for reads and writes.
#[test]
fn denied_paths_inside_the_workdir_stay_denied() {
    let _g = serial();
    let d = tree("deny");
    std::fs::write(d.join("secret"), "s\n").unwrap();
    let p = cow_policy(&d, SL_COW_MANUAL);
    let sec = c(d.join("secret").to_str().unwrap());
    assert_eq!(sl_policy_deny_path(p.0, sec.as_ptr()), SL_OK);
    let (ch, r) = p
        .spawn_captured(&[
            "sh",
            "-c",
            "cat secret 2>/dev/null || echo no-read; (echo x > secret) 2>/dev/null || echo no-write; \
             rm secret 2>/dev/null || echo no-rm; mv secret s2 2>/dev/null || echo no-mv",
        ])
        .unwrap();
    let out = read_all(r);
    assert_eq!(exited(ch.wait()), Some(0));
    assert_eq!(out, "no-read\nno-write\nno-rm\nno-mv\n");
    assert_eq!(changes(&ch, &d), Vec::<String>::new());
}

/// The run may do in its view only what its user may do in the directory:
/// a read-only file or directory stays read-only (checked unprivileged; root
/// without capabilities is bound by the mode bits as well).
#[test]
fn the_user_s_own_permissions_still_apply() {
    let _g = serial();
    use std::os::unix::fs::PermissionsExt;
    let d = tree("perms");
    std::fs::create_dir(d.join("ro")).unwrap();
    std::fs::write(d.join("ro/f"), "f\n").unwrap();
    std::fs::write(d.join("rofile"), "r\n").unwrap();
    std::fs::set_permissions(d.join("rofile"), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(d.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "(echo x > ro/new) 2>/dev/null || echo no-create; rm -f ro/f 2>/dev/null || echo no-rm; \
         (echo x >> rofile) 2>/dev/null || echo no-write; truncate -s 0 rofile 2>/dev/null || echo no-truncate; \
         chmod 644 rofile && echo x >> rofile && echo chmod-then-write; \
         echo y >> ro/f && cat ro/f && ls -ld ro | cut -c1-10",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        "no-create\nno-rm\nno-write\nno-truncate\nchmod-then-write\nf\ny\ndr-xr-xr-x\n"
    );
    assert_eq!(changes(&ch, &d), ["M ro/f", "M rofile"]);
    // The commit can write it too, and leaves the directory read-only.
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert_eq!(std::fs::read_to_string(d.join("ro/f")).unwrap(), "f\ny\n");
    assert_eq!(
        std::fs::metadata(d.join("ro"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o555
    );
    drop(ch);
    std::fs::set_permissions(d.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Someone else's file: no mode change (needs root to set up).
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(d.join("keep.txt"), Some(12345), None).unwrap();
        let (ch, st, out) = run_in(
            &d,
            SL_COW_MANUAL,
            "chmod 600 keep.txt 2>/dev/null || echo no-chmod; stat -c %a keep.txt",
        );
        assert_eq!(exited(st), Some(0), "{out}");
        assert_eq!(out, "no-chmod\n644\n");
        assert_eq!(changes(&ch, &d), Vec::<String>::new());
    }
}

/// A thread flipping the path of creating calls between a file in the workdir
/// and one outside it never gets the outside one written: the supervisor acts
/// on the path it copied once, and the kernel (Landlock) refuses the other.
#[test]
fn a_racing_path_swap_never_writes_outside() {
    let _g = serial();
    let base = scratch().join("race");
    let _ = std::fs::remove_dir_all(&base);
    let (inside, outside) = (base.join("in"), base.join("ou"));
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let prog = probe("cowrace", &["-pthread"]);
    let mut p = cow_policy(&inside, SL_COW_MANUAL);
    p.read(scratch().to_str().unwrap());
    let (ch, r) = p
        .spawn_captured(&[
            &prog,
            inside.join("f").to_str().unwrap(),
            outside.join("f").to_str().unwrap(),
            "3000",
        ])
        .unwrap();
    let out = read_all(r);
    assert_eq!(exited(ch.wait()), Some(0), "{out}");
    let made: u32 = out.trim().parse().unwrap();
    assert!(made > 0, "no creation ever succeeded: {out}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "written outside"
    );
    assert_eq!(
        std::fs::read_dir(&inside).unwrap().count(),
        0,
        "lower written"
    );
    assert_eq!(sl_child_abort(ch.0), SL_OK);
}

/// Real tools in a workdir: a C build and its program, a git repository;
/// committed, the repository is valid on disk.
#[test]
fn a_build_and_a_git_commit_in_a_workdir() {
    let _g = serial();
    let has = |t: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("gcc") || !has("git") {
        eprintln!("skipped: needs gcc and git");
        return;
    }
    let d = tree("real");
    std::fs::write(d.join("m.c"), "int main(void) { return 7; }\n").unwrap();
    let mut p = cow_policy(&d, SL_COW_MANUAL);
    let ds = d.to_str().unwrap();
    p.env("TMPDIR", ds).env("HOME", ds);
    let script = "set -e
gcc -o m m.c
./m || echo ran=$?
git init -q .
git add m.c keep.txt
git -c user.email=t@t -c user.name=t commit -qm first
git log --oneline | wc -l
";
    let (ch, r) = p.spawn_captured(&["sh", "-c", script]).unwrap();
    let out = read_all(r);
    assert_eq!(exited(ch.wait()), Some(0), "{out}");
    assert_eq!(out, "ran=7\n1\n");
    assert!(!d.join(".git").exists() && !d.join("m").exists());
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    let log = std::process::Command::new("git")
        .args(["-C", ds, "log", "--format=%s"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout), "first\n");
    let st = std::process::Command::new(d.join("m")).status().unwrap();
    assert_eq!(st.code(), Some(7));
}

/// Read-only files and directories made in the run are committed with their
/// modes (the commit keeps a directory writable until its entries are in).
#[test]
fn read_only_entries_are_committed() {
    let _g = serial();
    use std::os::unix::fs::PermissionsExt;
    let d = tree("readonly");
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "set -e; mkdir -p ro/in; echo f > ro/in/f; chmod 444 ro/in/f; chmod 555 ro/in ro",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        (mode("ro"), mode("ro/in"), mode("ro/in/f")),
        (0o555, 0o555, 0o444)
    );
    assert_eq!(std::fs::read_to_string(d.join("ro/in/f")).unwrap(), "f\n");
    // The upper layer went too, read-only directories and all.
    let upper = unsafe { CStr::from_ptr(sl_child_upper_dir(ch.0)) }
        .to_string_lossy()
        .into_owned();
    assert!(!Path::new(&upper).exists(), "{upper} left behind");
    for p in ["ro/in", "ro"] {
        std::fs::set_permissions(d.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A new modification time alone is a change (and is committed); a symlink's
/// own times can be set (`touch -h`, `cp -a`).
#[test]
fn times_are_changes_and_symlinks_have_their_own() {
    let _g = serial();
    use std::os::unix::fs::MetadataExt;
    let d = tree("times");
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "set -e; touch -d 2001-01-01T00:00:00Z keep.txt; cat edit.txt >/dev/null; \
         ln -s keep.txt l; touch -h -d 2002-01-01T00:00:00Z l; stat -c %Y l; cp -a l l2",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out, "1009843200\n");
    assert_eq!(changes(&ch, &d), ["M keep.txt", "A l", "A l2"]);
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert_eq!(
        std::fs::metadata(d.join("keep.txt")).unwrap().mtime(),
        978307200
    );
}

/// A timeout ends the run like a kill: under AUTO nothing is applied.
#[test]
fn a_timeout_leaves_the_directory_as_before() {
    let _g = serial();
    let d = tree("timeout");
    let before = snapshot(&d);
    let mut p = cow_policy(&d, SL_COW_AUTO);
    p.timeout_ms(300);
    let ch = p
        .spawn(&[
            "sh",
            "-c",
            "echo t > t.txt; rm gone.txt; echo more >> edit.txt; sleep 30",
        ])
        .unwrap();
    let mut r: sl_result = unsafe { std::mem::zeroed() };
    assert_eq!(sl_wait_result(ch.0, &mut r), SL_OK, "{}", last_error());
    assert_eq!(r.reason, SL_END_TIMEOUT);
    assert_eq!(snapshot(&d), before);
    // The list of what it had done is still there (aborted).
    assert_eq!(changes(&ch, &d), ["M edit.txt", "D gone.txt", "A t.txt"]);
    assert_eq!(sl_child_commit(ch.0), SL_E_INVALID);
}

/// rename(2) of a directory that has lower entries: the tree is copied up and
/// renamed (no EXDEV for a tree this size), the old name is gone, and the
/// commit moves it on disk.
#[test]
fn renaming_a_lower_directory() {
    let _g = serial();
    if !Path::new("/usr/bin/perl").exists() {
        eprintln!("skipped: needs /usr/bin/perl for a bare rename(2)");
        return;
    }
    let d = tree("rename-dir");
    std::fs::write(d.join("sub/deep/gone"), "g\n").unwrap();
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "set -e; rm sub/deep/gone; /usr/bin/perl -e 'rename(\"sub\", \"moved\") or die \"rename: $!\\n\"'; \
         test ! -e sub; find moved | sort; cat moved/deep/b.txt",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out, "moved\nmoved/a.txt\nmoved/deep\nmoved/deep/b.txt\nb\n");
    assert_eq!(
        changes(&ch, &d),
        [
            "A moved/",
            "A moved/a.txt",
            "A moved/deep/",
            "A moved/deep/b.txt",
            "D sub/",
            "D sub/a.txt",
            "D sub/deep/",
            "D sub/deep/b.txt",
            "D sub/deep/gone",
        ]
    );
    assert_eq!(sl_child_commit(ch.0), SL_OK, "{}", last_error());
    assert!(!d.join("sub").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("moved/deep/b.txt")).unwrap(),
        "b\n"
    );
    assert!(!d.join("moved/deep/gone").exists());
}

/// "name/" means a directory, as on disk.
#[test]
fn a_trailing_slash_means_a_directory() {
    let _g = serial();
    let d = tree("slash");
    let (ch, st, out) = run_in(
        &d,
        SL_COW_MANUAL,
        "(echo x > nf/) 2>/dev/null || echo no-file-create; cat keep.txt/ 2>/dev/null || echo not-a-dir; \
         mkdir nd/ && echo mkdir-ok; rmdir nd/ && echo rmdir-ok; ls -d sub/ && rm keep.txt/ 2>/dev/null || echo no-rm",
    );
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(
        out,
        "no-file-create\nnot-a-dir\nmkdir-ok\nrmdir-ok\nsub/\nno-rm\n"
    );
    assert_eq!(changes(&ch, &d), Vec::<String>::new());
}

/// A workdir together with the /proc view: both mediate path calls (chdir is
/// the workdir's trace stop), and each still does its job.
#[test]
fn a_workdir_and_the_proc_view_work_together() {
    let _g = serial();
    let d = tree("procview");
    let mut p = cow_policy(&d, SL_COW_MANUAL);
    p.read("/proc");
    assert_eq!(sl_policy_set_proc_view(p.0, true), SL_OK);
    let host = std::process::id();
    let script = format!(
        "set -e
mkdir build
cd build
/bin/pwd
echo x > out
cat out
test -e /proc/{host} && echo host-visible || echo host-hidden
ls /proc | grep -c '^[0-9]'
"
    );
    let (ch, out) = p.spawn_captured(&["sh", "-c", &script]).unwrap();
    let out = read_all(out);
    let st = ch.wait();
    assert_eq!(exited(st), Some(0), "{out}");
    // sh and ls (grep runs beside ls: 2 or 3 sandbox processes).
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!("{}/build", d.display()).as_str(),
            "x",
            "host-hidden"
        ],
        "{out}"
    );
    let n: u32 = lines[3].parse().unwrap();
    assert!((2..=3).contains(&n), "{n} processes listed in /proc: {out}");
    assert_eq!(changes(&ch, &d), ["A build/", "A build/out"]);
    assert!(
        !d.join("build").exists(),
        "nothing applied before the commit"
    );
}
