//! Parse throughput on a kubelet-like exposition (cAdvisor container metrics plus a few
//! kubelet histograms): ~110 pods × 2 containers, HELP/TYPE for every family, the six
//! cAdvisor labels on every container series, millisecond timestamps as the kubelet sends
//! them. The same data is written in both formats with this crate's writer, and each is
//! parsed with one reused `Parser`, as the scraper does per target.
//!
//! Run: `cargo bench -p tachyscale-exposition -- --quick` (or `--measurement-time 5`).

#![allow(clippy::unwrap_used)] // benchmark setup fails loudly by design

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachyscale_exposition::{
    write_eof, write_family, write_sample, Family, Format, Limits, MetricType, Parser,
};

const PODS: usize = 110;
const CONTAINERS: [&str; 2] = ["app", "istio-proxy"];
const TS_MS: i64 = 1_700_000_000_123;

struct Series {
    suffix: &'static str,
    labels: Vec<(String, String)>,
    value: f64,
}

struct Fam {
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    series: Vec<Series>,
}

fn container_labels(pod: usize, container: &str) -> Vec<(String, String)> {
    let ns = format!("team-{}", pod % 7);
    let pod_name = format!("web-{pod:03}-7d9f8c6b5-x{:04x}", pod * 7919 % 65536);
    let uid = format!(
        "{:08x}-{:04x}-4a1b-9c2d-{:012x}",
        pod * 2_654_435_761 % (1 << 32),
        pod,
        pod * 97
    );
    let cid = format!(
        "{:016x}{:016x}",
        pod as u64 * 0x9e37_79b9,
        container.len() as u64 * 31
    );
    vec![
        ("container".into(), container.into()),
        ("id".into(), format!("/kubepods/burstable/pod{uid}/{cid}")),
        (
            "image".into(),
            format!("registry.example.com/{container}:1.{}.{}", pod % 9, pod % 4),
        ),
        ("name".into(), cid[..32].to_string()),
        ("namespace".into(), ns),
        ("pod".into(), pod_name),
    ]
}

