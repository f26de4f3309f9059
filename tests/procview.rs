//! The /proc view (`sl_policy_set_proc_view`): the sandbox sees only its own
//! processes; `/proc/meminfo` and `sysinfo` follow the memory limit. Each test
//! first shows the leak (or the host's value) natively, then its absence inside.
mod common;
use common::*;
use sandlock::ffi::*;
use std::collections::BTreeSet;

/// System directories, /proc readable, and the view on.
fn viewed() -> Policy {
    let mut p = Policy::system();
    p.read("/proc");
    assert_eq!(sl_policy_set_proc_view(p.0, true), SL_OK);
    p
}

fn pids(text: &str) -> BTreeSet<i32> {
    text.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

fn me() -> i32 {
    std::process::id() as i32
}

/// The numeric names of a `ls /proc`, and the first line (the PIDs echoed).
fn split_listing(out: &str) -> (BTreeSet<i32>, BTreeSet<i32>) {
    let (first, rest) = out.split_once('\n').unwrap_or((out, ""));
    (pids(first), pids(rest))
}

#[test]
fn ls_proc_lists_only_the_sandbox() {
    // Natively, /proc lists this test process (a PID outside any sandbox).
    assert!(pids(&native(&["ls", "/proc"])).contains(&me()));
    // Without the view, the sandbox sees it too.
    let mut plain = Policy::system();
    plain.read("/proc");
    let (st, out) = plain.run(&["/bin/sh", "-c", "ls /proc"]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(pids(&out).contains(&me()), "{out}");
    // With it: the shell (which becomes ls) and its sleep, nothing else.
    let script = "sleep 5 & echo $$ $!; exec ls /proc";
    let (st, out) = viewed().run(&["/bin/sh", "-c", script]);
    assert_eq!(exited(st), Some(0), "{out}");
    let (sandbox, listed) = split_listing(&out);
    assert_eq!(sandbox.len(), 2, "{out}");
    assert_eq!(listed, sandbox, "{out}");
    // The non-process entries are still there.
    for name in ["cpuinfo", "meminfo", "self", "sys"] {
        assert!(out.split_whitespace().any(|w| w == name), "{name}: {out}");
    }
}

#[test]
fn ls_proc_is_filtered_with_a_seed_too() {
    // With a seed, listings are also sorted by name (handlers/dirs.rs).
    let mut p = viewed();
    p.seed(3);
    let (st, out) = p.run(&["/bin/sh", "-c", "sleep 5 & echo $$ $!; exec ls -f /proc"]);
    assert_eq!(exited(st), Some(0), "{out}");
    let (sandbox, listed) = split_listing(&out);
    assert_eq!(listed, sandbox, "{out}");
    let names: Vec<&str> = out.lines().skip(1).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn ps_ax_shows_only_sandbox_processes() {
    assert!(pids(&native(&["ps", "ax", "-o", "pid="])).contains(&me()));
    let script = "sleep 5 & echo $$ $!; exec ps ax -o pid=";
    let (st, out) = viewed().run(&["/bin/sh", "-c", script]);
    assert_eq!(exited(st), Some(0), "{out}");
    let (sandbox, listed) = split_listing(&out);
    assert_eq!(sandbox.len(), 2, "{out}");
    assert_eq!(listed, sandbox, "{out}");
    // The full listing names the sandbox's programs only.
    let (st, out) = viewed().run(&["/bin/sh", "-c", "sleep 5 & exec ps ax"]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.lines().count(), 3, "header, sleep, ps: {out}");
    assert!(out.contains("sleep 5") && out.contains("ps ax"), "{out}");
}

#[test]
fn other_processes_are_missing() {
    let host = me().to_string();
    let status = format!("/proc/{host}/status");
    // Natively (and in a sandbox without the view) they are there.
    assert!(native(&["cat", &status]).contains("Name:"));
    assert_eq!(
        exited(Policy::system().run(&["test", "-e", "/proc/1"]).0),
        Some(0)
    );
    let checks = format!(
        "cat {status}; echo \"cat=$?\"; ls /proc/{host}; echo \"ls=$?\"; \
         test -e /proc/1; echo \"test=$?\"; cd /proc/1; echo \"cd=$?\"; \
         readlink /proc/1/cwd; echo \"readlink=$?\"; stat /proc/{host}; echo \"stat=$?\""
    );
    let (st, out) = viewed().run(&["/bin/sh", "-c", &checks]);
    assert_eq!(exited(st), Some(0), "{out}");
    for rc in ["cat=1", "ls=2", "test=1", "cd=2", "readlink=1", "stat=1"] {
        assert!(out.contains(rc), "{rc}: {out}");
    }
    assert!(!out.contains("Name:"), "{out}");
    assert!(
        out.matches("No such file or directory").count() >= 3,
        "{out}"
    );
}

/// Every way of reaching /proc/PID in procpeek.c, as "way errno" lines.
fn peek(p: Option<&Policy>, pid: &str) -> Vec<(String, i32)> {
    let prog = probe("procpeek", &[]);
    let dir = scratch().join("peek");
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.to_string_lossy().into_owned();
    let out = match p {
        None => native(&[&prog, pid, &dir]),
        Some(p) => {
            let mut q = std::ptr::null_mut();
            assert_eq!(sl_policy_clone(p.0, &mut q), SL_OK);
            let mut q = Policy(q);
            q.write(&dir).read(&scratch().to_string_lossy());
            // `$PPID` of procpeek run by sh: the shell, a member.
            let arg = if pid == "$$" { "$$" } else { pid };
            let (st, out) = q.run(&["/bin/sh", "-c", &format!("{prog} {arg} {dir}")]);
            assert_eq!(exited(st), Some(0), "{out}");
            out
        }
    };
    let lines: Vec<(String, i32)> = out
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    assert_eq!(lines.len(), 17, "{out}");
    lines
}

#[test]
fn every_spelling_of_a_hidden_pid_is_enoent() {
    let host = me().to_string();
    // Natively each way reaches the host process (readlink of its cwd may be
    // refused by permissions, but the process is there: never ENOENT).
    for (way, e) in peek(None, &host) {
        assert_ne!(e, libc::ENOENT, "natively {way}");
    }
    for (way, e) in peek(Some(&viewed()), &host) {
        assert_eq!(e, libc::ENOENT, "{way}");
    }
    for (way, e) in peek(Some(&viewed()), "1") {
        assert_eq!(e, libc::ENOENT, "pid 1: {way}");
    }
    // A thread of another process: /proc/TID works natively (though unlisted).
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tx.send(unsafe { libc::gettid() }).unwrap();
        let _ = done_rx.recv();
    });
    let tid = rx.recv().unwrap().to_string();
    assert_ne!(tid, host);
    for (way, e) in peek(None, &tid) {
        assert_ne!(e, libc::ENOENT, "natively, thread {tid}: {way}");
    }
    for (way, e) in peek(Some(&viewed()), &tid) {
        assert_eq!(e, libc::ENOENT, "thread {tid}: {way}");
    }
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn the_sandbox_sees_itself_its_children_and_threads() {
    // The same ways work on a member (the shell that runs procpeek).
    for (way, e) in peek(Some(&viewed()), "$$") {
        assert_eq!(e, 0, "{way}");
    }
    let script = "head -1 /proc/self/status; readlink /proc/self/exe; \
                  ls /proc/self/fd >/dev/null && echo fds; \
                  sleep 3 & for i in $(seq 100); do grep -q sleep /proc/$!/comm && break; \
                  sleep 0.05; done; head -1 /proc/$!/status; cat /proc/$!/cmdline | tr '\\0' ' '; echo; \
                  readlink /proc/self; readlink /proc/thread-self";
    let (st, out) = viewed().run(&["/bin/sh", "-c", script]);
    assert_eq!(exited(st), Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Name:\thead", "{out}");
    assert!(lines[1].ends_with("/readlink"), "{out}");
    assert_eq!(lines[2], "fds", "{out}");
    assert_eq!(lines[3], "Name:\tsleep", "{out}");
    assert_eq!(lines[4].trim(), "sleep 3", "{out}");
    // readlink /proc/self names the reader (readlink), not the supervisor.
    let self_pid: i32 = lines[5].parse().expect(&out);
    let (tgid, tid) = lines[6].split_once("/task/").expect(&out);
    assert_eq!(tgid.parse::<i32>().unwrap(), tid.parse::<i32>().unwrap());
    assert_ne!(self_pid, me());
    // Threads: a second thread's TID is in /proc/self/task and reachable.
    let py = "import threading, os, time\n\
              ev = threading.Event(); box = []\n\
              def run():\n    box.append(threading.get_native_id()); ev.wait()\n\
              t = threading.Thread(target=run); t.start()\n\
              while not box: time.sleep(0.01)\n\
              tid = box[0]\n\
              print(sorted(int(x) for x in os.listdir('/proc/self/task')) == sorted([os.getpid(), tid]))\n\
              print(open(f'/proc/{tid}/status').read().split('\\n')[0])\n\
              print(os.path.exists(f'/proc/{os.getpid()}/task/{tid}/stat'))\n\
              print(str(tid) in os.listdir('/proc'))\n\
              ev.set(); t.join()\n";
    let (st, out) = viewed().run(&["python3", "-c", py]);
    assert_eq!(exited(st), Some(0), "{out}");
    // Threads are not listed at the top of /proc (as natively).
    assert_eq!(out, "True\nName:\tpython3\nTrue\nFalse\n");
}

#[test]
fn a_thread_swapping_the_path_never_reaches_a_hidden_pid() {
    let prog = probe("procrace", &["-pthread"]);
    let host = me().to_string();
    let hidden = format!("/proc/{host}/status");
    // A visible path of the same length: /proc/self/ with extra slashes.
    let mut visible = "/proc/self/status".to_string();
    while visible.len() < hidden.len() {
        visible.insert(11, '/');
    }
    let mut hidden = hidden;
    while hidden.len() < visible.len() {
        hidden.insert(6, '/');
    }
    // And a plain file of the same length, which the kernel opens itself:
    // there Landlock, not the supervisor, keeps the hidden file out of reach.
    let dir = scratch().join("pr");
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.to_string_lossy().into_owned();
    let mut plain = format!("{base}/s");
    let swap_for_plain = if plain.len() < hidden.len() {
        while plain.len() < hidden.len() {
            plain.push('s');
        }
        hidden.clone()
    } else {
        let mut h = hidden.clone();
        while h.len() < plain.len() {
            h.insert(6, '/');
        }
        h
    };
    std::fs::write(&plain, "Name:\tplain\nPid:\t0\n").unwrap();
    let leaks = |out: &str| -> (i32, i32) {
        let field = |k: &str| {
            out.split_whitespace()
                .find_map(|w| w.strip_prefix(k)?.parse::<i32>().ok())
                .unwrap_or(-1)
        };
        (field("ok="), field("leaked="))
    };
    // Natively the swap reaches the host process.
    for (a, b) in [(&visible, &hidden), (&plain, &swap_for_plain)] {
        let out = native(&[&prog, a, b, &host, "20000"]);
        assert!(leaks(&out).1 > 0, "natively {a} / {b}: {out}");
    }
    let mut p = viewed();
    p.read(&scratch().to_string_lossy());
    for (a, b) in [(&visible, &hidden), (&plain, &swap_for_plain)] {
        let (st, out) = p.run(&[&prog, a, b, &host, "20000"]);
        assert_eq!(exited(st), Some(0), "the hidden process was read: {out}");
        let (ok, leaked) = leaks(&out);
        assert_eq!(leaked, 0, "{out}");
        assert!(ok > 0, "no open ever worked: {out}");
    }
    // readlink is answered by the supervisor, which no Landlock ptrace scope
    // holds back: a swapped exe link must still never be read. (As root the
    // capability-less supervisor could not read a root host's link anyway;
    // the unprivileged re-run is where this would catch a wrong decision.)
    let own = "/proc/self/exe".to_string();
    let mut other = format!("/proc/{host}/exe");
    let mut own_padded = own.clone();
    while own_padded.len() < other.len() {
        own_padded.insert(11, '/');
    }
    while other.len() < own_padded.len() {
        other.insert(6, '/');
    }
    let out = native(&[&prog, &own_padded, &other, &host, "20000", "readlink"]);
    assert!(leaks(&out).1 > 0, "natively: {out}");
    let (st, out) = p.run(&[&prog, &own_padded, &other, &host, "20000", "readlink"]);
    assert_eq!(exited(st), Some(0), "a hidden exe link was read: {out}");
    let (ok, leaked) = leaks(&out);
    assert_eq!((leaked, ok > 0), (0, true), "{out}");
}

#[test]
fn the_view_is_off_by_default_and_in_profiles() {
    let mut plain = Policy::system();
    plain.read("/proc");
    let host = format!("/proc/{}/status", me());
    let (st, out) = plain.run(&["cat", &host]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.contains("Name:"), "{out}");
    // The profile key turns it on.
    let text = c(
        "read = [\"/usr\", \"/lib\", \"/lib64\", \"/bin\", \"/etc\", \"/proc\"]\n\
                  proc_view = true\n[env]\nPATH = \"/usr/bin:/bin\"\n",
    );
    let mut raw = std::ptr::null_mut();
    assert_eq!(
        sl_policy_from_string(text.as_ptr(), &mut raw),
        SL_OK,
        "{}",
        last_error()
    );
    let prof = Policy(raw);
    let (st, out) = prof.run(&["cat", &host]);
    assert_eq!(exited(st), Some(1), "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
    assert_eq!(
        sl_policy_set_proc_view(std::ptr::null_mut(), true),
        SL_E_INVALID
    );
}

fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[test]
fn meminfo_and_sysinfo_follow_the_memory_limit() {
    let host = std::fs::read_to_string("/proc/meminfo").unwrap();
    let host_total = meminfo_field(&host, "MemTotal").unwrap();
    assert_ne!(host_total, 262_144, "this host has exactly 256 MiB");
    // meminfo: with the view (or anything else that routes opens: here a CPU count).
    let limit =
        |p: &Policy| assert_eq!(sl_policy_set_limit(p.0, SL_LIMIT_MEMORY, 256 << 20), SL_OK);
    let v = viewed();
    limit(&v);
    let mut cpus = Policy::system();
    cpus.read("/proc");
    limit(&cpus);
    assert_eq!(sl_policy_set_cpu_count(cpus.0, 2), SL_OK);
    for p in [&v, &cpus] {
        let (st, out) = p.run(&["cat", "/proc/meminfo"]);
        assert_eq!(exited(st), Some(0), "{out}");
        assert_eq!(meminfo_field(&out, "MemTotal"), Some(262_144), "{out}");
        let free = meminfo_field(&out, "MemFree").unwrap();
        let avail = meminfo_field(&out, "MemAvailable").unwrap();
        assert!(free > 0 && free < 262_144 && avail <= 262_144, "{out}");
        assert!(avail >= free, "{out}");
    }
    // sysinfo follows the limit alone (only sysinfo calls are routed).
    let mut p = Policy::system();
    p.read("/proc");
    limit(&p);
    // sysinfo(2): glibc's sysconf(_SC_PHYS_PAGES) and `free` use it.
    let py = "import os; print(os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'))";
    let (st, out) = p.run(&["python3", "-c", py]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out.trim(), (256u64 << 20).to_string());
    // procps `free` reads /proc/meminfo.
    let (st, out) = v.run(&["free", "-k"]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert!(out.contains("262144"), "{out}");
    // Without a limit: the host's total.
    let mut plain = Policy::system();
    plain.read("/proc");
    let (_, out) = plain.run(&["cat", "/proc/meminfo"]);
    assert_eq!(meminfo_field(&out, "MemTotal"), Some(host_total), "{out}");
    let (_, out) = plain.run(&["python3", "-c", py]);
    assert_ne!(out.trim(), (256u64 << 20).to_string());
}

#[test]
fn proc_stat_and_cpu_files_follow_the_cpu_count() {
    let mut p = Policy::system();
    p.read("/proc").read("/sys");
    assert_eq!(sl_policy_set_cpu_count(p.0, 3), SL_OK);
    let script = "grep -c '^cpu[0-9]' /proc/stat; grep -c ^processor /proc/cpuinfo; \
                  cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible \
                  /sys/devices/system/cpu/present; nproc";
    let (st, out) = p.run(&["/bin/sh", "-c", script]);
    assert_eq!(exited(st), Some(0), "{out}");
    assert_eq!(out, "3\n3\n0-2\n0-2\n0-2\n3\n");
}

#[test]
fn opens_done_for_the_child_keep_the_policy() {
    // Without /proc in the policy, the view opens nothing the child could not.
    let p = Policy::system();
    assert_eq!(sl_policy_set_proc_view(p.0, true), SL_OK);
    let (st, out) = p.run(&["cat", "/proc/self/status"]);
    assert_eq!(exited(st), Some(1), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    // A denied path inside an allowed one stays denied.
    let mut q = Policy::system();
    q.read("/proc");
    assert_eq!(sl_policy_deny_path(q.0, c("/proc").as_ptr()), SL_OK);
    let mut tree = Policy::system();
    tree.read("/");
    assert_eq!(sl_policy_deny_path(tree.0, c("/proc").as_ptr()), SL_OK);
    for p in [&q, &tree] {
        assert_eq!(sl_policy_set_proc_view(p.0, true), SL_OK);
        let (st, out) = p.run(&["cat", "/proc/self/status"]);
        assert_eq!(exited(st), Some(1), "{out}");
        assert!(out.contains("Permission denied"), "{out}");
    }
    // Writes need a writable rule; a read-only /proc refuses them as Landlock would.
    let (st, out) = viewed().run(&["/bin/sh", "-c", "echo x > /proc/self/comm"]);
    assert_ne!(exited(st), Some(0), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    // The whole tree readable, the view on: other processes are still missing.
    let mut root = Policy::system();
    root.read("/");
    assert_eq!(sl_policy_set_proc_view(root.0, true), SL_OK);
    let host = format!("/proc/{}/status", me());
    let (st, out) = root.run(&[
        "/bin/sh",
        "-c",
        &format!("cat /proc/self/stat >/dev/null && cat {host}"),
    ]);
    assert_eq!(exited(st), Some(1), "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
}

#[test]
fn sysinfo_counts_the_sandbox_tasks() {
    // struct sysinfo: procs (unsigned short) after uptime, loads[3] and six
    // unsigned longs: offset 80 on x86_64.
    let py = "import ctypes, struct\n\
              b = ctypes.create_string_buffer(112)\n\
              assert ctypes.CDLL(None).sysinfo(b) == 0\n\
              print(struct.unpack_from('H', b.raw, 80)[0])\n";
    let native_procs: u32 = native(&["python3", "-c", py]).trim().parse().unwrap();
    assert!(native_procs > 3, "{native_procs}");
    let script = format!("sleep 5 & exec python3 -c \"{py}\"");
    let (st, out) = viewed().run(&["/bin/sh", "-c", &script]);
    assert_eq!(exited(st), Some(0), "{out}");
    // python3 (the shell it replaced) and sleep.
    assert_eq!(out.trim(), "2", "{out}");
}
