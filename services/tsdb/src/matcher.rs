//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics.
//!
//! Regexes are fully anchored (`^(?:re)$`) like Prometheus' RE2 matchers, and a matcher that
//! matches the empty string also matches series that lack the label altogether: `{a=""}`
//! selects series without `a`, `{a!="x"}` selects series without `a` too.

use std::fmt;

use regex::Regex;

/// The four matcher operators of PromQL selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// A compiled label matcher.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

/// A regex in a matcher that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid regular expression {pattern:?} for label {name:?}")]
pub struct MatcherError {
    pub name: String,
    pub pattern: String,
    #[source]
    pub source: Box<regex::Error>,
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let name = name.into();
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|source| MatcherError {
                    name: name.clone(),
                    pattern: value.clone(),
                    source: Box::new(source),
                })?,
            ),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Shorthand for an equality matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            (MatchOp::RegexMatch | MatchOp::RegexNoMatch, None) => {
                unreachable!("regex matchers are compiled in Matcher::new")
            }
        }
    }

    /// Whether the matcher also selects series that do not have the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_fully_anchored() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
    }

    #[test]
    fn alternation_is_anchored_as_a_group() {
        let m = Matcher::new(MatchOp::RegexMatch, "a", "x|y").unwrap();
        assert!(m.matches("x"));
        assert!(!m.matches("xy"));
    }

    #[test]
    fn bad_regex_names_the_label() {
        let err = Matcher::new(MatchOp::RegexNoMatch, "pod", "(").unwrap_err();
        assert!(err.to_string().contains("pod"));
    }
}
