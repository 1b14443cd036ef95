//! Compares two Prometheus query API responses: same status and error type, same result
//! type, same series (by label set, in any order), same timestamps, and values equal within
//! a relative tolerance (NaN equals NaN, infinities must match exactly).

use std::collections::BTreeMap;

use serde_json::Value;

/// Relative tolerance for values.
pub const TOLERANCE: f64 = 1e-9;

fn parse_value(v: &Value) -> Option<f64> {
    match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        s => s.parse().ok(),
    }
}

pub fn values_match(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs())
}

/// `(timestamp, value)` pairs, timestamps as printed.
type Points = Vec<(String, f64)>;

fn point(p: &Value) -> Option<(String, f64)> {
    let arr = p.as_array()?;
    let ts = arr.first()?;
    Some((ts.to_string(), parse_value(arr.get(1)?)?))
}

fn series_map(result: &Value, key: &str) -> Result<BTreeMap<String, Points>, String> {
    let mut out = BTreeMap::new();
    for item in result.as_array().ok_or("result is not an array")? {
        let metric = item.get("metric").ok_or("item without metric")?;
        // serde_json maps are sorted by key, so this is a canonical label-set string.
        let labels = metric.to_string();
        let points = match key {
            "value" => vec![point(item.get("value").ok_or("no value")?).ok_or("bad point")?],
            _ => item
                .get("values")
                .and_then(Value::as_array)
                .ok_or("no values")?
                .iter()
                .map(|p| point(p).ok_or("bad point"))
                .collect::<Result<_, _>>()?,
        };
        if out.insert(labels.clone(), points).is_some() {
            return Err(format!("duplicate series {labels}"));
        }
    }
    Ok(out)
}

fn compare_points(labels: &str, ours: &Points, theirs: &Points) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!(
            "{labels}: {} points in ours, {} in prometheus' (ours {ours:?}, theirs {theirs:?})",
            ours.len(),
            theirs.len()
        ));
    }
    for ((t1, v1), (t2, v2)) in ours.iter().zip(theirs) {
        if t1 != t2 {
            return Err(format!("{labels}: timestamp {t1} vs {t2}"));
        }
        if !values_match(*v1, *v2) {
            return Err(format!("{labels} at {t1}: value {v1} vs {v2}"));
        }
    }
    Ok(())
}

/// `Ok` when the responses agree; otherwise a description of the first difference.
pub fn compare(ours: &Value, theirs: &Value) -> Result<(), String> {
    let status = |v: &Value| {
        v.get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if status(ours) != status(theirs) {
        return Err(format!("status differs: ours {ours}, prometheus {theirs}"));
    }
    if status(ours) == "error" {
        let kind = |v: &Value| v.get("errorType").cloned();
        return if kind(ours) == kind(theirs) {
            Ok(())
        } else {
            Err(format!(
                "error types differ: ours {ours}, prometheus {theirs}"
            ))
        };
    }
    let data = |v: &Value| v.get("data").cloned().unwrap_or(Value::Null);
    let (d1, d2) = (data(ours), data(theirs));
    let kind = d1.get("resultType").and_then(Value::as_str).unwrap_or("");
    if Some(kind) != d2.get("resultType").and_then(Value::as_str) {
        return Err(format!("result types differ: ours {d1}, prometheus {d2}"));
    }
    let (r1, r2) = (&d1["result"], &d2["result"]);
    match kind {
        "scalar" | "string" => {
            let p1 = point(r1).ok_or("bad scalar in ours")?;
            let p2 = point(r2).ok_or("bad scalar in prometheus'")?;
            compare_points("scalar", &vec![p1], &vec![p2])
        }
        "vector" | "matrix" => {
            let key = if kind == "vector" { "value" } else { "values" };
            let m1 = series_map(r1, key)?;
            let m2 = series_map(r2, key)?;
            let only_ours: Vec<&String> = m1.keys().filter(|k| !m2.contains_key(*k)).collect();
            let only_theirs: Vec<&String> = m2.keys().filter(|k| !m1.contains_key(*k)).collect();
            if !only_ours.is_empty() || !only_theirs.is_empty() {
                return Err(format!(
                    "series differ: only ours {only_ours:?}, only prometheus' {only_theirs:?}"
                ));
            }
            for (labels, points) in &m1 {
                compare_points(labels, points, &m2[labels])?;
            }
            Ok(())
        }
        other => Err(format!("unknown result type {other:?}")),
    }
}

/// Whether a success response carries at least one sample.
pub fn has_data(response: &Value) -> bool {
    let result = &response["data"]["result"];
    match response["data"]["resultType"].as_str() {
        Some("scalar") | Some("string") => true,
        _ => result.as_array().is_some_and(|r| !r.is_empty()),
    }
}
