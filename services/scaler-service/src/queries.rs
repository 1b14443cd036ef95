//! PromQL for the HPA's metric types, read from the store (or any Prometheus-compatible
//! API) instead of metrics-server and a custom/external metrics adapter.
//!
//! - **Resource / ContainerResource** `cpu`: per-pod `rate()` of the cgroup CPU counter
//!   (`container_cpu_usage_seconds_total`, what kubelet and our node agent export) over
//!   `rate_window` — with 1 s scrapes a 5 s window, where metrics-server reports a ~15 s
//!   one; the sample's window is that, so the HPA's CPU readiness rule sees the truth.
//!   `memory`: per-pod working set (`container_memory_working_set_bytes`), metrics-server's
//!   definition. The pause container (`container="POD"`) and the pod-level cgroup
//!   (`container=""`) are excluded, as metrics-server sums containers.
//! - **Pods**: the named series per pod, **Object**: the series whose label named after the
//!   described object's kind (`service="frontend"`) matches, **External**: the named series,
//!   each item a value — prometheus-adapter's default naming rules. The metric's
//!   `selector` becomes label matchers.
//!
//! Freshness: gauges are read through `last_over_time(…[max_age])`, so a series whose last
//! sample is older than `max_age` is absent — a missing pod, or no data for the metric,
//! which the HPA's rules turn into "do not scale down on this". A `rate()` over a window
//! without two samples is absent the same way.

use std::time::Duration;

use tachyscale_kubeformat::selector;
use tachyscale_scaler::hpa::spec::{MetricIdentifier, SelectorOperator};
use tachyscale_scaler::hpa::{CrossVersionObjectReference, LabelSelector};

/// The CPU counter read for `cpu` Resource metrics.
pub const CPU_COUNTER: &str = "container_cpu_usage_seconds_total";
/// The gauge read for `memory` Resource metrics.
pub const MEMORY_GAUGE: &str = "container_memory_working_set_bytes";
/// The per-container OOM-kill counter the VPA reads (the node agent's `memory.events`
/// `oom_kill`, cAdvisor's name).
pub const OOM_COUNTER: &str = "container_oom_events_total";

/// Go-style double-quoted string for a PromQL label value.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

