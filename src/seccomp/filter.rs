//! The sandbox's seccomp filter: the default deny list (DESIGN.md §4.2 step 3,
//! research/sandbox-peers.md §2) plus notifications for the syscalls a
//! supervisor handler needs. Everything else is allowed with a constant action,
//! so it runs at native speed through the kernel's seccomp action cache.
//!
//! Argument checks on `int`/`unsigned int` parameters compare the low 32 bits
//! only, because that is all the kernel reads: a check on 64 bits could be
//! bypassed with junk in the high half (CVE-2019-10063).

use super::bpf::{self, Action, ArgTest, FilterSpec, SyscallRule};

/// What the filter must route to the supervisor. More fields come with more
/// handlers.
#[derive(Clone, Debug, Default)]
pub struct FilterOptions {
    /// Answer `getrandom` and reads of /dev/urandom from the seeded stream.
    pub notify_random: bool,
    /// Inclusive fd range reserved for the injected /dev/urandom descriptors.
    pub urandom_fd_lo: u32,
    pub urandom_fd_hi: u32,
    /// Answer clock reads from the virtual clock (`handlers/time.rs`).
    pub notify_time: bool,
    /// Fast-forward sleeps: nanosleep, clock_nanosleep, descriptor-less poll/select.
    pub notify_sleep: bool,
    /// Every open, so synthesized files can be served (`handlers/identity.rs`).
    pub notify_open: bool,
    /// `uname`, for the host name.
    pub notify_uname: bool,
    /// `sched_getaffinity`, for the CPU count.
    pub notify_affinity: bool,
    /// `getcpu` answers CPU 0, and `rseq` is refused (ENOSYS) because its
    /// kernel-written `cpu_id` field would tell the real CPU without a syscall.
    pub virtual_cpu: bool,
    /// `getdents64`/`getdents`, to list directories sorted (`handlers/dirs.rs`).
    pub sort_dirs: bool,
    /// Refuse `personality` values that would clear ADDR_NO_RANDOMIZE (the
    /// child set it; a program could otherwise re-enable ASLR for its children).
    pub keep_no_aslr: bool,
    /// chmod/chown/utimes/xattr calls, checked against the writable paths and
    /// done on the child's behalf (`handlers/metadata.rs`): Landlock has no
    /// right for metadata.
    pub notify_metadata: bool,
    /// Answer foreign-ABI calls with SIGSYS instead of killing at once, so the
    /// supervisor (the tracer) can report the call before it kills the sandbox.
    /// Only with a tracer: alone, a program could catch the SIGSYS.
    pub trap_foreign: bool,
    /// socket() families and TCP Fast Open checked by `handlers/net.rs`.
    pub notify_socket: bool,
    /// connect() too: the policy has destination rules, or connect events.
    pub notify_connect: bool,
    /// bind() too: the policy has bind rules, or bind events.
    pub notify_bind: bool,
    /// `execve`/`execveat` go to the event callback (`handlers/events.rs`),
    /// except the child's first `execve`, recognized by its argv pointer
    /// (`first_exec_argv`, an address in the supervisor's own memory).
    pub notify_exec: bool,
    pub first_exec_argv: u64,
    /// The host wants refusal reports (`SL_EVENT_DENIED`): every call the
    /// filter would fail with an errno (the deny list and the argument
    /// checks) goes to the supervisor instead, which answers the same errno
    /// and reports it (`handlers/denylist.rs`). These calls are rare, so
    /// ordinary programs pay nothing. Not `clone3` and `rseq`: libc calls
    /// them at every thread start and falls back on ENOSYS by design.
    pub notify_denied: bool,
    /// Path calls that can see `/proc/PID` (stat family, access, readlink,
    /// statfs, chdir, directory reads), done on the child's behalf
    /// (`handlers/procview.rs`); opens come with `notify_open`.
    pub proc_view: bool,
    /// `sysinfo`, for the memory limit and the task count.
    pub notify_sysinfo: bool,
    /// The path syscalls of `handlers/cow.rs`: a copy-on-write workdir is set.
    pub notify_cow: bool,
}

impl FilterOptions {
    /// The notifications a spawn request needs; `slots` are the reserved random fds.
    pub fn for_request(
        req: &crate::supervisor::proto::SpawnRequest,
        slots: std::ops::RangeInclusive<u32>,
    ) -> FilterOptions {
        use crate::policy::TimeMode;
        let d = &req.det;
        let seeded = req.seed.is_some();
        FilterOptions {
            notify_random: seeded,
            urandom_fd_lo: *slots.start(),
            urandom_fd_hi: *slots.end(),
            notify_time: d.time_mode != TimeMode::Real,
            notify_sleep: matches!(d.time_mode, TimeMode::Frozen | TimeMode::Logical),
            notify_open: seeded
                || req.proc_view
                || d.cpu_count.is_some()
                || d.hostname.is_some()
                || req.events & crate::events::KIND_OPEN != 0,
            notify_uname: d.hostname.is_some(),
            notify_affinity: d.cpu_count.is_some(),
            virtual_cpu: seeded || d.cpu_count.is_some(),
            sort_dirs: seeded,
            keep_no_aslr: req.no_aslr,
            notify_metadata: true,
            trap_foreign: true,
            notify_socket: true,
            notify_connect: !req.connect.is_empty()
                || req.events & crate::events::KIND_CONNECT != 0,
            notify_bind: !req.bind.is_empty() || req.events & crate::events::KIND_BIND != 0,
            notify_exec: req.events & crate::events::KIND_EXEC != 0,
            first_exec_argv: 0,
            notify_denied: req.events & crate::events::KIND_DENIED != 0,
            proc_view: req.proc_view,
            notify_sysinfo: req.proc_view || req.limits[crate::outcome::Limit::Memory.index()] != 0,
            notify_cow: req.workdir.is_some(),
        }
    }

