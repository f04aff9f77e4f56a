//! Local sessions (`localSessionsEnabled`, `localSessionsUpgradingEnabled`), through the
//! `Backend` seam of an ensemble of processors: one task stands in for the quorum (orders every
//! server's submissions, applies each commit on every server) and records what was committed,
//! so "nothing was written" is checked as "nothing was committed, no zxid moved".

mod support;

use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, Connected, Processor, ProcessorConfig, ServingRole, SessionEvent,
};
use paddock_types::{
    Acl, CreateMode, ErrorCode, EventType, Id, MultiOp, Request, Response, ServerId, TxnOp,
};
use support::ensemble::{call, connect, next, resume_req, Ensemble, WAIT};

fn cfg(id: u64, upgrading: bool) -> ProcessorConfig {
    ProcessorConfig {
        server_id: ServerId(id),
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 4000,
        alone: false,
        local_sessions: true,
        local_sessions_upgrading: upgrading,
        ..ProcessorConfig::default()
    }
}

/// `n` servers with local sessions on; server 0 leads, the others learn; all serve.
fn ensemble(n: usize, upgrading: bool) -> Ensemble {
    Ensemble::start((1..=n as u64).map(|id| cfg(id, upgrading)))
}

/// Closes the session and waits for the end of its stream (answer, then `Closed(Ok)`).
async fn close(s: &Processor, c: &mut Connected, xid: i64) {
    assert_eq!(
        call(s, c, xid, Request::CloseSession).await,
        Ok(Response::CloseSession)
    );
    loop {
        match next(c).await {
            Some(SessionEvent::Closed(code)) => {
                assert_eq!(code, ErrorCode::Ok);
                return;
            }
            Some(_) => continue,
            None => return,
        }
    }
}

fn create(path: &str, mode: CreateMode) -> Request {
    Request::Create {
        acl: Acl::open(),
        path: path.into(),
        data: Bytes::from_static(b"d").into(),
        mode,
    }
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

/// Polls `cond` every 10 ms for up to `WAIT`.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// ZooKeeper's local sessions: creating and closing one, on a learner and on the leader, is no
/// transaction at all — nothing committed, no server's zxid moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_and_closing_a_local_session_writes_nothing() {
    let e = ensemble(3, true);
    for i in [1, 0] {
        let (before, zxids) = (e.committed(), e.last_zxids());
        let s = &e.servers[i];
        let mut c = connect(s, 4000).await;
        assert_eq!(s.status().local_sessions, Some(1));
        assert_eq!(s.status().session_count, 0, "not a global session");
        assert_eq!(call(s, &mut c, 1, Request::Ping).await, Ok(Response::Ping));
        let dump = s.session_dump();
        assert!(dump.iter().any(|d| d.session == c.session && d.local));
        close(s, &mut c, 2).await;
        assert_eq!(s.status().local_sessions, Some(0));
        assert_eq!(e.committed(), before, "server {i}: nothing committed");
        assert_eq!(e.last_zxids(), zxids, "server {i}: no zxid moved");
        // Closed: gone, so a resume is refused.
        let err = s.connect(resume_req(&c)).await.expect_err("closed");
        assert_eq!(err.code, ErrorCode::SessionExpired);
    }
}

