//! Kubernetes label selector strings — the `labelSelector` the HPA sends to the external
//! metrics API — parsed into a [`Selector`] that can test a label set or become PromQL
//! matchers over the same series.
//!
//! Grammar, semantics and validation follow `labels.Parse` in
//! `k8s.io/apimachinery/pkg/labels/selector.go` and the key/value rules of
//! `k8s.io/apimachinery/pkg/util/validation/validation.go` (v0.33):
//!
//! ```text
//! selector    = "" | requirement { "," requirement }
//! requirement = key | "!" key
//!             | key ( "=" | "==" | "!=" ) [ value ]
//!             | key ( "in" | "notin" ) "(" set ")"
//! set         = [ value ] { "," [ value ] }        (an empty element is the empty value)
//! ```
//!
//! Tokens may be surrounded by spaces, tabs, CRs and LFs. A key is a name of at most 63
//! characters (alphanumerics, `-`, `_`, `.`, starting and ending with an alphanumeric) with
//! an optional DNS subdomain prefix of at most 253 characters and a `/`; a value is empty or
//! follows the name rule. `in` and `notin` are keywords only where an operator is expected,
//! so they also work as keys and values, as in Kubernetes.
//!
//! Deviations from Kubernetes, all on purpose:
//!
//! - `>` and `<` (`Gt`/`Lt`) are refused: the HPA never sends them and they have no PromQL
//!   matcher.
//! - `in ()` and `notin ()` are refused ("expected at least one value"); Kubernetes reads
//!   `()` as the set holding only the empty value. `(,)` still means that set, and
//!   [`Selector`]'s `Display` prints such a set as `(,)` so every parsed selector prints
//!   back to text that parses again.
//! - Requirements stay in the order written (Kubernetes sorts them by key), so logs and
//!   error positions follow the input; matching does not depend on the order.
//! - `==` is stored as [`Operator::Equals`] (Kubernetes keeps a separate `DoubleEquals` with
//!   the same meaning) and prints as `=`.
//! - Error messages are this crate's own and carry a byte offset.

use std::fmt;
use std::str::FromStr;

/// Longest label name (the part after an optional prefix), in bytes.
pub const MAX_NAME_LEN: usize = 63;
/// Longest DNS subdomain prefix of a label key, in bytes.
pub const MAX_PREFIX_LEN: usize = 253;
/// Longest label value, in bytes.
pub const MAX_VALUE_LEN: usize = 63;

/// Longest piece of input quoted in an error message, in characters; the rest is cut.
const QUOTE_CHARS: usize = 100;

/// A selector that could not be parsed or translated, with the byte offset of the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position}: {message}")]
pub struct SelectorError {
    /// Byte offset into the selector text (for [`Selector::to_promql_matchers`]: into the
    /// selector's `Display` form).
    pub position: usize,
    /// What was expected or which rule was broken, quoting the offending key or value.
    pub message: String,
    reason: &'static str,
}

impl SelectorError {
    /// A bounded label for `*_errors_total{reason}`: `syntax`, `invalid_key`,
    /// `invalid_value`, `unsupported_operator` or `not_promql_label`.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    fn new(position: usize, reason: &'static str, message: String) -> SelectorError {
        SelectorError {
            position,
            message,
            reason,
        }
    }

    fn syntax(position: usize, message: String) -> SelectorError {
        SelectorError::new(position, "syntax", message)
    }
}

/// A parsed label selector: every requirement must hold. No requirements matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

/// One condition on one label key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Operator,
    /// One value for `Equals`/`NotEquals`, a sorted set without duplicates (at least one,
    /// possibly the empty string) for `In`/`NotIn`, none for `Exists`/`DoesNotExist`.
    pub values: Vec<String>,
}

/// How a [`Requirement`] compares the label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value` or `key==value`: the key is present with this value.
    Equals,
    /// `key!=value`: the key is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the key is present with one of the values.
    In,
    /// `key notin (a,b)`: the key is absent or has none of the values.
    NotIn,
    /// `key`: the key is present (with any value, even empty).
    Exists,
    /// `!key`: the key is absent.
    DoesNotExist,
}

