//! A kubelet-sized `/metrics/resource` exposition (text 0.0.4, as the kubelet serves it):
//! 110 pods × 2 containers by default, with the kubelet's HELP/TYPE lines, label order and
//! millisecond timestamps, counters that advance every second.

use std::fmt::Write as _;

/// Shape of the generated node.
#[derive(Debug, Clone, Copy)]
pub struct NodeShape {
    pub pods: usize,
    pub containers_per_pod: usize,
}

impl Default for NodeShape {
    fn default() -> Self {
        NodeShape {
            pods: 110,
            containers_per_pod: 2,
        }
    }
}

fn pod_name(i: usize) -> String {
    format!("checkout-{:04}-7d9f8b6c5-{:05x}", i, i * 7919 % 0xfffff)
}

/// The exposition as of `now_ms` (values are deterministic functions of time).
pub fn resource_metrics(shape: NodeShape, now_ms: i64) -> String {
    let t = now_ms as f64 / 1000.0;
    let mut out = String::with_capacity(shape.pods * shape.containers_per_pod * 400);
    let containers = |out: &mut String, name: &str, value: &dyn Fn(usize, usize) -> f64| {
        for p in 0..shape.pods {
            let pod = pod_name(p);
            for c in 0..shape.containers_per_pod {
                let _ = writeln!(
                    out,
                    "{name}{{container=\"app-{c}\",namespace=\"team-{}\",pod=\"{pod}\"}} {} {now_ms}",
                    p % 12,
                    value(p, c)
                );
            }
        }
    };
    out.push_str("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n");
    containers(&mut out, "container_cpu_usage_seconds_total", &|p, c| {
        (t - 1.7e9) * 0.01 * (1 + (p + c) % 7) as f64 + 0.000_123_456 * p as f64
    });
    out.push_str("# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n# TYPE container_memory_working_set_bytes gauge\n");
    containers(&mut out, "container_memory_working_set_bytes", &|p, c| {
        (64 << 20) as f64 + ((p * 31 + c * 17 + (t as usize % 60)) % 4096) as f64 * 4096.0
    });
    out.push_str("# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n");
    containers(&mut out, "container_start_time_seconds", &|p, _| {
        1.7e9 + p as f64 * 37.0
    });
    out.push_str("# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\n");
    let _ = writeln!(
        out,
        "node_cpu_usage_seconds_total {} {now_ms}",
        (t - 1.7e9) * 3.2
    );
    out.push_str("# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n# TYPE node_memory_working_set_bytes gauge\n");
    let _ = writeln!(out, "node_memory_working_set_bytes {} {now_ms}", 12.5e9);
    for (name, help, unit) in [
        (
            "pod_cpu_usage_seconds_total",
            "Cumulative cpu time consumed by the pod in core-seconds",
            "counter",
        ),
        (
            "pod_memory_working_set_bytes",
            "Current working set of the pod in bytes",
            "gauge",
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} [STABLE] {help}\n# TYPE {name} {unit}");
        for p in 0..shape.pods {
            let value = if unit == "counter" {
                (t - 1.7e9) * 0.02 * (1 + p % 7) as f64
            } else {
                (128 << 20) as f64 + (p * 4096) as f64
            };
            let _ = writeln!(
                out,
                "{name}{{namespace=\"team-{}\",pod=\"{}\"}} {value} {now_ms}",
                p % 12,
                pod_name(p)
            );
        }
    }
    out.push_str("# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE scrape_error gauge\nscrape_error 0\n");
    out
}

/// Samples in one exposition of `shape`.
pub fn samples_per_exposition(shape: NodeShape) -> usize {
    shape.pods * shape.containers_per_pod * 3 + shape.pods * 2 + 3
}
