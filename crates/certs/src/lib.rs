//! # paddock-certs — certificates for Paddock's TLS
//!
//! Makes a certificate authority and the server and client certificates signed by it, as PEM
//! files in the layout Paddock's TLS keys expect: a *key store* file holding a private key and its
//! certificate (`ssl.keyStore.location`), and a *trust store* file holding the CA certificate
//! (`ssl.trustStore.location`). For tests (made in a temp dir per test) and for the compose
//! ensembles (`make certs`, the `paddock-certs` binary). Not a PKI: certificates are valid for a
//! long time and keys are written unencrypted, readable by their owner only.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("paddock-certs-doc-{}", std::process::id()));
//! let ca = paddock_certs::Ca::new("Paddock test CA").unwrap();
//! let server = ca.server("paddock1", &["localhost", "127.0.0.1"]).unwrap();
//! let files = server.write(&dir, "paddock1").unwrap();
//! ca.write(&dir).unwrap();
//! assert!(std::fs::read_to_string(&files).unwrap().contains("PRIVATE KEY"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// What can go wrong making or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A certificate authority: its certificate (PEM) and what it needs to sign others.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A key and the certificate that goes with it (PEM), signed by a [`Ca`].
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Ca, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Paddock");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate: the content of a trust store.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn leaf(
        &self,
        common_name: &str,
        names: &[&str],
        usages: &[ExtendedKeyUsagePurpose],
    ) -> Result<Leaf, CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName((*n).try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        // Most general first in the certificate: Java (and so ZooKeeper's x509 ids) prints the
        // subject the other way round, `CN=<common_name>,O=Paddock`. (`new` starts the name
        // with a placeholder CN, which would otherwise keep the first place.)
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Paddock");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = usages.to_vec();
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A server certificate for the host names / addresses in `names` (subject
    /// `CN=<common_name>,O=Paddock`); it also serves as a client certificate (servers are each
    /// other's clients in an ensemble).
    pub fn server(&self, common_name: &str, names: &[&str]) -> Result<Leaf, CertError> {
        let usages = [
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.leaf(common_name, names, &usages)
    }

    /// A client certificate with subject `CN=<common_name>,O=Paddock`: its `x509` ACL id is
    /// `CN=<common_name>,O=Paddock`.
    pub fn client(&self, common_name: &str) -> Result<Leaf, CertError> {
        self.leaf(common_name, &[], &[ExtendedKeyUsagePurpose::ClientAuth])
    }

    /// Writes `ca.pem` (the trust store) into `dir`; returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, CertError> {
        write_file(&dir.join("ca.pem"), &self.cert_pem, false)
    }
}

impl Leaf {
    /// The key store content: the private key, then the certificate.
    pub fn key_store_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert_pem)
    }

    /// Writes `<name>.pem` (key + certificate, the key store; owner-only permissions),
    /// `<name>.crt` and `<name>.key` into `dir`; returns the key store's path.
    pub fn write(&self, dir: &Path, name: &str) -> Result<PathBuf, CertError> {
        write_file(&dir.join(format!("{name}.crt")), &self.cert_pem, false)?;
        write_file(&dir.join(format!("{name}.key")), &self.key_pem, true)?;
        write_file(
            &dir.join(format!("{name}.pem")),
            &self.key_store_pem(),
            true,
        )
    }
}

fn write_file(path: &Path, content: &str, private: bool) -> Result<PathBuf, CertError> {
    let fail = |source| CertError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    // Written next to the target and renamed over it: a server reloading certificates never
    // reads half a file.
    let tmp = path.with_extension("tmp-write");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = options.open(&tmp).map_err(fail)?;
    f.write_all(content.as_bytes()).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_signs_servers_and_clients() {
        let ca = Ca::new("test CA").unwrap();
        let server = ca.server("paddock1", &["localhost", "127.0.0.1"]).unwrap();
        let client = ca.client("alice").unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(server.key_store_pem().contains("PRIVATE KEY"));
        assert!(client.cert_pem.contains("CERTIFICATE"));
        let dir = std::env::temp_dir().join(format!("paddock-certs-test-{}", std::process::id()));
        let store = client.write(&dir, "alice").unwrap();
        assert!(std::fs::read_to_string(store)
            .unwrap()
            .contains("BEGIN CERTIFICATE"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("alice.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private keys are owner-only");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
