//! The host side of the supervisor: finding and starting it, and sending it requests.
//!
//! One supervisor process serves a host process. It is started on the first
//! spawn, from the library file itself (the `.so` is executable: see `entry.rs`),
//! and it exits when the host's end of the control socket closes, that is when
//! the host exits. If it dies, the next spawn starts a new one.

use super::proto::INLINE_MAX;
use super::sock;
use crate::error::{Code, Error, Result};
use std::cell::UnsafeCell;
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, Once};

/// Where the supervisor's control socket lands in its process.
pub const CTL_FD: RawFd = 3;

struct Link {
    ctl: Arc<OwnedFd>,
    /// The long-lived supervisor process.
    pid: libc::pid_t,
    /// The process that started it: a forked host must start its own.
    owner: libc::pid_t,
}

/// A pthread mutex that `pthread_atfork` handlers take before a fork and
/// release on both sides (the pattern of POSIX's `pthread_atfork` rationale).
///
/// A std `Mutex` held by another thread when a host forks (without exec) stays
/// locked forever in the child, whose first `sl_spawn` would then hang. With
/// these handlers a fork waits for the holder instead, and the child gets the
/// lock free; it then starts its own supervisor, since `Link::owner` is not
/// its pid. glibc's `posix_spawn` (used by `start`) runs no fork handlers.
struct ForkSafeLock(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be shared between threads.
unsafe impl Sync for ForkSafeLock {}

impl ForkSafeLock {
    const fn new() -> Self {
        ForkSafeLock(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER))
    }

    fn lock(&self) {
        // SAFETY: a statically initialized mutex; every lock is paired with an unlock.
        unsafe { libc::pthread_mutex_lock(self.0.get()) };
    }

    fn unlock(&self) {
        // SAFETY: called by the thread that locked it (in a fork child, that
        // thread is the only one left).
        unsafe { libc::pthread_mutex_unlock(self.0.get()) };
    }

    /// Run `f` with the lock held, released even if `f` unwinds.
    fn hold<R>(&self, f: impl FnOnce() -> R) -> R {
        FORK_HANDLERS.call_once(|| {
            // SAFETY: the handlers only lock and unlock the two static mutexes.
            // A failure (ENOMEM) leaves forks unprotected, as before.
            unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
        });
        struct Unlock<'a>(&'a ForkSafeLock);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.unlock();
            }
        }
        self.lock();
        let _unlock = Unlock(self);
        f()
    }
}

/// Held while a supervisor starts, so two threads never start two.
static STARTING: ForkSafeLock = ForkSafeLock::new();
/// Held briefly around every use of `LINK_VALUE`.
static LINK_LOCK: ForkSafeLock = ForkSafeLock::new();

/// The host's link to its supervisor; only touched with `LINK_LOCK` held.
struct LinkValue(UnsafeCell<Option<Link>>);

// SAFETY: every access goes through `with_link`, under LINK_LOCK.
unsafe impl Sync for LinkValue {}

static LINK_VALUE: LinkValue = LinkValue(UnsafeCell::new(None));

static FORK_HANDLERS: Once = Once::new();

extern "C" fn before_fork() {
    STARTING.lock();
    LINK_LOCK.lock();
}

extern "C" fn after_fork() {
    LINK_LOCK.unlock();
    STARTING.unlock();
}

/// Run `f` on the link with its lock held; `f` must not block.
fn with_link<R>(f: impl FnOnce(&mut Option<Link>) -> R) -> R {
    // SAFETY: LINK_LOCK is held for the whole borrow, so it is the only one.
    LINK_LOCK.hold(|| f(unsafe { &mut *LINK_VALUE.0.get() }))
}

/// A supervisor file set by the Rust embedder (the rlib cannot find its own .so).
static OVERRIDE: Mutex<Option<CString>> = Mutex::new(None);

/// Use `path` (a libsandlock.so) as the supervisor from the next start on.
///
/// For Rust programs that link the rlib, where the library cannot locate its
/// shared object; C hosts use the `SANDLOCK_SUPERVISOR` environment variable.
pub fn set_supervisor_path(path: &std::path::Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        *OVERRIDE.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }
}

