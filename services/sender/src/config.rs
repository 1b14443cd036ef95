//! Sender configuration: the raw serde shape (defaults, `deny_unknown_fields`) and the
//! validated settings the runtime uses.
//!
//! Field names follow Prometheus' `remote_write` / `queue_config` (2.42) where the meaning is
//! the same, so an operator can carry a tuned Prometheus config over. Defaults differ where a
//! 1 s scrape pipeline needs it; each such field says so. Validation errors are
//! [`FieldError`]s naming the dotted field path relative to this section
//! (`destinations[0].queue.capacity`), so a role embedding the section can prefix its own.
//!
//! ```yaml
//! flush_deadline: 5s
//! destinations:
//!   - name: store
//!     url: http://store:9201/api/v1/write
//!     queue: { shards: 2, max_samples_per_send: 2000 }
//!   - name: mimir
//!     url: https://mimir.example/api/v1/push
//!     headers: { X-Scope-OrgID: team-a }
//!     basic_auth: { username: team-a, password_file: /secrets/mimir }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use tachyscale_config::{at_least, FieldError};
use url::Url;

/// Headers the sender sets itself or that belong to the transport. Prometheus 2.42 refuses
/// the same names in `headers` (`config.reservedHeaders`); `authorization` is refused too
/// because it comes from `bearer_token_file` or `basic_auth`.
const RESERVED_HEADERS: &[&str] = &[
    "accept-encoding",
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "www-authenticate",
    "x-prometheus-remote-read-version",
    "x-prometheus-remote-write-version",
];

/// Longest destination name: it is a metric label value and a log field.
const MAX_NAME_LEN: usize = 64;

/// Most shards per destination; each is a task with one request in flight.
const MAX_SHARDS: usize = 256;

/// The `remote_write` section as written by the operator.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSenderConfig {
    /// Where samples go; each destination has its own buffer, shards and HTTP client.
    pub destinations: Vec<RawDestinationConfig>,
    /// How long a stopping sender keeps sending what is buffered before dropping the rest
    /// (Prometheus' `--storage.remote.flush-deadline`, 1 m there).
    #[serde(with = "humantime_serde")]
    pub flush_deadline: Duration,
}

impl Default for RawSenderConfig {
    fn default() -> Self {
        RawSenderConfig {
            destinations: Vec::new(),
            flush_deadline: Duration::from_secs(5),
        }
    }
}

/// One remote-write endpoint.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDestinationConfig {
    /// Names the destination in metrics and logs: 1 to 64 of `[A-Za-z0-9_.-]`, unique.
    pub name: String,
    /// Remote-write endpoint, e.g. `http://store:9201/api/v1/write`; http or https.
    pub url: String,
    /// Limit for one HTTP request including connect (Prometheus' `remote_timeout`, 30 s
    /// there: a 1 s pipeline should notice a stuck endpoint sooner).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra request headers, e.g. `X-Scope-OrgID`; protocol and auth headers are refused.
    pub headers: BTreeMap<String, String>,
    /// File holding a bearer token, re-read every minute so rotated tokens are picked up.
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic authentication; exclusive with `bearer_token_file`.
    pub basic_auth: Option<RawBasicAuth>,
    /// Buffering, batching and retries.
    pub queue: RawQueueConfig,
}

impl Default for RawDestinationConfig {
    fn default() -> Self {
        RawDestinationConfig {
            name: String::new(),
            url: String::new(),
            timeout: Duration::from_secs(5),
            headers: BTreeMap::new(),
            bearer_token_file: None,
            basic_auth: None,
            queue: RawQueueConfig::default(),
        }
    }
}

/// Basic authentication; exactly one of `password` and `password_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawBasicAuth {
    /// User name.
    pub username: String,
    /// Password given inline.
    pub password: Option<Secret>,
    /// File holding the password, re-read every minute.
    pub password_file: Option<PathBuf>,
}

