//! The gRPC election transport with mutual TLS (sslQuorum) on loopback sockets: a TLS pair
//! connects and exchanges votes; a peer with a certificate of another CA, or one that does not
//! name its host, or without TLS at all, never gets a stream (and cannot vote); a TLS server
//! never talks to a plaintext one, either way round. Every wait is bounded.
#![cfg(feature = "grpc")]

use paddock_certs::Ca;
use paddock_election::grpc::{GrpcElectionConfig, GrpcElectionTransport};
use paddock_election::{ElectionTransport, Notification, PeerState, Vote};
use paddock_proto::v1::election_client::ElectionClient;
use paddock_tls::{FailureKind, PeerTls, MISMATCH_HINT};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);
/// How long a refused peer is watched for a stream that must not appear: several redials
/// (every 20..200 ms).
const REFUSED_FOR: Duration = Duration::from_millis(1_500);

/// Certificates in a temp dir: `ca.pem` (the ensemble's CA), `good.pem` (signed by it, for
/// localhost / 127.0.0.1), `other.pem` (same names, another CA, `other-ca.pem`), and
/// `elsewhere.pem` (the ensemble's CA, for 10.9.9.9 only).
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("ensemble CA").unwrap();
        ca.write(dir.path()).unwrap();
        let names = ["localhost", "127.0.0.1"];
        ca.server("good", &names)
            .unwrap()
            .write(dir.path(), "good")
            .unwrap();
        ca.server("elsewhere", &["10.9.9.9"])
            .unwrap()
            .write(dir.path(), "elsewhere")
            .unwrap();
        let other = Ca::new("another CA").unwrap();
        other
            .server("other", &names)
            .unwrap()
            .write(dir.path(), "other")
            .unwrap();
        std::fs::write(dir.path().join("other-ca.pem"), other.cert_pem()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `key_store` presented, `trust` trusted.
    fn tls(&self, key_store: &str, trust: &str) -> Option<PeerTls> {
        Some(PeerTls::new(self.path(key_store), self.path(trust)))
    }

    fn good(&self) -> Option<PeerTls> {
        self.tls("good.pem", "ca.pem")
    }
}

async fn listeners(ids: &[u64]) -> (Vec<TcpListener>, HashMap<ServerId, String>) {
    let mut ls = Vec::new();
    let mut peers = HashMap::new();
    for id in ids {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        peers.insert(ServerId(*id), l.local_addr().unwrap().to_string());
        ls.push(l);
    }
    (ls, peers)
}

fn config(me: u64, peers: &HashMap<ServerId, String>, tls: Option<PeerTls>) -> GrpcElectionConfig {
    let mut c = GrpcElectionConfig::new(ServerId(me), peers.clone());
    c.retry_min = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(200);
    c.hello_timeout = Duration::from_millis(1_000);
    c.tls = tls;
    c
}

/// Servers 1 (accepts) and 2 (dials 1) with their TLS settings.
async fn pair(
    tls1: Option<PeerTls>,
    tls2: Option<PeerTls>,
) -> (GrpcElectionTransport, GrpcElectionTransport) {
    let (mut ls, peers) = listeners(&[1, 2]).await;
    let l2 = ls.pop().unwrap();
    let l1 = ls.pop().unwrap();
    let t1 = GrpcElectionTransport::start(config(1, &peers, tls1), l1).unwrap();
    let t2 = GrpcElectionTransport::start(config(2, &peers, tls2), l2).unwrap();
    (t1, t2)
}

fn vote_from(sender: u64) -> Notification {
    Notification {
        vote: Vote::new(ServerId(sender), Zxid(7), Epoch(1)),
        round: 1,
        sender: ServerId(sender),
        sender_state: PeerState::Looking,
    }
}

async fn receive(t: &mut GrpcElectionTransport) -> (ServerId, Notification) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(got) = t.try_recv() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a notification in time")
}

/// Neither side gets a stream, and a vote sent meanwhile is never delivered.
async fn assert_never_connect(mut t1: GrpcElectionTransport, mut t2: GrpcElectionTransport) {
    assert_no_stream_for(&mut t1, &mut t2, REFUSED_FOR).await;
}