/// The file to execute as the supervisor: `$SANDLOCK_SUPERVISOR`, else the shared
/// library this code was loaded from, else the installed library.
fn supervisor_path() -> Result<CString> {
    if let Some(p) = OVERRIDE.lock().unwrap_or_else(|e| e.into_inner()).clone() {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("SANDLOCK_SUPERVISOR") {
        return CString::new(p.as_bytes())
            .map_err(|_| Error::invalid("SANDLOCK_SUPERVISOR contains a NUL byte"));
    }
    // SAFETY: dladdr only reads the loader's tables; info is plain data.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: any address inside this library identifies it.
    let found = unsafe { libc::dladdr(crate::ffi::sl_version as *const libc::c_void, &mut info) };
    if found != 0 && !info.dli_fname.is_null() {
        // SAFETY: dladdr returns a NUL-terminated file name owned by the loader.
        let lib = unsafe { CStr::from_ptr(info.dli_fname) }.to_owned();
        let me = std::fs::canonicalize("/proc/self/exe").ok();
        let it = std::fs::canonicalize(OsStr::from_bytes(lib.as_bytes())).ok();
        if it.is_some() && it != me {
            return Ok(lib);
        }
    }
    // Linked statically (libsandlock.a or the Rust rlib): use the installed library.
    if let Some(dir) = option_env!("SANDLOCK_LIBDIR") {
        let p = format!("{dir}/libsandlock.so.{}", crate::features::VERSION_MAJOR);
        if std::path::Path::new(&p).exists() {
            return CString::new(p).map_err(|_| Error::invalid("bad SANDLOCK_LIBDIR"));
        }
    }
    Err(Error::new(
        Code::Supervisor,
        "sl_spawn: cannot find libsandlock.so to run as the supervisor (statically linked?); \
         set SANDLOCK_SUPERVISOR to the path of libsandlock.so",
    ))
}

fn start() -> Result<Link> {
    let path = supervisor_path()?;
    let (host_end, sup_end) = sock::seqpacket_pair()
        .map_err(|e| Error::sys("socketpair", e.raw_os_error().unwrap_or(0)))?;
    // Keep the supervisor's end off fd 3, where dup2 would not clear close-on-exec.
    // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor we then own.
    let high = unsafe { libc::fcntl(sup_end.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if high < 0 {
        return Err(Error::last_os("fcntl(F_DUPFD_CLOEXEC)"));
    }
    drop(sup_end);
    // SAFETY: `high` is a fresh fd owned by nobody else.
    let sup_end = unsafe { OwnedFd::from_raw_fd(high) };

    let argv0 = c"sandlock-supervisor";
    let argv = [argv0.as_ptr() as *mut libc::c_char, std::ptr::null_mut()];
    let envp = [std::ptr::null_mut::<libc::c_char>()];
    // SAFETY: the posix_spawn objects are initialized before use and destroyed after;
    // every pointer passed lives across the call.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut at: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut fa);
        libc::posix_spawnattr_init(&mut at);
        libc::posix_spawn_file_actions_adddup2(&mut fa, sup_end.as_raw_fd(), CTL_FD);
        libc::posix_spawn_file_actions_addopen(
            &mut fa,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        );
        libc::posix_spawn_file_actions_addopen(
            &mut fa,
            1,
            c"/dev/null".as_ptr(),
            libc::O_WRONLY,
            0,
        );
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::posix_spawnattr_setsigmask(&mut at, &none);
        libc::posix_spawnattr_setsigdefault(&mut at, &all);
        libc::posix_spawnattr_setflags(
            &mut at,
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
        );
        let mut pid = 0;
        let r = libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            &fa,
            &at,
            argv.as_ptr(),
            envp.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&mut fa);
        libc::posix_spawnattr_destroy(&mut at);
        if r != 0 {
            return Err(Error::with_errno(
                Code::Supervisor,
                format!(
                    "sl_spawn: cannot start the supervisor {}",
                    path.to_string_lossy()
                ),
                r,
            ));
        }
        // The supervisor forks once and this first process exits at once, so the
        // long-lived supervisor is not our child: no stray SIGCHLD or zombie for
        // the host. If a host thread reaps it first, ECHILD here is harmless.
        let mut st = 0;
        while libc::waitpid(pid, &mut st, 0) < 0 && crate::error::last_errno() == libc::EINTR {}
    }
    drop(sup_end);
    // The supervisor says hello with its pid once it runs; EOF means it failed to start.
    let mut buf = [0u8; 16];
    let fail = |why: String| {
        Error::new(
            Code::Supervisor,
            format!(
                "sl_spawn: the supervisor {} did not start: {why}",
                path.to_string_lossy()
            ),
        )
    };
    // A supervisor that cannot even say hello within 10 s is not going to work.
    match sock::wait_readable(&host_end, Some(10_000)) {
        Ok(true) => {}
        Ok(false) => return Err(fail("no hello within 10 s".into())),
        Err(e) => return Err(fail(e.to_string())),
    }
    let pid = match sock::recv(host_end.as_raw_fd(), &mut buf, true) {
        Ok((n, _)) if n == 5 && buf[0] == b'H' => {
            i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]])
        }
        Ok(_) => {
            return Err(fail(
                "no hello (is it libsandlock.so of the same version?)".into(),
            ))
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    Ok(Link {
        ctl: Arc::new(host_end),
        pid,
        owner: std::process::id() as libc::pid_t,
    })
}

