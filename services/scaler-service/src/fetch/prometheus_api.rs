//! A client of the Prometheus HTTP query API (`/api/v1/query`): the store's, Prometheus',
//! or any compatible one (Thanos, Mimir, VictoriaMetrics).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{FetchError, QuerySource};

/// Longest answer read, so a query that returns every series cannot exhaust memory.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// One element of an instant query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantValue {
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
    pub ts_ms: i64,
}

/// A query API at a base URL (`http://store:9201`).
#[derive(Clone)]
pub struct PrometheusApi {
    query_url: String,
    client: reqwest::Client,
}

impl PrometheusApi {
    pub fn new(base_url: &str, client: reqwest::Client) -> Result<PrometheusApi, FetchError> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(FetchError::Request(format!(
                "serverAddress {base_url:?} is not an http(s) URL"
            )));
        }
        Ok(PrometheusApi {
            query_url: format!("{base}/api/v1/query"),
            client,
        })
    }

    /// A client with sane defaults for a control loop: short connect timeout, pooled.
    pub fn default_client(timeout: Duration) -> Result<reqwest::Client, FetchError> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .build()
            .map_err(|err| FetchError::Request(format!("cannot build the HTTP client: {err}")))
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorElement>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorElement {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

fn parse_sample(ts: f64, text: &str) -> Result<(i64, f64), String> {
    let value = match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other
            .parse()
            .map_err(|_| format!("sample value {other:?} is not a number"))?,
    };
    Ok(((ts * 1000.0).round() as i64, value))
}

/// Decodes a `/api/v1/query` answer.
pub fn decode_instant(body: &[u8]) -> Result<Vec<InstantValue>, String> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|err| format!("invalid query API answer: {err}"))?;
    if envelope.status != "success" {
        return Err(envelope.error.unwrap_or_else(|| "query failed".into()));
    }
    match envelope.data {
        Some(Data::Vector(elements)) => elements
            .into_iter()
            .map(|element| {
                let (ts_ms, value) = parse_sample(element.value.0, &element.value.1)?;
                Ok(InstantValue {
                    labels: element.metric,
                    value,
                    ts_ms,
                })
            })
            .collect(),
        Some(Data::Scalar((ts, text))) => {
            let (ts_ms, value) = parse_sample(ts, &text)?;
            Ok(vec![InstantValue {
                labels: Default::default(),
                value,
                ts_ms,
            }])
        }
        Some(Data::Matrix(_) | Data::String(_)) => {
            Err("the query must return an instant vector or a scalar".into())
        }
        None => Err("query API answer without data".into()),
    }
}

#[async_trait]
impl QuerySource for PrometheusApi {
    async fn instant(&self, query: &str, time_ms: i64) -> Result<Vec<InstantValue>, FetchError> {
        let time = format!(
            "{}.{:03}",
            time_ms.div_euclid(1000),
            time_ms.rem_euclid(1000)
        );
        let error = |message: String| FetchError::Query {
            url: self.query_url.clone(),
            message,
        };
        let mut response = self
            .client
            .post(&self.query_url)
            .form(&[("query", query), ("time", time.as_str())])
            .send()
            .await
            .map_err(|err| error(err.to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| error(err.to_string()))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(error(format!(
                    "answer larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        // Prometheus answers query errors with 400/422 and the error in the JSON body.
        decode_instant(&body).map_err(|message| error(format!("{status}: {message}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn vectors_and_scalars_decode() {
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.5,"3.25"]},{"metric":{},"value":[1700000000,"+Inf"]}]}}"#;
        let values = decode_instant(vector).unwrap();
        assert_eq!(values[0].value, 3.25);
        assert_eq!(values[0].ts_ms, 1_700_000_000_500);
        assert_eq!(values[0].labels["pod"], "a");
        assert!(values[1].value.is_infinite());
        let scalar =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"7"]}}"#;
        assert_eq!(decode_instant(scalar).unwrap()[0].value, 7.0);
        let error = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(decode_instant(error).unwrap_err(), "parse error at char 5");
    }
}
