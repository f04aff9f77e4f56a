//! Mutual TLS between the servers of an ensemble (ZooKeeper's `sslQuorum=true` with
//! `ssl.quorum.keyStore.location` / `ssl.quorum.trustStore.location`, PEM stores): what the
//! election transport and the quorum peer transport share.
//!
//! ```text
//!   dialling server                                   accepting server
//!   PeerTls::client_config(host of peers[id])         PeerTls::server(port) -> TlsState
//!     files read at every dial                          (ClientAuth::Need; reloaded on change)
//!     rustls checks: chain -> trust store,              rustls checks: chain -> trust store
//!                    certificate names `host`            ... then, after the hello (server id N):
//!   ── hello(me) ──────────────────────────────────▶  check_peer_certificate(chain, host of
//!                                                        peers[N]): the certificate must name it
//! ```
//!
//! Rules:
//! - both ends present a certificate chaining to the trust store (`ssl.quorum.trustStore`); a
//!   peer without one, or with one from another CA, fails the TLS handshake;
//! - the certificate must name the host the server list (`server.N=host:...`) gives for the
//!   server id the peer claims: DNS SAN, IP SAN, or — only for a certificate without any DNS or
//!   IP SAN, as ZooKeeper's `ZKHostnameVerifier` — its CN. The dialler gets this from rustls
//!   (which never falls back to the CN: give quorum certificates SANs), the acceptor checks it
//!   with [`check_peer_certificate`] once the hello named the id;
//! - plaintext and TLS servers never talk: each refusal is logged with
//!   [`MISMATCH_HINT`] where the error looks like one end speaking TLS and the other not;
//! - certificates are read again for new connections when the files change (the acceptor's
//!   [`crate::TlsState::reload_loop`], the dialler reads the files at each dial); open streams
//!   keep the certificates they were made with.
//!
//! Switching `sslQuorum` on or off: there is no port unification (ZooKeeper's
//! `portUnification=true`, which lets a port take both while an ensemble is rolled over, is
//! refused at start). Servers on different settings cannot talk, so a switch means restarting
//! every server with the new setting. One by one works, but not without an outage: the
//! switched and the not-yet-switched servers form two groups, and only a group holding a
//! majority serves. With 3 servers: after the first restart the two others serve; while the
//! second restarts, no group has a majority and nobody serves; then the two switched servers
//! elect and serve, and the last joins once restarted. Restarting all at once is simplest.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::names::CertNames;
use crate::{certificates, pem_error, provider, read, ClientAuth, TlsError, TlsOptions, TlsState};

/// What a log line about a refused or failed peer connection adds when the error looks like a
/// TLS / plaintext mismatch.
pub const MISMATCH_HINT: &str = "(is sslQuorum set the same on every server?)";

/// The TLS material of server-to-server connections (`ssl.quorum.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTls {
    /// PEM file with this server's private key and certificate chain (leaf first): its identity
    /// as acceptor and as dialler (`ssl.quorum.keyStore.location`).
    pub key_store: PathBuf,
    /// PEM file with the CA certificates every peer's certificate must chain to
    /// (`ssl.quorum.trustStore.location`).
    pub trust_store: PathBuf,
    /// How often the accepting side checks the files for changes, ms.
    pub reload_interval_ms: u64,
    /// How long a dialling peer may take to finish the TLS handshake, ms.
    pub handshake_timeout_ms: u64,
}

impl PeerTls {
    /// The files, checked for changes every second; handshakes bounded by 5 s.
    pub fn new(key_store: PathBuf, trust_store: PathBuf) -> PeerTls {
        PeerTls {
            key_store,
            trust_store,
            reload_interval_ms: 1_000,
            handshake_timeout_ms: 5_000,
        }
    }

    /// The accepting side's options: peer certificates required (`ClientAuth::Need`),
    /// handshake failures logged at warn as a server's configuration problem, naming `port`.
    pub fn server_options(&self, port: &'static str) -> TlsOptions {
        TlsOptions {
            client_auth: ClientAuth::Need,
            reload_interval_ms: self.reload_interval_ms,
            handshake_timeout_ms: self.handshake_timeout_ms,
            port,
            peer_port: true,
            ..TlsOptions::new(self.key_store.clone(), Some(self.trust_store.clone()))
        }
    }

    /// The accepting side, loaded from the files now (see [`TlsState::incoming`] and
    /// [`TlsState::reload_loop`]).
    pub fn server(&self, port: &'static str) -> Result<TlsState, TlsError> {
        TlsState::new(self.server_options(port))
    }

