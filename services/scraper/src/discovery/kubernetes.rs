//! `kubernetes_sd_configs`: nodes and annotated pods from the Kubernetes API.
//!
//! Not implemented yet: a config that uses it is refused at load with a clear error
//! instead of silently discovering nothing.

use serde::Deserialize;
use tachyscale_config::FieldError;

/// The roles Prometheus' Kubernetes discovery offers; `node` and `pod` are planned here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Node,
    Pod,
}

/// A `kubernetes_sd_configs` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSdConfig {
    pub role: Role,
}

/// Validated Kubernetes discovery settings.
#[derive(Debug, Clone)]
pub struct KubernetesSdSettings {
    pub role: Role,
}

impl TryFrom<RawKubernetesSdConfig> for KubernetesSdSettings {
    type Error = FieldError;

    fn try_from(_raw: RawKubernetesSdConfig) -> Result<Self, FieldError> {
        Err(FieldError::new(
            "role",
            "Kubernetes discovery is not implemented yet; use static_configs or file_sd_configs",
        ))
    }
}
