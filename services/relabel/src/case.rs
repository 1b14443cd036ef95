//! Go's `strings.ToLower` / `strings.ToUpper`, used by the `lowercase` / `uppercase` actions
//! and to read `action` names case-insensitively.
//!
//! Go maps each character on its own with Unicode *simple* case mapping
//! (`unicode.ToLower`/`ToUpper`). Rust's `str::to_lowercase` uses full mappings and context
//! (`ß` → `SS`, `İ` → `i̇`, word-final `Σ` → `ς`), which would give different label values.
//! `char::to_*case` is context-free and equals the simple mapping whenever it yields a single
//! character; the few characters with multi-character full mappings are handled here:
//! - lowercase: only U+0130 `İ` (simple mapping `i`);
//! - uppercase: Greek with ypogegrammeni has a simple mapping to its titlecase form
//!   (`ᾳ` → `ᾼ`, U+1F80..87 → +8, …); every other such character (`ß`, `ŉ`, ligatures,
//!   `ΐ`, …) has none and stays unchanged.
//!
//! Deviation: the Unicode version is Rust's, not Go 1.19's (differences only for characters
//! added since).

/// `strings.ToLower`.
pub(crate) fn go_to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(simple_lower).collect()
}

/// `strings.ToUpper`.
pub(crate) fn go_to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(simple_upper).collect()
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    match it.next() {
        None => Some(first),
        Some(_) => None,
    }
}

fn simple_lower(c: char) -> char {
    match single(c.to_lowercase()) {
        Some(l) => l,
        None if c == '\u{130}' => 'i',
        None => c,
    }
}

fn simple_upper(c: char) -> char {
    if let Some(u) = single(c.to_uppercase()) {
        return u;
    }
    let cp = c as u32;
    let mapped = match cp {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => cp + 8,
        0x1FB3 | 0x1FC3 | 0x1FF3 => cp + 9,
        _ => cp,
    };
    char::from_u32(mapped).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path() {
        assert_eq!(go_to_lower("HeLLo_1"), "hello_1");
        assert_eq!(go_to_upper("HeLLo_1"), "HELLO_1");
    }

    #[test]
    fn simple_mapping_not_full_mapping() {
        assert_eq!(go_to_upper("straße"), "STRAßE", "Go keeps ß");
        assert_eq!(go_to_lower("İ"), "i", "Go maps U+0130 to plain i");
        assert_eq!(go_to_lower("ΟΔΟΣ"), "οδοσ", "no final-sigma rule in Go");
        assert_eq!(go_to_upper("ﬁ"), "ﬁ", "ligatures have no simple uppercase");
        assert_eq!(go_to_upper("ᾳ"), "ᾼ");
        assert_eq!(go_to_upper("ᾀ"), "ᾈ");
        assert_eq!(go_to_upper("ᾈ"), "ᾈ", "titlecase has no simple uppercase");
    }

    #[test]
    fn ordinary_unicode_round_trips() {
        assert_eq!(go_to_upper("élan ÿ"), "ÉLAN Ÿ");
        assert_eq!(go_to_lower("ÉLAN"), "élan");
        assert_eq!(go_to_lower("\u{212a}"), "k", "Kelvin sign lowercases to k");
    }
}
