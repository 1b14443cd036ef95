//! The store role: binds the HTTP listener, runs the retention loop, stops gracefully.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tachyscale_tsdb::Head;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{router, AppState};
use crate::config::StoreSettings;
use crate::metrics::StoreMetrics;

/// A configured store, ready to serve.
pub struct Store {
    state: AppState,
}

impl Store {
    pub fn new(settings: StoreSettings, registry: prometheus::Registry) -> anyhow::Result<Self> {
        let metrics = StoreMetrics::new(registry).context("cannot register store metrics")?;
        metrics.set_limits(&settings);
        let head = Arc::new(Head::new(settings.head_options()));
        Ok(Store {
            state: AppState::new(head, settings, metrics),
        })
    }

    /// The shared state, for tests and for roles embedding the store (`demo`).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Binds the configured address and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.state.settings().listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        self.serve(listener, shutdown).await
    }

    /// Serves on an already bound listener (tests bind `127.0.0.1:0`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let addr = listener
            .local_addr()
            .context("listener has no local address")?;
        let gc = tokio::spawn(retention_loop(state.clone(), shutdown.clone()));
        state.set_ready(true);
        tracing::info!(%addr, "store listening");
        let stopping = state.clone();
        let stop_signal = shutdown.clone();
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async move {
                stop_signal.cancelled().await;
                stopping.set_ready(false);
                stopping.close_queries();
                tracing::info!("store draining in-flight requests");
            })
            .await
            .context("store HTTP server failed")?;
        shutdown.cancel();
        gc.await.context("retention loop panicked")?;
        Ok(())
    }
}

/// Drops expired data every `gc_interval` until shutdown.
async fn retention_loop(state: AppState, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(state.settings().gc_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let head = state.head();
        let started = Instant::now();
        match tokio::task::spawn_blocking(move || head.gc()).await {
            Ok(report) => {
                state
                    .metrics()
                    .gc_duration
                    .observe(started.elapsed().as_secs_f64());
                if report.series_removed > 0 || report.chunks_dropped > 0 {
                    tracing::debug!(
                        cutoff_ms = report.cutoff_ms,
                        series_removed = report.series_removed,
                        chunks_dropped = report.chunks_dropped,
                        strings_released = report.strings_released,
                        "retention pass"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "retention pass panicked"),
        }
    }
}
