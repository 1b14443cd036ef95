//! `POST /api/v1/write`: remote-write 1.0 receiver.
//!
//! Status codes follow the remote-write contract: 204 when everything was stored, 400 for
//! invalid data (the sender must not retry), 413 for oversized bodies, 415 for remote-write
//! 2.0 bodies, 429 when a limit on series or ingest rate is hit (the sender may retry).
//! Accepted samples of a partly bad request are kept; the body of a 400/429 says what was
//! refused and why.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{now_ms, AppState};
use crate::ingest::{ingest, IngestReport};

pub async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let response = receive_inner(&state, request).await;
    state
        .metrics()
        .write_requests
        .with_label_values(&[response.status().as_str()])
        .inc();
    response
}

async fn receive_inner(state: &AppState, request: Request) -> Response {
    let limits = &state.settings().write;
    let metrics = state.metrics();
    let refuse = |reason: &str, status: StatusCode, message: String| {
        metrics.write_errors.with_label_values(&[reason]).inc();
        (status, message).into_response()
    };
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        if content_type
            .to_str()
            .unwrap_or_default()
            .contains("io.prometheus.write.v2")
        {
            return refuse(
                "unsupported_version",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "remote-write 2.0 is not supported; send prometheus.WriteRequest (1.0)".into(),
            );
        }
    }
    let body = match axum::body::to_bytes(request.into_body(), limits.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            return refuse(
                "body_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body exceeds the limit of {} bytes",
                    limits.max_body_bytes
                ),
            )
        }
    };
    let decoded = match tachyscale_proto::remote_write::decode(&body, limits.max_decoded_bytes) {
        Ok(decoded) => decoded,
        Err(e) => {
            let status = if e.reason() == "body_too_large" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            let message = match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            return refuse(e.reason(), status, message);
        }
    };
    let samples: usize = decoded.timeseries.iter().map(|s| s.samples.len()).sum();
    if !state.admit(samples, now_ms()) {
        return refuse(
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            format!("ingest rate limit reached; {samples} samples refused, retry later"),
        );
    }
    let head = state.head();
    let write_limits = limits.clone();
    let now = now_ms();
    let generations = state.generations();
    let report = tokio::task::spawn_blocking(move || {
        let report = ingest(&head, &decoded, &write_limits, now);
        // Bumped before the response: once the sender sees 2xx, queries and push streams
        // already see the new data.
        if report.accepted > 0 {
            generations.bump(
                report.metric_names.iter().map(String::as_str),
                report.newest_ts_ms,
            );
        }
        report
    })
    .await;
    match report {
        Ok(report) => answer(state, report),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest failed: {e}"),
        )
            .into_response(),
    }
}

fn answer(state: &AppState, report: IngestReport) -> Response {
    let metrics = state.metrics();
    metrics.samples_ingested.inc_by(report.accepted);
    for (reason, n) in &report.rejected {
        metrics
            .samples_rejected
            .with_label_values(&[reason])
            .inc_by(*n);
    }
    if report.rejected.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let status = if report.hit_series_limit() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    let summary = report.summary();
    tracing::debug!(status = status.as_u16(), summary = %summary, "remote-write partly refused");
    (status, Body::from(summary)).into_response()
}
