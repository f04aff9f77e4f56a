//! The server around the session stream: health, reflection, limits, backpressure, shutdown.

mod common;

use std::time::Duration;

use common::*;
use paddock_gateway::status::error_code_of;
use paddock_gateway::GatewayOptions;
use paddock_proto::v1 as pb;
use paddock_types::{ErrorCode, Response};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn health_of(server: &TestServer, service: &str) -> ServingStatus {
    let mut client = HealthClient::new(server.channel().await);
    let resp = client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("check answers");
    resp.into_inner().status()
}

#[tokio::test]
async fn health_check_answers_serving_and_follows_the_handle() {
    let server = start(Fake::new(true), GatewayOptions::default()).await;
    assert_eq!(health_of(&server, "").await, ServingStatus::Serving);
    assert_eq!(
        health_of(&server, "paddock.v1.Paddock").await,
        ServingStatus::Serving
    );
    server.health.set_serving(false).await;
    assert_eq!(health_of(&server, "").await, ServingStatus::NotServing);
    assert_eq!(
        health_of(&server, "paddock.v1.Paddock").await,
        ServingStatus::NotServing
    );
    server.health.set_serving(true).await;
    assert_eq!(health_of(&server, "").await, ServingStatus::Serving);
}

/// The gate is asked on every answer, not when the status was set: flipping it changes what
/// `Check` and a `Watch` say with no `set_serving` call in between (a leader's lease runs out
/// with time, not with an event).
#[tokio::test]
async fn the_serving_gate_is_judged_when_health_is_read() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let server = start(Fake::new(true), GatewayOptions::default()).await;
    let open = Arc::new(AtomicBool::new(true));
    let gate = open.clone();
    server.health.set_gate(move || gate.load(Ordering::SeqCst));
    assert_eq!(health_of(&server, "").await, ServingStatus::Serving);
    open.store(false, Ordering::SeqCst);
    assert_eq!(health_of(&server, "").await, ServingStatus::NotServing);
    assert_eq!(
        health_of(&server, "paddock.v1.Paddock").await,
        ServingStatus::NotServing
    );
    let mut watch = HealthClient::new(server.channel().await)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch answers")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .expect("a first status")
        .expect("open")
        .expect("ok");
    assert_eq!(first.status(), ServingStatus::NotServing);
    // NOT_SERVING set by the handle stays so whatever the gate says.
    open.store(true, Ordering::SeqCst);
    server.health.set_serving(false).await;
    assert_eq!(health_of(&server, "").await, ServingStatus::NotServing);
    server.health.set_serving(true).await;
    assert_eq!(health_of(&server, "").await, ServingStatus::Serving);
}

#[tokio::test]
async fn reflection_lists_the_paddock_service_v1_and_v1alpha() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as V1Req;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as V1Resp;
    use tonic_reflection::pb::v1::ServerReflectionRequest as V1Request;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1a;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as V1aReq;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as V1aResp;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest as V1aRequest;

    let server = start(Fake::new(true), GatewayOptions::default()).await;
    let mut v1 = V1::new(server.channel().await);
    let req = V1Request {
        host: String::new(),
        message_request: Some(V1Req::ListServices(String::new())),
    };
    let mut answers = v1
        .server_reflection_info(tokio_stream::once(req))
        .await
        .expect("reflection v1")
        .into_inner();
    let answer = answers.next().await.expect("one answer").expect("ok");
    let Some(V1Resp::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"paddock.v1.Paddock".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    // Only what a client can call here: the peer services live on the peer ports.
    for peer_service in ["paddock.v1.Quorum", "paddock.v1.Election"] {
        assert!(!names.iter().any(|n| n == peer_service), "{names:?}");
    }

    let mut v1a = V1a::new(server.channel().await);
    let req = V1aRequest {
        host: String::new(),
        message_request: Some(V1aReq::ListServices(String::new())),
    };
    let mut answers = v1a
        .server_reflection_info(tokio_stream::once(req))
        .await
        .expect("reflection v1alpha")
        .into_inner();
    let answer = answers.next().await.expect("one answer").expect("ok");
    let Some(V1aResp::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a service list");
    };
    assert!(list.service.iter().any(|s| s.name == "paddock.v1.Paddock"));
}

