//! The store role: binds the HTTP, KEDA gRPC and HTTPS listeners, runs the retention loop,
//! stops gracefully.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tachyscale_tsdb::Head;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use std::time::Duration;

use tachyscale_proto::externalscaler::external_scaler_server::ExternalScalerServer;
use tokio_stream::wrappers::ReceiverStream;

use crate::api::{health_router, router, AppState};
use crate::config::{HttpsSettings, StoreSettings};
use crate::external;
use crate::external::api::Access;
use crate::external::auth::{CLIENT_CA_VERIFIER, REQUESTHEADER_VERIFIER};
use crate::keda::{KedaService, StreamHub};
use crate::metrics::StoreMetrics;
use crate::tls::{accept, watch_files, AcceptOptions, ReloadingTls, TlsSource};

/// A configured store, ready to serve.
pub struct Store {
    state: AppState,
}

impl Store {
    pub fn new(settings: StoreSettings, registry: prometheus::Registry) -> anyhow::Result<Self> {
        let metrics = StoreMetrics::new(registry).context("cannot register store metrics")?;
        metrics.set_limits(&settings);
        let head = Arc::new(Head::new(settings.head_options()));
        Ok(Store {
            state: AppState::new(head, settings, metrics),
        })
    }

    /// The shared state, for tests and for roles embedding the store (`demo`).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Binds every configured address and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let settings = self.state.settings();
        let http = bind(settings.listen, "HTTP").await?;
        let grpc = match settings.keda.listen {
            Some(addr) => Some(bind(addr, "KEDA gRPC").await?),
            None => None,
        };
        let https = match &settings.https {
            Some(https) => Some(bind(https.listen, "HTTPS").await?),
            None => None,
        };
        self.serve_all(Listeners { http, grpc, https }, shutdown)
            .await
    }

    /// Serves the HTTP API alone on an already bound listener (tests bind `127.0.0.1:0`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let listeners = Listeners {
            http: listener,
            grpc: None,
            https: None,
        };
        self.serve_all(listeners, shutdown).await
    }

    /// Serves every given listener; TLS files are loaded first, so a bad certificate stops
    /// the start with the file named.
    pub async fn serve_all(
        self,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let addr = listeners
            .http
            .local_addr()
            .context("listener has no local address")?;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = listeners.grpc {
            let tls = grpc_tls(state.settings())?;
            tasks.spawn(serve_grpc(state.clone(), listener, tls, shutdown.clone()));
        }
        if let Some(listener) = listeners.https {
            let https = state
                .settings()
                .https
                .clone()
                .context("an HTTPS listener was given but the config has no https section")?;
            let tls = Arc::new(
                ReloadingTls::load(https_tls_source(&https), "https")
                    .context("cannot load the HTTPS certificates")?,
            );
            tasks.spawn(serve_https(
                state.clone(),
                listener,
                https,
                tls,
                shutdown.clone(),
            ));
        }
        let gc = tokio::spawn(retention_loop(state.clone(), shutdown.clone()));
        state.set_ready(true);
        tracing::info!(%addr, "store listening");
        let stopping = state.clone();
        let stop_signal = shutdown.clone();
        let served = axum::serve(listeners.http, router(state))
            .with_graceful_shutdown(async move {
                stop_signal.cancelled().await;
                stopping.set_ready(false);
                stopping.close_queries();
                tracing::info!("store draining in-flight requests");
            })
            .await
            .context("store HTTP server failed");
        shutdown.cancel();
        while let Some(joined) = tasks.join_next().await {
            joined.context("a store listener panicked")??;
        }
        gc.await.context("retention loop panicked")?;
        served
    }
}