/// A local session reads, watches, and writes persistent, sequential and container nodes
/// through the leader (which does not know it); the writes are ordinary transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_session_reads_watches_and_writes_persistent_nodes() {
    let e = ensemble(3, false);
    let s = &e.servers[2];
    let mut c = connect(s, 4000).await;
    call(s, &mut c, 1, create("/p", CreateMode::Persistent))
        .await
        .unwrap();
    call(
        s,
        &mut c,
        2,
        create("/p/s-", CreateMode::PersistentSequential),
    )
    .await
    .unwrap();
    call(s, &mut c, 3, create("/c", CreateMode::Container))
        .await
        .unwrap();
    assert!(matches!(
        call(s, &mut c, 4, get("/p", true)).await,
        Ok(Response::GetData { .. })
    ));
    // A change from another (global-free) session of another server fires the watch.
    let other = &e.servers[1];
    let mut c2 = connect(other, 4000).await;
    call(
        other,
        &mut c2,
        1,
        Request::SetData {
            path: "/p".into(),
            data: Bytes::from_static(b"x").into(),
            version: -1,
        },
    )
    .await
    .unwrap();
    match next(&mut c).await {
        Some(SessionEvent::Watch(w)) => {
            assert_eq!(
                (w.event_type, w.path.as_str()),
                (EventType::NodeDataChanged, "/p")
            )
        }
        other => panic!("{other:?}"),
    }
    let ops = e.ops_since(0);
    assert_eq!(
        ops.len(),
        4,
        "four writes, no session transactions: {ops:?}"
    );
    assert!(ops
        .iter()
        .all(|op| !matches!(op, TxnOp::CreateSession { .. } | TxnOp::CloseSession)));
}

/// With upgrading on, the first ephemeral create upgrades the session (a CreateSession with the
/// same id and timeout, committed before the create); the ephemeral is owned by the session on
/// every server, which from then on is global: it can move, and closing it deletes the
/// ephemeral everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ephemeral_upgrades_the_session_to_a_global_one() {
    let e = ensemble(3, true);
    let s = &e.servers[1];
    let mut c = connect(s, 3000).await;
    let before = e.committed();
    let r = call(s, &mut c, 1, create("/e", CreateMode::Ephemeral))
        .await
        .unwrap();
    assert!(matches!(r, Response::Create { .. }), "{r:?}");
    let ops = e.ops_since(before);
    assert!(
        matches!(
            ops.as_slice(),
            [TxnOp::CreateSession { timeout_ms: 3000, password }, TxnOp::Create { .. }]
                if *password == c.password
        ),
        "{ops:?}"
    );
    assert_eq!(s.status().local_sessions, Some(0));
    for (i, server) in e.servers.iter().enumerate() {
        // The stand-in applies each commit on the servers one after the other: the last
        // server may apply the create just after the first answered it.
        let srv = server.clone();
        eventually(&format!("server {i} applied the create"), move || {
            srv.status().ephemerals_count == 1
        })
        .await;
        assert_eq!(server.status().session_count, 1, "server {i}: global");
        let dump = server.session_dump();
        let d = dump
            .iter()
            .find(|d| d.session == c.session)
            .expect("listed");
        assert!(!d.local);
        assert_eq!(d.ephemerals, vec!["/e".to_string()], "server {i}");
    }
    // A second ephemeral: no second upgrade.
    let before = e.committed();
    call(s, &mut c, 2, create("/e2", CreateMode::EphemeralSequential))
        .await
        .unwrap();
    assert!(matches!(
        e.ops_since(before).as_slice(),
        [TxnOp::Create { .. }]
    ));
    // The ephemeral's owner is the session, seen from a server that never saw it locally.
    let o = &e.servers[2];
    let mut c2 = connect(o, 4000).await;
    call(o, &mut c2, 1, Request::Sync { path: "/".into() })
        .await
        .unwrap();
    match call(o, &mut c2, 2, get("/e", false)).await.unwrap() {
        Response::GetData { stat, .. } => assert_eq!(stat.ephemeral_owner, c.session.0),
        other => panic!("{other:?}"),
    }
    // Global now: it resumes on another server.
    let mut moved = o
        .connect(resume_req(&c))
        .await
        .expect("a global session moves");
    close(o, &mut moved, 3).await;
    for (i, server) in e.servers.iter().enumerate() {
        let srv = server.clone();
        eventually(&format!("server {i}: ephemerals gone"), move || {
            srv.status().ephemerals_count == 0 && srv.status().session_count == 0
        })
        .await;
    }
}

