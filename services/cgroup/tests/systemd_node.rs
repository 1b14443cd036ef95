//! A node whose kubelet uses the systemd cgroup driver, on a unified (pure v2) root.
//!
//! Why each cgroup is there: containerd, CRI-O and docker scopes (all three runtime
//! prefixes); a pause sandbox per pod (id not in the pod's statuses → skipped); a
//! `crio-conmon` scope (the monitor, never a container); a throttled container with a CPU
//! quota (the only kind that gets the cAdvisor `cfs` series); an unlimited sidecar whose
//! throttling counters exist but has no quota (no `cfs` series, limit reported as 0); an
//! OOM-killed container (`oom_kill 2`); a container and a pod whose `inactive_file` exceeds
//! `memory.current` (working set floors at 0); a pod the kubelet's list does not have yet;
//! and a root `memory.stat`, whose `inactive_file` the node working set uses.
//!
//! The whole sorted series list and all counters are compared.

mod support;

use std::path::Path;

use support::{
    assert_series_eq, cg, esc, golden, id, pod_item, pod_list, running, write, write_cgroup,
    write_meminfo, Cg, MIB,
};
use tachyscale_cgroup::{collect, CollectStats, Mode, PodIndex};

const U1: &str = "5f1c0e2a-8b3d-4c6e-9f70-1a2b3c4d5e01";
const U2: &str = "5f1c0e2a-8b3d-4c6e-9f70-1a2b3c4d5e02";
const U3: &str = "5f1c0e2a-8b3d-4c6e-9f70-1a2b3c4d5e03";
const U4: &str = "5f1c0e2a-8b3d-4c6e-9f70-1a2b3c4d5e04";

