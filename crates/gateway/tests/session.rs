//! The session stream protocol of client.proto, end to end over real gRPC against a fake backend.

mod common;

use common::*;
use paddock_gateway::backend::SessionEvent;
use paddock_gateway::status::error_code_of;
use paddock_gateway::GatewayOptions;
use paddock_proto::v1 as pb;
use paddock_proto::v1::server_message::Message;
use paddock_types::{ErrorCode, Id, Request, Response, SessionId, ZkError};
use tonic::Code;

fn opts() -> GatewayOptions {
    GatewayOptions::default()
}

#[tokio::test]
async fn handshake_creates_a_session_and_answers_first() {
    let server = start(Fake::new(true), opts()).await;
    let (_conn, hello) = server.open().await;
    assert_ne!(hello.session_id, 0);
    assert_eq!(hello.password.as_ref(), &PASSWORD);
    assert_eq!(
        hello.timeout_ms, 10_000,
        "the fake echoes the requested timeout"
    );
    let st = server.fake.state();
    let req = &st.connects[0];
    assert_eq!(req.resume, None);
    assert!(
        req.peer.starts_with("127.0.0.1:"),
        "peer is the client address: {}",
        req.peer
    );
}

/// client.proto "Access control": a session is authenticated as the `ip` of its stream's peer;
/// the gateway, not the client, says so.
#[tokio::test]
async fn handshake_proves_the_peer_ip_as_a_connection_id() {
    let server = start(Fake::new(true), opts()).await;
    let (_conn, _) = server.open().await;
    assert_eq!(
        server.fake.state().connects[0].conn_ids,
        vec![Id::new("ip", "127.0.0.1")]
    );
}

#[tokio::test]
async fn handshake_resumes_with_id_and_password() {
    let server = start(Fake::new(true), opts()).await;
    let mut conn = server
        .open_with(connect(0x55, &PASSWORD))
        .await
        .expect("resume accepted");
    let Some(Message::Connect(hello)) = conn.next().await.message else {
        panic!("expected ConnectResponse");
    };
    assert_eq!(hello.session_id, 0x55);
    assert_eq!(
        server.fake.state().connects[0].resume,
        Some((SessionId(0x55), PASSWORD))
    );
}

