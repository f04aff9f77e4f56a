//! A standalone server's processor end to end (an ensemble of one, with a stand-in for its
//! quorum peer: tests/support), over in-memory storage, through the `Backend` seam.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Deterministic, Processor, ProcessorConfig, SessionEvent,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{
    CreateMode, Epoch, ErrorCode, EventType, MultiOp, OpResult, Request, Response, Zxid,
};

const WAIT: Duration = Duration::from_secs(10);

struct Harness {
    server: Arc<Processor>,
    log: Arc<MemTxnLog>,
    snaps: Arc<MemSnapshotStore>,
}

fn cfg() -> ProcessorConfig {
    ProcessorConfig {
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 400,
        ..ProcessorConfig::default()
    }
}

fn start_with(cfg: ProcessorConfig, log: Arc<MemTxnLog>, snaps: Arc<MemSnapshotStore>) -> Harness {
    let server = support::local(cfg, log.clone(), snaps.clone(), Epoch(1));
    Harness { server, log, snaps }
}

fn start() -> Harness {
    start_with(
        cfg(),
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
    )
}

async fn connect(h: &Harness, timeout_ms: i32) -> Connected {
    h.server
        .connect(ConnectRequest {
            conn_ids: Vec::new(),
            resume: None,
            timeout_ms,
            last_zxid_seen: Zxid::ZERO,
            peer: "test".into(),
            set_watches: Default::default(),
            read_only: false,
        })
        .await
        .expect("connect")
}

