//! Pieces of the scraper's integration tests: an in-process scraper on a loopback port, a
//! loopback exporter whose exposition a test changes at will, and the store and real
//! processes from `tachyscale-testkit`.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use parking_lot::Mutex;
use tachyscale_scraper::config::RawScraperConfig;
use tachyscale_scraper::{Scraper, ScraperSettings};
use tokio_util::sync::CancellationToken;

pub use tachyscale_testkit::{
    api_get, free_port, http, wait_until, InProcess, NodeExporterProcess, PrometheusProcess,
    StoreHandle,
};

/// What an [`Exporter`] answers.
#[derive(Clone)]
pub struct Exposition {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// How long the exporter waits before answering.
    pub delay: Duration,
}

/// A loopback `/metrics` endpoint whose answer the test sets.
pub struct Exporter {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Exposition>>,
    requests: Arc<Mutex<u64>>,
    accept: Arc<Mutex<String>>,
    stop: CancellationToken,
}

impl Exporter {
    pub async fn start(body: &str) -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(Exposition {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
            body: body.into(),
            delay: Duration::ZERO,
        }));
        let requests = Arc::new(Mutex::new(0));
        let accept = Arc::new(Mutex::new(String::new()));
        let state = (answer.clone(), requests.clone(), accept.clone());
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(serve))
            .with_state(state);
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
                .unwrap();
        });
        Exporter {
            addr,
            answer,
            requests,
            accept,
            stop,
        }
    }

    pub fn set_body(&self, body: &str) {
        self.answer.lock().body = body.into();
    }

    pub fn set(&self, exposition: Exposition) {
        *self.answer.lock() = exposition;
    }

    pub fn set_status(&self, status: u16) {
        self.answer.lock().status = status;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.answer.lock().delay = delay;
    }

    /// The `Accept` header of the last request.
    pub fn last_accept(&self) -> String {
        self.accept.lock().clone()
    }

    pub fn requests(&self) -> u64 {
        *self.requests.lock()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

type ExporterState = (Arc<Mutex<Exposition>>, Arc<Mutex<u64>>, Arc<Mutex<String>>);

async fn serve(
    State((answer, requests, accept)): State<ExporterState>,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    *requests.lock() += 1;
    *accept.lock() = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let answer = answer.lock().clone();
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    (
        StatusCode::from_u16(answer.status).unwrap(),
        [("content-type", answer.content_type)],
        answer.body,
    )
}

/// A scraper running in this process on a loopback port.
pub struct ScraperHandle {
    pub addr: SocketAddr,
    pub targets: Arc<tachyscale_scraper::manager::TargetsView>,
    process: InProcess,
}

impl ScraperHandle {
    /// Starts a scraper from YAML (its `listen` is replaced by a free loopback port).
    pub async fn start(yaml: &str) -> ScraperHandle {
        let settings: ScraperSettings =
            tachyscale_config::parse::<RawScraperConfig, ScraperSettings>(yaml).unwrap();
        Self::start_settings(settings).await
    }

    /// Starts a scraper from YAML whose samples go to `store`.
    pub async fn start_into(store: &StoreHandle, yaml: &str) -> ScraperHandle {
        Self::start(&format!(
            "{yaml}\nremote_write:\n  destinations: [{{name: store, url: \"{}\"}}]\n",
            store.url("/api/v1/write")
        ))
        .await
    }

    pub async fn start_settings(settings: ScraperSettings) -> ScraperHandle {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(settings, listener).await
    }

    pub async fn start_on(
        settings: ScraperSettings,
        listener: tokio::net::TcpListener,
    ) -> ScraperHandle {
        let scraper = Scraper::new(settings, prometheus::Registry::new()).unwrap();
        let targets = scraper.targets();
        let process = InProcess::serve(listener, "scraper ready", |listener, shutdown| {
            scraper.serve(listener, shutdown)
        })
        .await;
        ScraperHandle {
            addr: process.addr,
            targets,
            process,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// The scrape URLs this member scrapes, sorted.
    pub fn scraped_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = self
            .targets
            .jobs
            .read()
            .values()
            .flat_map(|job| job.active.iter().map(|t| t.target.url.to_string()))
            .collect();
        urls.sort();
        urls
    }

    /// The value of the first line of this scraper's `/metrics` starting with `prefix`.
    pub async fn metric(&self, prefix: &str) -> f64 {
        let text = tachyscale_testkit::get_text(&self.url("/metrics")).await;
        tachyscale_testkit::exposition_value(&text, prefix).unwrap_or(0.0)
    }

    /// Stops the scraper (sender flush) and waits for it.
    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// Runs an instant query on a Prometheus-compatible API; returns `data.result`.
pub async fn instant(base: &str, promql: &str, time: Option<f64>) -> Vec<serde_json::Value> {
    let mut params = vec![("query", promql.to_string())];
    if let Some(t) = time {
        params.push(("time", format!("{t:.3}")));
    }
    let body = api_get(base, "/api/v1/query", &params).await;
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The value of a single-series instant query, if there is exactly one series.
pub async fn single_value(base: &str, promql: &str) -> Option<f64> {
    let result = instant(base, promql, None).await;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}
