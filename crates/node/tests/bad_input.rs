//! Issue 2 "Bad input": each gets a clear error and leaves the server serving, with nothing lost —
//! requests before the session is set up, malformed requests, malformed or truncated gRPC
//! messages, a stream that vanishes mid-request, a data dir in use, a config with bad values.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_proto::v1 as pb;
use paddock_types::ServerId;
use pb::client_message::Message as Cm;
use pb::CreateMode::{Ephemeral, Persistent};
use support::*;
use tonic::{Code, Status};

fn request(xid: i64, op: Option<pb::request::Op>) -> pb::ClientMessage {
    pb::ClientMessage {
        message: Some(Cm::Request(pb::Request { xid, op })),
    }
}

fn connect_message(hello: pb::ConnectRequest) -> pb::ClientMessage {
    pb::ClientMessage {
        message: Some(Cm::Connect(hello)),
    }
}

/// The server still serves: a fresh session can write and read back.
async fn still_serving(node_addr: std::net::SocketAddr, path: &str) {
    let mut s = Session::open(node_addr, LONG_TIMEOUT_MS).await;
    s.create_ok(path, b"alive", Persistent).await;
    assert_eq!(&s.data(path).await.0[..], b"alive");
}

#[track_caller]
fn assert_status(status: &Status, grpc: Code, zk: i32) {
    assert_eq!(status.code(), grpc, "{status:?}");
    assert_eq!(status_zk_code(status), Some(zk), "{status:?}");
    assert!(!status.message().is_empty(), "a clear message: {status:?}");
}

/// Proto "Errors": a first message that is not a ConnectRequest, or a bad ConnectRequest, ends the
/// stream with INVALID_ARGUMENT and paddock-error-code -8; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_not_a_connect_request_is_invalid_argument() {
    let node = TestNode::start().await;
    let firsts = [
        request(1, Some(op::ping())),
        request(1, Some(op::create("/x", b"", Persistent))),
        pb::ClientMessage { message: None },
        // Bad ConnectRequests: a password for a new session, negative timeout or zxid.
        connect_message(pb::ConnectRequest {
            password: Bytes::from_static(b"not sixteen"),
            ..new_session(1000)
        }),
        connect_message(new_session(-5)),
        connect_message(pb::ConnectRequest {
            last_zxid_seen: -1,
            ..new_session(1000)
        }),
    ];
    for first in firsts {
        let (_tx, call) = open_stream(node.addr, first.clone()).await;
        let status = match call {
            Err(status) => status,
            Ok(mut stream) => within("stream end", stream.message())
                .await
                .expect_err(&format!("{first:?} must be refused")),
        };
        assert_status(&status, Code::InvalidArgument, code::BAD_ARGUMENTS);
    }
    assert_eq!(node.node().server.status().session_count, 0);
    let mut s = node.session().await;
    assert!(s.stat("/x").await.is_none());
    still_serving(node.addr, "/ok").await;
}

/// Proto "Requests": a Request without an op is answered with its xid and BadArguments (-8), in
/// order with the requests around it, and the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_op_is_answered_bad_arguments_and_the_stream_continues() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let before = s.send(op::create("/a", b"", Persistent)).await;
    let bad = s.take_xid();
    s.send_message(request(bad, None)).await;
    let bad_multi = s
        .send(op::multi(vec![
            op::m::create("/b", b"", Persistent),
            pb::MultiOp { op: None },
        ]))
        .await;
    let after = s.send(op::create("/c", b"", Persistent)).await;
    ok(&s.response(before).await);
    let r = s.response(bad).await;
    assert_eq!(r.xid, bad);
    expect_err(&r, code::BAD_ARGUMENTS);
    expect_err(&s.response(bad_multi).await, code::BAD_ARGUMENTS);
    ok(&s.response(after).await);
    let xids: Vec<i64> = s
        .seen
        .iter()
        .filter_map(|m| match m {
            Seen::Response(r) => Some(r.xid),
            _ => None,
        })
        .collect();
    assert_eq!(
        xids,
        [before, bad, bad_multi, after],
        "answers in request order"
    );
    assert!(
        s.stat("/b").await.is_none(),
        "the malformed multi applied nothing"
    );
    assert!(s.stat("/c").await.is_some());
}

