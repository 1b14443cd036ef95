//! The sender against a real Prometheus 2.42 remote-write receiver
//! (`--web.enable-remote-write-receiver`): what we send must be accepted and queryable as
//! sent. The test fails, rather than skips, when the binary is missing (`$PROMETHEUS_BIN`
//! or `prometheus` on PATH; Debian's package provides 2.42).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::*;

fn prometheus_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PROMETHEUS_BIN") {
        return PathBuf::from(bin);
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = Path::new(dir).join("prometheus");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("prometheus binary not found: install Debian's prometheus 2.42 or set PROMETHEUS_BIN");
}

/// A Prometheus process on a loopback port, killed when dropped (also when the test fails).
struct PrometheusProcess {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl PrometheusProcess {
    async fn start() -> PrometheusProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        // No scrape jobs: the only data is what the sender writes.
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = PrometheusProcess { addr, child, dir };
        let ready = process.url("/-/ready");
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ok = http
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "prometheus not ready after 30s:\n{}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        process
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant-query result as `(instance label, value)` pairs, sorted.
    async fn query(&self, query: &str) -> Vec<(String, String)> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(self.url("/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut out: Vec<(String, String)> = body["data"]["result"]
            .as_array()
            .map(|results| {
                results
                    .iter()
                    .map(|r| {
                        (
                            r["metric"]["instance"].as_str().unwrap_or("").to_string(),
                            r["value"][1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_accepts_and_serves_what_we_send() {
    let prometheus = PrometheusProcess::start().await;
    let sender = Running::start(settings(vec![destination(
        "prometheus",
        &prometheus.url("/api/v1/write"),
        quick_queue(),
    )]));
    let all = many_series("tachyscale_sender_e2e", 3);
    let t0 = (now_ms() / 1000) * 1000 - 3000;
    for i in 0..3 {
        sender
            .handle
            .enqueue(&scrape(&all, t0 + i * 1000, 40.0 + i as f64));
    }
    wait_until("prometheus acknowledged", Duration::from_secs(30), || {
        sender.sent("prometheus") == 9
    })
    .await;
    assert_eq!(
        sender.failed("prometheus", "http_4xx"),
        0,
        "{}",
        prometheus.log()
    );

    let expected_last: Vec<(String, String)> =
        (0..3).map(|i| (format!("i{i}"), "42".into())).collect();
    let expected_count: Vec<(String, String)> =
        (0..3).map(|i| (format!("i{i}"), "3".into())).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let last = prometheus.query("tachyscale_sender_e2e").await;
        let count = prometheus
            .query("count_over_time(tachyscale_sender_e2e[1m])")
            .await;
        if last == expected_last && count == expected_count {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus shows {last:?} / {count:?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sender.requests("prometheus", "2xx") > 0);
    sender.stop().await;
}
