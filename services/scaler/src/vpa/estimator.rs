//! From an aggregate's histograms to target, lower bound and upper bound, step by step.
//!
//! Follows `vertical-pod-autoscaler/pkg/recommender/logic/estimator.go` and
//! `logic/recommender.go` (VPA 1.7), whose estimators wrap each other; here the chain is
//! one function that keeps every intermediate value, because `explain` shows them:
//!
//! 1. percentile of the histogram (cores or bytes): 0.9 target, 0.5 lower, 0.95 upper;
//! 2. to millicores / bytes, truncated and capped at 1e14 (`CPUAmountFromCores`);
//! 3. plus the safety margin `int64(amount × 0.15)`;
//! 4. bounds only: × (1 + 0.001/conf)^−2 (lower) or × (1 + 1/conf)^+1 (upper), where conf
//!    is [`AggregateContainerState::confidence`] — with no history conf is 0, the lower
//!    multiplier 0 and the upper +∞ (capped to 1e14);
//! 5. at least the pod minimum divided among the N recommended containers (25 m CPU and
//!    250 MiB memory per pod).
//!
//! Deviation: 0 × ∞ (an empty histogram with conf 0) is NaN, which Go turns into
//! `math.MinInt64` before the pod minimum lifts it; we make it 0, which the pod minimum
//! lifts the same way.

use serde::Serialize;
use tachyscale_gomath as gomath;

use super::container::{resource_amount_from_float, AggregateContainerState};
use super::decaying::DecayingHistogram;
use super::resources::{ResourceList, ResourceName};

/// Percentiles, margin, minimums and confidence window of the recommender (its flags).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EstimatorConfig {
    /// `--target-cpu-percentile`.
    pub target_cpu_percentile: f64,
    /// `--recommendation-lower-bound-cpu-percentile`.
    pub lower_bound_cpu_percentile: f64,
    /// `--recommendation-upper-bound-cpu-percentile`.
    pub upper_bound_cpu_percentile: f64,
    /// `--target-memory-percentile`.
    pub target_memory_percentile: f64,
    /// `--recommendation-lower-bound-memory-percentile`.
    pub lower_bound_memory_percentile: f64,
    /// `--recommendation-upper-bound-memory-percentile`.
    pub upper_bound_memory_percentile: f64,
    /// `--recommendation-margin-fraction`.
    pub safety_margin_fraction: f64,
    /// `--pod-recommendation-min-cpu-millicores`.
    pub pod_min_cpu_millicores: f64,
    /// `--pod-recommendation-min-memory-mb` (MiB).
    pub pod_min_memory_mb: f64,
    /// `--confidence-interval-cpu` / `--confidence-interval-memory`: one day of history is
    /// confidence 1.
    pub confidence_interval_ms: i64,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        EstimatorConfig {
            target_cpu_percentile: 0.9,
            lower_bound_cpu_percentile: 0.5,
            upper_bound_cpu_percentile: 0.95,
            target_memory_percentile: 0.9,
            lower_bound_memory_percentile: 0.5,
            upper_bound_memory_percentile: 0.95,
            safety_margin_fraction: 0.15,
            pod_min_cpu_millicores: 25.0,
            pod_min_memory_mb: 250.0,
            confidence_interval_ms: 24 * 3_600_000,
        }
    }
}

/// Which of the three recommended values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Bound {
    /// `target`.
    Target,
    /// `lowerBound`.
    LowerBound,
    /// `upperBound`.
    UpperBound,
}

impl Bound {
    /// All three, in API order.
    pub const ALL: [Bound; 3] = [Bound::Target, Bound::LowerBound, Bound::UpperBound];

    /// The confidence multiplier's (multiplier, exponent), `None` for the target.
    fn confidence_parameters(self) -> Option<(f64, f64)> {
        match self {
            Bound::Target => None,
            Bound::LowerBound => Some((0.001, -2.0)),
            Bound::UpperBound => Some((1.0, 1.0)),
        }
    }
}