/// Per-destination queue (Prometheus' `queue_config`).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQueueConfig {
    /// Most samples buffered for this destination, in flight included; beyond it new
    /// samples are dropped (Prometheus counts 10,000 per shard and blocks instead).
    pub capacity: usize,
    /// Most samples in one request (Prometheus: 2,000).
    pub max_samples_per_send: usize,
    /// Longest a sample waits for its batch to fill (Prometheus: 5 s, which would add up
    /// to 5 s of lag to a 1 s pipeline; 50 ms keeps batches large under load and lag small).
    #[serde(with = "humantime_serde")]
    pub batch_send_deadline: Duration,
    /// Parallel senders; each series always goes to the same shard, which keeps its
    /// samples in order (Prometheus reshards between `min_shards` and `max_shards`).
    pub shards: usize,
    /// First retry delay, doubled after every failed attempt (Prometheus: 30 ms).
    #[serde(with = "humantime_serde")]
    pub min_backoff: Duration,
    /// Longest retry delay (Prometheus: 5 s).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Retry requests answered 429, after `Retry-After` seconds when given (Prometheus:
    /// false; our store answers 429 when rate limiting, so dropping would lose data).
    pub retry_on_http_429: bool,
    /// Samples older than this are dropped instead of sent or retried; with no WAL it is
    /// what bounds retrying (Prometheus >= 2.50 `sample_age_limit`, off by default).
    #[serde(with = "humantime_serde")]
    pub max_sample_age: Duration,
}

impl Default for RawQueueConfig {
    fn default() -> Self {
        RawQueueConfig {
            capacity: 100_000,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_millis(50),
            shards: 2,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
            max_sample_age: Duration::from_secs(300),
        }
    }
}

/// A string kept out of `Debug` output and logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Validated sender settings.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    pub destinations: Vec<DestinationSettings>,
    pub flush_deadline: Duration,
}

/// Validated settings of one destination.
#[derive(Debug, Clone)]
pub struct DestinationSettings {
    pub name: String,
    pub url: Url,
    pub timeout: Duration,
    /// Operator headers, already checked to be valid and not reserved.
    pub headers: HeaderMap,
    pub auth: Option<Auth>,
    pub queue: QueueSettings,
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    /// `Authorization: Bearer <file contents, trimmed>`.
    BearerTokenFile(PathBuf),
    /// `Authorization: Basic …`.
    Basic {
        username: String,
        password: Password,
    },
}

/// Where a basic-auth password comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Password {
    Inline(Secret),
    File(PathBuf),
}

/// Validated queue settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSettings {
    pub capacity: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub shards: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
    pub max_sample_age: Duration,
}

impl SenderSettings {
    /// Parses and validates the YAML text of this section.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        tachyscale_config::parse::<RawSenderConfig, SenderSettings>(text)
    }
}

fn positive(field: &str, value: Duration) -> Result<Duration, FieldError> {
    if value.is_zero() {
        return Err(FieldError::new(field, "must be greater than zero"));
    }
    Ok(value)
}

impl TryFrom<RawSenderConfig> for SenderSettings {
    type Error = FieldError;

    fn try_from(raw: RawSenderConfig) -> Result<Self, FieldError> {
        let mut names = HashSet::new();
        let mut destinations = Vec::with_capacity(raw.destinations.len());
        for (i, dest) in raw.destinations.into_iter().enumerate() {
            let prefix = format!("destinations[{i}]");
            if !names.insert(dest.name.clone()) {
                return Err(FieldError::new(
                    format!("{prefix}.name"),
                    format!("duplicate destination name {:?}", dest.name),
                ));
            }
            destinations.push(destination(&prefix, dest)?);
        }
        Ok(SenderSettings {
            destinations,
            flush_deadline: positive("flush_deadline", raw.flush_deadline)?,
        })
    }
}

impl TryFrom<RawDestinationConfig> for DestinationSettings {
    type Error = FieldError;

    /// Validates one destination on its own; field paths are relative to it.
    fn try_from(raw: RawDestinationConfig) -> Result<Self, FieldError> {
        destination("", raw)
    }
}