    /// Whether any syscall is routed to the supervisor (the child then needs a listener).
    pub fn wants_listener(&self) -> bool {
        self.notify_random
            || self.notify_time
            || self.notify_sleep
            || self.notify_open
            || self.notify_uname
            || self.notify_affinity
            || self.virtual_cpu
            || self.sort_dirs
            || self.notify_metadata
            || self.notify_socket
            || self.notify_connect
            || self.notify_bind
            || self.notify_exec
            || self.notify_denied
            || self.proc_view
            || self.notify_sysinfo
            || self.notify_cow
    }
}

const EPERM: Action = Action::Errno(libc::EPERM as u16);
/// ENOSYS, not EPERM, where callers have a fallback they only take on ENOSYS
/// (glibc's clone3 → clone, liburing users, new → old mount API).
const ENOSYS: Action = Action::Errno(libc::ENOSYS as u16);

// x86_64 values, written out so the filter does not depend on which libc
// target happens to define them.
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541c;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_TSC: u64 = 26;
const PR_SET_SECUREBITS: u64 = 28;
const PR_SET_PTRACER: u64 = 0x5961_6d61;
const ARCH_SET_CPUID: u64 = 0x1012;
const ADDR_NO_RANDOMIZE: u64 = 0x0040000;
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
/// Not yet in libc 0.2 (Linux 6.15, same number on every arch).
const SYS_OPEN_TREE_ATTR: libc::c_long = 467;

const CLONE_NEWTIME: u64 = 0x0000_0080;
const CLONE_NEWNS: u64 = 0x0002_0000;
const CLONE_UNTRACED: u64 = 0x0080_0000;
const CLONE_NEWCGROUP: u64 = 0x0200_0000;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWIPC: u64 = 0x0800_0000;
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWPID: u64 = 0x2000_0000;
const CLONE_NEWNET: u64 = 0x4000_0000;
/// On `clone` (not clone3) the 0x80 bit of CLONE_NEWTIME lies inside CSIGNAL,
/// the exit-signal byte; any signal with that bit is >= 128, which the kernel
/// rejects anyway, so including it costs nothing and covers the flag's intent.
/// CLONE_UNTRACED would let a child escape the supervisor's ptrace fork
/// tracking (DESIGN.md §4.2 step 4).
const CLONE_DENIED: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWTIME
    | CLONE_UNTRACED;

/// Host-wide damage, kernel attack surface, other processes' memory, or
/// undoing the sandbox. `kcmp` stays allowed: it only compares two of the
/// caller's own processes' resources and needs ptrace access to both.
const DENY_EPERM: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_quotactl_fd,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_unshare,
    libc::SYS_setns,
    // No UTS namespace is made, so under root these would rename the host.
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_lookup_dcookie,
    libc::SYS_modify_ldt,
    libc::SYS_uselib,
    libc::SYS_nfsservctl,
    libc::SYS_mbind,
    libc::SYS_set_mempolicy,
    libc::SYS_set_mempolicy_home_node,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
];

/// io_uring submissions are invisible to seccomp; clone3 passes its flags in
/// memory, which BPF cannot read, so it would bypass the `clone` flag check.
const DENY_ENOSYS: &[libc::c_long] = &[
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_clone3,
    libc::SYS_open_tree,
    SYS_OPEN_TREE_ATTR,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
];

fn nr(sys: libc::c_long) -> u32 {
    sys as u32
}

fn low32_eq(arg: u8, value: u64) -> ArgTest {
    ArgTest::MaskedEq {
        arg,
        mask: 0xffff_ffff,
        value,
        low32: true,
    }
}

fn rule(sys: libc::c_long, checks: Vec<(ArgTest, Action)>, otherwise: Action) -> SyscallRule {
    SyscallRule {
        nr: nr(sys),
        checks,
        otherwise,
    }
}

/// Argument-level denials: each syscall stays usable for its ordinary ops.
///
/// `seccomp()` and `prctl(PR_SET_SECCOMP)` stay allowed, so sandboxed programs
/// can sandbox themselves further. The kernel runs every filter in the chain
/// and applies the most restrictive result, and no_new_privs is already set,
/// so a nested filter can only make syscalls fail, never let one past ours.
/// The one way a nested filter could take a syscall away from our supervisor
/// is its own listener (for equal USER_NOTIF results the newest filter wins,
/// and it could answer CONTINUE); the kernel refuses a second listener in a
/// filter chain with EBUSY while ours is open (tested in `notify`).
fn argument_rules(opts: &FilterOptions) -> Vec<SyscallRule> {
    vec![
        // x86_64 clone(flags, stack, parent_tid, child_tid, tls): arg 0 is the
        // flags, and the kernel reads only their low 32 bits.
        rule(
            libc::SYS_clone,
            vec![(
                ArgTest::AnyBits {
                    arg: 0,
                    mask: CLONE_DENIED,
                },
                EPERM,
            )],
            Action::Allow,
        ),
        // Pushing bytes into the controlling terminal's input reaches the
        // shell outside the sandbox (CVE-2017-5226, CVE-2023-28100).
        rule(
            libc::SYS_ioctl,
            vec![
                (low32_eq(1, TIOCSTI), EPERM),
                (low32_eq(1, TIOCLINUX), EPERM),
            ],
            Action::Allow,
        ),
        // Options that would undo the sandbox: a non-dumpable child locks the
        // supervisor out of /proc/PID/mem and process_vm_readv; securebits and
        // a ptracer exception change who may act on the child; PR_SET_TSC
        // would undo rdtsc trapping.
        rule(
            libc::SYS_prctl,
            vec![
                (low32_eq(0, PR_SET_DUMPABLE), EPERM),
                (low32_eq(0, PR_SET_SECUREBITS), EPERM),
                (low32_eq(0, PR_SET_PTRACER), EPERM),
                (low32_eq(0, PR_SET_TSC), EPERM),
            ],
            Action::Allow,
        ),
        // Turning CPUID faulting off would expose the real CPU (RDRAND etc.).
        // Turning it on (argument 0) only restricts the caller, and is how the
        // supervisor re-arms it after each exec (`trace/inject.rs`). BPF has
        // no "and": every option but ARCH_SET_CPUID passes by range first.
        rule(
            libc::SYS_arch_prctl,
            vec![
                (
                    ArgTest::Range32 {
                        arg: 0,
                        lo: 0,
                        hi: ARCH_SET_CPUID as u32 - 1,
                    },
                    Action::Allow,
                ),
                (
                    ArgTest::Range32 {
                        arg: 0,
                        lo: ARCH_SET_CPUID as u32 + 1,
                        hi: u32::MAX,
                    },
                    Action::Allow,
                ),
                (
                    ArgTest::MaskedEq {
                        arg: 1,
                        mask: u64::MAX,
                        value: 0,
                        low32: false,
                    },
                    Action::Allow,
                ),
            ],
            EPERM,
        ),
        // personality takes an unsigned int. Only the query and PER_LINUX with
        // or without ADDR_NO_RANDOMIZE pass: READ_IMPLIES_EXEC makes every
        // readable mapping executable, and the other personalities change the
        // ABI under the filter.
        rule(
            libc::SYS_personality,
            vec![
                (low32_eq(0, PERSONALITY_QUERY), Action::Allow),
                if opts.keep_no_aslr {
                    (low32_eq(0, ADDR_NO_RANDOMIZE), Action::Allow)
                } else {
                    (
                        ArgTest::MaskedEq {
                            arg: 0,
                            mask: !ADDR_NO_RANDOMIZE,
                            value: 0,
                            low32: true,
                        },
                        Action::Allow,
                    )
                },
            ],
            EPERM,
        ),
    ]
}

