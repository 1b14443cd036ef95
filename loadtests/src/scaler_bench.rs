//! `tachyscale-loadtest scaler`: the scaler's engines at scale, in-process on one thread
//! (one core), as the benchmark asks.
//!
//! - **VPA**: `containers` containers (one aggregate each: `containers / 2` VPAs of two
//!   containers), warmed with `warmup_s` seconds of 1 s CPU samples and a memory sample
//!   every 10 s, then `cycles` measured cycles. A cycle is what the scale role does every
//!   second: one CPU sample per container, a memory sample per container every tenth cycle,
//!   and a recommendation for every container. Reported: cycle time (median, p90, max),
//!   the engine's heap bytes per container, and the process RSS growth per container.
//!   Upstream's published recommender sizing (~275 MiB for 1,000–2,000 containers) is
//!   printed beside it as bytes per container.
//! - **HPA**: `policies` HPA policies (two thirds CPU Utilization over 10 pods each with
//!   pod grouping, one third an External metric with `behavior`), reconciled `cycles`
//!   times with changing load. Reported: decisions per second (engine only: the
//!   observations are built outside the timed region) and per-policy state bytes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tachyscale_scaler::hpa::{
    self, ConditionStatus, ContainerRequests, ExternalObservation, HpaObservation, HpaOptions,
    HpaPod, HpaSettings, HpaSpec, HpaState, MetricObservation, PodMetrics, PodPhase,
    ReadyCondition, ScaleSnapshot,
};
use tachyscale_scaler::vpa::{
    CpuSample, MemorySample, Recommender, RecommenderConfig, SampleTarget, VpaSpec,
};

use crate::measure::{ms, percentile};

pub struct ScalerArgs {
    pub containers: usize,
    pub warmup_s: i64,
    pub vpa_cycles: usize,
    pub policies: usize,
    pub hpa_cycles: usize,
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n.max(1)) as i64
    }
}

fn self_rss_bytes() -> u64 {
    crate::measure::rss_bytes(std::process::id()).unwrap_or(0)
}

const START_MS: i64 = 1_790_000_000_000;
const MIB: i64 = 1 << 20;

fn summary(mut times: Vec<Duration>) -> Value {
    times.sort();
    json!({
        "median_ms": ms(percentile(&times, 50.0)),
        "p90_ms": ms(percentile(&times, 90.0)),
        "max_ms": ms(*times.last().unwrap_or(&Duration::ZERO)),
    })
}

fn vpa(args: &ScalerArgs) -> anyhow::Result<Value> {
    let rss_before = self_rss_bytes();
    let mut recommender: Recommender<String> = Recommender::new(RecommenderConfig::default());
    let vpas = args.containers.div_ceil(2);
    let spec: VpaSpec = serde_json::from_value(json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "resourcePolicy": {"containerPolicies": [{"containerName": "*", "minAllowed": {"cpu": "10m"}}]}
    }))?;
    let keys: Vec<String> = (0..vpas)
        .map(|i| format!("namespace-{}/app-{i}", i % 500))
        .collect();
    for key in &keys {
        recommender.set_vpa(key.clone(), spec.clone())?;
    }
    let containers = ["app", "sidecar"];
    let pods: Vec<String> = (0..vpas)
        .map(|i| format!("app-{i}-7d9f6b8c5-q4m2n"))
        .collect();
    let base: Vec<i64> = (0..args.containers)
        .map(|i| 50 + (i as i64 * 37) % 900)
        .collect();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let feed = |recommender: &mut Recommender<String>, second: i64, noise: &mut Noise| {
        let ts_ms = START_MS + second * 1000;
        for (v, key) in keys.iter().enumerate() {
            for (c, container) in containers.iter().enumerate() {
                let index = v * 2 + c;
                if index >= args.containers {
                    break;
                }
                let target = SampleTarget {
                    container,
                    pod: &pods[v],
                };
                let usage_millicores = base[index] + noise.below(base[index] as u64 / 4 + 1);
                let _ = recommender.add_cpu_sample(
                    key.as_str(),
                    target,
                    CpuSample {
                        ts_ms,
                        usage_millicores,
                        request_millicores: base[index],
                    },
                );
                if second % 10 == 0 {
                    let usage_bytes = 64 * MIB + base[index] * MIB / 4 + noise.below(8) * MIB;
                    let _ = recommender.add_memory_sample(
                        key.as_str(),
                        target,
                        MemorySample { ts_ms, usage_bytes },
                    );
                }
            }
        }
    };
    let warm_started = Instant::now();
    for second in 0..args.warmup_s {
        feed(&mut recommender, second, &mut noise);
    }
    let warmup = warm_started.elapsed();
    let mut sample_times = Vec::new();
    let mut cycle_times = Vec::new();
    let mut recommended = 0usize;
    for cycle in 0..args.vpa_cycles {
        let second = args.warmup_s + cycle as i64;
        let started = Instant::now();
        feed(&mut recommender, second, &mut noise);
        let sampled = started.elapsed();
        let mut count = 0usize;
        recommender.for_each_recommendation(START_MS + second * 1000, |_, _, recommendation| {
            count += usize::from(recommendation.target.cpu_millicores.is_some());
        });
        cycle_times.push(started.elapsed());
        sample_times.push(sampled);
        recommended = count;
    }
    let tracked = recommender.container_count();
    let heap = recommender.approx_heap_bytes(|key| key.capacity());
    let rss_growth = self_rss_bytes().saturating_sub(rss_before);
    let upstream_bytes_per_container: [f64; 2] =
        [275.0 * 1048576.0 / 2000.0, 275.0 * 1048576.0 / 1000.0];
    Ok(json!({
        "containers": tracked,
        "recommended_containers": recommended,
        "warmup": {"simulated_seconds": args.warmup_s, "wall_s": warmup.as_secs_f64()},
        "cycle": summary(cycle_times),
        "samples_only": summary(sample_times),
        "heap_bytes_per_container": heap / tracked.max(1),
        "rss_growth_bytes_per_container": rss_growth as usize / tracked.max(1),
        "upstream_published_bytes_per_container": {
            "at_2000_containers": upstream_bytes_per_container[0].round(),
            "at_1000_containers": upstream_bytes_per_container[1].round(),
        },
    }))
}

