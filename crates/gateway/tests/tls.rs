//! TLS on the client port: client certificates (need / want), x509 ids and the x509 super user,
//! clear refusals for plaintext clients and untrusted certificates, and certificate rotation
//! without a restart.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use paddock_certs::{Ca, Leaf};
use paddock_gateway::{ClientAuth, Gateway, GatewayError, GatewayOptions, TlsOptions};
use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_client::PaddockClient;
use paddock_types::Id;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::new("test CA").expect("CA");
        ca.write(dir.path()).expect("write CA");
        let server = ca
            .server("server", &["localhost", "127.0.0.1"])
            .expect("server cert");
        server.write(dir.path(), "server").expect("write server");
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, auth: ClientAuth) -> TlsOptions {
        TlsOptions {
            client_auth: auth,
            reload_interval_ms: 20,
            ..TlsOptions::new(self.path("server.pem"), Some(self.path("ca.pem")))
        }
    }
}

fn opts(tls: TlsOptions) -> GatewayOptions {
    GatewayOptions {
        tls: Some(tls),
        ..GatewayOptions::default()
    }
}

/// A TLS channel trusting `ca_pem`, presenting `client` if given.
async fn tls_channel(
    server: &TestServer,
    ca_pem: &str,
    client: Option<&Leaf>,
) -> Result<Channel, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
    }
    let endpoint = Endpoint::from_shared(format!("https://{}", server.addr))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|e| format!("{e:?}"))
}

/// Opens a session over `channel`; the handshake's outcome.
async fn open(channel: Channel) -> Result<pb::ConnectResponse, String> {
    let mut client = PaddockClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(connect(0, &[])).await.map_err(|e| e.to_string())?;
    let mut stream = client
        .session(ReceiverStream::new(rx))
        .await
        .map_err(|e| format!("{e:?}"))?
        .into_inner();
    let first = tokio::time::timeout(WAIT, stream.message())
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let _keep = tx;
    match first.and_then(|m| m.message) {
        Some(pb::server_message::Message::Connect(c)) => Ok(c),
        other => Err(format!("unexpected first message {other:?}")),
    }
}

async fn try_session(server: &TestServer, ca: &str, client: Option<&Leaf>) -> Result<(), String> {
    let channel = tls_channel(server, ca, client).await?;
    open(channel).await.map(drop)
}

#[tokio::test]
async fn a_trusted_client_certificate_is_an_x509_id_and_others_are_refused() {
    let pki = Pki::new();
    let server = start(Fake::new(true), opts(pki.tls(ClientAuth::Need))).await;
    let alice = pki.ca.client("alice").expect("client cert");
    try_session(&server, pki.ca.cert_pem(), Some(&alice))
        .await
        .expect("a client with a trusted certificate is served");
    let ids = server.fake.state().connects[0].conn_ids.clone();
    assert_eq!(
        ids,
        vec![
            Id::new("ip", "127.0.0.1"),
            Id::new("x509", "CN=alice,O=Paddock")
        ]
    );
    // No certificate, or one from another CA: refused at the handshake.
    assert!(try_session(&server, pki.ca.cert_pem(), None).await.is_err());
    let stranger = Ca::new("other CA")
        .expect("CA")
        .client("mallory")
        .expect("cert");
    assert!(try_session(&server, pki.ca.cert_pem(), Some(&stranger))
        .await
        .is_err());
    // A plaintext client gets an error, not a hang.
    let plain = Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("uri")
        .connect_timeout(Duration::from_secs(5));
    let outcome = match plain.connect().await {
        Err(e) => Err(e.to_string()),
        Ok(ch) => tokio::time::timeout(WAIT, open(ch))
            .await
            .expect("an answer in time"),
    };
    assert!(outcome.is_err(), "plaintext to a TLS port must fail");
    // Only the trusted client ever reached the backend.
    assert_eq!(server.fake.state().connects.len(), 1);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn want_serves_clients_without_a_certificate_and_the_x509_super_user_is_super() {
    let pki = Pki::new();
    let o = GatewayOptions {
        x509_super_user: Some("CN=operator,O=Paddock".into()),
        ..opts(pki.tls(ClientAuth::Want))
    };
    let server = start(Fake::new(true), o).await;
    try_session(&server, pki.ca.cert_pem(), None)
        .await
        .expect("served without a certificate");
    let operator = pki.ca.client("operator").expect("cert");
    try_session(&server, pki.ca.cert_pem(), Some(&operator))
        .await
        .expect("served");
    let connects = server.fake.state().connects.clone();
    assert_eq!(connects[0].conn_ids, vec![Id::new("ip", "127.0.0.1")]);
    assert!(connects[1].conn_ids.contains(&Id::super_user()));
    assert!(connects[1]
        .conn_ids
        .contains(&Id::new("x509", "CN=operator,O=Paddock")));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_tls_client_to_a_plaintext_port_fails_clearly() {
    let pki = Pki::new();
    let server = start(Fake::new(true), GatewayOptions::default()).await;
    let outcome = tokio::time::timeout(WAIT, try_session(&server, pki.ca.cert_pem(), None))
        .await
        .expect("an answer in time");
    assert!(outcome.is_err());
    server.shutdown().await.expect("clean shutdown");
}

fn rewrite(path: &Path, leaf: &Leaf) {
    let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
    leaf.write(path.parent().expect("dir"), name)
        .expect("rewrite");
}

#[tokio::test]
async fn certificates_rotate_without_a_restart() {
    let pki = Pki::new();
    let server = start(Fake::new(true), opts(pki.tls(ClientAuth::None))).await;
    try_session(&server, pki.ca.cert_pem(), None)
        .await
        .expect("served by the first certificate");
    // A new CA issues the server a new certificate; the files are replaced in place.
    let next = Ca::new("next CA").expect("CA");
    rewrite(
        &pki.path("server.pem"),
        &next.server("server", &["localhost"]).expect("cert"),
    );
    next.write(pki.dir.path()).expect("write CA");
    let deadline = Instant::now() + WAIT;
    loop {
        if try_session(&server, next.cert_pem(), None).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Clients that trust only the old CA no longer connect.
    assert!(try_session(&server, pki.ca.cert_pem(), None).await.is_err());
    // A broken file is not loaded: the server keeps the last good certificate.
    std::fs::write(pki.path("server.pem"), "not a certificate").expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    try_session(&server, next.cert_pem(), None)
        .await
        .expect("still served");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unusable_tls_files_stop_the_gateway_with_a_clear_error() {
    let pki = Pki::new();
    let fake = Fake::new(true);
    let missing = TlsOptions::new(pki.path("nope.pem"), None);
    let e = Gateway::new(fake.clone(), opts(missing))
        .err()
        .expect("refused");
    assert!(matches!(e, GatewayError::Tls(_)), "{e}");
    assert!(e.to_string().contains("nope.pem"), "{e}");
    std::fs::write(pki.path("empty.pem"), "").expect("write");
    let e = Gateway::new(
        fake.clone(),
        opts(TlsOptions::new(pki.path("empty.pem"), None)),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("CERTIFICATE"), "{e}");
    // A certificate without its key.
    std::fs::copy(pki.path("server.crt"), pki.path("nokey.pem")).expect("copy");
    let e = Gateway::new(
        fake.clone(),
        opts(TlsOptions::new(pki.path("nokey.pem"), None)),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
    // need without a trust store.
    let mut no_trust = TlsOptions::new(pki.path("server.pem"), None);
    no_trust.client_auth = ClientAuth::Need;
    let e = Gateway::new(fake, opts(no_trust)).err().expect("refused");
    assert!(e.to_string().contains("trust"), "{e}");
}
