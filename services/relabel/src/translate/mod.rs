//! Translation of Go `regexp/syntax` patterns (RE2 with Perl flags, as used by Prometheus
//! through `github.com/grafana/regexp`) into the syntax of the `regex` crate.
//!
//! Both engines are RE2-style (no backreferences, leftmost-first submatches), but the same
//! text does not always mean the same thing. Users paste patterns written for Go, so the
//! pattern is parsed the way Go's parser (`regexp/syntax/parse.go`, Go 1.19/1.20, which built
//! Prometheus 2.42) reads it and re-emitted in a form the `regex` crate reads identically:
//!
//! | Go text | Go meaning | emitted |
//! |---|---|---|
//! | `\d \s \w` (and negations) | ASCII classes | explicit ASCII classes (Rust's are Unicode) |
//! | `\b \B` | ASCII word boundary | `(?-u:\b)` / `(?-u:\B)` |
//! | `\Q…\E` | literal text | escaped literals (Rust has no `\Q`) |
//! | `\123`, `\x7`…, `\a \f \v` | octal / hex / C escapes | `\x{…}` |
//! | `\<`, `\>`, any escaped punctuation | the literal character | `\x{…}` (Rust: word boundaries) |
//! | `[a&&b]`, `[a--b]`, `[[a]` in a class | literal `&`, `-`, `[` | every class member escaped |
//! | `{` not starting a valid repeat (`a{`, `a{,3}`) | literal `{` | `\{` |
//! | `(?)` | no-op | nothing |
//! | `a(?i)*` | `*` applies to `a` | `a*(?i)` (greediness fixed up if `(?U)` moved) |
//! | `\p{Greek}`, `\pC`, `\p{Cs}` | script / `Cc∪Cf∪Co∪Cs` / surrogates | `\p{sc=Greek}` / explicit union / empty class |
//!
//! Go errors that Rust would accept are reproduced: invalid escapes, nested repetition
//! (`a**`), repeat counts over 1000, flags other than `imsU`, bad capture names.
//! Capture groups are emitted unnamed and their Go names are returned separately, because Go
//! accepts names Rust rejects (`(?P<1x>…)`) and `$name` expansion needs Go's lookup rule.
//!
//! Checked against Go 1.19's `regexp` on 300,000 random (pattern, haystack, template)
//! cases (`testdata/go_regexp/`): same compile errors, matches and expansions, except the
//! deviations below. A sample is kept as `testdata/go_regexp.golden`.
//!
//! Deviations: `(?<name>…)` is accepted (Go ≥ 1.22 accepts it, 1.19 did not); Unicode class
//! names are resolved by the `regex` crate, which knows more names and aliases than Go, and
//! Unicode tables are newer than Go 1.19's (Unicode 13); surrogate code points in
//! `\x{D800}`-style escapes are rejected; patterns whose compiled form exceeds the `regex`
//! crate's size limit (e.g. `[\pL\d]{1000}`) are rejected where Go accepts them.

use thiserror::Error;

mod lexer;

use lexer::{
    class_char, parse_escape, parse_repeat, perl_class, push_class_range, push_literal,
    unicode_class, POSIX_CLASSES,
};

/// A Go pattern that Go's parser rejects (or that has no `regex` crate equivalent).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: `{expr}`")]
pub struct SyntaxError {
    /// Go's error code text, e.g. "invalid escape sequence".
    pub code: &'static str,
    /// The offending part of the pattern.
    pub expr: String,
}

impl SyntaxError {
    /// Bounded reason for metrics labels (Go's error code as a slug).
    pub fn reason(&self) -> &'static str {
        match self.code {
            MISSING_BRACKET => "missing_bracket",
            INVALID_RANGE => "invalid_char_range",
            INVALID_ESCAPE => "invalid_escape",
            TRAILING_BACKSLASH => "trailing_backslash",
            INVALID_REPEAT_OP => "invalid_repeat_op",
            INVALID_REPEAT_SIZE => "invalid_repeat_size",
            INVALID_NAMED_CAPTURE => "invalid_named_capture",
            INVALID_PERL_OP => "invalid_perl_op",
            _ => "syntax",
        }
    }
}

fn err(code: &'static str, expr: &str) -> SyntaxError {
    SyntaxError {
        code,
        expr: expr.to_owned(),
    }
}

const MISSING_BRACKET: &str = "missing closing ]";
const INVALID_RANGE: &str = "invalid character class range";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";