/// Proto "Errors": after the handshake, a ClientMessage that is not a Request (a second connect,
/// an empty message) ends the stream with INVALID_ARGUMENT -8 — the session itself lives on and
/// can be resumed with its ephemerals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_request_after_handshake_ends_the_stream_not_the_session() {
    let node = TestNode::start().await;
    for bad in [
        connect_message(new_session(1000)),
        pb::ClientMessage { message: None },
    ] {
        let mut s = node.session().await;
        let path = format!("/eph-{}", s.id);
        s.create_ok(&path, b"", Ephemeral).await;
        s.send_message(bad).await;
        let status = s.finish().await.expect_err("the stream ends with an error");
        assert_status(&status, Code::InvalidArgument, code::BAD_ARGUMENTS);
        assert!(s.closed.is_none(), "the session was not closed");
        let mut again = Session::connect(node.addr, s.resume_request())
            .await
            .expect("the session is still alive");
        let st = again
            .stat(&path)
            .await
            .expect("its ephemeral is still there");
        assert_eq!(st.ephemeral_owner, s.id);
    }
}

/// Malformed gRPC messages: bytes that are not a ClientMessage, as the first message or after
/// the handshake, end that stream with a status tagged MarshallingError (-5); the session of the
/// second stream survives, and other sessions keep being served throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_end_the_stream_with_marshalling_error() {
    let node = TestNode::start().await;
    let mut bystander = node.session().await;
    bystander.create_ok("/bystander", b"", Ephemeral).await;

    // Not protobuf at all, as the first message.
    let garbage = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff]);
    let (_tx, call) = raw::open(node.addr, garbage.clone()).await;
    let status = match call {
        Err(s) => s,
        Ok(mut stream) => within("end", stream.message()).await.expect_err("refused"),
    };
    assert_ne!(status.code(), Code::Ok);
    assert_eq!(
        status_zk_code(&status),
        Some(code::MARSHALLING_ERROR),
        "{status:?}"
    );

    // A valid handshake and request, then garbage.
    let hello = raw::encode(&connect_message(new_session(LONG_TIMEOUT_MS)));
    let (tx, call) = raw::open(node.addr, hello).await;
    let mut stream = call.expect("handshake accepted");
    let Some(pb::ServerMessage {
        message: Some(pb::server_message::Message::Connect(c)),
    }) = within("ConnectResponse", stream.message())
        .await
        .expect("ok")
    else {
        panic!("a ConnectResponse first");
    };
    let create = request(1, Some(op::create("/raw-eph", b"", Ephemeral)));
    tx.send(raw::encode(&create)).await.expect("send");
    match within("answer", stream.message()).await {
        Ok(Some(pb::ServerMessage {
            message: Some(pb::server_message::Message::Response(r)),
        })) => ok(&r),
        other => panic!("the create's answer expected: {other:?}"),
    }
    tx.send(garbage).await.expect("send");
    let status = match within("stream end", stream.message()).await {
        Ok(Some(m)) => panic!("nothing expected after garbage: {m:?}"),
        Ok(None) => panic!("the stream must end with an error status"),
        Err(s) => s,
    };
    assert_ne!(status.code(), Code::Ok);
    assert_eq!(
        status_zk_code(&status),
        Some(code::MARSHALLING_ERROR),
        "{status:?}"
    );
    drop(tx);

    // The session behind the broken stream is alive and keeps its ephemeral.
    let mut again = Session::connect(node.addr, resume(c.session_id, c.password))
        .await
        .expect("resume after a broken stream");
    let st = again.stat("/raw-eph").await.expect("ephemeral kept");
    assert_eq!(st.ephemeral_owner, c.session_id);

    // The bystander never noticed.
    assert!(bystander.stat("/bystander").await.is_some());
    still_serving(node.addr, "/after-garbage").await;
}

/// Truncated gRPC frames: a frame header announcing more bytes than the body carries, then the
/// end of the request, and a frame header cut short: a non-OK status, and the server keeps
/// serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_grpc_frames_get_a_status_and_the_server_keeps_serving() {
    let node = TestNode::start().await;
    let mut bystander = node.session().await;

    // A valid, complete first frame is accepted by the same raw path (the control case).
    let hello: &[u8] = &[0x0a, 0x02, 0x18, 0x64]; // ClientMessage{connect{timeout_ms: 100}}
    let mut whole = raw::frame_header(hello.len() as u32).to_vec();
    whole.extend_from_slice(hello);
    let status = raw::post_body(node.addr, &whole).await;
    assert_eq!(status.code(), Code::Ok, "control: {status:?}");

    let mut short_payload = raw::frame_header(100).to_vec();
    short_payload.extend_from_slice(hello);
    let short_header = &raw::frame_header(100)[..3];
    for (what, body) in [
        ("payload shorter than announced", &short_payload[..]),
        ("header cut short", short_header),
    ] {
        let status = raw::post_body(node.addr, body).await;
        assert_ne!(status.code(), Code::Ok, "{what}: {status:?}");
        assert!(!status.message().is_empty(), "{what}: {status:?}");
        assert_eq!(
            status_zk_code(&status),
            Some(code::MARSHALLING_ERROR),
            "{what}: {status:?}"
        );
    }
    ok(&bystander.ping().await);
    still_serving(node.addr, "/after-truncation").await;
}

