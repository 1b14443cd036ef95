//! The store as a query source without HTTP: the scaler and the store in one process (the
//! demo, a single-binary deployment) evaluate through the store's shared evaluation path —
//! the same query slots, timeout and engine as `/api/v1/query` — and skip JSON encoding
//! and a loopback round trip.

use async_trait::async_trait;
use tachyscale_promql::Value;
use tachyscale_store::api::AppState;

use super::{FetchError, InstantValue, QuerySource};

/// Queries a store running in this process.
pub struct InProcessStore {
    state: AppState,
}

impl InProcessStore {
    pub fn new(state: AppState) -> InProcessStore {
        InProcessStore { state }
    }
}

fn error(message: String) -> FetchError {
    FetchError::Query {
        url: "in-process store".into(),
        message,
    }
}

#[async_trait]
impl QuerySource for InProcessStore {
    async fn instant(&self, query: &str, time_ms: i64) -> Result<Vec<InstantValue>, FetchError> {
        let expr = tachyscale_promql::parse(query).map_err(|err| error(err.to_string()))?;
        let value =
            tachyscale_store::evaluate::evaluate(&self.state, "instant", move |db, opts| {
                tachyscale_promql::instant_query(db, &expr, time_ms, opts)
            })
            .await
            .map_err(|err| error(err.to_string()))?;
        match value {
            Value::Vector(samples) => Ok(samples
                .into_iter()
                .map(|sample| InstantValue {
                    labels: sample
                        .labels
                        .iter()
                        .map(|label| (label.name.to_string(), label.value.to_string()))
                        .collect(),
                    value: sample.value,
                    ts_ms: sample.ts_ms,
                })
                .collect()),
            Value::Scalar { ts_ms, value } => Ok(vec![InstantValue {
                labels: Default::default(),
                value,
                ts_ms,
            }]),
            Value::Matrix(_) | Value::String { .. } => Err(error(
                "the query must return an instant vector or a scalar".into(),
            )),
        }
    }
}
