//! Push for `StreamIsActive`: subscribers of the same (query, threshold, null rule) share
//! one group; a loop re-evaluates a group when an ingest touched its metrics (or on a
//! short tick) and publishes the activity on a `watch` channel.
//!
//! A `watch` channel keeps only the newest value, so a slow subscriber cannot hold up the
//! loop or ingest: it reads the latest state when it is ready. Messages go out only on
//! change. A group is dropped once its last subscriber is gone.
//!
//! Each evaluation runs as its own task and a group has at most one in flight, so one slow
//! query delays only its own subscribers, never the loop or the other groups.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
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
    /// The instant (ms) of the last evaluation: inputs stamped later were invisible to it.
    evaluated_at_ms: AtomicI64,
    in_flight: AtomicBool,
}

impl Group {
    /// Whether the inputs changed since the last evaluation, or hold a sample that was
    /// still in the future then and is not any more.
    fn is_stale(&self, state: &AppState, now_ms: i64) -> bool {
        let version = state.generations().of(&self.plan.query.deps);
        let evaluated_at = self.evaluated_at_ms.load(Ordering::Acquire);
        version.generation != self.evaluated.load(Ordering::Acquire)
            || (version.newest_ts_ms > evaluated_at && version.newest_ts_ms <= now_ms)
    }
}

/// Why the loop woke up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// An ingest: groups whose inputs changed.
    Ingest,
    /// A sample's future timestamp was reached: groups that could not see it.
    Ahead,
    /// The periodic tick: every group.
    Tick,
}

/// What a subscription could not start with.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Evaluation(#[from] crate::api::ApiError),
    #[error(transparent)]
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
        let (group, receiver) = {
            let mut groups = self.groups.lock();
            let group = groups
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(Group {
                        plan,
                        active: watch::Sender::new(active),
                        evaluated: AtomicU64::new(answer.generation),
                        evaluated_at_ms: AtomicI64::new(answer.at_ms),
                        in_flight: AtomicBool::new(false),
                    })
                })
                .clone();
            state
                .metrics()
                .scaling
                .keda_stream_groups
                .set(groups.len() as i64);
            let receiver = group.active.subscribe();
            (group, receiver)
        };
        // An ingest between the evaluation above and the insert woke the loop before the
        // group existed; catch it up now instead of at the next tick.
        if group.is_stale(state, crate::api::now_ms()) {
            spawn_evaluation(state.clone(), group);
        }
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
            let wake = tokio::select! {
                _ = shutdown.cancelled() => return,
                // A sample written ahead of our clock becomes visible when time reaches it,
                // with no ingest to say so: evaluate again then, not a whole tick later.
                _ = wait_ahead, if ahead.is_some() => Wake::Ahead,
                r = changed.changed() => {
                    if r.is_err() {
                        return;
                    }
                    Wake::Ingest
                }
                _ = ticker.tick() => Wake::Tick,
            };
            for group in self.due_groups(&state, wake) {
                spawn_evaluation(state.clone(), group);
            }
            let lead_ms = generations
                .of(&Dependencies::Any)
                .newest_ts_ms
                .saturating_sub(crate::api::now_ms());
            ahead = (lead_ms >= 0).then(|| Duration::from_millis(lead_ms as u64 + 1).min(tick));
        }
    }

    /// Groups due for evaluation after `wake`; forgets unsubscribed groups.
    fn due_groups(&self, state: &AppState, wake: Wake) -> Vec<Arc<Group>> {
        let now_ms = crate::api::now_ms();
        let mut groups = self.groups.lock();
        groups.retain(|_, g| g.active.receiver_count() > 0);
        state
            .metrics()
            .scaling
            .keda_stream_groups
            .set(groups.len() as i64);
        groups
            .values()
            .filter(|g| wake == Wake::Tick || g.is_stale(state, now_ms))
            .cloned()
            .collect()
    }

    pub fn groups(&self) -> usize {
        self.groups.lock().len()
    }
}

/// Evaluates `group` in its own task, unless an evaluation of it is already running. A
/// wake-up skipped that way is not lost: the running task evaluates again when its inputs
/// moved on meanwhile (a bounded number of times; the tick covers the rest).
fn spawn_evaluation(state: AppState, group: Arc<Group>) {
    const MAX_ROUNDS: usize = 4;
    if group.in_flight.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async move {
        for _ in 0..MAX_ROUNDS {
            let evaluated = evaluate(&state, &group).await;
            if !evaluated || !group.is_stale(&state, crate::api::now_ms()) {
                break;
            }
        }
        group.in_flight.store(false, Ordering::Release);
    });
}

/// One evaluation; false when it failed.
async fn evaluate(state: &AppState, group: &Group) -> bool {
    let evaluations = &state.metrics().scaling.keda_stream_evaluations;
    let outcome = evaluate_shared(state, &group.plan.query)
        .await
        .map_err(SubscribeError::from)
        .and_then(|answer| {
            let value = scaler_value(&answer.value, group.plan.spec.ignore_null_values)?;
            Ok((answer.generation, answer.at_ms, value))
        });
    match outcome {
        Ok((generation, at_ms, value)) => {
            evaluations.with_label_values(&["ok"]).inc();
            group.evaluated.store(generation, Ordering::Release);
            group.evaluated_at_ms.store(at_ms, Ordering::Release);
            let active = value > group.plan.spec.activation_threshold;
            group.active.send_if_modified(|current| {
                let changed = *current != active;
                *current = active;
                changed
            });
            true
        }
        Err(e) => {
            // The last known state stays; KEDA's IsActive polls report the error.
            evaluations.with_label_values(&["error"]).inc();
            tracing::debug!(query = %group.plan.query.text, error = %e, "push evaluation failed");
            false
        }
    }
}