/// Go's `maxRepeat`.
const MAX_REPEAT: u32 = 1000;

/// A translated pattern and the Go names of its capture groups.
#[derive(Debug, Clone)]
pub(crate) struct Translated {
    /// Pattern in `regex` crate syntax.
    pub(crate) pattern: String,
    /// Go name of each group; index 0 is the whole match and is always `None`.
    pub(crate) group_names: Vec<Option<String>>,
}

/// Translates a Go pattern (the whole text handed to `regexp.Compile`).
pub(crate) fn translate(src: &str) -> Result<Translated, SyntaxError> {
    let mut t = Translator {
        src,
        pos: 0,
        out: String::with_capacity(src.len() + 16),
        names: vec![None],
        last_repeat: None,
        ungreedy: false,
        groups: Vec::new(),
        atom_start: None,
        pending_flags: None,
    };
    t.run()?;
    Ok(Translated {
        pattern: t.out,
        group_names: t.names,
    })
}

struct Translator<'a> {
    src: &'a str,
    pos: usize,
    out: String,
    names: Vec<Option<String>>,
    /// Start of the repetition operator just emitted, if the previous token was one.
    last_repeat: Option<usize>,
    /// Go's `NonGreedy` flag (`(?U)`) at the current position.
    ungreedy: bool,
    /// Open groups: the `U` state to restore and where the group starts in `out`.
    groups: Vec<(bool, usize)>,
    /// Where the last complete atom (what a repetition would apply to) starts in `out`;
    /// `None` at the start of a group or alternative.
    atom_start: Option<usize>,
    /// Set right after flag-only groups such as `(?i)`: where their text starts in `out`
    /// and the `U` state before them. Go applies a following repetition to the atom BEFORE
    /// the flags (`a(?i)*` is `a*`), which Rust rejects, so the operator is moved there.
    pending_flags: Option<(usize, bool)>,
}

