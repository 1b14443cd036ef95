//! The kube-rs backend of the cluster interface ([`KubeCluster`]) end to end: real kube-rs
//! requests and watches against the fake API server of `tachyscale-testkit` on loopback,
//! since no real API server can run on the test machines.
//!
//! - the scale subresource of a Deployment is read (spec and status replicas, selector) and
//!   written with a merge patch of `spec.replicas` only; unknown workloads are `NotFound`
//!   and a negative replica count never reaches the API server;
//! - pods and nodes come from the watch-fed caches, converted to the engines' units
//!   (milli-units, epoch milliseconds), filtered by namespace and selector, following watch
//!   events, and refused with `NotSynced` until the first list has completed;
//! - a custom resource's scale is found through API discovery (once), and a kind without
//!   a scale subresource says so.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tachyscale_cluster::kube::KubeCluster;
use tachyscale_cluster::model::ReadyCondition;
use tachyscale_cluster::{
    Cluster, ClusterError, ConditionStatus, ContainerInfo, NodeInfo, PodInfo, PodPhase, Scale,
    WorkloadRef,
};
use tachyscale_testkit::fake_apiserver::{FakeApiServer, Kind};
use tachyscale_testkit::wait_until;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// 2024-05-01T10:00:00Z.
const TEN_O_CLOCK_MS: i64 = 1_714_557_600_000;
const MINUTE_MS: i64 = 60_000;
const MI: i64 = 1 << 20;

/// A running fake API server and a `KubeCluster` watching it.
struct Fixture {
    api: FakeApiServer,
    cluster: Arc<KubeCluster>,
    stop: CancellationToken,
}

impl Fixture {
    /// Starts the cluster against an API server the caller has already filled (or set to
    /// fail), so the first list sees the objects.
    fn start(api: FakeApiServer) -> Fixture {
        let config = kube::Config::new(api.url().parse().unwrap());
        tachyscale_cluster::kube::install_default_crypto_provider();
        let client = kube::Client::try_from(config).unwrap();
        let stop = CancellationToken::new();
        let cluster = KubeCluster::start(client, stop.clone());
        Fixture { api, cluster, stop }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.api.stop().await;
    }
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn milli_map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn workload(api_version: &str, kind: &str, name: &str) -> WorkloadRef {
    WorkloadRef {
        namespace: "shop".to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
    }
}

fn deployment(name: &str, spec_replicas: i32, status_replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {
            "replicas": spec_replicas,
            "selector": {"matchLabels": {"tier": "frontend", "app": name}},
            "template": {"metadata": {"labels": {"tier": "frontend", "app": name}}}
        },
        "status": {"replicas": status_replicas, "readyReplicas": status_replicas}
    })
}

fn pod(namespace: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("uid-{namespace}-{name}"),
            "labels": labels,
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T09:00:00Z"}
        },
        "spec": {
            "nodeName": "worker-1",
            "containers": [{"name": "app", "image": "shop/app:1",
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                              "limits": {"cpu": "1", "memory": "128Mi"}}}]
        },
        "status": {
            "phase": "Running",
            "startTime": "2024-05-01T09:59:00Z",
            "conditions": [
                {"type": "PodScheduled", "status": "True",
                 "lastTransitionTime": "2024-05-01T09:58:00Z"},
                {"type": "Ready", "status": "True",
                 "lastTransitionTime": "2024-05-01T10:00:00Z"}
            ]
        }
    })
}

/// The [`PodInfo`] of [`pod`] as the backend should convert it.
fn pod_info(namespace: &str, name: &str, labels: &[(&str, &str)]) -> PodInfo {
    PodInfo {
        namespace: namespace.to_string(),
        name: name.to_string(),
        labels: string_map(labels),
        phase: PodPhase::Running,
        deletion_ms: None,
        start_ms: Some(TEN_O_CLOCK_MS - MINUTE_MS),
        ready: Some(ReadyCondition {
            status: ConditionStatus::True,
            last_transition_ms: Some(TEN_O_CLOCK_MS),
        }),
        containers: vec![ContainerInfo {
            name: "app".to_string(),
            requests: milli_map(&[("cpu", 250), ("memory", 64 * MI * 1000)]),
            restart_always: false,
        }],
        init_containers: Vec::new(),
        node_name: Some("worker-1".to_string()),
    }
}

fn node(name: &str, cpu: &str, ready: &str, unschedulable: bool) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": format!("uid-{name}"),
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"kubernetes.io/hostname": name, "node.kubernetes.io/instance-type": "m7i.xlarge"}
        },
        "spec": {"providerID": format!("aws:///eu-west-1a/i-{name}"), "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": ready}
            ]
        }
    })
}

