//! Helpers shared by the integration tests: a policy wrapper over the C API,
//! running a program with its output captured, compiling small C probes.
#![allow(dead_code)]

use sandlock::ffi::*;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Point the library at the built cdylib (the rlib cannot find itself).
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let path = std::env::var_os("SANDLOCK_SUPERVISOR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().expect("current_exe");
                // target/<profile>/deps/<test> -> target/<profile>/deps/libsandlock.so
                exe.parent().expect("deps dir").join("libsandlock.so")
            });
        assert!(
            path.exists(),
            "supervisor library not found at {}",
            path.display()
        );
        sandlock::supervisor::link::set_supervisor_path(&path);
    });
}

pub fn last_error() -> String {
    // SAFETY: the library returns a valid C string, never NULL.
    unsafe { CStr::from_ptr(sl_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// An owned `sl_policy`.
pub struct Policy(pub *mut sl_policy);

// SAFETY: a policy may be read (spawned from) by many threads at once (API contract).
unsafe impl Send for Policy {}
// SAFETY: as above; setters take &mut self.
unsafe impl Sync for Policy {}

impl Policy {
    pub fn empty() -> Policy {
        setup();
        let mut p = std::ptr::null_mut();
        assert_eq!(sl_policy_new(&mut p), SL_OK);
        Policy(p)
    }

    /// Readable system directories and a PATH: what ordinary programs need.
    pub fn system() -> Policy {
        let mut p = Policy::empty();
        for d in ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc"] {
            if Path::new(d).exists() {
                p.read(d);
            }
        }
        p.env("PATH", "/usr/local/bin:/usr/bin:/bin");
        p
    }

    pub fn read(&mut self, path: &str) -> &mut Self {
        assert_eq!(
            sl_policy_allow_read(self.0, c(path).as_ptr()),
            SL_OK,
            "{}",
            last_error()
        );
        self
    }
    pub fn write(&mut self, path: &str) -> &mut Self {
        assert_eq!(
            sl_policy_allow_write(self.0, c(path).as_ptr()),
            SL_OK,
            "{}",
            last_error()
        );
        self
    }
    pub fn exec(&mut self, path: &str) -> &mut Self {
        assert_eq!(
            sl_policy_allow_exec(self.0, c(path).as_ptr()),
            SL_OK,
            "{}",
            last_error()
        );
        self
    }
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        assert_eq!(sl_policy_set_random_seed(self.0, seed), SL_OK);
        self
    }
    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        assert_eq!(
            sl_policy_set_env(self.0, c(k).as_ptr(), c(v).as_ptr()),
            SL_OK
        );
        self
    }
    pub fn timeout_ms(&mut self, ms: u64) -> &mut Self {
        assert_eq!(sl_policy_set_timeout_ms(self.0, ms), SL_OK);
        self
    }

    /// Spawn with stdout (and stderr) going to a pipe; returns the child and the read end.
    pub fn spawn_captured(&self, argv: &[&str]) -> Result<(Child, OwnedFd), (i32, String)> {
        let (r, w) = pipe();
        // A copy of the policy so that concurrent callers do not share stdio settings.
        let mut copy = std::ptr::null_mut();
        assert_eq!(sl_policy_clone(self.0, &mut copy), SL_OK);
        let copy = Policy(copy);
        assert_eq!(
            sl_policy_set_stdio(copy.0, -1, w.as_raw_fd(), w.as_raw_fd()),
            SL_OK
        );
        let child = copy.spawn(argv)?;
        drop(w);
        Ok((child, r))
    }

    pub fn spawn(&self, argv: &[&str]) -> Result<Child, (i32, String)> {
        let args: Vec<CString> = argv.iter().map(|a| c(a)).collect();
        let mut ptrs: Vec<*mut libc::c_char> = args
            .iter()
            .map(|a| a.as_ptr() as *mut libc::c_char)
            .collect();
        ptrs.push(std::ptr::null_mut());
        let mut ch = std::ptr::null_mut();
        let r = sl_spawn(self.0, ptrs.as_ptr(), &mut ch);
        if r != SL_OK {
            return Err((r, last_error()));
        }
        Ok(Child(ch))
    }

    /// Run to completion: (raw wait status, stdout+stderr).
    pub fn run(&self, argv: &[&str]) -> (i32, String) {
        let (child, r) = self
            .spawn_captured(argv)
            .unwrap_or_else(|e| panic!("spawn {argv:?}: {e:?}"));
        let out = read_all(r);
        (child.wait(), out)
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        sl_policy_free(self.0);
    }
}

