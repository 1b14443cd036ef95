//! The remote-write stream of the differential test: 30 minutes of counters, gauges and
//! histograms with jittered and aligned timestamps, resets, NaN and ±Inf values, series that
//! appear late, series that end with a stale marker and series that just stop.
//!
//! Deterministic (fixed-seed xorshift), so a failing query reproduces on every run.

use tachyscale_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use tachyscale_tsdb::stale_nan;

/// Length of the stream.
pub const SPAN_MS: i64 = 30 * 60 * 1000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct SeriesData {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
}

fn series(name: &str, labels: &[(&str, &str)]) -> SeriesData {
    let mut all: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    all.push(("__name__".into(), name.into()));
    all.sort();
    SeriesData {
        labels: all,
        samples: Vec::new(),
    }
}

/// Timestamps every `interval_ms` from `from_ms` to `to_ms` (relative), with up to
/// `jitter_ms` of noise, as a scraper under load would produce.
fn times(rng: &mut Rng, from_ms: i64, to_ms: i64, interval_ms: i64, jitter_ms: u64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t <= to_ms {
        let jitter = if jitter_ms > 0 {
            rng.below(jitter_ms) as i64
        } else {
            0
        };
        out.push(t + jitter);
        t += interval_ms;
    }
    out
}

/// The generated series, with timestamps relative to the stream's start.
fn generate() -> Vec<SeriesData> {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut all = Vec::new();

    // Counters with jitter; instance i1 resets at 10 min, i3 resets twice.
    for instance in ["i0", "i1", "i2", "i3"] {
        for method in ["GET", "POST"] {
            for code in ["200", "500"] {
                let mut s = series(
                    "http_requests_total",
                    &[
                        ("job", "api"),
                        ("instance", instance),
                        ("method", method),
                        ("code", code),
                    ],
                );
                let mut errors = series(
                    "http_errors_total",
                    &[
                        ("job", "api"),
                        ("instance", instance),
                        ("method", method),
                        ("code", code),
                    ],
                );
                let mut value = rng.below(1000) as f64;
                let mut err_value = 0.0;
                for t in times(&mut rng, 0, SPAN_MS, 15_000, 300) {
                    let reset = (instance == "i1" && (600_000..615_000).contains(&t))
                        || (instance == "i3"
                            && ((400_000..415_000).contains(&t)
                                || (1_200_000..1_215_000).contains(&t)));
                    if reset {
                        value = rng.below(5) as f64;
                        err_value = 0.0;
                    } else {
                        value += rng.below(60) as f64;
                        err_value += rng.below(3) as f64;
                    }
                    s.samples.push((t, value));
                    errors.samples.push((t, err_value));
                }
                all.push(s);
                all.push(errors);
            }
        }
    }

    // Fractional CPU counters, aligned 5 s scrapes.
    for instance in ["i0", "i1"] {
        for mode in ["user", "system", "idle"] {
            let mut s = series(
                "node_cpu_seconds_total",
                &[("instance", instance), ("mode", mode)],
            );
            let mut value = 1000.0 * rng.unit();
            for t in times(&mut rng, 0, SPAN_MS, 5_000, 0) {
                value += 5.0 * rng.unit();
                s.samples.push((t, value));
            }
            all.push(s);
        }
    }

    // Gauges with drift; negative and fractional values.
    for (instance, pod) in [
        ("i0", "web-1"),
        ("i0", "web-2"),
        ("i1", "db-1"),
        ("i2", "cache-1"),
    ] {
        let mut s = series(
            "memory_usage_bytes",
            &[("instance", instance), ("pod", pod), ("namespace", "prod")],
        );
        let mut value = 1e8 + 1e7 * rng.unit();
        for t in times(&mut rng, 0, SPAN_MS, 10_000, 50) {
            value += 1e6 * (rng.unit() - 0.5);
            s.samples.push((t, value.round()));
        }
        all.push(s);
    }
    for room in ["a", "b", "c"] {
        let mut s = series("temperature_celsius", &[("room", room)]);
        let mut value = -5.0 + 10.0 * rng.unit();
        for t in times(&mut rng, 0, SPAN_MS, 30_000, 0) {
            value += rng.unit() - 0.5;
            s.samples.push((t, (value * 100.0).round() / 100.0));
        }
        all.push(s);
    }
    for (instance, up) in [("i0", 1.0), ("i1", 1.0), ("i2", 0.0), ("i3", 1.0)] {
        let mut s = series("up", &[("job", "api"), ("instance", instance)]);
        for t in times(&mut rng, 0, SPAN_MS, 15_000, 0) {
            s.samples.push((t, up));
        }
        all.push(s);
    }

    // Histogram (cumulative buckets, _sum, _count) per instance.
    let bounds = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for instance in ["i0", "i1", "i2"] {
        let mut buckets: Vec<SeriesData> = bounds
            .iter()
            .map(|le| {
                series(
                    "request_duration_seconds_bucket",
                    &[("job", "api"), ("instance", instance), ("le", le)],
                )
            })
            .collect();
        let mut sum = series(
            "request_duration_seconds_sum",
            &[("job", "api"), ("instance", instance)],
        );
        let mut count = series(
            "request_duration_seconds_count",
            &[("job", "api"), ("instance", instance)],
        );
        let mut counts = vec![0.0; bounds.len()];
        let mut total_sum = 0.0;
        for t in times(&mut rng, 0, SPAN_MS, 15_000, 100) {
            for _ in 0..rng.below(40) {
                let observed = 0.002 * (1.0 + rng.unit() * 2000.0).powf(1.2) / 10.0;
                total_sum += observed;
                for (i, le) in bounds.iter().enumerate() {
                    let bound: f64 = if *le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(0.0)
                    };
                    if observed <= bound {
                        counts[i] += 1.0;
                    }
                }
            }
            for (i, b) in buckets.iter_mut().enumerate() {
                b.samples.push((t, counts[i]));
            }
            sum.samples.push((t, total_sum));
            count.samples.push((t, counts[bounds.len() - 1]));
        }
        all.extend(buckets);
        all.push(sum);
        all.push(count);
    }

    // Series that come and go.
    let stale = stale_nan();
    let batch = |id: &str, spans: &[(i64, i64, bool)], rng: &mut Rng| {
        let mut s = series("batch_jobs_running", &[("job", "batch"), ("id", id)]);
        for &(from, to, marker) in spans {
            let mut last = from;
            for t in times(rng, from, to, 10_000, 0) {
                s.samples.push((t, rng.below(10) as f64));
                last = t;
            }
            if marker {
                s.samples.push((last + 10_000, stale));
            }
        }
        s
    };
    all.push(batch("1", &[(0, 600_000, true)], &mut rng));
    all.push(batch("2", &[(300_000, 900_000, false)], &mut rng));
    all.push(batch("3", &[(1_200_000, SPAN_MS, false)], &mut rng));
    all.push(batch(
        "4",
        &[
            (0, 300_000, true),
            (700_000, 1_000_000, true),
            (1_500_000, 1_700_000, false),
        ],
        &mut rng,
    ));

    // NaN and ±Inf values amid ordinary ones.
    let mut nan = series("odd_values", &[("kind", "nan")]);
    let mut inf = series("odd_values", &[("kind", "inf")]);
    let mut zero = series("odd_values", &[("kind", "zero")]);
    for (i, t) in times(&mut rng, 0, SPAN_MS, 20_000, 0)
        .into_iter()
        .enumerate()
    {
        nan.samples
            .push((t, if i % 7 == 3 { f64::NAN } else { i as f64 }));
        inf.samples.push((
            t,
            match i % 9 {
                2 => f64::INFINITY,
                5 => f64::NEG_INFINITY,
                _ => i as f64 * 0.5,
            },
        ));
        zero.samples.push((t, 0.0));
    }
    all.extend([nan, inf, zero]);
    all
}

/// The stream as remote-write requests of one minute each, timestamps from `base_ms`.
pub fn requests(base_ms: i64) -> Vec<WriteRequest> {
    let data = generate();
    let window_ms = 60_000;
    let windows = (SPAN_MS + 20_000) / window_ms + 1;
    (0..=windows)
        .map(|w| {
            let (from, to) = (w * window_ms, (w + 1) * window_ms);
            WriteRequest {
                timeseries: data
                    .iter()
                    .filter_map(|s| {
                        let samples: Vec<Sample> = s
                            .samples
                            .iter()
                            .filter(|(t, _)| (from..to).contains(t))
                            .map(|&(t, value)| Sample {
                                value,
                                timestamp: base_ms + t,
                            })
                            .collect();
                        (!samples.is_empty()).then(|| TimeSeries {
                            labels: s
                                .labels
                                .iter()
                                .map(|(name, value)| Label {
                                    name: name.clone(),
                                    value: value.clone(),
                                })
                                .collect(),
                            samples,
                        })
                    })
                    .collect(),
            }
        })
        .filter(|r| !r.timeseries.is_empty())
        .collect()
}

/// Number of samples in the stream.
pub fn sample_count() -> usize {
    generate().iter().map(|s| s.samples.len()).sum()
}