/// Routes randomness to the supervisor. Reads are notified only on the
/// reserved fd range, so ordinary I/O never leaves the kernel.
fn random_rules(opts: &FilterOptions) -> Vec<SyscallRule> {
    let in_range = |arg: u8| ArgTest::Range32 {
        arg,
        lo: opts.urandom_fd_lo,
        hi: opts.urandom_fd_hi,
    };
    let notify_if_fd = |sys: libc::c_long, args: &[u8]| {
        rule(
            sys,
            args.iter()
                .map(|&a| (in_range(a), Action::Notify))
                .collect(),
            Action::Allow,
        )
    };
    // Any path may resolve to /dev/urandom (symlinks, /proc/self/fd, ...),
    // so every open is seen (`open_rules`) and the supervisor injects its own
    // device fd.
    let mut rules = vec![rule(libc::SYS_getrandom, Vec::new(), Action::Notify)];
    for sys in [
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_pread64,
        libc::SYS_preadv,
        libc::SYS_preadv2,
        libc::SYS_splice,
        libc::SYS_copy_file_range,
        // Duplicates of a reserved fd would leave the range and read the real
        // device, so the supervisor performs them.
        libc::SYS_dup,
        libc::SYS_fcntl,
    ] {
        rules.push(notify_if_fd(sys, &[0]));
    }
    // sendfile(out_fd, in_fd, ...): the data comes from in_fd.
    rules.push(notify_if_fd(libc::SYS_sendfile, &[1]));
    // dup2/dup3 onto a reserved fd would replace the device the supervisor
    // answers for.
    rules.push(notify_if_fd(libc::SYS_dup2, &[0, 1]));
    rules.push(notify_if_fd(libc::SYS_dup3, &[0, 1]));
    // close_range needs no rule: closing reserved fds loses nothing, and the
    // default is already Allow.
    rules
}

/// Routes clocks, sleeps and machine identity to the supervisor.
fn determinism_rules(opts: &FilterOptions) -> Vec<SyscallRule> {
    let notify = |sys| rule(sys, Vec::new(), Action::Notify);
    let mut rules = Vec::new();
    if opts.notify_time {
        for sys in [
            libc::SYS_clock_gettime,
            libc::SYS_gettimeofday,
            libc::SYS_time,
            libc::SYS_clock_getres,
        ] {
            rules.push(notify(sys));
        }
        rules.extend(deadline_rules());
    }
    if opts.notify_sleep {
        rules.push(notify(libc::SYS_nanosleep));
        rules.push(notify(libc::SYS_clock_nanosleep));
        // Waits with a timeout advance virtual time (`handlers/wait.rs`).
        // Where the timeout is an int argument, waits without one (0 or -1:
        // event loops) stay in the kernel at native speed; where it is a
        // pointer, BPF cannot tell, so every call is seen.
        let timed = |arg: u8| ArgTest::Range32 {
            arg,
            lo: 1,
            hi: i32::MAX as u32,
        };
        rules.push(rule(
            libc::SYS_poll,
            vec![(low32_eq(1, 0), Action::Notify), (timed(2), Action::Notify)],
            Action::Allow,
        ));
        for sys in [libc::SYS_ppoll, libc::SYS_select, libc::SYS_pselect6] {
            rules.push(notify(sys));
        }
        for sys in [libc::SYS_epoll_wait, libc::SYS_epoll_pwait] {
            rules.push(rule(sys, vec![(timed(3), Action::Notify)], Action::Allow));
        }
        rules.push(rule(
            libc::SYS_epoll_pwait2,
            vec![(
                ArgTest::AnyBits {
                    arg: 3,
                    mask: u64::MAX,
                },
                Action::Notify,
            )],
            Action::Allow,
        ));
    }
    if opts.notify_uname {
        rules.push(notify(libc::SYS_uname));
    }
    if opts.sort_dirs {
        rules.push(notify(libc::SYS_getdents64));
        rules.push(notify(libc::SYS_getdents));
    }
    if opts.notify_affinity {
        rules.push(notify(libc::SYS_sched_getaffinity));
    }
    if opts.virtual_cpu {
        rules.push(notify(libc::SYS_getcpu));
        // glibc registers rseq only if it works and falls back to getcpu.
        rules.push(SyscallRule::constant(nr(libc::SYS_rseq), ENOSYS));
    }
    rules
}

