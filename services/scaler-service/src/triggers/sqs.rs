//! `aws-sqs-queue`: scale on the depth of an SQS queue, with KEDA's semantics
//! (`pkg/scalers/aws_sqs_queue_scaler.go`, KEDA 2.18):
//!
//! - value = `ApproximateNumberOfMessages`, plus `ApproximateNumberOfMessagesNotVisible`
//!   (in flight) when `scaleOnInFlight` (default true), plus
//!   `ApproximateNumberOfMessagesDelayed` when `scaleOnDelayed` (default false);
//! - target `queueLength` per replica (default 5, an integer), activation
//!   `activationQueueLength` (default 0), active when `value > activation`;
//! - `queueURL` is a queue URL (its path must be `/<account>/<name>`) or, when it is not a
//!   URL, taken as the queue name; the metric is `s{index}-aws-sqs-{queue name}`;
//! - a requested attribute missing from the answer, or not an integer, is an error.
//!
//! Deviation: `awsRegion` is optional (the standard AWS chain supplies the region when it
//! is absent), and `awsEndpoint` may also come from the scaler's configuration.

use std::collections::{BTreeMap, HashMap};

use super::metadata::{Metadata, MetadataError};
use super::{normalize_metric_name, TriggerReading};

/// The attributes in the order KEDA requests and sums them.
pub const VISIBLE: &str = "ApproximateNumberOfMessages";
pub const IN_FLIGHT: &str = "ApproximateNumberOfMessagesNotVisible";
pub const DELAYED: &str = "ApproximateNumberOfMessagesDelayed";

/// KEDA keys accepted and ignored: credentials and identity come from the AWS chain.
const IGNORED_KEYS: &[&str] = &[
    "identityOwner",
    "awsAccessKeyID",
    "awsSecretAccessKey",
    "awsSessionToken",
    "awsRoleArn",
];

#[derive(Debug, Clone, PartialEq)]
pub struct SqsTrigger {
    pub queue_url: String,
    pub queue_name: String,
    pub queue_length: i64,
    pub activation_queue_length: i64,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub scale_on_in_flight: bool,
    pub scale_on_delayed: bool,
    pub metric_name: String,
}

impl SqsTrigger {
    pub fn parse(
        map: &BTreeMap<String, String>,
        index: usize,
    ) -> Result<SqsTrigger, MetadataError> {
        let mut meta = Metadata::new(map, IGNORED_KEYS);
        let queue_length = meta.int("queueLength", 5)?;
        let activation_queue_length = meta.int("activationQueueLength", 0)?;
        let queue_url = meta.required_string("queueURL")?;
        let region = meta.string("awsRegion");
        let endpoint = meta.string("awsEndpoint");
        let scale_on_in_flight = meta.bool("scaleOnInFlight", true)?;
        let scale_on_delayed = meta.bool("scaleOnDelayed", false)?;
        meta.finish()?;
        if queue_length <= 0 {
            return Err(MetadataError::Rule {
                key: "queueLength".into(),
                message: format!("must be greater than 0, got {queue_length}"),
            });
        }
        let queue_name = queue_name(&queue_url)?;
        let metric_name = format!(
            "s{index}-{}",
            normalize_metric_name(&format!("aws-sqs-{queue_name}"))
        );
        Ok(SqsTrigger {
            queue_url,
            queue_name,
            queue_length,
            activation_queue_length,
            region,
            endpoint,
            scale_on_in_flight,
            scale_on_delayed,
            metric_name,
        })
    }

