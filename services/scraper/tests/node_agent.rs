//! Node agent mode through the whole scraper: a fixture cgroup tree and pod list become
//! kubelet-compatible series in the store, and this machine's real `/sys/fs/cgroup` gives
//! increasing node CPU counters.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;

const POD_UID: &str = "1f0e8c5a-9b7d-4c3e-8a21-5d6f7e8a9b0c";
const CONTAINER_ID: &str = "3b5e1c7d9f2a4b6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

fn write(root: &Path, relative: &str, content: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// One burstable pod with one throttled container, systemd layout.
fn fixture(root: &Path) {
    write(root, "cgroup.controllers", "cpu memory\n");
    write(
        root,
        "cpu.stat",
        "usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\n",
    );
    let pod = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        POD_UID.replace('-', "_")
    );
    let container = format!("{pod}/cri-containerd-{CONTAINER_ID}.scope");
    for dir in [&pod, &container] {
        write(
            root,
            &format!("{dir}/cpu.stat"),
            "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 100\nnr_throttled 7\nthrottled_usec 350000\n",
        );
        // A quota: cAdvisor reports CFS series only for containers that have one.
        write(root, &format!("{dir}/cpu.max"), "50000 100000\n");
        write(root, &format!("{dir}/memory.current"), "104857600\n");
        write(
            root,
            &format!("{dir}/memory.stat"),
            "anon 52428800\nfile 52428800\nactive_file 31457280\ninactive_file 20971520\n",
        );
        write(root, &format!("{dir}/memory.max"), "268435456\n");
        write(
            root,
            &format!("{dir}/memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        );
    }
}

fn pod_list() -> String {
    format!(
        r#"{{"kind":"PodList","apiVersion":"v1","items":[{{"metadata":{{"name":"api-7d9f","namespace":"shop","uid":"{POD_UID}"}},
        "status":{{"containerStatuses":[{{"name":"api","containerID":"containerd://{CONTAINER_ID}","restartCount":0}}]}}}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixture_tree_becomes_kubelet_series_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cgroup");
    fixture(&root);
    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, pod_list()).unwrap();
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
node_agent:
  node_name: worker-1
  cgroup_root: "{root}"
  meminfo_path: null
  pods: {{file: "{pods}"}}
"#,
            root = root.display(),
            pods = pods.display()
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    let selector = r#"{namespace="shop",pod="api-7d9f",container="api",job="kubernetes-cgroups",instance="worker-1"}"#;
    wait_until("container series", Duration::from_secs(20), || async {
        !instant(
            &base,
            &format!("container_cpu_usage_seconds_total{selector}"),
            None,
        )
        .await
        .is_empty()
    })
    .await;
    let value = |name: &str| {
        let base = base.clone();
        let promql = format!("{name}{selector}");
        async move { single_value(&base, &promql).await }
    };
    assert_eq!(value("container_cpu_usage_seconds_total").await, Some(2.5));
    assert_eq!(
        value("container_memory_working_set_bytes").await,
        Some((104857600 - 20971520) as f64)
    );
    assert_eq!(
        value("container_cpu_cfs_throttled_periods_total").await,
        Some(7.0)
    );
    assert_eq!(
        value("container_cpu_cfs_throttled_seconds_total").await,
        Some(0.35)
    );
    assert_eq!(value("container_oom_events_total").await, Some(1.0));
    assert_eq!(
        single_value(
            &base,
            r#"pod_cpu_usage_seconds_total{namespace="shop",pod="api-7d9f"}"#
        )
        .await,
        Some(2.5)
    );
    assert_eq!(
        single_value(
            &base,
            r#"node_cpu_usage_seconds_total{instance="worker-1"}"#
        )
        .await,
        Some(9.0)
    );
    assert_eq!(
        single_value(&base, r#"up{job="kubernetes-cgroups"}"#).await,
        Some(1.0)
    );
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_cgroup_tree_gives_increasing_node_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods.json");
    std::fs::write(&pods, r#"{"kind":"PodList","apiVersion":"v1","items":[]}"#).unwrap();
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
node_agent:
  node_name: this-machine
  pods: {{file: "{pods}"}}
"#,
            pods = pods.display()
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    let promql = r#"node_cpu_usage_seconds_total{instance="this-machine"}[30s]"#;
    wait_until(
        "three node CPU samples",
        Duration::from_secs(30),
        || async {
            let body = api_get(&base, "/api/v1/query", &[("query", promql.to_string())]).await;
            body["data"]["result"][0]["values"]
                .as_array()
                .is_some_and(|v| v.len() >= 3)
        },
    )
    .await;
    let body = api_get(&base, "/api/v1/query", &[("query", promql.to_string())]).await;
    let values: Vec<f64> = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(values[0] > 0.0, "{values:?}");
    assert!(
        values.windows(2).all(|w| w[1] >= w[0]),
        "not monotonic: {values:?}"
    );
    assert!(
        values.last() > values.first(),
        "CPU did not advance: {values:?}"
    );
    let memory = single_value(
        &base,
        r#"node_memory_working_set_bytes{instance="this-machine"}"#,
    )
    .await;
    assert!(memory.is_some_and(|m| m > 0.0), "{memory:?}");
    scraper.stop().await;
    store.stop().await;
}
