//! Glue between the scraper's label maps and `tachyscale-relabel`.
//!
//! Relabeling runs only when a target is (re)built or a series is first seen, so
//! converting to and from the relabel crate's `LabelSet` costs nothing per scrape.

use std::collections::BTreeMap;

use tachyscale_config::FieldError;
use tachyscale_relabel::{process, LabelSet, RawRelabelConfig, RelabelConfig, Verdict};

/// Validates a `relabel_configs` list; errors name the entry and field
/// (`scrape_configs[0].relabel_configs[2].regex`).
pub fn validate_list(
    field: &str,
    raws: Vec<RawRelabelConfig>,
) -> Result<Vec<RelabelConfig>, FieldError> {
    raws.into_iter()
        .enumerate()
        .map(|(index, raw)| {
            RelabelConfig::try_from(raw).map_err(|err| {
                let message = err.to_string();
                let reason = message
                    .strip_prefix(&format!("{}: ", err.field()))
                    .unwrap_or(&message)
                    .to_string();
                FieldError::new(format!("{field}[{index}].{}", err.field()), reason)
            })
        })
        .collect()
}

/// Parses and validates a YAML list of relabel configs (tests and examples).
pub fn parse_list(yaml: &str) -> Result<Vec<RelabelConfig>, FieldError> {
    let raws: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml)
        .map_err(|e| FieldError::new("relabel_configs", e.to_string()))?;
    validate_list("relabel_configs", raws)
}

/// Applies `configs` to `labels` in place; false when a rule dropped the set. Labels with
/// empty values (given or left so by the rules) are removed either way: an empty label is
/// an absent one.
pub fn apply(labels: &mut BTreeMap<String, String>, configs: &[RelabelConfig]) -> bool {
    if configs.is_empty() {
        labels.retain(|_, v| !v.is_empty());
        return true;
    }
    let mut set = LabelSet::from_pairs(std::mem::take(labels));
    let verdict = process(&mut set, configs);
    *labels = set
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    verdict == Verdict::Keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_entry_and_field() {
        let raws: Vec<RawRelabelConfig> =
            serde_yaml_ng::from_str("- action: hashmod\n  target_label: x\n").unwrap();
        let err = validate_list("scrape_configs[0].relabel_configs", raws).unwrap_err();
        assert_eq!(err.field, "scrape_configs[0].relabel_configs[0].modulus");
    }

    #[test]
    fn drop_and_keep_decide_and_edits_are_visible() {
        let rules = parse_list(
            "- {source_labels: [a], regex: 'x', action: drop}\n- {target_label: b, replacement: 'y'}\n",
        )
        .unwrap();
        let mut labels = BTreeMap::from([("a".to_string(), "z".to_string())]);
        assert!(apply(&mut labels, &rules));
        assert_eq!(labels["b"], "y");
        let mut labels = BTreeMap::from([("a".to_string(), "x".to_string())]);
        assert!(!apply(&mut labels, &rules));
    }
}
