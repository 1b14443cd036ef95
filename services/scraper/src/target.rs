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
    /// Query parameters with all their values (`params: {match[]: [a, b]}`).
    pub params: Vec<(String, Vec<String>)>,
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
    // Defaults replace absent and empty values alike (Prometheus tests `lset.Get(..) == ""`).
    let mut set_default = |name: &str, value: String| {
        let slot = labels.entry(name.to_string()).or_default();
        if slot.is_empty() {
            *slot = value;
        }
    };
    set_default(JOB_LABEL, defaults.job.clone());
    set_default(SCHEME_LABEL, defaults.scheme.clone());
    set_default(METRICS_PATH_LABEL, defaults.metrics_path.clone());
    set_default(INTERVAL_LABEL, go_duration(defaults.interval));
    set_default(TIMEOUT_LABEL, go_duration(defaults.timeout));
    // The first value of each configured parameter, unconditionally.
    for (name, values) in &defaults.params {
        if let Some(first) = values.first() {
            labels.insert(format!("{PARAM_PREFIX}{name}"), first.clone());
        }
    }
    if !crate::relabel::apply(&mut labels, &defaults.relabel_configs) {
        return Populated::Dropped(discovered);
    }
    match finish(labels, &defaults.params) {
        Ok(target) => Populated::Target(Box::new(Target {
            discovered,
            ..target
        })),
        Err(err) => Populated::Invalid(discovered, err),
    }
}

fn finish(mut labels: LabelMap, params: &[(String, Vec<String>)]) -> Result<Target, TargetError> {
    let address = labels
        .get(ADDRESS_LABEL)
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
    if timeout >= interval {
        return Err(TargetError::TimeoutAboveInterval { timeout, interval });
    }
    let path = labels.get(METRICS_PATH_LABEL).cloned().unwrap_or_default();
    let mut url = Url::parse(&format!("{scheme}://{address}"))
        .map_err(|e| TargetError::Url(e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::BadAddress(address));
    }
    url.set_path(&path);
    // Configured parameters keep all their values; a `__param_<name>` label (after
    // relabeling) replaces the first value or adds the parameter (Prometheus' `Target.URL`).
    let mut query: Vec<(String, Vec<String>)> = params.to_vec();
    for (name, value) in labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PARAM_PREFIX)?, v)))
    {
        match query.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) if !values.is_empty() => values[0] = value.clone(),
            Some((_, values)) => values.push(value.clone()),
            None => query.push((name.to_string(), vec![value.clone()])),
        }
    }
    query.sort_by(|a, b| a.0.cmp(&b.0));
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, values) in &query {
            for value in values {
                pairs.append_pair(name, value);
            }
        }
    }
    labels
        .entry(INSTANCE_LABEL.to_string())
        .or_insert_with(|| address.clone());
    let final_labels = Labels::from_pairs(
        labels
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
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

/// A duration as Go's `model.Duration` prints it (`1s`, `800ms`, `1m30s`), the form
/// Prometheus puts in `__scrape_interval__` and relabel rules match against.
pub fn go_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000u128), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
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
            params: vec![(
                "match[]".into(),
                vec!["{job=\"a\"}".into(), "{job=\"b\"}".into()],
            )],
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
        assert_eq!(
            t.url.as_str(),
            "http://10.0.0.1:9100/metrics?match%5B%5D=%7Bjob%3D%22a%22%7D&match%5B%5D=%7Bjob%3D%22b%22%7D"
        );
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
            "https://node-a:10250/metrics/resource?match%5B%5D=%7Bjob%3D%22a%22%7D&match%5B%5D=%7Bjob%3D%22b%22%7D&module=http_2xx"
        );
        assert_eq!(t.interval, Duration::from_secs(2));
        assert_eq!(t.labels.get("instance"), Some("node-a:10250"));
    }

    #[test]
    fn empty_defaults_are_filled_and_params_override_the_first_value() {
        let t = target(populate(
            &TargetDefaults {
                params: vec![("module".into(), vec!["a".into(), "b".into()])],
                ..defaults("- target_label: __param_module\n  replacement: c\n")
            },
            labels(&[("__address__", "h:1"), ("job", ""), ("instance", "")]),
        ));
        assert_eq!(t.labels.get("job"), Some("node"));
        assert_eq!(t.labels.get("instance"), Some("h:1"));
        let query: Vec<(String, String)> = t
            .url
            .query_pairs()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(
            query,
            [
                ("module".to_string(), "c".to_string()),
                ("module".into(), "b".into())
            ]
        );
        assert_eq!(go_duration(Duration::from_millis(90_500)), "1m30s500ms");
        assert_eq!(go_duration(Duration::from_millis(800)), "800ms");
    }

    #[test]
    fn an_address_built_by_relabeling_is_accepted() {
        let yaml =
            "- source_labels: [__meta_ip]\n  target_label: __address__\n  replacement: '$1:9100'\n";
        let t = target(populate(
            &defaults(yaml),
            labels(&[("__meta_ip", "10.1.2.3")]),
        ));
        assert_eq!(t.labels.get("instance"), Some("10.1.2.3:9100"));
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