/// Every intermediate value of one resource's estimate for one bound.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateSteps {
    /// The percentile read from the histogram.
    pub percentile: f64,
    /// The histogram's value there (cores or bytes).
    pub percentile_value: f64,
    /// That value in millicores or bytes.
    pub raw: i64,
    /// After the safety margin.
    pub after_margin: i64,
    /// The confidence multiplier (`None` for the target; +∞ with no history).
    pub confidence_multiplier: Option<f64>,
    /// After the confidence multiplier.
    pub after_confidence: i64,
    /// After the pod minimum (the estimator's result).
    pub after_pod_minimum: i64,
}

/// Target, lower and upper bound of one resource.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceEstimate {
    /// Target.
    pub target: EstimateSteps,
    /// Lower bound.
    pub lower_bound: EstimateSteps,
    /// Upper bound.
    pub upper_bound: EstimateSteps,
}

impl ResourceEstimate {
    /// The steps of one bound.
    pub fn get(&self, bound: Bound) -> &EstimateSteps {
        match bound {
            Bound::Target => &self.target,
            Bound::LowerBound => &self.lower_bound,
            Bound::UpperBound => &self.upper_bound,
        }
    }
}

/// Both resources' estimates of a container, before its policy is applied.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEstimate {
    /// History length in days, capped by samples per day (see
    /// [`AggregateContainerState::confidence`]).
    pub confidence: f64,
    /// CPU, in millicores.
    pub cpu: ResourceEstimate,
    /// Memory, in bytes.
    pub memory: ResourceEstimate,
}

impl ContainerEstimate {
    /// One resource.
    pub fn resource(&self, resource: ResourceName) -> &ResourceEstimate {
        match resource {
            ResourceName::Cpu => &self.cpu,
            ResourceName::Memory => &self.memory,
        }
    }

    /// The estimator's result for one bound (both resources).
    pub fn bound(&self, bound: Bound) -> ResourceList {
        ResourceList {
            cpu_millicores: Some(self.cpu.get(bound).after_pod_minimum),
            memory_bytes: Some(self.memory.get(bound).after_pod_minimum),
        }
    }
}

/// `amount + int64(amount × fraction)` (`WithCPUMargin` / `WithMemoryMargin`).
pub fn with_margin(amount: i64, fraction: f64) -> i64 {
    amount.saturating_add(scale_amount(amount, fraction))
}

/// `ScaleResource`: `int64(amount × factor)`, capped at 1e14, NaN and negatives to 0.
pub fn scale_amount(amount: i64, factor: f64) -> i64 {
    resource_amount_from_float(amount as f64 * factor)
}

/// `(1 + multiplier/confidence)^exponent` with Go's `math.Pow`.
pub fn confidence_multiplier(multiplier: f64, exponent: f64, confidence: f64) -> f64 {
    gomath::pow(1.0 + multiplier / confidence, exponent)
}

/// Per-container minimums: the pod minimums divided among `containers` containers.
pub fn pod_minimum(config: &EstimatorConfig, containers: usize) -> ResourceList {
    let fraction = 1.0 / containers.max(1) as f64;
    let cpu = resource_amount_from_float(config.pod_min_cpu_millicores * 0.001 * 1000.0);
    let memory = resource_amount_from_float(config.pod_min_memory_mb * 1024.0 * 1024.0);
    ResourceList {
        cpu_millicores: Some(scale_amount(cpu, fraction)),
        memory_bytes: Some(scale_amount(memory, fraction)),
    }
}

/// Runs steps 2–5 on a percentile value already read from a histogram.
pub fn estimate_from_value(
    resource: ResourceName,
    bound: Bound,
    percentile: f64,
    percentile_value: f64,
    confidence: f64,
    margin_fraction: f64,
    minimum: i64,
) -> EstimateSteps {
    let raw = match resource {
        ResourceName::Cpu => resource_amount_from_float(percentile_value * 1000.0),
        ResourceName::Memory => resource_amount_from_float(percentile_value),
    };
    let after_margin = with_margin(raw, margin_fraction);
    let (confidence_multiplier, after_confidence) = match bound.confidence_parameters() {
        None => (None, after_margin),
        Some((multiplier, exponent)) => {
            let factor = confidence_multiplier(multiplier, exponent, confidence);
            (Some(factor), scale_amount(after_margin, factor))
        }
    };
    EstimateSteps {
        percentile,
        percentile_value,
        raw,
        after_margin,
        confidence_multiplier,
        after_confidence,
        after_pod_minimum: after_confidence.max(minimum),
    }
}

