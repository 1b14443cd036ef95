//! TLS file settings shared by the gRPC and HTTPS listeners.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tachyscale_config::FieldError;

/// A server certificate and key, plus optional client CA, as PEM files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Clients must present a certificate signed by one of these CAs (mTLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for changes (certificate rotation without restart).
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
}

pub fn default_reload_interval() -> Duration {
    Duration::from_secs(10)
}

/// Validated TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub reload_interval: Duration,
}

impl TlsFiles {
    pub fn validate(raw: RawTlsConfig, field: &str) -> Result<Self, FieldError> {
        if raw.reload_interval.is_zero() {
            return Err(FieldError::new(
                format!("{field}.reload_interval"),
                "must be greater than zero",
            ));
        }
        for (name, path) in [("cert_file", &raw.cert_file), ("key_file", &raw.key_file)] {
            if path.as_os_str().is_empty() {
                return Err(FieldError::new(
                    format!("{field}.{name}"),
                    "must not be empty",
                ));
            }
        }
        Ok(TlsFiles {
            cert_file: raw.cert_file,
            key_file: raw.key_file,
            client_ca_file: raw.client_ca_file,
            reload_interval: raw.reload_interval,
        })
    }
}
