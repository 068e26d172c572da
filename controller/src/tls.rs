//! TLS on the gRPC listener: server certificate, optional or required client certificates
//! checked against a CA bundle, and reload when the files change.
//!
//! ```text
//!  TcpListener ─accept─► handshake task (10 s cap) ─► TlsStream ─► tonic (serve_with_incoming)
//!                              ▲ acceptor() = the current rustls ServerConfig
//!  reloader: every tls_reload_ms, re-read cert/key/CA; if the bytes changed and they build a
//!            valid config, swap it in (new connections use it) and publish the new PEMs so
//!            peer links ([`kraft_quorum::PeerTls`]) present the new certificate too.
//! ```
//!
//! A bad file at start is an error naming the file; a bad file at reload is logged and the
//! previous certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the listener asks for client certificates (`tls_client_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificates; callers authenticate with bearer tokens, if at all.
    None,
    /// A client certificate is verified when presented; callers without one may use a token.
    Optional,
    /// Every connection must present a certificate signed by the CA (mTLS).
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(ClientAuth::None),
            "optional" => Ok(ClientAuth::Optional),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!(
                "tls_client_auth must be none, optional or required, got {other:?}"
            )),
        }
    }
}

/// The files a TLS listener is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain served by this node (also its client certificate to peers).
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// PEM CA bundle: verifies client certificates and peers' server certificates.
    pub ca: PathBuf,
    /// Whether client certificates are asked for.
    pub client_auth: ClientAuth,
}

/// A TLS setting that cannot be used, naming the file and what is wrong.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file is missing, unreadable or holds the wrong PEM content.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The files do not make a valid rustls configuration together.
    #[error("tls: {0}")]
    Config(String),
}

fn file_err(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The PEM bytes of the three files, as last read.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsPem {
    /// Certificate chain.
    pub cert: Vec<u8>,
    /// Private key.
    pub key: Vec<u8>,
    /// CA bundle.
    pub ca: Vec<u8>,
}

impl TlsPem {
    fn read(files: &TlsFiles) -> Result<TlsPem, TlsError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| file_err(p, e.to_string()));
        Ok(TlsPem {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            ca: read(&files.ca)?,
        })
    }

    /// The material for this node's outgoing peer links.
    pub fn peer_tls(&self) -> kraft_quorum::PeerTls {
        kraft_quorum::PeerTls {
            ca_pem: self.ca.clone(),
            cert_pem: self.cert.clone(),
            key_pem: self.key.clone(),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(path, "holds no CERTIFICATE block"));
    }
    Ok(certs)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| file_err(path, format!("holds no usable PEM private key: {e}")))
}

fn build(files: &TlsFiles, pem: &TlsPem) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = parse_certs(&files.cert, &pem.cert)?;
    let key = parse_key(&files.key, &pem.key)?;
    let mut roots = RootCertStore::empty();
    for ca in parse_certs(&files.ca, &pem.ca)? {
        roots
            .add(ca)
            .map_err(|e| file_err(&files.ca, format!("bad CA certificate: {e}")))?;
    }
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match files.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        mode => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if mode == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| file_err(&files.ca, format!("cannot verify clients: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        file_err(
            &files.key,
            format!("does not go with {}: {e}", files.cert.display()),
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The listener's TLS state: the current rustls config and the PEMs it came from.
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    pem: watch::Sender<TlsPem>,
}

impl ServerTls {
    /// Reads and checks the files; an error names the file at fault.
    pub fn load(files: TlsFiles) -> Result<Arc<ServerTls>, TlsError> {
        let pem = TlsPem::read(&files)?;
        let config = build(&files, &pem)?;
        Ok(Arc::new(ServerTls {
            files,
            current: RwLock::new(config),
            pem: watch::channel(pem).0,
        }))
    }

    /// The files in use.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The PEMs in use; changes on every successful reload.
    pub fn subscribe(&self) -> watch::Receiver<TlsPem> {
        self.pem.subscribe()
    }

    /// The PEMs in use now.
    pub fn pem(&self) -> TlsPem {
        self.pem.borrow().clone()
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        TlsAcceptor::from(config)
    }

    /// Re-reads the files; swaps the config in when they changed and still make a valid
    /// config. `Ok(true)`: reloaded; `Ok(false)`: unchanged; `Err`: the old config stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let pem = TlsPem::read(&self.files)?;
        if *self.pem.borrow() == pem {
            return Ok(false);
        }
        let config = build(&self.files, &pem)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.pem.send_replace(pem);
        Ok(true)
    }

    /// Polls the files every `every` until `self` is dropped elsewhere, logging each reload
    /// and each refused change.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration) {
        let tls = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last_error: Option<String> = None;
            loop {
                tick.tick().await;
                let Some(tls) = tls.upgrade() else { return };
                match tls.reload() {
                    Ok(true) => {
                        info!(cert = %tls.files.cert.display(), "TLS certificate reloaded");
                        last_error = None;
                    }
                    Ok(false) => last_error = None,
                    Err(e) => {
                        let msg = e.to_string();
                        if last_error.as_ref() != Some(&msg) {
                            warn!(error = %msg, "TLS files changed but cannot be used; keeping the previous certificate");
                            last_error = Some(msg);
                        }
                    }
                }
            }
        });
    }
}

/// Accepts TCP connections on `listener` and completes TLS handshakes off the accept loop;
/// failed handshakes (wrong CA, no certificate when one is required, plaintext) are logged
/// and dropped. Ends when the receiver (the server) goes away.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                a = listener.accept() => a,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tls.acceptor();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => warn!(peer = %peer, error = %e, "TLS handshake refused"),
                    Err(_) => warn!(peer = %peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