/// Parses a Kubernetes label selector string (see the module docs for the grammar). The
/// empty or all-whitespace string is the selector that matches everything.
pub fn parse(text: &str) -> Result<Selector, SelectorError> {
    let mut parser = Parser::new(text);
    let mut requirements = Vec::new();
    if parser.current.kind == TokenKind::End {
        return Ok(Selector { requirements });
    }
    let mut after_comma = false;
    loop {
        let requirement = parser.requirement(after_comma)?;
        match parser.current.kind {
            TokenKind::End => {
                requirements.push(requirement);
                return Ok(Selector { requirements });
            }
            TokenKind::Comma => parser.advance(),
            _ => {
                return Err(SelectorError::syntax(
                    parser.current.start,
                    format!(
                        "expected \",\" or end of selector after {}, found {}",
                        quote(&requirement.to_string()),
                        parser.current.describe()
                    ),
                ))
            }
        }
        requirements.push(requirement);
        after_comma = true;
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(text: &str) -> Result<Selector, SelectorError> {
        parse(text)
    }
}

impl Selector {
    /// Whether a label set satisfies every requirement; `get` returns a label's value, or
    /// `None` when the label is absent (which differs from present-and-empty here).
    pub fn matches<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(get(&requirement.key)))
    }

    /// The PromQL matchers (comma-separated, without braces) selecting the same series.
    ///
    /// Prometheus has no absent-versus-empty distinction — an absent label equals `""` — so
    /// the translation is exact over Prometheus series: `a=b` → `a="b"`, `a!=b` → `a!="b"`,
    /// `a in (x,y)` → `a=~"x|y"`, `a notin (x,y)` → `a!~"x|y"`, `a` → `a!=""`,
    /// `!a` → `a=""`. Set values are regex-escaped (`.` becomes `\.`, written `\\.` inside
    /// the PromQL string). The empty selector gives the empty string; callers add the
    /// metric name before putting it in braces.
    ///
    /// Keys that are not Prometheus label names (`[a-zA-Z_][a-zA-Z0-9_]*`: no prefix, `.`,
    /// `-` or leading digit) are refused; the error's position is the requirement's offset
    /// in this selector's `Display` form.
    pub fn to_promql_matchers(&self) -> Result<String, SelectorError> {
        let mut matchers = Vec::with_capacity(self.requirements.len());
        let mut position = 0;
        for requirement in &self.requirements {
            matchers.push(requirement.promql_matcher(position)?);
            position += requirement.to_string().len() + 1;
        }
        Ok(matchers.join(","))
    }
}

impl Requirement {
    /// Whether a label with this value (`None`: absent) satisfies the requirement.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let present_and_listed =
            value.is_some_and(|value| self.values.iter().any(|listed| listed == value));
        match self.op {
            Operator::Equals | Operator::In => present_and_listed,
            Operator::NotEquals | Operator::NotIn => !present_and_listed,
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }

    fn single_value(&self) -> &str {
        self.values.first().map_or("", String::as_str)
    }

    fn promql_matcher(&self, position: usize) -> Result<String, SelectorError> {
        let key = &self.key;
        if !is_prometheus_label_name(key) {
            return Err(SelectorError::new(
                position,
                "not_promql_label",
                format!(
                    "label key {} is not a valid Prometheus label name \
                     (it must match [a-zA-Z_][a-zA-Z0-9_]*)",
                    quote(key)
                ),
            ));
        }
        let matcher = match self.op {
            Operator::Equals => format!("{key}={}", promql_string(self.single_value())),
            Operator::NotEquals => format!("{key}!={}", promql_string(self.single_value())),
            Operator::In => format!("{key}=~{}", promql_string(&self.alternation(position)?)),
            Operator::NotIn => format!("{key}!~{}", promql_string(&self.alternation(position)?)),
            Operator::Exists => format!("{key}!=\"\""),
            Operator::DoesNotExist => format!("{key}=\"\""),
        };
        Ok(matcher)
    }

    /// The set as an anchored-by-PromQL regex `v1|v2`. An empty set (only possible for a
    /// hand-built requirement) has no regex with the same meaning, so it is refused.
    fn alternation(&self, position: usize) -> Result<String, SelectorError> {
        if self.values.is_empty() {
            return Err(SelectorError::syntax(
                position,
                format!("the set for key {} is empty", quote(&self.key)),
            ));
        }
        let escaped: Vec<String> = self
            .values
            .iter()
            .map(|value| regex_escape(value))
            .collect();
        Ok(escaped.join("|"))
    }
}

impl fmt::Display for Selector {
    /// Kubernetes' canonical form: requirements in order, joined by `,`, sets sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match self.op {
            Operator::Equals => write!(f, "{key}={}", self.single_value()),
            Operator::NotEquals => write!(f, "{key}!={}", self.single_value()),
            Operator::In => write!(f, "{key} in ({})", set_text(&self.values)),
            Operator::NotIn => write!(f, "{key} notin ({})", set_text(&self.values)),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

/// Sorted, deduplicated values joined by `,`; the set holding only the empty value prints as
/// `,` because `()` is refused by [`parse`].
fn set_text(values: &[String]) -> String {
    let mut sorted: Vec<&str> = values.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted == [""] {
        return ",".to_owned();
    }
    sorted.join(",")
}

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenKind {
    /// A run of characters that are neither whitespace nor one of `=!(),<>`: a key, a value
    /// or the keywords `in`/`notin`.
    Word,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    OpenParen,
    CloseParen,
    Comma,
    Greater,
    Less,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: TokenKind,
    text: &'a str,
    /// Byte offset of the token (the input length for [`TokenKind::End`]).
    start: usize,
}

impl Token<'_> {
    /// The token as an error message names it.
    fn describe(&self) -> String {
        match self.kind {
            TokenKind::End => "end of selector".to_owned(),
            _ => quote(self.text),
        }
    }
}

