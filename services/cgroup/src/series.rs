//! Turning parsed cgroup statistics into kubelet/cAdvisor-compatible series.
//!
//! Names and labels follow the kubelet's `/metrics/resource` endpoint
//! (`pkg/kubelet/metrics/collectors/resource_metrics.go`): container series carry
//! `{container, namespace, pod}`, pod series `{namespace, pod}`, node series none. The extra
//! container series use cAdvisor's names (`metrics/prometheus.go`) with the same three
//! labels, so dashboards and HPA queries written against either keep working.
//!
//! | series | value | upstream rule |
//! |---|---|---|
//! | `container_cpu_usage_seconds_total` | `cpu.stat usage_usec / 1e6` | runc `fs2/cpu.go` (usec → ns), cAdvisor ns → s |
//! | `container_memory_working_set_bytes` | `max(memory.current − inactive_file, 0)` | cAdvisor `container/libcontainer/handler.go` `setMemoryStats` |
//! | `container_memory_usage_bytes` | `memory.current` | cAdvisor |
//! | `container_spec_memory_limit_bytes` | `memory.max`, 0 when `max` or > 2⁶² | cAdvisor `specMemoryValue` |
//! | `container_cpu_cfs_periods_total` | `nr_periods` | cAdvisor, only when a CPU quota is set |
//! | `container_cpu_cfs_throttled_periods_total` | `nr_throttled` | 〃 |
//! | `container_cpu_cfs_throttled_seconds_total` | `throttled_usec / 1e6` | 〃 |
//! | `container_oom_events_total` | `memory.events oom_kill` | see deviations |
//! | `pod_cpu_usage_seconds_total`, `pod_memory_working_set_bytes` | same rules on the pod cgroup | kubelet |
//! | `node_cpu_usage_seconds_total` | root `cpu.stat usage_usec / 1e6` | kubelet (root container) |
//! | `node_memory_working_set_bytes` | `(MemTotal − MemFree) − inactive_file` | runc `fs2/memory.go` `statsFromMeminfo` + cAdvisor rule |
//!
//! Deviations:
//! - `container_oom_events_total`: cAdvisor counts OOM kills it sees in `/dev/kmsg` since it
//!   started (`manager.go` `watchForNewOoms`); here it is the kernel's own per-cgroup
//!   `oom_kill` counter, which survives agent restarts and needs no kmsg access.
//! - cAdvisor's extra labels (`id`, `image`, `name`) are not emitted; kubelet's are.
//! - `container_start_time_seconds` (kubelet) is not emitted: the cgroup files do not hold it.
//! - The kubelet's alpha swap series (`*_swap_usage_bytes`, `container_swap_limit_bytes`) are
//!   not emitted.
//! - The working set floor and the "only subtract `inactive_file` when present" rule are
//!   cAdvisor's; for the node, `inactive_file` comes from the root `memory.stat` when the
//!   kernel writes one (as cAdvisor reads it) and otherwise from meminfo's `Inactive(file)`.
//! - Series are emitted only for files that exist: on a hybrid host the v2 tree has no
//!   memory controller, so only the CPU series appear.

use crate::files::{CpuMax, CpuStat, Meminfo, MemoryEvents, MemoryStat};

/// `container_cpu_usage_seconds_total`.
pub const CONTAINER_CPU_USAGE_SECONDS_TOTAL: &str = "container_cpu_usage_seconds_total";
/// `container_memory_working_set_bytes`.
pub const CONTAINER_MEMORY_WORKING_SET_BYTES: &str = "container_memory_working_set_bytes";
/// `container_memory_usage_bytes`.
pub const CONTAINER_MEMORY_USAGE_BYTES: &str = "container_memory_usage_bytes";
/// `container_spec_memory_limit_bytes`.
pub const CONTAINER_SPEC_MEMORY_LIMIT_BYTES: &str = "container_spec_memory_limit_bytes";
/// `container_cpu_cfs_periods_total`.
pub const CONTAINER_CPU_CFS_PERIODS_TOTAL: &str = "container_cpu_cfs_periods_total";
/// `container_cpu_cfs_throttled_periods_total`.
pub const CONTAINER_CPU_CFS_THROTTLED_PERIODS_TOTAL: &str =
    "container_cpu_cfs_throttled_periods_total";
