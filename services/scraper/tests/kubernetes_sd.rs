//! Kubernetes discovery and fleet membership end to end: kube-rs' watcher against a fake
//! API server on loopback (there is no real one on the test machines), the scrape role
//! running the canonical Prometheus jobs on top.
//!
//! - nodes become kubelet targets through the canonical `kubernetes-nodes` job
//!   (`scheme: https`, `metrics_path: /metrics/resource`, token and TLS options);
//! - annotated pods become targets through the canonical `kubernetes-pods`
//!   relabel_configs, and follow watch events (new IP, deletion);
//! - API errors are counted and the last targets kept while the watch recovers;
//! - the client follows `kubeconfig_file` (with `own_namespace`) or `api_server` with
//!   `bearer_token_file`;
//! - EndpointSlices give the live fleet members.
//!
//! Every address is on 127.0.0.0/8: discovered targets are really scraped.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;
use tachyscale_scraper::config::RawScraperConfig;
use tachyscale_scraper::discovery::LabelMap;
use tachyscale_scraper::ScraperSettings;
use tachyscale_testkit::fake_apiserver::{FakeApiServer, Kind};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// Prometheus' canonical `kubernetes-pods` relabel_configs, indented to sit under a job's
/// `relabel_configs:` key.
fn canonical_pod_relabel() -> String {
    include_str!("../testdata/kubernetes-pods-relabel.yml")
        .lines()
        .map(|line| format!("\n      {line}"))
        .collect()
}

fn node(name: &str, addresses: &[(&str, &str)], zone: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": format!("uid-{name}"),
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": zone
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
        },
        "spec": {"providerID": format!("kind://docker/kind/{name}")},
        "status": {
            "addresses": addresses.iter().map(|(t, a)| json!({"type": t, "address": a})).collect::<Vec<_>>(),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn pod(namespace: &str, name: &str, ip: Option<&str>, annotations: Value, labels: Value) -> Value {
    let mut status = json!({
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}]
    });
    match ip {
        Some(ip) => status["podIP"] = json!(ip),
        None => status = json!({"phase": "Pending"}),
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("uid-{namespace}-{name}"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{name}-rs"), "uid": "rs", "controller": true}]
        },
        "spec": {
            "nodeName": "worker-1",
            "containers": [{"name": "app", "image": "shop/app:1", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}
            ]}]
        },
        "status": status
    })
}

fn scrape_annotations(port: u16) -> Value {
    json!({
        "prometheus.io/scrape": "true",
        "prometheus.io/port": port.to_string(),
        "prometheus.io/path": "/metrics"
    })
}