/// A regex alternation matching exactly these pod names (RE2 metacharacters escaped).
pub fn pod_regex(pods: &[&str]) -> String {
    let mut out = String::new();
    for (index, pod) in pods.iter().enumerate() {
        if index > 0 {
            out.push('|');
        }
        for c in pod.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

fn seconds(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// The selector as a Kubernetes selector string (`a=b,c in (d),!e`).
pub fn selector_text(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for expression in &selector.match_expressions {
        let values = expression.values.join(",");
        terms.push(match expression.operator {
            SelectorOperator::In => format!("{} in ({values})", expression.key),
            SelectorOperator::NotIn => format!("{} notin ({values})", expression.key),
            SelectorOperator::Exists => expression.key.clone(),
            SelectorOperator::DoesNotExist => format!("!{}", expression.key),
        });
    }
    terms.join(",")
}

/// The metric's selector as PromQL matchers (empty when it has none).
pub fn selector_matchers(metric: &MetricIdentifier) -> Result<String, String> {
    let Some(selector) = &metric.selector else {
        return Ok(String::new());
    };
    let text = selector_text(selector);
    let parsed =
        selector::parse(&text).map_err(|err| format!("metric selector {text:?}: {err}"))?;
    parsed
        .to_promql_matchers()
        .map_err(|err| format!("metric selector {text:?}: {err}"))
}

fn join(matchers: &[String]) -> String {
    matchers
        .iter()
        .filter(|matcher| !matcher.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if valid_start && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a Prometheus metric name"))
    }
}

/// Per-pod usage of a resource, summed over the pod's containers (or one container).
pub fn resource_query(
    resource: &str,
    container: Option<&str>,
    namespace: &str,
    pods: &[&str],
    rate_window: Duration,
    max_age: Duration,
) -> Result<String, String> {
    let container_matcher = match container {
        Some(name) => format!("container={}", quote(name)),
        None => r#"container!="",container!="POD""#.to_owned(),
    };
    let matchers = format!(
        "namespace={},pod=~{},{container_matcher}",
        quote(namespace),
        quote(&pod_regex(pods))
    );
    match resource {
        "cpu" => Ok(format!(
            "sum by (pod) (rate({CPU_COUNTER}{{{matchers}}}[{}]))",
            seconds(rate_window)
        )),
        "memory" => Ok(format!(
            "sum by (pod) (last_over_time({MEMORY_GAUGE}{{{matchers}}}[{}]))",
            seconds(max_age)
        )),
        other => Err(format!(
            "resource {other:?} is not collected (cpu and memory are)"
        )),
    }
}

/// What the VPA reads per container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerSeries {
    /// CPU cores: a `rate()` of the CPU counter.
    CpuCores,
    /// Working set bytes, fresh within `max_age`.
    WorkingSetBytes,
    /// The OOM-kill counter, fresh within `max_age`.
    OomKills,
}

/// Per-(pod, container) values of the target's containers (the pause container and the
/// pod-level cgroup excluded).
pub fn container_query(
    series: ContainerSeries,
    namespace: &str,
    pods: &[&str],
    rate_window: Duration,
    max_age: Duration,
) -> String {
    let matchers = format!(
        r#"namespace={},pod=~{},container!="",container!="POD""#,
        quote(namespace),
        quote(&pod_regex(pods))
    );
    let (function, name, window) = match series {
        ContainerSeries::CpuCores => ("rate", CPU_COUNTER, rate_window),
        ContainerSeries::WorkingSetBytes => ("last_over_time", MEMORY_GAUGE, max_age),
        ContainerSeries::OomKills => ("last_over_time", OOM_COUNTER, max_age),
    };
    format!(
        "sum by (pod, container) ({function}({name}{{{matchers}}}[{}]))",
        seconds(window)
    )
}

/// Per-pod values of a Pods metric.
pub fn pods_query(
    metric: &MetricIdentifier,
    namespace: &str,
    pods: &[&str],
    max_age: Duration,
) -> Result<String, String> {
    check_metric_name(&metric.name)?;
    let matchers = join(&[
        format!("namespace={}", quote(namespace)),
        format!("pod=~{}", quote(&pod_regex(pods))),
        selector_matchers(metric)?,
    ]);
    Ok(format!(
        "sum by (pod) (last_over_time({}{{{matchers}}}[{}]))",
        metric.name,
        seconds(max_age)
    ))
}

/// The value of an Object metric: the series labelled with the object's kind.
pub fn object_query(
    metric: &MetricIdentifier,
    described: &CrossVersionObjectReference,
    namespace: &str,
    max_age: Duration,
) -> Result<String, String> {
    check_metric_name(&metric.name)?;
    let kind_label = described.kind.to_ascii_lowercase();
    check_metric_name(&kind_label).map_err(|_| {
        format!(
            "describedObject.kind {:?} cannot be a label name",
            described.kind
        )
    })?;
    let matchers = join(&[
        format!("namespace={}", quote(namespace)),
        format!("{kind_label}={}", quote(&described.name)),
        selector_matchers(metric)?,
    ]);
    Ok(format!(
        "sum(last_over_time({}{{{matchers}}}[{}]))",
        metric.name,
        seconds(max_age)
    ))
}

/// The items of an External metric, one per series.
pub fn external_query(
    metric: &MetricIdentifier,
    namespace: &str,
    max_age: Duration,
) -> Result<String, String> {
    check_metric_name(&metric.name)?;
    let matchers = join(&[
        format!("namespace={}", quote(namespace)),
        selector_matchers(metric)?,
    ]);
    Ok(format!(
        "last_over_time({}{{{matchers}}}[{}])",
        metric.name,
        seconds(max_age)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use super::*;
    use tachyscale_scaler::hpa::spec::LabelSelectorRequirement;

    const FIVE: Duration = Duration::from_secs(5);
    const FIFTEEN: Duration = Duration::from_secs(15);

    #[test]
    fn cpu_is_a_rate_per_pod_and_memory_a_fresh_gauge() {
        assert_eq!(
            resource_query("cpu", None, "shop", &["web-1", "web.2"], FIVE, FIFTEEN).unwrap(),
            r#"sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"web-1|web\\.2",container!="",container!="POD"}[5000ms]))"#
        );
        assert_eq!(
            resource_query("memory", Some("app"), "shop", &["web-1"], FIVE, FIFTEEN).unwrap(),
            r#"sum by (pod) (last_over_time(container_memory_working_set_bytes{namespace="shop",pod=~"web-1",container="app"}[15000ms]))"#
        );
        assert!(resource_query("nvidia.com/gpu", None, "shop", &["a"], FIVE, FIFTEEN).is_err());
    }

    #[test]
    fn selectors_become_matchers() {
        let metric = MetricIdentifier {
            name: "queue_messages".into(),
            selector: Some(LabelSelector {
                match_labels: BTreeMap::from([("queue".to_owned(), "jobs".to_owned())]),
                match_expressions: vec![LabelSelectorRequirement {
                    key: "env".into(),
                    operator: SelectorOperator::In,
                    values: vec!["prod".into(), "qa".into()],
                }],
            }),
        };
        assert_eq!(
            external_query(&metric, "shop", FIFTEEN).unwrap(),
            r#"last_over_time(queue_messages{namespace="shop",queue="jobs",env=~"prod|qa"}[15000ms])"#
        );
        let described = CrossVersionObjectReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: "frontend".into(),
        };
        assert_eq!(
            object_query(
                &MetricIdentifier {
                    name: "requests_per_second".into(),
                    selector: None
                },
                &described,
                "shop",
                FIFTEEN
            )
            .unwrap(),
            r#"sum(last_over_time(requests_per_second{namespace="shop",service="frontend"}[15000ms]))"#
        );
        assert!(pods_query(
            &MetricIdentifier {
                name: "bad name".into(),
                selector: None
            },
            "shop",
            &["a"],
            FIFTEEN
        )
        .is_err());
    }
}
