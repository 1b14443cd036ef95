//! Relabel configuration: the raw serde shape users paste from Prometheus YAML, and the
//! validated runtime [`RelabelConfig`] built from it once with `TryFrom`.
//!
//! Follows `Config`, `UnmarshalYAML` and `Validate` of Prometheus v2.42
//! (`model/relabel/relabel.go`, reference:
//! <https://prometheus.io/docs/prometheus/2.42/configuration/configuration/#relabel_config>).
//! Field names, defaults (`separator: ";"`, `regex: "(.*)"`, `replacement: "$1"`,
//! `action: replace`) and every validation rule are upstream's, in upstream's order:
//! - `source_labels` entries must be valid label names (`model.LabelName.UnmarshalYAML`);
//! - `hashmod` needs a non-zero `modulus`;
//! - `replace`, `hashmod`, `lowercase`, `uppercase`, `keepequal`, `dropequal` need
//!   `target_label`; for all but `hashmod` it must pass the `relabelTarget` pattern (a label
//!   name that may contain `$1`/`${name}`), for `hashmod` it must be a plain label name;
//! - `lowercase`, `uppercase`, `keepequal`, `dropequal` refuse a non-default `replacement`;
//! - `labelmap`'s `replacement` must pass `relabelTarget`;
//! - `keepequal`/`dropequal` refuse an explicit `regex` (even `(.*)`), a `modulus`, a
//!   non-default `separator` or `replacement`;
//! - `labeldrop`/`labelkeep` refuse `source_labels` (even `[]`), `target_label`, `modulus`,
//!   a non-default `separator` or `replacement`.
//!
//! YAML details reproduced from `gopkg.in/yaml.v2`: `action` is case-insensitive; a scalar
//! that YAML reads as a bool or number (`regex: true`, `replacement: 1`) is taken as text; an
//! explicit null gives the zero value (`replacement:` is `""`, not `$1`).
//! Kept on purpose: the 2.42 quirk that `lowercase`, `uppercase`, `keepequal` and
//! `dropequal` accept a `$`-template `target_label` (and then use it literally; 2.49 made it
//! an error, PR #13308).
//! Deviations: `action`, `regex` and `source_labels` are checked first, so when several
//! rules fail the reported one may differ (Go reports the first YAML key that fails to
//! decode); `action: ""` is reported as empty rather than unknown; number scalars are
//! re-printed (`1.50` becomes `1.5`).

use serde::{Deserialize, Serialize};

pub use crate::action::Action;
pub use crate::error::ConfigError;
use crate::labels::is_valid_label_name;
use crate::regex::{Regex, DEFAULT_REGEX};
use crate::template::{is_valid_target_template, Template};