/// Whitespace as Kubernetes' selector lexer defines it.
fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_symbol(byte: u8) -> bool {
    matches!(byte, b'=' | b'!' | b'(' | b')' | b',' | b'<' | b'>')
}

/// The token starting at or after `*position`, advancing `*position` past it. Two-byte
/// operators (`!=`, `==`) win over their one-byte prefixes.
fn next_token<'a>(text: &'a str, position: &mut usize) -> Token<'a> {
    let bytes = text.as_bytes();
    let mut start = *position;
    while bytes.get(start).is_some_and(|&byte| is_whitespace(byte)) {
        start += 1;
    }
    let (kind, len) = match (bytes.get(start), bytes.get(start + 1)) {
        (None, _) => (TokenKind::End, 0),
        (Some(b'!'), Some(b'=')) => (TokenKind::NotEquals, 2),
        (Some(b'='), Some(b'=')) => (TokenKind::DoubleEquals, 2),
        (Some(b'!'), _) => (TokenKind::Bang, 1),
        (Some(b'='), _) => (TokenKind::Equals, 1),
        (Some(b'('), _) => (TokenKind::OpenParen, 1),
        (Some(b')'), _) => (TokenKind::CloseParen, 1),
        (Some(b','), _) => (TokenKind::Comma, 1),
        (Some(b'>'), _) => (TokenKind::Greater, 1),
        (Some(b'<'), _) => (TokenKind::Less, 1),
        (Some(_), _) => {
            let word_len = bytes[start..]
                .iter()
                .take_while(|&&byte| !is_whitespace(byte) && !is_symbol(byte))
                .count();
            (TokenKind::Word, word_len)
        }
    };
    // Token boundaries fall on ASCII bytes, so they are character boundaries.
    let end = start + len;
    *position = end;
    Token {
        kind,
        text: text.get(start..end).unwrap_or_default(),
        start,
    }
}

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