/// A message over `max_message_bytes` is refused by tonic; the stream ends with OUT_OF_RANGE
/// (tagged MarshallingError) and the session is detached.
#[tokio::test]
async fn oversize_message_is_refused() {
    let opts = GatewayOptions {
        max_message_bytes: 64 * 1024,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    let (mut conn, _) = server.open().await;
    let (session, c) = server.fake.last_conn();
    let create = pb::request::Op::Create(pb::CreateRequest {
        path: "/big".into(),
        data: Some(vec![0u8; 100 * 1024].into()),
        mode: 0,
        acl: None,
        ttl: 0,
    });
    conn.send(request(1, Some(create))).await;
    let status = conn.try_next().await.expect_err("refused");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(error_code_of(&status), Some(ErrorCode::MarshallingError));
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
    server
        .fake
        .wait_until("detach", |st| st.detaches == [(session, c)])
        .await;
    assert!(server.fake.state().submits.is_empty());
}

/// maxClientCnxns: extra streams from one IP are refused with RESOURCE_EXHAUSTED; a slot frees
/// when a stream ends.
#[tokio::test]
async fn streams_per_ip_are_limited() {
    let opts = GatewayOptions {
        max_connections_per_ip: 2,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    let (first, _) = server.open().await;
    let (_second, _) = server.open().await;
    let status = server
        .open_with(connect(0, &[]))
        .await
        .err()
        .expect("third stream refused");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(error_code_of(&status), Some(ErrorCode::Throttled));
    drop(first);
    server
        .fake
        .wait_until("detach", |st| st.detaches.len() == 1)
        .await;
    // The permit is released as the stream's task ends, just after the detach.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match server.open_with(connect(0, &[])).await {
            Ok(_) => break,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(tokio::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
}

/// At most `max_in_flight_per_stream` unanswered requests are read; the rest wait in the
/// transport until answers go out.
#[tokio::test]
async fn in_flight_requests_per_stream_are_bounded() {
    let opts = GatewayOptions {
        max_in_flight_per_stream: 5,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(false), opts).await;
    let (mut conn, _) = server.open().await;
    for xid in 1..=20 {
        conn.send(ping(xid)).await;
    }
    server
        .fake
        .wait_until("5 submits", |st| st.submits.len() == 5)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.fake.state().submits.len(),
        5,
        "no more than the limit is read"
    );
    let (_, c) = server.fake.last_conn();
    for xid in 1..=20 {
        server
            .fake
            .wait_until("next submit", |st| st.submits.len() as i64 >= xid)
            .await;
        server.fake.emit(c, response(xid, 1, Ok(Response::Ping)));
        assert_eq!(conn.next_response().await.xid, xid);
    }
}

/// A client that does not read cannot make the server buffer without limit: once the outbound
/// buffer and the transport's windows are full, no more requests are read.
#[tokio::test]
async fn a_client_that_does_not_read_stops_being_read() {
    let opts = GatewayOptions {
        outbound_buffer_messages: 4,
        ..GatewayOptions::default()
    };
    let fake = Fake::new(true);
    fake.state().get_data_bytes = Some(256 * 1024);
    let server = start(fake, opts).await;
    let (mut conn, _) = server.open().await;
    const N: i64 = 200;
    for xid in 1..=N {
        conn.send(get_data(xid, "/big")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read = server.fake.state().submits.len();
    assert!(
        read < 60,
        "{read} of {N} requests were read while nobody read the answers"
    );
    for xid in 1..=N {
        let r = conn.next_response().await;
        assert_eq!(r.xid, xid);
    }
    assert_eq!(server.fake.state().submits.len(), N as usize);
}

#[tokio::test]
async fn no_connect_request_in_time_is_deadline_exceeded() {
    let opts = GatewayOptions {
        handshake_timeout_ms: 200,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    let mut client = server.client().await;
    let (_tx, rx) = tokio::sync::mpsc::channel::<pb::ClientMessage>(1);
    let status = client
        .session(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect_err("refused after the timeout");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(error_code_of(&status), Some(ErrorCode::OperationTimeout));
}

/// Shutdown ends open session streams with UNAVAILABLE / ConnectionLoss (the client resumes
/// elsewhere), detaches them, `serve` returns and the port is closed: served on the caller's
/// runtime or on serving threads (`servingThreads`), where every request ran on one of them.
#[tokio::test]
async fn shutdown_ends_streams_and_returns() {
    for serving_threads in [0, 2] {
        let opts = GatewayOptions {
            serving_threads,
            ..GatewayOptions::default()
        };
        let server = start(Fake::new(true), opts).await;
        let addr = server.addr;
        let mut conns = Vec::new();
        for i in 0..4 {
            let (mut conn, _) = server.open().await;
            conn.send(get_data(1, &format!("/t{i}"))).await;
            match conn.next().await.message {
                Some(pb::server_message::Message::Response(r)) => assert_eq!(r.xid, 1),
                other => panic!("expected the GetData answer, got {other:?}"),
            }
            conns.push((conn, server.fake.last_conn()));
        }
        let fake = std::sync::Arc::clone(&server.fake);
        if serving_threads > 0 {
            let st = fake.state();
            assert_eq!(st.submit_threads.len(), 4);
            for name in &st.submit_threads {
                assert!(name.starts_with("paddock-grpc-"), "served on {name:?}");
            }
        }
        let serving = tokio::spawn(server.shutdown());
        for (conn, _) in &mut conns {
            let status = conn
                .try_next()
                .await
                .expect_err("stream ends with a status");
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(error_code_of(&status), Some(ErrorCode::ConnectionLoss));
        }
        serving
            .await
            .expect("shutdown task")
            .expect("serve returns Ok");
        let detached = fake.state().detaches.clone();
        assert_eq!(
            detached.len(),
            conns.len(),
            "serving_threads {serving_threads}"
        );
        for (_, opened) in &conns {
            assert!(detached.contains(opened), "{opened:?} detached");
        }
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(refused.is_err(), "the port still accepts after shutdown");
    }
}

#[tokio::test]
async fn invalid_options_are_refused_before_binding_anything() {
    let opts = GatewayOptions {
        max_in_flight_per_stream: 0,
        ..GatewayOptions::default()
    };
    let err = paddock_gateway::Gateway::new(Fake::new(true), opts)
        .err()
        .expect("invalid");
    assert!(
        err.to_string().contains("max_in_flight_per_stream"),
        "{err}"
    );
}

/// A stream that never ends by itself (a health `Watch`) cannot hold shutdown forever, whether
/// the port is served on the caller's runtime or on serving threads.
#[tokio::test]
async fn shutdown_does_not_wait_forever_for_other_streams() {
    for serving_threads in [0, 1] {
        let opts = GatewayOptions {
            shutdown_grace_ms: 300,
            serving_threads,
            ..GatewayOptions::default()
        };
        let server = start(Fake::new(true), opts).await;
        let addr = server.addr;
        let mut health = HealthClient::new(server.channel().await);
        let mut watch = health
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("watch")
            .into_inner();
        let first = watch.next().await.expect("a status").expect("ok");
        assert_eq!(first.status(), ServingStatus::Serving);
        server
            .shutdown()
            .await
            .expect("serve returns Ok after the grace period");
        // The port is closed once serve has returned, the stream still open or not.
        let refused = tokio::net::TcpStream::connect(addr).await;
        assert!(
            refused.is_err(),
            "serving_threads {serving_threads}: still accepting"
        );
        if serving_threads > 0 {
            // The thread's runtime went with its connections: the stream that never ended is
            // closed, no thread is left serving it.
            let ended = tokio::time::timeout(WAIT, watch.next()).await;
            assert!(
                matches!(ended, Ok(None) | Ok(Some(Err(_)))),
                "the watch outlived the serving thread: {ended:?}"
            );
        }
    }
}

fn set_data(xid: i64, path: &str, bytes: usize) -> pb::ClientMessage {
    request(
        xid,
        Some(pb::request::Op::SetData(pb::SetDataRequest {
            path: path.into(),
            data: Some(vec![0u8; bytes].into()),
            version: -1,
        })),
    )
}

/// A session stream on `channel` (its request queue holds `queue` messages) and its handshake's
/// answer.
async fn open_on(
    channel: tonic::transport::Channel,
    queue: usize,
) -> (
    mpsc::Sender<pb::ClientMessage>,
    tonic::Streaming<pb::ServerMessage>,
    Option<pb::server_message::Message>,
) {
    let (tx, rx) = mpsc::channel(queue);
    tx.send(connect(0, &[])).await.expect("queue");
    let mut stream = pb::paddock_client::PaddockClient::new(channel)
        .session(ReceiverStream::new(rx))
        .await
        .expect("a session stream")
        .into_inner();
    let first = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("the handshake is answered in time")
        .expect("the session stream")
        .and_then(|m| m.message);
    (tx, stream, first)
}

/// Opens a session on `channel`, has one request read and never answered (the gateway's
/// in-flight limit is 1), then sends it 512 KiB messages until the transport takes no more:
/// what the gateway did not read fills the stream's window. `read`: requests the fake has seen
/// before this one.
async fn stalled_session(
    server: &TestServer,
    channel: tonic::transport::Channel,
    read: usize,
) -> (
    mpsc::Sender<pb::ClientMessage>,
    tonic::Streaming<pb::ServerMessage>,
) {
    let (tx, stream, first) = open_on(channel, 1).await;
    assert!(matches!(
        first,
        Some(pb::server_message::Message::Connect(_))
    ));
    tx.send(ping(1)).await.expect("queue");
    server
        .fake
        .wait_until("the first request", |st| st.submits.len() == read + 1)
        .await;
    for xid in 2..=16 {
        let send = tx.send(set_data(xid, "/a", 512 * 1024));
        if tokio::time::timeout(Duration::from_secs(2), send)
            .await
            .is_err()
        {
            return (tx, stream);
        }
    }
    panic!("the stream never filled its window");
}

/// Sessions sharing one HTTP/2 connection (the Rust client's `SharedConnections`): a session
/// whose stream the gateway stops reading (at its in-flight limit) holds what it was sent of
/// its 1 MiB stream window, and that counts against the connection's window. The connection's
/// window is sixteen streams' worth, so with two such sessions the others on the connection go
/// on; at hyper's default (1 MiB, one stream's worth) the second handshake here never arrived.
#[tokio::test]
async fn stalled_sessions_do_not_block_the_others_on_their_connection() {
    let opts = GatewayOptions {
        max_in_flight_per_stream: 1,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(false), opts).await;
    let channel = server.channel().await;
    let _a = stalled_session(&server, channel.clone(), 0).await;
    let _b = stalled_session(&server, channel.clone(), 1).await;

    // Session C on the same connection: handshake, a request, its answer.
    // (Its handshake is answered while A and B are stalled.)
    let (c_tx, mut c, first) = open_on(channel, 4).await;
    assert!(
        matches!(first, Some(pb::server_message::Message::Connect(_))),
        "{first:?}"
    );
    c_tx.send(ping(1)).await.expect("queue");
    server
        .fake
        .wait_until("C's request", |st| st.submits.len() == 3)
        .await;
    let (_, c_conn) = server.fake.last_conn();
    server.fake.emit(c_conn, response(1, 1, Ok(Response::Ping)));
    let answer = tokio::time::timeout(WAIT, c.message())
        .await
        .expect("C's answer in time")
        .expect("C's stream")
        .and_then(|m| m.message);
    assert!(
        matches!(answer, Some(pb::server_message::Message::Response(ref r)) if r.xid == 1),
        "{answer:?}"
    );
}