struct HpaCase {
    settings: HpaSettings,
    state: HpaState,
    pods: Vec<HpaPod>,
    replicas: i32,
    external: bool,
}

fn hpa_cases(count: usize) -> anyhow::Result<Vec<HpaCase>> {
    let cpu: HpaSpec = serde_json::from_value(json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 40,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    }))?;
    let external: HpaSpec = serde_json::from_value(json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
        "minReplicas": 1, "maxReplicas": 100,
        "metrics": [{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120, "policies": [{"type": "Percent", "value": 20, "periodSeconds": 60}]},
                      "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    }))?;
    let mut cases = Vec::with_capacity(count);
    for index in 0..count {
        let is_external = index % 3 == 2;
        let spec = if is_external { &external } else { &cpu };
        let settings = HpaSettings::new(spec, HpaOptions::default())?;
        let pods = (0..10)
            .map(|p| HpaPod {
                name: format!("web-{index}-{p}"),
                phase: PodPhase::Running,
                deletion_timestamp_ms: None,
                start_time_ms: Some(START_MS - 3_600_000),
                ready: Some(ReadyCondition {
                    status: ConditionStatus::True,
                    last_transition_time_ms: Some(START_MS - 3_500_000),
                }),
                containers: vec![ContainerRequests {
                    name: "app".into(),
                    restart_policy_always: false,
                    requests_milli: [("cpu".to_owned(), 500)].into_iter().collect(),
                }],
                init_containers: Vec::new(),
            })
            .collect();
        cases.push(HpaCase {
            settings,
            state: HpaState::default(),
            pods,
            replicas: 10,
            external: is_external,
        });
    }
    Ok(cases)
}

fn hpa(args: &ScalerArgs) -> anyhow::Result<Value> {
    let mut cases = hpa_cases(args.policies)?;
    let mut noise = Noise(0x1234_5678_9abc_def1);
    let mut cycle_times = Vec::new();
    let mut rescales = 0usize;
    let mut decisions = 0usize;
    for cycle in 0..args.hpa_cycles {
        let now_ms = START_MS + cycle as i64 * 1000;
        // Load swings between about half and one and a half of the target.
        let observations: Vec<MetricObservation> = cases
            .iter()
            .map(|case| {
                if case.external {
                    MetricObservation::External(ExternalObservation {
                        values_milli: vec![(150 + noise.below(300)) * 1000],
                        timestamp_ms: Some(now_ms),
                    })
                } else {
                    let values: Vec<(&str, i64)> = case
                        .pods
                        .iter()
                        .map(|pod| (pod.name.as_str(), 150 + noise.below(300)))
                        .collect();
                    MetricObservation::PerPod(PodMetrics::uniform(now_ms, 5_000, values))
                }
            })
            .collect();
        let started = Instant::now();
        for (case, observation) in cases.iter_mut().zip(&observations) {
            let decision = hpa::reconcile(
                &case.settings,
                &mut case.state,
                &HpaObservation {
                    scale: ScaleSnapshot {
                        spec_replicas: case.replicas,
                        status_replicas: case.replicas,
                    },
                    pods: &case.pods,
                    metrics: std::slice::from_ref(observation),
                    now_ms,
                },
            );
            decisions += 1;
            if decision.rescale {
                hpa::record_rescale(
                    &case.settings,
                    &mut case.state,
                    case.replicas,
                    decision.desired_replicas,
                    now_ms,
                );
                case.replicas = decision.desired_replicas;
                rescales += 1;
            }
        }
        cycle_times.push(started.elapsed());
    }
    let total: Duration = cycle_times.iter().sum();
    let state_bytes: usize = cases
        .iter()
        .map(|case| {
            std::mem::size_of::<HpaState>()
                + case.state.recommendations.capacity() * std::mem::size_of::<hpa::Recommendation>()
                + (case.state.scale_up_events.capacity() + case.state.scale_down_events.capacity())
                    * std::mem::size_of::<hpa::ScaleEvent>()
        })
        .sum();
    Ok(json!({
        "policies": args.policies,
        "cycles": args.hpa_cycles,
        "decisions": decisions,
        "rescales_computed": rescales,
        "decisions_per_second": decisions as f64 / total.as_secs_f64().max(1e-9),
        "cycle_for_all_policies": summary(cycle_times),
        "state_bytes_per_policy": state_bytes / args.policies.max(1),
    }))
}

pub fn run(args: &ScalerArgs) -> anyhow::Result<Value> {
    let vpa = vpa(args)?;
    let hpa = hpa(args)?;
    Ok(json!({ "bench": "scaler", "threads": 1, "vpa": vpa, "hpa": hpa }))
}