/// Joins a prefix and a field name into a dotted path.
fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn destination(prefix: &str, raw: RawDestinationConfig) -> Result<DestinationSettings, FieldError> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= MAX_NAME_LEN
        && raw
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !name_ok {
        return Err(FieldError::new(
            path(prefix, "name"),
            format!(
                "must be 1 to {MAX_NAME_LEN} of [A-Za-z0-9_.-], got {:?}",
                raw.name
            ),
        ));
    }
    let url = Url::parse(&raw.url)
        .map_err(|err| FieldError::new(path(prefix, "url"), format!("{err}: {:?}", raw.url)))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(FieldError::new(
            path(prefix, "url"),
            format!(
                "must be an http or https URL with a host, got {:?}",
                raw.url
            ),
        ));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &raw.headers {
        let field = path(prefix, &format!("headers.{name}"));
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FieldError::new(&field, "is not a valid header name"))?;
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(FieldError::new(
                &field,
                "is set by the sender or its auth settings and cannot be overridden",
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| FieldError::new(&field, "is not a valid header value"))?;
        headers.insert(header, value);
    }
    let auth = match (raw.bearer_token_file, raw.basic_auth) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                path(prefix, "basic_auth"),
                "cannot be combined with bearer_token_file",
            ))
        }
        (Some(file), None) => Some(Auth::BearerTokenFile(file)),
        (None, Some(basic)) => Some(basic_auth(&path(prefix, "basic_auth"), basic)?),
        (None, None) => None,
    };
    Ok(DestinationSettings {
        name: raw.name,
        url,
        timeout: positive(&path(prefix, "timeout"), raw.timeout)?,
        headers,
        auth,
        queue: queue(&path(prefix, "queue"), raw.queue)?,
    })
}

fn basic_auth(prefix: &str, raw: RawBasicAuth) -> Result<Auth, FieldError> {
    if raw.username.is_empty() {
        return Err(FieldError::new(
            path(prefix, "username"),
            "must not be empty",
        ));
    }
    let password = match (raw.password, raw.password_file) {
        (Some(password), None) => Password::Inline(password),
        (None, Some(file)) => Password::File(file),
        _ => {
            return Err(FieldError::new(
                prefix,
                "needs exactly one of password and password_file",
            ))
        }
    };
    Ok(Auth::Basic {
        username: raw.username,
        password,
    })
}