/// Upgrading off: an ephemeral create (or a multi with one) of a local session is
/// EPHEMERALONLOCALSESSION (-120) and nothing is written; other writes still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_upgrading_an_ephemeral_is_refused_and_nothing_is_written() {
    let e = ensemble(3, false);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    let (before, zxids) = (e.committed(), e.last_zxids());
    let err = call(s, &mut c, 1, create("/e", CreateMode::Ephemeral))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::EphemeralOnLocalSession);
    assert_eq!(err.code.code(), -120);
    let multi = Request::Multi(vec![
        MultiOp::Create {
            path: "/m".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
            acl: Acl::open(),
        },
        MultiOp::Create {
            path: "/m/e".into(),
            data: Bytes::new().into(),
            mode: CreateMode::EphemeralSequential,
            acl: Acl::open(),
        },
    ]);
    let err = call(s, &mut c, 2, multi).await.expect_err("refused");
    assert_eq!(err.code, ErrorCode::EphemeralOnLocalSession);
    assert_eq!(e.committed(), before, "nothing committed");
    assert_eq!(e.last_zxids(), zxids);
    assert_eq!(s.status().local_sessions, Some(1), "still local");
    call(s, &mut c, 3, create("/p", CreateMode::Persistent))
        .await
        .unwrap();
}

/// A local session resumes on its own server within its timeout (nothing written), and is
/// SESSIONEXPIRED on any other server: they never heard of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_session_resumes_only_on_its_own_server() {
    let e = ensemble(3, true);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    call(s, &mut c, 1, create("/w", CreateMode::Persistent))
        .await
        .unwrap();
    let before = e.committed();
    for other in [&e.servers[0], &e.servers[2]] {
        let err = other
            .connect(resume_req(&c))
            .await
            .expect_err("unknown there");
        assert_eq!(err.code, ErrorCode::SessionExpired);
    }
    let mut again = s.connect(resume_req(&c)).await.expect("resumes here");
    assert_eq!(again.session, c.session);
    match next(&mut c).await {
        Some(SessionEvent::Closed(ErrorCode::SessionMoved)) => {}
        other => panic!("the old connection is told SessionMoved: {other:?}"),
    }
    assert!(matches!(
        call(s, &mut again, 2, get("/w", false)).await,
        Ok(Response::GetData { .. })
    ));
    assert_eq!(e.committed(), before, "a local resume writes nothing");
    let mut wrong = resume_req(&again);
    if let Some((_, pw)) = wrong.resume.as_mut() {
        pw[0] ^= 1;
    }
    let err = s.connect(wrong).await.expect_err("bad password");
    assert_eq!(err.code, ErrorCode::SessionExpired);
}

/// A silent local session expires on its server alone: its connection is told SessionExpired,
/// its watches are dropped, nothing is written; then it cannot resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_local_session_expires_on_its_server_alone() {
    let e = ensemble(3, true);
    let s = &e.servers[2];
    let mut c = connect(s, 100).await;
    call(s, &mut c, 1, create("/x", CreateMode::Persistent))
        .await
        .unwrap();
    call(s, &mut c, 2, get("/x", true)).await.unwrap();
    assert_eq!(s.status().watch_count, 1);
    let (before, zxids) = (e.committed(), e.last_zxids());
    match next(&mut c).await {
        Some(SessionEvent::Closed(code)) => assert_eq!(code, ErrorCode::SessionExpired),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.status().local_sessions, Some(0));
    assert_eq!(s.status().watch_count, 0, "its watches went with it");
    assert_eq!(e.committed(), before, "an expiry writes nothing");
    assert_eq!(e.last_zxids(), zxids);
    let err = s.connect(resume_req(&c)).await.expect_err("expired");
    assert_eq!(err.code, ErrorCode::SessionExpired);
}

