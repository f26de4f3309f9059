//! Refusal reports for the seccomp deny list (`SL_EVENT_DENIED`).
//!
//! Without a handler asking for reports, the filter fails deny-listed calls
//! itself (EPERM, ENOSYS) and nobody hears of them. With one, the filter
//! sends those calls here instead (`FilterOptions::notify_denied`), and the
//! supervisor answers them. To answer *exactly* what the filter would have,
//! it keeps the filter it would have built without reports (the reference)
//! and runs the notification's registers through it with the same BPF
//! interpreter the filter tests use: an `ERRNO(e)` result is answered `e`
//! and reported, never continued. The registers in a notification are the
//! kernel's copy, so a racing thread cannot change what is checked.

use crate::events::{Event, KIND_DENIED};
use crate::seccomp::bpf;
use crate::seccomp::filter::{build, build_program, FilterOptions};
use crate::seccomp::notify::SeccompNotif;

pub struct DenyList {
    reference: Option<Vec<libc::sock_filter>>,
    /// Fail closed if the reference could not be assembled (it is the
    /// child's own filter with other actions, so it always can): the calls
    /// with any errno rule, refused with EPERM. A call the reporting filter
    /// notifies must never be continued by mistake.
    errno_calls: Vec<u32>,
}

impl DenyList {
    /// The reference filter for a spawn request.
    pub fn new(req: &crate::supervisor::proto::SpawnRequest) -> DenyList {
        let slots = crate::supervisor::launch::random_fd_slots(&req.limits);
        let opts = FilterOptions {
            notify_denied: false,
            ..FilterOptions::for_request(req, slots)
        };
        let errno_calls = build(&opts)
            .rules
            .iter()
            .filter(|r| {
                std::iter::once(&r.otherwise)
                    .chain(r.checks.iter().map(|(_, a)| a))
                    .any(|a| matches!(a, bpf::Action::Errno(_)))
            })
            .map(|r| r.nr)
            .collect();
        DenyList {
            reference: build_program(&opts).ok(),
            errno_calls,
        }
    }

    /// If the filter without reports would fail `n` with an errno: that errno
    /// and the report to send.
    pub fn check(&self, n: &SeccompNotif) -> Option<(i32, Event)> {
        let errno = match &self.reference {
            Some(prog) => {
                let ret = bpf::interpret(prog, &n.data);
                if ret & libc::SECCOMP_RET_ACTION_FULL != libc::SECCOMP_RET_ERRNO {
                    return None;
                }
                (ret & libc::SECCOMP_RET_DATA) as i32
            }
            None if self.errno_calls.contains(&(n.data.nr as u32)) => libc::EPERM,
            None => return None,
        };
        let nr = n.data.nr as i64;
        let ev = Event {
            kind: KIND_DENIED,
            pid: n.pid as i32,
            nr,
            errno,
            reason: reason(nr).into(),
            ..Event::default()
        };
        Some((errno, ev))
    }
}

/// Why the filter refuses `nr` (for the argument checks, which arguments).
fn reason(nr: i64) -> &'static str {
    match nr {
        libc::SYS_clone => "on the deny list: namespace or CLONE_UNTRACED flags",
        libc::SYS_ioctl => "on the deny list: TIOCSTI or TIOCLINUX (terminal input injection)",
        libc::SYS_prctl => "on the deny list: an option that would undo the sandbox",
        libc::SYS_arch_prctl => "on the deny list: turning CPUID faulting off",
        libc::SYS_personality => "on the deny list: a personality other than PER_LINUX",
        libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_sendmmsg => {
            "on the deny list: TCP Fast Open (MSG_FASTOPEN)"
        }
        _ => "on the deny list",
    }
}

