//! The gRPC PeerTransport over real loopback sockets: messages both ways, disconnects, reconnects,
//! replaced streams, refused peers. Every wait is bounded.
#![cfg(feature = "grpc")]

use bytes::Bytes;
use paddock_proto::v1::peer_frame::{Hello, Kind};
use paddock_proto::v1::quorum_client::QuorumClient;
use paddock_proto::v1::PeerFrame;
use paddock_quorum::transport::grpc::{GrpcPeerConfig, GrpcPeerTransport};
use paddock_quorum::transport::{PeerEvent, PeerTransport, TransportError};
use paddock_quorum::{PeerMessage, PROTOCOL_VERSION};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

async fn listeners(n: usize) -> (Vec<TcpListener>, HashMap<ServerId, String>) {
    let mut ls = Vec::new();
    let mut peers = HashMap::new();
    for i in 0..n {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        peers.insert(ServerId(i as u64 + 1), l.local_addr().unwrap().to_string());
        ls.push(l);
    }
    (ls, peers)
}

fn config(me: u64, peers: &HashMap<ServerId, String>) -> GrpcPeerConfig {
    let mut c = GrpcPeerConfig::new(ServerId(me), peers.clone());
    c.connect_timeout = Duration::from_secs(2);
    c.hello_timeout = Duration::from_millis(500);
    c.send_timeout = Duration::from_secs(2);
    c
}

/// Servers 1..=n on 127.0.0.1:0.
async fn ensemble(n: usize) -> (Vec<GrpcPeerTransport>, HashMap<ServerId, String>) {
    let (ls, peers) = listeners(n).await;
    let ts = ls
        .into_iter()
        .enumerate()
        .map(|(i, l)| GrpcPeerTransport::serve(config(i as u64 + 1, &peers), l).unwrap())
        .collect();
    (ts, peers)
}

async fn next(t: &GrpcPeerTransport) -> PeerEvent {
    tokio::time::timeout(WAIT, t.recv())
        .await
        .expect("an event in time")
        .expect("transport open")
}

const L: ServerId = ServerId(1);
const F: ServerId = ServerId(2);

#[tokio::test]
async fn messages_flow_both_ways_in_order() {
    let (ts, _) = ensemble(2).await;
    let (leader, learner) = (&ts[0], &ts[1]);
    learner.connect(L).await.unwrap();
    assert_eq!(next(learner).await, PeerEvent::Connected(L));
    assert_eq!(next(leader).await, PeerEvent::Connected(F));
    assert_eq!(leader.connected(), vec![F]);

    let info = PeerMessage::FollowerInfo {
        accepted_epoch: Epoch(1),
        last_zxid: Zxid(5),
        protocol_version: PROTOCOL_VERSION,
    };
    learner.send(L, info.clone()).await.unwrap();
    assert_eq!(next(leader).await, PeerEvent::Message(F, info));

    // Pipelined proposals, one of them 4 MiB (above gRPC's default message limit), arrive in order.
    let proposals: Vec<PeerMessage> = (1..=200u32)
        .map(|i| PeerMessage::Proposal {
            zxid: Zxid::new(Epoch(2), i),
            data: if i == 100 {
                Bytes::from(vec![7u8; 4 << 20])
            } else {
                Bytes::from(i.to_be_bytes().to_vec())
            },
        })
        .collect();
    let sender = async {
        for p in &proposals {
            leader.send(F, p.clone()).await.unwrap();
        }
    };
    let receiver = async {
        for p in &proposals {
            assert_eq!(next(learner).await, PeerEvent::Message(L, p.clone()));
        }
    };
    tokio::join!(sender, receiver);
    learner
        .send(
            L,
            PeerMessage::Ack {
                zxid: Zxid::new(Epoch(2), 200),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        next(leader).await,
        PeerEvent::Message(
            F,
            PeerMessage::Ack {
                zxid: Zxid::new(Epoch(2), 200)
            }
        )
    );
    // The leader cannot send to a server it has no stream with.
    assert_eq!(
        leader.send(ServerId(3), PeerMessage::Ping).await,
        Err(TransportError::NotConnected(ServerId(3)))
    );
}

#[tokio::test]
async fn disconnect_on_drop_and_reconnect() {
    let (ls, peers) = listeners(2).await;
    let mut ls = ls.into_iter();
    let leader = GrpcPeerTransport::serve(config(1, &peers), ls.next().unwrap()).unwrap();
    let learner = GrpcPeerTransport::serve(config(2, &peers), ls.next().unwrap()).unwrap();
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));

    // The learner goes away: the leader sees it.
    drop(learner);
    assert_eq!(next(&leader).await, PeerEvent::Disconnected(F));
    assert!(leader.connected().is_empty());

    // It comes back (new process, new port) and reconnects.
    let learner = GrpcPeerTransport::serve(
        config(2, &peers),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .unwrap();
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
    leader.send(F, PeerMessage::Ping).await.unwrap();
    assert_eq!(
        next(&learner).await,
        PeerEvent::Message(L, PeerMessage::Ping)
    );

    // Dialling again replaces the stream: both sides see Disconnected then Connected.
    learner.connect(L).await.unwrap();
    assert_eq!(next(&learner).await, PeerEvent::Disconnected(L));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
    assert_eq!(next(&leader).await, PeerEvent::Disconnected(F));
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    learner.send(L, PeerMessage::PingReply).await.unwrap();
    assert_eq!(
        next(&leader).await,
        PeerEvent::Message(F, PeerMessage::PingReply)
    );
    assert_eq!(leader.connected(), vec![F]);

    // The leader drops the learner: both sides see it.
    leader.disconnect(F).await;
    assert_eq!(next(&leader).await, PeerEvent::Disconnected(F));
    assert_eq!(next(&learner).await, PeerEvent::Disconnected(L));

    // The leader goes away: the learner sees it, and cannot reconnect until it is back.
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
    let leader_addr = leader.local_addr();
    drop(leader);
    assert_eq!(next(&learner).await, PeerEvent::Disconnected(L));
    assert!(learner.connect(L).await.is_err());
    let leader = GrpcPeerTransport::serve(
        config(1, &peers),
        TcpListener::bind(leader_addr).await.unwrap(),
    )
    .unwrap();
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
}

