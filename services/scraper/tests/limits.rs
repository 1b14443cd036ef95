//! Per-target limits, format negotiation and isolation, against loopback exporters and the
//! store: a target over `sample_limit` or `body_size_limit` is reported down with nothing
//! of that scrape stored; an OpenMetrics answer is parsed as OpenMetrics; a target that
//! hangs does not delay another.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;

async fn start(store: &StoreHandle, job_options: &str, targets: &[&Exporter]) -> ScraperHandle {
    let targets: Vec<String> = targets.iter().map(|e| format!("\"{}\"", e.addr)).collect();
    ScraperHandle::start_into(
        store,
        &format!(
            r#"
scrape_configs:
  - job_name: limited
{job_options}
    static_configs: [{{targets: [{targets}]}}]
"#,
            targets = targets.join(", ")
        ),
    )
    .await
}

async fn last_error(scraper: &ScraperHandle) -> String {
    let body = api_get(&format!("http://{}", scraper.addr), "/api/v1/targets", &[]).await;
    body["data"]["activeTargets"][0]["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_over_its_sample_limit_is_down_and_stores_nothing() {
    let exporter = Exporter::start("a 1\nb 2\n").await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = start(&store, "    sample_limit: 2", &[&exporter]).await;
    let base = format!("http://{}", store.addr);
    wait_until("under the limit", Duration::from_secs(20), || async {
        single_value(&base, "b").await == Some(2.0)
    })
    .await;
    exporter.set_body("a 1\nb 2\nc 3\n");
    wait_until("up = 0", Duration::from_secs(20), || async {
        single_value(&base, "up").await == Some(0.0)
    })
    .await;
    assert!(instant(&base, "c", None).await.is_empty());
    assert!(
        instant(&base, "a", None).await.is_empty(),
        "stale after the failed scrape"
    );
    assert!(last_error(&scraper).await.contains("sample limit of 2"));
    assert!(
        scraper
            .metric(
                r#"tachyscale_scraper_scrape_errors_total{job="limited",reason="sample_limit"}"#
            )
            .await
            >= 1.0
    );
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_its_size_limit_is_refused() {
    let big = (0..200)
        .map(|i| format!("metric_{i} {i}\n"))
        .collect::<String>();
    let exporter = Exporter::start(&big).await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = start(&store, "    body_size_limit: 1KB", &[&exporter]).await;
    let base = format!("http://{}", store.addr);
    wait_until("up = 0", Duration::from_secs(20), || async {
        single_value(&base, "up").await == Some(0.0)
    })
    .await;
    assert!(instant(&base, "metric_1", None).await.is_empty());
    assert!(
        last_error(&scraper).await.contains("1024 bytes"),
        "{}",
        last_error(&scraper).await
    );
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_is_asked_for_and_parsed_as_such() {
    let exporter = Exporter::start("").await;
    exporter.set(Exposition {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        body: "# TYPE jobs counter\njobs_total{queue=\"a\"} 7 1700000000.5\n# EOF\n".into(),
        delay: Duration::ZERO,
    });
    let store = StoreHandle::start(Default::default()).await;
    let scraper = start(&store, "    honor_timestamps: false", &[&exporter]).await;
    let base = format!("http://{}", store.addr);
    wait_until(
        "OpenMetrics sample stored",
        Duration::from_secs(20),
        || async { single_value(&base, r#"jobs_total{queue="a"}"#).await == Some(7.0) },
    )
    .await;
    assert!(exporter
        .last_accept()
        .starts_with("application/openmetrics-text;version=1.0.0"));
    // The same body without `# EOF` is invalid OpenMetrics: the scrape fails.
    exporter.set(Exposition {
        status: 200,
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        body: "# TYPE jobs counter\njobs_total{queue=\"a\"} 7\n".into(),
        delay: Duration::ZERO,
    });
    wait_until("up = 0", Duration::from_secs(20), || async {
        single_value(&base, "up").await == Some(0.0)
    })
    .await;
    assert!(
        last_error(&scraper).await.contains("EOF"),
        "{}",
        last_error(&scraper).await
    );
    scraper.stop().await;
    store.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_does_not_delay_another() {
    let slow = Exporter::start("slow 1\n").await;
    slow.set_delay(Duration::from_secs(30));
    let fast = Exporter::start("fast 1\n").await;
    let store = StoreHandle::start(Default::default()).await;
    let scraper = start(&store, "    scrape_timeout: 500ms", &[&slow, &fast]).await;
    let base = format!("http://{}", store.addr);
    let fast_up = format!(r#"count_over_time(up{{instance="{}"}}[6s])"#, fast.addr);
    wait_until(
        "fast target scraped every second",
        Duration::from_secs(30),
        || async {
            single_value(&base, &fast_up)
                .await
                .is_some_and(|n| n >= 5.0)
        },
    )
    .await;
    let slow_up = format!(r#"up{{instance="{}"}}"#, slow.addr);
    assert_eq!(single_value(&base, &slow_up).await, Some(0.0));
    assert!(
        scraper
            .metric(r#"tachyscale_scraper_scrape_errors_total{job="limited",reason="timeout"}"#)
            .await
            >= 1.0
    );
    scraper.stop().await;
    store.stop().await;
}