/// `container_cpu_cfs_throttled_seconds_total`.
pub const CONTAINER_CPU_CFS_THROTTLED_SECONDS_TOTAL: &str =
    "container_cpu_cfs_throttled_seconds_total";
/// `container_oom_events_total`.
pub const CONTAINER_OOM_EVENTS_TOTAL: &str = "container_oom_events_total";
/// `pod_cpu_usage_seconds_total`.
pub const POD_CPU_USAGE_SECONDS_TOTAL: &str = "pod_cpu_usage_seconds_total";
/// `pod_memory_working_set_bytes`.
pub const POD_MEMORY_WORKING_SET_BYTES: &str = "pod_memory_working_set_bytes";
/// `node_cpu_usage_seconds_total`.
pub const NODE_CPU_USAGE_SECONDS_TOTAL: &str = "node_cpu_usage_seconds_total";
/// `node_memory_working_set_bytes`.
pub const NODE_MEMORY_WORKING_SET_BYTES: &str = "node_memory_working_set_bytes";

/// Above this a memory limit counts as unlimited (cAdvisor's `maxMemorySize`, 2⁶²: the
/// kernel rounds `max` to a page multiple below `i64::MAX`).
pub const UNLIMITED_MEMORY_THRESHOLD_BYTES: u64 = 1 << 62;

const USEC_PER_SEC: f64 = 1e6;

/// One sample's identity and value; the caller adds the timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Metric name.
    pub name: &'static str,
    /// Labels sorted by name.
    pub labels: Vec<(String, String)>,
    /// Value in base units (seconds, bytes, counts).
    pub value: f64,
}

/// What one cgroup's files held; `None` means the file was absent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CgroupStats {
    /// `cpu.stat`.
    pub cpu: Option<CpuStat>,
    /// `cpu.max`.
    pub cpu_max: Option<CpuMax>,
    /// `memory.current`.
    pub memory_current_bytes: Option<u64>,
    /// `memory.stat`.
    pub memory_stat: Option<MemoryStat>,
    /// `memory.max`: outer `None` = file absent, inner `None` = `max`.
    pub memory_max_bytes: Option<Option<u64>>,
    /// `memory.events`.
    pub memory_events: Option<MemoryEvents>,
}

impl CgroupStats {
    /// The cAdvisor working set, when `memory.current` was read.
    pub fn working_set_bytes(&self) -> Option<u64> {
        let usage = self.memory_current_bytes?;
        Some(working_set_bytes(usage, self.memory_stat.as_ref()))
    }
}

/// cAdvisor's working set: usage minus `inactive_file` when `memory.stat` has it, floored at 0.
pub fn working_set_bytes(usage_bytes: u64, stat: Option<&MemoryStat>) -> u64 {
    match stat.and_then(|s| s.inactive_file_bytes) {
        Some(inactive) => usage_bytes.saturating_sub(inactive),
        None => usage_bytes,
    }
}

/// cAdvisor's `specMemoryValue`: unlimited (and absurdly large) limits are reported as 0.
pub fn spec_memory_limit_value(limit_bytes: Option<u64>) -> f64 {
    match limit_bytes {
        Some(v) if v <= UNLIMITED_MEMORY_THRESHOLD_BYTES => v as f64,
        _ => 0.0,
    }
}

