//! Fixture helpers shared by the integration tests: writing a cgroup's interface files from
//! a compact [`Cg`] row, kubelet-shaped `/pods` JSON, and golden series tables.
//!
//! Each test binary uses a subset of these helpers, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tachyscale_cgroup::series::sort_series;
use tachyscale_cgroup::{parse_pod_list, PodIndex, Series};

pub const MIB: u64 = 1 << 20;

/// One cgroup's files, compactly.
#[derive(Clone, Copy)]
pub struct Cg {
    pub usage_usec: u64,
    /// `(nr_periods, nr_throttled, throttled_usec)`; `None` = no `cpu` controller (no
    /// throttling keys, no `cpu.max`).
    pub throttling: Option<(u64, u64, u64)>,
    /// `cpu.max` quota; `None` writes `max 100000`.
    pub quota_usec: Option<u64>,
    pub memory_current: u64,
    /// `None` leaves `inactive_file` out of `memory.stat`.
    pub inactive_file: Option<u64>,
    /// `None` writes `max`.
    pub memory_max: Option<u64>,
    pub oom_kill: u64,
}

/// A cgroup with the cpu controller on, no quota, no memory limit, no OOM kills.
pub const fn cg(usage_usec: u64, memory_current: u64, inactive_file: u64) -> Cg {
    Cg {
        usage_usec,
        throttling: Some((0, 0, 0)),
        quota_usec: None,
        memory_current,
        inactive_file: Some(inactive_file),
        memory_max: None,
        oom_kill: 0,
    }
}

pub fn write(path: PathBuf, text: String) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// Writes the interface files of the cgroup at `root/rel` the way the kernel formats them
/// (including keys the collector ignores).
pub fn write_cgroup(root: &Path, rel: &str, c: &Cg) {
    let dir = root.join(rel);
    let user = c.usage_usec / 4 * 3;
    let mut cpu_stat = format!(
        "usage_usec {}\nuser_usec {user}\nsystem_usec {}\ncore_sched.force_idle_usec 0\n",
        c.usage_usec,
        c.usage_usec - user
    );
    if let Some((periods, throttled, throttled_usec)) = c.throttling {
        cpu_stat.push_str(&format!(
            "nr_periods {periods}\nnr_throttled {throttled}\nthrottled_usec {throttled_usec}\n\
             nr_bursts 0\nburst_usec 0\n"
        ));
        let quota = c.quota_usec.map_or("max".to_owned(), |q| q.to_string());
        write(dir.join("cpu.max"), format!("{quota} 100000\n"));
    }
    write(dir.join("cpu.stat"), cpu_stat);
    write(dir.join("cgroup.procs"), String::new());
    write(
        dir.join("memory.current"),
        format!("{}\n", c.memory_current),
    );
    let inactive = c
        .inactive_file
        .map_or(String::new(), |v| format!("inactive_file {v}\n"));
    let half = c.memory_current / 2;
    write(
        dir.join("memory.stat"),
        format!(
            "anon {half}\nfile {half}\nkernel 4096\nactive_anon 0\ninactive_anon 0\n\
             active_file 0\n{inactive}unevictable 0\nworkingset_refault_file 7\n"
        ),
    );
    let max = c.memory_max.map_or("max".to_owned(), |m| m.to_string());
    write(dir.join("memory.max"), format!("{max}\n"));
    let oom = c.oom_kill;
    write(
        dir.join("memory.events"),
        format!(
            "low 0\nhigh 0\nmax {}\noom {oom}\noom_kill {oom}\noom_group_kill 0\n",
            oom * 3
        ),
    );
}

/// A 64-hex container id.
pub fn id(n: u32) -> String {
    format!("{n:064x}")
}

/// kubelet's systemd escaping of a pod UID (`escapeSystemdCgroupName`).
pub fn esc(uid: &str) -> String {
    uid.replace('-', "_")
}