    /// The dialling side for a peer the server list places on `host`, from the files as they
    /// are now: the trust store's CAs, this server's key store as its client identity, and
    /// `host` as the name the peer's certificate must carry.
    pub fn client_config(&self, host: &str) -> Result<ClientTlsConfig, TlsError> {
        let trust = read(&self.trust_store)?;
        certificates(&self.trust_store, &trust)?;
        let key_store = read(&self.key_store)?;
        certificates(&self.key_store, &key_store)?;
        PrivateKeyDer::from_pem_slice(&key_store)
            .map_err(|e| pem_error(&self.key_store, format!("no usable PRIVATE KEY block: {e}")))?;
        // tonic takes the certificates from the first PEM and the key from the second: the key
        // store holds both, so it is given twice.
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(trust))
            .identity(Identity::from_pem(&key_store, &key_store))
            .domain_name(host)
            .timeout(Duration::from_millis(self.handshake_timeout_ms.max(1))))
    }

    /// The dialling side for a peer protocol other than gRPC (the quorum port's framed TCP),
    /// from the files as they are now: the trust store's CAs check the server dialled (its
    /// certificate must name the host given to [`tokio_rustls::TlsConnector::connect`], see
    /// [`server_name`]), and this server's key store is its client identity. No ALPN.
    pub fn connector(&self) -> Result<tokio_rustls::TlsConnector, TlsError> {
        let trust = read(&self.trust_store)?;
        let mut roots = RootCertStore::empty();
        for ca in certificates(&self.trust_store, &trust)? {
            roots.add(ca).map_err(|e| {
                pem_error(
                    &self.trust_store,
                    format!("not a usable CA certificate: {e}"),
                )
            })?;
        }
        let key_store = read(&self.key_store)?;
        let chain = certificates(&self.key_store, &key_store)?;
        let key = PrivateKeyDer::from_pem_slice(&key_store)
            .map_err(|e| pem_error(&self.key_store, format!("no usable PRIVATE KEY block: {e}")))?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| pem_error(&self.key_store, format!("key and certificate: {e}")))?;
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }

    /// Loads both sides once: an error names the file that cannot be used (for start-up).
    pub fn check(&self) -> Result<(), TlsError> {
        crate::load(&self.server_options("quorum"))?;
        self.client_config("localhost")?;
        self.connector()?;
        Ok(())
    }
}

/// The endpoint for dialling a peer at `addr` ("host:port"): plaintext without `tls`; with it,
/// TLS from the files as they are now, the peer's certificate checked against `host` (see
/// [`PeerTls::client_config`]). The caller adds its timeouts.
pub fn peer_endpoint(addr: &str, tls: Option<&PeerTls>) -> Result<Endpoint, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| format!("bad address {addr:?}: {e}"))?;
    match tls {
        None => Ok(endpoint),
        Some(tls) => {
            let config = tls
                .client_config(host_of(addr))
                .map_err(|e| format!("sslQuorum: {e}"))?;
            endpoint
                .tls_config(config)
                .map_err(|e| format!("sslQuorum: TLS configuration: {e}"))
        }
    }
}

/// Serves `router` on `incoming` until the future is dropped: plaintext without `tls`; with
/// it, TLS connections only (see [`TlsState::incoming`]), the certificates reloaded when the
/// files change for as long as this runs.
pub async fn serve_peer_port(
    router: Router,
    incoming: TcpIncoming,
    tls: Option<TlsState>,
) -> Result<(), tonic::transport::Error> {
    match tls {
        None => router.serve_with_incoming(incoming).await,
        Some(state) => {
            // Dropped with this future: the reload loop ends with it.
            let (_stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(state.clone().reload_loop(stopped));
            router.serve_with_incoming(state.incoming(incoming)).await
        }
    }
}

/// The name a dialled peer's certificate must carry: the host of its `server.N` address (a DNS
/// name, or an IP address checked against the certificate's IP SANs).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
    let host = host_of(addr);
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("bad host {host:?} in address {addr:?}: {e}"))
}