/// A local session's close waits for its writes ahead (FIFO), then the session goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_close_behind_a_write_is_answered_after_it() {
    let e = ensemble(3, true);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    s.submit(c.session, c.conn, 1, create("/q", CreateMode::Persistent));
    s.submit(c.session, c.conn, 2, Request::CloseSession);
    let mut seen = Vec::new();
    while let Some(ev) = next(&mut c).await {
        match ev {
            SessionEvent::Response { xid, result, .. } => seen.push((xid, result.is_ok())),
            SessionEvent::Closed(code) => {
                assert_eq!(code, ErrorCode::Ok);
                break;
            }
            SessionEvent::Watch(w) => panic!("{w:?}"),
        }
    }
    assert_eq!(seen, vec![(1, true), (2, true)]);
    assert_eq!(s.status().local_sessions, Some(0));
    assert!(matches!(e.ops_since(0).as_slice(), [TxnOp::Create { .. }]));
}

/// A local session's `addAuth` is kept on its server (it has no replicated row): an `auth` ACL
/// names its id, and the node it protects is readable by it; an upgrade replicates the ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_session_authenticates_and_keeps_its_ids_when_upgraded() {
    let e = ensemble(3, true);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    call(
        s,
        &mut c,
        1,
        Request::AddAuth {
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret"),
        },
    )
    .await
    .unwrap();
    let before = e.committed();
    let auth_acl = vec![Acl::new(0x1f, Id::new("auth", ""))];
    let r = call(
        s,
        &mut c,
        2,
        Request::Create {
            path: "/mine".into(),
            data: Bytes::from_static(b"d").into(),
            mode: CreateMode::Persistent,
            acl: auth_acl.clone(),
        },
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    assert!(matches!(
        e.ops_since(before).as_slice(),
        [TxnOp::Create { .. }]
    ));
    assert!(matches!(
        call(s, &mut c, 3, get("/mine", false)).await,
        Ok(Response::GetData { .. })
    ));
    // A session without the id may not read it.
    let mut stranger = connect(s, 4000).await;
    let err = call(s, &mut stranger, 1, get("/mine", false))
        .await
        .expect_err("no auth");
    assert_eq!(err.code, ErrorCode::NoAuth);
    // Upgraded: the ids reach the replicated state (so they move with the session).
    let before = e.committed();
    call(s, &mut c, 4, create("/mine-e", CreateMode::Ephemeral))
        .await
        .unwrap();
    let ops = e.ops_since(before);
    assert!(
        matches!(
            ops.as_slice(),
            [TxnOp::CreateSession { .. }, TxnOp::AddAuth { ids }, TxnOp::Create { .. }]
                if ids.iter().any(|i| i.scheme == "digest")
        ),
        "{ops:?}"
    );
    let mut moved = e.servers[2]
        .connect(resume_req(&c))
        .await
        .expect("global now");
    call(
        &e.servers[2],
        &mut moved,
        5,
        Request::Sync { path: "/".into() },
    )
    .await
    .unwrap();
    assert!(matches!(
        call(&e.servers[2], &mut moved, 6, get("/mine", false)).await,
        Ok(Response::GetData { .. })
    ));
}

/// A standalone server ignores `localSessionsEnabled`, as ZooKeeper's does: its sessions are
/// logged.
#[test]
fn a_standalone_server_ignores_the_setting() {
    let c = ProcessorConfig {
        alone: true,
        ..cfg(1, true)
    };
    assert!(!c.local_sessions_active());
    assert!(cfg(1, true).local_sessions_active());
}

/// A local session is not in any snapshot: a leader change (the role goes through NotServing)
/// and a snapshot restore (a SNAP sync) keep it on its server, where the client resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_session_survives_a_role_change_and_a_snapshot_restore() {
    let e = ensemble(3, true);
    let s = &e.servers[1];
    let c = connect(s, 4000).await;
    s.set_role(ServingRole::NotServing);
    s.restore(s.last_applied(), &s.snapshot_bytes())
        .expect("restore");
    s.set_role(ServingRole::Learner);
    assert_eq!(s.status().local_sessions, Some(1));
    let mut again = s
        .connect(resume_req(&c))
        .await
        .expect("resumes on its server");
    assert_eq!(
        call(s, &mut again, 1, Request::Ping).await,
        Ok(Response::Ping)
    );
}