impl<'a> Translator<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn run(&mut self) -> Result<(), SyntaxError> {
        while let Some(c) = self.rest().chars().next() {
            let mut flag_group = false;
            let before = self.out.len();
            let is_repeat = match c {
                '*' | '+' | '?' => {
                    self.repeat_op(c.len_utf8(), None)?;
                    true
                }
                '{' => match parse_repeat(self.rest()) {
                    Some((min, max, len)) => {
                        self.repeat_op(len, Some((min, max)))?;
                        true
                    }
                    None => {
                        self.out.push_str("\\{");
                        self.pos += 1;
                        self.atom_start = Some(before);
                        false
                    }
                },
                '(' => {
                    flag_group = self.group()?;
                    false
                }
                '[' => {
                    self.class()?;
                    self.atom_start = Some(before);
                    false
                }
                '\\' => {
                    self.escape()?;
                    false
                }
                ')' => {
                    let (saved, start) = self.groups.pop().unwrap_or((self.ungreedy, before));
                    self.ungreedy = saved;
                    self.atom_start = Some(start);
                    self.out.push(c);
                    self.pos += 1;
                    false
                }
                '|' => {
                    self.atom_start = None;
                    self.out.push(c);
                    self.pos += 1;
                    false
                }
                '^' | '$' | '.' => {
                    self.atom_start = Some(before);
                    self.out.push(c);
                    self.pos += 1;
                    false
                }
                _ => {
                    self.atom_start = Some(before);
                    push_literal(&mut self.out, c);
                    self.pos += c.len_utf8();
                    false
                }
            };
            if !is_repeat {
                self.last_repeat = None;
            }
            if !flag_group {
                self.pending_flags = None;
            }
        }
        Ok(())
    }

    /// Emits a repetition operator of `len` bytes plus an optional non-greedy `?`.
    fn repeat_op(
        &mut self,
        len: usize,
        counts: Option<(u32, Option<u32>)>,
    ) -> Result<(), SyntaxError> {
        let start = self.pos;
        let mut end = start + len;
        if let Some((min, max)) = counts {
            if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                return Err(err(INVALID_REPEAT_SIZE, &self.src[start..end]));
            }
        }
        if self.src[end..].starts_with('?') {
            end += 1;
        }
        if let Some(previous) = self.last_repeat {
            // Go (Perl mode) refuses stacked repetitions such as `a**` or `a+*`.
            return Err(err(INVALID_REPEAT_OP, &self.src[previous..end]));
        }
        self.last_repeat = Some(start);
        let op = &self.src[start..end];
        match self.pending_flags {
            None => self.out.push_str(op),
            Some((at, ungreedy_before)) => {
                // Move the operator in front of the flag groups; Go decides greediness with
                // the flags in force after them, Rust with those before: fix up with `?`.
                let mut moved = op.to_owned();
                if ungreedy_before != self.ungreedy {
                    match moved.strip_suffix('?') {
                        Some(greedy) if !greedy.is_empty() => moved = greedy.to_owned(),
                        _ => moved.push('?'),
                    }
                }
                match self.atom_start {
                    // `X(?i)?` is `(?:X)?(?i)`: the group keeps Rust from reading `X{2}?`
                    // as a lazy `{2}` when X itself ends in a repetition.
                    Some(atom) => {
                        self.out.insert_str(at, &format!("){moved}"));
                        self.out.insert_str(atom, "(?:");
                    }
                    None => self.out.insert_str(at, &moved),
                }
            }
        }
        self.pos = end;
        Ok(())
    }

    fn open_group(&mut self) {
        self.groups.push((self.ungreedy, self.out.len()));
        self.atom_start = None;
    }

    /// Translates a group opening; returns true for a flag-only group like `(?i)`.
    fn group(&mut self) -> Result<bool, SyntaxError> {
        let rest = self.rest();
        if !rest.starts_with("(?") {
            self.open_group();
            self.names.push(None);
            self.out.push('(');
            self.pos += 1;
            return Ok(false);
        }
        let bytes = rest.as_bytes();
        let with_p = bytes.len() > 4 && bytes[2] == b'P' && bytes[3] == b'<';
        let with_name = bytes.len() > 3 && bytes[2] == b'<';
        if with_p || with_name {
            let name_start = if with_p { 4 } else { 3 };
            let Some(end) = rest.find('>') else {
                return Err(err(INVALID_NAMED_CAPTURE, rest));
            };
            let name = &rest[name_start..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err(INVALID_NAMED_CAPTURE, &rest[..=end]));
            }
            self.open_group();
            self.names.push(Some(name.to_owned()));
            self.out.push('(');
            self.pos += end + 1;
            return Ok(false);
        }
        // Flags and/or non-capturing group: (?flags) (?flags:...) with flags in [imsU-].
        let mut on = String::new();
        let mut off = String::new();
        let mut negated = false;
        let mut saw_flag = false;
        for (i, c) in rest[2..].char_indices() {
            let consumed = 2 + i + c.len_utf8();
            match c {
                'i' | 'm' | 's' | 'U' => {
                    if negated {
                        off.push(c)
                    } else {
                        on.push(c)
                    }
                    saw_flag = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' if !negated || saw_flag => {
                    let start = self.out.len();
                    if c == ':' {
                        self.open_group();
                    } else if self.pending_flags.is_none() {
                        self.pending_flags = Some((start, self.ungreedy));
                    }
                    if on.contains('U') {
                        self.ungreedy = true;
                    }
                    if off.contains('U') {
                        self.ungreedy = false;
                    }
                    if !on.is_empty() || !off.is_empty() || c == ':' {
                        self.out.push_str("(?");
                        self.out.push_str(&on);
                        if !off.is_empty() {
                            self.out.push('-');
                            self.out.push_str(&off);
                        }
                        self.out.push(c);
                    }
                    self.pos += consumed;
                    return Ok(c == ')');
                }
                _ => return Err(err(INVALID_PERL_OP, &rest[..consumed])),
            }
        }
        Err(err(INVALID_PERL_OP, rest))
    }

    fn escape(&mut self) -> Result<(), SyntaxError> {
        let rest = self.rest();
        let before = self.out.len();
        let Some(c) = rest[1..].chars().next() else {
            return Err(err(TRAILING_BACKSLASH, ""));
        };
        let simple = match c {
            'A' => Some("\\A"),
            'z' => Some("\\z"),
            'b' => Some("(?-u:\\b)"),
            'B' => Some("(?-u:\\B)"),
            _ => perl_class(c),
        };
        if let Some(text) = simple {
            self.out.push_str(text);
            self.pos += 2;
            self.atom_start = Some(before);
            return Ok(());
        }
        match c {
            'C' => Err(err(INVALID_ESCAPE, "\\C")),
            'Q' => {
                let body = &rest[2..];
                let (lit, consumed) = match body.find("\\E") {
                    Some(i) => (&body[..i], 2 + i + 2),
                    None => (body, 2 + body.len()),
                };
                for ch in lit.chars() {
                    // Each quoted character is its own atom, as in Go.
                    self.atom_start = Some(self.out.len());
                    push_literal(&mut self.out, ch);
                }
                self.pos += consumed;
                Ok(())
            }
            'p' | 'P' => {
                let len = unicode_class(rest, &mut self.out)?;
                self.pos += len;
                self.atom_start = Some(before);
                Ok(())
            }
            _ => {
                let (ch, len) = parse_escape(rest)?;
                push_literal(&mut self.out, ch);
                self.pos += len;
                self.atom_start = Some(before);
                Ok(())
            }
        }
    }

    /// Parses a bracket expression the way Go's `parseClass` does and emits a `regex` class
    /// in which every member is explicit, so Rust's class set operators never apply.
    fn class(&mut self) -> Result<(), SyntaxError> {
        let whole = self.rest();
        let mut t = 1;
        let mut out = String::from("[");
        if whole[t..].starts_with('^') {
            out.push('^');
            t += 1;
        }
        let mut first = true;
        loop {
            let rest = &whole[t..];
            if rest.is_empty() {
                return Err(err(MISSING_BRACKET, whole));
            }
            if rest.starts_with(']') && !first {
                break;
            }
            first = false;
            if rest.len() > 2 && rest.starts_with("[:") {
                if let Some(i) = rest[2..].find(":]") {
                    let name = &rest[..i + 4];
                    if !POSIX_CLASSES.contains(&name) {
                        return Err(err(INVALID_RANGE, name));
                    }
                    out.push_str(name);
                    t += name.len();
                    continue;
                }
            }
            if rest.starts_with("\\p") || rest.starts_with("\\P") {
                t += unicode_class(rest, &mut out)?;
                continue;
            }
            if let Some(text) = rest
                .strip_prefix('\\')
                .and_then(|r| r.chars().next())
                .and_then(perl_class)
            {
                out.push_str(text);
                t += 2;
                continue;
            }
            let range_start = t;
            let (lo, n) = class_char(rest, whole)?;
            t += n;
            let mut hi = lo;
            let after = &whole[t..];
            if after.len() >= 2 && after.starts_with('-') && !after[1..].starts_with(']') {
                let (h, n2) = class_char(&after[1..], whole)?;
                t += 1 + n2;
                if h < lo {
                    return Err(err(INVALID_RANGE, &whole[range_start..t]));
                }
                hi = h;
            }
            push_class_range(&mut out, lo, hi);
        }
        out.push(']');
        self.out.push_str(&out);
        self.pos += t + 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(p: &str) -> String {
        translate(p)
            .map(|t| t.pattern)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn perl_classes_become_ascii() {
        assert_eq!(tr(r"\d+"), "[0-9]+");
        assert_eq!(tr(r"\W"), "[^0-9A-Za-z_]");
        assert_eq!(tr(r"[\d]"), "[[0-9]]");
        assert_eq!(tr(r"\b"), r"(?-u:\b)");
    }

    #[test]
    fn class_members_are_escaped_so_set_operators_are_literal() {
        assert_eq!(tr("[a&&b]"), r"[\x{61}\x{26}\x{26}\x{62}]");
        assert_eq!(tr("[[a]"), r"[\x{5B}\x{61}]");
        assert_eq!(tr("[]a]"), r"[\x{5D}\x{61}]");
        assert_eq!(tr("[a-]"), r"[\x{61}\x{2D}]");
        assert_eq!(tr("[^a-z]"), r"[^\x{61}-\x{7A}]");
        assert_eq!(tr("[[:alpha:]_]"), r"[[:alpha:]\x{5F}]");
    }

    #[test]
    fn class_errors_match_go() {
        assert!(tr("[a").starts_with("ERR missing closing ]"));
        assert!(tr("[z-a]").starts_with("ERR invalid character class range"));
        assert!(tr("[[:foo:]]").starts_with("ERR invalid character class range"));
        assert!(tr(r"[\Q]").starts_with("ERR invalid escape sequence"));
    }

    #[test]
    fn quoting_and_escapes() {
        assert_eq!(tr(r"\Qa.b\E+"), r"a\x{2E}b+");
        assert_eq!(tr(r"\Q*"), r"\x{2A}");
        assert_eq!(tr(r"\101\x41\x{41}\."), r"AAA\x{2E}");
        assert_eq!(tr(r"\<"), r"\x{3C}");
        assert!(tr(r"\e").starts_with("ERR invalid escape sequence"));
        assert!(tr(r"\1").starts_with("ERR invalid escape sequence"));
        assert!(tr(r"\C").starts_with("ERR invalid escape sequence"));
        assert!(tr("a\\").starts_with("ERR trailing backslash"));
    }

    #[test]
    fn braces_that_are_not_repeats_are_literal() {
        assert_eq!(tr("a{2,3}"), "a{2,3}");
        assert_eq!(tr("a{,3}"), r"a\{\x{2C}3\x{7D}");
        assert_eq!(tr("{"), r"\{");
        assert_eq!(tr("a{01}"), r"a\{01\x{7D}");
        assert!(tr("a{1001}").starts_with("ERR invalid repeat count"));
        assert!(tr("a{3,2}").starts_with("ERR invalid repeat count"));
    }

    #[test]
    fn nested_repetition_is_rejected_like_go() {
        assert!(tr("a**").starts_with("ERR invalid nested repetition operator"));
        assert!(tr("a+?*").starts_with("ERR invalid nested repetition operator"));
        assert_eq!(tr("a*?b+"), "a*?b+");
    }

    #[test]
    fn groups_and_flags() {
        let t = translate("(a)(?P<n_1>b)(?:c)(?i)(?<x>d)").expect("valid");
        assert_eq!(t.pattern, "(a)(b)(?:c)(?i)(d)");
        assert_eq!(
            t.group_names,
            vec![None, None, Some("n_1".into()), Some("x".into())]
        );
        assert_eq!(tr("(?)a"), "a");
        assert_eq!(tr("(?i-s:a)"), "(?i-s:a)");
        assert!(tr("(?x)a").starts_with("ERR invalid or unsupported Perl syntax"));
        assert!(tr("(?i-)a").starts_with("ERR invalid or unsupported Perl syntax"));
        assert!(tr("(?P<a-b>x)").starts_with("ERR invalid named capture"));
        assert!(tr("(?P=a)").starts_with("ERR invalid or unsupported Perl syntax"));
    }

    #[test]
    fn repetition_after_flag_group_applies_to_previous_atom() {
        assert_eq!(tr("ba(?i)*"), "b(?:a)*(?i)");
        assert_eq!(tr("a(?i)(?s)+?b"), "(?:a)+?(?i)(?s)b");
        // Go makes the star non-greedy because (?U) is in force when it is parsed.
        assert_eq!(tr("a(?U)*"), "(?:a)*?(?U)");
        assert_eq!(tr("a(?U)*?"), "(?:a)*(?U)");
        assert_eq!(tr("(?U)a(?-U)*"), "(?U)(?:a)*?(?-U)");
        let closed = tr("(a(?U))b(?-U)*");
        assert_eq!(closed, "(a(?U))(?:b)*(?-U)", "(?U) ends with its group");
        assert_eq!(tr("a(?)*"), "(?:a)*");
        // The optional applies to the whole `a{2}`, not as a lazy marker.
        assert_eq!(tr("a{2}(?i)?"), "(?:a{2})?(?i)");
        assert_eq!(tr("(ab)(?i)+"), "(?:(ab))+(?i)");
        assert_eq!(tr(r"\Qxy\E(?i)*"), "x(?:y)*(?i)");
        assert_eq!(tr("(?i)*"), "*(?i)", "no atom: Rust rejects it, as Go does");
    }

    #[test]
    fn unicode_classes() {
        assert_eq!(tr(r"\pL"), r"[\p{L}]");
        assert_eq!(tr(r"\p{^Greek}"), r"[^\p{sc=Greek}]");
        assert_eq!(tr(r"\PC"), r"[^\p{Cc}\p{Cf}\p{Co}]");
        assert_eq!(tr(r"\p{Cs}"), r"[^\x{0}-\x{10FFFF}]");
        assert!(tr(r"\p{Greek").starts_with("ERR invalid character class range"));
        let e = translate("a**").expect_err("nested repeat");
        assert_eq!(
            (e.reason(), e.to_string().as_str()),
            (
                "invalid_repeat_op",
                "invalid nested repetition operator: `**`"
            )
        );
    }
}
