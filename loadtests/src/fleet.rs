//! Synthetic container metrics shaped like the kubelet's cAdvisor series.
//!
//! Each container has five series: a CPU-seconds counter at nanosecond resolution with
//! jittered increments, a throttling counter that rarely moves, a working-set gauge that
//! drifts in 4 KiB pages, a network-bytes counter, and an OOM counter that almost never
//! moves. Containers restart now and then, which resets their counters. Labels are those the
//! kubelet writes (`container`, `id`, `image`, `name`, `namespace`, `pod`, `node`, ...), so
//! label memory is realistic too. Deterministic for a given seed.

/// The metric names, one series each per container.
pub const METRICS: [&str; 5] = [
    "container_cpu_usage_seconds_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_oom_events_total",
];

/// A small fast PRNG; quality is irrelevant here, determinism is not.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The state one series' next value grows from.
struct SeriesGen {
    metric: usize,
    /// Typical growth per second (cores, bytes/s) or the gauge's level.
    rate: f64,
    value: f64,
}

/// All series of the fleet: label sets (sorted by name) and value generators, kept apart so
/// label borrows can outlive value steps.
pub struct Fleet {
    pub labels: Vec<Vec<(String, String)>>,
    series: Vec<SeriesGen>,
    rng: Rng,
}

impl Fleet {
    /// `series` is rounded down to whole containers (five series each).
    pub fn new(series: usize, seed: u64) -> Fleet {
        let mut rng = Rng::new(seed);
        let containers = (series / METRICS.len()).max(1);
        let mut out = Vec::with_capacity(containers * METRICS.len());
        let mut label_sets = Vec::with_capacity(containers * METRICS.len());
        for c in 0..containers {
            let namespace = format!("team-{:02}", c % 40);
            let deployment = format!("svc-{}", c / 3 % 2000);
            let pod = format!(
                "{deployment}-{:08x}-{:05x}",
                (c as u64).wrapping_mul(2654435761) & 0xffff_ffff,
                c % 99991
            );
            let container = ["app", "sidecar", "proxy"][c % 3];
            let node = format!("ip-10-0-{}-{}.ec2.internal", c / 110 % 250, c % 110);
            let uid = format!(
                "{:08x}-{:04x}-{:04x}-{:012x}",
                rng.next_u64() as u32,
                c % 65536,
                4000 + c % 1000,
                rng.next_u64() & 0xffff_ffff_ffff
            );
            let id = format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{:016x}.scope", uid.replace('-', "_"), rng.next_u64());
            let image = format!(
                "registry.example.com/{namespace}/{container}:v1.{}.{}",
                c % 17,
                c % 5
            );
            for (metric, name) in METRICS.iter().enumerate() {
                let mut labels = vec![
                    ("__name__".to_string(), name.to_string()),
                    ("container".into(), container.into()),
                    ("id".into(), id.clone()),
                    ("image".into(), image.clone()),
                    ("instance".into(), node.clone()),
                    ("job".into(), "kubelet".into()),
                    ("metrics_path".into(), "/metrics/cadvisor".into()),
                    ("namespace".into(), namespace.clone()),
                    ("node".into(), node.clone()),
                    ("pod".into(), pod.clone()),
                ];
                labels.sort();
                let (rate, value) = match metric {
                    0 => (0.02 + 1.5 * rng.unit(), 1e4 * rng.unit()),
                    1 => (0.001 * rng.unit(), 0.0),
                    2 => (0.0, ((5e7 + 5e8 * rng.unit()) / 4096.0).round() * 4096.0),
                    3 => (1e3 + 1e6 * rng.unit(), (1e9 * rng.unit()).round()),
                    _ => (0.0, 0.0),
                };
                label_sets.push(labels);
                out.push(SeriesGen {
                    metric,
                    rate,
                    value,
                });
            }
        }
        Fleet {
            labels: label_sets,
            series: out,
            rng,
        }
    }

    /// Advances every series by `dt_s` seconds, writing the new values into `values`.
    pub fn step(&mut self, dt_s: f64, values: &mut Vec<f64>) {
        values.clear();
        let rng = &mut self.rng;
        for s in &mut self.series {
            let restart = rng.next_u64().is_multiple_of(2_000_000);
            s.value = match s.metric {
                _ if restart && s.metric != 2 => 0.0,
                0 => {
                    let ns = (s.rate * dt_s * (0.8 + 0.4 * rng.unit()) * 1e9).round();
                    ((s.value * 1e9).round() + ns) / 1e9
                }
                1 => {
                    if rng.unit() < 0.02 {
                        ((s.value * 1e9).round() + (s.rate * 1e9 * rng.unit()).round()) / 1e9
                    } else {
                        s.value
                    }
                }
                2 => {
                    if rng.unit() < 0.3 {
                        let pages = (rng.unit() * 64.0).round() - 32.0;
                        (s.value + pages * 4096.0).max(4096.0)
                    } else {
                        s.value
                    }
                }
                3 => s.value + (s.rate * dt_s * (0.5 + rng.unit())).round(),
                _ => {
                    if rng.next_u64().is_multiple_of(500_000) {
                        s.value + 1.0
                    } else {
                        s.value
                    }
                }
            };
            values.push(s.value);
        }
    }
}
