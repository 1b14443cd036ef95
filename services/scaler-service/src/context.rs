//! What every policy runner shares: the cluster, the clock, the metric sources and the
//! places decisions go (metrics, decision log, published recommendations).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tachyscale_cluster::{Clock, Cluster};
use tachyscale_kubeformat::quantity::Quantity;

use crate::decision_log::{DecisionEntry, DecisionKind, DecisionLog};
use crate::fetch::{FetchError, InstantValue, Sources};
use crate::hpa_runner::TickOutcome;
use crate::metrics::ScalerMetrics;

pub struct Context {
    pub cluster: Arc<dyn Cluster>,
    pub clock: Arc<dyn Clock>,
    pub sources: Sources,
    pub metrics: ScalerMetrics,
    pub decisions: Arc<DecisionLog>,
    pub recommendations: Arc<RwLock<serde_json::Map<String, serde_json::Value>>>,
    /// Window of CPU `rate()`s.
    pub rate_window: Duration,
    /// Gauges older than this are stale.
    pub max_age: Duration,
}

impl Context {
    /// An instant query against the configured query source, counting failures.
    pub async fn query(&self, query: &str, now_ms: i64) -> Result<Vec<InstantValue>, FetchError> {
        let source = self
            .sources
            .query
            .as_ref()
            .ok_or(FetchError::NoQuerySource)?;
        let result = tokio::time::timeout(self.sources.timeout, source.instant(query, now_ms))
            .await
            .map_err(|_| FetchError::Timeout(self.sources.timeout))
            .and_then(|result| result);
        if let Err(err) = &result {
            self.metrics
                .source_errors
                .with_label_values(&["store", err.reason()])
                .inc();
        }
        result
    }

    /// Runs one tick of a policy, timing it and counting its outcome.
    pub async fn observe_tick(
        &self,
        engine: &'static str,
        policy: &str,
        tick: impl std::future::Future<Output = TickOutcome>,
    ) -> TickOutcome {
        let started = std::time::Instant::now();
        let outcome = tick.await;
        self.metrics
            .decision_duration
            .with_label_values(&[engine])
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .ticks
            .with_label_values(&[engine, outcome.label()])
            .inc();
        if let TickOutcome::Error(message) = &outcome {
            tracing::warn!(policy, engine, error = %message, "tick failed");
        }
        outcome
    }

    /// The `current_replicas` / `desired_replicas` gauges of a policy.
    pub fn set_replica_gauges(&self, policy: &str, current: i32, desired: i32) {
        self.metrics
            .current_replicas
            .with_label_values(&[policy])
            .set(i64::from(current));
        self.metrics
            .desired_replicas
            .with_label_values(&[policy])
            .set(i64::from(desired));
    }

    /// Records a decision and counts a dropped entry.
    pub fn record(&self, entry: DecisionEntry) {
        let (_, dropped) = self.decisions.record(entry);
        if dropped {
            self.metrics.decision_log_dropped.inc();
        }
    }

    /// A decision log entry with the common fields filled in.
    #[allow(clippy::too_many_arguments)]
    pub fn entry(
        &self,
        policy: &str,
        engine: &'static str,
        kind: DecisionKind,
        target: String,
        current: Option<i32>,
        desired: Option<i32>,
        applied: bool,
        dry_run: bool,
        reason: String,
        explanation: serde_json::Value,
        now_ms: i64,
    ) -> DecisionEntry {
        DecisionEntry {
            seq: 0,
            time: tachyscale_scaler::time::format_rfc3339_ms(now_ms),
            time_ms: now_ms,
            policy: policy.to_owned(),
            engine,
            kind,
            target,
            current_replicas: current,
            desired_replicas: desired,
            applied,
            dry_run,
            reason,
            explanation,
        }
    }
}

/// A metric value in milli-units as the HPA reads quantities (`MilliValue()`, rounding up),
/// saturating; NaN reads as `None`.
pub fn milli_of_value(value: f64) -> Option<i64> {
    let quantity = Quantity::from_f64(value).ok()?;
    Some(
        quantity
            .milli()
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    )
}