/// The host of a `host:port` peer address (brackets of an IPv6 literal removed).
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The accepting side's check after a peer's hello claimed server `id`, which the server list
/// places on `host`: its certificate (the first of `chain`) must name `host`. `Err` says what is
/// wrong, for the log and the refusal.
pub fn check_peer_certificate(
    chain: Option<&[CertificateDer<'static>]>,
    id: impl fmt::Display,
    host: &str,
) -> Result<(), String> {
    let Some(leaf) = chain.and_then(|c| c.first()) else {
        return Err(format!(
            "server {id} presented no TLS certificate {MISMATCH_HINT}"
        ));
    };
    let names = CertNames::of(leaf)?;
    if names.names(host) {
        Ok(())
    } else {
        Err(format!(
            "the certificate of server {id} names {names}, not {host:?}, the host of server.{id} \
             in the server list"
        ))
    }
}

/// The accepting side's whole check, shared by the election and quorum ports: when the port
/// runs TLS, the certificate of the peer that said hello as server `id` must name the host of
/// `addr` (its `server.N` address). A refusal is logged at warn (at most once per 30 s per peer
/// and reason, through `warnings`) as `refused <stream> from <remote> claiming to be server
/// <id>: <reason>` and returned as PERMISSION_DENIED.
#[allow(clippy::too_many_arguments)]
pub fn admit_peer(
    tls: bool,
    chain: Option<&[CertificateDer<'static>]>,
    me: impl fmt::Display,
    id: impl fmt::Display + Copy,
    addr: &str,
    remote: Option<std::net::SocketAddr>,
    warnings: &crate::WarnLimiter,
    stream: &str,
) -> Result<(), tonic::Status> {
    if !tls {
        return Ok(());
    }
    let Err(reason) = check_peer_certificate(chain, id, host_of(addr)) else {
        return Ok(());
    };
    let from = remote.map_or_else(|| "?".to_string(), |a| a.to_string());
    if warnings.should_warn(&format!("accept {id}|{reason}")) {
        tracing::warn!(me = %me, peer = %id, remote = %from, "refused {stream} from {from} claiming to be server {id}: {reason}");
    }
    Err(tonic::Status::permission_denied(reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_certs::Ca;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("a certificate")
    }

    #[test]
    fn a_peer_certificate_must_name_the_host_of_the_id_it_claims() {
        let ca = Ca::new("ca").unwrap();
        let leaf = der(&ca
            .server("s1", &["localhost", "127.0.0.1"])
            .unwrap()
            .cert_pem);
        let chain = vec![leaf];
        assert_eq!(check_peer_certificate(Some(&chain), 2, "127.0.0.1"), Ok(()));
        let wrong = check_peer_certificate(Some(&chain), 2, "10.1.2.3").unwrap_err();
        assert!(
            wrong.contains("server 2")
                && wrong.contains("DNS:localhost, IP:127.0.0.1")
                && wrong.contains("\"10.1.2.3\""),
            "{wrong}"
        );
        let none = check_peer_certificate(None, 3, "localhost").unwrap_err();
        assert!(none.contains("no TLS certificate"), "{none}");
        let garbage = vec![CertificateDer::from(b"garbage".to_vec())];
        assert!(check_peer_certificate(Some(&garbage), 3, "localhost").is_err());
    }

    #[test]
    fn peer_addresses_give_their_host() {
        assert_eq!(host_of("127.0.0.1:2888"), "127.0.0.1");
        assert_eq!(host_of("zk1.example.com:3888"), "zk1.example.com");
        assert_eq!(host_of("[::1]:3888"), "::1");
        assert_eq!(host_of("zk1"), "zk1");
    }

    #[test]
    fn the_combined_key_store_gives_tonic_its_certificates_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("ca").unwrap();
        let ca_path = ca.write(dir.path()).unwrap();
        let leaf = ca.server("s1", &["localhost"]).unwrap();
        let store = leaf.write(dir.path(), "s1").unwrap();
        // What tonic's Identity::from_pem(cert, key) does with each argument: all CERTIFICATE
        // blocks of the first, the first PRIVATE KEY block of the second.
        let pem = std::fs::read(&store).unwrap();
        let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs, vec![der(&leaf.cert_pem)]);
        let key = PrivateKeyDer::from_pem_slice(&pem).unwrap();
        let own = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        assert_eq!(key.secret_der(), own.secret_der());
        let tls = PeerTls::new(store.clone(), ca_path.clone());
        tls.check().unwrap();
        // tonic builds (and so parses) the connector here.
        tonic::transport::Endpoint::from_static("https://localhost:1")
            .tls_config(tls.client_config("localhost").unwrap())
            .unwrap();
        // Unusable files are named.
        let missing = PeerTls::new(dir.path().join("nope.pem"), ca_path);
        assert!(missing
            .check()
            .unwrap_err()
            .to_string()
            .contains("nope.pem"));
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        let no_ca = PeerTls::new(store, dir.path().join("empty.pem"));
        assert!(no_ca.check().unwrap_err().to_string().contains("empty.pem"));
        std::fs::write(dir.path().join("cert-only.pem"), &leaf.cert_pem).unwrap();
        let no_key = PeerTls::new(dir.path().join("cert-only.pem"), dir.path().join("ca.pem"));
        let e = no_key.check().unwrap_err().to_string();
        assert!(
            e.contains("cert-only.pem") && e.contains("PRIVATE KEY"),
            "{e}"
        );
    }
}
