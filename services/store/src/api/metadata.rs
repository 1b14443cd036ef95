//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values`.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use tachyscale_tsdb::{Labels, Matcher, Queryable};

use super::error::ApiError;
use super::params::Params;
use super::{json, AppState};

/// Label sets of every series matching any `match[]` selector within `start`..`end`.
fn matching_series(
    state: &AppState,
    params: &Params,
    selectors: &[&str],
) -> Result<Vec<Labels>, ApiError> {
    let start_ms = params.time_ms("start")?.unwrap_or(i64::MIN);
    let end_ms = params.time_ms("end")?.unwrap_or(i64::MAX);
    let matcher_sets = selectors
        .iter()
        .map(|s| parse_selector(s))
        .collect::<Result<Vec<Vec<Matcher>>, ApiError>>()?;
    let head = state.head();
    let mut all = BTreeSet::new();
    for matchers in &matcher_sets {
        all.extend(head.series(matchers, start_ms, end_ms));
    }
    Ok(all.into_iter().collect())
}

fn parse_selector(text: &str) -> Result<Vec<Matcher>, ApiError> {
    tachyscale_promql::parse_series_selector(text)
        .map_err(|e| ApiError::BadData(format!("invalid parameter \"match[]\": {e}")))
}

fn ok_json(data: String) -> Response {
    ([("content-type", "application/json")], json::success(&data)).into_response()
}

pub async fn series(State(state): State<AppState>, params: Params) -> Response {
    let selectors = params.all("match[]");
    if selectors.is_empty() {
        return ApiError::BadData("no match[] parameter provided".into()).into_response();
    }
    match matching_series(&state, &params, &selectors) {
        Ok(series) => ok_json(json::label_set_list(&series)),
        Err(e) => e.into_response(),
    }
}

pub async fn label_names(State(state): State<AppState>, params: Params) -> Response {
    let selectors = params.all("match[]");
    if selectors.is_empty() {
        return ok_json(json::string_list(&state.head().label_names()));
    }
    match matching_series(&state, &params, &selectors) {
        Ok(series) => {
            let names: BTreeSet<Arc<str>> = series
                .iter()
                .flat_map(|labels| labels.iter().map(|l| l.name.clone()))
                .collect();
            ok_json(json::string_list(&names.into_iter().collect::<Vec<_>>()))
        }
        Err(e) => e.into_response(),
    }
}

pub async fn label_values(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Response {
    if !crate::ingest::is_valid_label_name(&name) {
        return ApiError::BadData(format!("invalid label name: {name:?}")).into_response();
    }
    let selectors = params.all("match[]");
    if selectors.is_empty() {
        return ok_json(json::string_list(&state.head().label_values(&name)));
    }
    match matching_series(&state, &params, &selectors) {
        Ok(series) => {
            let values: BTreeSet<&str> = series.iter().filter_map(|l| l.get(&name)).collect();
            ok_json(json::string_list(&values.into_iter().collect::<Vec<_>>()))
        }
        Err(e) => e.into_response(),
    }
}
