//! TLS flags: how `paddock-cli` reaches a server whose gRPC port serves TLS (`paddock
//! --tls-key-store`), for the shell, one-shot commands, `health` and the admin words alike.
//!
//! ```text
//! -tls-ca FILE            PADDOCK_CLI_TLS_CA            CA certificate(s) the server's must chain to
//! -tls-cert FILE          PADDOCK_CLI_TLS_CERT          client certificate (+ key: one PEM holding
//!                                                       both, like the server's key store)
//! -tls-key FILE           PADDOCK_CLI_TLS_KEY           the key, when not in the -tls-cert file
//! -tls-server-name NAME   PADDOCK_CLI_TLS_SERVER_NAME   name the server's certificate must carry
//!                                                       (default: the host of -server)
//! ```
//!
//! A flag wins over its variable (an empty variable counts as unset). TLS is on when a CA is
//! given; the other three need it. For people coming from zkCli, its client properties work
//! too (`-Dname=value`): `zookeeper.ssl.trustStore.location` (the CA), `zookeeper.ssl.keyStore.location`
//! (a PEM key store: key and certificate), `zookeeper.ssl.{trust,key}Store.type` (PEM only),
//! `zookeeper.client.secure` and `zookeeper.clientCnxnSocket` (TLS follows from the trust
//! store; accepted for compatibility). Other `-D` properties are ignored with a warning.

use std::path::PathBuf;

use paddock_client::{Pem, TlsOptions};

pub const ENV_CA: &str = "PADDOCK_CLI_TLS_CA";
pub const ENV_CERT: &str = "PADDOCK_CLI_TLS_CERT";
pub const ENV_KEY: &str = "PADDOCK_CLI_TLS_KEY";
pub const ENV_SERVER_NAME: &str = "PADDOCK_CLI_TLS_SERVER_NAME";

/// The TLS flags as given (files not read yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsArgs {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub server_name: Option<String>,
    /// `-Dzookeeper.client.secure=true`: TLS asked for, so a trust store must be given.
    pub secure: bool,
    /// `-D` properties ignored, for a warning.
    pub ignored: Vec<String>,
}

impl TlsArgs {
    /// Takes `-Dname=value` (`property` is what follows `-D`), zkCli's client properties.
    pub fn system_property(&mut self, property: &str) -> Result<(), String> {
        let Some((name, value)) = property.split_once('=') else {
            return Err(format!("-D{property}: expected -Dname=value"));
        };
        let value = value.trim();
        match name {
            "zookeeper.ssl.trustStore.location" => self.ca = Some(value.into()),
            "zookeeper.ssl.keyStore.location" => self.cert = Some(value.into()),
            "zookeeper.ssl.trustStore.type" | "zookeeper.ssl.keyStore.type" => {
                if !value.eq_ignore_ascii_case("PEM") {
                    return Err(format!(
                        "-D{name}={value}: only PEM stores are supported (convert a JKS or \
                         PKCS12 store with keytool/openssl)"
                    ));
                }
            }
            "zookeeper.client.secure" => match value.to_ascii_lowercase().as_str() {
                "true" => self.secure = true,
                "false" => self.secure = false,
                _ => return Err(format!("-D{name}={value}: expected true or false")),
            },
            // zkCli needs the Netty socket for TLS; Paddock's client has one transport.
            "zookeeper.clientCnxnSocket" => {}
            _ => self.ignored.push(format!("-D{name}")),
        }
        Ok(())
    }

    /// Fills what the flags left unset from the `PADDOCK_CLI_TLS_*` variables (`env` looks one
    /// up).
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> TlsArgs {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        self.ca = self.ca.or_else(|| var(ENV_CA).map(PathBuf::from));
        self.cert = self.cert.or_else(|| var(ENV_CERT).map(PathBuf::from));
        self.key = self.key.or_else(|| var(ENV_KEY).map(PathBuf::from));
        self.server_name = self.server_name.or_else(|| var(ENV_SERVER_NAME));
        self
    }

