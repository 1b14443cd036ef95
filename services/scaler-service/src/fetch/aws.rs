//! AWS clients for the SQS and CloudWatch triggers.
//!
//! Region, credentials and endpoint come from the standard AWS configuration chain
//! (environment, shared config and credentials files, web identity / IRSA, container and
//! instance metadata), as every AWS tool reads them. The scaler's `aws:` settings may fix
//! the region and override the endpoint (moto in tests, a VPC endpoint in production); a
//! trigger's own `awsRegion` / `awsEndpoint` override both, as in KEDA. Clients are built
//! once per (region, endpoint) and shared: they pool connections.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StandardUnit,
};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use parking_lot::Mutex;

use super::FetchError;
use crate::triggers::cloudwatch::{CloudWatchQuery, CloudWatchTrigger};
use crate::triggers::sqs::SqsTrigger;
use crate::triggers::TriggerReading;

/// The scaler's `aws:` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region for triggers without `awsRegion`; `None` = the configuration chain's.
    pub region: Option<String>,
    /// Endpoint for triggers without `awsEndpoint`; `None` = the service's default.
    pub endpoint_url: Option<String>,
    /// Deadline of one API call including retries.
    pub operation_timeout: Duration,
    /// Attempts per call (1 = no retry).
    pub max_attempts: u32,
}

impl Default for AwsSettings {
    fn default() -> AwsSettings {
        AwsSettings {
            region: None,
            endpoint_url: None,
            operation_timeout: Duration::from_secs(5),
            max_attempts: 2,
        }
    }
}

type ClientKey = (Option<String>, Option<String>);

/// Shared SQS and CloudWatch clients.
pub struct AwsClients {
    base: SdkConfig,
    operation_timeout: Duration,
    sqs: Mutex<HashMap<ClientKey, aws_sdk_sqs::Client>>,
    cloudwatch: Mutex<HashMap<ClientKey, aws_sdk_cloudwatch::Client>>,
}

impl AwsClients {
    /// Loads the configuration chain once.
    pub async fn load(settings: &AwsSettings) -> AwsClients {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(settings.operation_timeout)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)));
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        AwsClients {
            base: loader.load().await,
            operation_timeout: settings.operation_timeout,
            sqs: Mutex::new(HashMap::new()),
            cloudwatch: Mutex::new(HashMap::new()),
        }
    }

    /// The SDK's deadline for one call, retries included.
    pub fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }

    fn sqs(&self, region: Option<&str>, endpoint: Option<&str>) -> aws_sdk_sqs::Client {
        let key = (region.map(str::to_owned), endpoint.map(str::to_owned));
        self.sqs
            .lock()
            .entry(key)
            .or_insert_with(|| {
                let mut config = aws_sdk_sqs::config::Builder::from(&self.base);
                if let Some(region) = region {
                    config = config.region(Region::new(region.to_owned()));
                }
                if let Some(endpoint) = endpoint {
                    config = config.endpoint_url(endpoint);
                }
                aws_sdk_sqs::Client::from_conf(config.build())
            })
            .clone()
    }

    fn cloudwatch(
        &self,
        region: Option<&str>,
        endpoint: Option<&str>,
    ) -> aws_sdk_cloudwatch::Client {
        let key = (region.map(str::to_owned), endpoint.map(str::to_owned));
        self.cloudwatch
            .lock()
            .entry(key)
            .or_insert_with(|| {
                let mut config = aws_sdk_cloudwatch::config::Builder::from(&self.base);
                if let Some(region) = region {
                    config = config.region(Region::new(region.to_owned()));
                }
                if let Some(endpoint) = endpoint {
                    config = config.endpoint_url(endpoint);
                }
                aws_sdk_cloudwatch::Client::from_conf(config.build())
            })
            .clone()
    }
}

/// `GetQueueAttributes` for the trigger's attributes, summed by KEDA's rule.
pub async fn read_sqs(
    clients: &AwsClients,
    trigger: &SqsTrigger,
) -> Result<TriggerReading, FetchError> {
    let client = clients.sqs(trigger.region.as_deref(), trigger.endpoint.as_deref());
    let names = trigger
        .attribute_names()
        .into_iter()
        .map(QueueAttributeName::from)
        .collect();
    let output = client
        .get_queue_attributes()
        .queue_url(&trigger.queue_url)
        .set_attribute_names(Some(names))
        .send()
        .await
        .map_err(|err| FetchError::Aws {
            operation: "sqs:GetQueueAttributes",
            message: DisplayErrorContext(&err).to_string(),
        })?;
    let attributes: HashMap<String, String> = output
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
        .collect();
    let length = trigger
        .queue_length_of(&attributes)
        .map_err(FetchError::Data)?;
    Ok(trigger.reading(length))
}

fn build_error(err: impl std::fmt::Display) -> FetchError {
    FetchError::Request(err.to_string())
}

/// `GetMetricData` over KEDA's window, newest datapoint first.
pub async fn read_cloudwatch(
    clients: &AwsClients,
    trigger: &CloudWatchTrigger,
    now_ms: i64,
) -> Result<TriggerReading, FetchError> {
    let client = clients.cloudwatch(trigger.region.as_deref(), trigger.endpoint.as_deref());
    let window = trigger.query_window(now_ms);
    let period = i32::try_from(trigger.metric_stat_period_s).map_err(build_error)?;
    let query = match &trigger.query {
        CloudWatchQuery::Expression(expression) => MetricDataQuery::builder()
            .id("q1")
            .expression(expression)
            .period(period)
            .build(),
        CloudWatchQuery::Stat {
            namespace,
            metric_name,
            dimensions,
            stat,
            unit,
        } => {
            let dimensions = dimensions
                .iter()
                .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                .collect();
            let metric = Metric::builder()
                .namespace(namespace)
                .metric_name(metric_name)
                .set_dimensions(Some(dimensions))
                .build();
            let stat = MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat(stat)
                .set_unit(unit.as_deref().map(StandardUnit::from))
                .build();
            MetricDataQuery::builder()
                .id("c1")
                .metric_stat(stat)
                .return_data(true)
                .build()
        }
    };
    let output = client
        .get_metric_data()
        .start_time(DateTime::from_millis(window.start_ms))
        .end_time(DateTime::from_millis(window.end_ms))
        .scan_by(ScanBy::TimestampDescending)
        .metric_data_queries(query)
        .send()
        .await
        .map_err(|err| FetchError::Aws {
            operation: "cloudwatch:GetMetricData",
            message: aws_sdk_cloudwatch::error::DisplayErrorContext(&err).to_string(),
        })?;
    let first = output
        .metric_data_results()
        .first()
        .map(|result| result.values());
    let value = trigger.value_of(first).map_err(FetchError::Data)?;
    Ok(trigger.reading(value))
}
