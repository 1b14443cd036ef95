//! Shared pieces of the store's integration tests: an in-process store on a free loopback
//! port, a real Prometheus process, remote-write and query clients, polling with timeouts.
#![allow(dead_code, clippy::unwrap_used)]

pub mod dataset;
pub mod prom_json;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tachyscale_proto::prometheus::WriteRequest;
use tachyscale_store::{Store, StoreSettings};
use tokio_util::sync::CancellationToken;

/// A store serving on 127.0.0.1 until dropped.
pub struct StoreHandle {
    pub addr: SocketAddr,
    pub state: tachyscale_store::api::AppState,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl StoreHandle {
    pub async fn start(settings: StoreSettings) -> StoreHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::new(settings, prometheus::Registry::new()).unwrap();
        let state = store.state();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(store.serve(listener, shutdown.clone()));
        let handle = StoreHandle {
            addr,
            state,
            shutdown,
            task: Some(task),
        };
        wait_until("store ready", Duration::from_secs(10), || async {
            http()
                .get(handle.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        handle
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the store and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for StoreHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Polls `check` every 100 ms until it holds, failing the test after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Sends a remote-write request; returns the status and body text.
pub async fn remote_write(url: &str, request: &WriteRequest) -> (u16, String) {
    post_write_body(url, tachyscale_proto::remote_write::encode(request)).await
}

pub async fn post_write_body(url: &str, body: Vec<u8>) -> (u16, String) {
    let response = http()
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// A free loopback port (bound and released; the caller binds it again right away).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Prometheus binary: `$PROMETHEUS_BIN` or `prometheus` on PATH. The test command
/// installs Debian's package; a missing binary fails the test rather than skipping it.
pub fn prometheus_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PROMETHEUS_BIN") {
        return PathBuf::from(bin);
    }
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = Path::new(dir).join("prometheus");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("prometheus binary not found: run scripts/test-all, which installs Debian's prometheus 2.42");
}

/// A real Prometheus server on a loopback port, killed when dropped.
pub struct PrometheusProcess {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl PrometheusProcess {
    /// Starts Prometheus with the given YAML config and extra flags; waits until ready.
    pub async fn start(config_yaml: &str, extra_flags: &[&str]) -> PrometheusProcess {
        Self::launch(config_yaml, extra_flags, free_port()).await
    }

    /// Starts Prometheus on a given port (for configs that must name its own address).
    pub async fn start_on_port(config_yaml: &str, port: u16) -> PrometheusProcess {
        Self::launch(config_yaml, &[], port).await
    }

    async fn launch(config_yaml: &str, extra_flags: &[&str], port: u16) -> PrometheusProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let process = PrometheusProcess { addr, child, dir };
        let ready = process.url("/-/ready");
        wait_until("prometheus ready", Duration::from_secs(30), || async {
            http()
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Prometheus' own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs a Prometheus-compatible API endpoint; returns the parsed JSON body.
pub async fn query(base: &str, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    let response = http()
        .get(format!("{base}{path}"))
        .query(params)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// The value of the first `/metrics` line starting with `line_prefix` (0 when absent).
pub async fn metric_value(store: &StoreHandle, line_prefix: &str) -> f64 {
    let text = http()
        .get(store.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
