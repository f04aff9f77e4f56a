//! `AddAuth`: turning a scheme and credentials into the ids a session is authenticated as.
//!
//! Decided once, by the server the client talks to; the resulting ids are replicated in an
//! `AddAuth` transaction so every server (and every later server of the session) knows them.
//! Ids a connection proves by itself (`ip:`, `x509:`) are not stored with the session: they
//! travel in each transaction's header (`TxnHeader::conn_ids`) and belong to the connection.

use paddock_types::acl::{self, Id};
use paddock_types::{ErrorCode, ZkError};

use crate::config::ProcessorConfig;

fn failed(why: impl Into<String>) -> ZkError {
    ZkError::new(ErrorCode::AuthFailed, why)
}

/// The ids to add to the session for `addauth scheme auth`, as ZooKeeper's providers decide:
/// - `digest` with `user:password`: `digest:user:base64(sha1(user:password))`, plus the super
///   user's id first when it matches `superDigest`;
/// - `ip`: nothing new (the connection's `ip:` id is always there);
/// - `x509`: nothing new if the connection presented a verified client certificate.
///
/// Anything else is `AuthFailed` (and the caller ends the session).
pub(crate) fn authenticate(
    cfg: &ProcessorConfig,
    conn_ids: &[Id],
    scheme: &str,
    auth: &[u8],
) -> Result<Vec<Id>, ZkError> {
    match scheme {
        "digest" => {
            let text = std::str::from_utf8(auth)
                .map_err(|_| failed("digest credentials are not UTF-8"))?;
            let id = acl::digest(text)
                .ok_or_else(|| failed("digest credentials must be user:password"))?;
            let mut ids = Vec::with_capacity(2);
            if cfg.super_digest.as_deref() == Some(id.as_str()) {
                ids.push(Id::super_user());
            }
            ids.push(Id::new("digest", id));
            Ok(ids)
        }
        "ip" if conn_ids.iter().any(|c| c.scheme == "ip") => Ok(Vec::new()),
        "ip" => Err(failed("the connection has no IP address to authenticate")),
        "x509" if conn_ids.iter().any(|c| c.scheme == "x509") => Ok(Vec::new()),
        "x509" => Err(failed(
            "x509 authentication needs a verified client certificate (TLS with ssl.clientAuth)",
        )),
        other => Err(failed(format!(
            "no authentication provider for scheme {other:?} (digest, ip, x509)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_decide_as_zookeeper() {
        let cfg = ProcessorConfig {
            super_digest: Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".into()),
            ..ProcessorConfig::default()
        };
        let ip = [Id::new("ip", "127.0.0.1")];
        let ids = authenticate(&cfg, &ip, "digest", b"bob:secret").unwrap();
        assert_eq!(
            ids,
            vec![Id::new("digest", acl::digest("bob:secret").unwrap())]
        );
        let su = authenticate(&cfg, &ip, "digest", b"super:test").unwrap();
        assert_eq!(su[0], Id::super_user());
        assert_eq!(su.len(), 2);
        assert!(authenticate(&cfg, &ip, "ip", b"").unwrap().is_empty());
        for (scheme, auth) in [
            ("digest", &b"nocolon"[..]),
            ("digest", &[0xff, b':', 0xfe][..]),
            ("x509", b""),
            ("kerberos", b"x"),
            ("world", b"anyone"),
        ] {
            let e = authenticate(&cfg, &ip, scheme, auth).unwrap_err();
            assert_eq!(e.code, ErrorCode::AuthFailed, "{scheme}");
        }
        assert!(authenticate(&cfg, &[], "ip", b"").is_err());
    }
}