/// Opens a raw stream to `addr` sending `first`, returns the status it was refused with.
async fn refused_with(addr: &str, first: Option<PeerFrame>) -> tonic::Code {
    let mut client = QuorumClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    if let Some(f) = first {
        tx.send(f).await.unwrap();
    }
    let call = client.peer(tokio_stream::wrappers::ReceiverStream::new(rx));
    let result = tokio::time::timeout(WAIT, call)
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

fn hello_frame(id: u64, version: u32) -> PeerFrame {
    PeerFrame {
        kind: Some(Kind::Hello(Hello {
            server_id: id,
            protocol_version: version,
            server_list: String::new(),
        })),
    }
}

#[tokio::test]
async fn bad_peers_are_refused_and_the_server_keeps_running() {
    let (ts, peers) = ensemble(2).await;
    let addr = ts[0].local_addr().to_string();
    let ping = PeerFrame {
        kind: Some(Kind::Ping(Default::default())),
    };
    assert_eq!(
        refused_with(&addr, Some(ping)).await,
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        refused_with(&addr, Some(PeerFrame { kind: None })).await,
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        refused_with(&addr, Some(hello_frame(99, PROTOCOL_VERSION))).await,
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        refused_with(&addr, Some(hello_frame(1, PROTOCOL_VERSION))).await,
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        refused_with(&addr, Some(hello_frame(2, PROTOCOL_VERSION + 1))).await,
        tonic::Code::FailedPrecondition
    );
    // Nothing at all within the hello timeout.
    assert_eq!(
        refused_with(&addr, None).await,
        tonic::Code::DeadlineExceeded
    );
    // Raw garbage on the TCP port.
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff garbage \x01\x02")
        .await
        .unwrap();
    drop(raw);
    // A learner whose configured address for server 1 leads to another server is refused too.
    let mut wrong = peers.clone();
    wrong.insert(ServerId(3), addr.clone()); // "server 3" is really server 1
    let imposter_check = GrpcPeerTransport::serve(
        config(2, &wrong),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .unwrap();
    match imposter_check.connect(ServerId(3)).await {
        Err(TransportError::Connect { reason, .. }) => {
            assert!(reason.contains("PermissionDenied"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // (Server 1 accepted that stream — server 2 is legitimate — until server 2 hung up.)
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    assert_eq!(next(&ts[0]).await, PeerEvent::Disconnected(F));
    drop(imposter_check);
    // Unknown ids and unreachable servers fail fast.
    assert_eq!(
        ts[1].connect(ServerId(42)).await,
        Err(TransportError::UnknownPeer(ServerId(42)))
    );
    // The refused streams produced no event; a real learner still gets through.
    ts[1].connect(L).await.unwrap();
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    ts[1].send(L, PeerMessage::UpToDate).await.unwrap();
    assert_eq!(
        next(&ts[0]).await,
        PeerEvent::Message(F, PeerMessage::UpToDate)
    );
}

#[tokio::test]
async fn unreachable_leader_fails_within_the_connect_timeout() {
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let mut peers = HashMap::new();
    peers.insert(L, dead_addr);
    peers.insert(F, "127.0.0.1:0".to_string());
    let learner = GrpcPeerTransport::serve(
        config(2, &peers),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(learner.connect(L).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A frame that is not a peer message after a good hello (here a second hello) ends that stream:
/// the transport reports `Disconnected` and keeps serving.
#[tokio::test]
async fn a_bad_frame_after_the_hello_ends_the_stream() {
    let (ts, _) = ensemble(2).await;
    let addr = ts[0].local_addr().to_string();
    let mut client = QuorumClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(hello_frame(2, PROTOCOL_VERSION)).await.unwrap();
    let mut replies = client
        .peer(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        replies.message().await.unwrap().and_then(|f| f.kind),
        Some(Kind::Hello(_))
    ));
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    tx.send(hello_frame(2, PROTOCOL_VERSION)).await.unwrap();
    assert_eq!(next(&ts[0]).await, PeerEvent::Disconnected(F));
    assert!(ts[0].connected().is_empty());
    // The real learner still gets through.
    ts[1].connect(L).await.unwrap();
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    assert_eq!(next(&ts[1]).await, PeerEvent::Connected(L));
}
