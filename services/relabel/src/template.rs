//! `$` templates (`replacement`, and `target_label` of `replace`) expanded exactly as Go's
//! `regexp.Regexp.Expand` does, plus Prometheus' check of which templates are allowed.
//!
//! Go's rules (`regexp/regexp.go`, `expand` and `extract`), which differ from the `regex`
//! crate's `Captures::expand` in the details that matter here:
//! - `$name` takes the LONGEST run of letters, digits and `_` (Unicode letters/digits), so
//!   `$1x` is the group NAMED `1x` (usually absent, hence empty), not group 1 then "x";
//!   write `${1}x` for that;
//! - a name made only of ASCII digits is a group number, unless it has a leading zero
//!   (`$01` is a name) or is too long (≥ 1e8);
//! - a reference to a missing group, or to a group that did not participate, is empty;
//!   for a name, the first participating group with that name is used;
//! - `$$` is a literal `$`; a `$` not followed by a valid reference (`$`, `$-`, `${x`) is kept
//!   literally.
//!
//! Templates are parsed once when the config is built, with names resolved to group indices.

use std::borrow::Cow;
use std::sync::OnceLock;

use ::regex::CaptureLocations;

use crate::regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A numbered group that exists in the regex.
    Group(usize),
    /// Candidate groups for a name, in order; empty when no group has the name.
    Named(Vec<usize>),
}

/// A parsed `$` template bound to one regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `template` against the capture groups of `regex`. Never fails: malformed `$`
    /// references are literal text, as in Go.
    pub(crate) fn parse(template: &str, regex: &Regex) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            literal.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let Some(reference) = extract(rest) else {
                literal.push('$');
                continue;
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            match reference.number {
                Some(n) if n < regex.captures_len() => parts.push(Part::Group(n)),
                Some(_) => {}
                None => {
                    let groups = regex
                        .group_names()
                        .iter()
                        .enumerate()
                        .filter(|(_, name)| name.as_deref() == Some(reference.name))
                        .map(|(i, _)| i)
                        .collect::<Vec<_>>();
                    if !groups.is_empty() {
                        parts.push(Part::Named(groups));
                    }
                }
            }
            rest = &rest[reference.len..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Self { parts }
    }

    /// The text when the template has no references that can produce anything.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(s)] => Some(s),
            _ => None,
        }
    }

    /// Expands the template for a match of the template's regex on `haystack`.
    pub(crate) fn expand<'a>(&'a self, haystack: &str, locs: &CaptureLocations) -> Cow<'a, str> {
        if let Some(lit) = self.as_literal() {
            return Cow::Borrowed(lit);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Group(i) => {
                    if let Some((start, end)) = locs.get(*i) {
                        out.push_str(&haystack[start..end]);
                    }
                }
                Part::Named(groups) => {
                    if let Some((start, end)) = groups.iter().find_map(|i| locs.get(*i)) {
                        out.push_str(&haystack[start..end]);
                    }
                }
            }
        }
        Cow::Owned(out)
    }
}

impl Regex {
    /// Matches `haystack` and expands `template` the way Go's
    /// `ExpandString(nil, template, haystack, FindStringSubmatchIndex(haystack))` does;
    /// `None` when the regex does not match.
    pub fn expand_match(&self, template: &str, haystack: &str) -> Option<String> {
        let mut locs = self.capture_locations();
        if !self.captures_read(&mut locs, haystack) {
            return None;
        }
        Some(
            Template::parse(template, self)
                .expand(haystack, &locs)
                .into_owned(),
        )
    }
}

struct Reference<'a> {
    name: &'a str,
    /// Group number when the name is one (Go's `num >= 0`).
    number: Option<usize>,
    /// Bytes consumed after the `$`.
    len: usize,
}

/// Go's `extract`: parses `name` or `{name}` at the start of `s`.
fn extract(s: &str) -> Option<Reference<'_>> {
    let braced = s.starts_with('{');
    let body = if braced { &s[1..] } else { s };
    let name_len: usize = body
        .chars()
        .take_while(|&c| is_go_word_char(c))
        .map(char::len_utf8)
        .sum();
    if name_len == 0 {
        return None;
    }
    let name = &body[..name_len];
    let mut len = name_len;
    if braced {
        if !body[name_len..].starts_with('}') {
            return None;
        }
        len += 2;
    }
    let mut number: Option<usize> = Some(0);
    for b in name.bytes() {
        number = match number {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                Some(n * 10 + usize::from(b - b'0'))
            }
            _ => None,
        };
    }
    if name.len() > 1 && name.starts_with('0') {
        number = None;
    }
    Some(Reference { name, number, len })
}

