//! Turns query text into tokens, with Prometheus 2.42's context rules.
//!
//! PromQL's lexing depends on where you are: inside `{...}` every word is a label name and
//! numbers are errors; outside, `inf`/`nan` are numbers and `:` may start a metric name, except
//! inside `[...]` where it separates a subquery step. So this is a small state machine over
//! those two flags rather than a table of regexes. Keywords are not decided here: words come
//! out as identifiers and the parser decides, by context and ignoring case, whether `sum` is
//! an aggregation or a metric name. A lexing error becomes an `Error` token at its position,
//! so the parser reports whichever problem comes first in the text.

/// What a token is; its text is `input[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A word without `:`: metric name, label name, function or keyword.
    Ident,
    /// A word containing `:` (only valid as a metric name).
    MetricIdent,
    Number,
    Duration,
    /// A string literal; the unescaped value is in `Token::value`.
    Str,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `=` (only meaningful inside braces)
    Assign,
    /// `==`
    EqlC,
    Neq,
    Lss,
    Gtr,
    Lte,
    Gte,
    EqlRegex,
    NeqRegex,
    At,
    Eof,
    /// A lexing error; the message is in `Token::value`.
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Unescaped string contents, or the error message.
    pub value: String,
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    brace_open: bool,
    bracket_open: bool,
    tokens: Vec<Token>,
}

/// Lexes the whole input; the last token is always `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        brace_open: false,
        bracket_open: false,
        tokens: Vec::new(),
    };
    while lexer.next_token() {}
    lexer.tokens
}