/// Node working set: runc's meminfo usage minus `inactive_file` (root `memory.stat` first,
/// meminfo's `Inactive(file)` otherwise), floored at 0.
pub fn node_working_set_bytes(meminfo: &Meminfo, root_stat: Option<&MemoryStat>) -> u64 {
    let inactive = root_stat
        .and_then(|s| s.inactive_file_bytes)
        .or(meminfo.inactive_file_bytes)
        .unwrap_or(0);
    meminfo.used_bytes().saturating_sub(inactive)
}

/// Appends the container series for one container cgroup.
pub fn push_container_series(
    out: &mut Vec<Series>,
    stats: &CgroupStats,
    namespace: &str,
    pod: &str,
    container: &str,
) {
    let labels = || {
        vec![
            ("container".to_owned(), container.to_owned()),
            ("namespace".to_owned(), namespace.to_owned()),
            ("pod".to_owned(), pod.to_owned()),
        ]
    };
    let mut push = |name: &'static str, value: f64| {
        out.push(Series {
            name,
            labels: labels(),
            value,
        })
    };
    if let Some(cpu) = &stats.cpu {
        push(
            CONTAINER_CPU_USAGE_SECONDS_TOTAL,
            cpu.usage_usec as f64 / USEC_PER_SEC,
        );
        let has_quota = stats.cpu_max.is_some_and(|m| m.quota_usec.is_some());
        if let (true, Some(periods), Some(throttled), Some(throttled_usec)) = (
            has_quota,
            cpu.nr_periods,
            cpu.nr_throttled,
            cpu.throttled_usec,
        ) {
            push(CONTAINER_CPU_CFS_PERIODS_TOTAL, periods as f64);
            push(CONTAINER_CPU_CFS_THROTTLED_PERIODS_TOTAL, throttled as f64);
            push(
                CONTAINER_CPU_CFS_THROTTLED_SECONDS_TOTAL,
                throttled_usec as f64 / USEC_PER_SEC,
            );
        }
    }
    if let Some(usage) = stats.memory_current_bytes {
        push(CONTAINER_MEMORY_USAGE_BYTES, usage as f64);
        push(
            CONTAINER_MEMORY_WORKING_SET_BYTES,
            working_set_bytes(usage, stats.memory_stat.as_ref()) as f64,
        );
    }
    if let Some(limit) = stats.memory_max_bytes {
        push(
            CONTAINER_SPEC_MEMORY_LIMIT_BYTES,
            spec_memory_limit_value(limit),
        );
    }
    if let Some(events) = &stats.memory_events {
        push(CONTAINER_OOM_EVENTS_TOTAL, events.oom_kill as f64);
    }
}

/// Appends the pod series for one pod cgroup.
pub fn push_pod_series(out: &mut Vec<Series>, stats: &CgroupStats, namespace: &str, pod: &str) {
    let labels = || {
        vec![
            ("namespace".to_owned(), namespace.to_owned()),
            ("pod".to_owned(), pod.to_owned()),
        ]
    };
    if let Some(cpu) = &stats.cpu {
        out.push(Series {
            name: POD_CPU_USAGE_SECONDS_TOTAL,
            labels: labels(),
            value: cpu.usage_usec as f64 / USEC_PER_SEC,
        });
    }
    if let Some(ws) = stats.working_set_bytes() {
        out.push(Series {
            name: POD_MEMORY_WORKING_SET_BYTES,
            labels: labels(),
            value: ws as f64,
        });
    }
}

/// Appends the node series.
pub fn push_node_series(out: &mut Vec<Series>, root_cpu: &CpuStat, working_set_bytes: Option<u64>) {
    out.push(Series {
        name: NODE_CPU_USAGE_SECONDS_TOTAL,
        labels: Vec::new(),
        value: root_cpu.usage_usec as f64 / USEC_PER_SEC,
    });
    if let Some(ws) = working_set_bytes {
        out.push(Series {
            name: NODE_MEMORY_WORKING_SET_BYTES,
            labels: Vec::new(),
            value: ws as f64,
        });
    }
}

