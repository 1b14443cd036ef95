//! One destination's HTTP side: the POST of a remote-write body and the classification of
//! what came back into "done", "retry (maybe after N seconds)" or "drop".
//!
//! Classification follows Prometheus 2.42 `storage/remote/client.go` (`Client.Store`):
//! 2xx is success; 5xx and every transport error (refused connection, timeout, reset) are
//! recoverable; 429 is recoverable only with `retry_on_http_429`, honouring `Retry-After`;
//! everything else (other 4xx, a 3xx left after redirects) is final. Deviations: only the
//! delay-seconds form of `Retry-After` is understood (an HTTP date falls back to the
//! backoff), and credentials files are cached for a minute instead of re-read per request.
//!
//! One `reqwest::Client` per destination keeps connections alive between requests (HTTP/1.1,
//! like Prometheus' default). Response bodies are read only up to a small limit: an error's
//! first line is logged, a success body is drained so the connection can be reused.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use url::Url;

use crate::config::{Auth, DestinationSettings, Password};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("tachyscale/", env!("CARGO_PKG_VERSION"));

/// How long a credentials file's contents are reused before it is read again.
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(60);

/// Most bytes of an error body read for the log line.
const ERROR_BODY_LIMIT: usize = 1024;

/// Most bytes of a success body drained to keep the connection reusable; beyond it the
/// connection is dropped instead (remote-write receivers answer with empty bodies).
const SUCCESS_BODY_LIMIT: usize = 64 * 1024;

/// Why one attempt to send a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("remote-write endpoint answered {status}")]
    Status {
        status: StatusCode,
        /// First line of the response body, for the log.
        first_line: String,
        /// `Retry-After` in seconds, when present and positive.
        retry_after: Option<Duration>,
    },
    #[error("remote-write request timed out")]
    Timeout(#[source] reqwest::Error),
    #[error("cannot connect to remote-write endpoint")]
    Connect(#[source] reqwest::Error),
    #[error("remote-write request failed")]
    Transport(#[source] reqwest::Error),
    #[error("cannot read credentials file {path}")]
    Credentials {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What to do with a batch after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again, after `Retry-After` when the receiver named a delay, else after the backoff.
    Retry { after: Option<Duration> },
    /// Give the batch up and count it as failed.
    Drop,
}

impl SendError {
    /// Bounded reason label.
    pub fn reason(&self) -> &'static str {
        match self {
            SendError::Status { status, .. } => match status.as_u16() {
                429 => "http_429",
                400..=499 => "http_4xx",
                500..=599 => "http_5xx",
                _ => "http_other",
            },
            SendError::Timeout(_) => "timeout",
            SendError::Connect(_) => "connect",
            SendError::Transport(_) => "transport",
            SendError::Credentials { .. } => "credentials",
        }
    }

    /// Status class for `requests_total{code}`; `error` when no response arrived.
    pub fn code_class(&self) -> &'static str {
        match self {
            SendError::Status { status, .. } => code_class(*status),
            _ => "error",
        }
    }

    /// Retry classification of Prometheus 2.42 (see the module docs).
    pub fn disposition(&self, retry_on_http_429: bool) -> Disposition {
        match self {
            SendError::Status {
                status,
                retry_after,
                ..
            } => {
                if status.is_server_error() {
                    Disposition::Retry { after: None }
                } else if *status == StatusCode::TOO_MANY_REQUESTS && retry_on_http_429 {
                    Disposition::Retry {
                        after: *retry_after,
                    }
                } else {
                    Disposition::Drop
                }
            }
            SendError::Timeout(_)
            | SendError::Connect(_)
            | SendError::Transport(_)
            | SendError::Credentials { .. } => Disposition::Retry { after: None },
        }
    }
}

/// `2xx`, `3xx`, `4xx`, `5xx`, or `error` for anything else.
pub fn code_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "error",
    }
}

/// The delay-seconds form of `Retry-After`; `None` when absent, zero or not a number.
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// The HTTP client of one destination.
pub struct RemoteClient {
    http: reqwest::Client,
    url: Url,
    auth: Option<AuthSource>,
}

enum AuthSource {
    Bearer(FileSecret),
    Basic {
        username: String,
        password: PasswordSource,
    },
}

enum PasswordSource {
    Inline(String),
    File(FileSecret),
}

