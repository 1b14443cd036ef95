//! TLS for the store's gRPC and HTTPS listeners: rustls configs from PEM files that reload
//! when the files change ([`files`]), a bounded accept loop with off-loop handshakes that
//! records the client's certificate chain ([`incoming`]), and HTTP serving over it
//! ([`http`]).

pub mod files;
pub mod http;
pub mod incoming;

pub use files::{ReloadingTls, TlsError, TlsSource, TlsState};
pub use incoming::{accept, watch_files, AcceptOptions, Conn, ConnInfo};
