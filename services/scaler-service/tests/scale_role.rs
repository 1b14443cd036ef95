//! The `scale` role as it runs in production, on the wall clock: policy tasks ticking every
//! second against a simulated cluster, a real store as the metric source over its query
//! API, and the HTTP surface (`/readyz`, `/metrics`, `/v1/decisions`,
//! `/v1/recommendations`, `/v1/explain`) read with an HTTP client.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use tachyscale_cluster::simulated::SimulatedCluster;
use tachyscale_cluster::{Clock as _, NodeInfo, SystemClock};
use tachyscale_scaler_service::config::ScalerSettings;
use tachyscale_scaler_service::role::Scaler;
use tachyscale_testkit::{http, wait_until, StoreHandle};
use tokio_util::sync::CancellationToken;

use support::{template, workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_tick_every_second_and_the_http_surface_shows_them() {
    let store = StoreHandle::start(Default::default()).await;
    let yaml = format!(
        r#"
metrics_source: {{query_url: "{}", max_age: 10s}}
policies:
  - name: web
    namespace: shop
    hpa:
      scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
      minReplicas: 1
      maxReplicas: 10
      metrics:
        - type: External
          external:
            metric: {{name: jobs_waiting}}
            target: {{type: AverageValue, averageValue: "10"}}
  - name: dns
    namespace: shop
    cpa:
      scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: dns}}
      params: {{linear: {{nodesPerReplica: 1, min: 1}}}}
"#,
        store.url("")
    );
    let settings = ScalerSettings::parse(&yaml).unwrap();
    let cluster = Arc::new(SimulatedCluster::new(Arc::new(SystemClock)));
    cluster.add_running_workload(workload("web"), template("web", 500), 1);
    cluster.add_running_workload(workload("dns"), template("dns", 100), 1);
    for name in ["n1", "n2", "n3"] {
        cluster.add_node(NodeInfo {
            name: name.into(),
            labels: Default::default(),
            allocatable: [("cpu".to_owned(), 2_000)].into_iter().collect(),
            ready: true,
            unschedulable: false,
            created_ms: None,
            provider_id: None,
        });
    }
    let scaler = Scaler::new(settings, prometheus::Registry::new()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(scaler.run(
        listener,
        cluster.clone(),
        Arc::new(SystemClock),
        None,
        shutdown.clone(),
    ));

    // 50 jobs waiting, 10 per replica: 1 → 4 (without behavior the scale-up limit is
    // max(2 × current, 4)), then 4 → 5 on the next tick.
    wait_until("the web policy scales up", Duration::from_secs(60), || {
        let store = &store;
        let cluster = cluster.clone();
        async move {
            support::write_samples(
                store,
                "jobs_waiting",
                &[(&[("namespace", "shop")], 50.0)],
                SystemClock.now_ms(),
            )
            .await;
            cluster.replicas(&workload("web")) == Some(5)
        }
    })
    .await;
    wait_until(
        "the dns policy follows the 3 nodes",
        Duration::from_secs(10),
        || {
            let cluster = cluster.clone();
            async move { cluster.replicas(&workload("dns")) == Some(3) }
        },
    )
    .await;

    let ready = http().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = tachyscale_testkit::get_text(&format!("{base}/metrics")).await;
    assert!(
        metrics.contains("tachyscale_scaler_desired_replicas{policy=\"dns\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("tachyscale_scaler_scale_changes_total{applied=\"true\",direction=\"up\",engine=\"hpa\"}"), "{metrics}");
    assert!(metrics.contains("tachyscale_scaler_decision_duration_seconds_bucket{engine=\"hpa\""));
    let decisions: serde_json::Value = http()
        .get(format!("{base}/v1/decisions?policy=web"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The first ticks may come before the first sample: they hold (and say so). The
    // changes follow.
    let scales: Vec<&serde_json::Value> = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["kind"] == "scale")
        .collect();
    let first = scales[0];
    assert_eq!(first["desiredReplicas"], 4, "{decisions}");
    assert_eq!(
        first["reason"],
        "ScaleUpLimit: the desired replica count is increasing faster than the maximum scale rate"
    );
    assert_eq!(scales[1]["desiredReplicas"], 5, "{decisions}");
    assert_eq!(first["applied"], true);
    assert_eq!(first["kind"], "scale");
    assert!(
        first["explanation"]["observations"][0]["external"]["values"].is_array(),
        "{first}"
    );

    let example = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/explain/cpa.json"),
    )
    .unwrap();
    let explained = http()
        .post(format!("{base}/v1/explain/cpa"))
        .body(example)
        .send()
        .await
        .unwrap();
    assert_eq!(explained.status(), 200);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
