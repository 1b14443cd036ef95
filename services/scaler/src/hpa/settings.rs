//! What the controller actually runs with: the validated spec with the API server's
//! defaults applied ([`HpaSettings`]) and the `kube-controller-manager` flags
//! ([`HpaOptions`]).
//!
//! Raw spec → runtime settings happens once, in [`HpaSettings::new`], so the reconcile code
//! never sees an absent `minReplicas`, an empty metric list or a half-written `behavior`.
//! Defaults follow `pkg/apis/autoscaling/v2/defaults.go` (`SetDefaults_HorizontalPodAutoscaler`,
//! `GenerateHPAScaleUpRules`, `GenerateHPAScaleDownRules`) and, for the scale-down window,
//! `maybeInitScaleDownStabilizationWindow` in `horizontal.go`: an unset window takes the
//! controller's `--horizontal-pod-autoscaler-downscale-stabilization`.
//!
//! Tolerances follow `tolerancesForHpa` (KEP-4951, GA in 1.37): the global tolerance in both
//! directions, overridden per direction by `behavior.scale{Up,Down}.tolerance`. Deviation: a
//! tolerance quantity is read in milli-units, so tolerances finer than 0.001 round up to it
//! (upstream keeps the exact decimal).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spec::{
    HpaBehavior, HpaScalingPolicy, HpaScalingRules, HpaSpec, MetricSpec, SelectPolicy,
};
use super::validate::FieldError;
use super::HpaError;

/// `--horizontal-pod-autoscaler-tolerance`.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-downscale-stabilization`.
pub const DEFAULT_DOWNSCALE_STABILIZATION: Duration = Duration::from_secs(300);
/// `--horizontal-pod-autoscaler-cpu-initialization-period`.
pub const DEFAULT_CPU_INITIALIZATION_PERIOD: Duration = Duration::from_secs(300);
/// `--horizontal-pod-autoscaler-initial-readiness-delay`.
pub const DEFAULT_INITIAL_READINESS_DELAY: Duration = Duration::from_secs(30);

/// The controller flags that change the calculation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaOptions {
    /// Ratio tolerance in both directions unless the spec's behavior overrides it.
    pub tolerance: f64,
    /// How long a higher recommendation holds off a scale-down, for HPAs without
    /// `behavior.scaleDown.stabilizationWindowSeconds`.
    #[serde(with = "duration_text")]
    pub downscale_stabilization: Duration,
    /// After a pod starts, how long its CPU samples are trusted only once it is Ready and a
    /// full metric window has passed since it became Ready.
    #[serde(with = "duration_text")]
    pub cpu_initialization_period: Duration,
    /// After that period, a pod that is not Ready is unready only if it never became Ready
    /// within this delay of starting.
    #[serde(with = "duration_text")]
    pub initial_readiness_delay: Duration,
}

impl Default for HpaOptions {
    fn default() -> HpaOptions {
        HpaOptions {
            tolerance: DEFAULT_TOLERANCE,
            downscale_stabilization: DEFAULT_DOWNSCALE_STABILIZATION,
            cpu_initialization_period: DEFAULT_CPU_INITIALIZATION_PERIOD,
            initial_readiness_delay: DEFAULT_INITIAL_READINESS_DELAY,
        }
    }
}

impl HpaOptions {
    /// The tolerance must be a finite number ≥ 0.
    pub fn validate(&self) -> Result<(), HpaError> {
        if self.tolerance.is_finite() && self.tolerance >= 0.0 {
            Ok(())
        } else {
            Err(HpaError::InvalidOptions {
                errors: vec![FieldError::new(
                    "options.tolerance",
                    "must be a finite number greater than or equal to 0",
                )],
            })
        }
    }
}

/// How far the usage ratio may stray from 1 before replicas change: within means
/// `1 − scale_down ≤ ratio ≤ 1 + scale_up`, inclusive (`Tolerances.isWithin`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tolerances {
    pub scale_down: f64,
    pub scale_up: f64,
}

impl Tolerances {
    pub fn uniform(tolerance: f64) -> Tolerances {
        Tolerances {
            scale_down: tolerance,
            scale_up: tolerance,
        }
    }

