//! The TCP PeerTransport over real loopback sockets: messages both ways, disconnects, reconnects,
//! replaced connections, refused peers, oversized and garbage frames. Every wait is bounded.
#![cfg(feature = "tcp")]

use bytes::Bytes;
use paddock_proto::v1::peer_frame::{Forward, Hello, Kind};
use paddock_proto::v1::PeerFrame;
use paddock_quorum::transport::tcp::{TcpPeerConfig, TcpPeerTransport};
use paddock_quorum::transport::{PeerEvent, PeerTransport, TransportError};
use paddock_quorum::{PeerMessage, PROTOCOL_VERSION};
use paddock_types::{Epoch, ServerId, Zxid};
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

fn config(me: u64, peers: &HashMap<ServerId, String>) -> TcpPeerConfig {
    let mut c = TcpPeerConfig::new(ServerId(me), peers.clone());
    c.connect_timeout = Duration::from_secs(2);
    c.hello_timeout = Duration::from_millis(500);
    c.send_timeout = Duration::from_secs(2);
    c
}

/// Servers 1..=n on 127.0.0.1:0.
async fn ensemble(n: usize) -> (Vec<TcpPeerTransport>, HashMap<ServerId, String>) {
    let (ls, peers) = listeners(n).await;
    let ts = ls
        .into_iter()
        .enumerate()
        .map(|(i, l)| TcpPeerTransport::serve(config(i as u64 + 1, &peers), l).unwrap())
        .collect();
    (ts, peers)
}

async fn next(t: &TcpPeerTransport) -> PeerEvent {
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
        snapshot_zxid: paddock_types::Zxid::ZERO,
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
    let leader = TcpPeerTransport::serve(config(1, &peers), ls.next().unwrap()).unwrap();
    let learner = TcpPeerTransport::serve(config(2, &peers), ls.next().unwrap()).unwrap();
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));

    // The learner goes away: the leader sees it.
    drop(learner);
    assert_eq!(next(&leader).await, PeerEvent::Disconnected(F));
    assert!(leader.connected().is_empty());

    // It comes back (new process, new port) and reconnects.
    let learner = TcpPeerTransport::serve(
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
    let leader = TcpPeerTransport::serve(
        config(1, &peers),
        TcpListener::bind(leader_addr).await.unwrap(),
    )
    .unwrap();
    learner.connect(L).await.unwrap();
    assert_eq!(next(&leader).await, PeerEvent::Connected(F));
    assert_eq!(next(&learner).await, PeerEvent::Connected(L));
}

/// Writes `frame` length-prefixed, as the transport frames it.
async fn write_frame(raw: &mut TcpStream, frame: &PeerFrame) {
    let body = frame.encode_to_vec();
    raw.write_all(&(body.len() as u32).to_be_bytes())
        .await
        .unwrap();
    raw.write_all(&body).await.unwrap();
}

/// Reads one frame, or `None` at the end of the connection.
async fn read_frame(raw: &mut TcpStream) -> Option<PeerFrame> {
    let mut len = [0u8; 4];
    tokio::time::timeout(WAIT, raw.read_exact(&mut len))
        .await
        .expect("answered in time")
        .ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    raw.read_exact(&mut body).await.ok()?;
    Some(PeerFrame::decode(body.as_slice()).expect("a frame"))
}

/// Opens a raw connection to `addr` sending `first`; returns the code of the refusal it gets,
/// and checks that the server then closes the connection.
async fn refused_with(addr: &str, first: Option<PeerFrame>) -> tonic::Code {
    let mut raw = TcpStream::connect(addr).await.unwrap();
    if let Some(f) = first {
        write_frame(&mut raw, &f).await;
    }
    let answer = read_frame(&mut raw).await.expect("an answer");
    let Some(Kind::Refusal(r)) = answer.kind else {
        panic!("accepted: {answer:?}");
    };
    assert!(!r.reason.is_empty());
    assert_eq!(read_frame(&mut raw).await, None, "closed after the refusal");
    tonic::Code::from(r.code as i32)
}

/// Opens a raw connection as server 2 and completes the hello; the server reports it.
async fn raw_learner(t: &TcpPeerTransport) -> TcpStream {
    let mut raw = TcpStream::connect(t.local_addr()).await.unwrap();
    write_frame(&mut raw, &hello_frame(2, PROTOCOL_VERSION)).await;
    assert!(matches!(
        read_frame(&mut raw).await.and_then(|f| f.kind),
        Some(Kind::Hello(_))
    ));
    assert_eq!(next(t).await, PeerEvent::Connected(F));
    raw
}