/// `unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'` (letters are category L,
/// digits category Nd).
fn is_go_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static LETTER_OR_DIGIT: OnceLock<::regex::Regex> = OnceLock::new();
    LETTER_OR_DIGIT
        .get_or_init(|| ::regex::Regex::new(r"^[\p{L}\p{Nd}]$").expect("constant pattern compiles"))
        .is_match(c.encode_utf8(&mut [0; 4]))
}

/// Prometheus' `relabelTarget` check, `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` with Go's
/// ASCII `\w`: a label name in which `$name` / `${name}` references may appear, starting with
/// a letter, `_` or a reference. Used for `target_label` and the `labelmap` replacement.
pub(crate) fn is_valid_target_template(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || b.get(j) != Some(&b'}') {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i;
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        } else if word(b[i]) && (i > 0 || !b[i].is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
    }
    !s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str, template: &str, value: &str) -> Option<String> {
        Regex::new(pattern)
            .expect("valid")
            .expand_match(template, value)
    }

    #[test]
    fn dollar_one_x_is_a_group_named_1x() {
        assert_eq!(expand("(a)(b)", "$1x", "ab").as_deref(), Some(""));
        assert_eq!(expand("(a)(b)", "${1}x", "ab").as_deref(), Some("ax"));
        assert_eq!(expand("(a)(?P<1x>b)", "$1x", "ab").as_deref(), Some("b"));
        assert_eq!(
            expand("(a)(b)", "$1_$2", "ab").as_deref(),
            Some("b"),
            "$1_ is a name too"
        );
        assert_eq!(expand("(a)(b)", "$1-$2", "ab").as_deref(), Some("a-b"));
    }

    #[test]
    fn numbered_and_named_references() {
        assert_eq!(
            expand("(?P<host>[^:]+):(\\d+)", "$host/${2}", "h:80").as_deref(),
            Some("h/80")
        );
        assert_eq!(expand("(a)", "$0", "a").as_deref(), Some("a"));
        assert_eq!(
            expand("(a)", "$2", "a").as_deref(),
            Some(""),
            "missing group is empty"
        );
        assert_eq!(
            expand("(a)", "$01", "a").as_deref(),
            Some(""),
            "leading zero makes a name"
        );
        assert_eq!(expand("(a)|(b)", "[$1][$2]", "b").as_deref(), Some("[][b]"));
        assert_eq!(
            expand("(?P<n>a)|(?P<n>b)", "$n", "b").as_deref(),
            Some("b"),
            "first participating"
        );
        assert_eq!(expand("(a)", "$nope", "a").as_deref(), Some(""));
    }

    #[test]
    fn malformed_dollars_stay_literal() {
        assert_eq!(expand("(a)", "$$1", "a").as_deref(), Some("$1"));
        assert_eq!(expand("(a)", "x$", "a").as_deref(), Some("x$"));
        assert_eq!(expand("(a)", "$-", "a").as_deref(), Some("$-"));
        assert_eq!(expand("(a)", "${1", "a").as_deref(), Some("${1"));
        assert_eq!(expand("(a)", "${}", "a").as_deref(), Some("${}"));
        assert_eq!(
            expand("(a)", "$1é", "a").as_deref(),
            Some(""),
            "unicode letters extend the name"
        );
    }

    #[test]
    fn no_match_expands_to_nothing() {
        assert_eq!(expand("a", "$0", "b"), None);
    }

    #[test]
    fn target_template_check_matches_prometheus_pattern() {
        for ok in [
            "a",
            "_a1",
            "$1",
            "${1}",
            "foo_$1",
            "$1_bar",
            "${1}x",
            "a${name}b$2",
            "$a$b",
        ] {
            assert!(is_valid_target_template(ok), "{ok}");
        }
        for bad in [
            "", "1a", "a-b", "$", "$$", "foo$", "${}", "${1", "${1}}", "a.b", "$-1", "é",
        ] {
            assert!(!is_valid_target_template(bad), "{bad}");
        }
    }
}
