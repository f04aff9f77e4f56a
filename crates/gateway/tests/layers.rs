//! The tower layers around the services (`crate::layers`), seen from a client over real gRPC.

mod common;

use std::time::Duration;

use common::*;
use paddock_gateway::status::error_code_of;
use paddock_gateway::GatewayOptions;
use paddock_types::ErrorCode;
use tonic::Code;

/// Opens streams until one is refused or `max` + 1 were tried; returns the open ones.
async fn open_until_refused(server: &TestServer, max: usize) -> (Vec<Conn>, tonic::Status) {
    let mut open = Vec::new();
    for _ in 0..=max {
        match server.open_with(connect(0, &[])).await {
            Ok(c) => open.push(c),
            Err(s) => return (open, s),
        }
    }
    panic!("{} streams admitted, the limit is {max}", open.len());
}

/// maxClientCnxns (`layers::per_ip`): the (N+1)th stream from one IP is refused before any
/// handler runs, with ZooKeeper's code and the message clients saw before the layer existed;
/// the slot comes back when a stream ends.
#[tokio::test]
async fn the_per_ip_limit_refuses_the_next_stream_and_admits_after_one_closes() {
    let opts = GatewayOptions {
        max_connections_per_ip: 3,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    let (mut open, refused) = open_until_refused(&server, 3).await;
    assert_eq!(open.len(), 3);
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(error_code_of(&refused), Some(ErrorCode::Throttled));
    assert_eq!(
        refused.message(),
        "too many streams from 127.0.0.1: the limit is 3 (maxClientCnxns)"
    );
    assert_eq!(
        server.fake.state().connects.len(),
        3,
        "a refused stream never reaches the handshake"
    );
    // One stream ends (the client drops it): its slot comes back once hyper drops the body.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    let again = loop {
        match server.open_with(connect(0, &[])).await {
            Ok(c) => break c,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(s) => panic!("unexpected {s:?}"),
        }
    };
    open.push(again);
    let refused = server.open_with(connect(0, &[])).await.err();
    assert!(refused.is_some(), "full again at 3 streams");
}

/// A stream that the handshake refuses gives its slot back at once (the permit rides in the
/// response body, which for a refusal is empty).
#[tokio::test]
async fn refused_handshakes_do_not_keep_their_slot() {
    let opts = GatewayOptions {
        max_connections_per_ip: 1,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    for _ in 0..5 {
        let status = server.open_with(ping(1)).await.err().expect("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    let _only = server.open().await;
}
