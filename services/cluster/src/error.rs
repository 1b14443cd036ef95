//! Errors of the cluster interface, with a bounded `reason()` for the `reason` label of the
//! callers' error counters.

/// Why a cluster read or write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: String,
        namespace: String,
        name: String,
    },
    #[error("{kind} {namespace}/{name} has no scale subresource")]
    NoScaleSubresource {
        kind: String,
        namespace: String,
        name: String,
    },
    #[error("invalid label selector {selector:?}")]
    Selector {
        selector: String,
        #[source]
        source: tachyscale_kubeformat::selector::SelectorError,
    },
    #[error("invalid replica count {replicas} for {namespace}/{name}")]
    InvalidReplicas {
        namespace: String,
        name: String,
        replicas: i32,
    },
    #[error("the {what} cache has not synced yet")]
    NotSynced { what: &'static str },
    #[error("kubernetes API request failed: {operation}")]
    Api {
        operation: &'static str,
        #[source]
        source: ::kube::Error,
    },
    #[error("the cluster is unavailable: {message}")]
    Unavailable { message: String },
}

impl ClusterError {
    /// A bounded label value for error counters.
    pub fn reason(&self) -> &'static str {
        match self {
            ClusterError::NotFound { .. } => "not_found",
            ClusterError::NoScaleSubresource { .. } => "no_scale_subresource",
            ClusterError::Selector { .. } => "invalid_selector",
            ClusterError::InvalidReplicas { .. } => "invalid_replicas",
            ClusterError::NotSynced { .. } => "not_synced",
            ClusterError::Api { .. } => "api",
            ClusterError::Unavailable { .. } => "unavailable",
        }
    }
}

/// Parses a pod selector in its string form, as both backends read `Cluster::pods`'
/// argument.
pub(crate) fn parse_selector(
    text: &str,
) -> Result<tachyscale_kubeformat::selector::Selector, ClusterError> {
    tachyscale_kubeformat::selector::parse(text).map_err(|source| ClusterError::Selector {
        selector: text.to_owned(),
        source,
    })
}
