//! The client over TLS against an in-process server with TLS on its gRPC port
//! (`ssl.keyStore.location`, `ssl.trustStore.location`: client certificates required): sessions,
//! the certificate's `x509` id, resume over TLS, and the clear errors a mismatch gives —
//! plaintext at a TLS port, TLS at a plaintext port, a certificate either side refuses, and TLS
//! files that cannot be used.

mod support;

use std::path::PathBuf;

use bytes::Bytes;
use paddock_certs::Ca;
use paddock_client::{
    perms, Acl, Client, ClientOptions, CreateMode, Error, ErrorCode, EventType, Id, Pem,
    SessionState, TlsOptions,
};
use support::*;

/// A CA, the server's key store, client certificates for alice and bob signed by it, and
/// mallory's signed by another CA: files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = Ca::new("test CA").expect("CA");
        ca.write(dir.path()).expect("write the CA");
        let server = ca
            .server("paddock", &["localhost", "127.0.0.1"])
            .expect("server certificate");
        server.write(dir.path(), "server").expect("write");
        for name in ["alice", "bob"] {
            let leaf = ca.client(name).expect("client certificate");
            leaf.write(dir.path(), name).expect("write");
        }
        let other = Ca::new("other CA").expect("CA");
        let mallory = other.client("mallory").expect("client certificate");
        mallory.write(dir.path(), "mallory").expect("write");
        std::fs::write(dir.path().join("other-ca.pem"), other.cert_pem()).expect("write");
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A node with TLS on its gRPC port, client certificates required (`need`, the default
    /// with a trust store).
    async fn node(&self) -> TestNode {
        TestNode::start_with(|c| {
            c.ssl_key_store = Some(self.path("server.pem"));
            c.ssl_trust_store = Some(self.path("ca.pem"));
        })
        .await
    }

    /// Trusting the CA, presenting `who`'s key store (`<who>.pem`: key and certificate).
    fn as_user(&self, who: &str) -> ClientOptions {
        let tls = TlsOptions::new(Pem::file(self.path("ca.pem")))
            .identity(Pem::file(self.path(&format!("{who}.pem"))));
        opts().tls(tls)
    }
}

/// The error of a `Client::connect` that must fail.
async fn refused(cs: &str, o: ClientOptions) -> Error {
    match within("connect", Client::connect(cs, o)).await {
        Ok(c) => panic!("connected to {cs}: {c:?}"),
        Err(e) => e,
    }
}

fn tls_message(e: Error) -> String {
    match e {
        Error::Tls(msg) => {
            assert_eq!(Error::Tls(msg.clone()).code(), ErrorCode::ConnectionLoss);
            msg
        }
        other => panic!("expected Error::Tls, got {other:?}"),
    }
}

/// A verified client certificate is the session's `x509:<subject>` id (ZooKeeper's
/// X509AuthenticationProvider), usable in ACLs like any other id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_session_is_its_certificates_x509_id() {
    let pki = Pki::new();
    let node = pki.node().await;
    let alice = connect(&node.addr.to_string(), pki.as_user("alice")).await;
    let ids = alice.who_am_i().await.expect("whoAmI");
    assert!(
        ids.contains(&Id::new("x509", "CN=alice,O=Paddock")),
        "{ids:?}"
    );
    let mine = vec![Acl::new(perms::ALL, Id::new("x509", "CN=alice,O=Paddock"))];
    alice
        .create_with_acl("/alice", "hers", CreateMode::Persistent, mine)
        .await
        .expect("create");
    let (data, _) = alice.get_data("/alice").await.expect("get");
    assert_eq!(data, Bytes::from("hers"));
    let bob = connect(&node.addr.to_string(), pki.as_user("bob")).await;
    assert_eq!(
        bob.get_data("/alice").await.unwrap_err().code(),
        ErrorCode::NoAuth
    );
    alice.close().await.expect("close");
    bob.close().await.expect("close");
}

/// The identity as a separate certificate and key, and PEM given as bytes instead of files;
/// the server name override (the certificate names `localhost` too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_key_files_pem_bytes_and_a_server_name() {
    let pki = Pki::new();
    let node = pki.node().await;
    let read = |name: &str| std::fs::read(pki.path(name)).expect("read");
    let tls = TlsOptions::new(Pem::bytes(pki.ca.cert_pem()))
        .identity_with_key(Pem::file(pki.path("bob.crt")), Pem::bytes(read("bob.key")))
        .server_name("localhost");
    let bob = connect(&node.addr.to_string(), opts().tls(tls)).await;
    let ids = bob.who_am_i().await.expect("whoAmI");
    assert!(
        ids.contains(&Id::new("x509", "CN=bob,O=Paddock")),
        "{ids:?}"
    );
    bob.close().await.expect("close");
}

