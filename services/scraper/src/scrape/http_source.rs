//! The HTTP exposition source: fetch with keep-alive, then parse strictly and append.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use tachyscale_exposition::{Format, Limits, ParseError, Parser};
use url::Url;

use super::appender::{AppendError, Appender};
use super::fetch::{fetch, FetchError};
use super::scrape_loop::{ScrapeFailure, TargetSource};

/// Why an HTTP scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("invalid exposition")]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error("cannot read bearer token file {path}: {message}")]
    Token { path: PathBuf, message: String },
}

impl ScrapeFailure for ScrapeError {
    fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Fetch(err) => err.reason(),
            ScrapeError::Parse(err) => err.reason(),
            ScrapeError::Append(err) => err.reason(),
            ScrapeError::Token { .. } => "bearer_token",
        }
    }
}

/// One target's HTTP endpoint and its reusable body buffer.
pub struct HttpSource {
    pub client: reqwest::Client,
    pub url: Url,
    pub bearer_token_file: Option<PathBuf>,
    pub body_limit_bytes: usize,
    /// Reused across scrapes: in steady state a parse allocates nothing.
    parser: Parser,
    body: Vec<u8>,
    content_type: Option<String>,
    format: Format,
}

impl HttpSource {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        bearer_token_file: Option<PathBuf>,
        body_limit_bytes: usize,
        parse_limits: Limits,
    ) -> Self {
        HttpSource {
            client,
            url,
            bearer_token_file,
            body_limit_bytes,
            parser: Parser::new(parse_limits),
            body: Vec::new(),
            content_type: None,
            format: Format::Text004,
        }
    }
}

impl TargetSource for HttpSource {
    type Error = ScrapeError;

    async fn fetch(&mut self, timeout: Duration) -> Result<(), ScrapeError> {
        let mut request = self.client.get(self.url.clone());
        if let Some(path) = &self.bearer_token_file {
            // Re-read per scrape: projected service-account tokens rotate, and the file is
            // a page-cache read.
            let token = std::fs::read_to_string(path).map_err(|e| ScrapeError::Token {
                path: path.clone(),
                message: e.to_string(),
            })?;
            request = request.bearer_auth(token.trim());
        }
        self.content_type = fetch(request, timeout, self.body_limit_bytes, &mut self.body).await?;
        self.format = Format::from_content_type(self.content_type.as_deref());
        Ok(())
    }

    fn append(&mut self, appender: &mut Appender<'_>) -> Result<(), ScrapeError> {
        let exposition = self.parser.parse(&self.body, self.format)?;
        for sample in exposition.samples() {
            appender.add(
                sample.series_text(),
                sample.name(),
                || sample.labels().map(|l| (l.name, Cow::Borrowed(l.value))),
                sample.value(),
                sample.timestamp_ms(),
            )?;
        }
        Ok(())
    }

    fn body_stats(&self) -> Option<(usize, &'static str)> {
        let format = match self.format {
            Format::Text004 => "text",
            Format::OpenMetrics100 => "openmetrics",
        };
        Some((self.body.len(), format))
    }
}