fn estimate_resource(
    histogram: &DecayingHistogram,
    resource: ResourceName,
    percentiles: [f64; 3],
    confidence: f64,
    config: &EstimatorConfig,
    minimum: i64,
) -> ResourceEstimate {
    let step = |bound: Bound, percentile: f64| {
        let value = histogram.percentile(percentile);
        estimate_from_value(
            resource,
            bound,
            percentile,
            value,
            confidence,
            config.safety_margin_fraction,
            minimum,
        )
    };
    ResourceEstimate {
        target: step(Bound::Target, percentiles[0]),
        lower_bound: step(Bound::LowerBound, percentiles[1]),
        upper_bound: step(Bound::UpperBound, percentiles[2]),
    }
}

/// Estimates both resources of an aggregate, given the per-container minimum.
pub fn estimate_container(
    state: &AggregateContainerState,
    config: &EstimatorConfig,
    minimum: &ResourceList,
) -> ContainerEstimate {
    let confidence = state.confidence(config.confidence_interval_ms);
    let cpu = estimate_resource(
        state.cpu(),
        ResourceName::Cpu,
        [
            config.target_cpu_percentile,
            config.lower_bound_cpu_percentile,
            config.upper_bound_cpu_percentile,
        ],
        confidence,
        config,
        minimum.cpu_millicores.unwrap_or(0),
    );
    let memory = estimate_resource(
        state.memory(),
        ResourceName::Memory,
        [
            config.target_memory_percentile,
            config.lower_bound_memory_percentile,
            config.upper_bound_memory_percentile,
        ],
        confidence,
        config,
        minimum.memory_bytes.unwrap_or(0),
    );
    ContainerEstimate {
        confidence,
        cpu,
        memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_truncated_fraction_of_truncated_amount() {
        assert_eq!(with_margin(3140, 0.1), 3454);
        assert_eq!(with_margin(3_140_000_000, 0.1), 3_454_000_000);
        assert_eq!(with_margin(7, 0.15), 8);
        assert_eq!(with_margin(6, 0.15), 6);
    }

    #[test]
    fn no_history_gives_zero_lower_and_capped_upper_multiplier() {
        let lower = estimate_from_value(
            ResourceName::Cpu,
            Bound::LowerBound,
            0.5,
            0.5,
            0.0,
            0.15,
            12,
        );
        assert_eq!((lower.after_confidence, lower.after_pod_minimum), (0, 12));
        let upper = estimate_from_value(
            ResourceName::Cpu,
            Bound::UpperBound,
            0.95,
            0.5,
            0.0,
            0.15,
            12,
        );
        assert_eq!(upper.after_confidence, 100_000_000_000_000);
        assert_eq!(upper.confidence_multiplier, Some(f64::INFINITY));
        let empty = estimate_from_value(
            ResourceName::Memory,
            Bound::UpperBound,
            0.95,
            0.0,
            0.0,
            0.15,
            7,
        );
        assert_eq!((empty.after_confidence, empty.after_pod_minimum), (0, 7));
    }

    #[test]
    fn multipliers_follow_the_confidence() {
        assert_eq!(confidence_multiplier(1.0, 1.0, 1.0), 2.0);
        assert_eq!(confidence_multiplier(1.0, 1.0, 0.5), 3.0);
        let lower = confidence_multiplier(0.001, -2.0, 1.0);
        assert!((lower - 1.0 / (1.001f64 * 1.001)).abs() < 1e-15);
    }

    #[test]
    fn pod_minimum_is_split_among_containers() {
        let config = EstimatorConfig::default();
        assert_eq!(
            pod_minimum(&config, 1),
            ResourceList {
                cpu_millicores: Some(25),
                memory_bytes: Some(262_144_000)
            }
        );
        assert_eq!(
            pod_minimum(&config, 2),
            ResourceList {
                cpu_millicores: Some(12),
                memory_bytes: Some(131_072_000)
            }
        );
        assert_eq!(pod_minimum(&config, 3).cpu_millicores, Some(8));
    }
}