/// Default `separator`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A `relabel_config` entry as written in YAML. `None` means "not given" (the upstream
/// default applies); an explicit YAML null is the zero value (`Some("")`, `Some(0)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// Labels whose values are joined with `separator` to form the matched value.
    #[serde(
        deserialize_with = "crate::yaml::label_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_labels: Option<Vec<String>>,
    /// String placed between joined source values (default `;`).
    #[serde(
        deserialize_with = "crate::yaml::scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub separator: Option<String>,
    /// RE2 pattern, anchored at both ends (default `(.*)`).
    #[serde(
        deserialize_with = "crate::yaml::scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub regex: Option<String>,
    /// Modulus for `hashmod`.
    #[serde(
        deserialize_with = "crate::yaml::modulus",
        skip_serializing_if = "Option::is_none"
    )]
    pub modulus: Option<u64>,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`; compared by
    /// `keepequal`/`dropequal`. `replace` may use `$1`/`${name}` references.
    #[serde(
        deserialize_with = "crate::yaml::scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_label: Option<String>,
    /// Template for `replace` (value) and `labelmap` (name); default `$1`.
    #[serde(
        deserialize_with = "crate::yaml::scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub replacement: Option<String>,
    /// Action name, case-insensitive (default `replace`).
    #[serde(
        deserialize_with = "crate::yaml::scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<String>,
}
/// A validated relabel rule, ready to apply (see [`crate::process()`]).
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub(crate) action: Action,
    pub(crate) source_labels: Vec<String>,
    pub(crate) separator: String,
    pub(crate) regex: Regex,
    pub(crate) modulus: u64,
    pub(crate) target_label: String,
    pub(crate) replacement: String,
    /// `target_label` parsed as a template (only `replace` expands it).
    pub(crate) target_template: Template,
    /// `replacement` parsed as a template.
    pub(crate) replacement_template: Template,
    raw: RawRelabelConfig,
}

impl RelabelConfig {
    /// The action.
    pub fn action(&self) -> Action {
        self.action
    }
    /// Source label names, in order.
    pub fn source_labels(&self) -> &[String] {
        &self.source_labels
    }
    /// Separator between source values.
    pub fn separator(&self) -> &str {
        &self.separator
    }
    /// The anchored regex.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }
    /// Modulus (0 unless `hashmod`).
    pub fn modulus(&self) -> u64 {
        self.modulus
    }
    /// Target label as written (may be a template for `replace`).
    pub fn target_label(&self) -> &str {
        &self.target_label
    }
    /// Replacement template as written.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }
    /// The config as it was given, for display and serialisation.
    pub fn raw(&self) -> &RawRelabelConfig {
        &self.raw
    }
}

impl Serialize for RelabelConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = ConfigError;

    fn try_from(raw: RawRelabelConfig) -> Result<Self, Self::Error> {
        let action = match raw.action.as_deref() {
            None => Action::Replace,
            Some(name) => name.parse()?,
        };
        let regex_text = raw.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = Regex::new(regex_text).map_err(|source| ConfigError::InvalidRegex {
            pattern: regex_text.to_owned(),
            source,
        })?;
        let source_labels = raw.source_labels.clone().unwrap_or_default();
        if let Some(bad) = source_labels.iter().find(|n| !is_valid_label_name(n)) {
            return Err(ConfigError::InvalidSourceLabel { name: bad.clone() });
        }
        let separator = raw
            .separator
            .clone()
            .unwrap_or_else(|| DEFAULT_SEPARATOR.to_owned());
        let modulus = raw.modulus.unwrap_or(0);
        let target_label = raw.target_label.clone().unwrap_or_default();
        let replacement = raw
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_owned());

        validate(
            &raw,
            action,
            &separator,
            modulus,
            &target_label,
            &replacement,
        )?;

        Ok(Self {
            target_template: Template::parse(&target_label, &regex),
            replacement_template: Template::parse(&replacement, &regex),
            action,
            source_labels,
            separator,
            regex,
            modulus,
            target_label,
            replacement,
            raw,
        })
    }
}

/// Upstream `Config.Validate`, rule by rule in upstream order.
fn validate(
    raw: &RawRelabelConfig,
    action: Action,
    separator: &str,
    modulus: u64,
    target: &str,
    replacement: &str,
) -> Result<(), ConfigError> {
    use Action::*;
    if modulus == 0 && action == HashMod {
        return Err(ConfigError::ZeroModulus);
    }
    let needs_target = matches!(
        action,
        Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
    );
    if needs_target && target.is_empty() {
        return Err(ConfigError::MissingTargetLabel { action });
    }
    let invalid_target = || ConfigError::InvalidTargetLabel {
        value: target.to_owned(),
        action,
    };
    let simple_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
    if (action == Replace || simple_target) && !is_valid_target_template(target) {
        return Err(invalid_target());
    }
    if simple_target && replacement != DEFAULT_REPLACEMENT {
        return Err(ConfigError::ReplacementNotAllowed { action });
    }
    if action == LabelMap && !is_valid_target_template(replacement) {
        return Err(ConfigError::InvalidReplacement {
            value: replacement.to_owned(),
            action,
        });
    }
    if action == HashMod && !is_valid_label_name(target) {
        return Err(invalid_target());
    }
    let not_allowed = |field, allowed| ConfigError::FieldNotAllowed {
        field,
        action,
        allowed,
    };
    if matches!(action, KeepEqual | DropEqual) {
        let offending = [
            ("regex", raw.regex.is_some()),
            ("modulus", modulus != 0),
            ("separator", separator != DEFAULT_SEPARATOR),
            ("replacement", replacement != DEFAULT_REPLACEMENT),
        ];
        if let Some((field, _)) = offending.into_iter().find(|(_, bad)| *bad) {
            return Err(not_allowed(field, "'source_labels' and 'target_label'"));
        }
    }
    if matches!(action, LabelDrop | LabelKeep) {
        let offending = [
            ("source_labels", raw.source_labels.is_some()),
            ("target_label", !target.is_empty()),
            ("modulus", modulus != 0),
            ("separator", separator != DEFAULT_SEPARATOR),
            ("replacement", replacement != DEFAULT_REPLACEMENT),
        ];
        if let Some((field, _)) = offending.into_iter().find(|(_, bad)| *bad) {
            return Err(not_allowed(field, "'regex'"));
        }
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RelabelConfig, ConfigError> {
        let raw: RawRelabelConfig = serde_yaml_ng::from_str(yaml).expect("yaml parses");
        RelabelConfig::try_from(raw)
    }

    /// Asserts `yaml` is rejected at `field` with `reason`.
    fn rejects(yaml: &str, field: &str, reason: &str) {
        match parse(yaml) {
            Ok(cfg) => panic!("{yaml} accepted: {cfg:?}"),
            Err(e) => {
                assert_eq!((e.field(), e.reason()), (field, reason), "{yaml}: {e}");
                assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
            }
        }
    }

    #[test]
    fn defaults_are_upstream_defaults() {
        let cfg = parse("target_label: t").expect("valid");
        assert_eq!(cfg.action(), Action::Replace);
        assert_eq!(cfg.separator(), ";");
        assert_eq!(cfg.regex().as_str(), "(.*)");
        assert_eq!(cfg.replacement(), "$1");
        assert_eq!(cfg.modulus(), 0);
        assert!(cfg.source_labels().is_empty());
    }

    #[test]
    fn action_names_are_case_insensitive() {
        for a in Action::ALL {
            assert_eq!(
                a.as_str().to_uppercase().parse::<Action>().expect("known"),
                a
            );
        }
        assert_eq!(parse("action: Keep").expect("valid").action(), Action::Keep);
        rejects("action: keepall", "action", "unknown_action");
        rejects("action:", "action", "empty_action");
    }

    #[test]
    fn yaml_scalars_are_text_and_null_is_the_zero_value() {
        let cfg = parse("{source_labels: [a], regex: true, action: keep}").expect("valid");
        assert_eq!(cfg.regex().as_str(), "true");
        let cfg = parse("{target_label: t, replacement: 42}").expect("valid");
        assert_eq!(cfg.replacement(), "42");
        let cfg = parse("{target_label: t, replacement: }").expect("valid");
        assert_eq!(cfg.replacement(), "", "null replacement is empty, not $1");
        let cfg = parse("{target_label: t, separator: ~}").expect("valid");
        assert_eq!(cfg.separator(), "");
        let cfg = parse("{target_label: t, regex: }").expect("valid");
        assert!(cfg.regex().is_match("") && !cfg.regex().is_match("x"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_yaml_ng::from_str::<RawRelabelConfig>("{target_label: t, regexp: x}");
        assert!(err.is_err());
    }

    #[test]
    fn invalid_regex_is_rejected() {
        rejects("{target_label: t, regex: '('}", "regex", "invalid_regex");
        rejects(r"{target_label: t, regex: 'a\e'}", "regex", "invalid_regex");
    }

    #[test]
    fn source_labels_must_be_label_names() {
        rejects(
            "{source_labels: [a-b], target_label: t}",
            "source_labels",
            "invalid_source_label",
        );
    }

    #[test]
    fn hashmod_requires_non_zero_modulus_and_plain_target() {
        rejects(
            "{action: hashmod, target_label: t}",
            "modulus",
            "zero_modulus",
        );
        rejects(
            "{action: hashmod, target_label: t, modulus: 0}",
            "modulus",
            "zero_modulus",
        );
        rejects(
            "{action: hashmod, modulus: 2}",
            "target_label",
            "missing_target_label",
        );
        rejects(
            "{action: hashmod, modulus: 2, target_label: $1}",
            "target_label",
            "invalid_target_label",
        );
        assert!(parse("{action: hashmod, modulus: 2, target_label: __tmp_h}").is_ok());
    }

    #[test]
    fn target_label_is_required_for_writing_actions() {
        for action in [
            "replace",
            "lowercase",
            "uppercase",
            "keepequal",
            "dropequal",
        ] {
            rejects(
                &format!("{{action: {action}}}"),
                "target_label",
                "missing_target_label",
            );
        }
    }

    #[test]
    fn target_label_must_be_a_name_or_template() {
        for action in [
            "replace",
            "lowercase",
            "uppercase",
            "keepequal",
            "dropequal",
        ] {
            rejects(
                &format!("{{action: {action}, target_label: 'a-b'}}"),
                "target_label",
                "invalid_target_label",
            );
        }
        assert!(parse("{target_label: 'tag_${1}'}").is_ok());
        assert!(parse("{target_label: '$1'}").is_ok());
        rejects(
            "{target_label: '1abc'}",
            "target_label",
            "invalid_target_label",
        );
        rejects(
            "{target_label: 'a$'}",
            "target_label",
            "invalid_target_label",
        );
        // 2.42 quirk: the template check also admits $ in lowercase targets.
        assert!(parse("{action: lowercase, target_label: '$1'}").is_ok());
    }

    #[test]
    fn case_and_equal_actions_refuse_replacement() {
        for action in ["lowercase", "uppercase", "keepequal", "dropequal"] {
            rejects(
                &format!("{{action: {action}, target_label: t, replacement: x}}"),
                "replacement",
                "replacement_not_allowed",
            );
            assert!(parse(&format!(
                "{{action: {action}, target_label: t, replacement: $1}}"
            ))
            .is_ok());
        }
    }

    #[test]
    fn labelmap_replacement_must_be_a_name_template() {
        rejects(
            "{action: labelmap, replacement: 'a-$1'}",
            "replacement",
            "invalid_replacement",
        );
        rejects(
            "{action: labelmap, replacement: ''}",
            "replacement",
            "invalid_replacement",
        );
        assert!(parse("{action: labelmap, regex: 'x_(.+)', replacement: 'y_${1}'}").is_ok());
    }

    #[test]
    fn equal_actions_take_only_source_labels_and_target_label() {
        let base = "action: keepequal, source_labels: [a], target_label: b";
        assert!(parse(&format!("{{{base}}}")).is_ok());
        rejects(
            &format!("{{{base}, regex: '(.*)'}}"),
            "regex",
            "field_not_allowed",
        );
        rejects(
            &format!("{{{base}, modulus: 3}}"),
            "modulus",
            "field_not_allowed",
        );
        rejects(
            &format!("{{{base}, separator: ','}}"),
            "separator",
            "field_not_allowed",
        );
        assert!(
            parse(&format!("{{{base}, separator: ';'}}")).is_ok(),
            "default value is fine"
        );
        let drop = "action: dropequal, source_labels: [a], target_label: b, modulus: 1";
        rejects(&format!("{{{drop}}}"), "modulus", "field_not_allowed");
    }

    #[test]
    fn labeldrop_and_labelkeep_take_only_regex() {
        for action in ["labeldrop", "labelkeep"] {
            assert!(parse(&format!("{{action: {action}, regex: x}}")).is_ok());
            assert!(parse(&format!("{{action: {action}, regex: x, replacement: $1}}")).is_ok());
            assert!(
                parse(&format!("{{action: {action}, source_labels: }}")).is_ok(),
                "null is unset"
            );
            for (extra, field) in [
                ("source_labels: []", "source_labels"),
                ("source_labels: [a]", "source_labels"),
                ("target_label: t", "target_label"),
                ("modulus: 2", "modulus"),
                ("separator: ','", "separator"),
                ("replacement: x", "replacement"),
            ] {
                rejects(
                    &format!("{{action: {action}, {extra}}}"),
                    field,
                    "field_not_allowed",
                );
            }
        }
    }

    #[test]
    fn errors_name_the_field_for_the_caller_to_prefix() {
        let err = parse("{action: hashmod, target_label: t}").expect_err("invalid");
        assert_eq!(
            format!("relabel_configs[2].{err}"),
            "relabel_configs[2].modulus: relabel configuration for hashmod requires non-zero modulus"
        );
    }

    #[test]
    fn pasted_prometheus_relabel_configs_parse() {
        let yaml = r#"
- source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape]
  action: keep
  regex: true
- source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scheme]
  action: replace
  target_label: __scheme__
  regex: (https?)
- source_labels: [__meta_kubernetes_service_annotation_prometheus_io_path]
  action: replace
  target_label: __metrics_path__
  regex: (.+)
- source_labels: [__address__, __meta_kubernetes_service_annotation_prometheus_io_port]
  action: replace
  target_label: __address__
  regex: ([^:]+)(?::\d+)?;(\d+)
  replacement: $1:$2
- action: labelmap
  regex: __meta_kubernetes_service_annotation_prometheus_io_param_(.+)
  replacement: __param_$1
- action: labelmap
  regex: __meta_kubernetes_service_label_(.+)
- source_labels: [__meta_kubernetes_namespace]
  action: replace
  target_label: namespace
- source_labels: [__address__]
  modulus: 4
  target_label: __tmp_hash
  action: hashmod
- source_labels: [__tmp_hash]
  regex: "1"
  action: keep
- regex: __tmp_.*
  action: labeldrop
"#;
        let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("yaml parses");
        let rules: Vec<RelabelConfig> = raw
            .into_iter()
            .map(RelabelConfig::try_from)
            .collect::<Result<_, _>>()
            .expect("all valid");
        let actions: Vec<Action> = rules.iter().map(RelabelConfig::action).collect();
        use Action::*;
        assert_eq!(
            actions,
            [
                Keep, Replace, Replace, Replace, LabelMap, LabelMap, Replace, HashMod, Keep,
                LabelDrop
            ]
        );
        assert_eq!(rules[3].regex().as_str(), r"([^:]+)(?::\d+)?;(\d+)");
        // Serialising gives back what was written, not the defaults.
        let out = serde_yaml_ng::to_string(&rules[0]).expect("serialises");
        assert!(
            out.contains("regex: 'true'") && !out.contains("separator"),
            "{out}"
        );
    }
}