/// Calls with an absolute deadline from a virtual clock become trace stops,
/// where the deadline is translated (`handlers/timedwait.rs`): futex only for
/// the four commands with a deadline (`op & FUTEX_CMD_MASK` on the low 32
/// bits, the kernel's own test) and a non-NULL timeout (a pointer: all 64
/// bits), so every untimed futex (each mutex) stays in the kernel.
fn deadline_rules() -> Vec<SyscallRule> {
    use crate::handlers::timedwait as tw;
    let no_timeout = |arg| ArgTest::MaskedEq {
        arg,
        mask: u64::MAX,
        value: 0,
        low32: false,
    };
    let cmd = |c: u32| ArgTest::MaskedEq {
        arg: 1,
        mask: u64::from(tw::FUTEX_CMD_MASK),
        value: u64::from(c),
        low32: true,
    };
    let abstime = ArgTest::AnyBits {
        arg: 1,
        mask: tw::ABSTIME,
    };
    let mut futex = vec![(no_timeout(3), Action::Allow)];
    for c in [
        tw::FUTEX_WAIT_BITSET,
        tw::FUTEX_LOCK_PI,
        tw::FUTEX_LOCK_PI2,
        tw::FUTEX_WAIT_REQUEUE_PI,
    ] {
        futex.push((cmd(c), Action::Trace));
    }
    vec![
        rule(libc::SYS_futex, futex, Action::Allow),
        rule(
            tw::SYS_FUTEX_WAITV,
            vec![(no_timeout(3), Action::Allow)],
            Action::Trace,
        ),
        rule(
            libc::SYS_mq_timedsend,
            vec![(no_timeout(4), Action::Allow)],
            Action::Trace,
        ),
        rule(
            libc::SYS_mq_timedreceive,
            vec![(no_timeout(4), Action::Allow)],
            Action::Trace,
        ),
        rule(
            libc::SYS_timerfd_settime,
            vec![(abstime, Action::Trace)],
            Action::Allow,
        ),
        rule(
            libc::SYS_timer_settime,
            vec![(abstime, Action::Trace)],
            Action::Allow,
        ),
    ]
}

/// The filter as a spec: deny list, argument rules, optional notifications,
/// default Allow.
pub fn build(opts: &FilterOptions) -> FilterSpec {
    let mut rules: Vec<SyscallRule> = Vec::new();
    rules.extend(
        DENY_EPERM
            .iter()
            .map(|&sys| SyscallRule::constant(nr(sys), EPERM)),
    );
    rules.extend(
        DENY_ENOSYS
            .iter()
            .map(|&sys| SyscallRule::constant(nr(sys), ENOSYS)),
    );
    rules.extend(argument_rules(opts));
    if opts.notify_random {
        rules.extend(random_rules(opts));
    }
    if opts.notify_random || opts.notify_open {
        for sys in [libc::SYS_open, libc::SYS_openat, libc::SYS_openat2] {
            rules.push(rule(sys, Vec::new(), Action::Notify));
        }
    }
    rules.extend(determinism_rules(opts));
    if opts.notify_socket {
        use crate::handlers::net::{MSG_FASTOPEN, TCP_FASTOPEN_CONNECT};
        let fastopen = |arg| {
            vec![(
                ArgTest::AnyBits {
                    arg,
                    mask: MSG_FASTOPEN,
                },
                EPERM,
            )]
        };
        rules.push(rule(libc::SYS_socket, Vec::new(), Action::Notify));
        // A listen on an unbound TCP socket binds past Landlock (`handlers/net.rs`).
        rules.push(rule(libc::SYS_listen, Vec::new(), Action::Notify));
        rules.push(rule(
            libc::SYS_setsockopt,
            vec![(low32_eq(2, TCP_FASTOPEN_CONNECT), Action::Notify)],
            Action::Allow,
        ));
        rules.push(rule(libc::SYS_sendto, fastopen(3), Action::Allow));
        rules.push(rule(libc::SYS_sendmsg, fastopen(2), Action::Allow));
        rules.push(rule(libc::SYS_sendmmsg, fastopen(3), Action::Allow));
    }
    if opts.notify_connect {
        rules.push(rule(libc::SYS_connect, Vec::new(), Action::Notify));
    }
    if opts.notify_bind {
        rules.push(rule(libc::SYS_bind, Vec::new(), Action::Notify));
    }
    if opts.notify_metadata {
        for &sys in crate::handlers::metadata::SYSCALLS {
            rules.push(rule(sys, Vec::new(), Action::Notify));
        }
    }
    if opts.proc_view {
        // Some (getdents64 with a seed) may already be notified.
        for &sys in crate::handlers::procview::SYSCALLS {
            // With a workdir, chdir is a trace stop (below): a directory made
            // in the run must be enterable; the view then does not check it.
            if opts.notify_cow && sys == libc::SYS_chdir {
                continue;
            }
            if !rules.iter().any(|r| r.nr == nr(sys)) {
                rules.push(rule(sys, Vec::new(), Action::Notify));
            }
        }
    }
    if opts.notify_sysinfo {
        rules.push(rule(libc::SYS_sysinfo, Vec::new(), Action::Notify));
    }
    if opts.notify_exec {
        let first = ArgTest::MaskedEq {
            arg: 1,
            mask: u64::MAX,
            value: opts.first_exec_argv,
            low32: false,
        };
        rules.push(rule(
            libc::SYS_execve,
            vec![(first, Action::Allow)],
            Action::Notify,
        ));
        rules.push(rule(libc::SYS_execveat, Vec::new(), Action::Notify));
    }
    if opts.notify_cow {
        cow_rules(opts, &mut rules);
    }
    if opts.notify_denied {
        for r in &mut rules {
            if r.nr == nr(libc::SYS_clone3) || r.nr == nr(libc::SYS_rseq) {
                continue;
            }
            let to_notify = |a: &mut Action| {
                if matches!(a, Action::Errno(_)) {
                    *a = Action::Notify;
                }
            };
            to_notify(&mut r.otherwise);
            for (_, a) in &mut r.checks {
                to_notify(a);
            }
        }
    }
    FilterSpec {
        default: Action::Allow,
        rules,
    }
}

