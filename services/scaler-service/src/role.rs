//! The `scale` role: one task per policy ticking at the policy's period, all sharing one
//! [`Context`], plus the HTTP surface.
//!
//! - Ticks of one policy never overlap: a tick that runs past its period delays the next
//!   one (`MissedTickBehavior::Delay`) and is counted as an overrun.
//! - At most `controller.max_concurrent_ticks` ticks run at once (a semaphore), so 10,000
//!   policies do not open 10,000 queries at the same instant.
//! - `/readyz` turns ready once every policy has completed its first tick.
//! - On shutdown the policy tasks stop between ticks and the HTTP server drains.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use parking_lot::RwLock;
use prometheus::Registry;
use tachyscale_cluster::{Clock, Cluster};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::checkpoints::read_directory;
use crate::config::{Policy, PolicyKind, ScalerSettings};
use crate::context::Context;
use crate::cpa_runner::CpaRunner;
use crate::decision_log::DecisionLog;
use crate::fetch::{AwsClients, PrometheusApi, QuerySource, Sources};
use crate::hpa_runner::{HpaRunner, TickOutcome};
use crate::http::{router, HttpState};
use crate::metrics::ScalerMetrics;
use crate::triggers::Trigger;
use crate::vpa_runner::{CheckpointSettings, VpaRunner};
use tachyscale_scaler::vpa::VpaCheckpoint;

/// One policy's runner.
pub enum Runner {
    Hpa(HpaRunner),
    Vpa(Box<VpaRunner>),
    Cpa(CpaRunner),
}

impl Runner {
    /// The runner of a policy; VPA runners import `checkpoints` of their VPA and save
    /// theirs when `checkpoint_settings` is set.
    pub fn new(
        policy: Arc<Policy>,
        checkpoint_settings: Option<&CheckpointSettings>,
        checkpoints: &[VpaCheckpoint],
        now_ms: i64,
    ) -> anyhow::Result<Runner> {
        Ok(match &policy.kind {
            PolicyKind::Hpa(_) => Runner::Hpa(HpaRunner::new(policy)),
            PolicyKind::Vpa(_) => {
                let runner = VpaRunner::new(Arc::clone(&policy))
                    .with_context(|| format!("policy {}", policy.name))?;
                let runner = match checkpoint_settings {
                    Some(settings) => {
                        let (runner, loaded, refused) =
                            runner.with_checkpoints(settings.clone(), checkpoints, now_ms);
                        for err in &refused {
                            tracing::warn!(policy = %policy.name, error = %err, "VPA checkpoint refused");
                        }
                        if loaded > 0 {
                            tracing::info!(policy = %policy.name, loaded, "VPA checkpoints imported");
                        }
                        runner
                    }
                    None => runner,
                };
                Runner::Vpa(Box::new(runner))
            }
            PolicyKind::Cpa(_) => Runner::Cpa(CpaRunner::new(policy)),
        })
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        match self {
            Runner::Hpa(runner) => runner.tick(ctx).await,
            Runner::Vpa(runner) => runner.tick(ctx).await,
            Runner::Cpa(runner) => runner.tick(ctx).await,
        }
    }
}

/// The scale role.
pub struct Scaler {
    settings: ScalerSettings,
    metrics: ScalerMetrics,
    decisions: Arc<DecisionLog>,
    recommendations: Arc<RwLock<serde_json::Map<String, serde_json::Value>>>,
    ready: Arc<AtomicBool>,
}

