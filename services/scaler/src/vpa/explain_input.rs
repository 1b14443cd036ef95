//! The input of `explain` for a VPA ([`VpaExplainInput`]) and its expansion into the
//! time-ordered events that are replayed.
//!
//! Users write these documents by hand (see `examples/explain/` and the project README),
//! so they are strict (`deny_unknown_fields`) and bounded ([`MAX_EXPLAIN_SAMPLES`]).
//! Samples may be given one by one or as a series (`count` samples `intervalSeconds`
//! apart), so a day of history fits in a few lines. Quantities are read like the
//! metrics API's: CPU in millicores rounded up, memory in bytes rounded up.
//!
//! Events are replayed in time order; at equal times CPU samples come before memory
//! samples before OOMs, each kind in input order.

use serde::{Deserialize, Serialize};

use super::checkpoint::VpaCheckpoint;
use super::policy::VpaSpec;
use super::recommender::{CpuSample, MemorySample, OomEvent};
use super::resources::milli_to_units_rounding_up;
use super::VpaError;
use crate::time::rfc3339_ms;
use crate::units;

/// Most samples and OOM events one explain input may expand to.
pub const MAX_EXPLAIN_SAMPLES: u64 = 1_000_000;

/// What to explain: a VPA spec, usage history and the evaluation time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpaExplainInput {
    /// The VPA's `spec`, as in the cluster.
    pub spec: VpaSpec,
    /// Evaluation time (RFC 3339).
    #[serde(with = "rfc3339_ms")]
    pub now: i64,
    /// `VerticalPodAutoscalerCheckpoint` objects to start from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<VpaCheckpoint>,
    /// Usage of each container (of each pod).
    #[serde(default)]
    pub containers: Vec<ContainerHistory>,
}

/// Samples and OOMs of one container in one pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerHistory {
    /// Container name.
    pub name: String,
    /// Pod name; entries with the same container name and different pods aggregate
    /// together, as replicas do.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    /// CPU usage samples.
    pub cpu: Vec<CpuSeries>,
    /// Memory usage samples.
    pub memory: Vec<MemorySeries>,
    /// OOM kills.
    pub ooms: Vec<OomInput>,
}

/// One CPU sample, or `count` equal samples `intervalSeconds` apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CpuSeries {
    /// Time of the (first) sample.
    #[serde(with = "rfc3339_ms")]
    pub timestamp: i64,
    /// Usage: cores (`0.25`) or a quantity (`"250m"`); read in millicores.
    #[serde(with = "units::milli")]
    pub usage: i64,
    /// CPU request at the time (sample weight); absent means weight 0.1.
    #[serde(
        default,
        with = "units::option_milli",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<i64>,
    /// Number of samples (default 1).
    #[serde(default = "one")]
    pub count: u64,
    /// Seconds between samples when `count` > 1.
    #[serde(default)]
    pub interval_seconds: u64,
}

/// One memory sample, or `count` equal samples `intervalSeconds` apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemorySeries {
    /// Time of the (first) sample.
    #[serde(with = "rfc3339_ms")]
    pub timestamp: i64,
    /// Usage: bytes or a quantity (`"512Mi"`).
    #[serde(with = "units::milli")]
    pub usage: i64,
    /// Number of samples (default 1).
    #[serde(default = "one")]
    pub count: u64,
    /// Seconds between samples when `count` > 1.
    #[serde(default)]
    pub interval_seconds: u64,
}

/// An OOM kill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OomInput {
    /// When it happened.
    #[serde(with = "rfc3339_ms")]
    pub timestamp: i64,
    /// The container's memory request then: bytes or a quantity.
    #[serde(with = "units::milli")]
    pub request: i64,
}

fn one() -> u64 {
    1
}

/// One replayed event.
#[derive(Debug)]
pub(crate) enum Event {
    Cpu(CpuSample),
    Memory(MemorySample),
    Oom(OomEvent),
}

/// An event, its time and where it came from.
#[derive(Debug)]
pub(crate) struct TimedEvent {
    /// When.
    pub(crate) ts_ms: i64,
    /// 0 CPU, 1 memory, 2 OOM: the order at equal times.
    pub(crate) kind: u8,
    /// Input order.
    pub(crate) seq: usize,
    /// Index of the [`ContainerHistory`].
    pub(crate) history: usize,
    /// The event.
    pub(crate) event: Event,
}

