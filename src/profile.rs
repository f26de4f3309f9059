//! Text profiles: a whole policy as one TOML document (the format is in
//! docs/profile.md).
//!
//! The document is parsed with the `toml` crate's spanned parser, so every
//! error names the line and column of the key or value at fault. Each setting
//! is applied with the same [`Policy`] setter the C API uses: validation lives
//! there, once. A profile is applied to a fresh policy that is returned only
//! when every setting succeeded, so a caller never sees a partial policy.

use crate::error::{Code, Error, Result};
use crate::outcome::Limit;
use crate::policy::{Access, Policy};
use std::ffi::OsStr;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeArray, DeInteger, DeTable, DeValue};
use toml::Spanned;

/// The keys of the top level, in the order docs/profile.md lists them.
pub const TOP_KEYS: &[&str] = &[
    "read",
    "write",
    "exec",
    "deny",
    "seed",
    "env",
    "unset_env",
    "inherit_env",
    "cwd",
    "timeout_ms",
    "best_effort",
    "cpu_count",
    "hostname",
    "proc_view",
    "limits",
    "network",
    "time",
    "workdir",
];
/// The keys of `[workdir]`.
pub const WORKDIR_KEYS: &[&str] = &["path", "mode"];
/// The keys of `[limits]`.
pub const LIMIT_KEYS: &[&str] = &[
    "memory",
    "processes",
    "open_files",
    "cpu_seconds",
    "file_size",
];
/// The keys of `[network]`.
pub const NETWORK_KEYS: &[&str] = &["tcp_bind", "tcp_connect", "udp", "connect", "bind"];
/// The keys of `[time]`.
pub const TIME_KEYS: &[&str] = &["mode", "start", "step_ns"];

/// The largest profile read from a file (a profile is a few hundred bytes).
const MAX_FILE: u64 = 1 << 20;

/// Build a policy from profile text.
///
/// Errors are `Code::Invalid`, and say "profile line L, column C: key 'K': ...".
pub fn parse(text: &str) -> Result<Policy> {
    Doc {
        text,
        origin: "profile".into(),
    }
    .build()
}

/// Build a policy from profile bytes, which must be UTF-8. `origin` names the
/// source in messages ("profile '/etc/app.toml'").
pub fn parse_bytes(bytes: &[u8], origin: &str) -> Result<Policy> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col_bytes(bytes, e.valid_up_to());
        Error::invalid(format!(
            "{origin} line {line}, column {col}: not valid UTF-8 (byte {:#04x})",
            bytes[e.valid_up_to()]
        ))
    })?;
    if let Some(i) = text.find('\0') {
        let (line, col) = line_col(text, i);
        return Err(Error::invalid(format!(
            "{origin} line {line}, column {col}: the text contains a NUL byte"
        )));
    }
    Doc {
        text,
        origin: origin.to_string(),
    }
    .build()
}

/// Read and parse the profile at `path` (`func` names the caller in messages).
pub fn load(func: &str, path: &Path) -> Result<Policy> {
    use std::io::Read;
    let open = std::fs::File::open(path).and_then(|f| {
        let mut buf = Vec::new();
        f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
        Ok(buf)
    });
    let bytes = open.map_err(|e| {
        Error::with_errno(
            Code::Invalid,
            format!("{func}: cannot read '{}'", path.display()),
            e.raw_os_error().unwrap_or(libc::EIO),
        )
    })?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::invalid(format!(
            "{func}: '{}' is larger than {MAX_FILE} bytes: not a profile",
            path.display()
        )));
    }
    parse_bytes(&bytes, &format!("profile '{}'", path.display()))
}

