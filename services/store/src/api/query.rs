//! `/api/v1/query` and `/api/v1/query_range`: decode, evaluate on a blocking thread under
//! the concurrency limit and timeout, encode.

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tachyscale_promql::{EvalError, Expr, Value};

use super::error::ApiError;
use super::params::{parse_duration_ms, Params};
use super::{json, now_ms, AppState};

pub async fn instant(State(state): State<AppState>, params: Params) -> Response {
    let outcome = async {
        let expr = parse_query(&params)?;
        let ts_ms = params.time_ms("time")?.unwrap_or_else(now_ms);
        evaluate(&state, "instant", move |db, opts| {
            tachyscale_promql::instant_query(db, &expr, ts_ms, opts)
        })
        .await
    }
    .await;
    respond(outcome)
}

pub async fn range(State(state): State<AppState>, params: Params) -> Response {
    let outcome = async {
        let expr = parse_query(&params)?;
        let start_ms = required_time(&params, "start")?;
        let end_ms = required_time(&params, "end")?;
        if end_ms < start_ms {
            return Err(ApiError::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        let step_raw = params.required("step")?;
        let step_ms = parse_duration_ms(step_raw)
            .map_err(|e| ApiError::BadData(format!("invalid parameter \"step\": {e}")))?;
        if step_ms <= 0 {
            return Err(ApiError::BadData(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let max_points = state.settings().query.max_points_per_series as i64;
        if (end_ms - start_ms) / step_ms > max_points {
            return Err(ApiError::BadData(format!(
                "exceeded maximum resolution of {max_points} points per timeseries. Try decreasing the query resolution (?step=XX)"
            )));
        }
        evaluate(&state, "range", move |db, opts| {
            tachyscale_promql::range_query(db, &expr, start_ms, end_ms, step_ms, opts)
        })
        .await
    }
    .await;
    respond(outcome)
}

fn respond(outcome: Result<Value, ApiError>) -> Response {
    match outcome {
        Ok(value) => (
            [("content-type", "application/json")],
            json::success(&json::query_data(&value)),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn parse_query(params: &Params) -> Result<Expr, ApiError> {
    let text = params.required("query")?;
    tachyscale_promql::parse(text)
        .map_err(|e| ApiError::BadData(format!("invalid parameter \"query\": {e}")))
}

fn required_time(params: &Params, name: &str) -> Result<i64, ApiError> {
    params
        .time_ms(name)?
        .ok_or_else(|| ApiError::BadData(format!("invalid parameter \"{name}\": missing")))
}

/// Runs an evaluation on the blocking pool once a query slot is free, within the timeout.
async fn evaluate<F>(state: &AppState, kind: &'static str, eval: F) -> Result<Value, ApiError>
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