/// client.proto "Errors": first message not a ConnectRequest -> INVALID_ARGUMENT, code -8.
#[tokio::test]
async fn first_message_not_connect_is_invalid_argument() {
    let server = start(Fake::new(true), opts()).await;
    let status = server
        .open_with(ping(1))
        .await
        .err()
        .expect("the stream is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_code_of(&status), Some(ErrorCode::BadArguments));
    let md = status
        .metadata()
        .get("paddock-error-code")
        .expect("metadata");
    assert_eq!(md.to_str().ok(), Some("-8"));
    assert!(server.fake.state().connects.is_empty());
}

#[tokio::test]
async fn malformed_connect_request_is_invalid_argument() {
    let server = start(Fake::new(true), opts()).await;
    let status = server
        .open_with(connect(42, &[1, 2, 3]))
        .await
        .err()
        .expect("a 3-byte password is refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_code_of(&status), Some(ErrorCode::BadArguments));
    assert!(
        status.message().contains("16 bytes"),
        "{}",
        status.message()
    );
}

/// client.proto "Errors": expired session -> NOT_FOUND -112; not serving -> UNAVAILABLE -4.
#[tokio::test]
async fn backend_refusals_map_to_documented_statuses() {
    let cases = [
        (ErrorCode::SessionExpired, Code::NotFound),
        (ErrorCode::ConnectionLoss, Code::Unavailable),
    ];
    for (zk, grpc) in cases {
        let fake = Fake::new(true);
        fake.state().refuse = Some(ZkError::new(zk, "refused by the fake"));
        let server = start(fake, opts()).await;
        let status = server
            .open_with(connect(0x55, &PASSWORD))
            .await
            .err()
            .expect("refused");
        assert_eq!(status.code(), grpc, "{zk:?}");
        assert_eq!(error_code_of(&status), Some(zk));
        assert_eq!(status.message(), "refused by the fake");
    }
}

/// DESIGN §1 FIFO order: 100 pipelined requests are all submitted before any answer, and the
/// answers come back in submission order.
#[tokio::test]
async fn pipelined_responses_come_back_in_submission_order() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    for xid in 1..=100 {
        conn.send(get_data(xid, &format!("/n{xid}"))).await;
    }
    server
        .fake
        .wait_until("100 submits", |st| st.submits.len() == 100)
        .await;
    let (_, c) = server.fake.last_conn();
    let xids: Vec<i64> = server.fake.state().submits.iter().map(|s| s.2).collect();
    assert_eq!(
        xids,
        (1..=100).collect::<Vec<_>>(),
        "submitted in stream order"
    );
    for xid in 1..=100 {
        server
            .fake
            .emit(c, response(xid, xid as u64, Ok(Response::Ping)));
    }
    for xid in 1..=100 {
        let r = conn.next_response().await;
        assert_eq!((r.xid, r.zxid, r.error), (xid, xid, 0));
    }
}

/// DESIGN §5: watch events travel on the same ordered channel as responses; the gateway keeps
/// the backend's order exactly.
#[tokio::test]
async fn watch_events_keep_the_backends_order() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    conn.send(ping(1)).await;
    conn.send(ping(2)).await;
    server
        .fake
        .wait_until("2 submits", |st| st.submits.len() == 2)
        .await;
    let (_, c) = server.fake.last_conn();
    server.fake.emit(c, watch("/a", 1));
    server.fake.emit(c, response(1, 1, Ok(Response::Ping)));
    server.fake.emit(c, watch("/b", 2));
    server.fake.emit(c, watch("/c", 3));
    server.fake.emit(c, response(2, 3, Ok(Response::Ping)));
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(match conn.next().await.message {
            Some(Message::WatchEvent(w)) => {
                assert_eq!(w.r#type, pb::EventType::NodeDataChanged as i32);
                assert_eq!(w.state, pb::KeeperState::SyncConnected as i32);
                format!("watch {}", w.path)
            }
            Some(Message::Response(r)) => format!("response {}", r.xid),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        seen,
        [
            "watch /a",
            "response 1",
            "watch /b",
            "watch /c",
            "response 2"
        ]
    );
}

#[tokio::test]
async fn watch_fired_by_a_write_precedes_its_answer() {
    let server = start(Fake::new(true), opts()).await;
    let (mut conn, _) = server.open().await;
    let set = pb::request::Op::SetData(pb::SetDataRequest {
        path: "/w".into(),
        data: Some("v".into()),
        version: -1,
    });
    conn.send(request(1, Some(set))).await;
    assert!(matches!(conn.next().await.message, Some(Message::WatchEvent(w)) if w.path == "/w"));
    let r = conn.next_response().await;
    assert_eq!(r.xid, 1);
    assert!(matches!(r.result, Some(pb::response::Result::SetData(_))));
}

/// A malformed request is answered with its xid and BadArguments; the stream goes on.
#[tokio::test]
async fn malformed_request_is_answered_and_the_stream_continues() {
    let server = start(Fake::new(true), opts()).await;
    let (mut conn, _) = server.open().await;
    conn.send(request(7, None)).await;
    let r = conn.next_response().await;
    assert_eq!(r.xid, 7);
    assert_eq!(r.error, ErrorCode::BadArguments.code());
    assert!(r.error_message.contains("op"), "{}", r.error_message);
    assert!(r.result.is_none());

    conn.send(get_data(8, "/ok")).await;
    let r = conn.next_response().await;
    assert_eq!((r.xid, r.error), (8, 0));
    let Some(pb::response::Result::GetData(d)) = r.result else {
        panic!("GetData answer expected");
    };
    assert_eq!(d.data.as_deref(), Some(&b"/ok"[..]));
    assert_eq!(
        server.fake.state().submits.len(),
        1,
        "the malformed one never reached the backend"
    );
}

/// FIFO order holds for answers the gateway makes itself: a malformed request's error waits
/// behind earlier requests still at the backend.
#[tokio::test]
async fn gateway_errors_do_not_overtake_earlier_requests() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    conn.send(ping(1)).await;
    let bad_mode = pb::request::Op::Create(pb::CreateRequest {
        path: "/x".into(),
        data: Default::default(),
        mode: 9,
        acl: None,
        ttl: 0,
    });
    conn.send(request(2, Some(bad_mode))).await;
    conn.send(ping(3)).await;
    server
        .fake
        .wait_until("2 submits", |st| st.submits.len() == 2)
        .await;
    let (_, c) = server.fake.last_conn();
    server.fake.emit(c, response(1, 1, Ok(Response::Ping)));
    server.fake.emit(c, response(3, 1, Ok(Response::Ping)));
    let got: Vec<(i64, i32)> = [
        conn.next_response().await,
        conn.next_response().await,
        conn.next_response().await,
    ]
    .iter()
    .map(|r| (r.xid, r.error))
    .collect();
    assert_eq!(got, [(1, 0), (2, -8), (3, 0)]);
}

#[tokio::test]
async fn client_dropping_the_stream_detaches() {
    let server = start(Fake::new(true), opts()).await;
    let (conn, _) = server.open().await;
    let (session, c) = server.fake.last_conn();
    drop(conn);
    server
        .fake
        .wait_until("detach", |st| st.detaches == [(session, c)])
        .await;
}

/// Half-close: requests already sent are still answered, then the stream ends and the session is
/// detached (not closed).
#[tokio::test]
async fn half_close_answers_what_was_sent_then_detaches() {
    let server = start(Fake::new(false), opts()).await;
    let (conn, _) = server.open().await;
    conn.send(ping(1)).await;
    let Conn { tx, rx } = conn;
    drop(tx);
    server
        .fake
        .wait_until("submit", |st| st.submits.len() == 1)
        .await;
    let (session, c) = server.fake.last_conn();
    assert!(
        server.fake.state().detaches.is_empty(),
        "still waiting for xid 1"
    );
    server.fake.emit(c, response(1, 1, Ok(Response::Ping)));
    let mut conn = Conn {
        tx: tokio::sync::mpsc::channel(1).0, // not used: the real sender is gone
        rx,
    };
    assert_eq!(conn.next_response().await.xid, 1);
    assert!(conn.try_next().await.expect("clean end").is_none());
    server
        .fake
        .wait_until("detach", |st| st.detaches == [(session, c)])
        .await;
}

#[tokio::test]
async fn session_closed_is_forwarded_then_the_stream_ends() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    let (_, c) = server.fake.last_conn();
    server
        .fake
        .emit(c, SessionEvent::Closed(ErrorCode::SessionExpired));
    let Some(Message::SessionClosed(closed)) = conn.next().await.message else {
        panic!("expected SessionClosed");
    };
    assert_eq!(closed.error, -112);
    assert!(conn.try_next().await.expect("status OK").is_none());
    assert!(
        server.fake.state().detaches.is_empty(),
        "an ended session is not detached"
    );
}

