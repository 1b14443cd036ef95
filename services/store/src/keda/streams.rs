//! Push for `StreamIsActive`: subscribers of the same (query, threshold, null rule) share
//! one group; a loop re-evaluates a group when an ingest touched its metrics (or on a
//! short tick) and publishes the activity on a `watch` channel.
//!
//! A `watch` channel keeps only the newest value, so a slow subscriber cannot hold up the
//! loop or ingest: it reads the latest state when it is ready. Messages go out only on
//! change. A group is dropped once its last subscriber is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::plan::Plan;
use super::value::scaler_value;
use crate::api::AppState;
use crate::generations::Dependencies;
use crate::result_cache::evaluate_shared;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    query: String,
    threshold_bits: u64,
    ignore_null_values: bool,
}

struct Group {
    plan: Arc<Plan>,
    active: watch::Sender<bool>,
    /// The data generation of the last evaluation.
    evaluated: AtomicU64,
}

/// What a subscription could not start with.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("{0}")]
    Evaluation(#[from] crate::api::ApiError),
    #[error("{0}")]
    Value(#[from] super::value::ValueError),
}

#[derive(Default)]
pub struct StreamHub {
    groups: Mutex<HashMap<GroupKey, Arc<Group>>>,
}

impl StreamHub {
    /// Subscribes to the activity of `plan`; the receiver holds the current state.
    pub async fn subscribe(
        &self,
        state: &AppState,
        plan: Arc<Plan>,
    ) -> Result<watch::Receiver<bool>, SubscribeError> {
        let key = GroupKey {
            query: plan.query.text.clone(),
            threshold_bits: plan.spec.activation_threshold.to_bits(),
            ignore_null_values: plan.spec.ignore_null_values,
        };
        if let Some(group) = self.groups.lock().get(&key) {
            return Ok(group.active.subscribe());
        }
        // Evaluated before the group exists, so a query that cannot give a value fails the
        // RPC instead of leaving a stream that never says anything.
        let answer = evaluate_shared(state, &plan.query).await?;
        let value = scaler_value(&answer.value, plan.spec.ignore_null_values)?;
        let active = value > plan.spec.activation_threshold;
        let mut groups = self.groups.lock();
        let receiver = groups
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Group {
                    plan,
                    active: watch::Sender::new(active),
                    evaluated: AtomicU64::new(answer.generation),
                })
            })
            .active
            .subscribe();
        state
            .metrics()
            .scaling
            .keda_stream_groups
            .set(groups.len() as i64);
        Ok(receiver)
    }

    /// Re-evaluates groups after ingests and on every `tick` until `shutdown`.
    pub async fn run(
        self: Arc<Self>,
        state: AppState,
        tick: Duration,
        shutdown: CancellationToken,
    ) {
        let generations = state.generations();
        let mut changed = generations.subscribe();
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ahead: Option<Duration> = None;
        loop {
            let wait_ahead = tokio::time::sleep(ahead.unwrap_or(tick));
            let ticked = tokio::select! {
                _ = shutdown.cancelled() => return,
                // A sample written ahead of our clock becomes visible when time reaches it,
                // with no ingest to say so: evaluate again then, not a whole tick later.
                _ = wait_ahead, if ahead.is_some() => true,
                r = changed.changed() => {
                    if r.is_err() {
                        return;
                    }
                    false
                }
                _ = ticker.tick() => true,
            };
            let due = self.due_groups(&state, ticked);
            futures_util::future::join_all(due.iter().map(|g| self.evaluate(&state, g))).await;
            let lead_ms = generations
                .of(&Dependencies::Any)
                .newest_ts_ms
                .saturating_sub(crate::api::now_ms());
            ahead = (lead_ms >= 0).then(|| Duration::from_millis(lead_ms as u64 + 1).min(tick));
        }
    }

    /// Groups whose data changed (all of them on a tick); forgets unsubscribed groups.
    fn due_groups(&self, state: &AppState, ticked: bool) -> Vec<Arc<Group>> {
        let generations = state.generations();
        let mut groups = self.groups.lock();
        groups.retain(|_, g| g.active.receiver_count() > 0);
        state
            .metrics()
            .scaling
            .keda_stream_groups
            .set(groups.len() as i64);
        groups
            .values()
            .filter(|g| {
                ticked
                    || generations.of(&g.plan.query.deps).generation
                        != g.evaluated.load(Ordering::Acquire)
            })
            .cloned()
            .collect()
    }

    async fn evaluate(&self, state: &AppState, group: &Group) {
        let evaluations = &state.metrics().scaling.keda_stream_evaluations;
        let outcome = evaluate_shared(state, &group.plan.query)
            .await
            .map_err(SubscribeError::from)
            .and_then(|answer| {
                let value = scaler_value(&answer.value, group.plan.spec.ignore_null_values)?;
                Ok((answer.generation, value))
            });
        match outcome {
            Ok((generation, value)) => {
                evaluations.with_label_values(&["ok"]).inc();
                group.evaluated.store(generation, Ordering::Release);
                let active = value > group.plan.spec.activation_threshold;
                group.active.send_if_modified(|current| {
                    let changed = *current != active;
                    *current = active;
                    changed
                });
            }
            Err(e) => {
                // The last known state stays; KEDA's IsActive polls report the error.
                evaluations.with_label_values(&["error"]).inc();
                tracing::debug!(query = %group.plan.query.text, error = %e, "push evaluation failed");
            }
        }
    }

    pub fn groups(&self) -> usize {
        self.groups.lock().len()
    }
}