fn kubelet_like() -> Vec<Fam> {
    let gauges: [(&str, MetricType, &str, &str); 9] = [
        ("container_cpu_usage_seconds", MetricType::Counter, "Cumulative cpu time consumed in seconds.", "_total"),
        ("container_cpu_user_seconds", MetricType::Counter, "Cumulative user cpu time consumed in seconds.", "_total"),
        ("container_cpu_system_seconds", MetricType::Counter, "Cumulative system cpu time consumed in seconds.", "_total"),
        ("container_memory_working_set_bytes", MetricType::Gauge, "Current working set in bytes.", ""),
        ("container_memory_rss", MetricType::Gauge, "Size of RSS in bytes.", ""),
        ("container_memory_cache", MetricType::Gauge, "Number of bytes of page cache memory.", ""),
        ("container_memory_usage_bytes", MetricType::Gauge, "Current memory usage in bytes, including all memory regardless of when it was accessed", ""),
        ("container_spec_cpu_shares", MetricType::Gauge, "CPU share of the container.", ""),
        ("container_last_seen", MetricType::Gauge, "Last time a container was seen by the exporter", ""),
    ];
    let mut fams = Vec::new();
    for (i, (name, kind, help, suffix)) in gauges.into_iter().enumerate() {
        let mut series = Vec::new();
        for pod in 0..PODS {
            for container in CONTAINERS {
                let mut labels = container_labels(pod, container);
                if name.starts_with("container_cpu_usage") {
                    labels.insert(1, ("cpu".into(), "total".into()));
                }
                let value = match kind {
                    MetricType::Counter => (pod * 1000 + i) as f64 * 1.618_033_988_7,
                    _ => ((pod + 1) * (i + 3) * 1_048_576) as f64 + 4096.0,
                };
                series.push(Series {
                    suffix,
                    labels,
                    value,
                });
            }
        }
        fams.push(Fam {
            name,
            kind,
            help,
            series,
        });
    }
    // Per-pod network counters (two interfaces).
    for (name, help) in [
        (
            "container_network_receive_bytes",
            "Cumulative count of bytes received",
        ),
        (
            "container_network_transmit_bytes",
            "Cumulative count of bytes transmitted",
        ),
    ] {
        let mut series = Vec::new();
        for pod in 0..PODS {
            for iface in ["eth0", "lo"] {
                let mut labels = container_labels(pod, "POD");
                labels.insert(3, ("interface".into(), iface.into()));
                series.push(Series {
                    suffix: "_total",
                    labels,
                    value: (pod * 123_456_789) as f64,
                });
            }
        }
        fams.push(Fam {
            name,
            kind: MetricType::Counter,
            help,
            series,
        });
    }
    // Kubelet histograms.
    let bounds = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    for (name, label, values) in [
        (
            "kubelet_http_requests_duration_seconds",
            "path",
            &[
                "metrics",
                "metrics/cadvisor",
                "pods",
                "stats/summary",
                "healthz",
                "configz",
            ][..],
        ),
        (
            "kubelet_runtime_operations_duration_seconds",
            "operation_type",
            &[
                "container_status",
                "list_containers",
                "list_podsandbox",
                "exec_sync",
                "image_status",
                "version",
                "podsandbox_status",
                "create_container",
            ][..],
        ),
        (
            "storage_operation_duration_seconds",
            "operation_name",
            &[
                "volume_mount",
                "volume_unmount",
                "verify_controller_attached_volume",
            ][..],
        ),
    ] {
        let mut series = Vec::new();
        for (j, v) in values.iter().enumerate() {
            let labels = vec![
                (label.to_string(), v.to_string()),
                ("server_type".into(), "readwrite".into()),
            ];
            let mut count = 0.0;
            for b in bounds
                .iter()
                .map(|b| format!("{b:?}"))
                .chain(["+Inf".to_string()])
            {
                count += (j * 13 + 5) as f64;
                let mut l = labels.clone();
                l.push(("le".into(), b));
                series.push(Series {
                    suffix: "_bucket",
                    labels: l,
                    value: count,
                });
            }
            series.push(Series {
                suffix: "_sum",
                labels: labels.clone(),
                value: count * 0.0421,
            });
            series.push(Series {
                suffix: "_count",
                labels,
                value: count,
            });
        }
        fams.push(Fam {
            name,
            kind: MetricType::Histogram,
            help: "Duration in seconds.",
            series,
        });
    }
    fams
}

fn render(fams: &[Fam], format: Format) -> String {
    let mut out = String::new();
    for f in fams {
        // Text 0.0.4 names a counter family by its full sample name.
        let counter_suffix = if format == Format::Text004 && f.kind == MetricType::Counter {
            "_total"
        } else {
            ""
        };
        let family_name = format!("{}{counter_suffix}", f.name);
        write_family(
            &mut out,
            format,
            &Family {
                name: &family_name,
                kind: f.kind,
                help: Some(f.help),
                unit: None,
            },
        );
        for s in &f.series {
            let name = format!("{}{}", f.name, s.suffix);
            let labels = s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            let ts = (f.kind != MetricType::Histogram).then_some(TS_MS);
            write_sample(&mut out, format, &name, labels, s.value, ts);
        }
    }
    write_eof(&mut out, format);
    out
}

fn bench(c: &mut Criterion) {
    let fams = kubelet_like();
    let mut group = c.benchmark_group("parse_kubelet");
    for (label, format) in [
        ("text_0.0.4", Format::Text004),
        ("openmetrics_1.0", Format::OpenMetrics100),
    ] {
        let body = render(&fams, format);
        let mut parser = Parser::new(Limits::default());
        let samples = parser.parse(&body, format).unwrap().len();
        eprintln!("{label}: {} bytes, {samples} samples", body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| black_box(parser.parse(black_box(&body), format).unwrap().len()))
        });
        group.bench_function(format!("{label}_and_read_labels"), |b| {
            b.iter(|| {
                let e = parser.parse(black_box(&body), format).unwrap();
                let mut bytes = 0;
                for s in e.samples() {
                    bytes += s.name().len();
                    for l in s.labels() {
                        bytes += l.name.len() + l.value.len();
                    }
                }
                black_box(bytes)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