/// The listeners a store serves.
pub struct Listeners {
    /// Remote-write, query API, `/metrics`, health.
    pub http: TcpListener,
    /// KEDA's external scaler gRPC.
    pub grpc: Option<TcpListener>,
    /// The external metrics API for the Kubernetes API aggregator.
    pub https: Option<TcpListener>,
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

fn grpc_tls(settings: &StoreSettings) -> anyhow::Result<Option<Arc<ReloadingTls>>> {
    let Some(files) = &settings.keda.tls else {
        return Ok(None);
    };
    let source = TlsSource {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        client_ca_files: files.client_ca_file.iter().cloned().collect(),
        require_client_cert: files.client_ca_file.is_some(),
        // grpc-core clients refuse a TLS server that does not negotiate h2.
        alpn: vec![b"h2".to_vec()],
        named_verifiers: Vec::new(),
    };
    let tls =
        ReloadingTls::load(source, "grpc").context("cannot load the KEDA gRPC certificates")?;
    Ok(Some(Arc::new(tls)))
}

fn https_tls_source(https: &HttpsSettings) -> TlsSource {
    let mut client_ca_files = Vec::new();
    let mut named_verifiers = Vec::new();
    if let Some(ca) = &https.client_ca_file {
        client_ca_files.push(ca.clone());
        named_verifiers.push((CLIENT_CA_VERIFIER.to_string(), ca.clone()));
    }
    if let Some(rh) = &https.requestheader {
        client_ca_files.push(rh.client_ca_file.clone());
        named_verifiers.push((
            REQUESTHEADER_VERIFIER.to_string(),
            rh.client_ca_file.clone(),
        ));
    }
    TlsSource {
        cert_file: https.tls.cert_file.clone(),
        key_file: https.tls.key_file.clone(),
        client_ca_files,
        // Optional at the handshake: a request without a certificate gets a 401 Status
        // it can read, as from kube-apiserver.
        require_client_cert: false,
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        named_verifiers,
    }
}

async fn serve_grpc(
    state: AppState,
    listener: TcpListener,
    tls: Option<Arc<ReloadingTls>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let keda = state.settings().keda.clone();
    let addr = listener
        .local_addr()
        .context("gRPC listener has no address")?;
    let metrics = state.metrics().scaling.clone();
    if let Some(tls) = &tls {
        tokio::spawn(watch_files(
            tls.clone(),
            keda.tls
                .as_ref()
                .map_or(Duration::from_secs(10), |t| t.reload_interval),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let hub = Arc::new(StreamHub::default());
    tokio::spawn(
        hub.clone()
            .run(state.clone(), keda.stream_tick, shutdown.clone()),
    );
    let service = ExternalScalerServer::new(KedaService::new(state, hub, shutdown.clone()))
        .max_decoding_message_size(keda.max_request_bytes);
    let connections = accept(
        listener,
        AcceptOptions {
            listener: "grpc",
            tls,
            max_connections: keda.max_connections,
            handshake_timeout: keda.handshake_timeout,
        },
        metrics,
        shutdown.clone(),
    );
    tracing::info!(%addr, tls = keda.tls.is_some(), "KEDA external scaler listening");
    tonic::transport::Server::builder()
        .max_concurrent_streams(keda.max_concurrent_requests_per_connection)
        // Pings find dead peers, whose connections would otherwise hold a slot forever.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(service)
        .serve_with_incoming_shutdown(ReceiverStream::new(connections), shutdown.cancelled_owned())
        .await
        .context("KEDA gRPC server failed")
}

async fn serve_https(
    state: AppState,
    listener: TcpListener,
    https: HttpsSettings,
    tls: Arc<ReloadingTls>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("HTTPS listener has no address")?;
    let metrics = state.metrics().scaling.clone();
    tokio::spawn(watch_files(
        tls.clone(),
        https.tls.reload_interval,
        metrics.clone(),
        shutdown.clone(),
    ));
    let router = external::api::routes(state.clone(), Access::Authenticated(tls.clone()))
        .merge(health_router(state.clone()))
        .fallback(external::api::not_found);
    let connections = accept(
        listener,
        AcceptOptions {
            listener: "https",
            tls: Some(tls),
            max_connections: https.max_connections,
            handshake_timeout: https.handshake_timeout,
        },
        metrics,
        shutdown.clone(),
    );
    tracing::info!(%addr, "external metrics API listening (HTTPS)");
    crate::tls::http::serve(
        connections,
        router,
        shutdown,
        state.settings().shutdown_timeout,
    )
    .await;
    Ok(())
}

/// Drops expired data every `gc_interval` until shutdown.
async fn retention_loop(state: AppState, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(state.settings().gc_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let head = state.head();
        let generations = state.generations();
        let started = Instant::now();
        let pass = tokio::task::spawn_blocking(move || {
            let report = head.gc();
            if report.series_removed > 0 {
                generations.retain_names(&head.label_values(tachyscale_tsdb::METRIC_NAME));
            }
            report
        });
        match pass.await {
            Ok(report) => {
                state
                    .metrics()
                    .gc_duration
                    .observe(started.elapsed().as_secs_f64());
                if report.series_removed > 0 || report.chunks_dropped > 0 {
                    tracing::debug!(
                        cutoff_ms = report.cutoff_ms,
                        series_removed = report.series_removed,
                        chunks_dropped = report.chunks_dropped,
                        strings_released = report.strings_released,
                        "retention pass"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "retention pass panicked"),
        }
    }
}
