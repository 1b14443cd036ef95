//! Writing a replica decision, the part the HPA and CPA runners share: `dryRun` logs the
//! change without writing it; otherwise the scale subresource is patched and the change —
//! or the failure — is counted and logged with the engine's explanation.

use serde_json::Value;
use tachyscale_cluster::WorkloadRef;

use crate::config::Policy;
use crate::context::Context;
use crate::decision_log::DecisionKind;

/// A change the engine asks for.
pub struct Change<'a> {
    pub policy: &'a Policy,
    pub engine: &'static str,
    pub target: &'a WorkloadRef,
    pub current: i32,
    pub desired: i32,
    pub reason: String,
    pub explanation: Value,
    pub now_ms: i64,
}

/// What became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// `dryRun`: logged, not written.
    DryRun,
    Written,
    /// The write failed; the message is logged and returned.
    Failed(String),
}

pub async fn apply(ctx: &Context, change: Change<'_>) -> Applied {
    let direction = if change.desired > change.current {
        "up"
    } else {
        "down"
    };
    let dry_run = change.policy.dry_run;
    let written = if dry_run {
        Ok(())
    } else {
        ctx.cluster
            .set_replicas(change.target, change.desired)
            .await
    };
    let (kind, applied, reason, outcome) = match written {
        Ok(()) => {
            ctx.metrics
                .scale_changes
                .with_label_values(&[
                    change.engine,
                    direction,
                    if dry_run { "false" } else { "true" },
                ])
                .inc();
            let outcome = if dry_run {
                Applied::DryRun
            } else {
                Applied::Written
            };
            (DecisionKind::Scale, !dry_run, change.reason, outcome)
        }
        Err(err) => {
            ctx.metrics
                .apply_errors
                .with_label_values(&[err.reason()])
                .inc();
            let message = format!(
                "cannot set {} to {} replicas: {err}",
                change.target, change.desired
            );
            (
                DecisionKind::WriteFailed,
                false,
                message.clone(),
                Applied::Failed(message),
            )
        }
    };
    ctx.record(ctx.entry(
        &change.policy.name,
        change.engine,
        kind,
        change.target.to_string(),
        Some(change.current),
        Some(change.desired),
        applied,
        dry_run,
        reason,
        change.explanation,
        change.now_ms,
    ));
    outcome
}