/// The job's active targets: URL, final labels and discovered labels, sorted by URL.
fn active(scraper: &ScraperHandle, job: &str) -> Vec<(String, BTreeMap<String, String>, LabelMap)> {
    let jobs = scraper.targets.jobs.read();
    let mut out: Vec<_> = jobs
        .get(job)
        .map(|j| j.active.clone())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let labels = a
                .target
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.to_string()))
                .collect();
            (
                a.target.url.to_string(),
                labels,
                a.target.discovered.clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn urls(scraper: &ScraperHandle, job: &str) -> Vec<String> {
    active(scraper, job)
        .into_iter()
        .map(|(url, ..)| url)
        .collect()
}

async fn wait_for_urls(scraper: &ScraperHandle, job: &str, expected: &[&str]) {
    let what = format!("{job} targets {expected:?}");
    wait_until(&what, WAIT, || async { urls(scraper, job) == expected }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_become_kubelet_targets_through_the_canonical_node_job() {
    let api = FakeApiServer::start().await;
    api.apply(
        Kind::Node,
        node(
            "worker-1",
            &[("Hostname", "worker-1"), ("InternalIP", "127.0.0.11")],
            "zone-a",
        ),
    );
    api.apply(
        Kind::Node,
        node(
            "worker-2",
            &[("Hostname", "worker-2"), ("ExternalIP", "127.0.0.12")],
            "zone-b",
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "not-a-real-token").unwrap();
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:
  - job_name: kubernetes-nodes
    scheme: https
    metrics_path: /metrics/resource
    bearer_token_file: {token}
    tls_config:
      insecure_skip_verify: true
    kubernetes_sd_configs:
      - role: node
        api_server: {api}
    relabel_configs:
      - action: labelmap
        regex: __meta_kubernetes_node_label_(.+)
"#,
        token = token.display(),
        api = api.url()
    ))
    .await;

    wait_for_urls(
        &scraper,
        "kubernetes-nodes",
        &[
            "https://127.0.0.11:10250/metrics/resource",
            "https://127.0.0.12:10250/metrics/resource",
        ],
    )
    .await;
    let targets = active(&scraper, "kubernetes-nodes");
    let (_, labels, discovered) = &targets[0];
    let expected: BTreeMap<String, String> = [
        ("job", "kubernetes-nodes"),
        ("instance", "worker-1"),
        ("kubernetes_io_hostname", "worker-1"),
        ("kubernetes_io_os", "linux"),
        ("topology_kubernetes_io_zone", "zone-a"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels, &expected);
    assert_eq!(discovered["__meta_kubernetes_node_name"], "worker-1");
    assert_eq!(
        discovered["__meta_kubernetes_node_provider_id"],
        "kind://docker/kind/worker-1"
    );
    assert_eq!(
        discovered["__meta_kubernetes_node_address_InternalIP"],
        "127.0.0.11"
    );
    assert_eq!(
        discovered["__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl"],
        "true"
    );
    assert_eq!(targets[1].1["instance"], "worker-2", "ExternalIP fallback");

    // Watch events: a relabelled node changes its target, a deleted one goes away.
    api.apply(
        Kind::Node,
        node(
            "worker-1",
            &[("Hostname", "worker-1"), ("InternalIP", "127.0.0.11")],
            "zone-c",
        ),
    );
    wait_until("zone label follows the node", WAIT, || async {
        active(&scraper, "kubernetes-nodes")
            .first()
            .is_some_and(|t| t.1["topology_kubernetes_io_zone"] == "zone-c")
    })
    .await;
    api.delete(Kind::Node, "", "worker-2");
    wait_for_urls(
        &scraper,
        "kubernetes-nodes",
        &["https://127.0.0.11:10250/metrics/resource"],
    )
    .await;
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/nodes?") && r.contains("watch=true")),
        "{requests:?}"
    );
    scraper.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_pods_follow_watch_events_through_the_canonical_pod_job() {
    let exporter = Exporter::start("# TYPE app_up gauge\napp_up 1\n").await;
    let port = exporter.addr.port();
    let api = FakeApiServer::start().await;
    let app = json!({"app": "shop-api"});
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "api-0",
            Some("127.0.0.1"),
            scrape_annotations(port),
            app.clone(),
        ),
    );
    // Not annotated: discovered, then dropped by the keep rule.
    api.apply(
        Kind::Pod,
        pod("shop", "batch-0", Some("127.0.0.21"), json!({}), json!({})),
    );
    // No IP yet, finished, excluded by the label selector, or in another namespace: none
    // of these is even discovered.
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "pending-0",
            None,
            scrape_annotations(port),
            json!({}),
        ),
    );
    let mut done = pod(
        "shop",
        "job-0",
        Some("127.0.0.22"),
        scrape_annotations(port),
        json!({}),
    );
    done["status"]["phase"] = json!("Succeeded");
    api.apply(Kind::Pod, done);
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "db-0",
            Some("127.0.0.23"),
            scrape_annotations(port),
            json!({"tier": "db"}),
        ),
    );
    api.apply(
        Kind::Pod,
        pod(
            "other",
            "api-0",
            Some("127.0.0.24"),
            scrape_annotations(port),
            app.clone(),
        ),
    );
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:
  - job_name: kubernetes-pods
    kubernetes_sd_configs:
      - role: pod
        api_server: {api}
        namespaces: {{names: [shop]}}
        selectors: [{{role: pod, label: "tier!=db"}}]
    relabel_configs:{canonical}
