//! The external metrics API as the Kubernetes side sees it: `kubectl get --raw` (Debian's
//! kubernetes-client) with a kubeconfig pointing at the store's HTTPS port, and `curl`
//! presenting the API server's front-proxy certificate with `X-Remote-*` headers.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use support::{one_sample as series, remote_write};
use tachyscale_proto::prometheus::WriteRequest;
use tachyscale_store::StoreSettings;
use tachyscale_testkit::certs::{PemDir, TestCa};
use tachyscale_testkit::{find_binary, StoreHandle};

const HPA_USER: &str = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";

struct Pki {
    dir: PemDir,
    server_ca: PathBuf,
    /// Signed by the client CA: user alice in group hpa-readers.
    alice: (PathBuf, PathBuf),
    /// Signed by the client CA, but in no allowed group.
    intruder: (PathBuf, PathBuf),
    /// The API server's front-proxy certificate.
    front_proxy: (PathBuf, PathBuf),
    /// Signed by the front-proxy CA with a CN that is not allowed.
    not_the_proxy: (PathBuf, PathBuf),
    /// Signed by a CA the store does not know.
    stranger: (PathBuf, PathBuf),
}

fn pki() -> (Pki, String) {
    let dir = PemDir::default();
    let server_ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let front_proxy_ca = TestCa::new("front-proxy CA");
    let other_ca = TestCa::new("unknown CA");
    let (server_cert, server_key) = dir.identity("server", &server_ca.server());
    let pki = Pki {
        server_ca: dir.write("server-ca.crt", &server_ca.cert_pem()),
        alice: dir.identity("alice", &client_ca.client("alice", &["hpa-readers"])),
        intruder: dir.identity("intruder", &client_ca.client("intruder", &["nobody"])),
        front_proxy: dir.identity(
            "front-proxy",
            &front_proxy_ca.client("front-proxy-client", &[]),
        ),
        not_the_proxy: dir.identity("not-proxy", &front_proxy_ca.client("mallory", &[])),
        stranger: dir.identity("stranger", &other_ca.client("alice", &["hpa-readers"])),
        dir,
    };
    let client_ca_file = pki.dir.write("client-ca.crt", &client_ca.cert_pem());
    let front_proxy_ca_file = pki
        .dir
        .write("front-proxy-ca.crt", &front_proxy_ca.cert_pem());
    let config = format!(
        r#"
https:
  listen: 127.0.0.1:6443
  cert_file: {server_cert}
  key_file: {server_key}
  client_ca_file: {client_ca}
  requestheader:
    client_ca_file: {front_proxy_ca}
    allowed_names: [front-proxy-client]
external_metrics:
  allowed_users: ["{HPA_USER}"]
  allowed_groups: [hpa-readers]
  rules:
    - name: queue_depth
      query: 'sum by (queue) (queue_messages{{<<.LabelMatchers>>}})'
    - series_pattern: '(.+)_pending'
      rename: '${{1}}_backlog'
      query: 'sum(<<.Series>>{{<<.LabelMatchers>>}})'
      namespaced: false
      window: 1m
"#,
        server_cert = server_cert.display(),
        server_key = server_key.display(),
        client_ca = client_ca_file.display(),
        front_proxy_ca = front_proxy_ca_file.display(),
    );
    (pki, config)
}

async fn load_data(store: &StoreHandle) {
    let now = tachyscale_store::api::now_ms();
    let request = WriteRequest {
        timeseries: vec![
            series(
                "queue_messages",
                &[("namespace", "shop"), ("queue", "orders"), ("env", "prod")],
                1.5,
                now,
            ),
            series(
                "queue_messages",
                &[("namespace", "shop"), ("queue", "billing"), ("env", "qa")],
                2000.0,
                now,
            ),
            series(
                "queue_messages",
                &[("namespace", "other"), ("queue", "orders"), ("env", "prod")],
                7.0,
                now,
            ),
            series("jobs_pending", &[("queue", "a")], 3.0, now),
            series(
                "jobs_pending",
                &[("queue", "b"), ("canary", "yes")],
                0.25,
                now,
            ),
        ],
    };
    let (status, body) = remote_write(&store.url("/api/v1/write"), &request).await;
    assert_eq!(status, 204, "{body}");
}

