//! The scraper's HTTP surface: `/metrics`, `/healthz`, `/readyz` and a Prometheus-shaped
//! `/api/v1/targets` (what this member scrapes, each target's last scrape and error).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::{json, Value};

use crate::manager::TargetsView;

/// What the handlers read.
#[derive(Clone)]
pub struct ApiState {
    pub registry: Registry,
    pub ready: Arc<AtomicBool>,
    pub targets: Arc<TargetsView>,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/targets", get(targets))
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn targets(State(state): State<ApiState>) -> Json<Value> {
    let jobs = state.targets.jobs.read().clone();
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    for (job, view) in jobs {
        for t in &view.active {
            let last = t.status.get();
            let last_scrape = chrono::DateTime::from_timestamp_millis(last.ts_ms)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            active.push(json!({
                "discoveredLabels": t.target.discovered,
                "labels": t.target.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect::<std::collections::BTreeMap<_, _>>(),
                "scrapePool": job,
                "scrapeUrl": t.target.url.as_str(),
                "lastError": last.error,
                "lastScrape": last_scrape,
                "lastScrapeDuration": last.duration_seconds,
                "lastSamples": last.samples,
                "health": last.health,
                "scrapeInterval": humantime::format_duration(t.target.interval).to_string(),
                "scrapeTimeout": humantime::format_duration(t.target.timeout).to_string(),
            }));
        }
        dropped.extend(
            view.dropped
                .iter()
                .map(|labels| json!({ "discoveredLabels": labels })),
        );
    }
    Json(json!({
        "status": "success",
        "data": { "activeTargets": active, "droppedTargets": dropped },
    }))
}
