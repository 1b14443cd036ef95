//! Who is asking, as a Kubernetes aggregated API server decides it.
//!
//! The API server proxies requests over mTLS with its front-proxy client certificate and
//! states the user in `X-Remote-User` / `X-Remote-Group` / `X-Remote-Extra-*`. Those headers
//! are trusted only when that certificate chains to the request-header CA and its CN is
//! allowed. Otherwise a client certificate signed by the client CA authenticates its CN
//! (groups from O), as kube-apiserver's x509 authenticator does. Anything else is 401.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

use crate::config::{ExternalMetricsSettings, RequestHeaderSettings};
use crate::tls::TlsState;

/// Names of the verifiers [`crate::tls::TlsSource::named_verifiers`] builds for this.
pub const REQUESTHEADER_VERIFIER: &str = "requestheader";
pub const CLIENT_CA_VERIFIER: &str = "client-ca";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    pub via: Via,
}

/// How the user was authenticated, which decides what authorization still has to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Through the API server, which authorized the request before proxying it.
    FrontProxy,
    /// Directly with a client certificate: nothing has authorized it yet.
    ClientCertificate,
}

/// Why a request is refused; the `reason` label of `tachyscale_store_auth_failures_total`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no client certificate; this API authenticates the Kubernetes API server's front-proxy certificate or client certificates (bearer tokens are not accepted)")]
    NoCertificate,
    #[error("the client certificate is not signed by the request-header CA or the client CA")]
    UntrustedCertificate,
    #[error(
        "the front-proxy certificate's common name {0:?} is not in requestheader.allowed_names"
    )]
    NameNotAllowed(String),
    #[error("the front-proxy request has no user header ({0})")]
    NoUserHeader(String),
    #[error("the client certificate has no common name to use as user name")]
    NoCommonName,
    #[error("user {user:?} may not read external metrics (not in external_metrics.allowed_users or allowed_groups)")]
    Forbidden { user: String },
    #[error("user {user:?} came with a client certificate, not through the API server; such users need to be listed in external_metrics.allowed_users or allowed_groups")]
    DirectAccessNotAllowed { user: String },
}

impl AuthError {
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::NoCertificate => "no_certificate",
            AuthError::UntrustedCertificate => "untrusted_certificate",
            AuthError::NameNotAllowed(_) => "name_not_allowed",
            AuthError::NoUserHeader(_) => "no_user_header",
            AuthError::NoCommonName => "no_common_name",
            AuthError::Forbidden { .. } => "forbidden",
            AuthError::DirectAccessNotAllowed { .. } => "direct_access_not_allowed",
        }
    }

    /// 403 for an authenticated user without access; 401 for the rest.
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            AuthError::Forbidden { .. } | AuthError::DirectAccessNotAllowed { .. }
        )
    }
}

/// Authenticates a request from its connection's certificate chain and its headers.
pub fn authenticate(
    chain: Option<&[CertificateDer<'static>]>,
    headers: &HeaderMap,
    tls: &TlsState,
    requestheader: Option<&RequestHeaderSettings>,
    now: UnixTime,
) -> Result<UserInfo, AuthError> {
    let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
        return Err(AuthError::NoCertificate);
    };
    let mut failure = AuthError::UntrustedCertificate;
    if let (Some(settings), Some(verifier)) = (requestheader, tls.verifier(REQUESTHEADER_VERIFIER))
    {
        if verifies(verifier.as_ref(), leaf, intermediates, now) {
            match front_proxy_user(leaf, headers, settings) {
                Ok(user) => return Ok(user),
                Err(e) => failure = e,
            }
        }
    }
    if let Some(verifier) = tls.verifier(CLIENT_CA_VERIFIER) {
        if verifies(verifier.as_ref(), leaf, intermediates, now) {
            let subject = subject(leaf).ok_or(AuthError::NoCommonName)?;
            let name = subject.common_name.ok_or(AuthError::NoCommonName)?;
            return Ok(UserInfo {
                name,
                groups: subject.organizations,
                extra: BTreeMap::new(),
                via: Via::ClientCertificate,
            });
        }
    }
    Err(failure)
}

