//! From discovered label sets to scrape targets, as Prometheus 2.42 `scrape/target.go`
//! (`PopulateLabels`) does it.
//!
//! 1. Group labels, then the target's own labels, then the job's defaults (`job`,
//!    `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`,
//!    `__param_<name>`) where not already set.
//! 2. `relabel_configs`; a dropped target is not scraped.
//! 3. `__address__` must remain; a missing port gets the scheme's default.
//! 4. Interval and timeout are read back from their labels (relabeling may change them)
//!    and the timeout must not exceed the interval.
//! 5. Labels starting with `__` are removed; `instance` defaults to `__address__`.
//!
//! The scrape URL is `__scheme__://__address__` + `__metrics_path__` with `__param_*`
//! labels as the query.

use std::sync::Arc;
use std::time::Duration;

use tachyscale_relabel::RelabelConfig;
use tachyscale_tsdb::Labels;
use url::Url;

use crate::discovery::{LabelMap, TargetGroup, ADDRESS_LABEL};

pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const INTERVAL_LABEL: &str = "__scrape_interval__";
pub const TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";
pub const JOB_LABEL: &str = "job";
pub const INSTANCE_LABEL: &str = "instance";

/// What a job contributes to each of its targets.
#[derive(Debug, Clone)]
pub struct TargetDefaults {
    pub job: String,
    pub scheme: String,
    pub metrics_path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub params: Vec<(String, String)>,
    pub relabel_configs: Arc<Vec<RelabelConfig>>,
}

/// A target ready to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    /// Final labels, added to every scraped series.
    pub labels: Labels,
    /// The labels discovery produced, before relabeling (for `/api/v1/targets`).
    pub discovered: LabelMap,
    pub url: Url,
    pub interval: Duration,
    pub timeout: Duration,
    /// Identity within the job: stable across restarts and members, used for the schedule
    /// offset and for fleet sharding.
    pub key: String,
    pub hash: u64,
}

/// Why a discovered label set is not a usable target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no __address__ label")]
    NoAddress,
    #[error("invalid address {0:?}")]
    BadAddress(String),
    #[error("invalid scheme {0:?}")]
    BadScheme(String),
    #[error("invalid {label} {value:?}")]
    BadDuration { label: &'static str, value: String },
    #[error("scrape timeout {timeout:?} is greater than the interval {interval:?}")]
    TimeoutAboveInterval {
        timeout: Duration,
        interval: Duration,
    },
    #[error("cannot build scrape URL: {0}")]
    Url(String),
}

impl TargetError {
    pub fn reason(&self) -> &'static str {
        match self {
            TargetError::NoAddress => "no_address",
            TargetError::BadAddress(_) => "bad_address",
            TargetError::BadScheme(_) => "bad_scheme",
            TargetError::BadDuration { .. } => "bad_duration",
            TargetError::TimeoutAboveInterval { .. } => "timeout_above_interval",
            TargetError::Url(_) => "bad_url",
        }
    }
}

/// The outcome for one discovered label set.
#[derive(Debug)]
pub enum Populated {
    Target(Box<Target>),
    /// Relabeling dropped it.
    Dropped(LabelMap),
    Invalid(LabelMap, TargetError),
}

/// Builds the targets of every group.
pub fn targets_from_groups(defaults: &TargetDefaults, groups: &[TargetGroup]) -> Vec<Populated> {
    let mut out = Vec::new();
    for group in groups {
        for target in &group.targets {
            let mut labels = group.labels.clone();
            labels.extend(target.iter().map(|(k, v)| (k.clone(), v.clone())));
            out.push(populate(defaults, labels));
        }
    }
    out
}

/// Applies defaults and relabeling to one discovered label set.
pub fn populate(defaults: &TargetDefaults, discovered: LabelMap) -> Populated {
    let mut labels = discovered.clone();
    let mut set_default = |name: &str, value: &str| {
        labels
            .entry(name.to_string())
            .or_insert_with(|| value.to_string());
    };
    set_default(JOB_LABEL, &defaults.job);
    set_default(SCHEME_LABEL, &defaults.scheme);
    set_default(METRICS_PATH_LABEL, &defaults.metrics_path);
    set_default(
        INTERVAL_LABEL,
        &humantime::format_duration(defaults.interval).to_string(),
    );
    set_default(
        TIMEOUT_LABEL,
        &humantime::format_duration(defaults.timeout).to_string(),
    );
    for (name, value) in &defaults.params {
        set_default(&format!("{PARAM_PREFIX}{name}"), value);
    }
    if !labels.contains_key(ADDRESS_LABEL) {
        return Populated::Invalid(discovered, TargetError::NoAddress);
    }
    if !crate::relabel::apply(&mut labels, &defaults.relabel_configs) {
        return Populated::Dropped(discovered);
    }
    match finish(labels) {
        Ok(target) => Populated::Target(Box::new(Target {
            discovered,
            ..target
        })),
        Err(err) => Populated::Invalid(discovered, err),
    }
}