impl RemoteClient {
    pub fn new(settings: &DestinationSettings) -> Result<Self, reqwest::Error> {
        let mut headers = settings.headers.clone();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // Prometheus 2.42 has no `proxy_from_environment`: ignore HTTP(S)_PROXY too.
            .no_proxy()
            .build()?;
        let auth = settings.auth.as_ref().map(|auth| match auth {
            Auth::BearerTokenFile(path) => AuthSource::Bearer(FileSecret::new(path.clone())),
            Auth::Basic { username, password } => AuthSource::Basic {
                username: username.clone(),
                password: match password {
                    Password::Inline(secret) => PasswordSource::Inline(secret.expose().to_string()),
                    Password::File(path) => PasswordSource::File(FileSecret::new(path.clone())),
                },
            },
        });
        Ok(RemoteClient {
            http,
            url: settings.url.clone(),
            auth,
        })
    }

    /// POSTs one body; `Ok` carries the 2xx status.
    pub async fn store(&self, body: Bytes) -> Result<StatusCode, SendError> {
        let mut request = self.http.post(self.url.clone()).body(body);
        match &self.auth {
            None => {}
            Some(AuthSource::Bearer(token)) => {
                request = request.bearer_auth(token.get()?);
            }
            Some(AuthSource::Basic { username, password }) => {
                let password = match password {
                    PasswordSource::Inline(p) => p.clone(),
                    PasswordSource::File(file) => file.get()?,
                };
                request = request.basic_auth(username, Some(password));
            }
        }
        let mut response = request.send().await.map_err(classify_transport)?;
        let status = response.status();
        if status.is_success() {
            drain(&mut response, SUCCESS_BODY_LIMIT).await;
            return Ok(status);
        }
        let retry_after = parse_retry_after(response.headers());
        let prefix = drain(&mut response, ERROR_BODY_LIMIT).await;
        let text = String::from_utf8_lossy(&prefix);
        let first_line = text.lines().next().unwrap_or("").trim().to_string();
        Err(SendError::Status {
            status,
            first_line,
            retry_after,
        })
    }
}

fn classify_transport(err: reqwest::Error) -> SendError {
    if err.is_timeout() {
        SendError::Timeout(err)
    } else if err.is_connect() {
        SendError::Connect(err)
    } else {
        SendError::Transport(err)
    }
}

/// Reads up to `limit` bytes of the body; errors end the read (the status already decided).
async fn drain(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// A secret read from a file and cached for [`CREDENTIALS_REFRESH`]. The read is a small
/// blocking read (a mounted secret, at most once a minute), done inline.
struct FileSecret {
    path: PathBuf,
    cached: Mutex<Option<(Instant, String)>>,
}

impl FileSecret {
    fn new(path: PathBuf) -> Self {
        FileSecret {
            path,
            cached: Mutex::new(None),
        }
    }

    fn get(&self) -> Result<String, SendError> {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read_at, value)) = cached.as_ref() {
            if read_at.elapsed() < CREDENTIALS_REFRESH {
                return Ok(value.clone());
            }
        }
        let value = std::fs::read_to_string(&self.path)
            .map_err(|source| SendError::Credentials {
                path: self.path.clone(),
                source,
            })?
            .trim()
            .to_string();
        *cached = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<u64>) -> SendError {
        SendError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            first_line: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn server_errors_are_retried_and_client_errors_are_not() {
        assert_eq!(
            status(503, None).disposition(true),
            Disposition::Retry { after: None }
        );
        assert_eq!(status(400, None).disposition(true), Disposition::Drop);
        assert_eq!(status(400, None).reason(), "http_4xx");
        assert_eq!(status(308, None).disposition(true), Disposition::Drop);
        assert_eq!(status(308, None).reason(), "http_other");
    }

    #[test]
    fn too_many_requests_follows_the_setting_and_retry_after() {
        assert_eq!(
            status(429, Some(3)).disposition(true),
            Disposition::Retry {
                after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(status(429, Some(3)).disposition(false), Disposition::Drop);
        assert_eq!(status(429, None).reason(), "http_429");
        assert_eq!(status(429, None).code_class(), "4xx");
    }

    #[test]
    fn retry_after_takes_positive_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(" 2 "));
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn credentials_files_are_trimmed_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").unwrap();
        let secret = FileSecret::new(path.clone());
        assert_eq!(secret.get().unwrap(), "abc");
        std::fs::write(&path, "def\n").unwrap();
        assert_eq!(secret.get().unwrap(), "abc");
        let missing = FileSecret::new(dir.path().join("missing"));
        let err = missing.get().unwrap_err();
        assert_eq!(err.reason(), "credentials");
        assert_eq!(err.disposition(false), Disposition::Retry { after: None });
    }
}
