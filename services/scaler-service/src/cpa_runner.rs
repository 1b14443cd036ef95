//! One cluster-proportional policy's tick: count nodes and cores from the cluster, compute
//! the replicas (`tachyscale_scaler::cpa`), and set them when they differ — what the
//! cluster-proportional-autoscaler does every `--poll-period-seconds` (10 s), here every
//! policy period.

use std::sync::Arc;

use serde_json::json;
use tachyscale_scaler::cpa::{self, ClusterStatus, CpaNode};

use crate::apply::{apply, Applied, Change};
use crate::config::{Policy, PolicyKind};
use crate::context::Context;
use crate::hpa_runner::TickOutcome;

pub struct CpaRunner {
    policy: Arc<Policy>,
    /// The desired replicas last logged for a `dryRun` policy (logged once per change).
    dry_run_logged: Option<i32>,
}

impl CpaRunner {
    pub fn new(policy: Arc<Policy>) -> CpaRunner {
        CpaRunner {
            policy,
            dry_run_logged: None,
        }
    }

    pub async fn tick(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        ctx.observe_tick("cpa", &policy.name, self.run(ctx)).await
    }

    async fn run(&mut self, ctx: &Context) -> TickOutcome {
        let policy = Arc::clone(&self.policy);
        let PolicyKind::Cpa(cpa_policy) = &policy.kind else {
            return TickOutcome::Error("not a cpa policy".into());
        };
        let now_ms = ctx.clock.now_ms();
        let nodes = match ctx.cluster.nodes().await {
            Ok(nodes) => nodes,
            Err(err) => return TickOutcome::cluster_error(ctx, "cannot list nodes".into(), &err),
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
                let what = format!("cannot read the scale of {}", cpa_policy.target);
                return TickOutcome::cluster_error(ctx, what, &err);
            }
        };
        let current = scale.spec_replicas;
        let desired = decision.replicas;
        ctx.set_replica_gauges(&policy.name, current, desired);
        if desired == current {
            self.dry_run_logged = None;
            return TickOutcome::Ok { changed: false };
        }
        if policy.dry_run && self.dry_run_logged == Some(desired) {
            return TickOutcome::Ok { changed: true };
        }
        let change = Change {
            policy: &policy,
            engine: "cpa",
            target: &cpa_policy.target,
            current,
            desired,
            reason: format!(
                "{} nodes, {} cores → {desired} replicas",
                decision.nodes, decision.cores
            ),
            explanation: json!({ "clusterStatus": status, "decision": decision }),
            now_ms,
        };
        match apply(ctx, change).await {
            Applied::DryRun => {
                self.dry_run_logged = Some(desired);
                TickOutcome::Ok { changed: true }
            }
            Applied::Written => TickOutcome::Ok { changed: true },
            Applied::Failed(message) => TickOutcome::Error(message),
        }
    }
}
