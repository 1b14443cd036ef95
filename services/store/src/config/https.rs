//! `https:` — the store's HTTPS listener, where the external metrics API is served to the
//! Kubernetes API aggregator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_config::{at_least, FieldError};

use super::tls::{default_reload_interval, TlsFiles};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpsConfig {
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
    /// CA of ordinary client certificates (`kubectl` with a client cert): the user is the
    /// certificate's CN, the groups its O values.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// The API server's front-proxy certificate, as in kube-apiserver's
    /// `--requestheader-*` flags.
    #[serde(default)]
    pub requestheader: Option<RawRequestHeaderConfig>,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

fn default_max_connections() -> usize {
    1024
}

fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequestHeaderConfig {
    pub client_ca_file: PathBuf,
    /// CNs allowed to assert identities; empty allows any certificate the CA signed.
    #[serde(default = "default_allowed_names")]
    pub allowed_names: Vec<String>,
    #[serde(default = "default_username_headers")]
    pub username_headers: Vec<String>,
    #[serde(default = "default_group_headers")]
    pub group_headers: Vec<String>,
    #[serde(default = "default_extra_prefixes")]
    pub extra_headers_prefix: Vec<String>,
}

fn default_allowed_names() -> Vec<String> {
    vec!["front-proxy-client".into()]
}
fn default_username_headers() -> Vec<String> {
    vec!["X-Remote-User".into()]
}
fn default_group_headers() -> Vec<String> {
    vec!["X-Remote-Group".into()]
}
fn default_extra_prefixes() -> Vec<String> {
    vec!["X-Remote-Extra-".into()]
}

/// Validated `https:` settings.
#[derive(Debug, Clone)]
pub struct HttpsSettings {
    pub listen: SocketAddr,
    pub tls: TlsFiles,
    pub client_ca_file: Option<PathBuf>,
    pub requestheader: Option<RequestHeaderSettings>,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RequestHeaderSettings {
    pub client_ca_file: PathBuf,
    pub allowed_names: Vec<String>,
    /// Lower-cased header names, in the order they are tried.
    pub username_headers: Vec<String>,
    pub group_headers: Vec<String>,
    pub extra_headers_prefix: Vec<String>,
}

fn header_names(field: &str, names: Vec<String>) -> Result<Vec<String>, FieldError> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let lower = name.to_ascii_lowercase();
            match http::HeaderName::from_bytes(lower.as_bytes()) {
                Ok(_) => Ok(lower),
                Err(_) => Err(FieldError::new(
                    format!("{field}[{i}]"),
                    format!("{name:?} is not a valid HTTP header name"),
                )),
            }
        })
        .collect()
}

impl TryFrom<RawHttpsConfig> for HttpsSettings {
    type Error = FieldError;

    fn try_from(raw: RawHttpsConfig) -> Result<Self, FieldError> {
        if raw.client_ca_file.is_none() && raw.requestheader.is_none() {
            return Err(FieldError::new(
                "https",
                "set client_ca_file or requestheader.client_ca_file: without one no request \
                 can be authenticated",
            ));
        }
        let requestheader = match raw.requestheader {
            None => None,
            Some(r) => {
                let username_headers =
                    header_names("https.requestheader.username_headers", r.username_headers)?;
                if username_headers.is_empty() {
                    return Err(FieldError::new(
                        "https.requestheader.username_headers",
                        "must name at least one header",
                    ));
                }
                Some(RequestHeaderSettings {
                    client_ca_file: r.client_ca_file,
                    allowed_names: r.allowed_names,
                    username_headers,
                    group_headers: header_names(
                        "https.requestheader.group_headers",
                        r.group_headers,
                    )?,
                    extra_headers_prefix: r
                        .extra_headers_prefix
                        .into_iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect(),
                })
            }
        };
        let tls = TlsFiles::validate(
            super::tls::RawTlsConfig {
                cert_file: raw.cert_file,
                key_file: raw.key_file,
                client_ca_file: None,
                reload_interval: raw.reload_interval,
            },
            "https",
        )?;
        Ok(HttpsSettings {
            listen: raw.listen,
            tls,
            client_ca_file: raw.client_ca_file,
            requestheader,
            max_connections: at_least("https.max_connections", raw.max_connections, 1)?,
            handshake_timeout: super::positive("https.handshake_timeout", raw.handshake_timeout)?,
        })
    }
}
