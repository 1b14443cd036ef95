//! The lexical pieces of Go's pattern syntax (`regexp/syntax/parse.go`, Go 1.19):
//! single-character escapes, Perl / POSIX / Unicode classes, repeat counts, and how literals
//! and class members are re-emitted for the `regex` crate. The driver in the parent module
//! decides where each piece may appear.

use super::{err, SyntaxError, INVALID_ESCAPE, INVALID_RANGE, MISSING_BRACKET, TRAILING_BACKSLASH};

pub(super) const POSIX_CLASSES: [&str; 28] = [
    "[:alnum:]",
    "[:^alnum:]",
    "[:alpha:]",
    "[:^alpha:]",
    "[:ascii:]",
    "[:^ascii:]",
    "[:blank:]",
    "[:^blank:]",
    "[:cntrl:]",
    "[:^cntrl:]",
    "[:digit:]",
    "[:^digit:]",
    "[:graph:]",
    "[:^graph:]",
    "[:lower:]",
    "[:^lower:]",
    "[:print:]",
    "[:^print:]",
    "[:punct:]",
    "[:^punct:]",
    "[:space:]",
    "[:^space:]",
    "[:upper:]",
    "[:^upper:]",
    "[:word:]",
    "[:^word:]",
    "[:xdigit:]",
    "[:^xdigit:]",
];

/// Go's general categories (Go 1.19 `unicode.Categories`); any other name is a script.
const CATEGORIES: [&str; 37] = [
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs", "Any",
];

/// Go's Perl classes (`perl_groups.go`): ASCII only.
pub(super) fn perl_class(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => "[\\t\\n\\x0C\\r\\x20]",
        'S' => "[^\\t\\n\\x0C\\r\\x20]",
        'w' => "[0-9A-Za-z_]",
        'W' => "[^0-9A-Za-z_]",
        _ => return None,
    })
}

/// Parses `\pX`, `\p{Name}`, `\P…`, `\p{^Name}` at the start of `s`, appends the `regex`
/// form to `out` and returns the bytes consumed.
pub(super) fn unicode_class(s: &str, out: &mut String) -> Result<usize, SyntaxError> {
    let mut positive = s.as_bytes().get(1) == Some(&b'p');
    let body = &s[2..];
    let (mut name, consumed) = match body.chars().next() {
        Some('{') => match s.find('}') {
            Some(end) => (&s[3..end], end + 1),
            None => return Err(err(INVALID_RANGE, s)),
        },
        Some(c) => (&body[..c.len_utf8()], 2 + c.len_utf8()),
        None => return Err(err(INVALID_RANGE, s)),
    };
    if let Some(stripped) = name.strip_prefix('^') {
        positive = !positive;
        name = stripped;
    }
    if name.is_empty() || name.contains(['[', ']', '{', '\\']) {
        return Err(err(INVALID_RANGE, &s[..consumed]));
    }
    let neg = if positive { "" } else { "^" };
    if name == "C" {
        // Go's C is Cc|Cf|Co|Cs; Unicode's (and Rust's) C also has the unassigned Cn.
        // Surrogates (Cs) never occur in a Rust string, so they are left out.
        out.push_str(&format!("[{neg}\\p{{Cc}}\\p{{Cf}}\\p{{Co}}]"));
    } else if name == "Cs" {
        // The `regex` crate has no surrogate class; as above, it could never match.
        out.push_str(if positive {
            "[^\\x{0}-\\x{10FFFF}]"
        } else {
            "[\\x{0}-\\x{10FFFF}]"
        });
    } else if CATEGORIES.contains(&name) {
        out.push_str(&format!("[{neg}\\p{{{name}}}]"));
    } else {
        out.push_str(&format!("[{neg}\\p{{sc={name}}}]"));
    }
    Ok(consumed)
}

/// One class member: an escape or a literal character. `whole` is for error text.
pub(super) fn class_char(s: &str, whole: &str) -> Result<(char, usize), SyntaxError> {
    match s.chars().next() {
        None => Err(err(MISSING_BRACKET, whole)),
        Some('\\') => parse_escape(s),
        Some(c) => Ok((c, c.len_utf8())),
    }
}

