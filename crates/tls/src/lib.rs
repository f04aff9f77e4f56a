//! # paddock-tls — TLS for Paddock's ports, with rustls
//!
//! Used by the gateway (the client port) and, for mutual TLS between servers (`sslQuorum`), by
//! the election and quorum peer transports ([`peer`]). With rustls: the certificate chain and
//! key, and the CAs that client certificates must chain to, read from PEM files (ZooKeeper's
//! `ssl.keyStore.location` / `ssl.trustStore.location` with PEM stores, `ssl.quorum.*` between
//! servers) and read again when they change, without a restart.
//!
//! ```text
//!  TcpIncoming --accept--> handshake task per connection (bounded by a timeout)
//!                             | TlsAcceptor from the *current* ServerConfig
//!                             v
//!                          TlsStream<TcpStream> --channel--> tonic (serve_with_incoming)
//!
//!  reload task: every `reload_interval_ms`, compare the files' (mtime, length); if either moved,
//!  build a new ServerConfig; on success swap it in (new connections use it; open ones keep theirs),
//!  on failure log and keep the old one.
//! ```
//!
//! tonic sees `tokio_rustls::server::TlsStream<TcpStream>`, the stream type its own TLS server
//! uses, so `Request::remote_addr` and `Request::peer_certs` work as usual.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use paddock_types::Id;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;

pub mod diagnose;
pub mod names;
pub mod peer;
pub use diagnose::{
    explain_accept_error, explain_dial_error, DialFailure, FailureKind, WarnLimiter,
};
pub use names::CertNames;
pub use peer::{
    admit_peer, check_peer_certificate, host_of, peer_endpoint, serve_peer_port, server_name,
    PeerTls, MISMATCH_HINT,
};

/// Whether clients must present a certificate (ZooKeeper's `ssl.clientAuth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificates asked for.
    None,
    /// Asked for; a client without one is served (without an `x509` id), one with an invalid
    /// one is refused.
    Want,
    /// Required: a client without a certificate chaining to the trust store is refused.
    Need,
}

impl ClientAuth {
    /// Parses ZooKeeper's values (`none`, `want`, `need`; case-insensitive).
    pub fn parse(text: &str) -> Option<ClientAuth> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "want" => Some(ClientAuth::Want),
            "need" => Some(ClientAuth::Need),
            _ => None,
        }
    }
}

/// Where the TLS material is and how it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file holding the server's private key and its certificate chain (leaf first), as
    /// ZooKeeper's PEM key store.
    pub key_store: PathBuf,
    /// A PEM file holding the CA certificates client certificates must chain to. Needed for
    /// `Want` and `Need`.
    pub trust_store: Option<PathBuf>,
    pub client_auth: ClientAuth,
    /// How often the files are checked for changes, ms.
    pub reload_interval_ms: u64,
    /// How long a client may take to finish the TLS handshake, ms.
    pub handshake_timeout_ms: u64,
    /// What the port is, for log lines ("client port", "election port", "quorum port").
    pub port: &'static str,
    /// A port other servers dial (sslQuorum): a failed handshake is a server's configuration
    /// problem, logged at warn (once per 30 s per address and reason) with what to check. On
    /// the client port it is logged at info.
    pub peer_port: bool,
}

impl TlsOptions {
    /// `key_store` with ZooKeeper's default for the rest: client certificates required when a
    /// trust store is given.
    pub fn new(key_store: PathBuf, trust_store: Option<PathBuf>) -> TlsOptions {
        let client_auth = if trust_store.is_some() {
            ClientAuth::Need
        } else {
            ClientAuth::None
        };
        TlsOptions {
            key_store,
            trust_store,
            client_auth,
            reload_interval_ms: 1_000,
            handshake_timeout_ms: 10_000,
            port: "client port",
            peer_port: false,
        }
    }
}