/// The name of a system call the library refuses or asks about ("" if not
/// one of those): the deny list, the argument checks, and the calls that
/// events and supervisor refusals are about.
pub fn syscall_name(nr: i64) -> &'static str {
    match nr {
        libc::SYS_ptrace => "ptrace",
        libc::SYS_process_vm_readv => "process_vm_readv",
        libc::SYS_process_vm_writev => "process_vm_writev",
        libc::SYS_pidfd_getfd => "pidfd_getfd",
        libc::SYS_kexec_load => "kexec_load",
        libc::SYS_kexec_file_load => "kexec_file_load",
        libc::SYS_reboot => "reboot",
        libc::SYS_init_module => "init_module",
        libc::SYS_finit_module => "finit_module",
        libc::SYS_delete_module => "delete_module",
        libc::SYS_bpf => "bpf",
        libc::SYS_perf_event_open => "perf_event_open",
        libc::SYS_userfaultfd => "userfaultfd",
        libc::SYS_keyctl => "keyctl",
        libc::SYS_add_key => "add_key",
        libc::SYS_request_key => "request_key",
        libc::SYS_mount => "mount",
        libc::SYS_umount2 => "umount2",
        libc::SYS_pivot_root => "pivot_root",
        libc::SYS_chroot => "chroot",
        libc::SYS_swapon => "swapon",
        libc::SYS_swapoff => "swapoff",
        libc::SYS_acct => "acct",
        libc::SYS_quotactl => "quotactl",
        libc::SYS_quotactl_fd => "quotactl_fd",
        libc::SYS_syslog => "syslog",
        libc::SYS_vhangup => "vhangup",
        libc::SYS_iopl => "iopl",
        libc::SYS_ioperm => "ioperm",
        libc::SYS_open_by_handle_at => "open_by_handle_at",
        libc::SYS_name_to_handle_at => "name_to_handle_at",
        libc::SYS_unshare => "unshare",
        libc::SYS_setns => "setns",
        libc::SYS_sethostname => "sethostname",
        libc::SYS_setdomainname => "setdomainname",
        libc::SYS_settimeofday => "settimeofday",
        libc::SYS_clock_settime => "clock_settime",
        libc::SYS_clock_adjtime => "clock_adjtime",
        libc::SYS_adjtimex => "adjtimex",
        libc::SYS_lookup_dcookie => "lookup_dcookie",
        libc::SYS_modify_ldt => "modify_ldt",
        libc::SYS_uselib => "uselib",
        libc::SYS_nfsservctl => "nfsservctl",
        libc::SYS_mbind => "mbind",
        libc::SYS_set_mempolicy => "set_mempolicy",
        libc::SYS_set_mempolicy_home_node => "set_mempolicy_home_node",
        libc::SYS_migrate_pages => "migrate_pages",
        libc::SYS_move_pages => "move_pages",
        libc::SYS_io_uring_setup => "io_uring_setup",
        libc::SYS_io_uring_enter => "io_uring_enter",
        libc::SYS_io_uring_register => "io_uring_register",
        libc::SYS_clone3 => "clone3",
        libc::SYS_open_tree => "open_tree",
        467 => "open_tree_attr",
        libc::SYS_move_mount => "move_mount",
        libc::SYS_fsopen => "fsopen",
        libc::SYS_fsconfig => "fsconfig",
        libc::SYS_fsmount => "fsmount",
        libc::SYS_fspick => "fspick",
        libc::SYS_mount_setattr => "mount_setattr",
        libc::SYS_clone => "clone",
        libc::SYS_ioctl => "ioctl",
        libc::SYS_prctl => "prctl",
        libc::SYS_arch_prctl => "arch_prctl",
        libc::SYS_personality => "personality",
        libc::SYS_rseq => "rseq",
        libc::SYS_sendto => "sendto",
        libc::SYS_sendmsg => "sendmsg",
        libc::SYS_sendmmsg => "sendmmsg",
        libc::SYS_socket => "socket",
        libc::SYS_setsockopt => "setsockopt",
        libc::SYS_connect => "connect",
        libc::SYS_bind => "bind",
        libc::SYS_listen => "listen",
        libc::SYS_execve => "execve",
        libc::SYS_execveat => "execveat",
        libc::SYS_open => "open",
        libc::SYS_openat => "openat",
        libc::SYS_openat2 => "openat2",
        libc::SYS_chmod => "chmod",
        libc::SYS_fchmod => "fchmod",
        libc::SYS_fchmodat => "fchmodat",
        libc::SYS_fchmodat2 => "fchmodat2",
        libc::SYS_chown => "chown",
        libc::SYS_fchown => "fchown",
        libc::SYS_lchown => "lchown",
        libc::SYS_fchownat => "fchownat",
        libc::SYS_utime => "utime",
        libc::SYS_utimes => "utimes",
        libc::SYS_futimesat => "futimesat",
        libc::SYS_utimensat => "utimensat",
        libc::SYS_setxattr => "setxattr",
        libc::SYS_lsetxattr => "lsetxattr",
        libc::SYS_fsetxattr => "fsetxattr",
        libc::SYS_removexattr => "removexattr",
        libc::SYS_lremovexattr => "lremovexattr",
        libc::SYS_fremovexattr => "fremovexattr",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{interpret, SeccompData, AUDIT_ARCH_X86_64};

    fn notif(nr: i64, args: &[u64]) -> SeccompNotif {
        let mut data = SeccompData {
            nr: nr as i32,
            arch: AUDIT_ARCH_X86_64,
            ..Default::default()
        };
        data.args[..args.len()].copy_from_slice(args);
        SeccompNotif {
            id: 1,
            pid: 2,
            flags: 0,
            data,
        }
    }

    /// Every call the reporting filter notifies instead of failing is
    /// answered with the filter's own errno, and nothing else is claimed.
    #[test]
    fn answers_what_the_filter_would() {
        let req = crate::supervisor::proto::SpawnRequest {
            events: KIND_DENIED,
            ..Default::default()
        };
        let d = DenyList::new(&req);
        assert!(d.reference.is_some());
        let fallback = DenyList {
            reference: None,
            errno_calls: d.errno_calls.clone(),
        };
        let reporting = build_program(&FilterOptions::for_request(&req, 1000..=1003)).unwrap();
        let cases: &[(i64, &[u64], Option<i32>)] = &[
            (libc::SYS_ptrace, &[0], Some(libc::EPERM)),
            (libc::SYS_unshare, &[0x1000_0000], Some(libc::EPERM)),
            (libc::SYS_bpf, &[0], Some(libc::EPERM)),
            (libc::SYS_io_uring_setup, &[1, 0], Some(libc::ENOSYS)),
            (libc::SYS_fsopen, &[0], Some(libc::ENOSYS)),
            (libc::SYS_clone, &[0x1000_0000 | 17], Some(libc::EPERM)),
            (libc::SYS_ioctl, &[0, 0x5412], Some(libc::EPERM)),
            (libc::SYS_clone, &[17], None),
            (libc::SYS_ioctl, &[0, 0x5401], None),
            (libc::SYS_getpid, &[], None),
            (libc::SYS_socket, &[2, 1, 0], None),
        ];
        for &(nr, args, want) in cases {
            let n = notif(nr, args);
            let got = d.check(&n);
            assert_eq!(got.as_ref().map(|g| g.0), want, "{nr}");
            // Without the reference, every notified call of these is refused.
            if want.is_some() {
                assert!(fallback.check(&n).is_some(), "{nr}");
            }
            if let Some((_, ev)) = got {
                assert_eq!((ev.kind, ev.nr, ev.pid), (KIND_DENIED, nr, 2));
                assert!(ev.reason.starts_with("on the deny list"));
                assert!(!syscall_name(nr).is_empty());
                // The filter really sends it here.
                assert_eq!(
                    interpret(&reporting, &n.data),
                    libc::SECCOMP_RET_USER_NOTIF,
                    "{nr}"
                );
            }
        }
        assert_eq!(syscall_name(libc::SYS_ptrace), "ptrace");
        assert!(fallback.check(&notif(libc::SYS_getpid, &[])).is_none());
        assert!(fallback.check(&notif(libc::SYS_openat, &[])).is_none());
    }
}
