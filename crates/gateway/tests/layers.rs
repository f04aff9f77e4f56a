//! The tower layers around the services (`crate::layers`): the per-IP stream limit, and the
//! load shedding and timeout of the short calls, seen from a client over real gRPC.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use paddock_api::{ConnectionInfo, Status};
use paddock_gateway::status::error_code_of;
use paddock_gateway::{AdminOptions, AdminService, AdminSource, GatewayOptions, Mode, NodeStatus};
use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::CommandRequest;
use paddock_types::{ErrorCode, Zxid};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// An admin source whose answers wait until the test opens its gate (bounded by [`WAIT`]).
#[derive(Default)]
struct GatedSource {
    open: Mutex<bool>,
    opened: Condvar,
    /// Calls that have reached the source.
    entered: AtomicUsize,
}

impl GatedSource {
    fn closed() -> Arc<GatedSource> {
        Arc::new(GatedSource::default())
    }

    fn open(&self) {
        *self.open.lock().expect("gate") = true;
        self.opened.notify_all();
    }

    async fn wait_entered(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.entered.load(Ordering::SeqCst) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} calls never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl AdminSource for GatedSource {
    fn status(&self) -> NodeStatus {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let open = self.open.lock().expect("gate");
        let _open = self
            .opened
            .wait_timeout_while(open, WAIT, |open| !*open)
            .expect("gate");
        node_status()
    }

    fn connections(&self) -> Vec<ConnectionInfo> {
        Vec::new()
    }

    fn watches(&self) -> Vec<(paddock_types::SessionId, String)> {
        Vec::new()
    }

    fn reset_server_stats(&self) {}

    fn reset_connection_stats(&self) {}

    fn dir_sizes(&self) -> (u64, u64) {
        (0, 0)
    }
}

fn node_status() -> NodeStatus {
    NodeStatus {
        mode: Mode::Standalone,
        server_id: 1,
        epoch: None,
        leader_id: None,
        synced_followers: None,
        proposal_sizes: None,
        file_descriptors: None,
        uptime_ms: 1,
        quorum_size: None,
        processor: Status {
            serving: true,
            writes_refused: None,
            last_zxid: Zxid(0),
            node_count: 1,
            watch_count: 0,
            session_count: 0,
            local_sessions: None,
            approximate_data_size: 0,
            outstanding: 0,
            received: 0,
            answered: 0,
            connections: 0,
            ephemerals_count: 0,
            watching_sessions: 0,
            watched_paths: 0,
            latency_min_us: 0,
            latency_total_us: 0,
            latency_max_us: 0,
            latency_count: 0,
        },
    }
}

fn admin(source: Arc<GatedSource>) -> AdminService {
    let opts = AdminOptions {
        whitelist: vec!["*".into()],
        version: "test".into(),
        ..AdminOptions::default()
    };
    AdminService::new(source, opts)
}

async fn srvr(server: &TestServer) -> Result<String, tonic::Status> {
    AdminClient::new(server.channel().await)
        .run_command(CommandRequest {
            command: "srvr".into(),
        })
        .await
        .map(|r| r.into_inner().output)
}

async fn health(server: &TestServer) -> Result<ServingStatus, tonic::Status> {
    HealthClient::new(server.channel().await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status())
}

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

/// Only session streams count towards maxClientCnxns: health checks and admin calls from an IP
/// at its limit are answered.
#[tokio::test]
async fn other_calls_are_not_counted_per_ip() {
    let opts = GatewayOptions {
        max_connections_per_ip: 1,
        ..GatewayOptions::default()
    };
    let source = GatedSource::closed();
    source.open();
    let server = start_with_admin(Fake::new(true), opts, admin(source)).await;
    let _only = server.open().await;
    assert!(
        server.open_with(connect(0, &[])).await.is_err(),
        "at the limit"
    );
    assert_eq!(
        health(&server).await.expect("health"),
        ServingStatus::Serving
    );
    assert!(srvr(&server)
        .await
        .expect("srvr")
        .contains("Mode: standalone"));
}

/// Load shedding (`layers::unary`): past `max_unary_calls_in_flight` admin calls, one more is
/// answered at once with RESOURCE_EXHAUSTED / Throttled, not queued; health checks have a count
/// of their own; once a call finishes, calls are admitted again.
#[tokio::test]
async fn admin_calls_past_the_limit_are_shed_at_once() {
    let opts = GatewayOptions {
        max_unary_calls_in_flight: 2,
        unary_timeout_ms: 60_000,
        ..GatewayOptions::default()
    };
    let source = GatedSource::closed();
    let server = start_with_admin(Fake::new(true), opts, admin(source.clone())).await;
    let server = Arc::new(server);
    let running: Vec<_> = (0..2)
        .map(|_| {
            let server = Arc::clone(&server);
            tokio::spawn(async move { srvr(&server).await })
        })
        .collect();
    source.wait_entered(2).await;

    let started = tokio::time::Instant::now();
    let shed = srvr(&server).await.expect_err("shed");
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    assert_eq!(error_code_of(&shed), Some(ErrorCode::Throttled));
    assert!(
        shed.message().contains("2 paddock.v1.Admin calls"),
        "{}",
        shed.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once, not queued"
    );
    assert_eq!(
        source.entered.load(Ordering::SeqCst),
        2,
        "the shed call never ran"
    );
    assert_eq!(
        health(&server).await.expect("health is counted apart"),
        ServingStatus::Serving
    );

    source.open();
    for call in running {
        let out = call.await.expect("task").expect("the running calls finish");
        assert!(out.contains("Mode: standalone"), "{out}");
    }
    assert!(srvr(&server).await.is_ok(), "admitted again");
}

/// Request timeouts (`layers::unary`): an admin call that does not answer within
/// `unary_timeout_ms` ends with DEADLINE_EXCEEDED / OperationTimeout, and gives its slot back.
#[tokio::test]
async fn a_slow_admin_call_times_out_with_operation_timeout() {
    let opts = GatewayOptions {
        max_unary_calls_in_flight: 1,
        unary_timeout_ms: 200,
        ..GatewayOptions::default()
    };
    let source = GatedSource::closed();
    let server = start_with_admin(Fake::new(true), opts, admin(source.clone())).await;
    let started = tokio::time::Instant::now();
    let late = srvr(&server).await.expect_err("timed out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");
    assert_eq!(error_code_of(&late), Some(ErrorCode::OperationTimeout));
    assert!(late.message().contains("200 ms"), "{}", late.message());
    // The slot came back: the next call times out too (it is not shed), although the first
    // one's work still waits at the source.
    let again = srvr(&server).await.expect_err("timed out again");
    assert_eq!(again.code(), Code::DeadlineExceeded, "{again:?}");
    source.open();
    assert!(srvr(&server).await.is_ok());
}

/// Session streams are not subject to the unary timeout: a stream lives far longer than
/// `unary_timeout_ms`, and its handshake may take longer too.
#[tokio::test]
async fn session_streams_outlive_the_unary_timeout() {
    let opts = GatewayOptions {
        unary_timeout_ms: 100,
        max_unary_calls_in_flight: 1,
        ..GatewayOptions::default()
    };
    let server = start(Fake::new(true), opts).await;
    let (mut conn, _) = server.open().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    conn.send(ping(1)).await;
    assert_eq!(conn.next_response().await.xid, 1);
    // Many streams at once: they are not shed by the unary limit either.
    let mut more = Vec::new();
    for _ in 0..5 {
        more.push(server.open().await);
    }
}

#[tokio::test]
async fn unary_options_are_validated() {
    for (opts, name) in [
        (
            GatewayOptions {
                unary_timeout_ms: 0,
                ..GatewayOptions::default()
            },
            "unary_timeout_ms",
        ),
        (
            GatewayOptions {
                max_unary_calls_in_flight: 0,
                ..GatewayOptions::default()
            },
            "max_unary_calls_in_flight",
        ),
    ] {
        let err = paddock_gateway::Gateway::new(Fake::new(true), opts)
            .err()
            .expect("invalid");
        assert!(err.to_string().contains(name), "{err}");
    }
}
