//! Collection against this machine's real cgroup tree and `/proc/meminfo`.
//!
//! `/sys/fs/cgroup` is passed as configured on a node: on a pure v2 host the hierarchy is the
//! root, on a systemd hybrid host (like the machine this was written on) it is
//! `/sys/fs/cgroup/unified`. Two passes ~200 ms apart, with CPU burnt in between, must show
//! the node CPU counter present, positive and increasing. Any kubelet-managed container
//! cgroups found on the host are given a synthetic pod list (so they are emitted) and their
//! CPU counters must not decrease.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tachyscale_cgroup::{classify, collect, locate_v2, parse_pod_list, Collection, PodIndex};

const ROOT: &str = "/sys/fs/cgroup";
const MEMINFO: &str = "/proc/meminfo";

/// Relative paths of every classified cgroup below `dir`, depth-bounded.
fn find_kube_cgroups(base: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(base) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if classify(&rel).is_some() {
            out.push(rel);
        }
        find_kube_cgroups(base, &path, depth + 1, out);
    }
}

/// A pod list naming every pod and container cgroup on this host.
fn synthetic_pod_list(hierarchy: &Path) -> (PodIndex, usize) {
    let mut rels = Vec::new();
    find_kube_cgroups(hierarchy, hierarchy, 1, &mut rels);
    let mut pods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut containers = 0;
    for rel in &rels {
        let Some(r) = classify(rel) else { continue };
        let ids = pods.entry(r.pod_uid).or_default();
        if let Some(id) = r.container_id {
            ids.push(id);
            containers += 1;
        }
    }
    let items: Vec<_> = pods
        .iter()
        .enumerate()
        .map(|(i, (uid, ids))| {
            let statuses: Vec<_> = ids
                .iter()
                .enumerate()
                .map(|(j, id)| json!({"name": format!("c{j}"), "containerID": format!("containerd://{id}")}))
                .collect();
            json!({"metadata": {"name": format!("pod{i}"), "namespace": "host", "uid": uid},
                   "status": {"containerStatuses": statuses}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"kind": "PodList", "items": items})).expect("json");
    (
        parse_pod_list(&body).expect("synthetic pod list"),
        containers,
    )
}

fn burn_cpu_for(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while start.elapsed() < d {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(31));
        }
    }
    x
}

fn values(c: &Collection, name: &str) -> BTreeMap<Vec<(String, String)>, f64> {
    c.series
        .iter()
        .filter(|s| s.name == name)
        .map(|s| (s.labels.clone(), s.value))
        .collect()
}

#[test]
fn real_host_counters_are_present_and_monotonic() {
    let root = PathBuf::from(ROOT);
    if !root.exists() {
        eprintln!("no {ROOT}; skipping");
        return;
    }
    let hierarchy = locate_v2(&root).expect("this host has a cgroup v2 hierarchy");
    let (pods, containers) = synthetic_pod_list(&hierarchy.path);
    let meminfo = Path::new(MEMINFO);

    let first = collect(&root, &pods, Some(meminfo)).expect("first pass");
    burn_cpu_for(Duration::from_millis(200));
    let second = collect(&root, &pods, Some(meminfo)).expect("second pass");
    eprintln!(
        "hierarchy {:?} at {}; {} kube container cgroups; stats {:?}",
        second.hierarchy.mode,
        second.hierarchy.path.display(),
        containers,
        second.stats
    );
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    assert!(!second.stats.truncated);

    let node_cpu = |c: &Collection| {
        let v = values(c, "node_cpu_usage_seconds_total");
        assert_eq!(v.len(), 1, "exactly one node CPU series");
        v.into_values().next().expect("one value")
    };
    let (cpu1, cpu2) = (node_cpu(&first), node_cpu(&second));
    assert!(cpu1 > 0.0, "node CPU {cpu1}");
    assert!(
        cpu2 > cpu1,
        "200 ms of burnt CPU must show: {cpu1} -> {cpu2}"
    );

    let node_ws = values(&second, "node_memory_working_set_bytes");
    let ws = *node_ws
        .get(&Vec::new())
        .expect("node working set from /proc/meminfo");
    assert!(ws > 0.0, "node working set {ws}");

    for name in [
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total",
        "pod_cpu_usage_seconds_total",
    ] {
        let before = values(&first, name);
        for (labels, after) in values(&second, name) {
            if let Some(b) = before.get(&labels) {
                assert!(after >= *b, "{name} {labels:?} decreased: {b} -> {after}");
            }
        }
    }
    // Only containers named in the (synthetic) pod list can be emitted.
    assert!(second.stats.containers_emitted as usize <= containers);
}