    /// The client's TLS options, `None` for plaintext; an error when a TLS flag comes without
    /// the CA.
    pub fn options(&self) -> Result<Option<TlsOptions>, String> {
        let Some(ca) = &self.ca else {
            let orphan = [
                (self.cert.is_some(), "-tls-cert"),
                (self.key.is_some(), "-tls-key"),
                (self.server_name.is_some(), "-tls-server-name"),
                (self.secure, "-Dzookeeper.client.secure=true"),
            ]
            .into_iter()
            .find_map(|(set, flag)| set.then_some(flag));
            return match orphan {
                Some(flag) => Err(format!(
                    "{flag} needs -tls-ca FILE (or {ENV_CA}): the CA certificate the server's \
                     certificate is signed by"
                )),
                None => Ok(None),
            };
        };
        let mut tls = TlsOptions::new(Pem::file(ca));
        match (&self.cert, &self.key) {
            (Some(cert), None) => tls = tls.identity(Pem::file(cert)),
            (Some(cert), Some(key)) => tls = tls.identity_with_key(Pem::file(cert), Pem::file(key)),
            (None, Some(_)) => {
                return Err(
                    "-tls-key needs -tls-cert FILE (or PADDOCK_CLI_TLS_CERT): the certificate \
                     that goes with the key"
                        .into(),
                )
            }
            (None, None) => {}
        }
        if let Some(name) = &self.server_name {
            tls = tls.server_name(name.clone());
        }
        Ok(Some(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn nothing_given_is_plaintext() {
        let none = TlsArgs::default().with_env(env(&[]));
        assert_eq!(none.options(), Ok(None));
        let blank = TlsArgs::default().with_env(env(&[(ENV_CA, " ")]));
        assert_eq!(blank.options(), Ok(None));
    }

    #[test]
    fn flags_win_over_variables() {
        let flags = TlsArgs {
            ca: Some("flag-ca.pem".into()),
            ..TlsArgs::default()
        };
        let merged = flags.with_env(env(&[
            (ENV_CA, "env-ca.pem"),
            (ENV_CERT, "env-me.pem"),
            (ENV_SERVER_NAME, "paddock1"),
        ]));
        let tls = merged.options().unwrap().expect("TLS on");
        assert_eq!(tls.ca, Pem::file("flag-ca.pem"));
        assert_eq!(tls.cert, Some(Pem::file("env-me.pem")));
        assert_eq!(tls.key, None);
        assert_eq!(tls.server_name.as_deref(), Some("paddock1"));
    }

    #[test]
    fn a_separate_key() {
        let args = TlsArgs::default().with_env(env(&[
            (ENV_CA, "ca.pem"),
            (ENV_CERT, "me.crt"),
            (ENV_KEY, "me.key"),
        ]));
        let tls = args.options().unwrap().expect("TLS on");
        assert_eq!(tls.cert, Some(Pem::file("me.crt")));
        assert_eq!(tls.key, Some(Pem::file("me.key")));
    }

    #[test]
    fn tls_flags_without_a_ca_are_refused() {
        for args in [
            TlsArgs {
                cert: Some("me.pem".into()),
                ..TlsArgs::default()
            },
            TlsArgs {
                server_name: Some("x".into()),
                ..TlsArgs::default()
            },
            TlsArgs {
                secure: true,
                ..TlsArgs::default()
            },
        ] {
            let e = args.options().unwrap_err();
            assert!(e.contains("-tls-ca"), "{e}");
        }
        let key_only = TlsArgs {
            ca: Some("ca.pem".into()),
            key: Some("me.key".into()),
            ..TlsArgs::default()
        };
        assert!(key_only.options().unwrap_err().contains("-tls-cert"));
    }

    #[test]
    fn zkclis_client_properties() {
        let mut args = TlsArgs::default();
        for p in [
            "zookeeper.client.secure=true",
            "zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            "zookeeper.ssl.trustStore.location=/certs/ca.pem",
            "zookeeper.ssl.trustStore.type=PEM",
            "zookeeper.ssl.keyStore.location=/certs/me.pem",
            "zookeeper.ssl.keyStore.type=pem",
            "zookeeper.ssl.hostnameVerification=true",
        ] {
            args.system_property(p).unwrap();
        }
        assert!(args.secure);
        assert_eq!(args.ignored, vec!["-Dzookeeper.ssl.hostnameVerification"]);
        let tls = args.options().unwrap().expect("TLS on");
        assert_eq!(tls.ca, Pem::file("/certs/ca.pem"));
        assert_eq!(tls.cert, Some(Pem::file("/certs/me.pem")));
        let mut bad = TlsArgs::default();
        assert!(bad
            .system_property("zookeeper.ssl.trustStore.type=JKS")
            .unwrap_err()
            .contains("PEM"));
        assert!(bad.system_property("zookeeper.client.secure").is_err());
        assert!(bad.system_property("zookeeper.client.secure=yes").is_err());
    }
}