#[rustfmt::skip]
fn build(root: &Path) -> PodIndex {
    write(root.join("cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n".into());
    write(root.join("cpu.stat"), "usage_usec 987654321000\nuser_usec 700000000000\nsystem_usec 287654321000\nnice_usec 0\n".into());
    write(root.join("memory.stat"), format!("anon {}\nfile {}\ninactive_file {}\n", 4096 * MIB, 2048 * MIB, 1024 * MIB));

    let burst = "kubepods.slice/kubepods-burstable.slice";
    let best = "kubepods.slice/kubepods-besteffort.slice";
    let p1 = format!("{burst}/kubepods-burstable-pod{}.slice", esc(U1));
    let p2 = format!("kubepods.slice/kubepods-pod{}.slice", esc(U2));
    let p3 = format!("{best}/kubepods-besteffort-pod{}.slice", esc(U3));
    let p4 = format!("{burst}/kubepods-burstable-pod{}.slice", esc(U4));
    let noise = cg(1_000, MIB, 0);
    let table: Vec<(String, Cg)> = vec![
        ("system.slice".into(), noise),
        ("system.slice/containerd.service".into(), noise),
        ("system.slice/kubelet.service".into(), noise),
        ("init.scope".into(), noise),
        ("kubepods.slice".into(), noise),
        (burst.into(), noise),
        (best.into(), noise),
        // web-0 (containerd, burstable).
        (p1.clone(), cg(4_000_000, 300 * MIB, 50 * MIB)),
        (format!("{p1}/cri-containerd-{}.scope", id(0xa1)),
            Cg { throttling: Some((1000, 250, 12_500_000)), quota_usec: Some(50_000), memory_max: Some(256 * MIB), ..cg(2_500_000, 200 * MIB, 20 * MIB) }),
        (format!("{p1}/cri-containerd-{}.scope", id(0xa2)),
            Cg { throttling: Some((100, 0, 0)), ..cg(1_000_000, 64 * MIB, 4 * MIB) }),
        (format!("{p1}/cri-containerd-{}.scope", id(0xa0)), cg(10_000, MIB, 0)), // sandbox
        // db-0 (CRI-O, guaranteed).
        (p2.clone(), cg(9_000_000, 500 * MIB, 100 * MIB)),
        (format!("{p2}/crio-{}.scope", id(0xb1)),
            Cg { throttling: Some((500, 0, 0)), quota_usec: Some(200_000), memory_max: Some(512 * MIB), oom_kill: 2, ..cg(8_750_000, 506 * MIB, 10 * MIB) }),
        (format!("{p2}/crio-conmon-{}.scope", id(0xb1)), cg(50_000, 2 * MIB, 0)),
        (format!("{p2}/crio-{}.scope", id(0xb0)), cg(10_000, MIB, 0)), // sandbox
        // batch-x (docker, best effort): inactive_file above memory.current.
        (p3.clone(), cg(300_000, 10 * MIB, 12 * MIB)),
        (format!("{p3}/docker-{}.scope", id(0xc1)), cg(250_000, 8 * MIB, 12 * MIB)),
        (format!("{p3}/docker-{}.scope", id(0xc0)), cg(10_000, MIB, 0)), // sandbox
        // Not in the pod list yet.
        (p4.clone(), cg(100_000, 5 * MIB, 0)),
        (format!("{p4}/cri-containerd-{}.scope", id(0xd1)), cg(90_000, 4 * MIB, 0)),
    ];
    for (rel, c) in &table {
        write_cgroup(root, rel, c);
    }
    pod_list(vec![
        pod_item("web-0", "shop", U1, "Burstable", &[
            running("app", format!("containerd://{}", id(0xa1))),
            running("sidecar", format!("containerd://{}", id(0xa2))),
        ]),
        pod_item("db-0", "data", U2, "Guaranteed", &[running("postgres", format!("cri-o://{}", id(0xb1)))]),
        pod_item("batch-x", "jobs", U3, "BestEffort", &[running("worker", format!("docker://{}", id(0xc1)))]),
    ])
}

const WANT: &str = "
# (16e6 - 6e6) kB of meminfo = 10240000000 B, minus the root memory.stat inactive_file (1 GiB).
node_cpu_usage_seconds_total                 -                     987654.321
node_memory_working_set_bytes                -                     9166258176
pod_cpu_usage_seconds_total                  shop/web-0            4
pod_memory_working_set_bytes                 shop/web-0            250Mi
pod_cpu_usage_seconds_total                  data/db-0             9
pod_memory_working_set_bytes                 data/db-0             400Mi
# 10Mi current - 12Mi inactive_file floors at 0.
pod_cpu_usage_seconds_total                  jobs/batch-x          0.3
pod_memory_working_set_bytes                 jobs/batch-x          0
container_cpu_usage_seconds_total            shop/web-0/app        2.5
container_cpu_cfs_periods_total              shop/web-0/app        1000
container_cpu_cfs_throttled_periods_total    shop/web-0/app        250
container_cpu_cfs_throttled_seconds_total    shop/web-0/app        12.5
container_memory_usage_bytes                 shop/web-0/app        200Mi
container_memory_working_set_bytes           shop/web-0/app        180Mi
container_spec_memory_limit_bytes            shop/web-0/app        256Mi
container_oom_events_total                   shop/web-0/app        0
# No quota: no cfs series. memory.max is `max`: limit 0.
container_cpu_usage_seconds_total            shop/web-0/sidecar    1
container_memory_usage_bytes                 shop/web-0/sidecar    64Mi
container_memory_working_set_bytes           shop/web-0/sidecar    60Mi
container_spec_memory_limit_bytes            shop/web-0/sidecar    0
container_oom_events_total                   shop/web-0/sidecar    0
container_cpu_usage_seconds_total            data/db-0/postgres    8.75
container_cpu_cfs_periods_total              data/db-0/postgres    500
container_cpu_cfs_throttled_periods_total    data/db-0/postgres    0
container_cpu_cfs_throttled_seconds_total    data/db-0/postgres    0
container_memory_usage_bytes                 data/db-0/postgres    506Mi
container_memory_working_set_bytes           data/db-0/postgres    496Mi
container_spec_memory_limit_bytes            data/db-0/postgres    512Mi
container_oom_events_total                   data/db-0/postgres    2
container_cpu_usage_seconds_total            jobs/batch-x/worker   0.25
container_memory_usage_bytes                 jobs/batch-x/worker   8Mi
container_memory_working_set_bytes           jobs/batch-x/worker   0
container_spec_memory_limit_bytes            jobs/batch-x/worker   0
container_oom_events_total                   jobs/batch-x/worker   0
";

#[test]
fn systemd_node_emits_exactly_the_kubelet_series() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pods = build(tmp.path());
    let meminfo = write_meminfo(tmp.path());

    let got = collect(tmp.path(), &pods, Some(&meminfo)).expect("collect");
    assert_eq!(got.hierarchy.mode, Mode::Unified);
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    assert_eq!(
        got.stats,
        CollectStats {
            // root, 3 under system.slice, init.scope, kubepods.slice, 2 QoS slices, 4 pods,
            // 3 + 3 + 2 cgroups under the known pods (the unknown pod is not descended).
            cgroups_visited: 20,
            pods_emitted: 3,
            containers_emitted: 4,
            unknown_pods: 1,
            unlisted_containers: 3,
            vanished_cgroups: 0,
            failed_cgroups: 0,
            truncated: false,
        }
    );
    assert_series_eq(&got.series, &golden(WANT));
}

#[test]
fn second_pass_over_unchanged_tree_is_identical() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pods = build(tmp.path());
    let first = collect(tmp.path(), &pods, None).expect("collect");
    let second = collect(tmp.path(), &pods, None).expect("collect");
    assert_eq!(first.series, second.series);
    assert_eq!(first.stats, second.stats);
}