    pub fn is_within(&self, ratio: f64) -> bool {
        (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
    }
}

/// Fully defaulted `HPAScalingRules` of one direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    pub stabilization_window_seconds: i32,
    pub select_policy: SelectPolicy,
    pub policies: Vec<HpaScalingPolicy>,
    /// The direction's tolerance when the spec sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

impl ScalingRules {
    /// `scaleUpLimitRules`: no window, +4 pods or +100 % per 15 s, whichever is more.
    pub fn default_scale_up() -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                HpaScalingPolicy::pods(4, 15),
                HpaScalingPolicy::percent(100, 15),
            ],
            tolerance: None,
        }
    }

    /// `scaleDownLimitRules` with the controller's window: −100 % per 15 s.
    pub fn default_scale_down(window_seconds: i32) -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: window_seconds,
            select_policy: SelectPolicy::Max,
            policies: vec![HpaScalingPolicy::percent(100, 15)],
            tolerance: None,
        }
    }

    fn resolve(rules: Option<&HpaScalingRules>, defaults: ScalingRules) -> ScalingRules {
        let Some(rules) = rules else {
            return defaults;
        };
        ScalingRules {
            stabilization_window_seconds: rules
                .stabilization_window_seconds
                .unwrap_or(defaults.stabilization_window_seconds),
            select_policy: rules.select_policy.unwrap_or(defaults.select_policy),
            policies: rules.policies.clone().unwrap_or(defaults.policies),
            tolerance: rules.tolerance_milli.map(|milli| milli as f64 / 1000.0),
        }
    }

    /// `getLongestPolicyPeriod`, in seconds.
    pub fn longest_policy_period_seconds(&self) -> i32 {
        self.policies
            .iter()
            .map(|policy| policy.period_seconds)
            .max()
            .unwrap_or(0)
            .max(0)
    }
}

/// Fully defaulted behavior: both directions always present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Behavior {
    /// Applies the defaults to a spec's behavior; `downscale_window_seconds` is the
    /// controller's downscale stabilization, used when `scaleDown` sets no window.
    pub fn resolve(behavior: &HpaBehavior, downscale_window_seconds: i32) -> Behavior {
        Behavior {
            scale_up: ScalingRules::resolve(
                behavior.scale_up.as_ref(),
                ScalingRules::default_scale_up(),
            ),
            scale_down: ScalingRules::resolve(
                behavior.scale_down.as_ref(),
                ScalingRules::default_scale_down(downscale_window_seconds),
            ),
        }
    }
}

/// A validated spec with every default applied, plus the controller options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaSettings {
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// The spec's metrics, or CPU utilization 80 % when it has none. Observations are
    /// matched to these by index.
    pub metrics: Vec<MetricSpec>,
    /// `None` when the spec has no `behavior`: the classic path (downscale stabilization and
    /// the `max(2 × current, 4)` scale-up limit) applies.
    pub behavior: Option<Behavior>,
    pub tolerances: Tolerances,
    pub options: HpaOptions,
}

impl HpaSettings {
    /// Validates `spec` and `options` and applies the defaults.
    pub fn new(spec: &HpaSpec, options: HpaOptions) -> Result<HpaSettings, HpaError> {
        spec.validate()?;
        options.validate()?;
        let metrics = if spec.metrics.is_empty() {
            vec![MetricSpec::default_cpu()]
        } else {
            spec.metrics.clone()
        };
        let window_seconds =
            i32::try_from(options.downscale_stabilization.as_secs()).unwrap_or(i32::MAX);
        let behavior = spec
            .behavior
            .as_ref()
            .map(|behavior| Behavior::resolve(behavior, window_seconds));
        let mut tolerances = Tolerances::uniform(options.tolerance);
        if let Some(behavior) = &behavior {
            if let Some(tolerance) = behavior.scale_up.tolerance {
                tolerances.scale_up = tolerance;
            }
            if let Some(tolerance) = behavior.scale_down.tolerance {
                tolerances.scale_down = tolerance;
            }
        }
        Ok(HpaSettings {
            min_replicas: spec.min_replicas.unwrap_or(1),
            max_replicas: spec.max_replicas,
            metrics,
            behavior,
            tolerances,
            options,
        })
    }
}