    /// The attributes to request, in KEDA's order.
    pub fn attribute_names(&self) -> Vec<&'static str> {
        let mut names = vec![VISIBLE];
        if self.scale_on_in_flight {
            names.push(IN_FLIGHT);
        }
        if self.scale_on_delayed {
            names.push(DELAYED);
        }
        names
    }

    /// The queue length from a `GetQueueAttributes` answer.
    pub fn queue_length_of(&self, attributes: &HashMap<String, String>) -> Result<i64, String> {
        let mut total: i64 = 0;
        for name in self.attribute_names() {
            let text = attributes
                .get(name)
                .ok_or_else(|| format!("metric {name} not found in SQS queue attributes"))?;
            let value: i64 = text
                .parse()
                .map_err(|_| format!("attribute {name} is not an integer: {text:?}"))?;
            total = total.saturating_add(value);
        }
        Ok(total)
    }

    pub fn reading(&self, queue_length: i64) -> TriggerReading {
        TriggerReading {
            value: queue_length as f64,
            value_milli: queue_length.saturating_mul(1000),
            active: queue_length > self.activation_queue_length,
        }
    }
}

/// The queue name of a queue URL (`https://sqs.eu-west-1.amazonaws.com/123/jobs` → `jobs`),
/// or the text itself when it is not a URL.
fn queue_name(queue_url: &str) -> Result<String, MetadataError> {
    let Some((_, rest)) = queue_url.split_once("://") else {
        return Ok(queue_url.to_owned());
    };
    let path = rest.find('/').map_or("", |start| &rest[start..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", _account, name] if !name.is_empty() => Ok((*name).to_owned()),
        _ => Err(MetadataError::Rule {
            key: "queueURL".into(),
            message: format!(
                "cannot get the queue name from {queue_url:?} (expected a path /<account>/<queue>)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<SqsTrigger, MetadataError> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SqsTrigger::parse(&map, 0)
    }

    fn attributes(visible: i64, in_flight: i64, delayed: i64) -> HashMap<String, String> {
        HashMap::from([
            (VISIBLE.to_owned(), visible.to_string()),
            (IN_FLIGHT.to_owned(), in_flight.to_string()),
            (DELAYED.to_owned(), delayed.to_string()),
        ])
    }

    #[test]
    fn defaults_count_visible_and_in_flight_messages() {
        let trigger = parse(&[(
            "queueURL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/Jobs.fifo",
        )])
        .unwrap();
        assert_eq!(trigger.queue_name, "Jobs.fifo");
        assert_eq!(trigger.metric_name, "s0-aws-sqs-jobs-fifo");
        assert_eq!(
            (trigger.queue_length, trigger.activation_queue_length),
            (5, 0)
        );
        assert_eq!(trigger.queue_length_of(&attributes(7, 3, 100)).unwrap(), 10);
        assert!(trigger.reading(1).active);
        assert!(!trigger.reading(0).active);
        assert_eq!(trigger.reading(10).value_milli, 10_000);
    }

    #[test]
    fn delayed_and_in_flight_switches_change_the_sum() {
        let trigger = parse(&[
            ("queueURL", "jobs"),
            ("scaleOnInFlight", "false"),
            ("scaleOnDelayed", "true"),
            ("activationQueueLength", "4"),
        ])
        .unwrap();
        assert_eq!(trigger.queue_name, "jobs");
        assert_eq!(
            trigger.queue_length_of(&attributes(7, 3, 100)).unwrap(),
            107
        );
        assert!(!trigger.reading(4).active, "activation is strict");
        assert!(trigger.reading(5).active);
        let missing = HashMap::from([(VISIBLE.to_owned(), "1".to_owned())]);
        assert_eq!(
            trigger.queue_length_of(&missing).unwrap_err(),
            "metric ApproximateNumberOfMessagesDelayed not found in SQS queue attributes"
        );
    }

    #[test]
    fn bad_metadata_names_the_key() {
        assert_eq!(
            parse(&[]).unwrap_err().to_string(),
            "metadata.queueURL: required"
        );
        assert_eq!(
            parse(&[("queueURL", "q"), ("queueLength", "2.5")])
                .unwrap_err()
                .to_string(),
            r#"metadata.queueLength: "2.5" is not an integer"#
        );
        assert!(
            parse(&[("queueURL", "https://sqs.amazonaws.com/only-name")])
                .unwrap_err()
                .to_string()
                .starts_with("metadata.queueURL: cannot get the queue name")
        );
        assert!(parse(&[("queueURL", "q"), ("queueLength", "0")]).is_err());
    }
}
