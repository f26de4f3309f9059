//! Thin wrappers over the seccomp user-notification fd (linux/seccomp.h).
//! Errors are raw errno values; the caller decides which ones are expected
//! (ENOENT: the target died or its syscall was interrupted; EINTR).

use std::os::fd::RawFd;

use super::bpf::SeccompData;

/// `struct seccomp_notif`: one trapped syscall.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompNotif {
    pub id: u64,
    pub pid: u32,
    pub flags: u32,
    pub data: SeccompData,
}

/// `struct seccomp_notif_resp`: the answer to one notification.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompNotifResp {
    pub id: u64,
    pub val: i64,
    pub error: i32,
    pub flags: u32,
}

/// `struct seccomp_notif_addfd`: install a supervisor fd into the target.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeccompNotifAddfd {
    pub id: u64,
    pub flags: u32,
    pub srcfd: u32,
    pub newfd: u32,
    pub newfd_flags: u32,
}

pub const SECCOMP_SET_MODE_FILTER: u32 = 1;
pub const SECCOMP_GET_ACTION_AVAIL: u32 = 2;
pub const SECCOMP_FILTER_FLAG_NEW_LISTENER: u64 = 1 << 3;
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// Let the syscall run in the kernel as if it had not been trapped.
pub const SECCOMP_USER_NOTIF_FLAG_CONTINUE: u32 = 1;
/// Install at exactly `newfd` (replacing what is there) instead of the lowest free fd.
pub const SECCOMP_ADDFD_FLAG_SETFD: u32 = 1;
/// Install the fd and answer the notification with its number, atomically.
pub const SECCOMP_ADDFD_FLAG_SEND: u32 = 2;
/// Wake the supervisor thread synchronously on the target's CPU (Linux 6.6):
/// ≈5 µs per round trip instead of ≈50 µs (DESIGN.md §4.2 step 4).
pub const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;
const SECCOMP_IOC_MAGIC: u32 = b'!' as u32;

/// Linux `_IOC(dir, type, nr, size)` for x86_64 (asm-generic/ioctl.h).
const fn ioc(dir: u32, nr: u32, size: usize) -> libc::Ioctl {
    ((dir << 30) | ((size as u32) << 16) | (SECCOMP_IOC_MAGIC << 8) | nr) as libc::Ioctl
}

pub const SECCOMP_IOCTL_NOTIF_RECV: libc::Ioctl =
    ioc(IOC_READ | IOC_WRITE, 0, std::mem::size_of::<SeccompNotif>());
pub const SECCOMP_IOCTL_NOTIF_SEND: libc::Ioctl = ioc(
    IOC_READ | IOC_WRITE,
    1,
    std::mem::size_of::<SeccompNotifResp>(),
);
pub const SECCOMP_IOCTL_NOTIF_ID_VALID: libc::Ioctl = ioc(IOC_WRITE, 2, std::mem::size_of::<u64>());
pub const SECCOMP_IOCTL_NOTIF_ADDFD: libc::Ioctl =
    ioc(IOC_WRITE, 3, std::mem::size_of::<SeccompNotifAddfd>());
pub const SECCOMP_IOCTL_NOTIF_SET_FLAGS: libc::Ioctl =
    ioc(IOC_WRITE, 4, std::mem::size_of::<u64>());

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Maps a -1 syscall return to the current errno.
fn check(r: libc::c_int) -> Result<libc::c_int, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Waits for the next notification on listener `fd` (blocks unless `fd` is
/// non-blocking or polled first).
pub fn recv(fd: RawFd) -> Result<SeccompNotif, i32> {
    // The kernel rejects a buffer that is not all zeros (EINVAL), so that
    // fields added later can be told apart from garbage.
    let mut notif = SeccompNotif::default();
    // SAFETY: RECV writes at most size_of::<SeccompNotif>() bytes (encoded in
    // the request number) into `notif`, a live, correctly laid out struct.
    check(unsafe {
        libc::ioctl(
            fd,
            SECCOMP_IOCTL_NOTIF_RECV,
            &mut notif as *mut SeccompNotif,
        )
    })?;
    Ok(notif)
}

fn send(fd: RawFd, resp: &SeccompNotifResp) -> Result<(), i32> {
    let mut resp = *resp;
    // SAFETY: SEND reads (and is declared to write) one SeccompNotifResp, and
    // `resp` is a live local of exactly that type.
    check(unsafe {
        libc::ioctl(
            fd,
            SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut SeccompNotifResp,
        )
    })?;
    Ok(())
}

/// Completes notification `id` with return value `val` (the syscall does not run).
pub fn respond_value(fd: RawFd, id: u64, val: i64) -> Result<(), i32> {
    send(
        fd,
        &SeccompNotifResp {
            id,
            val,
            error: 0,
            flags: 0,
        },
    )
}

/// Fails notification `id` with `errno` (a positive value, e.g. `libc::EPERM`).
pub fn respond_error(fd: RawFd, id: u64, errno: i32) -> Result<(), i32> {
    send(
        fd,
        &SeccompNotifResp {
            id,
            val: 0,
            error: -errno,
            flags: 0,
        },
    )
}

/// Lets notification `id`'s syscall run in the kernel. Never use this after
/// an access decision based on the target's memory: the target may change it
/// before the kernel reads it (TOCTOU).
pub fn respond_continue(fd: RawFd, id: u64) -> Result<(), i32> {
    send(
        fd,
        &SeccompNotifResp {
            id,
            val: 0,
            error: 0,
            flags: SECCOMP_USER_NOTIF_FLAG_CONTINUE,
        },
    )
}

/// Whether the target of `id` is still blocked in that syscall; check it after
/// reading the target's memory, since its pid may have been reused.
pub fn id_valid(fd: RawFd, id: u64) -> bool {
    // SAFETY: ID_VALID reads one u64 from the pointer, which points at `id`.
    unsafe { libc::ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id as *const u64) == 0 }
}

