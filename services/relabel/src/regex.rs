//! Fully anchored regular expressions with Go/RE2 meaning, as relabeling uses them.
//!
//! Follows `relabel.NewRegexp` of Prometheus v2.42 (`model/relabel/relabel.go`): the user's
//! pattern `s` is compiled as `^(?:` + s + `)$`. Note `(?:` and not `(?s:` — in 2.42 `.`
//! does NOT match a newline, so the default `(.*)` does not match a value containing `\n`
//! (Prometheus 3.0 switched to `(?s:`; we follow 2.42). The wrapping is textual, exactly as
//! upstream, so a pattern such as `a)|(b` behaves as it does in Go.
//!
//! The wrapped text is parsed with Go's rules and re-emitted for the `regex` crate by
//! `src/translate/mod.rs`; see there for the syntax differences handled and the deviations.
//! The original pattern is kept for display and serialisation (upstream `Regexp.String`).

use std::fmt;

use thiserror::Error;

use crate::translate::{translate, SyntaxError};

/// The default relabel regex (`DefaultRelabelConfig.Regex`).
pub const DEFAULT_REGEX: &str = "(.*)";

/// Why a pattern was rejected.
#[derive(Debug, Clone, Error)]
pub enum RegexError {
    /// Go's parser would reject the pattern.
    #[error("pattern is not valid Go regexp syntax")]
    Syntax(#[source] SyntaxError),
    /// The translated pattern does not compile (e.g. unknown Unicode class, too large).
    #[error("pattern does not compile")]
    Compile(#[source] ::regex::Error),
}

impl RegexError {
    /// Bounded reason for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "syntax",
            Self::Compile(_) => "compile",
        }
    }
}

/// A relabel regex: anchored at both ends, Go semantics, original text retained.
#[derive(Clone)]
pub struct Regex {
    original: String,
    compiled: ::regex::Regex,
    /// Go names of the capture groups, index 0 being the whole match.
    group_names: Vec<Option<String>>,
}

impl Regex {
    /// Compiles `pattern` as Prometheus 2.42 does (`^(?:pattern)$`).
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        let wrapped = format!("^(?:{pattern})$");
        let translated = translate(&wrapped).map_err(RegexError::Syntax)?;
        let compiled = ::regex::Regex::new(&translated.pattern).map_err(RegexError::Compile)?;
        debug_assert_eq!(compiled.captures_len(), translated.group_names.len());
        Ok(Self {
            original: pattern.to_owned(),
            compiled,
            group_names: translated.group_names,
        })
    }

    /// The pattern as the user wrote it (without the anchoring).
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// Whether the whole of `haystack` matches.
    pub fn is_match(&self, haystack: &str) -> bool {
        self.compiled.is_match(haystack)
    }

    /// Number of capture groups including group 0 (the whole match).
    pub fn captures_len(&self) -> usize {
        self.group_names.len()
    }

    /// Go names of the capture groups (`None` for unnamed ones and for group 0).
    pub(crate) fn group_names(&self) -> &[Option<String>] {
        &self.group_names
    }

    /// Reusable storage for [`Regex::captures_read`].
    pub(crate) fn capture_locations(&self) -> ::regex::CaptureLocations {
        self.compiled.capture_locations()
    }

    /// Matches `haystack`, filling `locs`; false when there is no match.
    pub(crate) fn captures_read(
        &self,
        locs: &mut ::regex::CaptureLocations,
        haystack: &str,
    ) -> bool {
        self.compiled.captures_read(locs, haystack).is_some()
    }
}

impl fmt::Display for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.original).finish()
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.original == other.original
    }
}

impl Eq for Regex {}

impl serde::Serialize for Regex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        Regex::new(p).expect("valid pattern")
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let r = re("foo");
        assert!(r.is_match("foo"));
        assert!(!r.is_match("foobar"));
        assert!(!r.is_match("barfoo"));
        assert!(
            re("foo|bar").is_match("bar"),
            "alternation sits inside the anchors"
        );
        assert!(!re("foo|bar").is_match("foobar"));
    }

    #[test]
    fn dot_does_not_match_newline_as_in_2_42() {
        let r = re(DEFAULT_REGEX);
        assert!(r.is_match(""));
        assert!(r.is_match("anything"));
        assert!(!r.is_match("line1\nline2"));
        assert!(re("(?s)(.*)").is_match("line1\nline2"));
        assert!(re("line1\\nline2").is_match("line1\nline2"));
    }

    #[test]
    fn textual_wrapping_matches_go_for_unbalanced_parens() {
        // Go compiles ^(?:a)|(b)$: "a" anchored at the start OR "b" anchored at the end.
        let r = re("a)|(b");
        assert!(r.is_match("axxx"));
        assert!(r.is_match("xxxb"));
        assert!(!r.is_match("xxx"));
        assert_eq!(r.captures_len(), 2);
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert!(
            !re(r"\d+").is_match("١٢٣"),
            "Arabic-Indic digits are not \\d in Go"
        );
        assert!(re(r"\d+").is_match("123"));
        assert!(!re(r"\w").is_match("é"));
        assert!(re(r"\s").is_match("\t"));
        assert!(!re(r"\s").is_match("\u{a0}"));
        assert!(re(r"\pL+").is_match("éa"));
        assert!(
            re(r"(?i)\w").is_match("\u{212a}"),
            "Kelvin sign folds to k under (?i)"
        );
    }

    #[test]
    fn word_boundary_is_ascii() {
        // é is not a word character in Go, so a boundary exists between "é" and "a".
        assert!(re(r"é\ba").is_match("éa"));
        assert!(!re(r"b\ba").is_match("ba"));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        for p in [
            "(",
            "[a",
            "a**",
            r"\e",
            "(?x)a",
            "a{1001}",
            r"\p{NoSuchScript}",
            "(?P<>a)",
        ] {
            assert!(Regex::new(p).is_err(), "{p}");
        }
        let err = Regex::new("a**").expect_err("nested repeat");
        assert_eq!(err.reason(), "syntax");
        assert_eq!(
            Regex::new(r"\p{Nope}").expect_err("bad class").reason(),
            "compile"
        );
    }

    #[test]
    fn original_text_is_kept_for_display() {
        let r = re(r"([^:]+)(?::\d+)?;(\d+)");
        assert_eq!(r.as_str(), r"([^:]+)(?::\d+)?;(\d+)");
        assert_eq!(r.to_string(), r.as_str());
    }

    #[test]
    fn empty_pattern_matches_only_empty() {
        let r = re("");
        assert!(r.is_match(""));
        assert!(!r.is_match("x"));
    }
}