async fn next(c: &mut Connected) -> SessionEvent {
    tokio::time::timeout(WAIT, c.events.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

async fn call(
    h: &Harness,
    c: &mut Connected,
    xid: i64,
    req: Request,
) -> Result<Response, paddock_types::ZkError> {
    h.server.submit(c.session, c.conn, xid, req);
    loop {
        match next(c).await {
            SessionEvent::Response { xid: x, result, .. } => {
                assert_eq!(x, xid, "answers come in request order");
                return result;
            }
            SessionEvent::Watch(_) => continue,
            SessionEvent::Closed(code) => panic!("session closed: {code:?}"),
        }
    }
}

fn create(path: &str, data: &str, mode: CreateMode) -> Request {
    Request::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::from(data.to_string()).into(),
        mode,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_read_back() {
    let h = start();
    let mut c = connect(&h, 4000).await;
    let r = call(&h, &mut c, 1, create("/a", "hello", CreateMode::Persistent))
        .await
        .unwrap();
    let Response::Create { path, stat } = r else {
        panic!("{r:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!(stat.version, 0);
    let r = call(
        &h,
        &mut c,
        2,
        Request::GetData {
            path: "/a".into(),
            watch: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Response::GetData {
            data: Bytes::from("hello").into(),
            stat
        }
    );
    // Every answered write is durable.
    assert_eq!(h.log.last_durable_zxid(), h.log.last_logged_zxid());
    assert!(h.log.last_durable_zxid() >= Zxid(stat.czxid as u64));
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_and_reads_see_earlier_writes() {
    let h = start();
    let mut c = connect(&h, 4000).await;
    h.server.submit(
        c.session,
        c.conn,
        1,
        create("/p", "", CreateMode::Persistent),
    );
    for i in 0..50 {
        h.server.submit(
            c.session,
            c.conn,
            2 + 2 * i,
            Request::SetData {
                path: "/p".into(),
                data: Bytes::from(i.to_string()).into(),
                version: -1,
            },
        );
        h.server.submit(
            c.session,
            c.conn,
            3 + 2 * i,
            Request::GetData {
                path: "/p".into(),
                watch: false,
            },
        );
    }
    let mut expected_xid = 1;
    while expected_xid < 102 {
        let SessionEvent::Response { xid, result, .. } = next(&mut c).await else {
            continue;
        };
        assert_eq!(xid, expected_xid);
        if xid >= 3 && xid % 2 == 1 {
            let Ok(Response::GetData { data, stat }) = result else {
                panic!("{result:?}")
            };
            let i = (xid - 3) / 2;
            assert_eq!(
                data,
                Bytes::from(i.to_string()),
                "the read sees the write before it"
            );
            assert_eq!(stat.version as i64, i + 1);
        }
        expected_xid += 1;
    }
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_event_arrives_before_the_data_it_announces() {
    let h = start();
    let mut a = connect(&h, 4000).await;
    let mut b = connect(&h, 4000).await;
    call(&h, &mut a, 1, create("/w", "v0", CreateMode::Persistent))
        .await
        .unwrap();
    call(
        &h,
        &mut a,
        2,
        Request::GetData {
            path: "/w".into(),
            watch: true,
        },
    )
    .await
    .unwrap();
    call(
        &h,
        &mut b,
        1,
        Request::SetData {
            path: "/w".into(),
            data: Bytes::from("v1").into(),
            version: -1,
        },
    )
    .await
    .unwrap();
    // a asks for the data; the event must come first on a's channel.
    h.server.submit(
        a.session,
        a.conn,
        3,
        Request::GetData {
            path: "/w".into(),
            watch: false,
        },
    );
    let first = next(&mut a).await;
    let SessionEvent::Watch(ev) = first else {
        panic!("expected the watch event first, got {first:?}")
    };
    assert_eq!(ev.event_type, EventType::NodeDataChanged);
    assert_eq!(ev.path, "/w");
    let SessionEvent::Response {
        result: Ok(Response::GetData { data, .. }),
        ..
    } = next(&mut a).await
    else {
        panic!()
    };
    assert_eq!(data, Bytes::from("v1"));
    // One-shot: a second change fires nothing.
    call(
        &h,
        &mut b,
        2,
        Request::SetData {
            path: "/w".into(),
            data: Bytes::from("v2").into(),
            version: -1,
        },
    )
    .await
    .unwrap();
    let r = call(&h, &mut a, 4, Request::Ping).await.unwrap();
    assert_eq!(r, Response::Ping);
    assert!(a.events.try_recv().is_err(), "no second event");
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_deletes_ephemerals_and_fires_watches() {
    let h = start();
    let mut owner = connect(&h, 40).await;
    assert_eq!(owner.timeout_ms, 40);
    let mut watcher = connect(&h, 400).await;
    call(&h, &mut owner, 1, create("/e", "", CreateMode::Ephemeral))
        .await
        .unwrap();
    let r = call(
        &h,
        &mut watcher,
        1,
        Request::Exists {
            path: "/e".into(),
            watch: true,
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Response::Exists { stat: Some(s) } if s.ephemeral_owner == owner.session.0)
    );
    // The owner falls silent; the watcher keeps pinging.
    let mut xid = 2;
    let deleted = loop {
        xid += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        h.server
            .submit(watcher.session, watcher.conn, xid, Request::Ping);
        match next(&mut watcher).await {
            SessionEvent::Watch(ev) => break ev,
            SessionEvent::Response { .. } => {
                assert!(xid < 200, "the ephemeral should go within the timeout")
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(deleted.event_type, EventType::NodeDeleted);
    assert_eq!(deleted.path, "/e");
    assert_eq!(
        next(&mut owner).await,
        SessionEvent::Closed(ErrorCode::SessionExpired)
    );
    // The expired session cannot be resumed.
    let e = h
        .server
        .connect(ConnectRequest {
            conn_ids: Vec::new(),
            resume: Some((owner.session, owner.password)),
            timeout_ms: 40,
            last_zxid_seen: Zxid::ZERO,
            peer: "test".into(),
            set_watches: Default::default(),
            read_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_moves_the_session_and_refuses_a_wrong_password() {
    let h = start();
    let mut c1 = connect(&h, 4000).await;
    call(&h, &mut c1, 1, create("/r", "", CreateMode::Ephemeral))
        .await
        .unwrap();
    let mut bad = c1.password;
    bad[0] ^= 1;
    let req = |pw| ConnectRequest {
        conn_ids: Vec::new(),
        resume: Some((c1.session, pw)),
        timeout_ms: 4000,
        last_zxid_seen: Zxid::ZERO,
        peer: "test".into(),
        set_watches: Default::default(),
        read_only: false,
    };
    assert_eq!(
        h.server.connect(req(bad)).await.unwrap_err().code,
        ErrorCode::SessionExpired
    );
    let mut c2 = h.server.connect(req(c1.password)).await.unwrap();
    assert_eq!(c2.session, c1.session);
    assert_eq!(
        next(&mut c1).await,
        SessionEvent::Closed(ErrorCode::SessionMoved)
    );
    let r = call(
        &h,
        &mut c2,
        2,
        Request::Exists {
            path: "/r".into(),
            watch: false,
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Response::Exists { stat: Some(_) }),
        "the ephemeral survived the move"
    );
    h.server.shutdown().await;
}

/// A standalone resume renegotiates the timeout as ZooKeeper does; the change is logged (so a
/// restart keeps it), while a resume with the same timeout writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_resume_renegotiates_the_timeout_and_logs_only_a_change() {
    let h = start();
    let c1 = connect(&h, 100).await;
    let req = |timeout_ms| ConnectRequest {
        conn_ids: Vec::new(),
        resume: Some((c1.session, c1.password)),
        timeout_ms,
        last_zxid_seen: Zxid::ZERO,
        peer: "test".into(),
        set_watches: Default::default(),
        read_only: false,
    };
    let logged = h.log.records().len();
    let same = h.server.connect(req(100)).await.unwrap();
    assert_eq!(same.timeout_ms, 100);
    assert_eq!(
        h.log.records().len(),
        logged,
        "same timeout: nothing logged"
    );
    let longer = h.server.connect(req(300)).await.unwrap();
    assert_eq!(longer.timeout_ms, 300);
    assert_eq!(h.server.connections()[0].timeout_ms, 300);
    let records = h.log.records();
    assert_eq!(records.len(), logged + 1);
    let txn = paddock_types::Txn::decode(&records[logged].1).unwrap();
    assert!(
        matches!(
            txn.op,
            paddock_types::TxnOp::ResumeSession {
                timeout_ms: 300,
                ..
            }
        ),
        "{txn:?}"
    );
    let digest = h.server.digest();
    h.server.shutdown().await;
    // Replayed after a restart: the same session table (timeout included).
    let again = support::local(cfg(), h.log.clone(), h.snaps.clone(), Epoch(2));
    assert_eq!(again.digest(), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_session_removes_ephemerals_then_closes_the_stream() {
    let h = start();
    let mut c = connect(&h, 4000).await;
    let mut other = connect(&h, 4000).await;
    call(&h, &mut c, 1, create("/x", "", CreateMode::Ephemeral))
        .await
        .unwrap();
    let r = call(&h, &mut c, 2, Request::CloseSession).await.unwrap();
    assert_eq!(r, Response::CloseSession);
    assert_eq!(next(&mut c).await, SessionEvent::Closed(ErrorCode::Ok));
    let r = call(
        &h,
        &mut other,
        1,
        Request::Exists {
            path: "/x".into(),
            watch: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(r, Response::Exists { stat: None });
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_zookeeper_codes_and_the_server_keeps_serving() {
    let h = start();
    let mut c = connect(&h, 4000).await;
    let code = |r: Result<Response, paddock_types::ZkError>| r.unwrap_err().code;
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                1,
                Request::GetData {
                    path: "/nope".into(),
                    watch: false
                }
            )
            .await
        ),
        ErrorCode::NoNode
    );
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                2,
                Request::GetData {
                    path: "bad".into(),
                    watch: false
                }
            )
            .await
        ),
        ErrorCode::BadArguments
    );
    assert_eq!(
        code(call(&h, &mut c, 3, create("/a/b", "", CreateMode::Persistent)).await),
        ErrorCode::NoNode
    );
    call(&h, &mut c, 4, create("/a", "", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(
        code(call(&h, &mut c, 5, create("/a", "", CreateMode::Persistent)).await),
        ErrorCode::NodeExists
    );
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                6,
                Request::SetData {
                    path: "/a".into(),
                    data: Bytes::new().into(),
                    version: 7
                }
            )
            .await
        ),
        ErrorCode::BadVersion
    );
    call(&h, &mut c, 7, create("/a/b", "", CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                8,
                Request::Delete {
                    path: "/a".into(),
                    version: -1
                }
            )
            .await
        ),
        ErrorCode::NotEmpty
    );
    call(&h, &mut c, 9, create("/eph", "", CreateMode::Ephemeral))
        .await
        .unwrap();
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                10,
                create("/eph/kid", "", CreateMode::Persistent)
            )
            .await
        ),
        ErrorCode::NoChildrenForEphemerals
    );
    let big = Request::SetData {
        path: "/a".into(),
        data: Bytes::from(vec![0u8; (1 << 20) + 1]).into(),
        version: -1,
    };
    assert_eq!(
        code(call(&h, &mut c, 11, big).await),
        ErrorCode::BadArguments
    );
    assert_eq!(
        code(
            call(
                &h,
                &mut c,
                12,
                Request::Delete {
                    path: "/zookeeper".into(),
                    version: -1
                }
            )
            .await
        ),
        ErrorCode::BadArguments
    );
    // still serving
    let r = call(
        &h,
        &mut c,
        13,
        Request::Exists {
            path: "/a".into(),
            watch: false,
        },
    )
    .await
    .unwrap();
    assert!(matches!(r, Response::Exists { stat: Some(_) }));
    h.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_names_and_multi() {
    let h = start();
    let mut c = connect(&h, 4000).await;
    call(&h, &mut c, 1, create("/q", "", CreateMode::Persistent))
        .await
        .unwrap();
    let r = call(
        &h,
        &mut c,
        2,
        create("/q/n-", "", CreateMode::PersistentSequential),
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Response::Create { ref path, .. } if path == "/q/n-0000000000"),
        "{r:?}"
    );
    let r = call(
        &h,
        &mut c,
        3,
        create("/q/n-", "", CreateMode::EphemeralSequential),
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Response::Create { ref path, .. } if path == "/q/n-0000000001"),
        "{r:?}"
    );
    let failing = Request::Multi(vec![
        MultiOp::Create {
            acl: paddock_types::Acl::open(),
            path: "/m".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
        },
        MultiOp::Check {
            path: "/q".into(),
            version: 5,
        },
        MultiOp::Delete {
            path: "/q".into(),
            version: -1,
        },
    ]);
    let r = call(&h, &mut c, 4, failing).await.unwrap();
    assert_eq!(r.multi_failure(), Some(ErrorCode::BadVersion));
    assert_eq!(
        r,
        Response::Multi(vec![
            OpResult::Error(ErrorCode::Ok),
            OpResult::Error(ErrorCode::BadVersion),
            OpResult::Error(ErrorCode::RuntimeInconsistency)
        ])
    );
    let r = call(
        &h,
        &mut c,
        5,
        Request::Exists {
            path: "/m".into(),
            watch: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        Response::Exists { stat: None },
        "a failed multi changes nothing"
    );
    h.server.shutdown().await;
}

/// Creates `/n0`../n{n-1} through `c`, one request after another (xids 0..n).
async fn create_nodes(h: &Harness, c: &mut Connected, n: i64) {
    for i in 0..n {
        call(
            h,
            c,
            i,
            create(&format!("/n{i}"), "d", CreateMode::Persistent),
        )
        .await
        .unwrap();
    }
}

/// Waits (up to 2 s) until `snaps` lists a snapshot; periodic snapshots are written on a
/// thread of their own.
async fn wait_for_a_snapshot(snaps: &MemSnapshotStore) {
    for _ in 0..100 {
        if !snaps.list().unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_snapshot_and_log_gives_the_same_tree() {
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    let small = ProcessorConfig {
        snap_count: 10,
        ..cfg()
    };
    let h = start_with(small.clone(), log.clone(), snaps.clone());
    let mut c = connect(&h, 4000).await;
    create_nodes(&h, &mut c, 60).await;
    let digest = h.server.digest();
    h.server.shutdown().await;
    // Snapshots run in the background; wait until at least one is committed.
    wait_for_a_snapshot(&h.snaps).await;
    assert!(
        !h.snaps.list().unwrap().is_empty(),
        "snapCount=10 should have produced a snapshot"
    );
    let again = support::local(small, log, snaps, Epoch(2));
    assert_eq!(again.digest(), digest);
    assert_eq!(again.status().node_count, 4 + 60);
}

/// While the peer says the tree may hold records not known to be committed (it replays its own
/// log before it serves), no periodic snapshot is written, however many transactions apply; the
/// one that came due is written at the first apply after the history is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_snapshots_wait_until_the_history_is_confirmed() {
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    let small = ProcessorConfig {
        snap_count: 10,
        ..cfg()
    };
    let h = start_with(small, log, snaps);
    let mut c = connect(&h, 4000).await;
    h.server.set_history_confirmed(false);
    create_nodes(&h, &mut c, 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h.snaps.list().unwrap().is_empty(),
        "a snapshot was written while the history was not confirmed"
    );
    h.server.set_history_confirmed(true);
    call(
        &h,
        &mut c,
        60,
        create("/after", "d", CreateMode::Persistent),
    )
    .await
    .unwrap();
    wait_for_a_snapshot(&h.snaps).await;
    assert!(
        !h.snaps.list().unwrap().is_empty(),
        "the snapshot that came due is written once the history is confirmed"
    );
    h.server.shutdown().await;
}

/// Issue 12, full disk: a failed log write is never acknowledged nor applied; the server turns
/// read-only (writes and new sessions refused with NotReadOnly, reads and open sessions go on,
/// status and the writable watch say so) and takes writes again by itself once the log
/// recovers, continuing from what was durable — nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_is_never_acknowledged_and_writes_resume_once_the_disk_recovers() {
    let h = start();
    // As sled: after a failed write the log refuses everything until recovered.
    h.log.sticky_failures(true);
    let mut writable = h.server.watch_writable();
    assert!(*writable.borrow_and_update());
    let mut c = connect(&h, 4000).await;
    call(&h, &mut c, 1, create("/ok", "", CreateMode::Persistent))
        .await
        .unwrap();
    h.log.fail_syncs(true);
    let e = call(&h, &mut c, 2, create("/lost", "", CreateMode::Persistent))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotReadOnly, "{e:?}");
    assert!(e.message.contains("read-only"), "{e:?}");
    // Not applied: the tree does not show it; reads go on.
    let exists = |path: &str| Request::Exists {
        path: path.into(),
        watch: false,
    };
    let r = call(&h, &mut c, 3, exists("/lost")).await.unwrap();
    assert_eq!(r, Response::Exists { stat: None });
    let r = call(&h, &mut c, 4, exists("/ok")).await.unwrap();
    assert!(matches!(r, Response::Exists { stat: Some(_) }), "{r:?}");
    // Further writes are refused at once, new sessions too; status and the watch say why.
    let e = call(&h, &mut c, 5, create("/later", "", CreateMode::Persistent))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotReadOnly, "{e:?}");
    let refused = h
        .server
        .connect(ConnectRequest {
            conn_ids: Vec::new(),
            resume: None,
            timeout_ms: 4000,
            last_zxid_seen: Zxid::ZERO,
            peer: "test".into(),
            set_watches: Default::default(),
            read_only: false,
        })
        .await;
    assert!(
        matches!(&refused, Err(e) if e.code == ErrorCode::NotReadOnly),
        "a new session needs a write: {:?}",
        refused.as_ref().map(|c| c.session)
    );
    assert!(h.server.status().writes_refused.is_some());
    assert!(!*writable.borrow_and_update());

    // The disk recovers: writes resume by themselves.
    h.log.fail_syncs(false);
    tokio::time::timeout(Duration::from_secs(10), writable.wait_for(|w| *w))
        .await
        .expect("writes resume within the back-off")
        .expect("watch");
    assert_eq!(h.server.status().writes_refused, None);
    let r = call(&h, &mut c, 6, create("/after", "", CreateMode::Persistent))
        .await
        .unwrap();
    assert!(matches!(r, Response::Create { .. }), "{r:?}");
    // The log holds exactly the acknowledged writes, in order, without a gap.
    let logged: Vec<u64> = h.log.durable_records().iter().map(|(z, _)| z.0).collect();
    assert!(logged.windows(2).all(|w| w[1] == w[0] + 1), "{logged:?}");
    let digest = h.server.digest();
    h.server.shutdown().await;
    let again = support::local(cfg(), h.log.clone(), h.snaps.clone(), Epoch(2));
    assert_eq!(again.digest(), digest, "a restart rebuilds the same tree");
}

/// What a client could observe of a short run that depends on randomness or time: session ids,
/// passwords, and the times stamped on znodes.
async fn observed_run(deterministic: Option<Deterministic>) -> Vec<String> {
    let h = start_with(
        ProcessorConfig {
            deterministic,
            ..cfg()
        },
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
    );
    let mut seen = Vec::new();
    let mut a = connect(&h, 400).await;
    tokio::time::sleep(Duration::from_millis(70)).await;
    let mut b = connect(&h, 400).await;
    for c in [&a, &b] {
        seen.push(format!("session {:?} password {:?}", c.session, c.password));
    }
    let r = call(&h, &mut a, 1, create("/x", "1", CreateMode::Persistent))
        .await
        .unwrap();
    seen.push(format!("{r:?}"));
    tokio::time::sleep(Duration::from_millis(30)).await;
    let set = Request::SetData {
        path: "/x".into(),
        data: Bytes::from("2").into(),
        version: -1,
    };
    let r = call(&h, &mut b, 1, set).await.unwrap();
    seen.push(format!("{r:?}"));
    h.server.shutdown().await;
    seen
}

/// Issue 13: everything random or timed in the processor comes from one seeded RNG and the
/// tokio clock when `deterministic` is set, so the same seed on paused time replays exactly;
/// without it (production) passwords are drawn from the OS and differ from run to run.
#[tokio::test(start_paused = true)]
async fn a_deterministic_run_replays_exactly_and_production_passwords_do_not() {
    let seeded = Deterministic {
        seed: 42,
        wall_origin_ms: 1_700_000_000_000,
    };
    let first = observed_run(Some(seeded)).await;
    let second = observed_run(Some(seeded)).await;
    assert_eq!(first, second, "same seed, same run");
    assert!(
        first.iter().any(|l| l.contains("mtime: 1700000000")),
        "znode times come from the injected clock: {first:?}"
    );
    let other = observed_run(Some(Deterministic { seed: 43, ..seeded })).await;
    assert_ne!(first[0], other[0], "another seed, other passwords");

    let prod_a = observed_run(None).await;
    let prod_b = observed_run(None).await;
    assert_ne!(
        prod_a[0], prod_b[0],
        "production passwords are not predictable"
    );
}