fn finish(mut labels: LabelMap) -> Result<Target, TargetError> {
    let address = labels
        .get(ADDRESS_LABEL)
        .filter(|a| !a.is_empty())
        .cloned()
        .ok_or(TargetError::NoAddress)?;
    let scheme = labels.get(SCHEME_LABEL).cloned().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(TargetError::BadScheme(scheme));
    }
    if address.contains('/') || address.contains('?') || address.contains('#') {
        return Err(TargetError::BadAddress(address));
    }
    let address = with_default_port(&address, &scheme);
    labels.insert(ADDRESS_LABEL.to_string(), address.clone());
    let duration = |label: &'static str| -> Result<Duration, TargetError> {
        let value = labels.get(label).cloned().unwrap_or_default();
        match humantime::parse_duration(&value) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(TargetError::BadDuration { label, value }),
        }
    };
    let interval = duration(INTERVAL_LABEL)?;
    let timeout = duration(TIMEOUT_LABEL)?;
    if timeout > interval {
        return Err(TargetError::TimeoutAboveInterval { timeout, interval });
    }
    let path = labels.get(METRICS_PATH_LABEL).cloned().unwrap_or_default();
    let mut url = Url::parse(&format!("{scheme}://{address}"))
        .map_err(|e| TargetError::Url(e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::BadAddress(address));
    }
    url.set_path(&path);
    let params: Vec<(String, String)> = labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PARAM_PREFIX)?.to_string(), v.clone())))
        .collect();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    labels
        .entry(INSTANCE_LABEL.to_string())
        .or_insert_with(|| address.clone());
    let final_labels = Labels::from_pairs(
        labels
            .iter()
            .filter(|(k, v)| !k.starts_with("__") && !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let key = format!("{url}\u{0}{final_labels}");
    let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
    Ok(Target {
        labels: final_labels,
        discovered: LabelMap::new(),
        url,
        interval,
        timeout,
        key,
        hash,
    })
}

/// Adds `:80` / `:443` when the address has no port, as Prometheus' `addPort` does.
fn with_default_port(address: &str, scheme: &str) -> String {
    let has_port = if let Some(rest) = address.strip_prefix('[') {
        rest.contains("]:")
    } else {
        address.contains(':')
    };
    if has_port {
        return address.to_string();
    }
    let port = if scheme == "https" { 443 } else { 80 };
    format!("{address}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(relabel_yaml: &str) -> TargetDefaults {
        TargetDefaults {
            job: "node".into(),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(800),
            params: vec![],
            relabel_configs: Arc::new(crate::relabel::parse_list(relabel_yaml).unwrap()),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn target(p: Populated) -> Target {
        match p {
            Populated::Target(t) => *t,
            other => panic!("not a target: {other:?}"),
        }
    }

    #[test]
    fn defaults_give_job_instance_and_url() {
        let t = target(populate(
            &defaults("[]"),
            labels(&[
                ("__address__", "10.0.0.1:9100"),
                ("__meta_x", "y"),
                ("env", "prod"),
            ]),
        ));
        assert_eq!(
            t.labels.to_string(),
            r#"{env="prod", instance="10.0.0.1:9100", job="node"}"#
        );
        assert_eq!(t.url.as_str(), "http://10.0.0.1:9100/metrics");
        assert_eq!(t.interval, Duration::from_secs(1));
        assert_eq!(t.timeout, Duration::from_millis(800));
    }

    #[test]
    fn relabeling_can_rewrite_address_path_scheme_params_and_interval() {
        let yaml = r#"
- source_labels: [__address__, __meta_port]
  regex: '([^:]+)(?::\d+)?;(\d+)'
  replacement: '$1:$2'
  target_label: __address__
- target_label: __metrics_path__
  replacement: /metrics/resource
- target_label: __scheme__
  replacement: https
- target_label: __param_module
  replacement: http_2xx
- target_label: __scrape_interval__
  replacement: 2s
"#;
        let t = target(populate(
            &defaults(yaml),
            labels(&[("__address__", "node-a"), ("__meta_port", "10250")]),
        ));
        assert_eq!(
            t.url.as_str(),
            "https://node-a:10250/metrics/resource?module=http_2xx"
        );
        assert_eq!(t.interval, Duration::from_secs(2));
        assert_eq!(t.labels.get("instance"), Some("node-a:10250"));
    }

    #[test]
    fn missing_ports_get_the_scheme_default() {
        let t = target(populate(
            &defaults("[]"),
            labels(&[("__address__", "example")]),
        ));
        assert_eq!(t.labels.get("instance"), Some("example:80"));
        assert_eq!(t.url.port_or_known_default(), Some(80));
        assert_eq!(with_default_port("[::1]", "https"), "[::1]:443");
        assert_eq!(with_default_port("[::1]:9", "https"), "[::1]:9");
    }

    #[test]
    fn dropped_and_invalid_targets_are_reported() {
        let keep = "- source_labels: [__meta_scrape]\n  regex: 'true'\n  action: keep\n";
        assert!(matches!(
            populate(&defaults(keep), labels(&[("__address__", "a:1")])),
            Populated::Dropped(_)
        ));
        assert!(matches!(
            populate(&defaults("[]"), labels(&[("x", "y")])),
            Populated::Invalid(_, TargetError::NoAddress)
        ));
        assert!(matches!(
            populate(&defaults("[]"), labels(&[("__address__", "http://a:1/x")])),
            Populated::Invalid(_, TargetError::BadAddress(_))
        ));
        let slow = "- target_label: __scrape_timeout__\n  replacement: 5s\n";
        assert!(matches!(
            populate(&defaults(slow), labels(&[("__address__", "a:1")])),
            Populated::Invalid(_, TargetError::TimeoutAboveInterval { .. })
        ));
    }

    #[test]
    fn identity_is_stable_and_distinguishes_targets() {
        let d = defaults("[]");
        let a = target(populate(&d, labels(&[("__address__", "a:1")])));
        let a_again = target(populate(&d, labels(&[("__address__", "a:1")])));
        let b = target(populate(&d, labels(&[("__address__", "b:1")])));
        assert_eq!(a.hash, a_again.hash);
        assert_ne!(a.hash, b.hash);
    }
}