/// Proto "Limits": a ClientMessage over the message limit (4 x jute.maxbuffer) ends the stream with
/// OUT_OF_RANGE / MarshallingError (-5); the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_is_out_of_range() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let huge = vec![0u8; 5 << 20];
    s.send(op::create("/huge", &huge, Persistent)).await;
    let status = s.finish().await.expect_err("refused");
    assert_status(&status, Code::OutOfRange, code::MARSHALLING_ERROR);
    still_serving(node.addr, "/after-huge").await;
    let mut t = node.session().await;
    assert!(t.stat("/huge").await.is_none());
}

/// Proto "Closing" / issue 2 "a stream that vanishes mid-request": a client that sends writes and
/// vanishes without reading the answers leaves the server serving and its session alive (it can
/// be resumed, ephemerals intact, and what was applied is a prefix of what was sent) until the
/// session times out; then its ephemerals go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_stream_leaves_the_session_alive_until_its_timeout() {
    let node = TestNode::start().await;
    let mut other = node.session().await;
    other.mkdir("/gone").await;

    let mut a = node.session_with_timeout(1_000).await;
    assert_eq!(a.timeout_ms, 1_000);
    a.create_ok("/gone-eph", b"", Ephemeral).await;
    for i in 0..20 {
        a.send(op::create(&format!("/gone/{i:02}"), b"", Persistent))
            .await;
    }
    let (id, password) = (a.id, a.password.clone());
    drop(a); // cancels the stream and closes its connection, answers unread

    ok(&other.ping().await);
    let resume_1s = pb::ConnectRequest {
        timeout_ms: 1_000,
        ..resume(id, password.clone())
    };
    let mut a2 = Session::connect(node.addr, resume_1s)
        .await
        .expect("the session outlives its stream");
    // Writes sent before vanishing: each applied or not, in order (FIFO), so a prefix.
    let (names, _) = a2.children("/gone").await;
    let want: Vec<String> = (0..names.len()).map(|i| format!("{i:02}")).collect();
    assert_eq!(names, want, "applied writes form a prefix of those sent");
    assert_eq!(
        a2.stat("/gone-eph").await.map(|s| s.ephemeral_owner),
        Some(id)
    );
    // Half-close: answers to what was sent are delivered, the stream ends OK without
    // SessionClosed, and the session lives on.
    let last_sent = Instant::now();
    let x = a2.send(op::exists("/gone-eph", false)).await;
    a2.half_close();
    assert!(exists_result(a2.response(x).await).exists);
    assert!(a2.finish().await.is_ok());
    assert!(a2.closed.is_none());
    drop(a2);

    assert!(other.stat("/gone-eph").await.is_some(), "alive right after");
    let deadline = Instant::now() + WAIT;
    while other.stat("/gone-eph").await.is_some() {
        assert!(Instant::now() < deadline, "the session never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = last_sent.elapsed();
    assert!(
        after >= Duration::from_millis(1_000),
        "expired {after:?} after the last message, before its 1 s timeout"
    );
    let err = Session::connect(node.addr, resume(id, password))
        .await
        .err()
        .expect("expired now");
    assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED));
    still_serving(node.addr, "/after-vanish").await;
}

/// Issue 2 item 7: the data dir is locked, so a second server on it fails to start with an error
/// saying it is in use; the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_server_on_the_same_data_dir_is_refused() {
    let node = TestNode::start().await;
    let err = match paddock_node::start(&node.config, ServerId(1)).await {
        Ok(_) => panic!("a second server started on a locked data dir"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("in use") && err.contains("lock"),
        "the error says the dir is in use: {err}"
    );
    still_serving(node.addr, "/first-still-serves").await;

    // The binary says so too, and exits non-zero.
    let dir = node.dir.path().to_str().expect("utf-8").to_string();
    let (status, stderr) = run_to_exit(&["--data-dir", &dir, "--grpc-port", "0"]).await;
    assert!(!status.success(), "{status}");
    assert!(stderr.contains("in use"), "stderr: {stderr}");
}