/// Go's `parseEscape` for a single-character escape at the start of `s` (which begins with
/// a backslash). Returns the character and the bytes consumed.
pub(super) fn parse_escape(s: &str) -> Result<(char, usize), SyntaxError> {
    let t = &s[1..];
    let Some(c) = t.chars().next() else {
        return Err(err(TRAILING_BACKSLASH, ""));
    };
    let mut len = 1 + c.len_utf8();
    let invalid = |len: usize| err(INVALID_ESCAPE, &s[..len.min(s.len())]);
    let is_octal = |b: Option<&u8>| b.is_some_and(|b| (b'0'..=b'7').contains(b));
    match c {
        '1'..='7' if !is_octal(t.as_bytes().get(1)) => Err(invalid(len)),
        '0'..='7' => {
            let mut r = c as u32 - '0' as u32;
            for _ in 0..2 {
                match s.as_bytes().get(len) {
                    Some(b) if is_octal(Some(b)) => {
                        r = r * 8 + u32::from(b - b'0');
                        len += 1;
                    }
                    _ => break,
                }
            }
            char::from_u32(r)
                .map(|ch| (ch, len))
                .ok_or_else(|| invalid(len))
        }
        'x' => {
            let rest = &s[len..];
            if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}').ok_or_else(|| invalid(s.len()))?;
                let digits = &inner[..end];
                let total = len + 1 + end + 1;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(total));
                }
                // Go accumulates and fails past U+10FFFF; leading zeros are harmless.
                let digits = match digits.trim_start_matches('0') {
                    "" => "0",
                    d if d.len() > 6 => return Err(invalid(total)),
                    d => d,
                };
                let v = u32::from_str_radix(digits, 16).map_err(|_| invalid(total))?;
                char::from_u32(v)
                    .map(|ch| (ch, total))
                    .ok_or_else(|| invalid(total))
            } else {
                let hex = rest.as_bytes();
                if hex.len() >= 2 && hex[0].is_ascii_hexdigit() && hex[1].is_ascii_hexdigit() {
                    let v = u32::from_str_radix(&rest[..2], 16).map_err(|_| invalid(len + 2))?;
                    char::from_u32(v)
                        .map(|ch| (ch, len + 2))
                        .ok_or_else(|| invalid(len + 2))
                } else {
                    Err(invalid(len + rest.chars().next().map_or(0, char::len_utf8)))
                }
            }
        }
        'a' => Ok(('\x07', len)),
        'f' => Ok(('\x0C', len)),
        'n' => Ok(('\n', len)),
        'r' => Ok(('\r', len)),
        't' => Ok(('\t', len)),
        'v' => Ok(('\x0B', len)),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c, len)),
        _ => Err(invalid(len)),
    }
}

/// Go's `parseRepeat`: `{n}`, `{n,}` or `{n,m}` at the start of `s`, no leading zeros.
/// Returns (min, max, bytes) or `None` when `{` is a literal. Oversized numbers give
/// `u32::MAX` so the caller reports "invalid repeat count".
pub(super) fn parse_repeat(s: &str) -> Option<(u32, Option<u32>, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let min = parse_int(b, &mut i)?;
    let max = match b.get(i)? {
        b',' => {
            i += 1;
            if *b.get(i)? == b'}' {
                None
            } else {
                Some(parse_int(b, &mut i)?)
            }
        }
        _ => Some(min),
    };
    if *b.get(i)? != b'}' {
        return None;
    }
    Some((min, max, i + 1))
}

fn parse_int(b: &[u8], i: &mut usize) -> Option<u32> {
    let start = *i;
    if !b.get(start)?.is_ascii_digit() {
        return None;
    }
    if b[start] == b'0' && b.get(start + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u32 = 0;
    while let Some(d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
        n = n.saturating_mul(10).saturating_add(u32::from(d - b'0'));
        *i += 1;
    }
    Some(if n >= 100_000_000 { u32::MAX } else { n })
}

/// Emits `c` as a literal: alphanumerics and non-ASCII as is, everything else as `\x{..}`.
pub(super) fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        out.push(c);
    } else {
        push_hex(out, c);
    }
}

fn push_hex(out: &mut String, c: char) {
    out.push_str(&format!("\\x{{{:X}}}", c as u32));
}

pub(super) fn push_class_range(out: &mut String, lo: char, hi: char) {
    push_hex(out, lo);
    if hi != lo {
        out.push('-');
        push_hex(out, hi);
    }
}
