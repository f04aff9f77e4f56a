//! The TCP PeerTransport with mutual TLS (sslQuorum) over loopback sockets: a TLS leader and
//! learner connect and exchange messages; a learner with a certificate of another CA, with a
//! certificate for another host, or without TLS, cannot follow (its `connect` fails, saying
//! why, and the leader sees no stream); a TLS learner cannot follow a plaintext leader. Every
//! wait is bounded.
#![cfg(feature = "tcp")]

use paddock_certs::Ca;
use paddock_quorum::transport::tcp::{TcpPeerConfig, TcpPeerTransport};
use paddock_quorum::transport::{PeerEvent, PeerTransport, TransportError};
use paddock_quorum::{PeerMessage, PROTOCOL_VERSION};
use paddock_tls::{PeerTls, MISMATCH_HINT};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);
const L: ServerId = ServerId(1);
const F: ServerId = ServerId(2);

/// `ca.pem` (the ensemble's CA); `good.pem` signed by it for localhost / 127.0.0.1;
/// `other.pem`, the same names from another CA; `elsewhere.pem`, the ensemble CA's for
/// 10.9.9.9 only.
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
        Ca::new("another CA")
            .unwrap()
            .server("other", &names)
            .unwrap()
            .write(dir.path(), "other")
            .unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, key_store: &str) -> Option<PeerTls> {
        Some(PeerTls::new(self.path(key_store), self.path("ca.pem")))
    }
}

/// A leader (server 1) and a learner (server 2) with these TLS settings.
async fn pair(
    leader_tls: Option<PeerTls>,
    learner_tls: Option<PeerTls>,
) -> (TcpPeerTransport, TcpPeerTransport) {
    let mut ls = Vec::new();
    let mut peers = HashMap::new();
    for id in [L, F] {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        peers.insert(id, l.local_addr().unwrap().to_string());
        ls.push(l);
    }
    let config = |me: ServerId, tls: Option<PeerTls>| {
        let mut c = TcpPeerConfig::new(me, peers.clone());
        c.connect_timeout = Duration::from_secs(2);
        c.hello_timeout = Duration::from_secs(2);
        c.send_timeout = Duration::from_secs(2);
        c.tls = tls;
        c
    };
    let learner_listener = ls.pop().unwrap();
    let leader = TcpPeerTransport::serve(config(L, leader_tls), ls.pop().unwrap()).unwrap();
    let learner = TcpPeerTransport::serve(config(F, learner_tls), learner_listener).unwrap();
    (leader, learner)
}

async fn next(t: &TcpPeerTransport) -> PeerEvent {
    tokio::time::timeout(WAIT, t.recv())
        .await
        .expect("an event in time")
        .expect("transport open")
}

/// The learner's `connect` fails; the reason is returned. The leader saw no stream.
async fn refused(leader: &TcpPeerTransport, learner: &TcpPeerTransport) -> String {
    let result = tokio::time::timeout(WAIT, learner.connect(L))
        .await
        .expect("connect answers in time");
    let reason = match result {
        Err(TransportError::Connect { peer, reason }) => {
            assert_eq!(peer, L);
            reason
        }
        other => panic!("the learner must be refused: {other:?}"),
    };
    assert!(leader.connected().is_empty(), "{:?}", leader.connected());
    assert!(learner.connected().is_empty());
    // No Connected event on the leader's side either.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), leader.recv())
            .await
            .is_err(),
        "the leader reported an event"
    );
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_leader_and_learner_connect_and_exchange() {
    let pki = Pki::new();
    let (leader, learner) = pair(pki.tls("good.pem"), pki.tls("good.pem")).await;
    learner.connect(L).await.unwrap();
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    let info = PeerMessage::FollowerInfo {
        accepted_epoch: Epoch(1),
        last_zxid: Zxid(5),
        protocol_version: PROTOCOL_VERSION,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    };
    learner.send(L, info.clone()).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Message(F, info));
    let ack = PeerMessage::Ack {
        zxid: Zxid::new(Epoch(2), 1),
    };
    leader.send(F, ack.clone()).await.unwrap();
    assert_eq!(next(&learner).await, PeerEvent::Message(L, ack));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_with_a_certificate_of_another_ca_cannot_follow() {
    let pki = Pki::new();
    let (leader, learner) = pair(pki.tls("good.pem"), pki.tls("other.pem")).await;
    let reason = refused(&leader, &learner).await;
    assert!(
        reason.contains("refused the TLS handshake")
            || reason.contains("does not accept this server's certificate"),
        "{reason}"
    );
    // Nor can a learner follow a leader whose certificate its trust store does not accept.
    let (leader, learner) = pair(pki.tls("other.pem"), pki.tls("good.pem")).await;
    let reason = refused(&leader, &learner).await;
    assert!(
        reason.contains("not signed by a CA of the trust store"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_cannot_follow_or_lead() {
    let pki = Pki::new();
    // The learner's certificate does not name 127.0.0.1, its host in the server list: the
    // leader refuses it after the hello.
    let (leader, learner) = pair(pki.tls("good.pem"), pki.tls("elsewhere.pem")).await;
    let reason = refused(&leader, &learner).await;
    assert!(
        reason.contains("PermissionDenied") && reason.contains("\"127.0.0.1\""),
        "{reason}"
    );
    // The leader's certificate does not name its host: the learner's handshake refuses it.
    let (leader, learner) = pair(pki.tls("elsewhere.pem"), pki.tls("good.pem")).await;
    let reason = refused(&leader, &learner).await;
    assert!(
        reason.contains("does not name the host dialled"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_tls_peers_do_not_mix() {
    let pki = Pki::new();
    let (leader, learner) = pair(pki.tls("good.pem"), None).await;
    let reason = refused(&leader, &learner).await;
    assert!(reason.contains(MISMATCH_HINT), "{reason}");
    let (leader, learner) = pair(None, pki.tls("good.pem")).await;
    let reason = refused(&leader, &learner).await;
    assert!(reason.contains(MISMATCH_HINT), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_tls_files_stop_the_transport_naming_the_file() {
    let pki = Pki::new();
    let mut peers = HashMap::new();
    peers.insert(L, "127.0.0.1:1".to_string());
    let mut config = TcpPeerConfig::new(L, peers);
    config.tls = Some(PeerTls::new(pki.path("missing.pem"), pki.path("ca.pem")));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    match TcpPeerTransport::serve(config, listener) {
        Err(TransportError::Tls(why)) => assert!(why.contains("missing.pem"), "{why}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("served without its key store"),
    }
}