/// DESIGN.md §8: invalid values stop the server with a non-zero exit and a message naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_values_exit_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, "tickTime=100\ngrpcPort=99999\n").expect("write cfg");
    let cfg = cfg.to_str().expect("utf-8");
    let bad_min = dir.path().join("min.cfg");
    std::fs::write(&bad_min, "minSessionTimeout=9000\nmaxSessionTimeout=100\n").expect("write");
    let bad_min = bad_min.to_str().expect("utf-8");

    let cases: [(&[&str], &str); 5] = [
        (&["--set", "tickTime=abc"], "tickTime"),
        (&["--set", "tickTime=0"], "tickTime"),
        (&["--config", cfg], "grpcPort"),
        (&["--config", bad_min], "minSessionTimeout"),
        (&["--set", "snapCount"], "snapCount"),
    ];
    for (args, key) in cases {
        let mut all = vec!["--data-dir", data, "--grpc-port", "0"];
        all.extend_from_slice(args);
        let (status, stderr) = run_to_exit(&all).await;
        assert!(!status.success(), "{args:?} must fail: {status}");
        assert!(
            stderr.contains(key),
            "{args:?}: stderr must name {key}: {stderr}"
        );
    }
    assert!(
        !std::path::Path::new(data).join("txnlog").exists(),
        "nothing was opened"
    );
}

/// DESIGN.md §8: unknown keys are warned about and the server starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_config_key_only_warns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(&cfg, "tickTime=200\nfrobnicateLevel=11\n").expect("write cfg");
    let data = dir.path().join("data");
    let mut p = Paddock::spawn(
        &data,
        &[
            "--config",
            cfg.to_str().expect("utf-8"),
            "--set",
            "alsoUnknown=1",
        ],
    )
    .await;
    let log = p.log();
    assert!(log.contains("frobnicateLevel"), "warned: {log}");
    assert!(log.contains("alsoUnknown"), "warned: {log}");
    assert!(log.contains("WARN"), "as a warning: {log}");
    let mut s = p.session().await;
    assert_eq!(
        s.timeout_ms, 4_000,
        "tickTime=200 from the file: max 20 ticks"
    );
    s.create_ok("/up", b"", Persistent).await;
    drop(s);
    let status = p.terminate().await;
    assert!(status.success(), "{status}");
}

/// DESIGN.md §8 `dataLogDir` (ZooKeeper's meaning): the txn log goes to dataLogDir, snapshots stay
/// in dataDir, and dataDir is still locked — a second server given the same dataDir but another
/// dataLogDir must be refused, not silently share the snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_log_dir_holds_the_log_and_data_dir_stays_locked() {
    let logs = tempfile::tempdir().expect("temp dir");
    let logs_path = logs.path().to_path_buf();
    let node = TestNode::start_with(|c| c.data_log_dir = Some(logs_path.clone())).await;
    still_serving(node.addr, "/w").await;
    let data_dir = node.dir.path();
    assert!(
        logs_path.join("txnlog").is_dir(),
        "the log is under dataLogDir"
    );
    assert!(
        data_dir.join("snapshots").is_dir(),
        "snapshots are under dataDir ({}), found: {:?}",
        data_dir.display(),
        std::fs::read_dir(data_dir).map(|d| d
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect::<Vec<_>>())
    );

    let other_logs = tempfile::tempdir().expect("temp dir");
    let second = paddock_types::Config {
        data_log_dir: Some(other_logs.path().to_path_buf()),
        ..node.config.clone()
    };
    if let Ok(n) = paddock_node::start(&second, ServerId(1)).await {
        n.shutdown().await;
        panic!("a second server started on a dataDir in use");
    }
}

/// Proto "Limits": maxClientCnxns bounds the streams per client IP; one more is refused with
/// RESOURCE_EXHAUSTED / Throttled (-127); closing one frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_ip_are_limited_by_max_client_cnxns() {
    let node = TestNode::start_with(|c| c.max_client_cnxns = 2).await;
    let a = node.session().await;
    let mut b = node.session().await;
    let err = Session::connect(node.addr, new_session(LONG_TIMEOUT_MS))
        .await
        .err()
        .expect("a third stream is refused");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(status_zk_code(&err), Some(-127));
    ok(&b.ping().await);
    drop(a);
    let deadline = Instant::now() + WAIT;
    loop {
        match Session::connect(node.addr, new_session(LONG_TIMEOUT_MS)).await {
            Ok(mut c) => {
                ok(&c.ping().await);
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