/// A recursive-descent parser with one token of lookahead (`current`).
struct Parser<'a> {
    text: &'a str,
    /// Where the lexer continues after `current`.
    next_position: usize,
    current: Token<'a>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        let mut next_position = 0;
        let current = next_token(text, &mut next_position);
        Parser {
            text,
            next_position,
            current,
        }
    }

    fn advance(&mut self) {
        self.current = next_token(self.text, &mut self.next_position);
    }

    /// One requirement; leaves `current` on the token after it.
    fn requirement(&mut self, after_comma: bool) -> Result<Requirement, SelectorError> {
        match self.current.kind {
            TokenKind::Bang => {
                self.advance();
                let key = self.key("after \"!\"")?;
                Ok(requirement(key, Operator::DoesNotExist, Vec::new()))
            }
            TokenKind::Word => {
                let key = self.key("")?;
                self.operator_and_values(key)
            }
            _ => {
                let context = if after_comma { " after \",\"" } else { "" };
                Err(SelectorError::syntax(
                    self.current.start,
                    format!(
                        "expected a label key or \"!\"{context}, found {}",
                        self.current.describe()
                    ),
                ))
            }
        }
    }

    /// A validated key at `current`; `context` says what it follows, for the error.
    fn key(&mut self, context: &str) -> Result<String, SelectorError> {
        let token = self.current;
        if token.kind != TokenKind::Word {
            let separator = if context.is_empty() { "" } else { " " };
            return Err(SelectorError::syntax(
                token.start,
                format!(
                    "expected a label key{separator}{context}, found {}",
                    token.describe()
                ),
            ));
        }
        validate_key(token.text, token.start)?;
        self.advance();
        Ok(token.text.to_owned())
    }

    fn operator_and_values(&mut self, key: String) -> Result<Requirement, SelectorError> {
        let token = self.current;
        match token.kind {
            TokenKind::End | TokenKind::Comma => Ok(requirement(key, Operator::Exists, Vec::new())),
            TokenKind::Equals | TokenKind::DoubleEquals | TokenKind::NotEquals => {
                self.advance();
                let value = self.single_value(&key, token.text)?;
                let op = if token.kind == TokenKind::NotEquals {
                    Operator::NotEquals
                } else {
                    Operator::Equals
                };
                Ok(requirement(key, op, vec![value]))
            }
            TokenKind::Word if token.text == "in" || token.text == "notin" => {
                self.advance();
                let values = self.set(&key, token.text)?;
                let op = if token.text == "in" {
                    Operator::In
                } else {
                    Operator::NotIn
                };
                Ok(requirement(key, op, values))
            }
            TokenKind::Greater | TokenKind::Less => Err(SelectorError::new(
                token.start,
                "unsupported_operator",
                "numeric comparison operators (> and <) are not supported in this selector"
                    .to_owned(),
            )),
            _ => Err(SelectorError::syntax(
                token.start,
                format!(
                    "expected \"=\", \"!=\", \"in\" or \"notin\" after key {}, found {}",
                    quote(&key),
                    token.describe()
                ),
            )),
        }
    }

    /// The value after `=`, `==` or `!=`; nothing before `,` or the end is the empty value.
    fn single_value(&mut self, key: &str, operator: &str) -> Result<String, SelectorError> {
        let token = self.current;
        match token.kind {
            TokenKind::End | TokenKind::Comma => Ok(String::new()),
            TokenKind::Word => {
                validate_value(key, token.text, token.start)?;
                self.advance();
                Ok(token.text.to_owned())
            }
            _ => Err(SelectorError::syntax(
                token.start,
                format!(
                    "expected a value for key {} after {}, found {}",
                    quote(key),
                    quote(operator),
                    token.describe()
                ),
            )),
        }
    }

    /// `( … )` after `in`/`notin`: sorted, deduplicated values, at least one.
    fn set(&mut self, key: &str, operator: &str) -> Result<Vec<String>, SelectorError> {
        if self.current.kind != TokenKind::OpenParen {
            return Err(SelectorError::syntax(
                self.current.start,
                format!(
                    "expected \"(\" after {}, found {}",
                    quote(operator),
                    self.current.describe()
                ),
            ));
        }
        self.advance();
        if self.current.kind == TokenKind::CloseParen {
            return Err(SelectorError::syntax(
                self.current.start,
                format!(
                    "expected at least one value in the set for key {}, found \")\" \
                     (write \"(,)\" for the empty value)",
                    quote(key)
                ),
            ));
        }
        let mut values = self.set_elements(key)?;
        values.sort_unstable();
        values.dedup();
        Ok(values)
    }

    /// Elements up to and including `)`. An element missing between `(`, `,` and `)` is the
    /// empty value, as in Kubernetes (`(,b)`, `(b,,c)`, `(b,)`).
    fn set_elements(&mut self, key: &str) -> Result<Vec<String>, SelectorError> {
        let mut values = Vec::new();
        let mut expecting_element = true;
        loop {
            let token = self.current;
            match (token.kind, expecting_element) {
                (TokenKind::Word, true) => {
                    validate_value(key, token.text, token.start)?;
                    values.push(token.text.to_owned());
                    expecting_element = false;
                }
                (TokenKind::Comma, true) => values.push(String::new()),
                (TokenKind::Comma, false) => expecting_element = true,
                (TokenKind::CloseParen, true) => {
                    values.push(String::new());
                    self.advance();
                    return Ok(values);
                }
                (TokenKind::CloseParen, false) => {
                    self.advance();
                    return Ok(values);
                }
                (_, true) => {
                    return Err(SelectorError::syntax(
                        token.start,
                        format!(
                            "expected a value, \",\" or \")\" in the set for key {}, found {}",
                            quote(key),
                            token.describe()
                        ),
                    ))
                }
                (_, false) => {
                    let last = values.last().map_or("", String::as_str);
                    return Err(SelectorError::syntax(
                        token.start,
                        format!(
                            "expected \",\" or \")\" after value {} in the set for key {}, found {}",
                            quote(last),
                            quote(key),
                            token.describe()
                        ),
                    ));
                }
            }
            self.advance();
        }
    }
}

fn requirement(key: String, op: Operator, values: Vec<String>) -> Requirement {
    Requirement { key, op, values }
}

// ---------------------------------------------------------------------------------------
// Validation (k8s.io/apimachinery/pkg/util/validation: IsQualifiedName, IsValidLabelValue)
// ---------------------------------------------------------------------------------------

const NAME_RULE: &str =
    "consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";

fn validate_key(key: &str, position: usize) -> Result<(), SelectorError> {
    key_problem(key).map_or(Ok(()), |problem| {
        Err(SelectorError::new(
            position,
            "invalid_key",
            format!("invalid label key {}: {problem}", quote(key)),
        ))
    })
}

/// The rule a label key breaks, if any.
fn key_problem(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    let (prefix, name) = match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, _) => (None, name),
        (Some(prefix), Some(name), None) => (Some(prefix), name),
        _ => {
            return Some(
                "a key is a name with an optional DNS subdomain prefix and \"/\", \
                 so it may contain at most one \"/\""
                    .to_owned(),
            )
        }
    };
    prefix
        .and_then(prefix_problem)
        .or_else(|| name_problem(name))
}

