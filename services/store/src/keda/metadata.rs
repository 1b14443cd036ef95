//! The `scalerMetadata` schema: what a ScaledObject's trigger `metadata` may say, parsed
//! into the query the store evaluates and the numbers KEDA needs.
//!
//! KEDA forwards every trigger metadata key, including its own (`scalerAddress`,
//! `enableTLS`, `unsafeSsl`) and `<key>FromEnv` keys carrying a resolved environment
//! variable. Our keys may come from the environment the same way (`targetValueFromEnv`);
//! any other key is refused, so a typo fails loudly instead of silently using a default.

use std::collections::HashMap;

use tachyscale_kubeformat::selector;

/// Keys KEDA itself adds or uses; allowed and ignored.
const KEDA_KEYS: [&str; 3] = ["scalerAddress", "enableTLS", "unsafeSsl"];

/// Our keys.
const QUERY: &str = "query";
const METRIC: &str = "metric";
const LABEL_SELECTOR: &str = "labelSelector";
const AGGREGATION: &str = "aggregation";
const WINDOW: &str = "window";
const NAMESPACED: &str = "namespaced";
const TARGET_VALUE: &str = "targetValue";
const ACTIVATION_THRESHOLD: &str = "activationThreshold";
const METRIC_NAME: &str = "metricName";
const IGNORE_NULL_VALUES: &str = "ignoreNullValues";

const OUR_KEYS: [&str; 10] = [
    QUERY,
    METRIC,
    LABEL_SELECTOR,
    AGGREGATION,
    WINDOW,
    NAMESPACED,
    TARGET_VALUE,
    ACTIVATION_THRESHOLD,
    METRIC_NAME,
    IGNORE_NULL_VALUES,
];

/// Longest metric name handed to KEDA (it prefixes `sN-` and the HPA needs a path segment).
const MAX_METRIC_NAME_LEN: usize = 200;

/// A parsed trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalerSpec {
    /// The PromQL the store evaluates; it must give one value (or none).
    pub query: String,
    pub target_value: f64,
    /// Active when the value is strictly greater (KEDA's built-in scalers' rule).
    pub activation_threshold: f64,
    pub metric_name: String,
    /// No data counts as 0 instead of failing.
    pub ignore_null_values: bool,
}

/// A key that is missing, unknown or malformed; becomes `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scalerMetadata.{key}: {problem}")]
pub struct MetadataError {
    pub key: String,
    pub problem: String,
}

fn error(key: &str, problem: impl Into<String>) -> MetadataError {
    MetadataError {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// The metadata with `<key>FromEnv` folded into `<key>` for our keys.
struct Fields<'a> {
    values: HashMap<&'static str, (&'a str, String)>,
}

impl<'a> Fields<'a> {
    fn collect(metadata: &'a HashMap<String, String>) -> Result<Fields<'a>, MetadataError> {
        let mut values: HashMap<&'static str, (&'a str, String)> = HashMap::new();
        for (key, value) in metadata {
            if KEDA_KEYS.contains(&key.as_str()) {
                continue;
            }
            let (base, from_env) = match key.strip_suffix("FromEnv") {
                Some(base) => (base, true),
                None => (key.as_str(), false),
            };
            let Some(&ours) = OUR_KEYS.iter().find(|k| **k == base) else {
                if from_env {
                    // Another component's environment value: not ours to judge.
                    continue;
                }
                return Err(error(
                    key,
                    format!(
                        "unknown key; expected one of {} (or KEDA's scalerAddress, enableTLS, \
                         unsafeSsl, *FromEnv)",
                        OUR_KEYS.join(", ")
                    ),
                ));
            };
            if values.contains_key(ours) {
                return Err(error(
                    key,
                    format!("set only one of {ours} and {ours}FromEnv"),
                ));
            }
            values.insert(ours, (key.as_str(), value.clone()));
        }
        Ok(Fields { values })
    }

    /// The raw value and the key it came from.
    fn get(&self, key: &'static str) -> Option<(&'a str, &str)> {
        self.values.get(key).map(|(k, v)| (*k, v.as_str()))
    }