fn node_info(name: &str, cpu_milli: i64, ready: bool, unschedulable: bool) -> NodeInfo {
    NodeInfo {
        name: name.to_string(),
        labels: string_map(&[
            ("kubernetes.io/hostname", name),
            ("node.kubernetes.io/instance-type", "m7i.xlarge"),
        ]),
        allocatable: milli_map(&[
            ("cpu", cpu_milli),
            ("memory", 16 * 1024 * MI * 1000),
            ("pods", 110_000),
        ]),
        ready,
        unschedulable,
        created_ms: Some(TEN_O_CLOCK_MS),
        provider_id: Some(format!("aws:///eu-west-1a/i-{name}")),
    }
}

/// The pods the cluster answers, sorted by namespace and name (the cache has no order).
async fn sorted_pods(
    cluster: &KubeCluster,
    namespace: &str,
    selector: &str,
) -> Result<Vec<PodInfo>, ClusterError> {
    let mut pods = cluster.pods(namespace, selector).await?;
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(pods)
}

async fn sorted_nodes(cluster: &KubeCluster) -> Result<Vec<NodeInfo>, ClusterError> {
    let mut nodes = cluster.nodes().await?;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}

fn names(pods: &[PodInfo]) -> Vec<&str> {
    pods.iter().map(|pod| pod.name.as_str()).collect()
}

