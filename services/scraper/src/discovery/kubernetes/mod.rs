//! `kubernetes_sd_configs`: nodes and pods from the Kubernetes API, as Prometheus 2.42
//! `discovery/kubernetes` finds them, with the same field names and `__meta_kubernetes_*`
//! labels so that existing jobs and their `relabel_configs` can be pasted.
//!
//! - [`meta`]: label-name sanitising and the labels every object gets;
//! - [`node`], [`pod`]: the pure translation of one API object into one target group;
//! - [`watch`]: list+watch with `kube::runtime::watcher`, state kept across errors;
//! - [`members`]: fleet membership from a Service's EndpointSlices.
//!
//! Supported fields (a subset of Prometheus' `kubernetes_sd_config`): `role` (`node`,
//! `pod`), `namespaces` (`names`, `own_namespace`; pod role), `selectors` (`role`, `label`,
//! `field`; passed to the API server), `api_server`, `kubeconfig_file`, and for
//! `api_server` the client options `bearer_token_file` and `tls_config`. Without
//! `api_server` and `kubeconfig_file` the client config is inferred as kube-rs'
//! `Config::infer` does: `$KUBECONFIG` or `~/.kube/config` when present, else the pod's
//! service account (token, CA and namespace under
//! `/var/run/secrets/kubernetes.io/serviceaccount`, API address from
//! `KUBERNETES_SERVICE_HOST`/`_PORT`). Unsupported Prometheus fields are refused by name.

pub mod members;
pub mod meta;
pub mod node;
pub mod pod;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher;
use kube::Api;
use serde::Deserialize;
use tachyscale_config::FieldError;
use tokio::sync::watch as channel;
use tokio_util::sync::CancellationToken;

use crate::config::RawTlsConfig;
use crate::discovery::TargetGroup;
use crate::settings::TlsSettings;

/// The roles Prometheus' Kubernetes discovery offers that this one implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Node,
    Pod,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
        }
    }
}

/// A `kubernetes_sd_configs` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSdConfig {
    /// `node` (one target per node, at its kubelet) or `pod` (one per container port).
    pub role: Role,
    /// Pod role: which namespaces to watch; absent or empty = all.
    #[serde(default)]
    pub namespaces: RawNamespaces,
    /// Label and field selectors the API server applies; at most one per role, and only
    /// for the entry's own role.
    #[serde(default)]
    pub selectors: Vec<RawSelector>,
    /// API server URL; absent = inferred (kubeconfig, else in-cluster service account).
    pub api_server: Option<String>,
    /// A kubeconfig file (its current context); exclusive with `api_server`.
    pub kubeconfig_file: Option<PathBuf>,
    /// With `api_server`: a bearer token file, re-read as kube-rs does (about every minute;
    /// a file with surrounding whitespace is trimmed and read once).
    pub bearer_token_file: Option<PathBuf>,
    /// With `api_server`: CA, client certificate and verification options.
    #[serde(default)]
    pub tls_config: RawTlsConfig,
}

/// `namespaces` of a `kubernetes_sd_configs` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNamespaces {
    pub names: Vec<String>,
    /// Also watch the namespace this scraper runs in (the client's default namespace).
    pub own_namespace: bool,
}

/// A `selectors` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    pub role: Role,
    /// e.g. `app.kubernetes.io/name=api,tier!=batch`.
    pub label: Option<String>,
    /// e.g. `spec.nodeName=worker-1`.
    pub field: Option<String>,
}

/// How to reach the API server.
#[derive(Debug, Clone)]
pub enum ClientSettings {
    /// kube-rs' `Config::infer`: kubeconfig if present, else the in-cluster service account.
    Infer,
    Kubeconfig(PathBuf),
    ApiServer {
        url: url::Url,
        bearer_token_file: Option<PathBuf>,
        tls: TlsSettings,
    },
}

/// Validated Kubernetes discovery settings.
#[derive(Debug, Clone)]
pub struct KubernetesSdSettings {
    pub role: Role,
    /// Empty (and not `own_namespace`) = all namespaces.
    pub namespaces: Vec<String>,
    pub own_namespace: bool,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub client: ClientSettings,
}

impl TryFrom<RawKubernetesSdConfig> for KubernetesSdSettings {
    type Error = FieldError;

