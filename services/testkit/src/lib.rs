//! Helpers for integration tests that talk to real servers on loopback: a real Prometheus
//! 2.42 and a real `prometheus-node-exporter` (Debian packages, installed by
//! `scripts/test-all`), a fake Kubernetes API server ([`fake_apiserver`], since no real one
//! runs on the test machines), free ports, polling with a timeout, and Prometheus API
//! clients.
//!
//! A missing binary fails the test instead of skipping it: a test that silently does not
//! run would pass for the wrong reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod certs;
pub mod fake_apiserver;
pub mod remote_write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tachyscale_store::{Store, StoreSettings};
use tokio_util::sync::CancellationToken;

/// An HTTP client with a generous timeout.
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

/// Polls `url` until it answers 2xx, failing the test after `timeout`.
pub async fn wait_http_ok(url: &str, what: &str, timeout: Duration) {
    wait_until(what, timeout, || async {
        http()
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// A free loopback port (bound and released; the caller binds it again right away).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `$<env>` or `<name>` on PATH (or in /usr/bin).
pub fn find_binary(name: &str, env: &str) -> PathBuf {
    if let Ok(bin) = std::env::var(env) {
        return PathBuf::from(bin);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/bin", "/usr/sbin"]) {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} not found: run scripts/test-all, which installs Debian's {name}");
}

/// A child process killed (and reaped) when dropped, with its stderr in a temp dir.
pub struct ChildProcess {
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl ChildProcess {
    fn spawn(bin: PathBuf, args: Vec<String>, addr: SocketAddr, dir: tempfile::TempDir) -> Self {
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        ChildProcess { addr, child, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The process' stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn wait_ready(&self, path: &str, what: &str) {
        wait_http_ok(&self.url(path), what, Duration::from_secs(30)).await;
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus server on a loopback port.
pub struct PrometheusProcess(pub ChildProcess);

impl PrometheusProcess {
    /// Starts Prometheus with the given YAML config and extra flags; waits until ready.
    pub async fn start(config_yaml: &str, extra_flags: &[&str]) -> PrometheusProcess {
        Self::start_on_port(config_yaml, extra_flags, free_port()).await
    }

    /// Starts Prometheus on a given port (for configs that must name its own address).
    pub async fn start_on_port(
        config_yaml: &str,
        extra_flags: &[&str],
        port: u16,
    ) -> PrometheusProcess {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={addr}"),
        ];
        args.extend(extra_flags.iter().map(|f| f.to_string()));
        let process =
            ChildProcess::spawn(find_binary("prometheus", "PROMETHEUS_BIN"), args, addr, dir);
        process.wait_ready("/-/ready", "prometheus ready").await;
        PrometheusProcess(process)
    }

    pub fn url(&self, path: &str) -> String {
        self.0.url(path)
    }

    pub fn log(&self) -> String {
        self.0.log()
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

/// A real `prometheus-node-exporter` on a loopback port.
pub struct NodeExporterProcess(pub ChildProcess);

impl NodeExporterProcess {
    /// Starts node-exporter with only the given collectors (`--collector.disable-defaults`
    /// plus `--collector.<name>` each), so its series set is stable between scrapes.
    pub async fn start(collectors: &[&str]) -> NodeExporterProcess {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut args = vec![
            format!("--web.listen-address={addr}"),
            "--collector.disable-defaults".to_string(),
        ];
        args.extend(collectors.iter().map(|c| format!("--collector.{c}")));
        let process = ChildProcess::spawn(
            find_binary("prometheus-node-exporter", "NODE_EXPORTER_BIN"),
            args,
            addr,
            dir,
        );
        process.wait_ready("/metrics", "node-exporter ready").await;
        NodeExporterProcess(process)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

/// A real moto server (the AWS API emulator from PyPI) on a loopback port.
pub struct MotoProcess(pub ChildProcess);

impl MotoProcess {
    /// Starts `python3 -m moto.server` (installed by scripts/test-all with
    /// `pip install 'moto[server]'`); `$PYTHON` picks another interpreter.
    pub async fn start() -> MotoProcess {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        let args = vec![
            "-m".to_string(),
            "moto.server".to_string(),
            "-H".to_string(),
            "127.0.0.1".to_string(),
            "-p".to_string(),
            addr.port().to_string(),
        ];
        let process = ChildProcess::spawn(PathBuf::from(python), args, addr, dir);
        process.wait_ready("/moto-api/", "moto server ready").await;
        MotoProcess(process)
    }

    /// The endpoint URL to give the AWS SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    pub fn log(&self) -> String {
        self.0.log()
    }
}

/// GETs a URL and returns its body as text (a `/metrics` page, say).
pub async fn get_text(url: &str) -> String {
    http().get(url).send().await.unwrap().text().await.unwrap()
}

/// GETs a Prometheus-compatible API endpoint; returns the parsed JSON body.
pub async fn api_get(base: &str, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    let response = http()
        .get(format!("{base}{path}"))
        .query(params)
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// The value of the first line of a `/metrics` text starting with `line_prefix`.
pub fn exposition_value(text: &str, line_prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// A role served in this process on a loopback listener, cancelled when dropped.
pub struct InProcess {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl InProcess {
    /// Spawns `serve(listener, shutdown)` and waits until its `/readyz` answers.
    pub async fn serve<F, Fut>(listener: tokio::net::TcpListener, what: &str, serve: F) -> InProcess
    where
        F: FnOnce(tokio::net::TcpListener, CancellationToken) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, shutdown.clone()));
        let process = InProcess {
            addr,
            shutdown,
            task: Some(task),
        };
        wait_http_ok(&process.url("/readyz"), what, Duration::from_secs(10)).await;
        process
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Cancels the role and waits for it to finish, failing on its error.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A store serving on 127.0.0.1 until dropped.
pub struct StoreHandle {
    pub addr: SocketAddr,
    /// The KEDA gRPC address, when started with [`StoreHandle::start_with`].
    pub grpc_addr: Option<SocketAddr>,
    /// The HTTPS address, when started with [`StoreHandle::start_with`].
    pub https_addr: Option<SocketAddr>,
    pub state: tachyscale_store::api::AppState,
    process: InProcess,
}

impl StoreHandle {
    /// Also serves KEDA gRPC and, if the settings have an `https` section, HTTPS, each on
    /// a free loopback port (the configured addresses are ignored).
    pub async fn start_with(settings: StoreSettings) -> StoreHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_addr = grpc.local_addr().unwrap();
        let https = match settings.https {
            Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        };
        let https_addr = https.as_ref().map(|l| l.local_addr().unwrap());
        let store = Store::new(settings, prometheus::Registry::new()).unwrap();
        let state = store.state();
        let process = InProcess::serve(listener, "store ready", move |http, shutdown| {
            let listeners = tachyscale_store::server::Listeners {
                http,
                grpc: Some(grpc),
                https,
            };
            store.serve_all(listeners, shutdown)
        })
        .await;
        StoreHandle {
            addr: process.addr,
            grpc_addr: Some(grpc_addr),
            https_addr,
            state,
            process,
        }
    }

    pub async fn start(settings: StoreSettings) -> StoreHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let store = Store::new(settings, prometheus::Registry::new()).unwrap();
        let state = store.state();
        let process = InProcess::serve(listener, "store ready", |listener, shutdown| {
            store.serve(listener, shutdown)
        })
        .await;
        StoreHandle {
            addr: process.addr,
            grpc_addr: None,
            https_addr: None,
            state,
            process,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// Stops the store and waits for it to finish.
    pub async fn stop(self) {
        self.process.stop().await;
    }
}