/// A session over TLS resumes over TLS on a new connection: same session, its ephemeral and its
/// watch kept, and still the certificate's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_session_resumes_after_the_connection_drops() {
    let pki = Pki::new();
    let node = pki.node().await;
    // The proxy relays bytes: TLS runs end to end through it, checked against 127.0.0.1.
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), pki.as_user("alice")).await;
    let observer = connect(&node.addr.to_string(), pki.as_user("bob")).await;
    let id = c.session_id();
    c.create("/eph", "x", CreateMode::Ephemeral)
        .await
        .expect("create");
    let (_, _, watch) = c.get_data_w("/eph").await.expect("get with a watch");
    let mut states = c.state_events();

    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    expect_state(&mut states, SessionState::Connected).await;
    assert_eq!(c.session_id(), id);
    let (_, stat) = c.get_data("/eph").await.expect("the ephemeral survived");
    assert_eq!(stat.ephemeral_owner, id.0);
    let ids = c.who_am_i().await.expect("whoAmI");
    assert!(
        ids.contains(&Id::new("x509", "CN=alice,O=Paddock")),
        "{ids:?}"
    );
    observer.set_data("/eph", "y", -1).await.expect("set");
    let e = within("watch after resume", watch)
        .await
        .expect("the watch fired");
    assert_eq!(e.event_type, EventType::NodeDataChanged);
    c.close().await.expect("close");
    observer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_at_a_tls_port_is_told_tls_is_required() {
    let pki = Pki::new();
    let node = pki.node().await;
    let msg = tls_message(refused(&node.addr.to_string(), opts()).await);
    assert!(msg.contains("does it require TLS?"), "{msg}");
    assert!(msg.contains(&node.addr.to_string()), "{msg}");
    // With a server that is down in the list too, the TLS failure is what is reported.
    let cs = format!("127.0.0.1:{},{}", unused_port(), node.addr);
    let msg = tls_message(refused(&cs, opts()).await);
    assert!(msg.contains("does it require TLS?"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_at_a_plaintext_port_is_told_the_server_does_not_speak_tls() {
    let pki = Pki::new();
    let node = TestNode::start().await;
    let msg = tls_message(refused(&node.addr.to_string(), pki.as_user("alice")).await);
    assert!(
        msg.starts_with(&format!("the TLS handshake with {} failed", node.addr)),
        "{msg}"
    );
    assert!(msg.contains("is the server using TLS?"), "{msg}");
}

/// Certificates refused on either side: the server's by the client (another CA, another name),
/// the client's by the server (another CA, none at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_certificates_are_named_as_such() {
    let pki = Pki::new();
    let node = pki.node().await;
    let addr = node.addr.to_string();

    let mallory = tls_message(refused(&addr, pki.as_user("mallory")).await);
    assert!(mallory.contains("client certificate"), "{mallory}");
    assert!(mallory.contains("trust store"), "{mallory}");

    let anonymous = opts().tls(TlsOptions::new(Pem::file(pki.path("ca.pem"))));
    let msg = tls_message(refused(&addr, anonymous).await);
    assert!(msg.contains("client certificate"), "{msg}");

    let wrong_ca = opts().tls(
        TlsOptions::new(Pem::file(pki.path("other-ca.pem")))
            .identity(Pem::file(pki.path("alice.pem"))),
    );
    let msg = tls_message(refused(&addr, wrong_ca).await);
    assert!(msg.contains("UnknownIssuer"), "{msg}");
    assert!(msg.contains("signed by the CA you gave"), "{msg}");

    let wrong_name = opts().tls(
        TlsOptions::new(Pem::file(pki.path("ca.pem")))
            .identity(Pem::file(pki.path("alice.pem")))
            .server_name("paddock.example"),
    );
    let msg = tls_message(refused(&addr, wrong_name).await);
    assert!(msg.contains("paddock.example"), "{msg}");
    assert!(msg.contains("server name"), "{msg}");
}

/// Unusable TLS files fail `Client::connect` at once, naming the file, before any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_files_are_a_configuration_error() {
    let pki = Pki::new();
    let cs = format!("127.0.0.1:{}", unused_port());
    let config_error = |e: Error| match e {
        Error::TlsConfig(msg) => {
            assert_eq!(
                Error::TlsConfig(msg.clone()).code(),
                ErrorCode::BadArguments
            );
            msg
        }
        other => panic!("expected Error::TlsConfig, got {other:?}"),
    };
    let ca = || TlsOptions::new(Pem::file(pki.path("ca.pem")));

    let missing = opts().tls(TlsOptions::new(Pem::file(pki.path("nope.pem"))));
    let msg = config_error(refused(&cs, missing).await);
    assert!(msg.contains("nope.pem"), "{msg}");

    std::fs::write(pki.path("empty.pem"), "").expect("write");
    let empty = opts().tls(TlsOptions::new(Pem::file(pki.path("empty.pem"))));
    let msg = config_error(refused(&cs, empty).await);
    assert!(
        msg.contains("empty.pem") && msg.contains("CERTIFICATE"),
        "{msg}"
    );

    // A certificate without its key, and a key without its certificate.
    let no_key = opts().tls(ca().identity(Pem::file(pki.path("alice.crt"))));
    let msg = config_error(refused(&cs, no_key).await);
    assert!(
        msg.contains("alice.crt") && msg.contains("PRIVATE KEY"),
        "{msg}"
    );
    let only_key = opts().tls(TlsOptions {
        key: Some(Pem::file(pki.path("alice.key"))),
        ..ca()
    });
    let msg = config_error(refused(&cs, only_key).await);
    assert!(msg.contains("without a client certificate"), "{msg}");

    // A key that is not the certificate's.
    let mismatched = opts().tls(ca().identity_with_key(
        Pem::file(pki.path("alice.crt")),
        Pem::file(pki.path("bob.key")),
    ));
    config_error(refused(&cs, mismatched).await);
}
