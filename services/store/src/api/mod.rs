//! The store's HTTP surface: one router, shared state, per-handler latency.
//!
//! Handlers decode, call the core (ingest, the PromQL evaluator, the head), and encode.
//! [`router`] is public so tests can drive it with `tower::ServiceExt::oneshot` as well as
//! over a socket.

mod error;
mod json;
mod metadata;
mod ops;
mod params;
mod query;
mod write;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use tachyscale_promql::EngineOptions;
use tachyscale_tsdb::Head;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

pub use error::ApiError;
pub use json::format_value;

use crate::config::StoreSettings;
use crate::generations::DataGenerations;
use crate::metrics::StoreMetrics;
use crate::rate_limit::TokenBucket;
use crate::result_cache::ResultCache;

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    head: Arc<Head>,
    settings: StoreSettings,
    engine: EngineOptions,
    metrics: StoreMetrics,
    query_slots: Arc<Semaphore>,
    ingest_rate: Option<Mutex<TokenBucket>>,
    ready: AtomicBool,
    generations: Arc<DataGenerations>,
    result_cache: ResultCache,
}

impl AppState {
    pub fn new(head: Arc<Head>, settings: StoreSettings, metrics: StoreMetrics) -> Self {
        AppState(Arc::new(Inner {
            head,
            engine: settings.engine_options(),
            query_slots: Arc::new(Semaphore::new(settings.query.max_concurrent)),
            ingest_rate: settings.write.rate.map(|r| Mutex::new(TokenBucket::new(r))),
            generations: Arc::new(DataGenerations::default()),
            result_cache: ResultCache::new(
                settings.keda.result_max_age,
                settings.keda.max_cached_plans,
            ),
            settings,
            metrics,
            ready: AtomicBool::new(false),
        }))
    }

    pub fn head(&self) -> Arc<Head> {
        self.0.head.clone()
    }

    /// Per-metric-name data generations, bumped by every ingest.
    pub fn generations(&self) -> Arc<DataGenerations> {
        self.0.generations.clone()
    }

    pub fn result_cache(&self) -> &ResultCache {
        &self.0.result_cache
    }

    pub fn settings(&self) -> &StoreSettings {
        &self.0.settings
    }

    pub fn engine_options(&self) -> &EngineOptions {
        &self.0.engine
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.0.metrics
    }

    /// Waits for a query slot; the owned permit can move into a blocking task.
    pub(crate) async fn query_slots(&self) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.0.query_slots.clone().acquire_owned().await
    }

    /// Whether the ingest rate limit admits `samples` now.
    fn admit(&self, samples: usize, now_ms: i64) -> bool {
        match &self.0.ingest_rate {
            None => true,
            Some(bucket) => bucket.lock().try_take(samples, now_ms),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
    }

    fn is_ready(&self) -> bool {
        self.0.ready.load(Ordering::Relaxed)
    }

    /// Stops admitting queries: waiting ones fail with `unavailable`.
    pub fn close_queries(&self) {
        self.0.query_slots.close();
    }
}

/// Wall-clock now in ms: the HTTP shell's default for `time`; the engine never reads clocks.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// All routes of the store.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/write", post(write::receive))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/series",
            get(metadata::series).post(metadata::series),
        )
        .route(
            "/api/v1/labels",
            get(metadata::label_names).post(metadata::label_names),
        )
        .route("/api/v1/label/{name}/values", get(metadata::label_values))
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(insecure_external_metrics(&state))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The external metrics API on the plain listener, when configured for development.
fn insecure_external_metrics(state: &AppState) -> Router<AppState> {
    if state.settings().external_metrics.insecure_http_on_loopback {
        crate::external::api::routes(state.clone(), crate::external::api::Access::Open)
            .with_state(())
    } else {
        Router::new()
    }
}

/// Health probes alone, for listeners that serve nothing else of the store's HTTP API.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/livez", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .with_state(state)
}

/// Records request latency per route template (a bounded label set).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let handler = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics()
        .request_duration
        .with_label_values(&[&handler])
        .observe(started.elapsed().as_secs_f64());
    response
}
