//! The scale role's HTTP surface:
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | the instruments of [`crate::metrics`] |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | every policy has completed a tick since start (503 before) |
//! | `POST /v1/explain/{hpa,vpa,cpa}` | [`crate::explain`] on the body |
//! | `GET /v1/decisions?after=N&limit=M&policy=P` | the decision log, oldest first |
//! | `GET /v1/recommendations` | the VPA recommendations last published |
//!
//! Handlers decode, call the core and encode; errors are JSON `{"error", "reason"}` with a
//! status that says whose fault it was.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use serde::Deserialize;

use crate::decision_log::DecisionLog;
use crate::explain::{self, Engine, ExplainError, MAX_INPUT_BYTES};
use crate::metrics::ScalerMetrics;

/// Most decision log entries one request returns.
pub const MAX_DECISIONS_PER_PAGE: usize = 1_000;

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub metrics: ScalerMetrics,
    pub decisions: Arc<DecisionLog>,
    /// Published VPA recommendations, by policy.
    pub recommendations: Arc<RwLock<serde_json::Map<String, serde_json::Value>>>,
    pub ready: Arc<AtomicBool>,
    /// Explanations computed at once; more wait (see [`explain::MAX_CONCURRENT_EXPLAINS`]).
    pub explain_slots: Arc<tokio::sync::Semaphore>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/v1/explain/{engine}", post(explain_handler))
        .route("/v1/decisions", get(decisions))
        .route("/v1/recommendations", get(recommendations))
        .layer(DefaultBodyLimit::max(MAX_INPUT_BYTES))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "policies have not completed a tick yet",
        )
            .into_response()
    }
}

fn error(status: StatusCode, message: String, reason: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": message, "reason": reason })),
    )
        .into_response()
}

/// The one place explain errors become HTTP statuses: the caller's document (422, 413) or
/// ours (500).
impl IntoResponse for ExplainError {
    fn into_response(self) -> Response {
        let status = match &self {
            ExplainError::Encode(_) | ExplainError::Busy => StatusCode::INTERNAL_SERVER_ERROR,
            ExplainError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ExplainError::Input { .. } | ExplainError::Engine { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        };
        error(status, self.to_string(), self.reason())
    }
}

async fn explain_handler(
    State(state): State<HttpState>,
    Path(engine): Path<String>,
    body: Bytes,
) -> Response {
    let Some(engine) = Engine::parse(&engine) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("unknown engine {engine:?}; expected hpa, vpa or cpa"),
            "unknown_engine",
        );
    };
    let outcome = explain::explain_off_runtime(&state.explain_slots, engine, body).await;
    let label = match &outcome {
        Ok(_) => "ok",
        Err(err) => err.reason(),
    };
    state
        .metrics
        .explain_requests
        .with_label_values(&[engine.as_str(), label])
        .inc();
    match outcome {
        Ok(explanation) => Json(explanation).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Deserialize)]
struct DecisionQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
    policy: Option<String>,
}

async fn decisions(State(state): State<HttpState>, Query(query): Query<DecisionQuery>) -> Response {
    let limit = query
        .limit
        .unwrap_or(MAX_DECISIONS_PER_PAGE)
        .min(MAX_DECISIONS_PER_PAGE);
    let entries = state
        .decisions
        .entries(query.after, limit, query.policy.as_deref());
    Json(serde_json::json!({ "decisions": entries })).into_response()
}

async fn recommendations(State(state): State<HttpState>) -> Response {
    Json(serde_json::Value::Object(
        state.recommendations.read().clone(),
    ))
    .into_response()
}
