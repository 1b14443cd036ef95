//! Serves an axum router over [`accept`](super::accept)ed connections (HTTP/1.1 and HTTP/2,
//! as ALPN chose), with each request carrying its connection's [`ConnInfo`].

use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::incoming::Conn;

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
        let builder = auto::Builder::new(TokioExecutor::new());
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