impl Scaler {
    pub fn new(settings: ScalerSettings, registry: Registry) -> anyhow::Result<Scaler> {
        let metrics = ScalerMetrics::new(registry).context("cannot register the scaler metrics")?;
        Ok(Scaler {
            decisions: Arc::new(DecisionLog::new(settings.decision_log_capacity)),
            settings,
            metrics,
            recommendations: Arc::default(),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.settings.listen
    }

    pub fn http_state(&self) -> HttpState {
        HttpState {
            metrics: self.metrics.clone(),
            decisions: Arc::clone(&self.decisions),
            recommendations: Arc::clone(&self.recommendations),
            ready: Arc::clone(&self.ready),
            explain_slots: Arc::new(Semaphore::new(crate::explain::MAX_CONCURRENT_EXPLAINS)),
        }
    }

    fn uses_aws(&self) -> bool {
        self.settings
            .policies
            .iter()
            .any(|policy| match &policy.kind {
                PolicyKind::Hpa(hpa) => hpa.triggers.iter().any(|(trigger, _)| {
                    matches!(trigger, Trigger::Sqs(_) | Trigger::CloudWatch(_))
                }),
                _ => false,
            })
    }

    /// Runs every policy against `cluster` until `shutdown`, serving HTTP on `listener`.
    /// `query` replaces the configured query API (the demo passes the store in-process).
    pub async fn run(
        self,
        listener: TcpListener,
        cluster: Arc<dyn Cluster>,
        clock: Arc<dyn Clock>,
        query: Option<Arc<dyn QuerySource>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let http_state = self.http_state();
        let aws = if self.uses_aws() {
            Some(AwsClients::load(&self.settings.aws).await)
        } else {
            None
        };
        let http = PrometheusApi::default_client(self.settings.metrics_timeout)?;
        let query = match query {
            Some(query) => query,
            None => Arc::new(PrometheusApi::new(&self.settings.query_url, http.clone())?),
        };
        let ctx = Arc::new(Context {
            cluster,
            clock,
            sources: Sources {
                aws,
                query: Some(query),
                http,
                timeout: self.settings.metrics_timeout,
            },
            metrics: self.metrics.clone(),
            decisions: Arc::clone(&self.decisions),
            recommendations: Arc::clone(&self.recommendations),
            rate_window: self.settings.rate_window,
            max_age: self.settings.max_age,
        });
        let checkpoint_settings =
            self.settings
                .vpa_checkpoint_dir
                .as_ref()
                .map(|directory| CheckpointSettings {
                    directory: directory.clone(),
                    interval_ms: i64::try_from(self.settings.vpa_checkpoint_interval.as_millis())
                        .unwrap_or(i64::MAX),
                });
        let checkpoints = match &checkpoint_settings {
            Some(settings) => {
                let (checkpoints, errors) = read_directory(&settings.directory);
                for err in &errors {
                    tracing::warn!(error = %err, "VPA checkpoint file skipped");
                }
                checkpoints
            }
            None => Vec::new(),
        };
        let now_ms = ctx.clock.now_ms();
        let policies: Vec<Arc<Policy>> = self.settings.policies.into_iter().map(Arc::new).collect();
        let total = policies.len();
        let first_ticks = Arc::new(AtomicUsize::new(0));
        if total == 0 {
            self.ready.store(true, Ordering::Release);
        }
        let slots = Arc::new(Semaphore::new(self.settings.max_concurrent_ticks));
        let tick_timeout = self.settings.tick_timeout;
        let mut tasks = tokio::task::JoinSet::new();
        for policy in policies {
            let mut runner = Runner::new(
                Arc::clone(&policy),
                checkpoint_settings.as_ref(),
                &checkpoints,
                now_ms,
            )?;
            let ctx = Arc::clone(&ctx);
            let shutdown = shutdown.clone();
            let slots = Arc::clone(&slots);
            let first_ticks = Arc::clone(&first_ticks);
            let ready = Arc::clone(&self.ready);
            tasks.spawn(async move {
                let engine = policy.kind.engine();
                let mut interval = tokio::time::interval(policy.period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                let mut counted = false;
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = interval.tick() => {}
                    }
                    let Ok(_slot) = slots.acquire().await else {
                        break;
                    };
                    let started = Instant::now();
                    let outcome = match tokio::time::timeout(tick_timeout, runner.tick(&ctx)).await
                    {
                        Ok(outcome) => outcome,
                        Err(_) => {
                            ctx.metrics
                                .ticks
                                .with_label_values(&[engine, "timeout"])
                                .inc();
                            tracing::warn!(policy = %policy.name, ?tick_timeout, "tick abandoned");
                            TickOutcome::Error("tick timed out".into())
                        }
                    };
                    if started.elapsed() > policy.period {
                        ctx.metrics.tick_overruns.with_label_values(&[engine]).inc();
                    }
                    // Ready once every policy has ticked with synced cluster caches.
                    if !counted && !matches!(outcome, TickOutcome::NotSynced(_)) {
                        counted = true;
                        if first_ticks.fetch_add(1, Ordering::AcqRel) + 1 == total {
                            ready.store(true, Ordering::Release);
                        }
                    }
                }
            });
        }
        let app = router(http_state);
        let server_shutdown = shutdown.clone();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
        tracing::info!(policies = total, "scaler running");
        let mut server = std::pin::pin!(server.into_future());
        // A policy task only ends at shutdown; one that ends earlier panicked, and the role
        // fails rather than run on without that policy.
        let result = loop {
            tokio::select! {
                served = &mut server => break served.context("scaler HTTP server failed"),
                Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                    if !shutdown.is_cancelled() {
                        shutdown.cancel();
                        let detail = match ended {
                            Err(err) if err.is_panic() => "panicked".to_owned(),
                            Err(err) => err.to_string(),
                            Ok(()) => "ended".to_owned(),
                        };
                        let _ = (&mut server).await;
                        break Err(anyhow::anyhow!("a policy task {detail}; stopping the scaler"));
                    }
                }
            }
        };
        shutdown.cancel();
        while tasks.join_next().await.is_some() {}
        result
    }
}