/// A duration in whole milliseconds, saturated to `i64`.
pub(crate) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Reads Go-style durations (`"5m"`, `"1m30s"`, `"300ms"`, `"0"`; units `h`, `m`, `s`,
/// `ms`, integer amounts) as milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total_ms: i64 = 0;
    if rest.is_empty() {
        return Err("empty duration".to_string());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {text:?}: expected a number"));
        }
        let amount: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = match &rest[..unit_len] {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            "" => return Err(format!("invalid duration {text:?}: missing unit")),
            unit => return Err(format!("invalid duration {text:?}: unknown unit {unit:?}")),
        };
        rest = &rest[unit_len..];
        total_ms = amount
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    Ok(total_ms)
}

/// Writes milliseconds as `"300s"`, or `"1500ms"` when not whole seconds.
pub fn format_duration_ms(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(i64),
    Text(String),
}

fn decode_ms<E: serde::de::Error>(raw: RawDuration) -> Result<i64, E> {
    match raw {
        RawDuration::Seconds(seconds) if seconds >= 0 => Ok(seconds.saturating_mul(1000)),
        RawDuration::Seconds(seconds) => Err(E::custom(format!("negative duration {seconds}"))),
        RawDuration::Text(text) => parse_duration_ms(&text).map_err(E::custom),
    }
}

/// Serde for [`Duration`] fields: Go-style text or a number of seconds.
pub mod duration_text {
    use super::*;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration_ms(duration_ms(*duration)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let ms = decode_ms(RawDuration::deserialize(deserializer)?)?;
        Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }
}

/// Serde for `i64` millisecond fields (`window_ms`): Go-style text or a number of seconds.
pub mod duration_ms_text {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration_ms(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        decode_ms(RawDuration::deserialize(deserializer)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::spec::ScalingPolicyType;

    fn spec(yaml: &str) -> HpaSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn spec_without_metrics_scales_on_cpu_at_80_percent() {
        let settings = HpaSettings::new(
            &spec("scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 4\n"),
            HpaOptions::default(),
        )
        .unwrap();
        assert_eq!(settings.min_replicas, 1);
        assert_eq!(settings.metrics, vec![MetricSpec::default_cpu()]);
        assert_eq!(settings.behavior, None);
        assert_eq!(settings.tolerances, Tolerances::uniform(0.1));
    }

    #[test]
    fn absent_behavior_parts_take_upstream_defaults_and_the_controller_window() {
        let options = HpaOptions {
            downscale_stabilization: Duration::from_secs(120),
            ..HpaOptions::default()
        };
        let settings = HpaSettings::new(
            &spec("scaleTargetRef: {kind: Deployment, name: web}\nmaxReplicas: 4\nbehavior:\n  scaleDown: {selectPolicy: Min, tolerance: 0.05}\n"),
            options,
        )
        .unwrap();
        let behavior = settings.behavior.unwrap();
        assert_eq!(behavior.scale_up, ScalingRules::default_scale_up());
        assert_eq!(behavior.scale_down.stabilization_window_seconds, 120);
        assert_eq!(behavior.scale_down.select_policy, SelectPolicy::Min);
        assert_eq!(
            behavior.scale_down.policies[0].policy_type,
            ScalingPolicyType::Percent
        );
        assert_eq!(
            settings.tolerances,
            Tolerances {
                scale_down: 0.05,
                scale_up: 0.1
            }
        );
    }

    #[test]
    fn tolerance_bounds_are_inclusive() {
        let tolerances = Tolerances::uniform(0.1);
        assert!(tolerances.is_within(0.9));
        assert!(tolerances.is_within(1.1));
        assert!(!tolerances.is_within(0.89));
        assert!(!tolerances.is_within(1.11));
        assert!(!tolerances.is_within(f64::NAN));
    }

    #[test]
    fn options_read_go_durations_and_reject_bad_tolerances() {
        let options: HpaOptions = serde_json::from_str(
            r#"{"downscaleStabilization":"1m30s","initialReadinessDelay":10}"#,
        )
        .unwrap();
        assert_eq!(options.downscale_stabilization, Duration::from_secs(90));
        assert_eq!(options.initial_readiness_delay, Duration::from_secs(10));
        assert_eq!(options.tolerance, DEFAULT_TOLERANCE);
        assert!(
            serde_json::from_str::<HpaOptions>(r#"{"downscaleStabilization":"5 minutes"}"#)
                .is_err()
        );
        let negative = HpaOptions {
            tolerance: -0.1,
            ..HpaOptions::default()
        };
        assert_eq!(negative.validate().unwrap_err().reason(), "invalid_options");
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(format_duration_ms(90_000), "90s");
    }
}