"#,
        api = api.url(),
        canonical = canonical_pod_relabel()
    ))
    .await;

    let first = format!("http://127.0.0.1:{port}/metrics");
    wait_for_urls(&scraper, "kubernetes-pods", &[&first]).await;
    let targets = active(&scraper, "kubernetes-pods");
    let labels = &targets[0].1;
    assert_eq!(labels["kubernetes_namespace"], "shop");
    assert_eq!(labels["kubernetes_pod_name"], "api-0");
    assert_eq!(labels["app"], "shop-api");
    assert_eq!(labels["instance"], format!("127.0.0.1:{port}"));
    {
        let jobs = scraper.targets.jobs.read();
        let dropped = &jobs["kubernetes-pods"].dropped;
        // batch-0's two container ports; nothing from the other pods.
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(dropped
            .iter()
            .all(|d| d["__meta_kubernetes_pod_name"] == "batch-0"));
    }
    wait_until("the pod is scraped", WAIT, || async {
        exporter.requests() > 0
    })
    .await;
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/api/v1/namespaces/shop/pods?")
                && r.contains("labelSelector=tier%21%3Ddb")),
        "the selector goes to the API server: {requests:?}"
    );
    assert!(!requests.iter().any(|r| r.starts_with("/api/v1/pods")));

    // MODIFIED with a new IP: the target moves.
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "api-0",
            Some("127.0.0.2"),
            scrape_annotations(port),
            app.clone(),
        ),
    );
    let moved = format!("http://127.0.0.2:{port}/metrics");
    wait_for_urls(&scraper, "kubernetes-pods", &[&moved]).await;

    // ADDED: a second annotated pod appears; DELETED: the first goes away.
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "api-1",
            Some("127.0.0.3"),
            scrape_annotations(port),
            app.clone(),
        ),
    );
    let second = format!("http://127.0.0.3:{port}/metrics");
    wait_for_urls(&scraper, "kubernetes-pods", &[&moved, &second]).await;
    api.delete(Kind::Pod, "shop", "api-0");
    wait_for_urls(&scraper, "kubernetes-pods", &[&second]).await;
    scraper.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_counted_and_the_last_targets_kept() {
    let api = FakeApiServer::start().await;
    api.apply(
        Kind::Node,
        node("worker-1", &[("InternalIP", "127.0.0.31")], "a"),
    );
    api.fail_next(1);
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:
  - job_name: nodes
    kubernetes_sd_configs: [{{role: node, api_server: "{api}"}}]
"#,
        api = api.url()
    ))
    .await;
    let first = "http://127.0.0.31:10250/metrics";
    // The first list fails; the watcher backs off and lists again.
    wait_for_urls(&scraper, "nodes", &[first]).await;
    let list_errors = r#"tachyscale_scraper_sd_errors_total{mechanism="kubernetes",reason="list"}"#;
    assert_eq!(scraper.metric(list_errors).await, 1.0);

    // The watch connection drops and the API answers errors for a while: the target stays,
    // and a node added meanwhile arrives once the watch resumes from its last version.
    api.fail_next(2);
    api.close_watches();
    api.apply(
        Kind::Node,
        node("worker-2", &[("InternalIP", "127.0.0.32")], "a"),
    );
    let watch_errors =
        r#"tachyscale_scraper_sd_errors_total{mechanism="kubernetes",reason="watch_start"}"#;
    wait_until("watch errors counted", WAIT, || async {
        scraper.metric(watch_errors).await >= 1.0
    })
    .await;
    assert_eq!(urls(&scraper, "nodes"), [first], "last good targets kept");
    wait_for_urls(
        &scraper,
        "nodes",
        &[first, "http://127.0.0.32:10250/metrics"],
    )
    .await;
    assert_eq!(scraper.metric(watch_errors).await, 2.0);
    scraper.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_own_namespace_and_bearer_token_reach_the_api() {
    let api = FakeApiServer::start().await;
    let annotated = json!({"prometheus.io/scrape": "true", "prometheus.io/port": "9100"});
    api.apply(
        Kind::Pod,
        pod(
            "shop",
            "a-0",
            Some("127.0.0.41"),
            annotated.clone(),
            json!({}),
        ),
    );
    api.apply(
        Kind::Pod,
        pod(
            "billing",
            "b-0",
            Some("127.0.0.42"),
            annotated.clone(),
            json!({}),
        ),
    );
    api.apply(
        Kind::Pod,
        pod("other", "c-0", Some("127.0.0.43"), annotated, json!({})),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            r#"apiVersion: v1
kind: Config
current-context: test
clusters:
  - name: fake
    cluster: {{server: "{api}"}}
contexts:
  - name: test
    context: {{cluster: fake, user: tester, namespace: shop}}
users:
  - name: tester
    user: {{token: kubeconfig-token}}
"#,
            api = api.url()
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    // Written by hand, newline included as `echo` leaves it: trimmed, as Prometheus does.
    std::fs::write(&token, "file-token\n").unwrap();
    let scraper = ScraperHandle::start(&format!(
        r#"
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: {kubeconfig}
        namespaces: {{own_namespace: true}}
      - role: pod
        api_server: {api}
        bearer_token_file: {token}
        namespaces: {{names: [billing]}}
    relabel_configs:{canonical}
"#,
        kubeconfig = kubeconfig.display(),
        token = token.display(),
        api = api.url(),
        canonical = canonical_pod_relabel()
    ))
    .await;
    wait_for_urls(
        &scraper,
        "pods",
        &[
            "http://127.0.0.41:9100/metrics",
            "http://127.0.0.42:9100/metrics",
        ],
    )
    .await;
    let mut seen: Vec<(String, String)> = api
        .requests()
        .into_iter()
        .zip(api.authorizations())
        .map(|(path, auth)| (path.split('?').next().unwrap().to_string(), auth))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            (
                "/api/v1/namespaces/billing/pods".to_string(),
                "Bearer file-token".to_string()
            ),
            (
                "/api/v1/namespaces/shop/pods".to_string(),
                "Bearer kubeconfig-token".to_string()
            ),
        ]
    );
    scraper.stop().await;
    api.stop().await;
}

