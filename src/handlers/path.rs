//! Path helpers shared by handlers that look at a notified `open`.

use crate::seccomp::mem;
use crate::seccomp::notify::SeccompNotif;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The child's path as the supervisor must spell it to reach the same file.
pub fn child_path(pid: libc::pid_t, dirfd: i32, path: &[u8]) -> PathBuf {
    let p = std::ffi::OsStr::from_bytes(path);
    if path.starts_with(b"/") {
        // The child shares our root (chroot is refused), but /proc/self is not ours.
        let s = p.to_string_lossy();
        for (prefix, repl) in [
            ("/proc/self/", format!("/proc/{pid}/")),
            ("/proc/thread-self/", format!("/proc/{pid}/task/{pid}/")),
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                return PathBuf::from(repl).join(rest);
            }
        }
        return PathBuf::from(p);
    }
    let base = if dirfd == libc::AT_FDCWD {
        format!("/proc/{pid}/cwd")
    } else {
        format!("/proc/{pid}/fd/{dirfd}")
    };
    PathBuf::from(base).join(p)
}

/// A notified `open`, `openat` or `openat2`, its arguments read from the child.
pub struct OpenCall {
    pub dirfd: i32,
    pub path: Vec<u8>,
    pub flags: i32,
}

impl OpenCall {
    /// The open this notification is, or None (another syscall, unreadable path).
    pub fn of(n: &SeccompNotif) -> Option<OpenCall> {
        let a = n.data.args;
        let pid = n.pid as libc::pid_t;
        let (dirfd, addr, flags) = match n.data.nr as i64 {
            libc::SYS_open => (libc::AT_FDCWD, a[0], a[1]),
            libc::SYS_openat => (a[0] as i32, a[1], a[2]),
            libc::SYS_openat2 => {
                // struct open_how starts with the u64 flags.
                let mut how = [0u8; 8];
                match mem::read(pid, a[2], &mut how) {
                    Ok(8) => (a[0] as i32, a[1], u64::from_le_bytes(how)),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let path = mem::read_cstr(pid, addr, libc::PATH_MAX as usize).ok()?;
        Some(OpenCall {
            dirfd,
            path,
            flags: flags as i32,
        })
    }

    /// The last component of the path as written ("" for a trailing slash).
    pub fn file_name(&self) -> &[u8] {
        self.path.rsplit(|&c| c == b'/').next().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_is_rewritten() {
        assert_eq!(
            child_path(7, -100, b"/proc/self/fd/3"),
            PathBuf::from("/proc/7/fd/3")
        );
        assert_eq!(
            child_path(7, libc::AT_FDCWD, b"x"),
            PathBuf::from("/proc/7/cwd/x")
        );
        assert_eq!(child_path(7, 5, b"x"), PathBuf::from("/proc/7/fd/5/x"));
        assert_eq!(
            child_path(7, 5, b"/proc/thread-self/comm"),
            PathBuf::from("/proc/7/task/7/comm")
        );
    }

    #[test]
    fn file_names() {
        let c = |p: &[u8]| OpenCall {
            dirfd: 0,
            path: p.to_vec(),
            flags: 0,
        };
        assert_eq!(c(b"/proc/cpuinfo").file_name(), b"cpuinfo");
        assert_eq!(c(b"uuid").file_name(), b"uuid");
        assert_eq!(c(b"/a/").file_name(), b"");
    }
}