fn prefix_problem(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return Some("the prefix before \"/\" must not be empty".to_owned());
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Some(format!(
            "the prefix must be {MAX_PREFIX_LEN} characters or fewer (it has {})",
            prefix.len()
        ));
    }
    if !prefix.split('.').all(is_dns_label) {
        return Some(
            "the prefix must be a DNS subdomain: lowercase alphanumerics, '-' and '.', \
             each '.'-separated part starting and ending with an alphanumeric"
                .to_owned(),
        );
    }
    None
}

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name must not be empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!(
            "the name must be {MAX_NAME_LEN} characters or fewer (it has {})",
            name.len()
        ));
    }
    if !is_name(name) {
        return Some(format!("the name must {NAME_RULE}"));
    }
    None
}

fn validate_value(key: &str, value: &str, position: usize) -> Result<(), SelectorError> {
    let problem = if value.len() > MAX_VALUE_LEN {
        format!(
            "a label value must be {MAX_VALUE_LEN} characters or fewer (it has {})",
            value.len()
        )
    } else if !value.is_empty() && !is_name(value) {
        format!("a label value must be empty or {NAME_RULE}")
    } else {
        return Ok(());
    };
    Err(SelectorError::new(
        position,
        "invalid_value",
        format!(
            "invalid label value {} for key {}: {problem}",
            quote(value),
            quote(key)
        ),
    ))
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    let inner_ok = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.');
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes.iter().all(inner_ok)
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_dns_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let end_ok = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            end_ok(first) && end_ok(last) && bytes.iter().all(|byte| end_ok(byte) || *byte == b'-')
        }
        _ => false,
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn is_prometheus_label_name(key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes
        .first()
        .is_some_and(|first| first.is_ascii_alphabetic() || *first == b'_')
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
}

// ---------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------