/// The copy-on-write workdir's path syscalls, unless another rule already
/// notifies them (the child's first execve stays unmediated, as above).
fn cow_rules(opts: &FilterOptions, rules: &mut Vec<SyscallRule>) {
    let extra = crate::handlers::cow::SYSCALLS
        .iter()
        .chain(crate::handlers::metadata::SYSCALLS);
    for &sys in extra {
        if rules.iter().any(|r| r.nr == nr(sys)) {
            continue;
        }
        let first = ArgTest::MaskedEq {
            arg: 1,
            mask: u64::MAX,
            value: opts.first_exec_argv,
            low32: false,
        };
        let checks = if sys == libc::SYS_execve {
            vec![(first, Action::Allow)]
        } else {
            Vec::new()
        };
        // chdir into an upper-only directory, and exec of a program made in
        // the run, need their path rewritten, which only the tracer can do
        // (`Cow::trace_stop`).
        let action = if matches!(sys, libc::SYS_chdir | libc::SYS_execve | libc::SYS_execveat) {
            Action::Trace
        } else {
            Action::Notify
        };
        rules.push(rule(sys, checks, action));
    }
}

/// The filter as a BPF program ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
pub fn build_program(opts: &FilterOptions) -> Result<Vec<libc::sock_filter>, String> {
    let foreign = if opts.trap_foreign {
        Action::Trap
    } else {
        Action::KillProcess
    };
    bpf::assemble_with(&build(opts), foreign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::bpf::{interpret, SeccompData, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

    fn random_opts() -> FilterOptions {
        FilterOptions {
            notify_random: true,
            urandom_fd_lo: 1000,
            urandom_fd_hi: 1003,
            ..Default::default()
        }
    }

    fn all_opts() -> FilterOptions {
        FilterOptions {
            notify_time: true,
            notify_sleep: true,
            notify_open: true,
            notify_uname: true,
            notify_affinity: true,
            virtual_cpu: true,
            sort_dirs: true,
            keep_no_aslr: true,
            ..random_opts()
        }
    }

    fn run(prog: &[libc::sock_filter], sys: libc::c_long, args: &[u64]) -> u32 {
        let mut d = SeccompData {
            nr: sys as i32,
            arch: AUDIT_ARCH_X86_64,
            ..Default::default()
        };
        d.args[..args.len()].copy_from_slice(args);
        interpret(prog, &d)
    }

    #[test]
    fn deny_list() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        assert_eq!(run(&prog, libc::SYS_ptrace, &[0]), RET_EPERM);
        assert_eq!(run(&prog, libc::SYS_bpf, &[0]), RET_EPERM);
        assert_eq!(run(&prog, libc::SYS_unshare, &[0]), RET_EPERM);
        assert_eq!(run(&prog, libc::SYS_move_pages, &[0]), RET_EPERM);
        assert_eq!(run(&prog, libc::SYS_io_uring_setup, &[1, 0]), RET_ENOSYS);
        assert_eq!(run(&prog, libc::SYS_clone3, &[0, 88]), RET_ENOSYS);
        assert_eq!(run(&prog, libc::SYS_fsopen, &[0]), RET_ENOSYS);
        assert_eq!(run(&prog, SYS_OPEN_TREE_ATTR, &[0]), RET_ENOSYS);
        assert_eq!(run(&prog, libc::SYS_kcmp, &[0]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_getpid, &[]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_execve, &[]), ALLOW);
    }

    /// Deny-list hits go to the supervisor only when the host asked for
    /// refusal reports; clone3 and rseq (libc's fallbacks) never do.
    #[test]
    fn deny_list_notified_only_for_reports() {
        let hits: &[(libc::c_long, &[u64])] = &[
            (libc::SYS_ptrace, &[0]),
            (libc::SYS_bpf, &[0]),
            (libc::SYS_unshare, &[0]),
            (libc::SYS_mount, &[0]),
            (libc::SYS_keyctl, &[0]),
            (libc::SYS_io_uring_setup, &[1, 0]),
            (libc::SYS_fsopen, &[0]),
            (libc::SYS_clone, &[CLONE_NEWUSER | 17]),
            (libc::SYS_ioctl, &[0, TIOCSTI]),
            (libc::SYS_prctl, &[PR_SET_DUMPABLE]),
            (libc::SYS_personality, &[0x0400000]),
        ];
        let quiet = [
            build_program(&FilterOptions::default()).unwrap(),
            build_program(&FilterOptions {
                notify_exec: true,
                notify_open: true,
                notify_connect: true,
                notify_bind: true,
                ..all_opts()
            })
            .unwrap(),
        ];
        for prog in &quiet {
            for &(sys, args) in hits {
                let r = run(prog, sys, args);
                assert!(r == RET_EPERM || r == RET_ENOSYS, "{sys}: {r:#x}");
            }
        }
        let reports = build_program(&FilterOptions {
            notify_denied: true,
            ..all_opts()
        })
        .unwrap();
        for &(sys, args) in hits {
            assert_eq!(run(&reports, sys, args), NOTIFY, "{sys}");
        }
        assert_eq!(run(&reports, libc::SYS_clone3, &[0, 88]), RET_ENOSYS);
        assert_eq!(run(&reports, libc::SYS_rseq, &[0]), RET_ENOSYS);
        assert_eq!(run(&reports, libc::SYS_clone, &[17]), ALLOW);
        assert_eq!(run(&reports, libc::SYS_ioctl, &[0, 0x5401]), ALLOW);
        assert_eq!(run(&reports, libc::SYS_getpid, &[]), ALLOW);
    }

    #[test]
    fn listen_is_seen_with_socket_checks() {
        let plain = build_program(&FilterOptions::default()).unwrap();
        assert_eq!(run(&plain, libc::SYS_listen, &[3, 5]), ALLOW);
        let net = build_program(&FilterOptions {
            notify_socket: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(run(&net, libc::SYS_listen, &[3, 5]), NOTIFY);
        assert_eq!(run(&net, libc::SYS_bind, &[3]), ALLOW);
    }

    #[test]
    fn clone_flags() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let sigchld = libc::SIGCHLD as u64;
        assert_eq!(run(&prog, libc::SYS_clone, &[0x3d0f00]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_clone, &[sigchld]), ALLOW);
        assert_eq!(
            run(
                &prog,
                libc::SYS_clone,
                &[libc::CLONE_VM as u64 | 0x4000 | sigchld]
            ),
            ALLOW
        );
        for flag in [
            CLONE_NEWUSER,
            CLONE_NEWNS,
            CLONE_NEWPID,
            CLONE_NEWNET,
            CLONE_NEWUTS,
            CLONE_NEWIPC,
            CLONE_NEWCGROUP,
            CLONE_UNTRACED,
        ] {
            assert_eq!(
                run(&prog, libc::SYS_clone, &[flag | sigchld]),
                RET_EPERM,
                "{flag:#x}"
            );
        }
    }

    #[test]
    fn ioctl_checks_low_32_bits() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        assert_eq!(run(&prog, libc::SYS_ioctl, &[0, TIOCSTI]), RET_EPERM);
        assert_eq!(
            run(&prog, libc::SYS_ioctl, &[0, 0xdead_0000_5412]),
            RET_EPERM
        );
        assert_eq!(run(&prog, libc::SYS_ioctl, &[0, TIOCLINUX]), RET_EPERM);
        assert_eq!(
            run(&prog, libc::SYS_ioctl, &[0, 1 << 40 | TIOCLINUX]),
            RET_EPERM
        );
        assert_eq!(run(&prog, libc::SYS_ioctl, &[0, 0x5401]), ALLOW); // TCGETS
    }

    #[test]
    fn prctl_arch_prctl_seccomp() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        for op in [
            PR_SET_DUMPABLE,
            PR_SET_SECUREBITS,
            PR_SET_PTRACER,
            PR_SET_TSC,
        ] {
            assert_eq!(run(&prog, libc::SYS_prctl, &[op]), RET_EPERM, "{op}");
            assert_eq!(run(&prog, libc::SYS_prctl, &[op | 7 << 32]), RET_EPERM);
        }
        assert_eq!(run(&prog, libc::SYS_prctl, &[15]), ALLOW); // PR_SET_NAME
        assert_eq!(run(&prog, libc::SYS_prctl, &[53, 0, 0]), ALLOW); // SPECULATION_CTRL
        assert_eq!(run(&prog, libc::SYS_prctl, &[22, 2]), ALLOW); // PR_SET_SECCOMP
        assert_eq!(
            run(&prog, libc::SYS_arch_prctl, &[ARCH_SET_CPUID, 1]),
            RET_EPERM
        );
        assert_eq!(run(&prog, libc::SYS_arch_prctl, &[0x1002, 0]), ALLOW); // SET_FS
        assert_eq!(run(&prog, libc::SYS_seccomp, &[1, 0, 0]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_seccomp, &[1, 8, 0]), ALLOW);
    }

    #[test]
    fn personality() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let p = |v: u64| run(&prog, libc::SYS_personality, &[v]);
        assert_eq!(p(0xffff_ffff), ALLOW);
        assert_eq!(p(0), ALLOW);
        assert_eq!(p(ADDR_NO_RANDOMIZE), ALLOW);
        assert_eq!(p(0x0400000), RET_EPERM); // READ_IMPLIES_EXEC
        assert_eq!(p(0x0008), RET_EPERM); // PER_LINUX32
        assert_eq!(p(0x0020000), RET_EPERM); // UNAME26
                                             // The kernel truncates to unsigned int, so the high half is noise.
        assert_eq!(p(0xffff_ffff_ffff_ffff), ALLOW);
        assert_eq!(p(1 << 40 | 0x0400000), RET_EPERM);
    }

    #[test]
    fn foreign_arch_and_x32_are_killed() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let d = SeccompData {
            nr: 20,
            arch: AUDIT_ARCH_I386,
            ..Default::default()
        };
        assert_eq!(interpret(&prog, &d), KILL);
        let d = SeccompData {
            nr: (0x4000_0000 | libc::SYS_getpid) as i32,
            arch: AUDIT_ARCH_X86_64,
            ..Default::default()
        };
        assert_eq!(interpret(&prog, &d), KILL);
    }

    #[test]
    fn random_notifications() {
        let plain = build_program(&FilterOptions::default()).unwrap();
        assert_eq!(run(&plain, libc::SYS_getrandom, &[0, 16, 0]), ALLOW);
        assert_eq!(run(&plain, libc::SYS_read, &[1000, 0, 16]), ALLOW);
        assert_eq!(run(&plain, libc::SYS_openat, &[0]), ALLOW);

        let prog = build_program(&random_opts()).unwrap();
        assert_eq!(run(&prog, libc::SYS_getrandom, &[0, 16, 0]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_openat, &[0]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_open, &[0]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_openat2, &[0]), NOTIFY);
        for sys in [
            libc::SYS_read,
            libc::SYS_readv,
            libc::SYS_pread64,
            libc::SYS_preadv,
            libc::SYS_preadv2,
            libc::SYS_dup,
            libc::SYS_fcntl,
            libc::SYS_splice,
            libc::SYS_copy_file_range,
        ] {
            assert_eq!(run(&prog, sys, &[1000]), NOTIFY, "{sys}");
            assert_eq!(run(&prog, sys, &[1003]), NOTIFY, "{sys}");
            assert_eq!(run(&prog, sys, &[0xffff_0000_0000_03e9]), NOTIFY, "{sys}");
            assert_eq!(run(&prog, sys, &[3]), ALLOW, "{sys}");
            assert_eq!(run(&prog, sys, &[999]), ALLOW, "{sys}");
            assert_eq!(run(&prog, sys, &[1004]), ALLOW, "{sys}");
        }
        assert_eq!(run(&prog, libc::SYS_sendfile, &[1001, 3]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_sendfile, &[3, 1001]), NOTIFY);
        for sys in [libc::SYS_dup2, libc::SYS_dup3] {
            assert_eq!(run(&prog, sys, &[1001, 5]), NOTIFY);
            assert_eq!(run(&prog, sys, &[5, 1002]), NOTIFY);
            assert_eq!(run(&prog, sys, &[5, 6]), ALLOW);
        }
        assert_eq!(run(&prog, libc::SYS_close_range, &[3, 1003, 0]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_write, &[1000]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_ptrace, &[0]), RET_EPERM);
    }

    #[test]
    fn determinism_notifications() {
        let plain = build_program(&FilterOptions::default()).unwrap();
        for sys in [
            libc::SYS_clock_gettime,
            libc::SYS_nanosleep,
            libc::SYS_uname,
            libc::SYS_getcpu,
            libc::SYS_rseq,
            libc::SYS_sched_getaffinity,
        ] {
            assert_eq!(run(&plain, sys, &[0, 0]), ALLOW, "{sys}");
        }
        let prog = build_program(&all_opts()).unwrap();
        for sys in [
            libc::SYS_clock_gettime,
            libc::SYS_gettimeofday,
            libc::SYS_time,
            libc::SYS_clock_getres,
            libc::SYS_nanosleep,
            libc::SYS_clock_nanosleep,
            libc::SYS_uname,
            libc::SYS_sched_getaffinity,
            libc::SYS_getcpu,
            libc::SYS_openat,
            libc::SYS_getdents64,
        ] {
            assert_eq!(run(&prog, sys, &[0, 0, 0]), NOTIFY, "{sys}");
        }
        assert_eq!(run(&prog, libc::SYS_rseq, &[0]), RET_ENOSYS);
        // Waits with a timeout are seen; untimed ones (0, -1) stay native
        // where the timeout is an int argument.
        assert_eq!(run(&prog, libc::SYS_poll, &[0, 0, 1000]), NOTIFY);
        assert_eq!(
            run(&prog, libc::SYS_poll, &[0, 1 << 32, u32::MAX as u64]),
            NOTIFY
        );
        assert_eq!(run(&prog, libc::SYS_poll, &[0, 1, 1000]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_poll, &[0, 1, 0]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_poll, &[0, 1, u32::MAX as u64]), ALLOW);
        assert_eq!(run(&prog, libc::SYS_ppoll, &[0, 2, 0]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_select, &[4, 0, 0, 0, 8]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_pselect6, &[0]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_epoll_wait, &[3, 0, 8, 0]), ALLOW);
        assert_eq!(
            run(&prog, libc::SYS_epoll_wait, &[3, 0, 8, u32::MAX as u64]),
            ALLOW
        );
        assert_eq!(run(&prog, libc::SYS_epoll_pwait, &[3, 0, 8, 10]), NOTIFY);
        assert_eq!(run(&prog, libc::SYS_epoll_pwait2, &[3, 0, 8, 0]), ALLOW);
        assert_eq!(
            run(&prog, libc::SYS_epoll_pwait2, &[3, 0, 8, 0x1000]),
            NOTIFY
        );
        // Opens are notified for identity files even without a seed.
        let ident = build_program(&FilterOptions {
            notify_open: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(run(&ident, libc::SYS_openat, &[0]), NOTIFY);
        assert_eq!(run(&ident, libc::SYS_getrandom, &[0]), ALLOW);
    }

    /// Only futex calls with an absolute deadline and a timeout reach the
    /// tracer (`handlers/timedwait.rs`); every untimed one (each mutex, the
    /// hot path) and every relative FUTEX_WAIT stays in the kernel.
    #[test]
    fn timed_futex_calls_only_are_traced() {
        const TRACE: u32 = libc::SECCOMP_RET_TRACE;
        let prog = build_program(&all_opts()).unwrap();
        let futex = |op: u64, timeout: u64| run(&prog, libc::SYS_futex, &[0x1000, op, 1, timeout]);
        let ts = 0x7ffd_0000_1000;
        let private = 128;
        let realtime = 256;
        for cmd in [9u64, 6, 13, 11] {
            assert_eq!(futex(cmd, ts), TRACE, "{cmd}");
            assert_eq!(futex(cmd | private, ts), TRACE, "{cmd}");
            assert_eq!(futex(cmd | private | realtime, ts), TRACE, "{cmd}");
            // The kernel reads the op's low 32 bits only.
            assert_eq!(futex(cmd | private | 1 << 32, ts), TRACE, "{cmd}");
            assert_eq!(futex(cmd | private, 0), ALLOW, "{cmd}: no timeout");
            // A pointer: any of its 64 bits makes it non-NULL.
            assert_eq!(futex(cmd, 1 << 40), TRACE, "{cmd}");
        }
        // FUTEX_WAIT (relative), WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP,
        // UNLOCK_PI, TRYLOCK_PI, WAKE_BITSET, CMP_REQUEUE_PI: never.
        for cmd in [0u64, 1, 3, 4, 5, 7, 8, 10, 12] {
            assert_eq!(futex(cmd | private, 0), ALLOW, "{cmd}");
            assert_eq!(futex(cmd | private, ts), ALLOW, "{cmd}");
        }
        let waitv = crate::handlers::timedwait::SYS_FUTEX_WAITV;
        assert_eq!(run(&prog, waitv, &[0x1000, 1, 0, ts, 1]), TRACE);
        assert_eq!(run(&prog, waitv, &[0x1000, 1, 0, 0, 1]), ALLOW);
        for sys in [libc::SYS_mq_timedsend, libc::SYS_mq_timedreceive] {
            assert_eq!(run(&prog, sys, &[3, 0x1000, 8, 0, ts]), TRACE);
            assert_eq!(run(&prog, sys, &[3, 0x1000, 8, 0, 0]), ALLOW);
        }
        for sys in [libc::SYS_timerfd_settime, libc::SYS_timer_settime] {
            assert_eq!(run(&prog, sys, &[3, 1, ts, 0]), TRACE);
            assert_eq!(run(&prog, sys, &[3, 0, ts, 0]), ALLOW);
        }
        // Without virtual time nothing is traced.
        let plain = build_program(&FilterOptions::default()).unwrap();
        assert_eq!(run(&plain, libc::SYS_futex, &[0x1000, 9, 1, ts]), ALLOW);
        assert_eq!(run(&plain, libc::SYS_timerfd_settime, &[3, 1, ts]), ALLOW);
    }

    #[test]
    fn cpuid_faulting_can_be_armed_not_disarmed() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let ap = |a: u64, b: u64| run(&prog, libc::SYS_arch_prctl, &[a, b]);
        assert_eq!(ap(ARCH_SET_CPUID, 0), ALLOW);
        assert_eq!(ap(ARCH_SET_CPUID | 1 << 32, 0), ALLOW);
        assert_eq!(ap(ARCH_SET_CPUID, 1), RET_EPERM);
        assert_eq!(ap(ARCH_SET_CPUID, 1 << 40), RET_EPERM);
        assert_eq!(ap(0x1011, 5), ALLOW); // ARCH_GET_CPUID
        assert_eq!(ap(0x1013, 5), ALLOW);
        assert_eq!(ap(0x1002, 0x1234), ALLOW); // ARCH_SET_FS
        assert_eq!(run(&prog, libc::SYS_sethostname, &[0, 4]), RET_EPERM);
    }

    #[test]
    fn aslr_stays_off_when_kept() {
        let prog = build_program(&all_opts()).unwrap();
        let p = |v: u64| run(&prog, libc::SYS_personality, &[v]);
        assert_eq!(p(0xffff_ffff), ALLOW);
        assert_eq!(p(ADDR_NO_RANDOMIZE), ALLOW);
        assert_eq!(p(1 << 40 | ADDR_NO_RANDOMIZE), ALLOW);
        assert_eq!(p(0), RET_EPERM);
        assert_eq!(p(0x0400000 | ADDR_NO_RANDOMIZE), RET_EPERM);
    }

    #[test]
    fn stays_small() {
        // Install cost grows with the program (spike §A); keep an eye on it.
        let plain = build_program(&FilterOptions::default()).unwrap();
        let random = build_program(&random_opts()).unwrap();
        assert!(plain.len() < 200, "{}", plain.len());
        assert!(random.len() < 300, "{}", random.len());
        let all = build_program(&all_opts()).unwrap();
        // 424 with the timed-wait trace rules (about 40 instructions).
        assert!(all.len() < 450, "{}", all.len());
    }

    /// Installs the real filter in a forked child and checks the kernel agrees.
    #[test]
    fn kernel_enforces_filter() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the child only makes raw syscalls and reads errno (no locks,
        // no allocation) before _exit, which is what is safe after fork in a
        // multithreaded test binary; `prog` outlives the fork in both processes.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: see the fork above; every pointer passed is valid for the
            // child's lifetime (fprog on this stack, prog's heap buffer).
            unsafe {
                let errno = || *libc::__errno_location();
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(100);
                }
                if libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &fprog as *const libc::sock_fprog,
                ) != 0
                {
                    libc::_exit(101);
                }
                let mut code = 0;
                if libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) == -1
                    && errno() == libc::EPERM
                {
                    code |= 1;
                }
                if libc::syscall(libc::SYS_io_uring_setup, 1, 0) == -1 && errno() == libc::ENOSYS {
                    code |= 2;
                }
                let r = libc::syscall(
                    libc::SYS_clone,
                    libc::CLONE_NEWUSER | libc::SIGCHLD,
                    0,
                    0,
                    0,
                    0,
                );
                if r == 0 {
                    libc::_exit(0);
                }
                if r == -1 && errno() == libc::EPERM {
                    code |= 4;
                }
                if libc::syscall(libc::SYS_ioctl, 0, 0xdead_0000_5412u64, 0) == -1
                    && errno() == libc::EPERM
                {
                    code |= 8;
                }
                if libc::syscall(libc::SYS_getpid) > 0 {
                    code |= 16;
                }
                libc::_exit(code);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above; status is a valid out
        // pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 31, "bit set = check passed");
    }

    /// An x32 syscall number must kill the process with SIGSYS.
    #[test]
    fn kernel_kills_x32_syscall() {
        let prog = build_program(&FilterOptions::default()).unwrap();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: as in kernel_enforces_filter, the child only makes raw
        // syscalls before it exits or is killed.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: pointers are valid in the child, see above.
            unsafe {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    || libc::syscall(
                        libc::SYS_seccomp,
                        libc::SECCOMP_SET_MODE_FILTER,
                        0,
                        &fprog as *const libc::sock_fprog,
                    ) != 0
                {
                    libc::_exit(101);
                }
                libc::syscall(0x4000_0000 | libc::SYS_getpid);
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child; status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
            "child status {status:#x}"
        );
    }
}
