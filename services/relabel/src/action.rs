//! The relabel action names (upstream `relabel.Action`, Prometheus v2.42
//! `model/relabel/relabel.go`), parsed case-insensitively as upstream's `UnmarshalYAML`
//! does (`strings.ToLower` before matching).

use std::fmt;
use std::str::FromStr;

use crate::case::go_to_lower;
use crate::error::ConfigError;

/// A relabel action (upstream `relabel.Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// Write the expanded `replacement` to the expanded `target_label` if `regex` matches.
    #[default]
    Replace,
    /// Drop unless `regex` matches the joined source values.
    Keep,
    /// Drop if `regex` matches the joined source values.
    Drop,
    /// Drop unless the joined source values equal the value of `target_label`.
    KeepEqual,
    /// Drop if the joined source values equal the value of `target_label`.
    DropEqual,
    /// Set `target_label` to the MD5-based hash of the joined source values mod `modulus`.
    HashMod,
    /// Copy every label whose name matches `regex` to the expanded `replacement` name.
    LabelMap,
    /// Delete every label whose name matches `regex`.
    LabelDrop,
    /// Delete every label whose name does not match `regex`.
    LabelKeep,
    /// Set `target_label` to the lowercased joined source values.
    Lowercase,
    /// Set `target_label` to the uppercased joined source values.
    Uppercase,
}

impl Action {
    /// Every action, for tests and docs.
    pub const ALL: [Action; 11] = [
        Self::Replace,
        Self::Keep,
        Self::Drop,
        Self::KeepEqual,
        Self::DropEqual,
        Self::HashMod,
        Self::LabelMap,
        Self::LabelDrop,
        Self::LabelKeep,
        Self::Lowercase,
        Self::Uppercase,
    ];

    /// The upstream (lowercase) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Keep => "keep",
            Self::Drop => "drop",
            Self::KeepEqual => "keepequal",
            Self::DropEqual => "dropequal",
            Self::HashMod => "hashmod",
            Self::LabelMap => "labelmap",
            Self::LabelDrop => "labeldrop",
            Self::LabelKeep => "labelkeep",
            Self::Lowercase => "lowercase",
            Self::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ConfigError;

    /// Case-insensitive, as upstream (`strings.ToLower` before matching).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ConfigError::EmptyAction);
        }
        let lower = go_to_lower(s);
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| ConfigError::UnknownAction {
                value: s.to_owned(),
            })
    }
}
