//! `metav1.LabelSelector` as written in a metric's `selector`, and its conversion to the
//! selector text the metrics APIs take.
//!
//! Conversion follows `metav1.LabelSelectorAsSelector` (apimachinery v0.33): `matchLabels`
//! become equality requirements, `In`/`NotIn` need values and `Exists`/`DoesNotExist` take
//! none; keys and values are then checked by parsing the text with
//! [`tachyscale_kubeformat::selector::parse`], which implements Kubernetes' rules. The text is
//! what the control loop sends as `labelSelector=` to the external metrics API, so the check
//! runs where it is produced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `metav1.LabelSelectorRequirement`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `metav1.LabelSelectorOperator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// The selector as the text the metrics APIs take (`labelSelector=`), following
    /// `metav1.LabelSelectorAsSelector`: `In`/`NotIn` need values, `Exists`/`DoesNotExist`
    /// take none, and the result must parse as a Kubernetes selector (valid keys and values),
    /// which is checked with [`tachyscale_kubeformat::selector::parse`]. Requirements are
    /// written in key order, labels before expressions.
    pub fn to_selector_string(&self) -> Result<String, String> {
        let mut parts = Vec::new();
        for (key, value) in &self.match_labels {
            parts.push(format!("{key}={value}"));
        }
        for (index, requirement) in self.match_expressions.iter().enumerate() {
            let key = &requirement.key;
            let values = requirement.values.join(",");
            let part = match requirement.operator {
                SelectorOperator::In | SelectorOperator::NotIn if requirement.values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{index}].values: must be specified when `operator` is 'In' or 'NotIn'"
                    ))
                }
                SelectorOperator::Exists | SelectorOperator::DoesNotExist
                    if !requirement.values.is_empty() =>
                {
                    return Err(format!(
                        "matchExpressions[{index}].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    ))
                }
                SelectorOperator::In => format!("{key} in ({values})"),
                SelectorOperator::NotIn => format!("{key} notin ({values})"),
                SelectorOperator::Exists => key.clone(),
                SelectorOperator::DoesNotExist => format!("!{key}"),
            };
            parts.push(part);
        }
        let text = parts.join(",");
        tachyscale_kubeformat::selector::parse(&text).map_err(|err| err.to_string())?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_text_refuses_what_label_selector_as_selector_refuses() {
        let mut selector = LabelSelector::default();
        selector.match_expressions.push(LabelSelectorRequirement {
            key: "tier".into(),
            operator: SelectorOperator::In,
            values: vec![],
        });
        assert!(selector
            .to_selector_string()
            .unwrap_err()
            .contains("must be specified"));
        selector.match_expressions[0].operator = SelectorOperator::DoesNotExist;
        assert_eq!(selector.to_selector_string().unwrap(), "!tier");
        selector.match_labels.insert("bad key!".into(), "x".into());
        assert!(selector.to_selector_string().is_err());
    }
}
