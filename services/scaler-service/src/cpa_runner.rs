//! One cluster-proportional policy's tick: count nodes and cores from the cluster, compute
//! the replicas (`tachyscale_scaler::cpa`), and set them when they differ — what the
//! cluster-proportional-autoscaler does every `--poll-period-seconds` (10 s), here every
//! policy period.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tachyscale_scaler::cpa::{self, ClusterStatus, CpaNode};

use crate::config::{Policy, PolicyKind};
use crate::context::Context;
use crate::decision_log::DecisionKind;
use crate::hpa_runner::TickOutcome;

pub struct CpaRunner {
    policy: Arc<Policy>,
}

impl CpaRunner {
    pub fn new(policy: Arc<Policy>) -> CpaRunner {
        CpaRunner { policy }
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        let started = Instant::now();
        let outcome = self.run(ctx).await;
        ctx.metrics
            .decision_duration
            .with_label_values(&["cpa"])
            .observe(started.elapsed().as_secs_f64());
        ctx.metrics
            .ticks
            .with_label_values(&["cpa", outcome.label()])
            .inc();
        if let TickOutcome::Error(message) = &outcome {
            tracing::warn!(policy = %self.policy.name, error = %message, "cpa tick failed");
        }
        outcome
    }

    async fn run(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        let PolicyKind::Cpa(cpa_policy) = &policy.kind else {
            return TickOutcome::Error("not a cpa policy".into());
        };
        let now_ms = ctx.clock.now_ms();
        let nodes = match ctx.cluster.nodes().await {
            Ok(nodes) => nodes,
            Err(err) => return TickOutcome::Error(format!("cannot list nodes: {err}")),
        };
        let cpa_nodes: Vec<CpaNode> = nodes
            .iter()
            .map(|node| CpaNode {
                name: node.name.clone(),
                allocatable_cpu_milli: node.allocatable.get("cpu").copied().unwrap_or(0),
                ready: node.ready,
                unschedulable: node.unschedulable,
            })
            .collect();
        let status = ClusterStatus::from_nodes(&cpa_nodes);
        let decision = cpa::replicas(&cpa_policy.params, &status);
        let scale = match ctx.cluster.scale(&cpa_policy.target).await {
            Ok(scale) => scale,
            Err(err) => {
                return TickOutcome::Error(format!(
                    "cannot read the scale of {}: {err}",
                    cpa_policy.target
                ))
            }
        };
        let current = scale.spec_replicas;
        let desired = decision.replicas;
        ctx.metrics
            .current_replicas
            .with_label_values(&[policy.name.as_str()])
            .set(i64::from(current));
        ctx.metrics
            .desired_replicas
            .with_label_values(&[policy.name.as_str()])
            .set(i64::from(desired));
        if desired == current {
            return TickOutcome::Ok { changed: false };
        }
        let target = cpa_policy.target.to_string();
        let explanation = json!({ "clusterStatus": status, "decision": decision });
        let reason = format!(
            "{} nodes, {} cores → {desired} replicas",
            decision.nodes, decision.cores
        );
        let direction = if desired > current { "up" } else { "down" };
        if policy.dry_run {
            ctx.metrics
                .scale_changes
                .with_label_values(&["cpa", direction, "false"])
                .inc();
            ctx.record(ctx.entry(
                &policy.name,
                "cpa",
                DecisionKind::Scale,
                target,
                Some(current),
                Some(desired),
                false,
                true,
                reason,
                explanation,
                now_ms,
            ));
            return TickOutcome::Ok { changed: true };
        }
        match ctx.cluster.set_replicas(&cpa_policy.target, desired).await {
            Ok(()) => {
                ctx.metrics
                    .scale_changes
                    .with_label_values(&["cpa", direction, "true"])
                    .inc();
                ctx.record(ctx.entry(
                    &policy.name,
                    "cpa",
                    DecisionKind::Scale,
                    target,
                    Some(current),
                    Some(desired),
                    true,
                    false,
                    reason,
                    explanation,
                    now_ms,
                ));
                TickOutcome::Ok { changed: true }
            }
            Err(err) => {
                ctx.metrics
                    .apply_errors
                    .with_label_values(&[err.reason()])
                    .inc();
                let message = format!("cannot set {target} to {desired} replicas: {err}");
                ctx.record(ctx.entry(
                    &policy.name,
                    "cpa",
                    DecisionKind::WriteFailed,
                    target,
                    Some(current),
                    Some(desired),
                    false,
                    false,
                    message.clone(),
                    explanation,
                    now_ms,
                ));
                TickOutcome::Error(message)
            }
        }
    }
}
