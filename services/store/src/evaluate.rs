//! Query evaluation shared by every surface (query API, KEDA gRPC, external metrics API):
//! on the blocking pool, under the store's concurrency limit and timeout.

use std::time::Instant;

use tachyscale_promql::{EvalError, Value};

use crate::api::{ApiError, AppState};

/// Runs an evaluation on the blocking pool once a query slot is free, within the timeout.
pub async fn evaluate<F>(state: &AppState, kind: &'static str, eval: F) -> Result<Value, ApiError>
where
    F: FnOnce(
            &dyn tachyscale_tsdb::Queryable,
            &tachyscale_promql::EngineOptions,
        ) -> Result<Value, EvalError>
        + Send
        + 'static,
{
    let metrics = state.metrics().clone();
    let timeout = state.settings().query.timeout;
    let started = Instant::now();
    let permit = tokio::time::timeout(timeout, state.query_slots())
        .await
        .map_err(|_| ApiError::Timeout("query timed out waiting for a free query slot".into()))?
        .map_err(|_| ApiError::Unavailable("store is shutting down".into()))?;
    let head = state.head();
    let opts = state.engine_options().clone();
    let in_flight = metrics.queries_in_flight.clone();
    let task = tokio::task::spawn_blocking(move || {
        // Counted here, not around the await: a query that timed out for its client keeps
        // running (and holding its slot) until it finishes.
        in_flight.inc();
        let result = eval(head.as_ref(), &opts);
        in_flight.dec();
        drop(permit);
        result
    });
    let remaining = timeout.saturating_sub(started.elapsed());
    let joined = tokio::time::timeout(remaining, task).await;
    let result = match joined {
        // The evaluation keeps its slot until it finishes, so timed-out queries still count
        // against the concurrency limit and cannot pile up unseen.
        Err(_) => Err(ApiError::Timeout(format!(
            "query timed out in expression evaluation after {timeout:?}"
        ))),
        Ok(Err(join_error)) => Err(ApiError::Internal(format!(
            "query evaluation failed: {join_error}"
        ))),
        Ok(Ok(Err(eval_error))) => {
            metrics
                .query_errors
                .with_label_values(&[eval_error.reason()])
                .inc();
            Err(eval_error_to_api(eval_error))
        }
        Ok(Ok(Ok(value))) => Ok(value),
    };
    let outcome = if result.is_ok() { "success" } else { "error" };
    metrics.queries.with_label_values(&[kind, outcome]).inc();
    result
}

/// Prometheus answers type errors found before evaluation as `bad_data`, the rest as
/// `execution`.
fn eval_error_to_api(error: EvalError) -> ApiError {
    match error.reason() {
        "range_vector_in_range_query" | "too_many_points" => ApiError::BadData(error.to_string()),
        _ => ApiError::Execution(error.to_string()),
    }
}