/// After the server dropped a connection: it reads as closed, and a real learner still gets
/// through.
async fn still_serving(ts: &[TcpPeerTransport], mut raw: TcpStream) {
    assert_eq!(next(&ts[0]).await, PeerEvent::Disconnected(F));
    assert!(ts[0].connected().is_empty());
    assert_eq!(read_frame(&mut raw).await, None);
    ts[1].connect(L).await.unwrap();
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    assert_eq!(next(&ts[1]).await, PeerEvent::Connected(L));
    ts[1].send(L, PeerMessage::UpToDate).await.unwrap();
    assert_eq!(
        next(&ts[0]).await,
        PeerEvent::Message(F, PeerMessage::UpToDate)
    );
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
    let imposter_check = TcpPeerTransport::serve(
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
    let learner = TcpPeerTransport::serve(
        config(2, &peers),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(learner.connect(L).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A frame that is not a peer message after a good hello (here a second hello) ends that
/// connection: the transport reports `Disconnected` and keeps serving.
#[tokio::test]
async fn a_bad_frame_after_the_hello_ends_the_stream() {
    let (ts, _) = ensemble(2).await;
    let mut raw = raw_learner(&ts[0]).await;
    write_frame(&mut raw, &hello_frame(2, PROTOCOL_VERSION)).await;
    still_serving(&ts, raw).await;
}

/// A length prefix above the largest frame ends the connection at once (nothing of that size
/// is allocated: see tests/tcp_transport_limits.rs), with a warning; the server keeps serving.
#[tokio::test]
async fn an_oversized_frame_ends_the_stream() {
    let (ls, peers) = listeners(2).await;
    let mut ls = ls.into_iter();
    let mut small = config(1, &peers);
    small.max_frame_bytes = 1000;
    let leader = TcpPeerTransport::serve(small, ls.next().unwrap()).unwrap();
    let learner = TcpPeerTransport::serve(config(2, &peers), ls.next().unwrap()).unwrap();
    let ts = [leader, learner];
    let mut raw = raw_learner(&ts[0]).await;
    // A frame of 1000 bytes is fine; 1001 is not.
    let ok = PeerFrame {
        kind: Some(Kind::Forward(Forward {
            data: vec![0u8; 993].into(),
        })),
    };
    assert_eq!(ok.encoded_len(), 1000);
    write_frame(&mut raw, &ok).await;
    assert!(matches!(
        next(&ts[0]).await,
        PeerEvent::Message(F, PeerMessage::Forward { .. })
    ));
    raw.write_all(&1001u32.to_be_bytes()).await.unwrap();
    still_serving(&ts, raw).await;
    // Nor does the transport send one: the connection is closed, the caller told.
    let big = PeerMessage::Forward {
        data: Bytes::from(vec![0u8; 2000]),
    };
    match ts[0].send(F, big).await {
        Err(TransportError::TooLarge { peer, max, .. }) => assert_eq!((peer, max), (F, 1000)),
        other => panic!("{other:?}"),
    }
    assert_eq!(next(&ts[0]).await, PeerEvent::Disconnected(F));
    assert_eq!(next(&ts[1]).await, PeerEvent::Disconnected(L));
}

/// Bytes that are not a `PeerFrame` after the hello end the connection; the server keeps serving.
#[tokio::test]
async fn garbage_after_the_hello_ends_the_stream() {
    let (ts, _) = ensemble(2).await;
    let mut raw = raw_learner(&ts[0]).await;
    raw.write_all(&[0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    still_serving(&ts, raw).await;
}

/// Everything one `send_batch` carries arrives, in order, as separate messages.
#[tokio::test]
async fn a_batch_arrives_in_order() {
    let (ts, _) = ensemble(2).await;
    ts[1].connect(L).await.unwrap();
    assert_eq!(next(&ts[0]).await, PeerEvent::Connected(F));
    assert_eq!(next(&ts[1]).await, PeerEvent::Connected(L));
    let batch: Vec<PeerMessage> = (1..=50u32)
        .map(|i| PeerMessage::Commit {
            zxid: Zxid::new(Epoch(1), i),
        })
        .collect();
    ts[0].send_batch(F, batch.clone()).await.unwrap();
    for m in batch {
        assert_eq!(next(&ts[1]).await, PeerEvent::Message(L, m));
    }
}
