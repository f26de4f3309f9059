//! The crate's error value: a stable code, an optional OS errno and a sentence.

use std::ffi::CStr;
use std::fmt;

/// Error codes shared by the Rust core and the C API (`SL_E_*`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Invalid = -1,
    NoMem = -2,
    Unsupported = -3,
    Sys = -4,
    Setup = -5,
    Exec = -6,
    Again = -7,
    Timeout = -8,
    Supervisor = -9,
    Internal = -10,
}

impl Code {
    /// A short, static description of the code (what `sl_strerror` returns).
    pub fn describe(self) -> &'static CStr {
        match self {
            Code::Invalid => c"invalid argument",
            Code::NoMem => c"out of memory",
            Code::Unsupported => c"not supported by this kernel",
            Code::Sys => c"system call failed",
            Code::Setup => c"sandbox setup failed in the child before exec",
            Code::Exec => c"could not execute the program",
            Code::Again => c"child still running",
            Code::Timeout => c"timed out",
            Code::Supervisor => c"sandbox supervisor failed",
            Code::Internal => c"internal error",
        }
    }

    pub fn from_i32(v: i32) -> Option<Code> {
        Some(match v {
            -1 => Code::Invalid,
            -2 => Code::NoMem,
            -3 => Code::Unsupported,
            -4 => Code::Sys,
            -5 => Code::Setup,
            -6 => Code::Exec,
            -7 => Code::Again,
            -8 => Code::Timeout,
            -9 => Code::Supervisor,
            -10 => Code::Internal,
            _ => return None,
        })
    }
}

/// An error with its code, the OS errno when there was one (0 otherwise) and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub errno: i32,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            errno: 0,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Code::Invalid, message)
    }

    /// A failed system call: `what` names the call and its object, errno is appended.
    pub fn sys(what: impl Into<String>, errno: i32) -> Error {
        Error::with_errno(Code::Sys, what, errno)
    }

    /// `what` followed by the OS description of `errno`.
    pub fn with_errno(code: Code, what: impl Into<String>, errno: i32) -> Error {
        Error {
            code,
            errno,
            message: format!("{}: {}", what.into(), errno_text(errno)),
        }
    }

    /// A system call failed just now: takes errno from the OS.
    pub fn last_os(what: impl Into<String>) -> Error {
        Error::sys(what, last_errno())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The calling thread's errno.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// "No such file or directory (errno 2)".
pub fn errno_text(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // std formats as "Text (os error N)"; say errno, the word C programmers know.
    match s.rfind(" (os error ") {
        Some(i) => format!("{} (errno {})", &s[..i], errno),
        None => s,
    }
}
