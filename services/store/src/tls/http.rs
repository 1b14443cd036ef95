//! Serves an axum router over [`accept`](super::accept)ed connections (HTTP/1.1 and HTTP/2,
//! as ALPN chose), with each request carrying its connection's [`ConnInfo`].

use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::incoming::Conn;

/// A client must send its request headers within this (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings find dead peers, whose connections would otherwise hold a slot forever.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown`, then lets in-flight requests finish for up to `drain`.
pub async fn serve(
    mut connections: mpsc::Receiver<std::io::Result<Conn>>,
    router: Router,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let conn = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = connections.recv() => match next {
                Some(Ok(conn)) => conn,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "connection failed before serving");
                    continue;
                }
                None => break,
            },
        };
        let service =
            TowerToHyperService::new(router.clone().layer(Extension(conn.info().clone())));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(conn), service);
        let watched = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "HTTPS connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTPS connections still open after {drain:?}; closing them");
    }
}
