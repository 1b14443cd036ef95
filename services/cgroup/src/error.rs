//! The crate's error types.
//!
//! Two layers, because the parsers are pure and never see a path: [`ParseError`] says which
//! cgroup/proc file kind failed and where (line number, field name); [`Error`] adds the path
//! on disk (or the pod list) and is what the public I/O functions return. Every [`Error`]
//! has a bounded [`Error::reason`] for the caller's `*_errors_total{reason}` label.
//!
//! Strings copied from input into an error (a field name, a bad value) are truncated to
//! [`MAX_ECHO_CHARS`] so one corrupt file cannot blow up a log line.

use std::io;
use std::path::PathBuf;

/// How many characters of an offending input token an error echoes back.
pub const MAX_ECHO_CHARS: usize = 64;

/// A cgroup or `/proc` file whose text could not be understood.
///
/// `file` is the file's kind (`"cpu.stat"`, `"/proc/meminfo"`), `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The file held no value at all (a single-value file such as `memory.current`).
    #[error("{file} is empty")]
    Empty {
        /// File kind.
        file: &'static str,
    },
    /// A line did not have the `key value` (or `Key: value [kB]`) shape.
    #[error("{file} line {line}: expected a key and a value")]
    MalformedLine {
        /// File kind.
        file: &'static str,
        /// 1-based line number.
        line: usize,
    },
    /// A value was not an unsigned 64-bit integer (or `max` where that is allowed).
    #[error("{file} line {line}: field {field}: {value:?} is not an unsigned integer")]
    BadValue {
        /// File kind.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// The key the value belongs to (truncated).
        field: String,
        /// The offending token (truncated).
        value: String,
    },
    /// A field every kernel we support writes was not there.
    #[error("{file}: missing field {field}")]
    MissingField {
        /// File kind.
        file: &'static str,
        /// The field that was looked for.
        field: &'static str,
    },
}

impl ParseError {
    /// Builds [`ParseError::BadValue`], truncating the echoed strings.
    pub(crate) fn bad_value(file: &'static str, line: usize, field: &str, value: &str) -> Self {
        ParseError::BadValue {
            file,
            line,
            field: truncate(field),
            value: truncate(value),
        }
    }
}

/// Everything the crate's I/O-facing functions can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `<root>/cgroup.controllers` nor `<root>/unified/cgroup.controllers` exists.
    #[error(
        "no cgroup v2 hierarchy under {root}: looked for {root}/cgroup.controllers (unified mount) \
         and {root}/unified/cgroup.controllers (systemd hybrid mount)"
    )]
    HierarchyNotFound {
        /// The configured root that was searched.
        root: PathBuf,
    },
    /// A file could not be read (other than a cgroup vanishing, which is counted, not raised).
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A directory of the hierarchy could not be listed.
    #[error("cannot list cgroup directory {path}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file was read but its text was not understood.
    #[error("cannot parse {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong, with line and field.
        #[source]
        source: ParseError,
    },
    /// The kubelet `/pods` body was not a `v1.PodList` we could read.
    #[error("cannot parse kubelet pod list")]
    PodList {
        /// The JSON error (carries line and column).
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// A bounded label value for `*_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::HierarchyNotFound { .. } => "hierarchy_not_found",
            Error::Read { .. } => "read",
            Error::ReadDir { .. } => "read_dir",
            Error::Parse { .. } => "parse",
            Error::PodList { .. } => "pod_list",
        }
    }
}

/// Cuts `s` to at most [`MAX_ECHO_CHARS`] characters (on a char boundary).
pub(crate) fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_value_echo_is_truncated() {
        let long = "9".repeat(500);
        let err = ParseError::bad_value("cpu.stat", 3, "usage_usec", &long);
        let ParseError::BadValue { value, .. } = &err else {
            panic!("wrong variant: {err:?}");
        };
        assert_eq!(value.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(err
            .to_string()
            .starts_with("cpu.stat line 3: field usage_usec: "));
    }

    #[test]
    fn reasons_are_distinct_snake_case() {
        let io = || io::Error::from(io::ErrorKind::PermissionDenied);
        let errors = [
            Error::HierarchyNotFound { root: "/x".into() },
            Error::Read {
                path: "/x".into(),
                source: io(),
            },
            Error::ReadDir {
                path: "/x".into(),
                source: io(),
            },
            Error::Parse {
                path: "/x".into(),
                source: ParseError::Empty {
                    file: "memory.current",
                },
            },
            Error::PodList {
                source: serde_json::from_slice::<u8>(b"{").expect_err("invalid json"),
            },
        ];
        let reasons: std::collections::BTreeSet<_> = errors.iter().map(Error::reason).collect();
        assert_eq!(reasons.len(), errors.len());
        assert!(reasons
            .iter()
            .all(|r| r.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }

    #[test]
    fn hierarchy_error_names_both_candidates() {
        let msg = Error::HierarchyNotFound {
            root: "/sys/fs/cgroup".into(),
        }
        .to_string();
        assert!(msg.contains("/sys/fs/cgroup/cgroup.controllers"), "{msg}");
        assert!(
            msg.contains("/sys/fs/cgroup/unified/cgroup.controllers"),
            "{msg}"
        );
    }
}