/// Duplicates our `srcfd` into the target of `id` and returns the target's fd
/// number. `newfd`: exact slot (replacing it); `send`: also completes the
/// notification with that number as the syscall's return value.
pub fn addfd(
    fd: RawFd,
    id: u64,
    srcfd: RawFd,
    newfd: Option<u32>,
    cloexec: bool,
    send: bool,
) -> Result<i32, i32> {
    let srcfd = u32::try_from(srcfd).map_err(|_| libc::EBADF)?;
    let mut flags = 0;
    if newfd.is_some() {
        flags |= SECCOMP_ADDFD_FLAG_SETFD;
    }
    if send {
        flags |= SECCOMP_ADDFD_FLAG_SEND;
    }
    let mut req = SeccompNotifAddfd {
        id,
        flags,
        srcfd,
        newfd: newfd.unwrap_or(0),
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: ADDFD reads one SeccompNotifAddfd from the pointer, which points
    // at `req`, a live local of that type.
    check(unsafe {
        libc::ioctl(
            fd,
            SECCOMP_IOCTL_NOTIF_ADDFD,
            &mut req as *mut SeccompNotifAddfd,
        )
    })
}

/// Asks for synchronous wake-ups on this listener; EINVAL before Linux 6.6,
/// where the caller should carry on without it.
pub fn set_sync_wakeup(fd: RawFd) -> Result<(), i32> {
    // SAFETY: SET_FLAGS takes the flags by value in the argument register, not
    // through a pointer, so no memory is read or written.
    check(unsafe {
        libc::ioctl(
            fd,
            SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    })?;
    Ok(())
}

/// Whether this kernel (and any filter we are already under) offers
/// `SECCOMP_RET_USER_NOTIF`.
pub fn notify_supported() -> bool {
    let action: u32 = SECCOMP_RET_USER_NOTIF;
    // SAFETY: GET_ACTION_AVAIL reads one u32 through the pointer, which points
    // at `action`, alive for the whole call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{self, Action, FilterSpec, SyscallRule};

    #[test]
    fn layouts_match_kernel() {
        assert_eq!(std::mem::size_of::<SeccompNotif>(), 80);
        assert_eq!(std::mem::size_of::<SeccompNotifResp>(), 24);
        assert_eq!(std::mem::size_of::<SeccompNotifAddfd>(), 24);
        assert_eq!(
            std::mem::size_of::<SeccompNotif>(),
            std::mem::size_of::<libc::seccomp_notif>()
        );
        assert_eq!(
            std::mem::size_of::<SeccompNotifAddfd>(),
            std::mem::size_of::<libc::seccomp_notif_addfd>()
        );
    }

    #[test]
    fn ioctl_numbers() {
        assert_eq!(SECCOMP_IOCTL_NOTIF_RECV as u32, 0xc050_2100);
        assert_eq!(SECCOMP_IOCTL_NOTIF_SEND as u32, 0xc018_2101);
        assert_eq!(SECCOMP_IOCTL_NOTIF_ID_VALID as u32, 0x4008_2102);
        assert_eq!(SECCOMP_IOCTL_NOTIF_ADDFD as u32, 0x4018_2103);
        assert_eq!(SECCOMP_IOCTL_NOTIF_SET_FLAGS as u32, 0x4008_2104);
        assert_eq!(SECCOMP_IOCTL_NOTIF_RECV, libc::SECCOMP_IOCTL_NOTIF_RECV);
        assert_eq!(SECCOMP_IOCTL_NOTIF_ADDFD, libc::SECCOMP_IOCTL_NOTIF_ADDFD);
    }

    #[test]
    fn bad_fd_errors() {
        assert_eq!(recv(-1).unwrap_err(), libc::EBADF);
        assert_eq!(respond_value(-1, 1, 0).unwrap_err(), libc::EBADF);
        assert!(!id_valid(-1, 1));
        assert_eq!(
            addfd(-1, 1, -1, None, true, false).unwrap_err(),
            libc::EBADF
        );
    }

    /// A child whose getppid is answered by us, through the real kernel path:
    /// install with NEW_LISTENER in a forked child, pass the listener back over
    /// a socketpair, answer one notification with a value and one with CONTINUE.
    #[test]
    fn round_trip_with_real_listener() {
        if !notify_supported() {
            eprintln!("seccomp user notification unavailable; skipping");
            return;
        }
        let spec = FilterSpec {
            default: Action::Allow,
            rules: vec![SyscallRule::constant(
                libc::SYS_getppid as u32,
                Action::Notify,
            )],
        };
        let prog = bpf::assemble(&spec).unwrap();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        let mut sv = [0; 2];
        // SAFETY: sv is a valid out array of two ints.
        let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: the child only makes raw syscalls (no allocation, no locks)
        // before _exit; every buffer it touches was set up before the fork.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: see the fork above; all pointers are to live locals.
            unsafe {
                libc::close(sv[0]);
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(100);
                }
                let listener = libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    &fprog as *const libc::sock_fprog,
                ) as libc::c_int;
                if listener < 0 {
                    libc::_exit(101);
                }
                // filter.rs allows nested filters because of this EBUSY: a
                // listener inside the sandbox cannot shadow ours.
                let nested = libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER,
                    &fprog as *const libc::sock_fprog,
                );
                if nested != -1 || *libc::__errno_location() != libc::EBUSY {
                    libc::_exit(104);
                }
                let mut cmsg_buf = [0u64; 4];
                let mut byte = 0u8;
                let mut iov = libc::iovec {
                    iov_base: &mut byte as *mut u8 as *mut libc::c_void,
                    iov_len: 1,
                };
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = cmsg_buf.as_mut_ptr() as *mut libc::c_void;
                msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, listener);
                if libc::sendmsg(sv[1], &msg, 0) != 1 {
                    libc::_exit(102);
                }
                libc::close(listener);
                let first = libc::syscall(libc::SYS_getppid);
                let second = libc::syscall(libc::SYS_getppid);
                let real = libc::syscall(libc::SYS_getpid);
                let ok = first == 4242 && second > 0 && second != 4242 && real > 0;
                libc::_exit(if ok { 0 } else { 103 });
            }
        }
        // SAFETY: closing our copy of the child's end, which we own.
        unsafe { libc::close(sv[1]) };
        let listener = recv_fd(sv[0]);
        assert!(listener >= 0);
        match set_sync_wakeup(listener) {
            Ok(()) | Err(libc::EINVAL) => {}
            Err(e) => panic!("SET_FLAGS failed: {e}"),
        }
        let n = recv(listener).unwrap();
        assert_eq!(n.pid, pid as u32);
        assert_eq!(n.data.nr, libc::SYS_getppid as i32);
        assert_eq!(n.data.arch, bpf::AUDIT_ARCH_X86_64);
        assert!(id_valid(listener, n.id));
        respond_value(listener, n.id, 4242).unwrap();
        assert!(!id_valid(listener, n.id));
        let n = recv(listener).unwrap();
        respond_continue(listener, n.id).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child; status is a valid out pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
        // SAFETY: closing fds this test owns.
        unsafe {
            libc::close(listener);
            libc::close(sv[0]);
        }
    }

    fn recv_fd(sock: RawFd) -> RawFd {
        let mut cmsg_buf = [0u64; 4];
        let mut byte = 0u8;
        let mut iov = libc::iovec {
            iov_base: &mut byte as *mut u8 as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cmsg_buf);
        // SAFETY: msg points at live buffers of the lengths it declares.
        let r = unsafe { libc::recvmsg(sock, &mut msg, 0) };
        assert_eq!(r, 1);
        // SAFETY: recvmsg filled msg; CMSG_FIRSTHDR stays within msg_control,
        // and SCM_RIGHTS with one fd carries 4 data bytes.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            assert!(!cmsg.is_null());
            assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
            std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::c_int)
        }
    }
}
