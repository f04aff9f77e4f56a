//! TLS options: what the client trusts, who it is, which name it expects — and reading them.
//!
//! A server started with `--tls-key-store` (zoo.cfg `ssl.keyStore.location`) serves its gRPC
//! port over TLS only. A client then needs the CA certificate(s) the server's certificate chains
//! to; when the server also has a trust store (`ssl.trustStore.location`, client certificates
//! required by default) the client presents a certificate signed by one of those CAs, and the
//! session gets the ACL id `x509:<subject>` (e.g. `x509:CN=alice,O=Paddock`).
//!
//! ```text
//!  TlsOptions { ca, cert, key, server_name }      (PEM bytes or files; nothing read yet)
//!        │ Tls::load, once, at Client::connect: files read, PEM parsed, the key checked
//!        │ against the certificate — a bad file is Error::TlsConfig here, never later
//!        ▼
//!  Tls (a ClientTlsConfig) ──▶ https://host:port for every server of the connect string,
//!                              on the first connection and on every resume
//! ```
//!
//! The files are read once: a session keeps the material it started with (a client certificate
//! replaced on disk is used by the next [`crate::Client::connect`]).

use std::fmt;
use std::path::{Path, PathBuf};

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::RootCertStore;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::error::Error;

/// Largest PEM file read (a trust store of many CAs is still far below): a wrong path to a
/// huge file fails fast instead of filling memory.
const PEM_SIZE_MAX: u64 = 16 << 20;

/// PEM text, given as it is or as a file read at [`crate::Client::connect`].
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pem {
    /// PEM read from `path` when the client connects.
    pub fn file(path: impl Into<PathBuf>) -> Pem {
        Pem::File(path.into())
    }

    /// PEM given as it is (e.g. from a secret store).
    pub fn bytes(pem: impl Into<Vec<u8>>) -> Pem {
        Pem::Bytes(pem.into())
    }

    /// Where it comes from, for messages.
    fn origin(&self) -> String {
        match self {
            Pem::Bytes(_) => "the PEM given".to_string(),
            Pem::File(p) => p.display().to_string(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, Error> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(path) => read_file(path),
        }
    }
}

/// Never prints the bytes: they may be a private key.
impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::Bytes(b) => write!(f, "Pem::Bytes(<{} bytes>)", b.len()),
            Pem::File(p) => f.debug_tuple("Pem::File").field(p).finish(),
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let fail = |why: String| Error::TlsConfig(format!("cannot read {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a file".into()));
    }
    if meta.len() > PEM_SIZE_MAX {
        return Err(fail(format!(
            "{} bytes is too large for a PEM file (at most {PEM_SIZE_MAX})",
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| fail(e.to_string()))
}

/// TLS for every connection of a client ([`crate::ClientOptions::tls`]).
///
/// ```no_run
/// use paddock_client::{Client, ClientOptions, Pem, TlsOptions};
/// # async fn demo() -> Result<(), paddock_client::Error> {
/// // Trust the servers' CA; be `alice` (one PEM file holding her key and certificate).
/// let tls = TlsOptions::new(Pem::file("ca.pem")).identity(Pem::file("alice.pem"));
/// let client = Client::connect("paddock1:7181", ClientOptions::default().tls(tls)).await?;
/// println!("{:?}", client.who_am_i().await?); // [ip:..., x509:CN=alice,O=Paddock]
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// The CA certificates (one or more PEM CERTIFICATE blocks) the servers' certificates must
    /// chain to: the client's trust store.
    pub ca: Pem,
    /// The client's certificate chain (leaf first), presented when a server asks for one (a
    /// server with a trust store requires it, and makes it the session's `x509` id). It may also
    /// hold the private key: one PEM file with both, like the server's key store.
    pub cert: Option<Pem>,
    /// The private key of `cert` (unencrypted PKCS#8, PKCS#1 or SEC1); `None`: it is in `cert`.
    pub key: Option<Pem>,
    /// The name the servers' certificates must be valid for; `None`: the host of each
    /// connect-string entry (a DNS name or an IP address, as written). Set it when connecting
    /// by an address the certificate does not name (e.g. through a tunnel).
    pub server_name: Option<String>,
}

impl TlsOptions {
    /// Trusts the CAs in `ca`; no client certificate, each server checked against its own host.
    pub fn new(ca: Pem) -> TlsOptions {
        TlsOptions {
            ca,
            cert: None,
            key: None,
            server_name: None,
        }
    }

    /// Presents the certificate in `key_store`, a PEM holding the private key and the
    /// certificate chain (the layout of the server's key store and of `paddock-certs`'
    /// `<name>.pem`).
    pub fn identity(mut self, key_store: Pem) -> TlsOptions {
        self.cert = Some(key_store);
        self.key = None;
        self
    }

    /// Presents the certificate chain `cert` with its private key `key` (separate PEMs).
    pub fn identity_with_key(mut self, cert: Pem, key: Pem) -> TlsOptions {
        self.cert = Some(cert);
        self.key = Some(key);
        self
    }

    /// Expects every server's certificate to be valid for `name`.
    pub fn server_name(mut self, name: impl Into<String>) -> TlsOptions {
        self.server_name = Some(name.into());
        self
    }
}

/// TLS options read and checked: ready to use for any number of connections.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    config: ClientTlsConfig,
    /// Whether a client certificate is presented.
    identity: bool,
}

