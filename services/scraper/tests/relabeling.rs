//! Relabeling end to end, against a loopback exporter and the store: every action, in
//! `relabel_configs` (target labels) or `metric_relabel_configs` (series), and the
//! `honor_labels: false` renaming of conflicting labels.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;

const BODY: &str = r#"# TYPE http_requests_total counter
http_requests_total{code="200",path="/a",pod_template_hash="abc",src="x",dst="x"} 10
http_requests_total{code="500",path="/b",pod_template_hash="abc",src="x",dst="y"} 2
# TYPE go_goroutines gauge
go_goroutines 12
# TYPE junk_metric gauge
junk_metric 1
# TYPE conflict gauge
conflict{job="exposed",instance="other",src="p",dst="q"} 5
# TYPE tenant_info gauge
tenant_info{tenant="Acme",region="EU-West",src="p",dst="q"} 1
"#;

async fn labels_of(base: &str, promql: &str) -> Vec<BTreeMap<String, String>> {
    instant(base, promql, None)
        .await
        .iter()
        .map(|s| serde_json::from_value(s["metric"].clone()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_relabel_action_applies_end_to_end() {
    let exporter = Exporter::start(BODY).await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
        r#"
scrape_configs:
  - job_name: relabel
    static_configs:
      - targets: ["{addr}"]
        labels: {{__meta_team: payments, __meta_zone: "Zone-A", __tmp_cluster: prod}}
    relabel_configs:
      # replace: instance from the address' port
      - source_labels: [__address__]
        regex: '.*:(\d+)'
        target_label: port
      # labelmap: __meta_team -> team
      - regex: '__meta_(team)'
        action: labelmap
      # lowercase / uppercase
      - source_labels: [__meta_zone]
        target_label: zone
        action: lowercase
      - source_labels: [__tmp_cluster]
        target_label: cluster
        action: uppercase
      # hashmod: a stable shard number
      - source_labels: [__address__]
        modulus: 4
        target_label: shard
        action: hashmod
      # keep: the target matches
      - source_labels: [__meta_team]
        regex: payments
        action: keep
      # drop: nothing matches, nothing dropped
      - source_labels: [__meta_team]
        regex: billing
        action: drop
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
      - source_labels: [__name__]
        regex: 'junk_.*'
        action: drop
      - source_labels: [__name__]
        regex: '(http_requests_total|conflict|tenant_info)'
        action: keep
      - regex: pod_template_hash
        action: labeldrop
      # dropequal: series whose src equals dst (absent labels count as "" and are equal
      # too, as in Prometheus)
      - source_labels: [src]
        target_label: dst
        action: dropequal
      - regex: '__name__|job|instance|port|team|zone|cluster|shard|code|path|src|dst|exported_.*|tenant|region'
        action: labelkeep
      - source_labels: [tenant]
        target_label: tenant
        action: lowercase
      - source_labels: [region]
        target_label: region
        action: uppercase
      - source_labels: [code]
        regex: '5..'
        target_label: class
        replacement: server_error
"#,
        addr = exporter.addr
    )
    )
    .await;
    let base = format!("http://{}", store.addr);
    wait_until("scraped", Duration::from_secs(20), || async {
        !instant(&base, "http_requests_total", None).await.is_empty()
    })
    .await;

    let port = exporter.addr.port().to_string();
    let shard = tachyscale_relabel::hashmod(&exporter.addr.to_string(), 4).to_string();
    let requests = labels_of(&base, "http_requests_total").await;
    // dropequal removed the series whose src equals dst; labeldrop removed the hash.
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    let expect = [
        ("__name__", "http_requests_total"),
        ("job", "relabel"),
        ("instance", &exporter.addr.to_string()),
        ("port", &port),
        ("team", "payments"),
        ("zone", "zone-a"),
        ("cluster", "PROD"),
        ("shard", &shard),
        ("code", "500"),
        ("path", "/b"),
        ("src", "x"),
        ("dst", "y"),
        ("class", "server_error"),
    ];
    let expected: BTreeMap<String, String> = expect
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(r, &expected);

    assert!(
        instant(&base, "go_goroutines", None).await.is_empty(),
        "drop"
    );
    assert!(instant(&base, "junk_metric", None).await.is_empty(), "drop");

    // honor_labels: false keeps the target's job/instance and renames the exposed ones.
    let conflict = &labels_of(&base, "conflict").await[0];
    assert_eq!(conflict["job"], "relabel");
    assert_eq!(conflict["exported_job"], "exposed");
    assert_eq!(conflict["exported_instance"], "other");

    let tenant = &labels_of(&base, "tenant_info").await[0];
    assert_eq!(tenant["tenant"], "acme");
    assert_eq!(tenant["region"], "EU-WEST");
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepequal_and_a_dropping_target_rule_are_honoured() {
    let exporter = Exporter::start("m{a=\"1\",b=\"1\"} 1\nm{a=\"1\",b=\"2\"} 2\n").await;
    let dropped = Exporter::start("m 9\n").await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
scrape_configs:
  - job_name: eq
    static_configs:
      - targets: ["{keep}"]
      - targets: ["{drop}"]
        labels: {{__meta_skip: "true"}}
    relabel_configs:
      - source_labels: [__meta_skip]
        regex: "true"
        action: drop
    metric_relabel_configs:
      - source_labels: [a]
        target_label: b
        action: keepequal
"#,
            keep = exporter.addr,
            drop = dropped.addr
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    wait_until("scraped", Duration::from_secs(20), || async {
        !instant(&base, "m", None).await.is_empty()
    })
    .await;
    let series = labels_of(&base, "m").await;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0]["b"], "1");
    assert_eq!(dropped.requests(), 0, "a dropped target is never scraped");
    let body = api_get(&format!("http://{}", scraper.addr), "/api/v1/targets", &[]).await;
    assert_eq!(body["data"]["droppedTargets"].as_array().unwrap().len(), 1);
    scraper.stop().await;
    store.stop().await;
}