/// Sorts by name, then labels, for stable output and whole-list comparisons.
pub fn sort_series(series: &mut [Series]) {
    series.sort_by(|a, b| (a.name, &a.labels).cmp(&(b.name, &b.labels)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_set_follows_cadvisor() {
        let stat = |inactive| MemoryStat {
            inactive_file_bytes: inactive,
            ..MemoryStat::default()
        };
        assert_eq!(working_set_bytes(100, Some(&stat(Some(30)))), 70);
        assert_eq!(
            working_set_bytes(100, Some(&stat(Some(130)))),
            0,
            "floored at 0"
        );
        assert_eq!(
            working_set_bytes(100, Some(&stat(None))),
            100,
            "key absent: usage"
        );
        assert_eq!(working_set_bytes(100, None), 100, "file absent: usage");
    }

    #[test]
    fn memory_limit_zero_when_unlimited() {
        assert_eq!(spec_memory_limit_value(None), 0.0);
        assert_eq!(spec_memory_limit_value(Some(u64::MAX - 4095)), 0.0);
        assert_eq!(spec_memory_limit_value(Some(1 << 62)), (1u64 << 62) as f64);
        assert_eq!(spec_memory_limit_value(Some(268_435_456)), 268_435_456.0);
    }

    #[test]
    fn node_working_set_prefers_root_memory_stat() {
        let meminfo = Meminfo {
            mem_total_bytes: 1000,
            mem_free_bytes: 300,
            inactive_file_bytes: Some(100),
            ..Meminfo::default()
        };
        assert_eq!(node_working_set_bytes(&meminfo, None), 600);
        let root = MemoryStat {
            inactive_file_bytes: Some(50),
            ..MemoryStat::default()
        };
        assert_eq!(node_working_set_bytes(&meminfo, Some(&root)), 650);
        let tiny = Meminfo {
            inactive_file_bytes: Some(5000),
            ..meminfo
        };
        assert_eq!(node_working_set_bytes(&tiny, None), 0);
    }

    #[test]
    fn cfs_series_need_a_quota() {
        let cpu = CpuStat {
            usage_usec: 1,
            nr_periods: Some(10),
            nr_throttled: Some(2),
            throttled_usec: Some(500_000),
            ..CpuStat::default()
        };
        let names = |cpu_max| {
            let mut out = Vec::new();
            let stats = CgroupStats {
                cpu: Some(cpu),
                cpu_max,
                ..CgroupStats::default()
            };
            push_container_series(&mut out, &stats, "ns", "p", "c");
            out.iter().map(|s| s.name).collect::<Vec<_>>()
        };
        let unlimited = CpuMax {
            quota_usec: None,
            period_usec: 100_000,
        };
        assert_eq!(names(Some(unlimited)), [CONTAINER_CPU_USAGE_SECONDS_TOTAL]);
        assert_eq!(names(None), [CONTAINER_CPU_USAGE_SECONDS_TOTAL]);
        let quota = CpuMax {
            quota_usec: Some(50_000),
            ..unlimited
        };
        assert_eq!(
            names(Some(quota)),
            [
                CONTAINER_CPU_USAGE_SECONDS_TOTAL,
                CONTAINER_CPU_CFS_PERIODS_TOTAL,
                CONTAINER_CPU_CFS_THROTTLED_PERIODS_TOTAL,
                CONTAINER_CPU_CFS_THROTTLED_SECONDS_TOTAL,
            ]
        );
    }

    #[test]
    fn labels_are_sorted_by_name() {
        let mut out = Vec::new();
        let stats = CgroupStats {
            memory_current_bytes: Some(1),
            ..CgroupStats::default()
        };
        push_container_series(&mut out, &stats, "ns", "p", "c");
        push_pod_series(&mut out, &stats, "ns", "p");
        for s in &out {
            let names: Vec<_> = s.labels.iter().map(|(k, _)| k.as_str()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "{}", s.name);
        }
    }
}