fn queue(prefix: &str, raw: RawQueueConfig) -> Result<QueueSettings, FieldError> {
    let max_samples_per_send = at_least(
        &path(prefix, "max_samples_per_send"),
        raw.max_samples_per_send,
        1,
    )?;
    let capacity = at_least(
        &path(prefix, "capacity"),
        raw.capacity,
        max_samples_per_send,
    )?;
    let shards = at_least(&path(prefix, "shards"), raw.shards, 1)?;
    if shards > MAX_SHARDS {
        return Err(FieldError::new(
            path(prefix, "shards"),
            format!("must be at most {MAX_SHARDS}, got {shards}"),
        ));
    }
    let min_backoff = positive(&path(prefix, "min_backoff"), raw.min_backoff)?;
    if raw.max_backoff < min_backoff {
        return Err(FieldError::new(
            path(prefix, "max_backoff"),
            format!(
                "must be at least min_backoff ({min_backoff:?}), got {:?}",
                raw.max_backoff
            ),
        ));
    }
    Ok(QueueSettings {
        capacity,
        max_samples_per_send,
        batch_send_deadline: positive(
            &path(prefix, "batch_send_deadline"),
            raw.batch_send_deadline,
        )?,
        shards,
        min_backoff,
        max_backoff: raw.max_backoff,
        retry_on_http_429: raw.retry_on_http_429,
        max_sample_age: positive(&path(prefix, "max_sample_age"), raw.max_sample_age)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_err(text: &str) -> FieldError {
        SenderSettings::from_yaml(text).unwrap_err()
    }

    #[test]
    fn defaults_follow_prometheus_except_the_documented_ones() {
        let settings = SenderSettings::from_yaml(
            "destinations:\n  - name: store\n    url: http://127.0.0.1:9201/api/v1/write\n",
        )
        .unwrap();
        assert_eq!(settings.flush_deadline, Duration::from_secs(5));
        let dest = &settings.destinations[0];
        assert_eq!(dest.timeout, Duration::from_secs(5));
        assert_eq!(dest.auth, None);
        let q = dest.queue;
        assert_eq!(q.max_samples_per_send, 2000);
        assert_eq!(q.min_backoff, Duration::from_millis(30));
        assert_eq!(q.max_backoff, Duration::from_secs(5));
        assert_eq!(q.batch_send_deadline, Duration::from_millis(50));
        assert_eq!(q.capacity, 100_000);
        assert_eq!(q.shards, 2);
        assert!(q.retry_on_http_429);
        assert_eq!(q.max_sample_age, Duration::from_secs(300));
    }

    #[test]
    fn the_module_example_is_valid() {
        let example: String = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! ```yaml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.strip_prefix("//! ").unwrap_or("")))
            .collect();
        let settings = SenderSettings::from_yaml(&example).unwrap();
        assert_eq!(settings.destinations.len(), 2);
        let mimir = &settings.destinations[1];
        assert_eq!(mimir.headers["x-scope-orgid"], "team-a");
        assert_eq!(
            mimir.auth,
            Some(Auth::Basic {
                username: "team-a".into(),
                password: Password::File("/secrets/mimir".into()),
            })
        );
    }

    #[test]
    fn errors_name_the_field() {
        let err = yaml_err("destinations:\n  - {name: a, url: 'ftp://x/'}\n");
        assert_eq!(err.field, "destinations[0].url");
        let err = yaml_err("destinations:\n  - {name: 'a b', url: 'http://x/'}\n");
        assert_eq!(err.field, "destinations[0].name");
        let err = yaml_err(
            "destinations:\n  - {name: a, url: 'http://x/'}\n  - {name: a, url: 'http://y/'}\n",
        );
        assert_eq!(err.field, "destinations[1].name");
        let err = yaml_err(
            "destinations:\n  - {name: a, url: 'http://x/', queue: {capacity: 10, max_samples_per_send: 20}}\n",
        );
        assert_eq!(err.field, "destinations[0].queue.capacity");
        let err = yaml_err(
            "destinations:\n  - {name: a, url: 'http://x/', queue: {min_backoff: 1s, max_backoff: 10ms}}\n",
        );
        assert_eq!(err.field, "destinations[0].queue.max_backoff");
        let err = yaml_err("destinations:\n  - {name: a, url: 'http://x/', queue: {shards: 0}}\n");
        assert_eq!(err.field, "destinations[0].queue.shards");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            yaml_err("destinations:\n  - {name: a, url: 'http://x/', queue: {max_shards: 3}}\n");
        assert_eq!(err.field, "destinations[0].queue.max_shards");
    }

    #[test]
    fn protocol_and_auth_headers_are_refused() {
        for header in [
            "Content-Encoding",
            "authorization",
            "X-Prometheus-Remote-Write-Version",
        ] {
            let err = yaml_err(&format!(
                "destinations:\n  - {{name: a, url: 'http://x/', headers: {{{header}: v}}}}\n"
            ));
            assert_eq!(err.field, format!("destinations[0].headers.{header}"));
        }
    }

    #[test]
    fn auth_settings_are_exclusive_and_complete() {
        let err = yaml_err(
            "destinations:\n  - name: a\n    url: http://x/\n    bearer_token_file: /t\n    basic_auth: {username: u, password: p}\n",
        );
        assert_eq!(err.field, "destinations[0].basic_auth");
        let err = yaml_err(
            "destinations:\n  - name: a\n    url: http://x/\n    basic_auth: {username: u}\n",
        );
        assert_eq!(err.field, "destinations[0].basic_auth");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let settings = SenderSettings::from_yaml(
            "destinations:\n  - name: a\n    url: http://x/\n    basic_auth: {username: u, password: hunter2}\n",
        )
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
