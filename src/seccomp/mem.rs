//! Reading and writing a notifying child's memory.
//!
//! Why `process_vm_readv/writev` on the notification's pid is safe here: every
//! task of a sandbox is traced by the supervisor (fork, vfork and clone are
//! followed; `CLONE_UNTRACED` and `clone3` are refused by the filter), and a
//! traced task's pid cannot be reused until its tracer has waited for it. The
//! supervisor waits only in its own loop, never while handling a notification,
//! and checks `SECCOMP_IOCTL_NOTIF_ID_VALID` after reading: so the pid still
//! names the task that made the call.
//!
//! What is read is only used to *serve* a call (which device a path names, how
//! many bytes to produce), never to allow one: the kernel re-reads its own
//! arguments on CONTINUE, and Landlock still checks them.

/// Copy `buf.len()` bytes from `addr` in `pid`. Returns bytes read, or errno.
pub fn read(pid: libc::pid_t, addr: u64, buf: &mut [u8]) -> Result<usize, i32> {
    if buf.is_empty() {
        return Ok(0);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut _,
        iov_len: buf.len(),
    };
    // SAFETY: `local` covers our own buffer; the kernel checks `remote` against the child.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        Err(crate::error::last_errno())
    } else {
        Ok(n as usize)
    }
}

/// Copy `data` to `addr` in `pid`. Returns bytes written (may be short), or errno.
pub fn write(pid: libc::pid_t, addr: u64, data: &[u8]) -> Result<usize, i32> {
    if data.is_empty() {
        return Ok(0);
    }
    let local = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: `local` covers our own buffer; the kernel checks `remote` against the child.
    let n = unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        Err(crate::error::last_errno())
    } else {
        Ok(n as usize)
    }
}

/// A NUL-terminated string of at most `max` bytes at `addr` (page by page, so a
/// string ending just before an unmapped page is still read).
pub fn read_cstr(pid: libc::pid_t, addr: u64, max: usize) -> Result<Vec<u8>, i32> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < max {
        let page_left = 4096 - (at % 4096) as usize;
        let mut chunk = vec![0u8; page_left.min(max - out.len())];
        let n = read(pid, at, &mut chunk)?;
        if n == 0 {
            return Err(libc::EFAULT);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Err(libc::ENAMETOOLONG)
}

/// At a ptrace stop of `pid` (a `SECCOMP_RET_TRACE` stop, where the call has
/// not run yet): copy `data` below the thread's stack pointer `rsp`, past the
/// 128-byte red zone of the x86-64 ABI that a leaf function may still use,
/// 16-byte aligned, so that an argument register can be pointed at it instead
/// of the caller's own memory. Returns its address, or None if it cannot be
/// written whole (a hostile stack pointer: the address arithmetic wraps, the
/// write fails). The copy lives until the thread pushes below its stack
/// pointer again, which the kernel does only to deliver a signal.
pub fn write_below_stack(pid: libc::pid_t, rsp: u64, data: &[u8]) -> Option<u64> {
    let at = rsp.wrapping_sub(128 + 64 + data.len() as u64) & !15;
    (write(pid, at, data).ok() == Some(data.len())).then_some(at)
}
