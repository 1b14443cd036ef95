//! Micro-benchmarks of the engine's hot paths: chunk encode/decode and head appends.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachyscale_tsdb::chunk::{XorEncoder, XorIter};
use tachyscale_tsdb::{Head, HeadOptions};

fn chunk_codec(c: &mut Criterion) {
    let samples: Vec<(i64, f64)> = (0..120)
        .map(|i| (1_700_000_000_000 + i * 1000, 1e4 + i as f64 * 0.731_234_567))
        .collect();
    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Elements(samples.len() as u64));
    group.bench_function("encode_120", |b| {
        b.iter(|| {
            let mut enc = XorEncoder::new();
            for &(t, v) in &samples {
                enc.append(t, v);
            }
            enc
        })
    });
    let mut enc = XorEncoder::new();
    for &(t, v) in &samples {
        enc.append(t, v);
    }
    let bytes = enc.bytes().to_vec();
    group.bench_function("decode_120", |b| b.iter(|| XorIter::new(&bytes).count()));
    group.finish();
}

fn head_append(c: &mut Criterion) {
    let head = Head::new(HeadOptions::default());
    let labels: Vec<Vec<(String, String)>> = (0..10_000)
        .map(|i| {
            vec![
                (
                    "__name__".to_string(),
                    "container_cpu_usage_seconds_total".to_string(),
                ),
                ("namespace".to_string(), format!("ns-{}", i % 40)),
                ("pod".to_string(), format!("pod-{i}")),
            ]
        })
        .collect();
    let pairs: Vec<Vec<(&str, &str)>> = labels
        .iter()
        .map(|l| l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
        .collect();
    let mut ts = 1_700_000_000_000i64;
    let mut group = c.benchmark_group("head");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("append_by_labels_10k_series", |b| {
        b.iter(|| {
            ts += 1000;
            let mut app = head.appender();
            for p in &pairs {
                let _ = app.append(p, ts, 1.0);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, chunk_codec, head_append);
criterion_main!(benches);
