//! Fast Leader Election over the gRPC transport on real loopback sockets: three state machines,
//! each driven by a small tokio loop (tick / try_recv + step / execute), elect one leader.
#![cfg(feature = "grpc")]

use paddock_election::grpc::{
    GrpcElectionConfig, GrpcElectionTransport, ELECTION_PROTOCOL_VERSION,
};
use paddock_election::{
    execute, Decision, ElectedRole, Election, ElectionConfig, ElectionTransport, QuorumVerifier,
};
use paddock_proto::v1 as pb;
use paddock_proto::v1::election_client::ElectionClient;
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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

fn config(me: u64, peers: &HashMap<ServerId, String>) -> GrpcElectionConfig {
    let mut c = GrpcElectionConfig::new(ServerId(me), peers.clone());
    c.retry_min = Duration::from_millis(20);
    c.retry_max = Duration::from_millis(200);
    c.hello_timeout = Duration::from_millis(500);
    c
}

/// Drives one election until every peer of the test decided; returns its decision.
async fn drive(
    mut e: Election,
    mut t: GrpcElectionTransport,
    decided: Arc<AtomicUsize>,
    total: usize,
) -> (Decision, GrpcElectionTransport) {
    let me = e.id();
    let qv = e.verifier().clone();
    let mut counted = execute(me, &qv, e.start(), &mut t);
    if counted {
        decided.fetch_add(1, Ordering::SeqCst);
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    loop {
        ticker.tick().await;
        while let Some((from, n)) = t.try_recv() {
            let out = e.step(from, n);
            if execute(me, &qv, out, &mut t) && !counted {
                counted = true;
                decided.fetch_add(1, Ordering::SeqCst);
            }
        }
        let out = e.tick();
        if execute(me, &qv, out, &mut t) && !counted {
            counted = true;
            decided.fetch_add(1, Ordering::SeqCst);
        }
        if decided.load(Ordering::SeqCst) == total {
            return (e.decision().expect("decided"), t);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_elect_the_highest_zxid_over_grpc() {
    let ids = [1u64, 2, 3];
    let (ls, peers) = listeners(&ids).await;
    let qv = QuorumVerifier::new(ids.map(ServerId), []).unwrap();
    let timing = ElectionConfig {
        finalize_wait_ticks: 10,
        max_notification_interval_ticks: 40,
    };
    // Server 2 has the highest zxid: it must win although 3 has the highest id.
    let zxids = [
        Zxid::new(Epoch(1), 5),
        Zxid::new(Epoch(1), 9),
        Zxid::new(Epoch(1), 7),
    ];
    let decided = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    // Start in reverse order: the lowest ids come up last, so early dials fail and are retried.
    for (i, l) in ls.into_iter().enumerate().rev() {
        let id = ids[i];
        let t = GrpcElectionTransport::start(config(id, &peers), l).unwrap();
        let e = Election::new(ServerId(id), zxids[i], Epoch(1), qv.clone(), timing);
        handles.push(tokio::spawn(drive(e, t, Arc::clone(&decided), ids.len())));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let results = tokio::time::timeout(Duration::from_secs(20), futures_join(handles))
        .await
        .expect("an election decided within 20 s");
    let mut leaders = Vec::new();
    for (decision, t) in &results {
        leaders.push(decision.vote.leader);
        // One connection per pair: each transport has a stream with both others.
        assert_eq!(t.connected().len(), 2);
    }
    assert!(leaders.iter().all(|l| *l == ServerId(2)), "{leaders:?}");
    let leading: Vec<ElectedRole> = results
        .iter()
        .map(|(d, _)| d.role)
        .filter(|r| *r == ElectedRole::Leading)
        .collect();
    assert_eq!(leading.len(), 1);
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Opens a raw election stream with `first` as first frame; the status it was refused with.
async fn refused_with(addr: &str, first: Option<pb::Notification>) -> tonic::Code {
    let mut client = ElectionClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    if let Some(f) = first {
        tx.send(f).await.unwrap();
    }
    let call = client.notify(tokio_stream::wrappers::ReceiverStream::new(rx));
    let result = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("answered in time");
    drop(tx);
    match result {
        Ok(mut stream) => match stream.get_mut().message().await {
            Err(status) => status.code(),
            Ok(frame) => panic!("accepted: {frame:?}"),
        },
        Err(status) => status.code(),
    }
}

fn hello(sender: u64, version: u32) -> pb::Notification {
    pb::Notification {
        kind: Some(pb::notification::Kind::Hello(pb::ElectionHello {
            sender,
            protocol_version: version,
        })),
    }
}

#[tokio::test]
async fn lower_unknown_and_garbage_peers_are_refused() {
    // Server 2 of {1, 2, 3}: it must be dialled by 3 only; it dials 1 (which is not running).
    let (mut ls, peers) = listeners(&[1, 2, 3]).await;
    let l2 = ls.remove(1);
    let t = GrpcElectionTransport::start(config(2, &peers), l2).unwrap();
    let addr = t.local_addr().to_string();
    let vote = pb::Notification {
        kind: Some(pb::notification::Kind::Vote(pb::ElectionVote {
            leader: 3,
            zxid: 1,
            epoch: 1,
            round: 1,
            sender: 3,
            sender_state: pb::ElectionPeerState::Looking as i32,
        })),
    };
    assert_eq!(
        refused_with(&addr, Some(vote)).await,
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        refused_with(&addr, Some(hello(1, ELECTION_PROTOCOL_VERSION))).await,
        tonic::Code::FailedPrecondition,
        "a lower id must not dial"
    );
    assert_eq!(
        refused_with(&addr, Some(hello(9, ELECTION_PROTOCOL_VERSION))).await,
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        refused_with(&addr, Some(hello(2, ELECTION_PROTOCOL_VERSION))).await,
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        refused_with(&addr, Some(hello(3, ELECTION_PROTOCOL_VERSION + 1))).await,
        tonic::Code::FailedPrecondition
    );
    assert_eq!(
        refused_with(&addr, None).await,
        tonic::Code::DeadlineExceeded
    );
    assert!(t.connected().is_empty());

    // Server 3 comes up and dials 2: exactly that one stream appears; notifications flow.
    let l3 = ls.remove(1);
    let mut t2 = t;
    let mut t3 = GrpcElectionTransport::start(config(3, &peers), l3).unwrap();
    let n = paddock_election::Notification {
        vote: paddock_election::Vote::new(ServerId(3), Zxid(1), Epoch(1)),
        round: 1,
        sender: ServerId(3),
        sender_state: paddock_election::PeerState::Looking,
    };
    // Queued before any stream is up: delivered once 3 has dialled 2.
    t3.send(ServerId(2), n);
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(got) = t2.try_recv() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("delivered in time");
    assert_eq!(got, (ServerId(3), n));
    assert_eq!(t2.connected(), vec![ServerId(3)]);
    let back = paddock_election::Notification {
        sender: ServerId(2),
        ..n
    };
    t2.send(ServerId(3), back);
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(got) = t3.try_recv() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("delivered in time");
    assert_eq!(got, (ServerId(2), back));
}

/// Waits (10 s at most) for a notification on `t`.
async fn next_notification(
    t: &mut GrpcElectionTransport,
) -> (ServerId, paddock_election::Notification) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(got) = t.try_recv() {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("delivered in time")
}

#[tokio::test]
async fn a_server_outside_its_configuration_dials_the_higher_ids_too() {
    // Server 1 was removed by a reconfiguration and restarted: its configuration is {2, 3}.
    // Nobody there knows its address, so it dials both; they take its stream although its id
    // is lower.
    let (mut ls, peers) = listeners(&[1, 2, 3]).await;
    let without_1: HashMap<ServerId, String> = peers
        .iter()
        .filter(|(id, _)| id.0 != 1)
        .map(|(id, a)| (*id, a.clone()))
        .collect();
    let l3 = ls.pop().unwrap();
    let l2 = ls.pop().unwrap();
    let l1 = ls.pop().unwrap();
    let mut c2 = config(2, &without_1);
    c2.accept_unknown = true;
    let mut c3 = config(3, &without_1);
    c3.accept_unknown = true;
    let mut t2 = GrpcElectionTransport::start(c2, l2).unwrap();
    let t3 = GrpcElectionTransport::start(c3, l3).unwrap();
    let mut t1 = GrpcElectionTransport::start(config(1, &without_1), l1).unwrap();
    let n = paddock_election::Notification {
        vote: paddock_election::Vote::new(ServerId(1), Zxid(1), Epoch(1)),
        round: 1,
        sender: ServerId(1),
        sender_state: paddock_election::PeerState::Observing,
    };
    t1.send(ServerId(2), n);
    assert_eq!(next_notification(&mut t2).await, (ServerId(1), n));
    let answer = paddock_election::Notification {
        sender: ServerId(2),
        sender_state: paddock_election::PeerState::Following,
        ..n
    };
    t2.send(ServerId(1), answer);
    assert_eq!(next_notification(&mut t1).await, (ServerId(2), answer));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t1.connected() != vec![ServerId(2), ServerId(3)] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "1 reaches {:?}",
            t1.connected()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(t3.connected(), vec![ServerId(1), ServerId(2)]);
}