/// 1-based line and column (in characters) of byte offset `off`.
fn line_col(text: &str, off: usize) -> (usize, usize) {
    let mut off = off.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Same as [`line_col`] for bytes that may not be UTF-8 (columns count bytes).
fn line_col_bytes(bytes: &[u8], off: usize) -> (usize, usize) {
    let before = &bytes[..off.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, col)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (distance(&key.to_ascii_lowercase(), k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A setter's message without its "sl_policy_xxx: " prefix (the profile names the key).
fn setter_text(message: &str) -> &str {
    match message.find(": ") {
        Some(i) if message.starts_with("sl_") && !message[..i].contains(' ') => &message[i + 2..],
        _ => message,
    }
}

/// Entries of a table in document order (the parser keeps them sorted by name).
fn in_order<'t, 'i>(
    t: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

struct Doc<'a> {
    text: &'a str,
    origin: String,
}

impl Doc<'_> {
    fn error_at(&self, span: Range<usize>, key: &str, msg: impl std::fmt::Display) -> Error {
        let (line, col) = line_col(self.text, span.start);
        Error::invalid(format!(
            "{} line {line}, column {col}: key '{key}': {msg}",
            self.origin
        ))
    }

    /// A setter's error, moved to the key's line (code and errno kept).
    fn setter_error(&self, span: Range<usize>, key: &str, e: Error) -> Error {
        let at = self.error_at(span, key, setter_text(&e.message));
        Error {
            code: e.code,
            errno: e.errno,
            message: at.message,
        }
    }

    fn build(&self) -> Result<Policy> {
        let root = DeTable::parse(self.text).map_err(|e| self.parse_error(&e))?;
        let mut p = Policy::new();
        self.top(root.get_ref(), &mut p)?;
        Ok(p)
    }

    fn parse_error(&self, e: &toml::de::Error) -> Error {
        let span = e.span().unwrap_or(0..0);
        let (line, col) = line_col(self.text, span.start);
        let msg = e.message();
        let key = self
            .text
            .get(span.clone())
            .filter(|k| msg.contains("duplicate") && !k.is_empty())
            .map(|k| format!("key '{}': ", k.trim_matches(['"', '\''])))
            .unwrap_or_default();
        Error::invalid(format!(
            "{} line {line}, column {col}: {key}{msg} (not valid TOML)",
            self.origin
        ))
    }

    fn unknown(&self, span: Range<usize>, prefix: &str, key: &str, known: &[&str]) -> Error {
        let hint = suggest(key, known)
            .map(|s| format!(" (did you mean '{prefix}{s}'?)"))
            .unwrap_or_default();
        self.error_at(
            span,
            &format!("{prefix}{key}"),
            format!("unknown key{hint}"),
        )
    }

    fn wrong_type(&self, v: &Spanned<DeValue<'_>>, key: &str, want: &str) -> Error {
        self.error_at(
            v.span(),
            key,
            format!("expected {want}, found {}", type_name(v.get_ref())),
        )
    }

    fn top(&self, t: &DeTable<'_>, p: &mut Policy) -> Result<()> {
        let mut unset: Vec<(&str, Range<usize>)> = Vec::new();
        let mut set: Vec<&str> = Vec::new();
        for (k, v) in in_order(t) {
            let key: &str = k.get_ref();
            match key {
                "read" | "write" | "exec" => {
                    let access = match key {
                        "read" => Access::Read,
                        "write" => Access::Write,
                        _ => Access::Exec,
                    };
                    for (s, span) in self.strings(v, key, "an array of paths")? {
                        p.allow(Path::new(s), access)
                            .map_err(|e| self.setter_error(span, key, e))?;
                    }
                }
                "deny" => {
                    for (s, span) in self.strings(v, key, "an array of paths")? {
                        p.deny(Path::new(s))
                            .map_err(|e| self.setter_error(span, key, e))?;
                    }
                }
                "seed" => p.set_seed(self.u64(v, key)?),
                "env" => {
                    let DeValue::Table(env) = v.get_ref() else {
                        return Err(self.wrong_type(v, key, "a table of strings"));
                    };
                    for (name, value) in in_order(env) {
                        let full = format!("env.{}", name.get_ref());
                        let s = self.string(value, &full)?;
                        p.set_env(OsStr::new(name.get_ref().as_ref()), Some(OsStr::new(s)))
                            .map_err(|e| self.setter_error(name.span(), &full, e))?;
                        set.push(name.get_ref());
                    }
                }
                "unset_env" => {
                    for (s, span) in self.strings(v, key, "an array of variable names")? {
                        unset.push((s, span));
                    }
                }
                "inherit_env" => p.inherit_env(self.bool(v, key)?),
                "cwd" => {
                    let s = self.string(v, key)?;
                    p.set_cwd(Path::new(s))
                        .map_err(|e| self.setter_error(v.span(), key, e))?;
                }
                "timeout_ms" => p.set_timeout_ms(self.u64(v, key)?),
                "best_effort" => p.set_best_effort(self.bool(v, key)?),
                "cpu_count" => {
                    let n = self.u64(v, key)?;
                    let n = i32::try_from(n).map_err(|_| {
                        self.error_at(v.span(), key, format!("{n} is out of range"))
                    })?;
                    p.set_cpu_count(n)
                        .map_err(|e| self.setter_error(v.span(), key, e))?;
                }
                "hostname" => {
                    let s = self.string(v, key)?;
                    p.set_hostname(Some(s.as_bytes()))
                        .map_err(|e| self.setter_error(v.span(), key, e))?;
                }
                "proc_view" => p.set_proc_view(self.bool(v, key)?),
                "limits" => self.limits(v, p)?,
                "network" => self.network(v, p)?,
                "time" => self.time(v, p)?,
                "workdir" => self.workdir(v, p)?,
                _ => return Err(self.unknown(k.span(), "", key, TOP_KEYS)),
            }
        }
        // Removals after the settings; naming a variable in both is a contradiction.
        for (name, span) in unset {
            if set.contains(&name) {
                return Err(self.error_at(
                    span,
                    "unset_env",
                    format!("'{name}' is also set in [env]: keep one of the two"),
                ));
            }
            p.set_env(OsStr::new(name), None)
                .map_err(|e| self.setter_error(span, "unset_env", e))?;
        }
        Ok(())
    }

    fn table<'t, 'i>(
        &self,
        v: &'t Spanned<DeValue<'i>>,
        key: &str,
        known: &[&str],
    ) -> Result<&'t DeTable<'i>> {
        let DeValue::Table(t) = v.get_ref() else {
            return Err(self.wrong_type(v, key, "a table"));
        };
        let prefix = format!("{key}.");
        for (k, _) in in_order(t) {
            if !known.contains(&k.get_ref().as_ref()) {
                return Err(self.unknown(k.span(), &prefix, k.get_ref(), known));
            }
        }
        Ok(t)
    }

    fn limits(&self, v: &Spanned<DeValue<'_>>, p: &mut Policy) -> Result<()> {
        let t = self.table(v, "limits", LIMIT_KEYS)?;
        for (k, v) in in_order(t) {
            let key = format!("limits.{}", k.get_ref());
            let (limit, value) = match k.get_ref().as_ref() {
                "memory" => (Limit::Memory, self.size(v, &key)?),
                "file_size" => (Limit::FileSize, self.size(v, &key)?),
                "processes" => (Limit::Processes, self.u64(v, &key)?),
                "open_files" => (Limit::OpenFiles, self.u64(v, &key)?),
                _ => (Limit::CpuSeconds, self.u64(v, &key)?),
            };
            p.set_limit(limit, value);
        }
        Ok(())
    }

    fn network(&self, v: &Spanned<DeValue<'_>>, p: &mut Policy) -> Result<()> {
        let t = self.table(v, "network", NETWORK_KEYS)?;
        for (k, v) in in_order(t) {
            let key = format!("network.{}", k.get_ref());
            match k.get_ref().as_ref() {
                "udp" => {
                    p.allow_udp = self.bool(v, &key)?;
                    continue;
                }
                "connect" => {
                    for (s, span) in
                        self.strings(v, &key, "an array of \"ADDR[/PREFIX]:PORT\" rules")?
                    {
                        p.allow_connect(s)
                            .map_err(|e| self.setter_error(span, &key, e))?;
                    }
                    continue;
                }
                "bind" => {
                    for (s, span) in
                        self.strings(v, &key, "an array of \"ADDR[/PREFIX]:PORT\" rules")?
                    {
                        p.allow_bind(s)
                            .map_err(|e| self.setter_error(span, &key, e))?;
                    }
                    continue;
                }
                _ => {}
            }
            let bind = k.get_ref() == "tcp_bind";
            for item in self.array(v, &key, "an array of port numbers")?.iter() {
                let port = self.u64(item, &key)?;
                let port = u16::try_from(port).map_err(|_| {
                    self.error_at(
                        item.span(),
                        &key,
                        format!("port {port} is not between 0 and 65535"),
                    )
                })?;
                p.allow_tcp(bind, port);
            }
        }
        Ok(())
    }

    fn time(&self, v: &Spanned<DeValue<'_>>, p: &mut Policy) -> Result<()> {
        let t = self.table(v, "time", TIME_KEYS)?;
        let mode = match t.get("mode") {
            None => None,
            Some(m) => {
                let s = self.string(m, "time.mode")?;
                let mode = match s {
                    "real" => crate::policy::TimeMode::Real,
                    "offset" => crate::policy::TimeMode::Offset,
                    "frozen" => crate::policy::TimeMode::Frozen,
                    "logical" => crate::policy::TimeMode::Logical,
                    _ => {
                        return Err(self.error_at(
                            m.span(),
                            "time.mode",
                            format!(
                                "'{s}' is not one of \"real\", \"offset\", \"frozen\", \"logical\""
                            ),
                        ))
                    }
                };
                Some((mode, m.span()))
            }
        };
        let start = match t.get("start") {
            None => None,
            Some(s) => Some((self.start_ns(s)?, s.span())),
        };
        match (mode, start) {
            (None, Some((_, span))) => {
                return Err(self.error_at(
                    span,
                    "time.start",
                    "needs time.mode (\"offset\", \"frozen\" or \"logical\")",
                ))
            }
            (Some((m, span)), None) if m != crate::policy::TimeMode::Real => {
                return Err(self.error_at(
                    span,
                    "time.mode",
                    "needs time.start (a date-time such as 2000-01-01T00:00:00Z, or seconds since 1970)",
                ))
            }
            (Some((m, span)), start) => {
                let (ns, at) = start.unwrap_or((0, span));
                p.set_time(m as i32, ns)
                    .map_err(|e| self.setter_error(at, "time.start", e))?;
            }
            (None, None) => {}
        }
        if let Some(s) = t.get("step_ns") {
            let n = self.u64(s, "time.step_ns")?;
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            p.set_time_step_ns(n)
                .map_err(|e| self.setter_error(s.span(), "time.step_ns", e))?;
        }
        Ok(())
    }

    /// `[workdir]`: `path` (required) and `mode` (default "auto").
    fn workdir(&self, v: &Spanned<DeValue<'_>>, p: &mut Policy) -> Result<()> {
        let t = self.table(v, "workdir", WORKDIR_KEYS)?;
        let mode = match t.get("mode") {
            None => crate::cow::Mode::Auto,
            Some(m) => {
                let s = self.string(m, "workdir.mode")?;
                match s {
                    "auto" => crate::cow::Mode::Auto,
                    "commit" => crate::cow::Mode::Commit,
                    "abort" => crate::cow::Mode::Abort,
                    "keep" => crate::cow::Mode::Keep,
                    "manual" => crate::cow::Mode::Manual,
                    _ => {
                        return Err(self.error_at(
                            m.span(),
                            "workdir.mode",
                            format!(
                                "'{s}' is not one of \"auto\", \"commit\", \"abort\", \"keep\", \"manual\""
                            ),
                        ))
                    }
                }
            }
        };
        let Some(path) = t.get("path") else {
            return Err(self.error_at(v.span(), "workdir", "needs path (the directory)"));
        };
        let s = self.string(path, "workdir.path")?;
        p.set_workdir(Path::new(s), mode as i32)
            .map_err(|e| self.setter_error(path.span(), "workdir.path", e))
    }

    /// `time.start`: an offset date-time, or whole seconds since 1970.
    fn start_ns(&self, v: &Spanned<DeValue<'_>>) -> Result<i64> {
        let key = "time.start";
        let too_far = || self.error_at(v.span(), key, "is after the year 2262 (out of range)");
        match v.get_ref() {
            DeValue::Integer(i) => {
                let secs = self.i64(v, i, key)?;
                secs.checked_mul(1_000_000_000).ok_or_else(too_far)
            }
            DeValue::Datetime(dt) => {
                let (Some(d), Some(t), Some(off)) = (dt.date, dt.time, dt.offset) else {
                    return Err(self.error_at(
                        v.span(),
                        key,
                        format!(
                            "'{dt}' needs a date, a time and a UTC offset, e.g. 2000-01-01T00:00:00Z"
                        ),
                    ));
                };
                let off_min = offset_minutes(&off.to_string());
                let days = days_from_civil(i64::from(d.year), d.month.into(), d.day.into());
                let secs = days * 86_400
                    + i64::from(t.hour) * 3600
                    + i64::from(t.minute) * 60
                    + i64::from(t.second)
                    - off_min * 60;
                secs.checked_mul(1_000_000_000)
                    .and_then(|ns| ns.checked_add(i64::from(t.nanosecond)))
                    .ok_or_else(too_far)
            }
            _ => Err(self.wrong_type(v, key, "a date-time or an integer (seconds since 1970)")),
        }
    }

    fn string<'v>(&self, v: &'v Spanned<DeValue<'_>>, key: &str) -> Result<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => {
                if s.contains('\0') {
                    return Err(self.error_at(v.span(), key, "the string contains a NUL byte"));
                }
                Ok(s)
            }
            _ => Err(self.wrong_type(v, key, "a string")),
        }
    }

    fn bool(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type(v, key, "a boolean (true or false)")),
        }
    }

    fn array<'v, 'i>(
        &self,
        v: &'v Spanned<DeValue<'i>>,
        key: &str,
        want: &str,
    ) -> Result<&'v DeArray<'i>> {
        match v.get_ref() {
            DeValue::Array(a) => Ok(a),
            _ => Err(self.wrong_type(v, key, want)),
        }
    }

    fn strings<'v>(
        &self,
        v: &'v Spanned<DeValue<'_>>,
        key: &str,
        want: &str,
    ) -> Result<Vec<(&'v str, Range<usize>)>> {
        self.array(v, key, want)?
            .iter()
            .map(|item| Ok((self.string(item, key)?, item.span())))
            .collect()
    }

    fn integer<'v>(&self, v: &'v Spanned<DeValue<'_>>, key: &str) -> Result<&'v DeInteger<'v>> {
        match v.get_ref() {
            DeValue::Integer(i) => Ok(i),
            _ => Err(self.wrong_type(v, key, "an integer")),
        }
    }

    fn u64(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<u64> {
        let i = self.integer(v, key)?;
        u64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
            let why = if i.as_str().starts_with('-') {
                "must not be negative"
            } else {
                "is too large"
            };
            self.error_at(v.span(), key, format!("{i} {why}"))
        })
    }

    fn i64(&self, v: &Spanned<DeValue<'_>>, i: &DeInteger<'_>, key: &str) -> Result<i64> {
        i64::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| self.error_at(v.span(), key, format!("{i} is out of range")))
    }

    /// A byte count: an integer, or a string "512M" / "1GiB" (powers of 1024).
    fn size(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<u64> {
        match v.get_ref() {
            DeValue::Integer(_) => self.u64(v, key),
            DeValue::String(s) => parse_size(s)
                .map_err(|why| self.error_at(v.span(), key, format!("'{s}' is not a size: {why}"))),
            _ => Err(self.wrong_type(v, key, "a size (bytes, or a string such as \"512M\")")),
        }
    }
}

