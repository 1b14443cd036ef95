//! PEM files → rustls configs, rebuilt when the files change so certificates rotate
//! without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// A TLS file that cannot be used, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds an invalid CA certificate: {reason}")]
    BadCa { path: PathBuf, reason: String },
    #[error("certificate {cert} and key {key} do not make a server identity: {reason}")]
    BadIdentity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// What a listener's TLS is made of.
#[derive(Debug, Clone)]
pub struct TlsSource {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CAs whose client certificates are accepted in the handshake.
    pub client_ca_files: Vec<PathBuf>,
    /// Refuse clients without a certificate (mTLS); otherwise a certificate is optional.
    pub require_client_cert: bool,
    /// ALPN protocols offered, e.g. `h2` for gRPC (grpc-core requires it).
    pub alpn: Vec<Vec<u8>>,
    /// Extra named verifiers built from the same reload, for authentication after the
    /// handshake (which CA signed the client's certificate).
    pub named_verifiers: Vec<(String, PathBuf)>,
}

/// One loaded generation of the files.
pub struct TlsState {
    pub server: Arc<ServerConfig>,
    pub verifiers: Vec<(String, Arc<dyn ClientCertVerifier>)>,
}

impl TlsState {
    pub fn verifier(&self, name: &str) -> Option<&Arc<dyn ClientCertVerifier>> {
        self.verifiers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn roots(paths: &[&Path]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for path in paths {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| TlsError::BadCa {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(Arc::new(roots))
}

fn verifier(
    paths: &[&Path],
    allow_unauthenticated: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let builder = WebPkiClientVerifier::builder_with_provider(roots(paths)?, provider());
    let builder = if allow_unauthenticated {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| TlsError::BadCa {
        path: paths.first().map(|p| p.to_path_buf()).unwrap_or_default(),
        reason: e.to_string(),
    })
}

impl TlsSource {
    /// Reads every file and builds the configs.
    pub fn load(&self) -> Result<TlsState, TlsError> {
        let chain = read_certs(&self.cert_file)?;
        let key =
            PrivateKeyDer::from_pem_file(&self.key_file).map_err(|source| TlsError::Read {
                path: self.key_file.clone(),
                source,
            })?;
        let client_cas: Vec<&Path> = self.client_ca_files.iter().map(PathBuf::as_path).collect();
        let bad_identity = |reason: String| TlsError::BadIdentity {
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
            reason,
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| bad_identity(e.to_string()))?;
        let builder = if client_cas.is_empty() {
            builder.with_no_client_auth()
        } else {
            builder.with_client_cert_verifier(verifier(&client_cas, !self.require_client_cert)?)
        };
        let mut server = builder
            .with_single_cert(chain, key)
            .map_err(|e| bad_identity(e.to_string()))?;
        server.alpn_protocols = self.alpn.clone();
        let verifiers = self
            .named_verifiers
            .iter()
            .map(|(name, path)| Ok((name.clone(), verifier(&[path.as_path()], false)?)))
            .collect::<Result<Vec<_>, TlsError>>()?;
        Ok(TlsState {
            server: Arc::new(server),
            verifiers,
        })
    }

    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.cert_file, &self.key_file]
            .into_iter()
            .chain(&self.client_ca_files)
            .chain(self.named_verifiers.iter().map(|(_, p)| p))
    }

    /// Modification times of every file; a change triggers a reload.
    fn stamp(&self) -> Vec<Option<SystemTime>> {
        self.files()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

/// The current TLS state of a listener, swapped atomically on reload.
pub struct ReloadingTls {
    source: TlsSource,
    listener: &'static str,
    current: RwLock<Arc<TlsState>>,
    stamp: parking_lot::Mutex<Vec<Option<SystemTime>>>,
}

impl ReloadingTls {
    /// Loads the files once; a failure here stops the store from starting.
    pub fn load(source: TlsSource, listener: &'static str) -> Result<Self, TlsError> {
        let stamp = source.stamp();
        let state = source.load()?;
        Ok(ReloadingTls {
            source,
            listener,
            current: RwLock::new(Arc::new(state)),
            stamp: parking_lot::Mutex::new(stamp),
        })
    }

    pub fn current(&self) -> Arc<TlsState> {
        self.current.read().clone()
    }

    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// Reloads if any file changed. A broken new file keeps the previous state (and
    /// the error is returned to be counted and logged), so a half-written rotation
    /// cannot take the listener down.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let stamp = self.source.stamp();
        {
            let mut last = self.stamp.lock();
            if *last == stamp {
                return None;
            }
            *last = stamp;
        }
        match self.source.load() {
            Ok(state) => {
                *self.current.write() = Arc::new(state);
                Some(Ok(()))
            }
            Err(e) => {
                // Retried at the next check, in case the rotation was caught half-written.
                self.stamp.lock().clear();
                Some(Err(e))
            }
        }
    }
}