#[tokio::test]
async fn close_session_answers_then_closes_then_ends() {
    let server = start(Fake::new(true), opts()).await;
    let (mut conn, _) = server.open().await;
    let close = pb::request::Op::CloseSession(pb::CloseSessionRequest {});
    conn.send(request(1, Some(close))).await;
    let r = conn.next_response().await;
    assert_eq!(r.xid, 1);
    assert!(matches!(
        r.result,
        Some(pb::response::Result::CloseSession(_))
    ));
    let Some(Message::SessionClosed(closed)) = conn.next().await.message else {
        panic!("expected SessionClosed");
    };
    assert_eq!(closed.error, 0);
    assert!(conn.try_next().await.expect("status OK").is_none());
    assert_eq!(
        server.fake.state().submits[0].3,
        Request::CloseSession,
        "CloseSession goes to the backend like any request"
    );
}

#[tokio::test]
async fn backend_dropping_the_connection_is_connection_loss() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    let (_, c) = server.fake.last_conn();
    server.fake.drop_conn(c);
    let status = conn.try_next().await.expect_err("stream fails");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(error_code_of(&status), Some(ErrorCode::ConnectionLoss));
}

#[tokio::test]
async fn a_second_connect_request_ends_the_stream() {
    let server = start(Fake::new(true), opts()).await;
    let (mut conn, _) = server.open().await;
    let (session, c) = server.fake.last_conn();
    conn.send(connect(0, &[])).await;
    let status = conn.try_next().await.expect_err("protocol violation");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_code_of(&status), Some(ErrorCode::BadArguments));
    server
        .fake
        .wait_until("detach", |st| st.detaches == [(session, c)])
        .await;
}

/// client.proto "Access control": a failed AddAuth is answered AUTHFAILED, requests sent after
/// it fail with AUTHFAILED too, then SessionClosed{-115} and the end of the stream (status OK).
#[tokio::test]
async fn auth_failure_fails_later_requests_then_closes_the_session() {
    let server = start(Fake::new(false), opts()).await;
    let (mut conn, _) = server.open().await;
    let (_, c) = server.fake.last_conn();
    let add_auth = pb::request::Op::AddAuth(pb::AddAuthRequest {
        scheme: "nonsense".into(),
        auth: "x".into(),
    });
    conn.send(request(1, Some(add_auth))).await;
    conn.send(ping(2)).await;
    server
        .fake
        .wait_until("both requests submitted", |st| st.submits.len() == 2)
        .await;
    assert_eq!(
        server.fake.state().submits[0].3,
        Request::AddAuth {
            scheme: "nonsense".into(),
            auth: "x".into()
        }
    );
    server.fake.emit(
        c,
        response(
            1,
            1,
            Err(ZkError::new(ErrorCode::AuthFailed, "no such scheme")),
        ),
    );
    server
        .fake
        .emit(c, SessionEvent::Closed(ErrorCode::AuthFailed));
    for xid in [1, 2] {
        let r = conn.next_response().await;
        assert_eq!((r.xid, r.error), (xid, -115));
    }
    let Some(Message::SessionClosed(closed)) = conn.next().await.message else {
        panic!("expected SessionClosed");
    };
    assert_eq!(closed.error, -115);
    assert!(conn.try_next().await.expect("status OK").is_none());
}