fn is_alpha(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_alnum(b: u8) -> bool {
    is_alpha(b) || b.is_ascii_digit()
}

fn go_quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        c => format!("'{}'", c.escape_default()),
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn current_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn emit(&mut self, kind: Kind, start: usize) -> bool {
        self.tokens.push(Token {
            kind,
            start,
            end: self.pos,
            value: String::new(),
        });
        true
    }

    fn error(&mut self, start: usize, message: String) -> bool {
        self.tokens.push(Token {
            kind: Kind::Error,
            start,
            end: self.pos,
            value: message,
        });
        false
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    while let Some(b) = self.peek() {
                        if b == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Lexes one token; returns false after `Eof` or an error.
    fn next_token(&mut self) -> bool {
        self.skip_space_and_comments();
        if self.brace_open {
            return self.inside_braces();
        }
        let start = self.pos;
        let Some(b) = self.peek() else {
            self.emit(Kind::Eof, start);
            return false;
        };
        self.pos += 1;
        let kind = match b {
            b',' => Kind::Comma,
            b'(' => Kind::LParen,
            b')' => Kind::RParen,
            b'{' => {
                self.brace_open = true;
                Kind::LBrace
            }
            b'[' => {
                if self.bracket_open {
                    return self.error(start, "unexpected left bracket '['".into());
                }
                self.bracket_open = true;
                Kind::LBracket
            }
            b']' => {
                if !self.bracket_open {
                    return self.error(start, "unexpected right bracket ']'".into());
                }
                self.bracket_open = false;
                Kind::RBracket
            }
            b'*' => Kind::Mul,
            b'/' => Kind::Div,
            b'%' => Kind::Mod,
            b'+' => Kind::Add,
            b'-' => Kind::Sub,
            b'^' => Kind::Pow,
            b'@' => Kind::At,
            b'=' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Kind::EqlC
                }
                Some(b'~') => {
                    return self.error(start, "unexpected character after '=': '~'".into());
                }
                _ => Kind::Assign,
            },
            b'!' => match self.peek() {
                Some(b'=') => {
                    self.pos += 1;
                    Kind::Neq
                }
                _ => {
                    let after = self.current_char().map_or("EOF".to_string(), go_quote_char);
                    return self.error(start, format!("unexpected character after '!': {after}"));
                }
            },
            b'<' | b'>' => {
                let with_eq = self.peek() == Some(b'=');
                if with_eq {
                    self.pos += 1;
                }
                match (b, with_eq) {
                    (b'<', true) => Kind::Lte,
                    (b'<', false) => Kind::Lss,
                    (_, true) => Kind::Gte,
                    (_, false) => Kind::Gtr,
                }
            }
            b'"' | b'\'' | b'`' => return self.string(start, b),
            b':' if self.bracket_open => Kind::Colon,
            b if b.is_ascii_digit()
                || (b == b'.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = start;
                return self.number_or_duration(start);
            }
            b if is_alpha(b) || b == b':' => {
                self.pos = start;
                return self.identifier(start);
            }
            _ => {
                self.pos = start;
                let c = self.current_char().unwrap_or('\u{fffd}');
                return self.error(start, format!("unexpected character: {}", go_quote_char(c)));
            }
        };
        self.emit(kind, start)
    }

    fn inside_braces(&mut self) -> bool {
        let start = self.pos;
        let Some(b) = self.peek() else {
            return self.error(start, "unexpected end of input inside braces".into());
        };
        self.pos += 1;
        let kind = match b {
            b',' => Kind::Comma,
            b'}' => {
                self.brace_open = false;
                Kind::RBrace
            }
            b'{' => return self.error(start, "unexpected left brace '{'".into()),
            b'=' => {
                if self.peek() == Some(b'~') {
                    self.pos += 1;
                    Kind::EqlRegex
                } else {
                    Kind::Assign
                }
            }
            b'!' => match self.peek() {
                Some(b'~') => {
                    self.pos += 1;
                    Kind::NeqRegex
                }
                Some(b'=') => {
                    self.pos += 1;
                    Kind::Neq
                }
                _ => {
                    let after = self.current_char().map_or("EOF".to_string(), go_quote_char);
                    return self.error(
                        start,
                        format!("unexpected character after '!' inside braces: {after}"),
                    );
                }
            },
            b'"' | b'\'' | b'`' => return self.string(start, b),
            b if is_alpha(b) => {
                while self.peek().is_some_and(is_alnum) {
                    self.pos += 1;
                }
                Kind::Ident
            }
            _ => {
                self.pos = start;
                let c = self.current_char().unwrap_or('\u{fffd}');
                return self.error(
                    start,
                    format!("unexpected character inside braces: {}", go_quote_char(c)),
                );
            }
        };
        self.emit(kind, start)
    }

    fn identifier(&mut self, start: usize) -> bool {
        while self.peek().is_some_and(|b| is_alnum(b) || b == b':') {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        let kind = if word.contains(':') {
            Kind::MetricIdent
        } else if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("nan") {
            Kind::Number
        } else {
            Kind::Ident
        };
        self.emit(kind, start)
    }

    fn accept_run(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    fn accept(&mut self, set: &[u8]) -> bool {
        if self.peek().is_some_and(|b| set.contains(&b)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Prometheus 2.42's `scanNumber`, then `acceptRemainingDuration` if a unit follows.
    fn number_or_duration(&mut self, start: usize) -> bool {
        let hex = self.peek() == Some(b'0') && matches!(self.peek_at(1), Some(b'x' | b'X'));
        if hex {
            self.pos += 2;
            self.accept_run(|b| b.is_ascii_hexdigit());
        } else {
            self.accept_run(|b| b.is_ascii_digit());
        }
        if self.accept(b".") {
            if hex {
                self.accept_run(|b| b.is_ascii_hexdigit());
            } else {
                self.accept_run(|b| b.is_ascii_digit());
            }
        }
        if self.accept(b"eE") {
            self.accept(b"+-");
            self.accept_run(|b| b.is_ascii_digit());
        }
        if !self.peek().is_some_and(is_alnum) {
            return self.emit(Kind::Number, start);
        }
        // A duration: unit, then optionally more number-unit pairs (no `y` after the first).
        let bad = |lexer: &mut Self| {
            let text = lexer.src[start..lexer.pos].to_string();
            lexer.error(start, format!("bad number or duration syntax: {text:?}"))
        };
        if !self.accept(b"smhdwy") {
            return bad(self);
        }
        self.accept(b"s");
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.accept_run(|b| b.is_ascii_digit());
            if !self.accept(b"smhdw") {
                return bad(self);
            }
            self.accept(b"s");
        }
        if self.peek().is_some_and(is_alnum) {
            self.pos += 1;
            return bad(self);
        }
        self.emit(Kind::Duration, start)
    }

    /// A quoted string with Go escapes, or a raw backquoted string.
    fn string(&mut self, start: usize, quote: u8) -> bool {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.current_char() else {
                let msg = if quote == b'`' {
                    "unterminated raw string"
                } else {
                    "unterminated quoted string"
                };
                return self.error(start, msg.into());
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            if c as u32 == u32::from(quote) {
                break;
            }
            if quote == b'`' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            match c {
                '\n' => return self.error(start, "unterminated quoted string".into()),
                '\\' => {
                    if let Err(msg) = self.escape(quote, &mut out) {
                        return self.error(at, msg);
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        match String::from_utf8(out) {
            Ok(value) => {
                self.tokens.push(Token {
                    kind: Kind::Str,
                    start,
                    end: self.pos,
                    value,
                });
                true
            }
            Err(_) => self.error(start, "invalid UTF-8 in string literal".into()),
        }
    }

    /// One escape sequence after a backslash, appended to `out` as bytes (octal and `\x`
    /// escapes are bytes in Go, not characters).
    fn escape(&mut self, quote: u8, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(c) = self.current_char() else {
            return Err("escape sequence not terminated".into());
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c as u32 == u32::from(quote) => Some(quote),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, base, max, is_byte) = match c {
            '0'..='7' => {
                self.pos -= 1;
                (3, 8, 255, true)
            }
            'x' => (2, 16, 255, true),
            'u' => (4, 16, 0x10ffff, false),
            'U' => (8, 16, 0x10ffff, false),
            c => return Err(format!("unknown escape sequence U+{:04X}", c as u32)),
        };
        let mut value: u32 = 0;
        for _ in 0..digits {
            let Some(d) = self.current_char() else {
                return Err("escape sequence not terminated".into());
            };
            let Some(v) = d.to_digit(base) else {
                return Err(format!(
                    "illegal character U+{:04X} in escape sequence",
                    d as u32
                ));
            };
            self.pos += d.len_utf8();
            value = value * base + v;
        }
        if value > max || (0xd800..0xe000).contains(&value) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        if is_byte {
            out.push(value as u8);
        } else {
            let c = char::from_u32(value)
                .ok_or_else(|| "escape sequence is an invalid Unicode code point".to_string())?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn selector_with_matchers() {
        assert_eq!(
            kinds(r#"foo{a="b", c!~'d'}"#),
            vec![
                Kind::Ident,
                Kind::LBrace,
                Kind::Ident,
                Kind::Assign,
                Kind::Str,
                Kind::Comma,
                Kind::Ident,
                Kind::NeqRegex,
                Kind::Str,
                Kind::RBrace,
                Kind::Eof
            ]
        );
    }

    #[test]
    fn inf_and_nan_are_numbers_outside_braces_only() {
        assert_eq!(kinds("Inf"), vec![Kind::Number, Kind::Eof]);
        assert_eq!(kinds("nan"), vec![Kind::Number, Kind::Eof]);
        assert_eq!(
            kinds("{inf='1'}"),
            vec![
                Kind::LBrace,
                Kind::Ident,
                Kind::Assign,
                Kind::Str,
                Kind::RBrace,
                Kind::Eof
            ]
        );
        assert_eq!(kinds("infinity"), vec![Kind::Ident, Kind::Eof]);
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(
            kinds("1.5e3 0x1f .5"),
            vec![Kind::Number; 3]
                .into_iter()
                .chain([Kind::Eof])
                .collect::<Vec<_>>()
        );
        assert_eq!(kinds("5m"), vec![Kind::Duration, Kind::Eof]);
        assert_eq!(kinds("1h30m"), vec![Kind::Duration, Kind::Eof]);
        assert_eq!(kinds("100ms"), vec![Kind::Duration, Kind::Eof]);
        let toks = lex("5x");
        assert_eq!(toks[0].kind, Kind::Error);
        assert_eq!(toks[0].value, r#"bad number or duration syntax: "5""#);
    }

    #[test]
    fn colon_is_a_metric_name_outside_brackets_and_a_separator_inside() {
        assert_eq!(kinds("a:b"), vec![Kind::MetricIdent, Kind::Eof]);
        assert_eq!(
            kinds("x[5m:1m]"),
            vec![
                Kind::Ident,
                Kind::LBracket,
                Kind::Duration,
                Kind::Colon,
                Kind::Duration,
                Kind::RBracket,
                Kind::Eof
            ]
        );
    }

    #[test]
    fn go_escapes_are_decoded() {
        let toks = lex(r#""a\n\x41\101\u00e9\"" 'it\'s' `raw\n`"#);
        assert_eq!(toks[0].value, "a\nAAé\"");
        assert_eq!(toks[1].value, "it's");
        assert_eq!(toks[2].value, "raw\\n");
    }

    #[test]
    fn string_errors_carry_positions() {
        let toks = lex(r#"x{a="b"#);
        let last = toks.last().expect("at least one token");
        assert_eq!(last.kind, Kind::Error);
        assert_eq!(last.value, "unterminated quoted string");
        assert_eq!(last.start, 4);
        let toks = lex(r#""\q""#);
        assert_eq!(toks[0].value, "unknown escape sequence U+0071");
    }

    #[test]
    fn comments_run_to_end_of_line() {
        assert_eq!(
            kinds("a # comment\n+ b"),
            vec![Kind::Ident, Kind::Add, Kind::Ident, Kind::Eof]
        );
    }

    #[test]
    fn operators() {
        assert_eq!(
            kinds("== != <= >= < > ^ % @"),
            vec![
                Kind::EqlC,
                Kind::Neq,
                Kind::Lte,
                Kind::Gte,
                Kind::Lss,
                Kind::Gtr,
                Kind::Pow,
                Kind::Mod,
                Kind::At,
                Kind::Eof
            ]
        );
        assert_eq!(
            lex("a =~ b")[1].value,
            "unexpected character after '=': '~'"
        );
    }
}
