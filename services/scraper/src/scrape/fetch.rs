//! One HTTP scrape: GET with Prometheus' headers, a deadline and a body size limit.
//!
//! The body is streamed into a buffer the target's loop reuses, so a steady 300 KB
//! exposition costs no allocation per scrape, and a target that sends more than
//! `body_limit_bytes` is cut off as soon as it crosses the limit instead of after it has
//! been buffered whole (Prometheus 2.42 `body_size_limit` behaves the same way).

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use tachyscale_exposition::ACCEPT_HEADER;

/// Why a scrape produced no body.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed")]
    Request(#[source] reqwest::Error),
    #[error("scrape timed out after {0:?}")]
    Timeout(Duration),
    #[error("server returned HTTP status {0}")]
    Status(u16),
    #[error("body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
}

impl FetchError {
    /// Bounded reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Request(err) if err.is_connect() => "connect",
            FetchError::Request(err) if err.is_timeout() => "timeout",
            FetchError::Request(_) => "request",
            FetchError::Timeout(_) => "timeout",
            FetchError::Status(_) => "http_status",
            FetchError::BodyTooLarge { .. } => "body_too_large",
        }
    }
}

/// Headers every scrape sends.
pub fn user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("tachyscale/", env!("CARGO_PKG_VERSION")))
}

/// Sends `request` and reads the answer into `body` (cleared first) and returns the response's `Content-Type`.
pub async fn fetch(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    body_limit_bytes: usize,
    body: &mut Vec<u8>,
) -> Result<Option<String>, FetchError> {
    body.clear();
    // A target that once sent a huge body should not pin that memory for ever.
    if body.capacity() > 4 * (body_limit_bytes.max(1 << 20)) {
        body.shrink_to(1 << 20);
    }
    let work = async {
        let request = request
            .header(ACCEPT, ACCEPT_HEADER)
            .header(USER_AGENT, user_agent())
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        let mut response = request.send().await.map_err(FetchError::Request)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(length) = response.content_length() {
            if body_limit_bytes > 0 && length as usize > body_limit_bytes {
                return Err(FetchError::BodyTooLarge {
                    limit: body_limit_bytes,
                });
            }
            // The header is the target's claim, not a fact: reserve at most 1 MiB up front
            // (with `body_size_limit: 0` a hostile length would otherwise abort the process).
            body.reserve((length as usize).min(1 << 20));
        }
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Request)? {
            if body_limit_bytes > 0 && body.len() + chunk.len() > body_limit_bytes {
                return Err(FetchError::BodyTooLarge {
                    limit: body_limit_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(content_type)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Timeout(timeout)),
    }
}