/// `(status list, container name, containerID)`; `None` = not started (no id yet).
pub type Status = (&'static str, String, Option<String>);

/// A running container's status in `containerStatuses`.
pub fn running(name: &str, container_id: String) -> Status {
    ("containerStatuses", name.to_owned(), Some(container_id))
}

/// A pod item shaped like the kubelet's `/pods` output.
pub fn pod_item(name: &str, ns: &str, uid: &str, qos: &str, statuses: &[Status]) -> Value {
    let mut status = json!({
        "phase": "Running",
        "qosClass": qos,
        "hostIP": "10.0.0.2",
        "podIP": "10.244.1.7",
        "startTime": "2024-05-01T10:00:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
    });
    for (list, cname, cid) in statuses {
        let mut s = json!({
            "name": cname,
            "ready": cid.is_some(),
            "restartCount": 1,
            "image": format!("registry.example/{cname}:1"),
            "imageID": format!("registry.example/{cname}@sha256:{}", id(7)),
            "started": cid.is_some(),
            "state": if cid.is_some() {
                json!({"running": {"startedAt": "2024-05-01T10:00:05Z"}})
            } else {
                json!({"waiting": {"reason": "PodInitializing"}})
            },
            "lastState": {},
        });
        if let Some(cid) = cid {
            s["containerID"] = json!(cid);
        }
        let entry = status
            .as_object_mut()
            .expect("object")
            .entry(list.to_string())
            .or_insert_with(|| json!([]));
        entry.as_array_mut().expect("array").push(s);
    }
    json!({
        "metadata": {
            "name": name, "namespace": ns, "uid": uid, "resourceVersion": "4242",
            "creationTimestamp": "2024-05-01T09:59:58Z", "labels": {"app": name},
        },
        "spec": {"nodeName": "node-a", "containers": [{"name": "x", "image": "x"}]},
        "status": status,
    })
}

/// Serialises a `v1.PodList` around `items` and parses it with the crate.
pub fn pod_list(items: Vec<Value>) -> PodIndex {
    let body = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items});
    parse_pod_list(&serde_json::to_vec(&body).expect("json")).expect("pod list")
}

/// MemTotal 16e6 kB, MemFree 6e6 kB, Inactive(file) 2e6 kB.
pub fn write_meminfo(dir: &Path) -> PathBuf {
    let path = dir.join("meminfo");
    fs::write(
        &path,
        "MemTotal:       16000000 kB\nMemFree:         6000000 kB\nMemAvailable:   12000000 kB\n\
         Buffers:          100000 kB\nCached:          3000000 kB\nActive(file):    1000000 kB\n\
         Inactive(file):  2000000 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n\
         HugePages_Total:       0\n",
    )
    .expect("write meminfo");
    path
}

/// Parses a golden table: `name  target  value` per line, `#` comments. `target` is `-`
/// (node), `namespace/pod` or `namespace/pod/container`; `value` may end in `Mi` (× 2²⁰).
pub fn golden(text: &str) -> Vec<Series> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let [name, target, value] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("bad golden line {line:?}");
        };
        let parts: Vec<&str> = target.split('/').collect();
        let labels = match parts[..] {
            ["-"] => vec![],
            [ns, pod] => vec![("namespace".into(), ns.into()), ("pod".into(), pod.into())],
            [ns, pod, c] => vec![
                ("container".into(), c.into()),
                ("namespace".into(), ns.into()),
                ("pod".into(), pod.into()),
            ],
            _ => panic!("bad target in {line:?}"),
        };
        let value = match value.strip_suffix("Mi") {
            Some(mib) => mib.parse::<f64>().expect("number") * MIB as f64,
            None => value.parse::<f64>().expect("number"),
        };
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        out.push(Series {
            name,
            labels,
            value,
        });
    }
    sort_series(&mut out);
    out
}

/// Whole-list equality with a readable diff.
pub fn assert_series_eq(got: &[Series], want: &[Series]) {
    if got != want {
        let show = |v: &[Series]| {
            v.iter()
                .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "series differ\n--- got\n{}\n--- want\n{}",
            show(got),
            show(want)
        );
    }
}