impl Tls {
    /// Reads and checks everything `opts` names. Errors are [`Error::TlsConfig`] saying which
    /// file and what is wrong with it.
    pub fn load(opts: &TlsOptions) -> Result<Tls, Error> {
        let ca = opts.ca.read()?;
        check_trust_store(&opts.ca, &ca)?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        match (&opts.cert, &opts.key) {
            (Some(cert), key) => {
                let (cert_pem, key_pem) = identity_pems(cert, key.as_ref())?;
                config = config.identity(Identity::from_pem(cert_pem, key_pem));
            }
            (None, Some(key)) => {
                return Err(Error::TlsConfig(format!(
                    "a private key ({}) without a client certificate: give the certificate too",
                    key.origin()
                )))
            }
            (None, None) => {}
        }
        if let Some(name) = &opts.server_name {
            config = config.domain_name(name.clone());
        }
        // tonic builds the rustls configuration here: a key that does not belong to the
        // certificate, or a server name that is neither a DNS name nor an address, fails now.
        Endpoint::from_static("https://localhost:1")
            .tls_config(config.clone())
            .map_err(|e| Error::TlsConfig(crate::transport::with_sources(&e)))?;
        Ok(Tls {
            config,
            identity: opts.cert.is_some(),
        })
    }

    pub fn has_identity(&self) -> bool {
        self.identity
    }

    /// The endpoint of `addr` (`host:port`) over TLS.
    pub fn endpoint(&self, addr: &str) -> Result<Endpoint, Error> {
        Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| Error::InvalidArgument(format!("{addr}: {e}")))?
            .tls_config(self.config.clone())
            .map_err(|e| {
                Error::TlsConfig(format!("{addr}: {}", crate::transport::with_sources(&e)))
            })
    }
}

/// The CA certificates must parse and be usable as trust anchors (tonic would skip bad ones
/// silently and every handshake would then fail with "unknown issuer").
fn check_trust_store(origin: &Pem, pem: &[u8]) -> Result<(), Error> {
    let certs = certificates(origin, pem)?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            Error::TlsConfig(format!(
                "{}: not a usable CA certificate: {e}",
                origin.origin()
            ))
        })?;
    }
    Ok(())
}

fn certificates(origin: &Pem, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig(format!("{}: bad PEM: {e}", origin.origin())))?;
    if certs.is_empty() {
        return Err(Error::TlsConfig(format!(
            "{}: no CERTIFICATE block",
            origin.origin()
        )));
    }
    Ok(certs)
}

/// The certificate and key PEMs of the client's identity, checked: `key` may be `None` when
/// `cert` holds both.
fn identity_pems(cert: &Pem, key: Option<&Pem>) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let cert_pem = cert.read()?;
    certificates(cert, &cert_pem)?;
    let (key_origin, key_pem) = match key {
        Some(k) => (k, k.read()?),
        None => (cert, cert_pem.clone()),
    };
    if String::from_utf8_lossy(&key_pem).contains("ENCRYPTED PRIVATE KEY") {
        return Err(Error::TlsConfig(format!(
            "{}: the private key is encrypted; give an unencrypted PKCS#8, PKCS#1 or SEC1 key",
            key_origin.origin()
        )));
    }
    if let Err(e) = PrivateKeyDer::from_pem_slice(&key_pem) {
        let hint = if key.is_none() {
            " (give the key separately, or one PEM holding the key and the certificate)"
        } else {
            ""
        };
        return Err(Error::TlsConfig(format!(
            "{}: no usable PRIVATE KEY block: {e}{hint}",
            key_origin.origin()
        )));
    }
    Ok((cert_pem, key_pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_error(opts: &TlsOptions) -> String {
        match Tls::load(opts) {
            Err(Error::TlsConfig(msg)) => msg,
            other => panic!("expected a TLS configuration error, got {other:?}"),
        }
    }

    #[test]
    fn debug_never_shows_pem_bytes() {
        let key = Pem::bytes("-----BEGIN PRIVATE KEY-----\nsecret\n");
        assert_eq!(format!("{key:?}"), "Pem::Bytes(<35 bytes>)");
    }

    #[test]
    fn unusable_material_is_refused_with_its_origin() {
        let missing = TlsOptions::new(Pem::file("/nonexistent/ca.pem"));
        assert!(config_error(&missing).contains("/nonexistent/ca.pem"));
        let empty = TlsOptions::new(Pem::bytes(""));
        assert!(config_error(&empty).contains("no CERTIFICATE"));
        let garbage = TlsOptions::new(Pem::bytes(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ));
        assert!(config_error(&garbage).contains("CA certificate"));
        let dir = std::env::temp_dir();
        let not_a_file = TlsOptions::new(Pem::File(dir));
        assert!(config_error(&not_a_file).contains("not a file"));
    }
}