fn slice(name: &str, service: &str, endpoints: &[(&str, bool)]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "tachyscale",
            "labels": {"kubernetes.io/service-name": service}
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 9202, "protocol": "TCP"}],
        "endpoints": endpoints.iter().enumerate().map(|(i, (pod, ready))| json!({
            "addresses": [format!("127.0.1.{i}")],
            "conditions": {"ready": ready, "serving": ready, "terminating": false},
            "targetRef": {"kind": "Pod", "namespace": "tachyscale", "name": pod}
        })).collect::<Vec<_>>()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_slices_give_the_live_fleet_members() {
    let api = FakeApiServer::start().await;
    api.apply(
        Kind::EndpointSlice,
        slice(
            "scrapers-a",
            "scrapers",
            &[("scraper-0", true), ("scraper-1", true)],
        ),
    );
    api.apply(
        Kind::EndpointSlice,
        slice("other-a", "other", &[("other-0", true)]),
    );
    let settings = tachyscale_config::parse::<RawScraperConfig, ScraperSettings>(&format!(
        r#"
fleet:
  self: scraper-0
  kubernetes: {{namespace: tachyscale, service: scrapers, port: 9202, api_server: "{api}"}}
"#,
        api = api.url()
    ))
    .unwrap();
    let registry = prometheus::Registry::new();
    let metrics = tachyscale_scraper::metrics::ScraperMetrics::new(&registry).unwrap();
    let stop = CancellationToken::new();
    let live = tachyscale_scraper::fleet::start(&settings.fleet, metrics.clone(), stop.clone());
    let wait_live = |expected: &'static [&'static str]| {
        let live = live.clone();
        async move {
            let what = format!("live members {expected:?}");
            wait_until(&what, WAIT, || {
                let live = live.clone();
                async move { *live.borrow() == expected }
            })
            .await;
        }
    };

    wait_live(&["scraper-0", "scraper-1"]).await;
    // A second slice of the same Service (large Services are split) adds a not-ready pod.
    api.apply(
        Kind::EndpointSlice,
        slice("scrapers-b", "scrapers", &[("scraper-2", false)]),
    );
    wait_until("down gauge", WAIT, || async {
        metrics.fleet_members.with_label_values(&["down"]).get() == 1
    })
    .await;
    assert_eq!(*live.borrow(), ["scraper-0", "scraper-1"]);

    // scraper-1 fails its readiness probe; scraper-2 passes it.
    api.apply(
        Kind::EndpointSlice,
        slice(
            "scrapers-a",
            "scrapers",
            &[("scraper-0", true), ("scraper-1", false)],
        ),
    );
    wait_live(&["scraper-0"]).await;
    api.apply(
        Kind::EndpointSlice,
        slice("scrapers-b", "scrapers", &[("scraper-2", true)]),
    );
    wait_live(&["scraper-0", "scraper-2"]).await;
    api.delete(Kind::EndpointSlice, "tachyscale", "scrapers-b");
    wait_live(&["scraper-0"]).await;
    assert_eq!(metrics.fleet_members.with_label_values(&["live"]).get(), 1);
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r
            .starts_with("/apis/discovery.k8s.io/v1/namespaces/tachyscale/endpointslices?")
            && r.contains("labelSelector=kubernetes.io%2Fservice-name%3Dscrapers")),
        "{requests:?}"
    );
    stop.cancel();
    api.stop().await;
}
