//! Fields of `/proc/PID/status`, for the supervisor's questions about its tasks
//! (thread group, parent, tracer, state, umask). One read per snapshot.

/// One read of `/proc/PID/status`.
pub struct Status(String);

impl Status {
    /// The status of `pid`, or None if it is gone.
    pub fn of(pid: libc::pid_t) -> Option<Status> {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .map(Status)
    }

    /// The text of field `key` (without the colon), trimmed.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.0.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::trim)
        })
    }

    /// A numeric field such as `Tgid`, `PPid` or `TracerPid`.
    pub fn pid(&self, key: &str) -> Option<libc::pid_t> {
        self.field(key)?.parse().ok()
    }
}

/// The thread group (process) that task `pid` belongs to.
pub fn tgid(pid: libc::pid_t) -> Option<libc::pid_t> {
    Status::of(pid)?.pid("Tgid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_field_names_only() {
        let me = std::process::id() as libc::pid_t;
        let st = Status::of(me).unwrap();
        assert_eq!(st.pid("Tgid"), Some(me));
        assert_eq!(tgid(me), Some(me));
        // "Tgi" is a prefix of a field name, not a field.
        assert_eq!(st.field("Tgi"), None);
        assert!(Status::of(-1).is_none());
    }
}