/// Whether the authenticated user may read, per `allowed_users` / `allowed_groups`. With
/// both lists empty, only requests the API server proxied (and so authorized) pass: the
/// client CA is usually the cluster CA, which also signs every kubelet's certificate.
pub fn authorize(user: &UserInfo, settings: &ExternalMetricsSettings) -> Result<(), AuthError> {
    if settings.allowed_users.is_empty() && settings.allowed_groups.is_empty() {
        return match user.via {
            Via::FrontProxy => Ok(()),
            Via::ClientCertificate => Err(AuthError::DirectAccessNotAllowed {
                user: user.name.clone(),
            }),
        };
    }
    let allowed = settings.allowed_users.contains(&user.name)
        || user
            .groups
            .iter()
            .any(|g| settings.allowed_groups.contains(g));
    if allowed {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            user: user.name.clone(),
        })
    }
}

fn verifies(
    verifier: &dyn ClientCertVerifier,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
) -> bool {
    verifier
        .verify_client_cert(leaf, intermediates, now)
        .is_ok()
}

fn front_proxy_user(
    leaf: &CertificateDer<'_>,
    headers: &HeaderMap,
    settings: &RequestHeaderSettings,
) -> Result<UserInfo, AuthError> {
    let common_name = subject(leaf)
        .and_then(|s| s.common_name)
        .unwrap_or_default();
    if !settings.allowed_names.is_empty() && !settings.allowed_names.contains(&common_name) {
        return Err(AuthError::NameNotAllowed(common_name));
    }
    let name = settings
        .username_headers
        .iter()
        .find_map(|h| header_value(headers, h).filter(|v| !v.is_empty()))
        .ok_or_else(|| AuthError::NoUserHeader(settings.username_headers.join(", ")))?;
    let groups = settings
        .group_headers
        .iter()
        .flat_map(|h| headers.get_all(h.as_str()).iter())
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        let lower = header.as_str();
        if let Some(prefix) = settings
            .extra_headers_prefix
            .iter()
            .find(|p| lower.starts_with(p.as_str()))
        {
            if let Ok(value) = value.to_str() {
                extra
                    .entry(lower[prefix.len()..].to_string())
                    .or_default()
                    .push(value.to_string());
            }
        }
    }
    Ok(UserInfo {
        name,
        groups,
        extra,
        via: Via::FrontProxy,
    })
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

struct Subject {
    common_name: Option<String>,
    organizations: Vec<String>,
}

fn subject(cert: &CertificateDer<'_>) -> Option<Subject> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let found = Subject {
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        organizations: subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_string)
            .collect(),
    };
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(users: &[&str], groups: &[&str]) -> ExternalMetricsSettings {
        let yaml = format!("{{allowed_users: {users:?}, allowed_groups: {groups:?}}}",);
        let raw: crate::config::external::RawExternalMetricsConfig =
            serde_yaml_ng::from_str(&yaml).unwrap();
        ExternalMetricsSettings::try_from(raw).unwrap()
    }

    fn user(name: &str, groups: &[&str], via: Via) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            extra: BTreeMap::new(),
            via,
        }
    }

    #[test]
    fn without_lists_only_proxied_requests_pass() {
        let open = settings(&[], &[]);
        assert_eq!(authorize(&user("hpa", &[], Via::FrontProxy), &open), Ok(()));
        let e = authorize(
            &user("system:node:n1", &["system:nodes"], Via::ClientCertificate),
            &open,
        )
        .unwrap_err();
        assert_eq!(e.reason(), "direct_access_not_allowed");
        assert!(e.is_forbidden());
    }

    #[test]
    fn lists_admit_users_and_groups_from_either_path() {
        let listed = settings(&["alice"], &["hpa-readers"]);
        assert!(authorize(&user("alice", &[], Via::ClientCertificate), &listed).is_ok());
        assert!(authorize(&user("bob", &["hpa-readers"], Via::FrontProxy), &listed).is_ok());
        let e = authorize(&user("bob", &["x"], Via::FrontProxy), &listed).unwrap_err();
        assert_eq!(e.reason(), "forbidden");
    }
}