fn kubeconfig(pki: &Pki, server: &str, client: Option<&(PathBuf, PathBuf)>) -> PathBuf {
    let user = match client {
        Some((cert, key)) => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        ),
        // Without any credentials kubectl prompts for a password; a bearer token is what
        // an unauthenticated client would bring, and the store does not accept tokens.
        None => "    token: not-checked-by-anyone\n".to_string(),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: store\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: u\n  user:\n{user}contexts:\n- name: c\n  context:\n    cluster: store\n    user: u\ncurrent-context: c\n",
        ca = pki.server_ca.display()
    );
    let name = format!(
        "kubeconfig-{}",
        client.map_or("anonymous".to_string(), |c| {
            c.0.file_stem().unwrap().to_string_lossy().to_string()
        })
    );
    pki.dir.write(&name, &text)
}

async fn kubectl(config: &Path, raw_path: &str) -> Output {
    tokio::process::Command::new(find_binary("kubectl", "KUBECTL"))
        .arg("--kubeconfig")
        .arg(config)
        .args(["--request-timeout", "10s", "get", "--raw", raw_path])
        .output()
        .await
        .unwrap()
}

async fn kubectl_json(config: &Path, raw_path: &str) -> Value {
    let out = kubectl(config, raw_path).await;
    assert!(
        out.status.success(),
        "kubectl get --raw {raw_path} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn kubectl_error(config: &Path, raw_path: &str) -> String {
    let out = kubectl(config, raw_path).await;
    assert!(
        !out.status.success(),
        "kubectl get --raw {raw_path} succeeded"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Values and labels of an ExternalMetricValueList, sorted; timestamps checked for shape.
fn items(list: &Value) -> Vec<(String, Value, String, Option<i64>)> {
    assert_eq!(list["kind"], "ExternalMetricValueList", "{list}");
    assert_eq!(list["apiVersion"], "external.metrics.k8s.io/v1beta1");
    let mut out: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let ts = item["timestamp"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
            assert!(ts.ends_with('Z'), "{ts}");
            (
                item["metricName"].as_str().unwrap().to_string(),
                item["metricLabels"].clone(),
                item["value"].as_str().unwrap().to_string(),
                item["window"].as_i64(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

const BASE: &str = "/apis/external.metrics.k8s.io/v1beta1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_discovery_and_metrics_with_selectors() {
    let (pki, config) = pki();
    let store = StoreHandle::start_with(StoreSettings::from_yaml(&config).unwrap()).await;
    load_data(&store).await;
    let server = format!("https://{}", store.https_addr.unwrap());
    let alice = kubeconfig(&pki, &server, Some(&pki.alice));

    assert_eq!(
        kubectl_json(&alice, "/apis").await,
        json!({"kind":"APIGroupList","apiVersion":"v1","groups":[{"kind":"APIGroup","apiVersion":"v1","name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}}]})
    );
    assert_eq!(
        kubectl_json(&alice, "/apis/external.metrics.k8s.io").await,
        json!({"kind":"APIGroup","apiVersion":"v1","name":"external.metrics.k8s.io","versions":[{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}})
    );
    assert_eq!(
        kubectl_json(&alice, BASE).await,
        json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"external.metrics.k8s.io/v1beta1","resources":[
            {"name":"jobs_backlog","singularName":"","namespaced":false,"kind":"ExternalMetricValueList","verbs":["get"]},
            {"name":"queue_depth","singularName":"","namespaced":true,"kind":"ExternalMetricValueList","verbs":["get"]}
        ]})
    );

    let all = kubectl_json(&alice, &format!("{BASE}/namespaces/shop/queue_depth")).await;
    assert_eq!(
        items(&all),
        vec![
            (
                "queue_depth".into(),
                json!({"queue":"orders"}),
                "1500m".into(),
                None
            ),
            (
                "queue_depth".into(),
                json!({"queue":"billing"}),
                "2k".into(),
                None
            ),
        ]
    );
    // Each selector form of the Kubernetes grammar, URL-encoded as the HPA sends it.
    let cases = [
        ("env%3Dprod", vec!["1500m"]),
        ("env%3D%3Dqa", vec!["2k"]),
        ("env%21%3Dprod", vec!["2k"]),
        ("env%20in%20(prod%2Cstaging)", vec!["1500m"]),
        ("env%20notin%20(prod)", vec!["2k"]),
        ("env", vec!["1500m", "2k"]),
        ("%21env", vec![]),
        ("queue%3Dorders%2Cenv%3Dprod", vec!["1500m"]),
    ];
    for (selector, want) in cases {
        let list = kubectl_json(
            &alice,
            &format!("{BASE}/namespaces/shop/queue_depth?labelSelector={selector}"),
        )
        .await;
        let got: Vec<String> = items(&list).into_iter().map(|i| i.2).collect();
        assert_eq!(got, want, "labelSelector={selector}");
    }
    // The namespace scopes namespaced rules only.
    let other = kubectl_json(&alice, &format!("{BASE}/namespaces/other/queue_depth")).await;
    assert_eq!(items(&other)[0].2, "7");
    let backlog = kubectl_json(&alice, &format!("{BASE}/namespaces/anything/jobs_backlog")).await;
    assert_eq!(
        items(&backlog),
        vec![("jobs_backlog".into(), json!({}), "3250m".into(), Some(60))]
    );
    let backlog = kubectl_json(
        &alice,
        &format!("{BASE}/namespaces/x/jobs_backlog?labelSelector=%21canary"),
    )
    .await;
    assert_eq!(items(&backlog)[0].2, "3");

    // Errors are Status objects kubectl reports.
    let e = kubectl_error(&alice, &format!("{BASE}/namespaces/shop/nope")).await;
    assert!(
        e.contains("NotFound") && e.contains("the server could not find the metric nope"),
        "{e}"
    );
    let e = kubectl_error(
        &alice,
        &format!("{BASE}/namespaces/shop/queue_depth?labelSelector=env%20in%20(prod"),
    )
    .await;
    assert!(
        e.contains("BadRequest") && e.contains("invalid labelSelector"),
        "{e}"
    );
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_client_certificates_are_refused() {
    let (pki, config) = pki();
    let store = StoreHandle::start_with(StoreSettings::from_yaml(&config).unwrap()).await;
    let server = format!("https://{}", store.https_addr.unwrap());
    let path = format!("{BASE}/namespaces/shop/queue_depth");

    let anonymous = kubeconfig(&pki, &server, None);
    let e = kubectl_error(&anonymous, &path).await;
    assert!(
        e.contains("You must be logged in") && e.contains("no client certificate"),
        "{e}"
    );
    let stranger = kubeconfig(&pki, &server, Some(&pki.stranger));
    // Refused in the TLS handshake; with TLS 1.3 the client learns it as an alert or EOF
    // on its first read, so kubectl's wording varies and the store's counter is checked.
    kubectl_error(&stranger, &path).await;
    let intruder = kubeconfig(&pki, &server, Some(&pki.intruder));
    let e = kubectl_error(&intruder, &path).await;
    assert!(e.contains("Forbidden") && e.contains("\"intruder\""), "{e}");

    let metrics = store.state.metrics().render(&store.state.head()).unwrap();
    for line in [
        "tachyscale_store_auth_failures_total{reason=\"no_certificate\"} 1",
        "tachyscale_store_auth_failures_total{reason=\"forbidden\"} 1",
        "tachyscale_store_tls_handshake_failures_total{listener=\"https\"}",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
    store.stop().await;
}

async fn curl(
    pki: &Pki,
    url: &str,
    identity: &(PathBuf, PathBuf),
    headers: &[&str],
) -> (u16, Value) {
    let mut command = tokio::process::Command::new(find_binary("curl", "CURL"));
    command
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(&pki.server_ca)
        .arg("--cert")
        .arg(&identity.0)
        .arg("--key")
        .arg(&identity.1);
    for h in headers {
        command.args(["-H", h]);
    }
    let out = command.arg(url).output().await.unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_proxy_headers_are_trusted_only_from_the_front_proxy_certificate() {
    let (pki, config) = pki();
    let store = StoreHandle::start_with(StoreSettings::from_yaml(&config).unwrap()).await;
    load_data(&store).await;
    let url = format!(
        "https://{}{BASE}/namespaces/shop/queue_depth?labelSelector=queue%3Dorders",
        store.https_addr.unwrap()
    );
    let hpa_headers = [
        "X-Remote-User: system:serviceaccount:kube-system:horizontal-pod-autoscaler",
        "X-Remote-Group: system:serviceaccounts",
    ];
    let (code, body) = curl(&pki, &url, &pki.front_proxy, &hpa_headers).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["items"][0]["value"], "1500m");

    let (code, body) = curl(&pki, &url, &pki.front_proxy, &[]).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (401, Some("Unauthorized")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("no user header"),
        "{body}"
    );

    let (code, body) = curl(&pki, &url, &pki.not_the_proxy, &hpa_headers).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("\"mallory\""),
        "{body}"
    );

    // An ordinary client certificate cannot borrow another identity through the headers.
    let (code, body) = curl(&pki, &url, &pki.intruder, &hpa_headers).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );

    assert_eq!(body["kind"], "Status");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["code"], 403);
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_are_served_without_a_restart() {
    let (pki, config) = pki();
    let config = config.replace(
        "  requestheader:",
        "  reload_interval: 100ms\n  requestheader:",
    );
    let store = StoreHandle::start_with(StoreSettings::from_yaml(&config).unwrap()).await;
    let url = format!("https://{}/apis", store.https_addr.unwrap());
    let (code, _) = curl(&pki, &url, &pki.alice, &[]).await;
    assert_eq!(code, 200);

    // A half-written rotation is refused and the old certificate keeps serving.
    pki.dir
        .write("server.key", "-----BEGIN PRIVATE KEY-----\ngarbage\n");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let (code, _) = curl(&pki, &url, &pki.alice, &[]).await;
    assert_eq!(code, 200);

    let new_ca = TestCa::new("rotated server CA");
    pki.dir.identity("server", &new_ca.server());
    let rotated = Pki {
        server_ca: pki.dir.write("rotated-ca.crt", &new_ca.cert_pem()),
        ..pki
    };
    tachyscale_testkit::wait_until(
        "the rotated certificate is served",
        std::time::Duration::from_secs(10),
        || {
            let url = url.clone();
            let rotated = &rotated;
            async move { try_curl(rotated, &url, &rotated.alice).await == Some(200) }
        },
    )
    .await;
    let metrics = store.state.metrics().render(&store.state.head()).unwrap();
    assert!(
        metrics.contains("tachyscale_store_tls_reloads_total{listener=\"https\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("tachyscale_store_tls_reloads_total{listener=\"https\",outcome=\"error\"}"),
        "{metrics}"
    );
    store.stop().await;
}

async fn try_curl(pki: &Pki, url: &str, identity: &(PathBuf, PathBuf)) -> Option<u16> {
    let out = tokio::process::Command::new(find_binary("curl", "CURL"))
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "5",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(&pki.server_ca)
        .arg("--cert")
        .arg(&identity.0)
        .arg("--key")
        .arg(&identity.1)
        .arg(url)
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&out.stdout).parse().ok()
}
