//! The store's own view of KEDA RPC latency, read from its `/metrics` histogram
//! `tachyscale_store_keda_request_duration_seconds{method}` before and after a window.
//!
//! The handler-side figure next to the client-side one tells where time goes: if the
//! client sees milliseconds while handlers take microseconds, the gap is transport,
//! scheduling on the shared cores, or the client itself.

use std::collections::BTreeMap;

use serde_json::{json, Value};

const HISTOGRAM: &str = "tachyscale_store_keda_request_duration_seconds_bucket{";

/// Cumulative bucket counts per method: (upper bound in seconds, count), sorted by bound.
pub type Buckets = BTreeMap<String, Vec<(f64, f64)>>;

/// Reads the histogram's buckets from the store's `/metrics`.
pub async fn read(http: &reqwest::Client, store_base: &str) -> anyhow::Result<Buckets> {
    let text = http
        .get(format!("{store_base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let mut buckets = Buckets::new();
    for line in text.lines().filter(|l| l.starts_with(HISTOGRAM)) {
        if let Some((method, bound, count)) = parse_bucket(line) {
            buckets.entry(method).or_default().push((bound, count));
        }
    }
    for list in buckets.values_mut() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    Ok(buckets)
}

/// `…_bucket{le="0.001",method="GetMetrics"} 12` → (method, bound, count).
fn parse_bucket(line: &str) -> Option<(String, f64, f64)> {
    let (labels, count) = line.rsplit_once(' ')?;
    let label = |name: &str| -> Option<&str> {
        let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
        let len = labels[start..].find('"')?;
        Some(&labels[start..start + len])
    };
    let bound = match label("le")? {
        "+Inf" => f64::INFINITY,
        text => text.parse().ok()?,
    };
    Some((label("method")?.to_string(), bound, count.parse().ok()?))
}

/// Per method, the window's p50 and p99 in ms, interpolated linearly inside the bucket as
/// `histogram_quantile` does, and the request count.
pub fn window_quantiles(before: &Buckets, after: &Buckets) -> Value {
    let mut out = serde_json::Map::new();
    for (method, list) in after {
        let earlier = before.get(method);
        let deltas: Vec<(f64, f64)> = list
            .iter()
            .map(|&(bound, count)| {
                let old = earlier
                    .and_then(|l| l.iter().find(|(b, _)| *b == bound))
                    .map_or(0.0, |(_, c)| *c);
                (bound, count - old)
            })
            .collect();
        let total = deltas.last().map_or(0.0, |(_, c)| *c);
        if total <= 0.0 {
            continue;
        }
        out.insert(
            method.clone(),
            json!({
                "count": total,
                "p50_ms": quantile(&deltas, 0.5).map(|s| s * 1e3),
                "p99_ms": quantile(&deltas, 0.99).map(|s| s * 1e3),
            }),
        );
    }
    Value::Object(out)
}

/// The q-quantile of cumulative buckets; `None` when it falls in the `+Inf` bucket.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return None;
            }
            let fraction = (rank - lower.1) / (count - lower.1).max(1e-9);
            return Some(lower.0 + (bound - lower.0) * fraction);
        }
        lower = (bound, count);
    }
    None
}