fn scale_requests(api: &FakeApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|request| request.contains("/scale"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_scale_is_read_and_patched_through_the_scale_subresource() {
    let api = FakeApiServer::start().await;
    api.apply(Kind::Deployment, deployment("web", 3, 2));
    let fx = Fixture::start(api);
    let web = workload("apps/v1", "Deployment", "web");

    let scale = fx.cluster.scale(&web).await.unwrap();
    assert_eq!(
        scale,
        Scale {
            spec_replicas: 3,
            status_replicas: 2,
            selector: "app=web,tier=frontend".to_string(),
        }
    );

    fx.cluster.set_replicas(&web, 5).await.unwrap();
    let patches = fx.api.patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let patch = &patches[0];
    assert!(
        patch
            .uri
            .starts_with("/apis/apps/v1/namespaces/shop/deployments/web/scale"),
        "{patch:?}"
    );
    assert_eq!(patch.content_type, "application/merge-patch+json");
    assert_eq!(patch.body, json!({"spec": {"replicas": 5}}));
    let stored = fx.api.get(Kind::Deployment, "shop", "web").unwrap();
    assert_eq!(stored["spec"]["replicas"], 5);
    assert_eq!(
        stored["spec"]["selector"],
        json!({"matchLabels": {"app": "web", "tier": "frontend"}}),
        "only spec.replicas changes"
    );
    let scale = fx.cluster.scale(&web).await.unwrap();
    assert_eq!((scale.spec_replicas, scale.status_replicas), (5, 2));

    // Scaling to zero is a valid write, not a missing value.
    fx.cluster.set_replicas(&web, 0).await.unwrap();
    assert_eq!(fx.cluster.scale(&web).await.unwrap().spec_replicas, 0);

    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_deployments_are_not_found_and_negative_replicas_never_sent() {
    let api = FakeApiServer::start().await;
    api.apply(Kind::Deployment, deployment("web", 3, 3));
    let fx = Fixture::start(api);
    let gone = workload("apps/v1", "Deployment", "gone");

    for error in [
        fx.cluster.scale(&gone).await.unwrap_err(),
        fx.cluster.set_replicas(&gone, 2).await.unwrap_err(),
    ] {
        assert!(
            matches!(&error, ClusterError::NotFound { kind, namespace, name }
                if kind == "Deployment" && namespace == "shop" && name == "gone"),
            "{error:?}"
        );
        assert_eq!(error.reason(), "not_found");
    }

    let sent = scale_requests(&fx.api);
    let patched = fx.api.patches().len();
    let web = workload("apps/v1", "Deployment", "web");
    let error = fx.cluster.set_replicas(&web, -1).await.unwrap_err();
    assert!(
        matches!(error, ClusterError::InvalidReplicas { replicas: -1, .. }),
        "{error:?}"
    );
    assert_eq!(scale_requests(&fx.api), sent, "nothing sent");
    assert_eq!(fx.api.patches().len(), patched);
    assert_eq!(
        fx.api.get(Kind::Deployment, "shop", "web").unwrap()["spec"]["replicas"],
        3
    );

    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_are_filtered_converted_and_follow_watch_events() {
    let api = FakeApiServer::start().await;
    let web = json!({"app": "web", "tier": "frontend"});
    // Sidecar and plain init containers; requests in every quantity form.
    let mut web0 = pod("shop", "web-0", web.clone());
    web0["spec"]["initContainers"] = json!([
        {"name": "migrate", "image": "shop/migrate:1",
         "resources": {"requests": {"cpu": "1", "memory": "1G"}}},
        {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always",
         "resources": {"requests": {"cpu": "0.1", "memory": "32Mi"}}}
    ]);
    api.apply(Kind::Pod, web0);
    // Terminating, not ready yet, with an unparsable request (left out).
    let mut web1 = pod("shop", "web-1", web.clone());
    web1["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:05:00Z");
    web1["spec"]["containers"][0]["resources"]["requests"] =
        json!({"cpu": "lots", "memory": "128Mi"});
    web1["status"] = json!({"phase": "Pending", "conditions": [
        {"type": "Ready", "status": "False", "lastTransitionTime": "2024-05-01T10:01:00Z"}]});
    api.apply(Kind::Pod, web1);
    // Another workload in the namespace, and the same labels in another namespace.
    api.apply(Kind::Pod, pod("shop", "db-0", json!({"app": "db"})));
    api.apply(Kind::Pod, pod("other", "web-0", web.clone()));
    let fx = Fixture::start(api);

    wait_until("the pod cache syncs", WAIT, || async {
        fx.cluster.pods("shop", "app=web").await.is_ok()
    })
    .await;
    let pods = sorted_pods(&fx.cluster, "shop", "app=web").await.unwrap();
    let labels = [("app", "web"), ("tier", "frontend")];
    let mut expected0 = pod_info("shop", "web-0", &labels);
    expected0.init_containers = vec![
        ContainerInfo {
            name: "migrate".to_string(),
            requests: milli_map(&[("cpu", 1000), ("memory", 1_000_000_000_000)]),
            restart_always: false,
        },
        ContainerInfo {
            name: "proxy".to_string(),
            requests: milli_map(&[("cpu", 100), ("memory", 32 * MI * 1000)]),
            restart_always: true,
        },
    ];
    let mut expected1 = pod_info("shop", "web-1", &labels);
    expected1.phase = PodPhase::Pending;
    expected1.deletion_ms = Some(TEN_O_CLOCK_MS + 5 * MINUTE_MS);
    expected1.start_ms = None;
    expected1.ready = Some(ReadyCondition {
        status: ConditionStatus::False,
        last_transition_ms: Some(TEN_O_CLOCK_MS + MINUTE_MS),
    });
    expected1.containers[0].requests = milli_map(&[("memory", 128 * MI * 1000)]);
    assert_eq!(pods, [expected0, expected1]);
    assert!(pods[0].is_running_and_ready());
    assert!(!pods[1].is_running_and_ready());

    // Set-based and negative terms, as a scale's status.selector may hold them.
    let selected = sorted_pods(&fx.cluster, "shop", "app in (web,db),tier!=frontend")
        .await
        .unwrap();
    assert_eq!(names(&selected), ["db-0"]);
    assert_eq!(
        names(&sorted_pods(&fx.cluster, "shop", "").await.unwrap()),
        ["db-0", "web-0", "web-1"],
        "the empty selector selects everything"
    );
    assert_eq!(
        names(&sorted_pods(&fx.cluster, "other", "app=web").await.unwrap()),
        ["web-0"]
    );
    let error = fx.cluster.pods("shop", "app=").await;
    assert!(error.is_ok(), "`app=` selects the empty value: {error:?}");
    let error = fx.cluster.pods("shop", "app in (").await.unwrap_err();
    assert!(
        matches!(&error, ClusterError::Selector { selector, .. } if selector == "app in ("),
        "{error:?}"
    );

    // Watch events: a pod is added, another deleted.
    fx.api.apply(Kind::Pod, pod("shop", "web-2", web.clone()));
    fx.api.delete(Kind::Pod, "shop", "web-1");
    wait_until("the cache follows the watch", WAIT, || async {
        sorted_pods(&fx.cluster, "shop", "app=web")
            .await
            .is_ok_and(|pods| names(&pods) == ["web-0", "web-2"])
    })
    .await;
    let pods = sorted_pods(&fx.cluster, "shop", "app=web").await.unwrap();
    assert_eq!(pods[1], pod_info("shop", "web-2", &labels));

    // The watch connection drops (API server restart): the cache stays readable and
    // catches up with what changed meanwhile once the watch resumes.
    fx.api.close_watches();
    fx.api.apply(Kind::Pod, pod("shop", "web-3", web.clone()));
    assert!(fx.cluster.pods("shop", "app=web").await.is_ok());
    wait_until("the resumed watch delivers web-3", WAIT, || async {
        sorted_pods(&fx.cluster, "shop", "app=web")
            .await
            .is_ok_and(|pods| names(&pods) == ["web-0", "web-2", "web-3"])
    })
    .await;

    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_before_the_first_list_are_not_synced_rather_than_empty() {
    let api = FakeApiServer::start().await;
    api.apply(Kind::Pod, pod("shop", "web-0", json!({"app": "web"})));
    api.apply(Kind::Node, node("worker-1", "3920m", "True", false));
    // Every list fails until the outage ends, so the caches cannot sync before it does.
    api.fail_next(u32::MAX);
    let fx = Fixture::start(api);

    wait_until("both watchers tried to list", WAIT, || async {
        let requests = fx.api.requests();
        requests.iter().any(|r| r.starts_with("/api/v1/pods?"))
            && requests.iter().any(|r| r.starts_with("/api/v1/nodes?"))
    })
    .await;
    let error = fx.cluster.pods("shop", "app=web").await.unwrap_err();
    assert!(
        matches!(error, ClusterError::NotSynced { what: "pod" }),
        "{error:?}"
    );
    assert_eq!(error.reason(), "not_synced");
    let error = fx.cluster.nodes().await.unwrap_err();
    assert!(
        matches!(error, ClusterError::NotSynced { what: "node" }),
        "{error:?}"
    );

    fx.api.fail_next(0);
    wait_until("the caches sync after the outage", WAIT, || async {
        fx.cluster.pods("shop", "app=web").await.is_ok() && fx.cluster.nodes().await.is_ok()
    })
    .await;
    let pods = fx.cluster.pods("shop", "app=web").await.unwrap();
    assert_eq!(names(&pods), ["web-0"]);
    assert_eq!(fx.cluster.nodes().await.unwrap().len(), 1);

    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_carry_allocatable_milli_units_readiness_and_cordon() {
    let api = FakeApiServer::start().await;
    api.apply(Kind::Node, node("worker-1", "3920m", "True", false));
    api.apply(Kind::Node, node("worker-2", "4", "False", true));
    let mut unknown = node("worker-3", "1.5", "Unknown", false);
    unknown["status"]
        .as_object_mut()
        .unwrap()
        .remove("conditions");
    unknown["spec"] = json!({});
    api.apply(Kind::Node, unknown);
    let fx = Fixture::start(api);

    wait_until("the node cache syncs", WAIT, || async {
        fx.cluster.nodes().await.is_ok()
    })
    .await;
    let mut worker3 = node_info("worker-3", 1500, false, false);
    worker3.provider_id = None;
    assert_eq!(
        sorted_nodes(&fx.cluster).await.unwrap(),
        [
            node_info("worker-1", 3920, true, false),
            node_info("worker-2", 4000, false, true),
            worker3,
        ]
    );

    // Cordoning arrives as a watch event.
    fx.api
        .apply(Kind::Node, node("worker-1", "3920m", "True", true));
    wait_until("the cordon is seen", WAIT, || async {
        sorted_nodes(&fx.cluster)
            .await
            .is_ok_and(|nodes| nodes[0].unschedulable)
    })
    .await;

    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_scale_is_found_through_discovery_once() {
    let api = FakeApiServer::start().await;
    api.apply(
        Kind::Widget,
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "queue-worker", "namespace": "shop"},
            "spec": {"replicas": 2},
            "status": {"replicas": 1, "selector": "app=queue-worker"}
        }),
    );
    let fx = Fixture::start(api);
    let widget = workload("example.com/v1", "Widget", "queue-worker");

    assert_eq!(
        fx.cluster.scale(&widget).await.unwrap(),
        Scale {
            spec_replicas: 2,
            status_replicas: 1,
            selector: "app=queue-worker".to_string(),
        }
    );
    fx.cluster.set_replicas(&widget, 4).await.unwrap();
    assert_eq!(fx.cluster.scale(&widget).await.unwrap().spec_replicas, 4);
    let patches = fx.api.patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0]
        .uri
        .starts_with("/apis/example.com/v1/namespaces/shop/widgets/queue-worker/scale"));
    assert_eq!(patches[0].body, json!({"spec": {"replicas": 4}}));
    let discoveries = fx
        .api
        .requests()
        .iter()
        .filter(|r| r.as_str() == "/apis/example.com/v1")
        .count();
    assert_eq!(discoveries, 1, "the resolved kind is cached");

    // A kind served without a scale subresource, one not served at all, and a group that
    // does not exist.
    let error = fx
        .cluster
        .scale(&workload("example.com/v1", "Gadget", "g"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClusterError::NoScaleSubresource { kind, .. } if kind == "Gadget"),
        "{error:?}"
    );
    for target in [
        workload("example.com/v1", "Sprocket", "s"),
        workload("nowhere.example/v1", "Widget", "w"),
    ] {
        let error = fx.cluster.scale(&target).await.unwrap_err();
        assert!(
            matches!(&error, ClusterError::NotFound { kind, .. } if *kind == target.kind),
            "{target}: {error:?}"
        );
    }

    fx.stop().await;
}