/// Minutes east of UTC of an offset as the parser prints it: "Z", "+05:30", "-08:00".
fn offset_minutes(s: &str) -> i64 {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return 0,
    };
    let mut parts = rest.split(':').map(|n| n.parse::<i64>().unwrap_or(0));
    let h = parts.next().unwrap_or(0);
    let m = parts.next().unwrap_or(0);
    sign * (h * 60 + m)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "4096", "512K", "512M", "1GiB", "2T": bytes, with binary units (K = 1024).
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return Err("it must start with a whole number, e.g. \"512M\"".into());
    }
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| "the number is too large".to_string())?;
    let unit = t[digits..].trim();
    let shift = match unit {
        "" | "B" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        "T" | "t" | "TiB" => 40,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' (use B, K, M, G or T, or KiB, MiB, GiB, TiB: powers of 1024)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| "it does not fit in 64 bits".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("3T"), Ok(3 << 40));
        assert!(parse_size("1.5G").is_err());
        assert!(parse_size("12MB").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 1, 1), 10_957);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(offset_minutes("Z"), 0);
        assert_eq!(offset_minutes("+05:30"), 330);
        assert_eq!(offset_minutes("-08:00"), -480);
    }

    #[test]
    fn positions() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 10), (2, 4));
        assert_eq!(line_col_bytes(b"x\ny\xff", 3), (2, 2));
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("raed", TOP_KEYS), Some("read"));
        assert_eq!(suggest("timeout", TOP_KEYS), Some("timeout_ms"));
        assert_eq!(suggest("memroy", LIMIT_KEYS), Some("memory"));
        assert_eq!(suggest("zzzzzz", TOP_KEYS), None);
        assert_eq!(setter_text("sl_policy_set_cwd: 'x' is bad"), "'x' is bad");
        assert_eq!(setter_text("plain: text"), "plain: text");
    }

    #[test]
    fn a_full_profile() {
        let p = parse(
            r#"
            read = ["/usr"]
            seed = 18446744073709551615
            [time]
            mode = "frozen"
            start = 2000-01-01T01:00:00+01:00
            [limits]
            memory = "1G"
            "#,
        )
        .unwrap();
        assert_eq!(p.seed, Some(u64::MAX));
        assert_eq!(p.det.time_start_ns, 946_684_800_000_000_000);
        assert_eq!(p.limits[Limit::Memory.index()], 1 << 30);
    }
}