/// All events of all histories, in replay order.
pub(crate) fn expand(histories: &[ContainerHistory]) -> Result<Vec<TimedEvent>, VpaError> {
    let mut total: u64 = 0;
    let mut events = Vec::new();
    for (h, history) in histories.iter().enumerate() {
        let path = format!("containers[{h}]");
        if history.name.is_empty() {
            return Err(invalid(format!("{path}.name"), "required"));
        }
        for (i, series) in history.cpu.iter().enumerate() {
            let times = series_times(
                &format!("{path}.cpu[{i}]"),
                series.timestamp,
                series.count,
                series.interval_seconds,
                &mut total,
            )?;
            let request_millicores = series.request.unwrap_or(0);
            for ts_ms in times {
                let sample = CpuSample {
                    ts_ms,
                    usage_millicores: series.usage,
                    request_millicores,
                };
                events.push(TimedEvent {
                    ts_ms,
                    kind: 0,
                    seq: events.len(),
                    history: h,
                    event: Event::Cpu(sample),
                });
            }
        }
        for (i, series) in history.memory.iter().enumerate() {
            let times = series_times(
                &format!("{path}.memory[{i}]"),
                series.timestamp,
                series.count,
                series.interval_seconds,
                &mut total,
            )?;
            let usage_bytes = milli_to_units_rounding_up(series.usage);
            for ts_ms in times {
                let sample = MemorySample { ts_ms, usage_bytes };
                events.push(TimedEvent {
                    ts_ms,
                    kind: 1,
                    seq: events.len(),
                    history: h,
                    event: Event::Memory(sample),
                });
            }
        }
        for (i, oom) in history.ooms.iter().enumerate() {
            let request_bytes = milli_to_units_rounding_up(oom.request);
            for ts_ms in series_times(
                &format!("{path}.ooms[{i}]"),
                oom.timestamp,
                1,
                0,
                &mut total,
            )? {
                let event = OomEvent {
                    ts_ms,
                    request_bytes,
                };
                events.push(TimedEvent {
                    ts_ms,
                    kind: 2,
                    seq: events.len(),
                    history: h,
                    event: Event::Oom(event),
                });
            }
        }
    }
    events.sort_by_key(|event| (event.ts_ms, event.kind, event.seq));
    Ok(events)
}

fn series_times(
    path: &str,
    start_ms: i64,
    count: u64,
    interval_seconds: u64,
    total: &mut u64,
) -> Result<impl Iterator<Item = i64>, VpaError> {
    if count == 0 {
        return Err(invalid(format!("{path}.count"), "must be at least 1"));
    }
    if count > 1 && interval_seconds == 0 {
        return Err(invalid(
            format!("{path}.intervalSeconds"),
            "required when count is above 1",
        ));
    }
    *total = total.saturating_add(count);
    if *total > MAX_EXPLAIN_SAMPLES {
        return Err(invalid(
            path.to_owned(),
            &format!("more than {MAX_EXPLAIN_SAMPLES} samples in total"),
        ));
    }
    let step_ms = i64::try_from(interval_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok((0..count).map(move |k| start_ms.saturating_add((k as i64).saturating_mul(step_ms))))
}

pub(crate) fn invalid(path: String, problem: &str) -> VpaError {
    VpaError::InvalidSpec {
        path,
        problem: problem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(json: &str) -> ContainerHistory {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn series_expand_in_time_order_with_cpu_before_memory() {
        let histories = [history(
            r#"{"name":"app","memory":[{"timestamp":"2026-01-01T00:00:00Z","usage":"1Mi"}],
                "cpu":[{"timestamp":"2026-01-01T00:00:00Z","usage":"250m","count":3,"intervalSeconds":30}]}"#,
        )];
        let events = expand(&histories).unwrap();
        let kinds: Vec<(i64, u8)> = events
            .iter()
            .map(|e| (e.ts_ms - events[0].ts_ms, e.kind))
            .collect();
        assert_eq!(kinds, [(0, 0), (0, 1), (30_000, 0), (60_000, 0)]);
        assert!(matches!(
            events[1].event,
            Event::Memory(MemorySample {
                usage_bytes: 1_048_576,
                ..
            })
        ));
    }

    #[test]
    fn unknown_fields_and_missing_names_are_refused() {
        assert!(serde_json::from_str::<ContainerHistory>(r#"{"name":"a","cpus":[]}"#).is_err());
        let err = expand(&[history(r#"{"cpu":[]}"#)]).unwrap_err();
        assert_eq!(err.to_string(), "containers[0].name: required");
    }
}