    fn float(&self, key: &'static str) -> Result<Option<f64>, MetadataError> {
        let Some((source, text)) = self.get(key) else {
            return Ok(None);
        };
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(error(
                source,
                format!("expected a finite decimal number, got {text:?}"),
            )),
        }
    }

    fn boolean(&self, key: &'static str, default: bool) -> Result<bool, MetadataError> {
        match self.get(key) {
            None => Ok(default),
            Some((source, text)) => parse_go_bool(text)
                .ok_or_else(|| error(source, format!("expected true or false, got {text:?}"))),
        }
    }
}

/// Go's `strconv.ParseBool`, which KEDA's own scalers use.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// How the shorthand combines the matched series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregation {
    Sum,
    Avg,
    Max,
    Min,
}

impl Aggregation {
    fn parse(text: &str) -> Option<Aggregation> {
        Some(match text {
            "sum" => Aggregation::Sum,
            "avg" => Aggregation::Avg,
            "max" => Aggregation::Max,
            "min" => Aggregation::Min,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Max => "max",
            Aggregation::Min => "min",
        }
    }
}

/// Parses a trigger's metadata; `namespace` is the ScaledObject's, for `namespaced`.
pub fn parse(
    metadata: &HashMap<String, String>,
    namespace: &str,
) -> Result<ScalerSpec, MetadataError> {
    let fields = Fields::collect(metadata)?;
    let (query, derived_name) =
        match (fields.get(QUERY), fields.get(METRIC)) {
            (Some(_), Some((metric_key, _))) => return Err(error(
                metric_key,
                "set either query or metric (with labelSelector, aggregation, window), not both",
            )),
            (None, None) => {
                return Err(error(
                    QUERY,
                    "missing; set query (PromQL) or metric (with optional labelSelector, \
                 aggregation, window)",
                ))
            }
            (Some((key, text)), None) => {
                for shorthand in [LABEL_SELECTOR, AGGREGATION, WINDOW, NAMESPACED] {
                    if let Some((k, _)) = fields.get(shorthand) {
                        return Err(error(k, "only applies with metric, not with query"));
                    }
                }
                let text = text.trim();
                if text.is_empty() {
                    return Err(error(key, "must not be empty"));
                }
                let digest = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
                (text.to_string(), format!("query-{:08x}", digest as u32))
            }
            (None, Some((key, metric))) => shorthand_query(&fields, key, metric, namespace)?,
        };
    check_query(&query, fields.get(QUERY).map_or(METRIC, |(k, _)| k))?;

    let target_value = fields
        .float(TARGET_VALUE)?
        .ok_or_else(|| error(TARGET_VALUE, "missing; expected a number greater than 0"))?;
    if target_value <= 0.0 {
        let key = fields.get(TARGET_VALUE).map_or(TARGET_VALUE, |(k, _)| k);
        return Err(error(
            key,
            format!("expected a number greater than 0, got {target_value}"),
        ));
    }
    let activation_threshold = fields.float(ACTIVATION_THRESHOLD)?.unwrap_or(0.0);
    let metric_name = match fields.get(METRIC_NAME) {
        None => derived_name,
        Some((key, name)) => {
            let clean = sanitize_metric_name(name);
            if clean.is_empty() {
                return Err(error(
                    key,
                    format!("{name:?} has no letters or digits to name a metric"),
                ));
            }
            clean
        }
    };
    Ok(ScalerSpec {
        query,
        target_value,
        activation_threshold,
        metric_name,
        ignore_null_values: fields.boolean(IGNORE_NULL_VALUES, true)?,
    })
}

/// `aggregation(metric{selector})`, or over `rate(...[window])` when a window is set.
fn shorthand_query(
    fields: &Fields<'_>,
    key: &str,
    metric: &str,
    namespace: &str,
) -> Result<(String, String), MetadataError> {
    let metric = metric.trim();
    if !crate::ingest::is_valid_metric_name(metric) {
        return Err(error(
            key,
            format!("{metric:?} is not a metric name (expected [a-zA-Z_:][a-zA-Z0-9_:]*)"),
        ));
    }
    let aggregation = match fields.get(AGGREGATION) {
        None => Aggregation::Sum,
        Some((k, text)) => Aggregation::parse(text.trim())
            .ok_or_else(|| error(k, format!("expected sum, avg, max or min, got {text:?}")))?,
    };
    let mut matchers = match fields.get(LABEL_SELECTOR) {
        None => String::new(),
        Some((k, text)) => selector::parse(text)
            .and_then(|s| s.to_promql_matchers())
            .map_err(|e| error(k, format!("invalid label selector {text:?}: {e}")))?,
    };
    if fields.boolean(NAMESPACED, false)? {
        if namespace.is_empty() {
            return Err(error(
                NAMESPACED,
                "is true but the ScaledObjectRef has no namespace",
            ));
        }
        matchers = crate::matchers::with_equal("namespace", namespace, &matchers);
    }
    let selector = format!("{metric}{{{matchers}}}");
    let (inner, name) = match fields.get(WINDOW) {
        None => (selector, format!("{}-{metric}", aggregation.name())),
        Some((k, text)) => {
            let text = text.trim();
            let ms = tachyscale_promql::parse_duration(text)
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| {
                    error(
                        k,
                        format!("expected a positive Prometheus duration such as 30s or 2m, got {text:?}"),
                    )
                })?;
            let window = tachyscale_promql::ast::format_duration(ms);
            (
                format!("rate({selector}[{window}])"),
                format!("{}-rate-{metric}-{window}", aggregation.name()),
            )
        }
    };
    Ok((
        format!("{}({inner})", aggregation.name()),
        sanitize_metric_name(&name),
    ))
}

