//! Staleness against real servers on loopback: a series that vanishes from a target, a
//! target that goes down, and a target removed from `file_sd` each end their series in the
//! store at once (a stale marker), instead of lingering for the 5 minute lookback.
//! Also covers `file_sd` reloading.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;

const BODY_ABC: &str = "# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n# TYPE c gauge\nc 3\n";
const BODY_AC: &str = "# TYPE a gauge\na 1\n# TYPE c gauge\nc 3\n";

async fn present(base: &str, promql: &str) -> bool {
    !instant(base, promql, None).await.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_series_down_targets_and_removed_targets_go_stale() {
    let exporter = Exporter::start(BODY_ABC).await;
    let store = StoreHandle::start(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let sd_file = dir.path().join("targets.json");
    std::fs::write(
        &sd_file,
        format!(r#"[{{"targets": ["{}"]}}]"#, exporter.addr),
    )
    .unwrap();
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
scrape_configs:
  - job_name: synthetic
    file_sd_configs: [{{files: ["{sd}"]}}]
"#,
            sd = sd_file.display()
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    let wait = Duration::from_secs(20);

    wait_until("b scraped", wait, || present(&base, "b")).await;
    assert_eq!(
        single_value(&base, r#"up{job="synthetic"}"#).await,
        Some(1.0)
    );

    // b disappears from the exposition: its next scrape writes a stale marker.
    exporter.set_body(BODY_AC);
    wait_until("b stale", wait, || async { !present(&base, "b").await }).await;
    assert!(present(&base, "a").await && present(&base, "c").await);

    // The target fails: up = 0 and every series it exposed is marked stale.
    exporter.set_status(500);
    wait_until("up = 0", wait, || async {
        single_value(&base, r#"up{job="synthetic"}"#).await == Some(0.0)
    })
    .await;
    assert!(!present(&base, "a").await && !present(&base, "c").await);
    assert_eq!(
        single_value(&base, r#"scrape_samples_scraped{job="synthetic"}"#).await,
        Some(0.0)
    );

    // It recovers: the series come back.
    exporter.set_status(200);
    wait_until("a back", wait, || present(&base, "a")).await;

    // The target leaves file_sd: its series and its report series end.
    std::fs::write(&sd_file, "[]").unwrap();
    wait_until("target removed", wait, || async {
        !present(&base, r#"up{job="synthetic"}"#).await
    })
    .await;
    assert!(!present(&base, "a").await);
    assert!(!present(&base, r#"scrape_duration_seconds{job="synthetic"}"#).await);
    assert!(scraper.scraped_urls().is_empty());
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_exposition_fails_the_whole_scrape_and_is_counted() {
    let exporter = Exporter::start("ok 1\n").await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
scrape_configs:
  - job_name: broken
    static_configs: [{{targets: ["{addr}"]}}]
"#,
            addr = exporter.addr
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    wait_until("ok scraped", Duration::from_secs(20), || {
        present(&base, "ok")
    })
    .await;
    // One bad line among good ones: nothing of this exposition is accepted.
    exporter.set_body("ok 1\nalso_ok 2\nbad{label=\"x} 3\n");
    wait_until("up = 0", Duration::from_secs(20), || async {
        single_value(&base, r#"up{job="broken"}"#).await == Some(0.0)
    })
    .await;
    assert!(!present(&base, "also_ok").await);
    assert!(!present(&base, "ok").await, "stale after the failed scrape");
    let failures = scraper
        .metric("tachyscale_scraper_scrapes_total{job=\"broken\",outcome=\"failure\"}")
        .await;
    assert!(failures >= 1.0);
    let body = api_get(&format!("http://{}", scraper.addr), "/api/v1/targets", &[]).await;
    let error = body["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("line 3"),
        "error should name the line: {error}"
    );
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_shutting_down_writes_no_stale_markers() {
    let exporter = Exporter::start(BODY_ABC).await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = ScraperHandle::start_into(
        &store,
        &format!(
            r#"
scrape_configs:
  - job_name: restart
    static_configs: [{{targets: ["{addr}"]}}]
"#,
            addr = exporter.addr
        ),
    )
    .await;
    let base = format!("http://{}", store.addr);
    wait_until("a scraped", Duration::from_secs(20), || present(&base, "a")).await;
    scraper.stop().await;
    // As in Prometheus, a restart is bridged by the lookback, not cut by markers.
    assert!(present(&base, "a").await);
    assert!(present(&base, r#"up{job="restart"}"#).await);
    store.stop().await;
}