    fn try_from(raw: RawKubernetesSdConfig) -> Result<Self, FieldError> {
        let client = client_settings(
            raw.api_server,
            raw.kubeconfig_file,
            raw.bearer_token_file,
            &raw.tls_config,
        )?;
        if raw.role == Role::Node
            && (!raw.namespaces.names.is_empty() || raw.namespaces.own_namespace)
        {
            return Err(FieldError::new(
                "namespaces",
                "nodes are not namespaced; namespaces apply to role pod",
            ));
        }
        if let Some(bad) = raw.namespaces.names.iter().find(|n| !is_dns_label(n)) {
            return Err(FieldError::new(
                "namespaces.names",
                format!("{bad:?} is not a namespace name"),
            ));
        }
        let mut label_selector = None;
        let mut field_selector = None;
        for (i, selector) in raw.selectors.into_iter().enumerate() {
            if selector.role != raw.role {
                return Err(FieldError::new(
                    format!("selectors[{i}].role"),
                    format!(
                        "role {} discovery only takes {} selectors",
                        raw.role.as_str(),
                        raw.role.as_str()
                    ),
                ));
            }
            if label_selector.is_some() || field_selector.is_some() {
                return Err(FieldError::new(
                    format!("selectors[{i}].role"),
                    format!("duplicate selector for role {}", raw.role.as_str()),
                ));
            }
            label_selector = selector.label.filter(|s| !s.trim().is_empty());
            field_selector = selector.field.filter(|s| !s.trim().is_empty());
        }
        let mut namespaces = raw.namespaces.names;
        namespaces.sort();
        namespaces.dedup();
        Ok(KubernetesSdSettings {
            role: raw.role,
            namespaces,
            own_namespace: raw.namespaces.own_namespace,
            label_selector,
            field_selector,
            client,
        })
    }
}

/// Validates the client fields shared by `kubernetes_sd_configs` and `fleet.kubernetes`,
/// with Prometheus' rules: `api_server` and `kubeconfig_file` are exclusive, and client
/// options need an explicit `api_server`.
pub fn client_settings(
    api_server: Option<String>,
    kubeconfig_file: Option<PathBuf>,
    bearer_token_file: Option<PathBuf>,
    tls: &RawTlsConfig,
) -> Result<ClientSettings, FieldError> {
    let custom_tls = tls.ca_file.is_some()
        || tls.cert_file.is_some()
        || tls.key_file.is_some()
        || tls.insecure_skip_verify;
    match (api_server, kubeconfig_file) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "kubeconfig_file",
            "api_server and kubeconfig_file are exclusive",
        )),
        (None, Some(path)) => {
            if custom_tls || bearer_token_file.is_some() {
                return Err(FieldError::new(
                    "kubeconfig_file",
                    "bearer_token_file and tls_config cannot be used with kubeconfig_file",
                ));
            }
            Ok(ClientSettings::Kubeconfig(path))
        }
        (None, None) => {
            if custom_tls || bearer_token_file.is_some() {
                return Err(FieldError::new(
                    "api_server",
                    "bearer_token_file and tls_config need an explicit api_server",
                ));
            }
            Ok(ClientSettings::Infer)
        }
        (Some(url), None) => {
            let url = url::Url::parse(&url)
                .map_err(|e| FieldError::new("api_server", format!("invalid URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(FieldError::new(
                    "api_server",
                    "must be an http or https URL with a host",
                ));
            }
            Ok(ClientSettings::ApiServer {
                url,
                bearer_token_file,
                tls: crate::settings::tls_settings("tls_config", tls)?,
            })
        }
    }
}

/// A DNS-1123 label: what namespace and Service names are.
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Why Kubernetes discovery (or fleet membership) could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesSdError {
    #[error("cannot infer the Kubernetes client config (no kubeconfig, not in a cluster)")]
    Infer {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("cannot load kubeconfig {path}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("invalid api_server {url}: {message}")]
    ApiServer { url: url::Url, message: String },
    #[error("cannot read bearer_token_file {path}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the Kubernetes client")]
    Client {
        #[source]
        source: kube::Error,
    },
    #[error("{what} watch failed")]
    Watch {
        what: &'static str,
        #[source]
        source: watcher::Error,
    },
}

impl KubernetesSdError {
    /// Bounded reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            KubernetesSdError::Infer { .. } => "infer_config",
            KubernetesSdError::Kubeconfig { .. } => "kubeconfig",
            KubernetesSdError::TokenFile { .. } => "token_file",
            KubernetesSdError::ApiServer { .. } | KubernetesSdError::Client { .. } => "client",
            KubernetesSdError::Watch { source, .. } => watch_reason(source),
        }
    }
}

fn watch_reason(err: &watcher::Error) -> &'static str {
    let forbidden = |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.is_forbidden());
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e)
            if forbidden(e) =>
        {
            "forbidden"
        }
        watcher::Error::InitialListFailed(_) => "list",
        watcher::Error::WatchStartFailed(_) => "watch_start",
        watcher::Error::WatchFailed(_) => "watch",
        watcher::Error::WatchError(status) if status.code == 410 => "gone",
        watcher::Error::WatchError(_) => "watch_error",
        watcher::Error::NoResourceVersion => "no_resource_version",
    }
}