/// The query must parse and give an instant vector or a scalar.
fn check_query(query: &str, key: &str) -> Result<(), MetadataError> {
    let expr = tachyscale_promql::parse(query)
        .map_err(|e| error(key, format!("invalid PromQL {query:?}: {e}")))?;
    use tachyscale_promql::ValueType;
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => Ok(()),
        other => Err(error(
            key,
            format!(
                "the query gives a {}; expected an instant vector or a scalar",
                other.documented_name()
            ),
        )),
    }
}

/// Keeps `[A-Za-z0-9_-]`, turns every other run into one `-`, trims dashes, and bounds
/// the length: the name ends up in an URL path and in the HPA's metric name.
pub fn sanitize_metric_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    trimmed.chars().take(MAX_METRIC_NAME_LEN).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A metadata map from pairs; also used by the plan cache's tests.
    pub(crate) fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ok(pairs: &[(&str, &str)]) -> ScalerSpec {
        parse(&meta(pairs), "shop").unwrap()
    }

    fn err(pairs: &[(&str, &str)]) -> MetadataError {
        parse(&meta(pairs), "shop").unwrap_err()
    }

    #[test]
    fn a_query_trigger_with_keda_keys() {
        let spec = ok(&[
            ("scalerAddress", "tachyscale-store.monitoring:9202"),
            ("enableTLS", "true"),
            ("unsafeSsl", "false"),
            ("query", " sum(queue_depth{queue=\"orders\"}) "),
            ("targetValue", "2.5"),
        ]);
        assert_eq!(spec.query, "sum(queue_depth{queue=\"orders\"})");
        assert_eq!(spec.target_value, 2.5);
        assert_eq!(spec.activation_threshold, 0.0);
        assert!(spec.ignore_null_values);
        assert!(
            spec.metric_name.starts_with("query-"),
            "{}",
            spec.metric_name
        );
        assert_eq!(spec.metric_name.len(), "query-".len() + 8);
    }

    #[test]
    fn the_shorthand_builds_the_query() {
        let spec = ok(&[
            ("metric", "http_requests_total"),
            ("labelSelector", "app=web,env in (prod,qa),!canary"),
            ("aggregation", "max"),
            ("window", "30s"),
            ("targetValue", "100"),
            ("activationThreshold", "5"),
            ("namespaced", "true"),
        ]);
        assert_eq!(
            spec.query,
            r#"max(rate(http_requests_total{namespace="shop",app="web",env=~"prod|qa",canary=""}[30s]))"#
        );
        assert_eq!(spec.metric_name, "max-rate-http_requests_total-30s");
        assert_eq!(spec.activation_threshold, 5.0);
        let plain = ok(&[("metric", "queue:depth"), ("targetValue", "1")]);
        assert_eq!(plain.query, "sum(queue:depth{})");
        assert_eq!(plain.metric_name, "sum-queue-depth");
    }

    #[test]
    fn from_env_keys_fill_our_keys() {
        let spec = ok(&[
            ("query", "vector(1)"),
            ("targetValueFromEnv", "7"),
            ("otherFromEnv", "whatever"),
        ]);
        assert_eq!(spec.target_value, 7.0);
        let e = err(&[
            ("query", "vector(1)"),
            ("targetValue", "1"),
            ("targetValueFromEnv", "7"),
        ]);
        assert!(e.problem.contains("only one of targetValue"), "{e}");
    }

    #[test]
    fn explicit_metric_names_are_sanitised() {
        let spec = ok(&[
            ("query", "vector(1)"),
            ("targetValue", "1"),
            ("metricName", "orders/queue.depth:total"),
        ]);
        assert_eq!(spec.metric_name, "orders-queue-depth-total");
        let e = err(&[
            ("query", "vector(1)"),
            ("targetValue", "1"),
            ("metricName", "///"),
        ]);
        assert_eq!(e.key, "metricName");
    }

    #[test]
    fn errors_name_the_key_and_what_was_expected() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[("targetValue", "1")], "query", "missing"),
            (&[("query", "up")], "targetValue", "missing"),
            (
                &[("query", "up"), ("targetValue", "abc")],
                "targetValue",
                "finite decimal number",
            ),
            (
                &[("query", "up"), ("targetValue", "0")],
                "targetValue",
                "greater than 0",
            ),
            (
                &[("query", "up"), ("targetValue", "NaN")],
                "targetValue",
                "finite",
            ),
            (
                &[
                    ("query", "up"),
                    ("targetValue", "1"),
                    ("activationThreshold", "x"),
                ],
                "activationThreshold",
                "number",
            ),
            (
                &[
                    ("query", "up"),
                    ("targetValue", "1"),
                    ("ignoreNullValues", "yes"),
                ],
                "ignoreNullValues",
                "true or false",
            ),
            (
                &[("query", "up"), ("targetValue", "1"), ("treshold", "1")],
                "treshold",
                "unknown key",
            ),
            (
                &[("query", "sum(up"), ("targetValue", "1")],
                "query",
                "invalid PromQL",
            ),
            (
                &[("query", "up[5m]"), ("targetValue", "1")],
                "query",
                "range vector",
            ),
            (
                &[("query", "up"), ("metric", "up"), ("targetValue", "1")],
                "metric",
                "not both",
            ),
            (
                &[("query", "up"), ("window", "1m"), ("targetValue", "1")],
                "window",
                "only applies with metric",
            ),
            (
                &[("metric", "9up"), ("targetValue", "1")],
                "metric",
                "not a metric name",
            ),
            (
                &[
                    ("metric", "up"),
                    ("aggregation", "median"),
                    ("targetValue", "1"),
                ],
                "aggregation",
                "sum, avg, max or min",
            ),
            (
                &[("metric", "up"), ("window", "soon"), ("targetValue", "1")],
                "window",
                "duration",
            ),
            (
                &[("metric", "up"), ("window", "0s"), ("targetValue", "1")],
                "window",
                "positive",
            ),
            (
                &[
                    ("metric", "up"),
                    ("labelSelector", "a in (b"),
                    ("targetValue", "1"),
                ],
                "labelSelector",
                "invalid label selector",
            ),
            (
                &[
                    ("metric", "up"),
                    ("labelSelector", "app.kubernetes.io/name=x"),
                    ("targetValue", "1"),
                ],
                "labelSelector",
                "invalid label selector",
            ),
            (
                &[("query", " "), ("targetValue", "1")],
                "query",
                "must not be empty",
            ),
        ];
        for (pairs, key, fragment) in cases {
            let e = err(pairs);
            assert_eq!(e.key, *key, "{pairs:?}: {e}");
            assert!(e.problem.contains(fragment), "{pairs:?}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("scalerMetadata.{key}: ")));
        }
    }

    #[test]
    fn go_booleans() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        assert_eq!(parse_go_bool("yes"), None);
    }
}
