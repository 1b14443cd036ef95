//! `external_metrics:` — the rules and access of the external metrics API.

use serde::Deserialize;
use tachyscale_config::FieldError;

use crate::external::rules::{RawRule, Rule, Rules};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawExternalMetricsConfig {
    /// Also serve `/apis` on the plain HTTP listener, unauthenticated. Development only:
    /// refused unless `listen` is a loopback address.
    pub insecure_http_on_loopback: bool,
    /// Users allowed to read. With both lists empty, requests proxied by the API server
    /// (which authorized them) pass and direct client-certificate users are refused.
    pub allowed_users: Vec<String>,
    pub allowed_groups: Vec<String>,
    /// The series label holding the Kubernetes namespace.
    pub namespace_label: String,
    pub rules: Vec<RawRule>,
}

impl Default for RawExternalMetricsConfig {
    fn default() -> Self {
        RawExternalMetricsConfig {
            insecure_http_on_loopback: false,
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            namespace_label: "namespace".into(),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExternalMetricsSettings {
    pub insecure_http_on_loopback: bool,
    pub allowed_users: Vec<String>,
    pub allowed_groups: Vec<String>,
    pub namespace_label: String,
    pub rules: Rules,
}

impl TryFrom<RawExternalMetricsConfig> for ExternalMetricsSettings {
    type Error = FieldError;

    fn try_from(raw: RawExternalMetricsConfig) -> Result<Self, FieldError> {
        if !crate::ingest::is_valid_label_name(&raw.namespace_label) {
            return Err(FieldError::new(
                "external_metrics.namespace_label",
                format!("{:?} is not a valid label name", raw.namespace_label),
            ));
        }
        let rules = raw
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| Rule::compile(r, &format!("external_metrics.rules[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExternalMetricsSettings {
            insecure_http_on_loopback: raw.insecure_http_on_loopback,
            allowed_users: raw.allowed_users,
            allowed_groups: raw.allowed_groups,
            namespace_label: raw.namespace_label,
            rules: Rules::new(rules),
        })
    }
}
