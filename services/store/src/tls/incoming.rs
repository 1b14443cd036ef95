//! Accepted connections for the gRPC and HTTPS listeners: a bounded number of them, TLS
//! handshakes run concurrently off the accept loop and under a timeout, and each
//! connection carries who is on the other end.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::files::ReloadingTls;
use crate::scaling_metrics::ScalingMetrics;

/// The peer of a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The client's certificate chain (leaf first), verified in the handshake against
    /// the listener's client CAs; `None` without TLS or without a client certificate.
    pub peer_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection; holds its slot under `max_connections` until dropped.
pub struct Conn {
    transport: Transport,
    info: ConnInfo,
    _slot: ConnectionSlot,
}

struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
    open: prometheus::IntGauge,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Conn {
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().transport {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.transport {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

/// Connections accepted but not yet taken by the server. When it is full, handshake
/// tasks wait (holding their connection slot), so `max_connections` still bounds the total.
const READY_QUEUE: usize = 64;

/// How a listener accepts.
pub struct AcceptOptions {
    pub listener: &'static str,
    pub tls: Option<Arc<ReloadingTls>>,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
}

/// Accepts until `shutdown`; ready connections arrive on the returned channel.
pub fn accept(
    listener: TcpListener,
    options: AcceptOptions,
    metrics: ScalingMetrics,
    shutdown: CancellationToken,
) -> mpsc::Receiver<io::Result<Conn>> {
    let (ready, receiver) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(listener, options, metrics, shutdown, ready));
    receiver
}

async fn accept_loop(
    listener: TcpListener,
    options: AcceptOptions,
    metrics: ScalingMetrics,
    shutdown: CancellationToken,
    ready: mpsc::Sender<io::Result<Conn>>,
) {
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let name = options.listener;
    let open = metrics.connections_open.with_label_values(&[name]);
    let refused = metrics.connections_refused.with_label_values(&[name]);
    let handshake_failures = metrics.tls_handshake_failures.with_label_values(&[name]);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused.inc();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        open.inc();
        let slot = ConnectionSlot {
            _permit: permit,
            open: open.clone(),
        };
        let Some(tls) = options.tls.clone() else {
            let conn = Conn {
                transport: Transport::Plain(stream),
                info: ConnInfo {
                    remote,
                    peer_certificates: None,
                },
                _slot: slot,
            };
            if ready.send(Ok(conn)).await.is_err() {
                return;
            }
            continue;
        };
        let ready = ready.clone();
        let handshake_failures = handshake_failures.clone();
        let timeout = options.handshake_timeout;
        tokio::spawn(async move {
            let acceptor = TlsAcceptor::from(tls.current().server.clone());
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let peer_certificates =
                        tls_stream.get_ref().1.peer_certificates().map(|chain| {
                            Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect())
                        });
                    let conn = Conn {
                        transport: Transport::Tls(Box::new(tls_stream)),
                        info: ConnInfo {
                            remote,
                            peer_certificates,
                        },
                        _slot: slot,
                    };
                    let _ = ready.send(Ok(conn)).await;
                }
                Ok(Err(e)) => {
                    handshake_failures.inc();
                    tracing::debug!(listener = tls.listener(), %remote, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    handshake_failures.inc();
                    tracing::debug!(listener = tls.listener(), %remote, "TLS handshake timed out");
                }
            }
        });
    }
}

/// Checks the files every `interval` and swaps in changed certificates.
pub async fn watch_files(
    tls: Arc<ReloadingTls>,
    interval: Duration,
    metrics: ScalingMetrics,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let reloaded = {
            let tls = tls.clone();
            tokio::task::spawn_blocking(move || tls.reload_if_changed()).await
        };
        let outcome = match reloaded {
            Ok(None) => continue,
            Ok(Some(Ok(()))) => {
                tracing::info!(listener = tls.listener(), "TLS certificates reloaded");
                "ok"
            }
            Ok(Some(Err(e))) => {
                tracing::error!(listener = tls.listener(), error = %e, "TLS reload failed; keeping the previous certificates");
                "error"
            }
            Err(e) => {
                tracing::error!(listener = tls.listener(), error = %e, "TLS reload panicked");
                "error"
            }
        };
        metrics
            .tls_reloads
            .with_label_values(&[tls.listener(), outcome])
            .inc();
    }
}