/// An error and its sources, `: `-separated, for logs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reports every error to the caller (for logs and the errors metric).
pub type ErrorSink = Box<dyn Fn(&KubernetesSdError) + Send + Sync>;

/// Builds a client; the I/O (kubeconfig, service account files) happens here, not at load.
pub async fn connect(settings: &ClientSettings) -> Result<kube::Client, KubernetesSdError> {
    let config = match settings {
        ClientSettings::Infer => kube::Config::infer()
            .await
            .map_err(|source| KubernetesSdError::Infer { source })?,
        ClientSettings::Kubeconfig(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|source| {
                KubernetesSdError::Kubeconfig {
                    path: path.clone(),
                    source,
                }
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|source| KubernetesSdError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?
        }
        ClientSettings::ApiServer {
            url,
            bearer_token_file,
            tls,
        } => {
            let uri = url.as_str().parse().map_err(|e: http::uri::InvalidUri| {
                KubernetesSdError::ApiServer {
                    url: url.clone(),
                    message: e.to_string(),
                }
            })?;
            let mut config = kube::Config::new(uri);
            config.accept_invalid_certs = tls.insecure_skip_verify;
            // Re-read about every minute by kube-rs, like the token file, so CA rotation
            // needs no restart.
            config.root_cert_file = tls.ca_file.clone();
            if let Some(path) = bearer_token_file {
                let token = std::fs::read_to_string(path).map_err(|source| {
                    KubernetesSdError::TokenFile {
                        path: path.clone(),
                        source,
                    }
                })?;
                let trimmed = token.trim();
                if trimmed.len() == token.len() {
                    config.auth_info.token_file = Some(path.display().to_string());
                } else {
                    // kube-rs sends the file as is and a newline makes the header invalid;
                    // Prometheus trims. A hand-written file is read once, trimmed.
                    config.auth_info.token = Some(trimmed.to_string().into());
                }
            }
            config.auth_info.client_certificate =
                tls.cert_file.as_ref().map(|p| p.display().to_string());
            config.auth_info.client_key = tls.key_file.as_ref().map(|p| p.display().to_string());
            config
        }
    };
    // With both ring and aws-lc-rs linked (the AWS SDK brings the latter) rustls has no
    // implied default provider and kube-rs' client would panic: pick ring, as our other
    // TLS users do, unless the process already chose.
    let _ = rustls::crypto::ring::default_provider().install_default();
    kube::Client::try_from(config).map_err(|source| KubernetesSdError::Client { source })
}

/// First and longest wait between attempts to build a client.
const CONNECT_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// Builds a client, retrying with backoff until it works or `shutdown`.
pub async fn connect_with_retry(
    settings: &ClientSettings,
    on_error: &ErrorSink,
    shutdown: &CancellationToken,
) -> Option<kube::Client> {
    let mut wait = CONNECT_BACKOFF.0;
    loop {
        match connect(settings).await {
            Ok(client) => return Some(client),
            Err(err) => on_error(&err),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(CONNECT_BACKOFF.1);
    }
}

/// One `kubernetes_sd_configs` entry at work: publishes its target groups on a channel.
pub struct KubernetesDiscovery {
    settings: KubernetesSdSettings,
    on_error: ErrorSink,
}

impl KubernetesDiscovery {
    pub fn new(settings: KubernetesSdSettings, on_error: ErrorSink) -> Self {
        KubernetesDiscovery { settings, on_error }
    }

    /// Publishes the discovered groups on `sender` (complete replacements) until
    /// `shutdown`; errors are reported and the last good groups stay published.
    pub async fn run(self, sender: channel::Sender<Vec<TargetGroup>>, shutdown: CancellationToken) {
        let KubernetesDiscovery { settings, on_error } = self;
        let Some(client) = connect_with_retry(&settings.client, &on_error, &shutdown).await else {
            return;
        };
        let mut config = watcher::Config::default();
        if let Some(labels) = &settings.label_selector {
            config = config.labels(labels);
        }
        if let Some(fields) = &settings.field_selector {
            config = config.fields(fields);
        }
        let role = settings.role.as_str();
        let publish = |caches: &[watch::ObjectCache<TargetGroup>]| {
            let groups: Vec<TargetGroup> =
                caches.iter().flat_map(|c| c.values().cloned()).collect();
            tracing::debug!(role, groups = groups.len(), "kubernetes targets changed");
            sender.send_replace(groups);
        };
        let report = |source| on_error(&KubernetesSdError::Watch { what: role, source });
        match settings.role {
            Role::Node => {
                let translate = |node: &Node| match node::node_group(node) {
                    Ok(group) => Some(group),
                    Err(err) => {
                        tracing::warn!(error = %err, "node skipped");
                        None
                    }
                };
                let apis = vec![Api::<Node>::all(client)];
                watch::watch_objects(apis, config, translate, publish, report, shutdown).await;
            }
            Role::Pod => {
                let mut namespaces = settings.namespaces.clone();
                if settings.own_namespace {
                    namespaces.push(client.default_namespace().to_string());
                    namespaces.sort();
                    namespaces.dedup();
                }
                let apis = if namespaces.is_empty() {
                    vec![Api::<Pod>::all(client)]
                } else {
                    namespaces
                        .iter()
                        .map(|ns| Api::<Pod>::namespaced(client.clone(), ns))
                        .collect()
                };
                watch::watch_objects(apis, config, pod::pod_group, publish, report, shutdown).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<KubernetesSdSettings, FieldError> {
        let raw: RawKubernetesSdConfig =
            serde_yaml_ng::from_str(yaml).map_err(|e| FieldError::new(".", e.to_string()))?;
        KubernetesSdSettings::try_from(raw)
    }

    #[test]
    fn prometheus_fields_become_settings() {
        let s = parse(
            "role: pod\nnamespaces: {names: [shop, billing, shop], own_namespace: true}\n\
             selectors: [{role: pod, label: 'app=api', field: 'spec.nodeName=w1'}]\n",
        )
        .unwrap();
        assert_eq!(s.role, Role::Pod);
        assert_eq!(s.namespaces, ["billing", "shop"]);
        assert!(s.own_namespace);
        assert_eq!(s.label_selector.as_deref(), Some("app=api"));
        assert_eq!(s.field_selector.as_deref(), Some("spec.nodeName=w1"));
        assert!(matches!(s.client, ClientSettings::Infer));

        let s = parse(
            "role: node\napi_server: https://10.96.0.1:443\nbearer_token_file: /t\n\
             tls_config: {ca_file: /ca.crt}\n",
        )
        .unwrap();
        match s.client {
            ClientSettings::ApiServer {
                url,
                bearer_token_file,
                tls,
            } => {
                assert_eq!(url.as_str(), "https://10.96.0.1/");
                assert_eq!(bearer_token_file, Some(PathBuf::from("/t")));
                assert_eq!(tls.ca_file, Some(PathBuf::from("/ca.crt")));
            }
            other => panic!("{other:?}"),
        }
        let s = parse("role: node\nkubeconfig_file: /home/me/.kube/config\n").unwrap();
        assert!(
            matches!(&s.client, ClientSettings::Kubeconfig(p) if p.as_os_str() == "/home/me/.kube/config")
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("role: service", "."),
            ("role: pod\nattach_metadata: {node: true}", "."),
            ("role: node\nnamespaces: {names: [a]}", "namespaces"),
            (
                "role: pod\nnamespaces: {names: [Shop_1]}",
                "namespaces.names",
            ),
            (
                "role: pod\nselectors: [{role: node, label: a=b}]",
                "selectors[0].role",
            ),
            (
                "role: pod\nselectors: [{role: pod, label: a=b}, {role: pod, field: x=y}]",
                "selectors[1].role",
            ),
            ("role: pod\napi_server: 'not a url'", "api_server"),
            ("role: pod\napi_server: 'ftp://x'", "api_server"),
            (
                "role: pod\napi_server: https://a\nkubeconfig_file: /k",
                "kubeconfig_file",
            ),
            (
                "role: pod\nkubeconfig_file: /k\nbearer_token_file: /t",
                "kubeconfig_file",
            ),
            (
                "role: pod\ntls_config: {insecure_skip_verify: true}",
                "api_server",
            ),
            (
                "role: pod\napi_server: https://a\ntls_config: {cert_file: /c}",
                "tls_config.cert_file",
            ),
        ];
        for (yaml, field) in cases {
            let err = parse(yaml).expect_err(yaml);
            assert_eq!(err.field, field, "{yaml}: {}", err.reason);
        }
    }

    #[test]
    fn errors_have_bounded_reasons_and_a_readable_chain() {
        let status = |code: u16| {
            let reason = if code == 403 {
                "Forbidden"
            } else {
                "InternalError"
            };
            kube::core::Status::failure("denied", reason).with_code(code)
        };
        let forbidden = KubernetesSdError::Watch {
            what: "pod",
            source: watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status(403)))),
        };
        assert_eq!(forbidden.reason(), "forbidden");
        assert!(error_chain(&forbidden).starts_with("pod watch failed: "));
        let list = KubernetesSdError::Watch {
            what: "pod",
            source: watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status(500)))),
        };
        assert_eq!(list.reason(), "list");
        let gone = KubernetesSdError::Watch {
            what: "node",
            source: watcher::Error::WatchError(Box::new(status(410))),
        };
        assert_eq!(gone.reason(), "gone");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("kube-system"));
        assert!(is_dns_label("a1"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("A"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