/// Escapes RE2 metacharacters so a value matches only itself. Parsed values can only
/// contain `.` of these, but a hand-built requirement may hold anything.
fn regex_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        if "\\.+*?()|[]{}^$".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// A PromQL double-quoted string literal holding `value`.
fn promql_string(value: &str) -> String {
    let mut literal = String::with_capacity(value.len() + 2);
    literal.push('"');
    for character in value.chars() {
        match character {
            '\\' => literal.push_str("\\\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str("\\n"),
            _ => literal.push(character),
        }
    }
    literal.push('"');
    literal
}

/// `text` in double quotes with Rust escapes, cut to [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(QUOTE_CHARS).collect();
    format!("{cut:?}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn req(key: &str, op: Operator, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_owned(),
            op,
            values: values.iter().map(|value| (*value).to_owned()).collect(),
        }
    }

    fn parsed(text: &str) -> Vec<Requirement> {
        parse(text).unwrap().requirements
    }

    fn error_at(text: &str) -> (usize, String) {
        let error = parse(text).unwrap_err();
        (error.position, error.message)
    }

    #[test]
    fn empty_and_blank_selectors_match_everything() {
        for text in ["", " ", "\t\r\n "] {
            let selector = parse(text).unwrap();
            assert!(selector.requirements.is_empty(), "{text:?}");
            assert!(selector.matches(|_| None));
            assert_eq!(selector.to_promql_matchers().unwrap(), "");
            assert_eq!(selector.to_string(), "");
        }
    }

    #[test]
    fn parses_every_operator() {
        use Operator::*;
        let cases: &[(&str, Requirement)] = &[
            ("a", req("a", Exists, &[])),
            ("!a", req("a", DoesNotExist, &[])),
            ("a=b", req("a", Equals, &["b"])),
            ("a==b", req("a", Equals, &["b"])),
            ("a!=b", req("a", NotEquals, &["b"])),
            ("a in (x,y)", req("a", In, &["x", "y"])),
            ("a notin (x,y)", req("a", NotIn, &["x", "y"])),
            (
                "example.com/app-name_1.x=V-1_2.3",
                req("example.com/app-name_1.x", Equals, &["V-1_2.3"]),
            ),
            ("k8s.io/a=b", req("k8s.io/a", Equals, &["b"])),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text), vec![expected.clone()], "{text:?}");
        }
    }

    #[test]
    fn parses_the_documented_example() {
        use Operator::*;
        let text = "env in (prod, qa),tier notin (front),!canary,region";
        assert_eq!(
            parsed(text),
            vec![
                req("env", In, &["prod", "qa"]),
                req("tier", NotIn, &["front"]),
                req("canary", DoesNotExist, &[]),
                req("region", Exists, &[]),
            ]
        );
        let selector = parse(text).unwrap();
        assert_eq!(
            selector.to_string(),
            "env in (prod,qa),tier notin (front),!canary,region"
        );
        assert_eq!(
            selector.to_promql_matchers().unwrap(),
            r#"env=~"prod|qa",tier!~"front",canary="",region!="""#
        );
    }

    #[test]
    fn whitespace_is_allowed_around_every_token() {
        use Operator::*;
        let expected = vec![
            req("a", Equals, &["b"]),
            req("c", NotEquals, &["d"]),
            req("e", In, &["f", "g"]),
            req("h", DoesNotExist, &[]),
            req("i", Exists, &[]),
        ];
        for text in [
            "a=b,c!=d,e in (f,g),!h,i",
            "  a = b , c != d , e in ( f , g ) , ! h , i  ",
            "a=b,c!=d,e in(f,g),!h,i",
            "\ta\n=\rb,c\t!=\nd,e\tin\n(\tf\r,\ng\t),!\th,i\n",
        ] {
            assert_eq!(parsed(text), expected, "{text:?}");
        }
    }

    #[test]
    fn in_and_notin_are_keywords_only_in_operator_position() {
        use Operator::*;
        assert_eq!(
            parsed("in in (in,notin)"),
            vec![req("in", In, &["in", "notin"])]
        );
        assert_eq!(parsed("notin=in"), vec![req("notin", Equals, &["in"])]);
        assert_eq!(parsed("in"), vec![req("in", Exists, &[])]);
        assert_eq!(parsed("!notin"), vec![req("notin", DoesNotExist, &[])]);
    }

    #[test]
    fn empty_values_are_allowed_after_equals_and_inside_sets() {
        use Operator::*;
        let cases: &[(&str, Requirement)] = &[
            ("a=", req("a", Equals, &[""])),
            ("a==", req("a", Equals, &[""])),
            ("a!=", req("a", NotEquals, &[""])),
            ("a in (,b)", req("a", In, &["", "b"])),
            ("a in (b,,c)", req("a", In, &["", "b", "c"])),
            ("a in (b,)", req("a", In, &["", "b"])),
            ("a notin (,)", req("a", NotIn, &[""])),
            ("a in ( , )", req("a", In, &[""])),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text), vec![expected.clone()], "{text:?}");
        }
        assert_eq!(
            parsed("a=,b="),
            vec![req("a", Equals, &[""]), req("b", Equals, &[""])]
        );
    }

    #[test]
    fn sets_are_sorted_and_deduplicated() {
        assert_eq!(
            parsed("a in (c,b,c,a)"),
            vec![req("a", Operator::In, &["a", "b", "c"])]
        );
    }

    #[test]
    fn display_prints_kubernetes_canonical_form() {
        let cases = [
            ("a = b", "a=b"),
            ("a==b", "a=b"),
            ("a != b", "a!=b"),
            ("a=", "a="),
            ("a in ( z , y )", "a in (y,z)"),
            ("a notin (,b)", "a notin (,b)"),
            ("a in (,)", "a in (,)"),
            ("! a , b", "!a,b"),
            ("b=1,a=2", "b=1,a=2"),
        ];
        for (text, canonical) in cases {
            assert_eq!(parse(text).unwrap().to_string(), canonical, "{text:?}");
        }
        let unsorted = Selector {
            requirements: vec![req("a", Operator::In, &["b", "a", "b"])],
        };
        assert_eq!(unsorted.to_string(), "a in (a,b)");
    }

    /// Label sets for the truth table: absent, present and empty, present with the listed
    /// value, present with another value.
    const LABEL_CASES: [Option<&str>; 4] = [None, Some(""), Some("x"), Some("other")];

    fn truth_table(text: &str) -> [bool; 4] {
        let selector = parse(text).unwrap();
        LABEL_CASES.map(|value| selector.matches(|key| if key == "a" { value } else { None }))
    }

    #[test]
    fn matches_follows_kubernetes_semantics_for_every_operator() {
        //                                     absent  ""     "x"    "other"
        assert_eq!(truth_table("a=x"), [false, false, true, false]);
        assert_eq!(truth_table("a==x"), [false, false, true, false]);
        assert_eq!(truth_table("a="), [false, true, false, false]);
        assert_eq!(truth_table("a!=x"), [true, true, false, true]);
        assert_eq!(truth_table("a!="), [true, false, true, true]);
        assert_eq!(truth_table("a in (x,y)"), [false, false, true, false]);
        assert_eq!(truth_table("a in (,x)"), [false, true, true, false]);
        assert_eq!(truth_table("a notin (x,y)"), [true, true, false, true]);
        assert_eq!(truth_table("a notin (,x)"), [true, false, false, true]);
        assert_eq!(truth_table("a"), [false, true, true, true]);
        assert_eq!(truth_table("!a"), [true, false, false, false]);
    }

    #[test]
    fn matches_requires_every_requirement() {
        let selector = parse("env in (prod, qa),tier notin (front),!canary,region").unwrap();
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect()
        };
        let matching = labels(&[("env", "prod"), ("region", "eu"), ("tier", "back")]);
        assert!(selector.matches(|key| matching.get(key).map(String::as_str)));
        let no_tier = labels(&[("env", "qa"), ("region", "")]);
        assert!(selector.matches(|key| no_tier.get(key).map(String::as_str)));
        for failing in [
            labels(&[("env", "dev"), ("region", "eu")]),
            labels(&[("env", "prod"), ("region", "eu"), ("tier", "front")]),
            labels(&[("env", "prod"), ("region", "eu"), ("canary", "true")]),
            labels(&[("env", "prod")]),
        ] {
            assert!(
                !selector.matches(|key| failing.get(key).map(String::as_str)),
                "{failing:?}"
            );
        }
    }

    #[test]
    fn translates_every_operator_to_promql() {
        let cases = [
            ("a=b", r#"a="b""#),
            ("a==b", r#"a="b""#),
            ("a=", r#"a="""#),
            ("a!=b", r#"a!="b""#),
            ("a!=", r#"a!="""#),
            ("a in (x,y)", r#"a=~"x|y""#),
            ("a in (,x)", r#"a=~"|x""#),
            ("a notin (x,y)", r#"a!~"x|y""#),
            ("a", r#"a!="""#),
            ("!a", r#"a="""#),
            ("a in (x.y,z-1_2)", r#"a=~"x\\.y|z-1_2""#),
            ("a=x.y", r#"a="x.y""#),
            ("a_b=c,B_9!=d", r#"a_b="c",B_9!="d""#),
        ];
        for (text, promql) in cases {
            let selector = parse(text).unwrap();
            assert_eq!(selector.to_promql_matchers().unwrap(), promql, "{text:?}");
        }
    }

    #[test]
    fn promql_translation_escapes_hand_built_values() {
        let selector = Selector {
            requirements: vec![
                req("a", Operator::In, &["x+y", "a\"b\\c"]),
                req("b", Operator::Equals, &["q\"\\"]),
            ],
        };
        assert_eq!(
            selector.to_promql_matchers().unwrap(),
            r#"a=~"x\\+y|a\"b\\\\c",b="q\"\\""#
        );
        let empty_set = Selector {
            requirements: vec![req("a", Operator::In, &[])],
        };
        assert!(empty_set.to_promql_matchers().is_err());
    }

    #[test]
    fn promql_translation_refuses_keys_prometheus_cannot_name() {
        for (text, position) in [
            ("app.kubernetes.io/name=x", 0),
            ("a=b,example.com/c", 4),
            ("a in (b,c),app-name", 11),
            ("a,1a", 2),
            ("a.b", 0),
        ] {
            let error = parse(text).unwrap().to_promql_matchers().unwrap_err();
            assert_eq!(error.position, position, "{text:?}");
            assert_eq!(error.reason(), "not_promql_label");
            assert!(
                error
                    .message
                    .contains("is not a valid Prometheus label name"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn malformed_selectors_report_the_byte_position() {
        let long_key = "k".repeat(64);
        let long_value = format!("a={}", "v".repeat(64));
        let cases: Vec<(&str, usize, &str)> = vec![
            ("a=b,", 4, "expected a label key or \"!\" after \",\", found end of selector"),
            (",a=b", 0, "expected a label key or \"!\", found \",\""),
            ("a=b,,c=d", 4, "expected a label key or \"!\" after \",\", found \",\""),
            (
                "a in (b",
                7,
                "expected \",\" or \")\" after value \"b\" in the set for key \"a\", found end of selector",
            ),
            ("a in b)", 5, "expected \"(\" after \"in\", found \"b\""),
            ("a in ()", 6, "expected at least one value in the set for key \"a\""),
            ("a notin", 7, "expected \"(\" after \"notin\", found end of selector"),
            ("!", 1, "expected a label key after \"!\", found end of selector"),
            ("!a=b", 2, "expected \",\" or end of selector after \"!a\", found \"=\""),
            ("a>1", 1, "numeric comparison operators (> and <) are not supported in this selector"),
            ("a<1", 1, "numeric comparison operators (> and <) are not supported in this selector"),
            ("a b", 2, "expected \"=\", \"!=\", \"in\" or \"notin\" after key \"a\", found \"b\""),
            ("a=b c", 4, "expected \",\" or end of selector after \"a=b\", found \"c\""),
            ("=b", 0, "expected a label key or \"!\", found \"=\""),
            ("a/b/c=d", 0, "invalid label key \"a/b/c\": a key is a name with an optional DNS subdomain prefix and \"/\", so it may contain at most one \"/\""),
            ("-a=b", 0, "invalid label key \"-a\": the name must consist of alphanumerics"),
            (&long_key, 0, "the name must be 63 characters or fewer (it has 64)"),
            (&long_value, 2, "a label value must be 63 characters or fewer (it has 64)"),
            ("a in (b c)", 8, "expected \",\" or \")\" after value \"b\""),
            ("a in (b,(", 8, "expected a value, \",\" or \")\" in the set for key \"a\", found \"(\""),
            ("a=(", 2, "expected a value for key \"a\" after \"=\", found \"(\""),
            ("a!==b", 3, "expected a value for key \"a\" after \"!=\", found \"=\""),
            ("a=b)", 3, "expected \",\" or end of selector after \"a=b\", found \")\""),
            ("x=1,a=b$c", 6, "invalid label value \"b$c\" for key \"a\": a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"),
            ("a=-b", 2, "invalid label value \"-b\""),
            ("/a=b", 0, "the prefix before \"/\" must not be empty"),
            ("a/=b", 0, "the name must not be empty"),
            ("Example.com/a", 0, "the prefix must be a DNS subdomain"),
            ("ex..com/a", 0, "the prefix must be a DNS subdomain"),
            ("é=b", 0, "invalid label key \"é\""),
            ("a in (b) x", 9, "after \"a in (b)\", found \"x\""),
        ];
        for (text, position, message) in cases {
            let (actual_position, actual_message) = error_at(text);
            assert_eq!(actual_position, position, "{text:?}: {actual_message}");
            assert!(
                actual_message.contains(message),
                "{text:?}: {actual_message:?} does not contain {message:?}"
            );
        }
    }

    #[test]
    fn key_and_value_length_limits_are_inclusive() {
        let name = "n".repeat(MAX_NAME_LEN);
        let value = "v".repeat(MAX_VALUE_LEN);
        let prefix = format!("{}.{}", "p".repeat(63), "q".repeat(63));
        assert!(parse(&format!("{name}={value}")).is_ok());
        assert!(parse(&format!("{prefix}/{name}")).is_ok());
        let long_label = format!("{}/a", "p".repeat(64));
        assert!(
            parse(&long_label).is_ok(),
            "labels of a DNS subdomain are not limited to 63 here"
        );
        let long_prefix = format!("{}/a", "p".repeat(MAX_PREFIX_LEN + 1));
        assert!(error_at(&long_prefix)
            .1
            .contains("253 characters or fewer (it has 254)"));
    }

    #[test]
    fn error_display_and_reasons() {
        let error = parse("env foo").unwrap_err();
        assert_eq!(
            error.to_string(),
            "at byte 4: expected \"=\", \"!=\", \"in\" or \"notin\" after key \"env\", found \"foo\""
        );
        assert_eq!(error.reason(), "syntax");
        assert_eq!(parse("-a").unwrap_err().reason(), "invalid_key");
        assert_eq!(parse("a=-").unwrap_err().reason(), "invalid_value");
        assert_eq!(parse("a>1").unwrap_err().reason(), "unsupported_operator");
        let long = parse(&format!("{}$", "k".repeat(300))).unwrap_err();
        assert!(long.message.len() < 400, "long input is cut in messages");
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?",
            Just("in".to_owned()),
            Just("notin".to_owned()),
        ]
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        let prefix = "[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?){0,2}";
        (proptest::option::of(prefix), name_strategy()).prop_map(|(prefix, name)| match prefix {
            Some(prefix) => format!("{prefix}/{name}"),
            None => name,
        })
    }

    fn value_strategy() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), name_strategy()]
    }

    fn requirement_strategy() -> impl Strategy<Value = Requirement> {
        let op = prop_oneof![
            Just(Operator::Equals),
            Just(Operator::NotEquals),
            Just(Operator::In),
            Just(Operator::NotIn),
            Just(Operator::Exists),
            Just(Operator::DoesNotExist),
        ];
        (
            key_strategy(),
            op,
            proptest::collection::vec(value_strategy(), 1..5),
        )
            .prop_map(|(key, op, mut values)| {
                match op {
                    Operator::Equals | Operator::NotEquals => values.truncate(1),
                    Operator::In | Operator::NotIn => {
                        values.sort_unstable();
                        values.dedup();
                    }
                    Operator::Exists | Operator::DoesNotExist => values.clear(),
                }
                Requirement { key, op, values }
            })
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_selector(
            requirements in proptest::collection::vec(requirement_strategy(), 0..6)
        ) {
            let selector = Selector { requirements };
            let text = selector.to_string();
            prop_assert_eq!(parse(&text).unwrap(), selector, "{}", text);
        }

        #[test]
        fn parse_never_panics(text in "[a-z =!(),<>in\\t.-/]{0,24}") {
            let _ = parse(&text);
        }
    }
}
