//! `/api/v1/query` and `/api/v1/query_range`: decode, evaluate on a blocking thread under
//! the concurrency limit and timeout, encode.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use tachyscale_promql::{Expr, Value};

use super::error::ApiError;
use super::params::{parse_duration_ms, Params};
use super::{json, now_ms, AppState};
use crate::evaluate::evaluate;

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
