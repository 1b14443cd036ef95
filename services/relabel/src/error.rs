//! Validation errors for relabel configs. Each names the YAML field at fault (the message
//! starts with it) and offers a bounded `reason()`; messages are upstream's wording
//! (`model/relabel/relabel.go`, v2.42) so users can search for them.

use thiserror::Error;

use crate::action::Action;
use crate::regex::RegexError;

/// A relabel config that failed validation. The message starts with the offending field so
/// the caller can prefix its position: `format!("relabel_configs[{i}].{err}")`.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `action` given as null or empty.
    #[error("action: relabel action cannot be empty")]
    EmptyAction,
    /// `action` is not one of the known names.
    #[error("action: unknown relabel action {value:?}")]
    UnknownAction { value: String },
    /// `regex` does not compile.
    #[error("regex: invalid regular expression {pattern:?}")]
    InvalidRegex {
        pattern: String,
        #[source]
        source: RegexError,
    },
    /// A `source_labels` entry is not a valid label name.
    #[error("source_labels: {name:?} is not a valid label name")]
    InvalidSourceLabel { name: String },
    /// `hashmod` without a non-zero `modulus`.
    #[error("modulus: relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    /// The action needs `target_label`.
    #[error(
        "target_label: relabel configuration for {action} action requires 'target_label' value"
    )]
    MissingTargetLabel { action: Action },
    /// `target_label` is not acceptable for the action.
    #[error("target_label: {value:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel { value: String, action: Action },
    /// The action does not take a `replacement`.
    #[error("replacement: 'replacement' can not be set for {action} action")]
    ReplacementNotAllowed { action: Action },
    /// `labelmap` replacement is not a label-name template.
    #[error("replacement: {value:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement { value: String, action: Action },
    /// A field the action does not take (`keepequal`/`dropequal`, `labeldrop`/`labelkeep`).
    #[error("{field}: {action} action requires only {allowed}, and no other fields")]
    FieldNotAllowed {
        field: &'static str,
        action: Action,
        allowed: &'static str,
    },
}

impl ConfigError {
    /// The YAML field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::EmptyAction | Self::UnknownAction { .. } => "action",
            Self::InvalidRegex { .. } => "regex",
            Self::InvalidSourceLabel { .. } => "source_labels",
            Self::ZeroModulus => "modulus",
            Self::MissingTargetLabel { .. } | Self::InvalidTargetLabel { .. } => "target_label",
            Self::ReplacementNotAllowed { .. } | Self::InvalidReplacement { .. } => "replacement",
            Self::FieldNotAllowed { field, .. } => field,
        }
    }

    /// Bounded reason for the `reason` label of `*_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::EmptyAction => "empty_action",
            Self::UnknownAction { .. } => "unknown_action",
            Self::InvalidRegex { .. } => "invalid_regex",
            Self::InvalidSourceLabel { .. } => "invalid_source_label",
            Self::ZeroModulus => "zero_modulus",
            Self::MissingTargetLabel { .. } => "missing_target_label",
            Self::InvalidTargetLabel { .. } => "invalid_target_label",
            Self::ReplacementNotAllowed { .. } => "replacement_not_allowed",
            Self::InvalidReplacement { .. } => "invalid_replacement",
            Self::FieldNotAllowed { .. } => "field_not_allowed",
        }
    }
}
