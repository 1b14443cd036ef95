//! Reading triggers: the I/O half. Each function takes a parsed trigger (the pure half in
//! [`crate::triggers`]), asks its source and applies the trigger's value rule.
//!
//! Every read has a deadline and a bounded number of attempts, so one slow source cannot
//! hold a 1 s control loop: the loop reads its sources concurrently and treats a failed
//! read as an invalid metric (which by the HPA's rules can never cause a scale-down).

pub mod aws;
pub mod in_process;
pub mod prometheus_api;

use std::time::Duration;

use async_trait::async_trait;

use crate::triggers::{Trigger, TriggerReading};

pub use aws::{AwsClients, AwsSettings};
pub use in_process::InProcessStore;
pub use prometheus_api::{InstantValue, PrometheusApi};

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("query API request to {url} failed: {message}")]
    Query { url: String, message: String },
    #[error("{0}")]
    Data(String),
    #[error("no metrics source is configured for a trigger without serverAddress")]
    NoQuerySource,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("invalid request: {0}")]
    Request(String),
}

impl FetchError {
    /// A bounded label for `tachyscale_scaler_source_errors_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            FetchError::Aws { .. } => "aws",
            FetchError::Query { .. } => "query",
            FetchError::Data(_) => "data",
            FetchError::NoQuerySource => "no_source",
            FetchError::Timeout(_) => "timeout",
            FetchError::Request(_) => "request",
        }
    }
}

/// An instant-query API: the store in-process, or any Prometheus-compatible HTTP API.
#[async_trait]
pub trait QuerySource: Send + Sync + 'static {
    /// The values of an instant query at `time_ms`, one per result element (a scalar
    /// result is one value).
    async fn instant(&self, query: &str, time_ms: i64) -> Result<Vec<InstantValue>, FetchError>;
}

/// Where triggers read from.
pub struct Sources {
    pub aws: Option<AwsClients>,
    /// The default query source for `prometheus` triggers without `serverAddress`, and for
    /// the HPA's Resource, Pods, Object and External metrics.
    pub query: Option<std::sync::Arc<dyn QuerySource>>,
    /// Client for `prometheus` triggers with their own `serverAddress`.
    pub http: reqwest::Client,
    pub timeout: Duration,
}

impl Sources {
    /// Reads one trigger at `now_ms`.
    pub async fn read(&self, trigger: &Trigger, now_ms: i64) -> Result<TriggerReading, FetchError> {
        let read = async {
            match trigger {
                Trigger::Sqs(sqs) => aws::read_sqs(self.aws()?, sqs).await,
                Trigger::CloudWatch(cloudwatch) => {
                    aws::read_cloudwatch(self.aws()?, cloudwatch, now_ms).await
                }
                Trigger::Prometheus(prometheus) => {
                    let values = match &prometheus.server_address {
                        Some(address) => {
                            PrometheusApi::new(address, self.http.clone())?
                                .instant(&prometheus.query, now_ms)
                                .await?
                        }
                        None => {
                            self.query
                                .as_ref()
                                .ok_or(FetchError::NoQuerySource)?
                                .instant(&prometheus.query, now_ms)
                                .await?
                        }
                    };
                    let values: Vec<f64> = values.iter().map(|value| value.value).collect();
                    let value = prometheus.value_of(&values).map_err(FetchError::Data)?;
                    Ok(prometheus.reading(value))
                }
            }
        };
        // AWS calls run under the SDK's own deadline (`aws.operation_timeout`, retries
        // included); the rest under the metric read timeout.
        let timeout = match (trigger, &self.aws) {
            (Trigger::Sqs(_) | Trigger::CloudWatch(_), Some(aws)) => {
                aws.operation_timeout() + Duration::from_millis(100)
            }
            _ => self.timeout,
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| FetchError::Timeout(timeout))?
    }

    fn aws(&self) -> Result<&AwsClients, FetchError> {
        self.aws.as_ref().ok_or_else(|| {
            FetchError::Request("AWS triggers need the scaler's aws settings to be loaded".into())
        })
    }
}