fn current() -> Result<Arc<OwnedFd>> {
    let me = std::process::id() as libc::pid_t;
    let live = |l: &mut Option<Link>| l.as_ref().filter(|l| l.owner == me).map(|l| l.ctl.clone());
    if let Some(ctl) = with_link(live) {
        return Ok(ctl);
    }
    STARTING.hold(|| {
        // Another thread may have started one while we waited.
        if let Some(ctl) = with_link(live) {
            return Ok(ctl);
        }
        let fresh = start()?;
        let ctl = fresh.ctl.clone();
        with_link(|l| *l = Some(fresh));
        Ok(ctl)
    })
}

fn forget(ctl: &Arc<OwnedFd>) {
    with_link(|l| {
        if l.as_ref().is_some_and(|l| Arc::ptr_eq(&l.ctl, ctl)) {
            *l = None;
        }
    });
}

/// A sealed memfd holding `data`, for requests too large to send inline.
fn memfd_with(data: &[u8]) -> Result<OwnedFd> {
    // SAFETY: a fresh memfd owned by us on success.
    let fd = unsafe {
        libc::memfd_create(
            c"sandlock-request".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("memfd_create"));
    }
    // SAFETY: `fd` was just created and is owned only here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd);
    std::io::Write::write_all(&mut f, data)
        .map_err(|e| Error::sys("writing the request memfd", e.raw_os_error().unwrap_or(0)))?;
    let fd = OwnedFd::from(f);
    // SAFETY: sealing is an fcntl on our own fd.
    unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL,
        )
    };
    Ok(fd)
}

/// Send a spawn request with `fds`; returns the host end of the new child's socket.
pub fn request_spawn(request: &[u8], fds: &[RawFd]) -> Result<OwnedFd> {
    let (host_end, sup_end) = sock::seqpacket_pair()
        .map_err(|e| Error::sys("socketpair", e.raw_os_error().unwrap_or(0)))?;
    let memfd;
    let mut all = vec![sup_end.as_raw_fd()];
    all.extend_from_slice(fds);
    let mut payload = Vec::with_capacity(request.len().min(INLINE_MAX) + 1);
    if request.len() <= INLINE_MAX {
        payload.push(b'I');
        payload.extend_from_slice(request);
    } else {
        memfd = memfd_with(request)?;
        payload.push(b'M');
        all.push(memfd.as_raw_fd());
    }
    for attempt in 0..2 {
        let ctl = current()?;
        match sock::send(ctl.as_raw_fd(), &payload, &all) {
            Ok(()) => return Ok(host_end),
            Err(e)
                if attempt == 0
                    && matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) =>
            {
                // The supervisor died: start a new one and try once more.
                forget(&ctl);
            }
            Err(e) => {
                forget(&ctl);
                return Err(Error::with_errno(
                    Code::Supervisor,
                    "sl_spawn: cannot reach the supervisor",
                    e.raw_os_error().unwrap_or(0),
                ));
            }
        }
    }
    Err(Error::new(
        Code::Supervisor,
        "sl_spawn: the supervisor keeps dying at start-up",
    ))
}

/// The pid of this process's supervisor, if one runs (for tests and diagnostics).
pub fn supervisor_pid() -> Option<libc::pid_t> {
    with_link(|l| l.as_ref().map(|l| l.pid))
}