/// An owned `sl_child`.
pub struct Child(pub *mut sl_child);

// SAFETY: child calls are internally synchronized (API contract).
unsafe impl Send for Child {}
// SAFETY: as above.
unsafe impl Sync for Child {}

impl Child {
    pub fn wait(&self) -> i32 {
        let mut st = 0;
        assert_eq!(sl_wait(self.0, &mut st), SL_OK, "{}", last_error());
        st
    }
    pub fn pid(&self) -> i32 {
        sl_child_pid(self.0)
    }
    pub fn kill(&self, sig: i32) {
        assert_eq!(sl_child_kill(self.0, sig), SL_OK, "{}", last_error());
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        sl_child_free(self.0);
    }
}

pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut p = [0; 2];
    // SAFETY: room for two fds.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new fds owned here.
    unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) }
}

pub fn read_all(fd: OwnedFd) -> String {
    let mut f = std::fs::File::from(fd);
    let mut s = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut s).unwrap();
    String::from_utf8_lossy(&s).into_owned()
}

pub fn exited(status: i32) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

pub fn signaled(status: i32) -> Option<i32> {
    libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
}

/// Run a command natively: stdout as a string.
pub fn native(argv: &[&str]) -> String {
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("native run");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory for this test binary, readable by everyone (the
/// unprivileged re-run executes the probes built there).
pub fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sandlock-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let _ = std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    d
}

/// The source tree: the copy `tests/unprivileged.sh` makes, else this checkout.
pub fn source_dir() -> PathBuf {
    std::env::var_os("SANDLOCK_SOURCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Compile tests/<dir>/<name>.c (gcc) or .cpp (g++), with `extra` flags, into
/// the scratch dir, once per process.
pub fn compile_probe(dir: &str, name: &str, extra: &[&str]) -> String {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let base = source_dir().join("tests").join(dir);
    let (src, cc) = match base.join(format!("{name}.c")) {
        c if c.exists() => (c, "gcc"),
        _ => (base.join(format!("{name}.cpp")), "g++"),
    };
    let out = scratch().join(format!(
        "{dir}-{name}{}",
        extra.join("").replace(['-', '/', ' '], "_")
    ));
    if !out.exists() {
        let st = std::process::Command::new(cc)
            .args(["-O1", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .args(extra)
            .status()
            .expect(cc);
        assert!(st.success(), "compiling {}", src.display());
    }
    out.to_string_lossy().into_owned()
}

/// Compile tests/progs/<name>.c (with `extra` gcc flags) into the scratch dir.
pub fn probe(name: &str, extra: &[&str]) -> String {
    compile_probe("progs", name, extra)
}

/// A loopback destination that never answers: a listener with backlog 0 and
/// one connection it never accepts, so its accept queue is full and the
/// kernel drops every further SYN (checked here first: a connect to it is
/// still in progress after 300 ms). The stream returned keeps the queue full.
pub fn blackhole() -> (std::net::TcpListener, std::net::TcpStream, u16) {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // SAFETY: listen on our own socket; a listening socket takes the new backlog.
    assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
    let fill = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let probe = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(300),
    );
    assert!(
        probe
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::TimedOut),
        "not a black hole: {probe:?}"
    );
    (l, fill, port)
}

/// One line from `fd`, read byte by byte (the rest stays in the pipe).
pub fn read_line(fd: &std::os::fd::OwnedFd) -> String {
    use std::os::fd::AsRawFd;
    let mut line = Vec::new();
    let mut b = 0u8;
    // SAFETY: reads one byte into a local.
    while unsafe { libc::read(fd.as_raw_fd(), (&mut b as *mut u8).cast(), 1) } == 1 && b != b'\n' {
        line.push(b);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Is `pid` a live process? A zombie counts as dead.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Names of this process's threads that the library started (`sandlock-*`).
///
/// Leak checks count these rather than all threads: the test harness starts
/// and ends a thread per test, so a total can drop while a test runs.
pub fn library_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                .map(|c| c.trim_end().to_string())
                .filter(|c| c.starts_with("sandlock"))
                .collect()
        })
        .unwrap_or_default()
}