/// Why the TLS material cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {why}")]
    Pem { path: PathBuf, why: String },
    #[error("ssl.clientAuth={0:?} needs a trust store (ssl.trustStore.location)")]
    NoTrustStore(ClientAuth),
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

fn pem_error(path: &Path, why: impl Into<String>) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// ring, as tonic's `tls-ring` (it builds without a C toolchain, unlike aws-lc). rustls 0.23.48
/// deprecated the name to point at post-quantum key exchange, which only aws-lc offers.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls configuration from the files (as they are now).
pub fn load(opts: &TlsOptions) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = read(&opts.key_store)?;
    if String::from_utf8_lossy(&pem).contains("ENCRYPTED PRIVATE KEY") {
        return Err(pem_error(
            &opts.key_store,
            "the private key is encrypted; give an unencrypted PKCS#8, PKCS#1 or SEC1 key",
        ));
    }
    let chain = certificates(&opts.key_store, &pem)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| pem_error(&opts.key_store, format!("no usable PRIVATE KEY block: {e}")))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (opts.client_auth, &opts.trust_store) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (auth, None) => return Err(TlsError::NoTrustStore(auth)),
        (auth, Some(path)) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path, &read(path)?)? {
                roots
                    .add(ca)
                    .map_err(|e| pem_error(path, format!("not a usable CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match auth {
                ClientAuth::Want => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Rustls(e.to_string()))?,
            )
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| pem_error(&opts.key_store, format!("key and certificate: {e}")))?;
    // gRPC is HTTP/2 only.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration new connections get; replaced when the files change.
#[derive(Clone)]
pub struct TlsState {
    opts: TlsOptions,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

/// What identifies a file's version: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl TlsState {
    /// Loads the files once (an error here stops the server from starting).
    pub fn new(opts: TlsOptions) -> Result<TlsState, TlsError> {
        let config = load(&opts)?;
        Ok(TlsState {
            opts,
            current: Arc::new(RwLock::new(config)),
        })
    }

    fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn stamps(&self) -> (Stamp, Stamp) {
        let trust = self.opts.trust_store.as_deref().and_then(stamp);
        (stamp(&self.opts.key_store), trust)
    }

    /// Watches the files until `stop` is dropped or fires; swaps in a new configuration when
    /// they change and it loads.
    pub async fn reload_loop(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = Duration::from_millis(self.opts.reload_interval_ms.max(10));
        let mut seen = self.stamps();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let now = self.stamps();
            if now == seen {
                continue;
            }
            match load(&self.opts) {
                Ok(config) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
                    seen = now;
                    tracing::info!(key_store = %self.opts.key_store.display(), "TLS certificates reloaded");
                }
                Err(e) => {
                    // Perhaps caught mid-write: keep the old configuration, try again next time.
                    tracing::warn!(error = %e, "TLS files changed but cannot be loaded; keeping the previous certificates");
                    seen = now;
                }
            }
        }
    }

    /// An acceptor with the configuration current now, for a protocol other than gRPC: no ALPN
    /// (the configuration offers `h2` only, which a ZooKeeper client does not ask for).
    pub fn acceptor_without_alpn(&self) -> tokio_rustls::TlsAcceptor {
        let mut config = (*self.current()).clone();
        config.alpn_protocols.clear();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// How long a TLS handshake may take (`handshake_timeout_ms`).
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.opts.handshake_timeout_ms.max(1))
    }

    /// The TLS handshake of one accepted socket, with the configuration current now, bounded by
    /// `handshake_timeout_ms`. A failure (a plaintext client, an untrusted certificate) is
    /// logged — on a peer port at warn, at most once per `warnings` period per address and
    /// reason, saying what to check — and gives `None`.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        warnings: &WarnLimiter,
    ) -> Option<TlsStream<TcpStream>> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current());
        let limit = self.handshake_timeout();
        let (port, peer_port) = (self.opts.port, self.opts.peer_port);
        let peer = stream.peer_addr().ok();
        let reason = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => return Some(tls),
            Ok(Err(e)) => explain_accept_error(&e, peer_port),
            Err(_) => format!("no TLS handshake within {limit:?}"),
        };
        let from = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
        if !peer_port {
            tracing::info!(peer = %from, %reason, "TLS handshake failed on the {port} (a client without TLS, or a certificate the trust store does not accept)");
        } else if warnings.should_warn(&format!(
            "{}|{reason}",
            peer.map(|p| p.ip().to_string()).unwrap_or_default()
        )) {
            tracing::warn!(peer = %from, "refused a connection to the {port} from {from}: TLS handshake failed: {reason}");
        } else {
            tracing::debug!(peer = %from, %reason, "refused a connection to the {port}: TLS handshake failed");
        }
        None
    }

    /// TLS connections from `tcp`: each accepted socket is handshaken in its own task with the
    /// configuration current at that moment. Failed handshakes (a plaintext client, an
    /// untrusted certificate) are logged and dropped.
    pub fn incoming(
        &self,
        mut tcp: TcpIncoming,
    ) -> ReceiverStream<Result<TlsStream<TcpStream>, io::Error>> {
        let (tx, rx) = mpsc::channel(128);
        let state = self.clone();
        let warnings = Arc::new(WarnLimiter::default());
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = tcp.next() => next,
                    () = tx.closed() => return,
                };
                let stream = match next {
                    Some(Ok(s)) => s,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "accepting a connection failed");
                        continue;
                    }
                    None => return,
                };
                let tx = tx.clone();
                let state = state.clone();
                let warnings = Arc::clone(&warnings);
                tokio::spawn(async move {
                    if let Some(tls) = state.handshake(stream, &warnings).await {
                        let _ = tx.send(Ok(tls)).await;
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

/// The `x509` id of a verified client certificate (the first of the chain): its subject as
/// Java's `X500Principal.getName()` prints it (RFC 2253: most specific first, `,` between),
/// which is what ZooKeeper's X509AuthenticationProvider uses. `None` if it does not parse.
pub fn x509_id(cert: &[u8]) -> Option<Id> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(cert).ok()?;
    let registry = oid_registry();
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let oid = attr.attr_type();
                    let name = x509_parser::objects::oid2abbrev(oid, registry)
                        .map(str::to_string)
                        .unwrap_or_else(|_| oid.to_id_string());
                    let value = attr.as_str().unwrap_or_default();
                    format!("{name}={}", escape_rfc2253(value))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    let subject: Vec<String> = rdns.into_iter().rev().collect();
    Some(Id::new("x509", subject.join(",")))
}

/// RFC 2253 escaping of an attribute value.
fn escape_rfc2253(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == value.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_auth_takes_zookeepers_values() {
        assert_eq!(ClientAuth::parse("NEED"), Some(ClientAuth::Need));
        assert_eq!(ClientAuth::parse(" want"), Some(ClientAuth::Want));
        assert_eq!(ClientAuth::parse("none"), Some(ClientAuth::None));
        assert_eq!(ClientAuth::parse("required"), None);
        let with_trust = TlsOptions::new("k.pem".into(), Some("ca.pem".into()));
        assert_eq!(with_trust.client_auth, ClientAuth::Need);
        assert_eq!(
            TlsOptions::new("k.pem".into(), None).client_auth,
            ClientAuth::None
        );
    }

    #[test]
    fn x509_ids_are_subjects_as_java_prints_them() {
        let ca = paddock_certs::Ca::new("ca").unwrap();
        let leaf = ca.client("app, eu").unwrap();
        let der = CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap();
        assert_eq!(
            x509_id(&der),
            Some(Id::new("x509", "CN=app\\, eu,O=Paddock"))
        );
        assert_eq!(x509_id(b"garbage"), None);
        assert_eq!(escape_rfc2253(" a+b "), "\\ a\\+b\\ ");
    }
}