async fn assert_no_stream_for(
    t1: &mut GrpcElectionTransport,
    t2: &mut GrpcElectionTransport,
    period: Duration,
) {
    t2.send(ServerId(1), vote_from(2));
    t1.send(ServerId(2), vote_from(1));
    let deadline = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < deadline {
        assert!(t1.connected().is_empty(), "server 1 has a stream");
        assert!(t2.connected().is_empty(), "server 2 has a stream");
        assert_eq!(t1.try_recv(), None, "a vote reached server 1");
        assert_eq!(t2.try_recv(), None, "a vote reached server 2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_pair_connects_and_exchanges_votes() {
    let pki = Pki::new();
    let (mut t1, mut t2) = pair(pki.good(), pki.good()).await;
    // Queued before the stream is up; flushed once 2 has dialled 1 over TLS.
    t2.send(ServerId(1), vote_from(2));
    assert_eq!(receive(&mut t1).await, (ServerId(2), vote_from(2)));
    t1.send(ServerId(2), vote_from(1));
    assert_eq!(receive(&mut t2).await, (ServerId(1), vote_from(1)));
    assert_eq!(t1.connected(), vec![ServerId(2)]);
    assert_eq!(t2.connected(), vec![ServerId(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialler_with_a_certificate_of_another_ca_is_refused() {
    let pki = Pki::new();
    // Server 2 trusts the ensemble's CA but presents another CA's certificate: server 1's
    // handshake refuses it.
    let (t1, t2) = pair(pki.good(), pki.tls("other.pem", "ca.pem")).await;
    assert_never_connect(t1, t2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_certificate_of_another_ca_is_not_dialled() {
    let pki = Pki::new();
    // Server 1 presents another CA's certificate: server 2's handshake refuses it.
    let (t1, t2) = pair(pki.tls("other.pem", "ca.pem"), pki.good()).await;
    assert_never_connect(t1, t2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_does_not_name_the_peers_host_is_refused() {
    let pki = Pki::new();
    // Server 2's certificate is the ensemble CA's, but for 10.9.9.9, not 127.0.0.1 (its host
    // in the server list): server 1 refuses it after the hello.
    let (t1, t2) = pair(pki.good(), pki.tls("elsewhere.pem", "ca.pem")).await;
    assert_never_connect(t1, t2).await;
    // And the other way: server 2 checks that server 1's certificate names 127.0.0.1.
    let (t1, t2) = pair(pki.tls("elsewhere.pem", "ca.pem"), pki.good()).await;
    assert_never_connect(t1, t2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_tls_servers_never_talk() {
    let pki = Pki::new();
    let (t1, t2) = pair(pki.good(), None).await;
    assert_never_connect(t1, t2).await;
    let (t1, t2) = pair(None, pki.good()).await;
    assert_never_connect(t1, t2).await;
}

/// Replaces `to` with a copy of `from` as an operator would: written aside, renamed over.
fn replace_file(from: &std::path::Path, to: &std::path::Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_replaced_on_disk_are_used_without_a_restart() {
    let pki = Pki::new();
    // Both servers start with another CA's certificate in their key store files.
    let store = |id: u64| pki.path(&format!("server{id}.pem"));
    for id in [1, 2] {
        std::fs::copy(pki.path("other.pem"), store(id)).unwrap();
    }
    let tls = |id: u64| {
        let mut tls = PeerTls::new(store(id), pki.path("ca.pem"));
        tls.reload_interval_ms = 20;
        Some(tls)
    };
    let (mut t1, mut t2) = pair(tls(1), tls(2)).await;
    assert_no_stream_for(&mut t1, &mut t2, Duration::from_millis(500)).await;
    // The operator installs certificates of the ensemble's CA: server 1 (accepting) reloads
    // its files, server 2 (dialling) reads them at its next dial.
    for id in [1, 2] {
        replace_file(&pki.path("good.pem"), &store(id));
    }
    // The votes queued meanwhile get through.
    t2.send(ServerId(1), vote_from(2));
    assert_eq!(receive(&mut t1).await, (ServerId(2), vote_from(2)));
    assert_eq!(t1.connected(), vec![ServerId(2)]);
}

/// The errors a dialler sees on a mismatch are explained with the sslQuorum hint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_is_explained_to_the_dialler() {
    let pki = Pki::new();
    let (mut ls, peers) = listeners(&[1, 2]).await;
    let plain_listener = ls.pop().unwrap();
    let tls_listener = ls.pop().unwrap();
    let tls_port =
        GrpcElectionTransport::start(config(1, &peers, pki.good()), tls_listener).unwrap();
    let plain_port = GrpcElectionTransport::start(config(2, &peers, None), plain_listener).unwrap();

    // A plaintext dialler on the TLS port.
    let failure = plain_call(&tls_port.local_addr().to_string()).await;
    let why = paddock_tls::explain_dial_error(&*failure, false);
    assert_eq!(why.kind, FailureKind::Tls, "{why:?}");
    assert!(why.reason.contains(MISMATCH_HINT), "{why:?}");

    // A TLS dialler on the plaintext port.
    let addr = plain_port.local_addr().to_string();
    let endpoint = paddock_tls::peer_endpoint(&addr, pki.good().as_ref()).unwrap();
    let failure = match tokio::time::timeout(WAIT, endpoint.connect()).await {
        Ok(Err(e)) => e,
        other => panic!("a TLS dial of a plaintext port must fail: {other:?}"),
    };
    let why = paddock_tls::explain_dial_error(&failure, true);
    assert_eq!(why.kind, FailureKind::Tls, "{why:?}");
    assert!(why.reason.contains(MISMATCH_HINT), "{why:?}");

    // A dialler with another CA's certificate: the server dialled refuses it (under TLS 1.3
    // the dialler learns it from an alert, on its first call).
    let other = PeerTls::new(pki.path("other.pem"), pki.path("ca.pem"));
    let failure = tls_call(&tls_port.local_addr().to_string(), &other).await;
    let why = paddock_tls::explain_dial_error(&*failure, true);
    assert_eq!(why.kind, FailureKind::Tls, "{why:?}");
    // (Either the alert arrives, or only the closed connection.)
    assert!(
        why.reason.contains("refused the TLS handshake")
            || why
                .reason
                .contains("does not accept this server's certificate"),
        "{why:?}"
    );
    // A dialler that does not trust the server's CA refuses its certificate.
    let distrust = PeerTls::new(pki.path("good.pem"), pki.path("other-ca.pem"));
    let endpoint =
        paddock_tls::peer_endpoint(&tls_port.local_addr().to_string(), Some(&distrust)).unwrap();
    let failure = tokio::time::timeout(WAIT, endpoint.connect())
        .await
        .expect("in time")
        .expect_err("an untrusted server certificate");
    let why = paddock_tls::explain_dial_error(&failure, true);
    assert!(
        why.reason
            .contains("certificate of the server dialled is refused"),
        "{why:?}"
    );
}

/// The error of a plaintext election call on `addr`.
async fn plain_call(addr: &str) -> Box<dyn std::error::Error + Send + Sync> {
    let endpoint = paddock_tls::peer_endpoint(addr, None).unwrap();
    let channel = match tokio::time::timeout(WAIT, endpoint.connect())
        .await
        .unwrap()
    {
        Ok(channel) => channel,
        Err(e) => return Box::new(e),
    };
    call(channel).await
}

/// The error of a TLS election call on `addr` with `tls`.
async fn tls_call(addr: &str, tls: &PeerTls) -> Box<dyn std::error::Error + Send + Sync> {
    let endpoint = paddock_tls::peer_endpoint(addr, Some(tls)).unwrap();
    let channel = match tokio::time::timeout(WAIT, endpoint.connect())
        .await
        .unwrap()
    {
        Ok(channel) => channel,
        Err(e) => return Box::new(e),
    };
    call(channel).await
}

async fn call(channel: tonic::transport::Channel) -> Box<dyn std::error::Error + Send + Sync> {
    let mut client = ElectionClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let hello = paddock_proto::v1::Notification {
        kind: Some(paddock_proto::v1::notification::Kind::Hello(
            paddock_proto::v1::ElectionHello {
                sender: 2,
                protocol_version: paddock_election::grpc::ELECTION_PROTOCOL_VERSION,
            },
        )),
    };
    tx.send(hello).await.unwrap();
    let call = client.notify(tokio_stream::wrappers::ReceiverStream::new(rx));
    let result = tokio::time::timeout(WAIT, call).await.expect("in time");
    drop(tx);
    match result {
        Err(status) => Box::new(status),
        Ok(mut stream) => match stream.get_mut().message().await {
            Err(status) => Box::new(status),
            Ok(frame) => panic!("accepted: {frame:?}"),
        },
    }
}
