//! The frozen clock answered in user space (`vdso::FAST_CLOCK`): each process
//! has a data block in its own copy of the vDSO, and the supervisor writes a
//! new value there whenever virtual time moves (a sleep), before the sleeper
//! resumes.
//!
//! A write must never be seen half done by a process reading concurrently.
//! Writes through /proc/PID/mem are plain copies (byte by byte with
//! `rep movsb`), so the value goes into the next of several slots first and
//! then a one-byte selector (a single byte cannot tear) is pointed at it; on
//! x86 the two stores become visible in that order. A reader that loaded the
//! old selector reads a slot that is not being written, and it re-checks the
//! selector afterwards, so only a reader stalled for a whole cycle of slots
//! (8 to 64 sleeps) between two adjacent instructions could see a torn value.

use crate::vdso::{FAST_SELECTOR, FAST_SLOTS};
use std::collections::HashMap;
use std::os::unix::fs::FileExt;

const KCMP_VM: libc::c_long = 1;

#[derive(Clone, Copy, Debug)]
struct Block {
    /// Address of the data block in the process.
    data: u64,
    slots: u8,
    /// The slot the selector names now.
    sel: u8,
}

/// Per sandbox, in frozen mode.
pub struct FastClock {
    /// Elapsed virtual time last written to every process.
    published: i64,
    /// One entry per address space (threads and vfork children share their
    /// parent's, which receives the writes).
    procs: HashMap<libc::pid_t, Block>,
}

/// Do two tasks share one address space?
fn same_vm(a: libc::pid_t, b: libc::pid_t) -> bool {
    // SAFETY: kcmp compares two of our tracees' mm pointers; no memory is passed.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0 }
}

/// Put `value` in the next slot of `b` in `pid`, then select that slot.
fn write(pid: libc::pid_t, b: &mut Block, value: i64) -> bool {
    let Ok(mem) = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/mem"))
    else {
        return false;
    };
    let next = (b.sel + 1) % b.slots;
    let slot = b.data + FAST_SLOTS + next as u64 * 8;
    if mem.write_all_at(&value.to_le_bytes(), slot).is_err()
        || mem.write_all_at(&[next], b.data + FAST_SELECTOR).is_err()
    {
        return false;
    }
    b.sel = next;
    true
}

impl FastClock {
    pub fn new() -> FastClock {
        FastClock {
            published: 0,
            procs: HashMap::new(),
        }
    }

    /// `pid` exec'd a program whose vDSO holds a block at `data`, slot 0 selected.
    pub fn installed(&mut self, pid: libc::pid_t, data: u64, slots: u8) {
        self.procs.insert(
            pid,
            Block {
                data,
                slots,
                sel: 0,
            },
        );
    }

    /// A new task: a copy of its parent's address space needs its own writes,
    /// starting with the current value (time may have moved since the fork).
    pub fn forked(&mut self, parent: libc::pid_t, child: libc::pid_t) {
        let Some(mut b) = self.procs.get(&parent).copied() else {
            return;
        };
        if self.procs.contains_key(&child) || same_vm(parent, child) {
            return;
        }
        write(child, &mut b, self.published);
        self.procs.insert(child, b);
    }

    pub fn gone(&mut self, pid: libc::pid_t) {
        self.procs.remove(&pid);
    }

    /// Virtual time is now `elapsed`: tell every process.
    pub fn publish(&mut self, elapsed: i64) {
        if elapsed == self.published {
            return;
        }
        self.published = elapsed;
        for (&pid, b) in self.procs.iter_mut() {
            write(pid, b, elapsed);
        }
    }
}
