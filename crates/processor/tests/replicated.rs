//! The ensemble processor, through the `Backend` seam, with a stand-in for the quorum: one task
//! orders every server's submissions (assigns zxids) and applies each commit on every server, as
//! the quorum peers do (tests/support/ensemble.rs).

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Processor, ProcessorConfig, RestoreError, ServingRole,
    SessionEvent, TxnSink,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_types::{
    CreateMode, Epoch, ErrorCode, EventType, Request, Response, ServerId, SessionId, Zxid,
};
use support::ensemble::{call, connect, new_req, next, resume_req, Ensemble, WAIT};
use support::Sink;
use tokio::sync::mpsc;

fn cfg(id: u64) -> ProcessorConfig {
    ProcessorConfig {
        server_id: ServerId(id),
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 4000,
        alone: false,
        container_check_interval_ms: 20,
        ..ProcessorConfig::default()
    }
}

/// `n` servers; server 0 leads, the others learn; all serve.
fn ensemble(n: usize) -> Ensemble {
    Ensemble::start((1..=n as u64).map(cfg))
}

fn create(path: &str, mode: CreateMode) -> Request {
    Request::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::from_static(b"d").into(),
        mode,
    }
}

fn get(path: &str) -> Request {
    Request::GetData {
        path: path.into(),
        watch: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_a_learner_is_answered_at_commit_and_seen_everywhere() {
    let e = ensemble(3);
    let mut c = connect(&e.servers[2], 4000).await;
    let r = call(
        &e.servers[2],
        &mut c,
        1,
        create("/a", CreateMode::Persistent),
    )
    .await
    .unwrap();
    let Response::Create { stat, .. } = r else {
        panic!("{r:?}")
    };
    // Answered only after the commit reached this server, so the leader has it too.
    for s in &e.servers {
        let mut c2 = connect(s, 4000).await;
        // A sync makes the read linearizable on every server.
        assert!(matches!(
            call(s, &mut c2, 1, Request::Sync { path: "/a".into() }).await,
            Ok(Response::Sync { .. })
        ));
        match call(s, &mut c2, 2, get("/a")).await.unwrap() {
            Response::GetData { stat: s2, .. } => assert_eq!(s2.czxid, stat.czxid),
            other => panic!("{other:?}"),
        }
    }
    let digests: Vec<u64> = e.servers.iter().map(|s| s.digest()).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_keep_fifo_order_through_the_ensemble() {
    let e = ensemble(3);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    call(s, &mut c, 1, create("/p", CreateMode::Persistent))
        .await
        .unwrap();
    for i in 0..50i64 {
        s.submit(
            c.session,
            c.conn,
            2 + 2 * i,
            Request::SetData {
                path: "/p".into(),
                data: Bytes::from(i.to_string()).into(),
                version: -1,
            },
        );
        s.submit(c.session, c.conn, 3 + 2 * i, get("/p"));
    }
    for i in 0..50i64 {
        match next(&mut c).await.expect("open") {
            SessionEvent::Response { xid, result, .. } => {
                assert_eq!(xid, 2 + 2 * i);
                assert!(matches!(result, Ok(Response::SetData { .. })));
            }
            other => panic!("{other:?}"),
        }
        match next(&mut c).await.expect("open") {
            SessionEvent::Response { xid, result, .. } => {
                assert_eq!(xid, 3 + 2 * i);
                match result {
                    // The read behind a write sees that write (and not a later one).
                    Ok(Response::GetData { data, .. }) => assert_eq!(data, i.to_string()),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

/// ZooKeeper negotiates the timeout on every connect: a resume asking for another timeout gets
/// it (clamped to [min, max]) on every server, and the leader expires the session by it. Fails
/// if the resume keeps the old timeout anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_renegotiates_the_session_timeout_on_every_server() {
    let e = ensemble(3);
    let c = connect(&e.servers[1], 200).await;
    assert_eq!(c.timeout_ms, 200);
    // Server 3 must know the session before it is asked to resume it.
    e.settle().await;
    let before = e.servers[0].digest();
    let mut req = resume_req(&c);
    req.timeout_ms = 99_999;
    let mut moved = e.servers[2].connect(req).await.expect("resumed");
    assert_eq!(moved.timeout_ms, 4000, "clamped to maxSessionTimeout");
    let conns = e.servers[2].connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].timeout_ms, 4000);
    // Replicated state: every server's session table (in the digest) changed alike.
    let after = e.servers[0].digest();
    assert_ne!(
        before, after,
        "the timeout is part of the replicated session table"
    );
    for s in &e.servers {
        assert_eq!(s.digest(), after);
    }
    // Silent for several of the old timeouts: the leader keeps the session.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        call(&e.servers[2], &mut moved, 1, Request::Ping).await,
        Ok(Response::Ping)
    );
    // Back to a short timeout: the leader expires the silent session by it.
    let mut req = resume_req(&moved);
    req.timeout_ms = 100;
    let short = e.servers[1].connect(req).await.expect("resumed");
    assert_eq!(short.timeout_ms, 100);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while e.servers[0].status().session_count > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "expired by the renegotiated 100 ms timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_on_one_server_resumes_on_another() {
    let e = ensemble(3);
    let mut c = connect(&e.servers[1], 4000).await;
    call(
        &e.servers[1],
        &mut c,
        1,
        create("/eph", CreateMode::Ephemeral),
    )
    .await
    .unwrap();
    let moved = e.servers[2]
        .connect(ConnectRequest {
            resume: Some((c.session, c.password)),
            ..new_req(4000)
        })
        .await;
    let mut moved = moved.expect("the session is known on every server");
    assert_eq!(moved.session, c.session);
    // The old server learns of the move through the log and ends its stale connection.
    assert_eq!(
        next(&mut c).await,
        Some(SessionEvent::Closed(ErrorCode::SessionMoved))
    );
    assert_eq!(next(&mut c).await, None);
    // A wrong password is refused as ZooKeeper does.
    let bad = e.servers[0]
        .connect(ConnectRequest {
            resume: Some((c.session, [9; 16])),
            ..new_req(4000)
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::SessionExpired);
    // Closing on the new server removes the ephemeral everywhere.
    assert_eq!(
        call(&e.servers[2], &mut moved, 2, Request::CloseSession).await,
        Ok(Response::CloseSession)
    );
    assert_eq!(
        next(&mut moved).await,
        Some(SessionEvent::Closed(ErrorCode::Ok))
    );
    let mut r = connect(&e.servers[0], 4000).await;
    call(&e.servers[0], &mut r, 1, Request::Sync { path: "/".into() })
        .await
        .unwrap();
    assert_eq!(
        call(&e.servers[0], &mut r, 2, get("/eph"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::NoNode
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_expires_sessions_and_learner_reports_keep_them_alive() {
    let e = ensemble(2);
    let (leader, learner) = (&e.servers[0], &e.servers[1]);
    let mut owner = connect(learner, 100).await;
    call(learner, &mut owner, 1, create("/e", CreateMode::Ephemeral))
        .await
        .unwrap();
    let mut watcher = connect(leader, 4000).await;
    call(
        leader,
        &mut watcher,
        1,
        Request::Exists {
            path: "/e".into(),
            watch: true,
        },
    )
    .await
    .unwrap();
    // The owner keeps pinging the learner, which reports to the leader: no expiry.
    for xid in 2..30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        call(learner, &mut owner, xid, Request::Ping).await.unwrap();
        leader.touch_sessions(&learner.take_touched_sessions());
    }
    assert!(
        leader.status().session_count >= 2,
        "still alive after 3x its timeout"
    );
    // Silence: the leader expires it; the learner's connection learns it from the commit.
    let ev = loop {
        match next(&mut watcher).await.expect("open") {
            SessionEvent::Watch(ev) => break ev,
            SessionEvent::Response { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ev.event_type, EventType::NodeDeleted);
    assert_eq!(
        next(&mut owner).await,
        Some(SessionEvent::Closed(ErrorCode::SessionExpired))
    );
}

/// A leader that steps down and learns does not report, as heard from, the sessions it knew as
/// leader: its first report would give every session whose client left before the change a full
/// timeout again at the next leader (the whole-server simulator, 3 servers, seed 1030463: an
/// abandoned session's ephemeral outlived it). Only what it hears as a learner is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_former_leader_reports_only_sessions_it_hears_from_as_a_learner() {
    let e = ensemble(2);
    let (old, new) = (&e.servers[0], &e.servers[1]);
    let mut gone = connect(old, 4000).await;
    call(old, &mut gone, 1, Request::Ping).await.unwrap();
    drop(gone);
    // The leader's clock moves on past what it heard (the report compares milliseconds).
    tokio::time::sleep(Duration::from_millis(10)).await;
    old.set_role(ServingRole::NotServing);
    new.set_role(ServingRole::NotServing);
    new.set_role(ServingRole::Leader);
    old.set_role(ServingRole::Learner);
    assert_eq!(old.take_touched_sessions(), Vec::<SessionId>::new());
    // A session that comes to it as a learner is reported.
    let c = connect(new, 4000).await;
    e.settle().await;
    let here = old
        .connect(resume_req(&c))
        .await
        .expect("resume on the learner");
    assert_eq!(old.take_touched_sessions(), vec![here.session]);
}

/// The container sweep, like expiry, is the serving leader's: learners never submit one, and a
/// server that becomes leader finds, from the replicated tree, what nobody deleted yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_sweeps_and_a_new_leader_finds_what_is_left() {
    let e = ensemble(2);
    e.servers[0].set_role(ServingRole::Learner); // nobody leads now
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    call(s, &mut c, 1, create("/c", CreateMode::Container))
        .await
        .unwrap();
    call(s, &mut c, 2, create("/c/x", CreateMode::Persistent))
        .await
        .unwrap();
    let delete = Request::Delete {
        path: "/c/x".into(),
        version: -1,
    };
    call(s, &mut c, 3, delete).await.unwrap();
    let sweeps = |e: &Ensemble| {
        e.committed
            .lock()
            .unwrap()
            .iter()
            .filter(|(z, b)| {
                matches!(
                    paddock_types::Txn::decode_at(b, *z).map(|t| t.op),
                    Ok(paddock_types::TxnOp::DeleteContainer { .. })
                )
            })
            .count()
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sweeps(&e), 0, "learners do not sweep");
    s.set_role(ServingRole::Leader);
    let deadline = std::time::Instant::now() + WAIT;
    while call(s, &mut c, 4, get("/c")).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "/c is still there");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sweeps(&e), 1, "one deletion, by the new leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_never_expires_sessions() {
    let e = ensemble(2);
    e.servers[0].set_role(ServingRole::Learner); // nobody leads now
    let c = connect(&e.servers[1], 40).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(e.servers[1].status().session_count >= 1);
    let resumed = e.servers[1]
        .connect(ConnectRequest {
            resume: Some((c.session, c.password)),
            ..new_req(40)
        })
        .await;
    assert!(resumed.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_the_serving_role_drops_connections_and_refuses_sessions() {
    let e = ensemble(2);
    let s = &e.servers[1];
    let mut c = connect(s, 4000).await;
    s.set_role(ServingRole::NotServing);
    // The stream ends without a Closed: the session lives on, the client resumes elsewhere.
    assert_eq!(next(&mut c).await, None);
    let err = s.connect(new_req(4000)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ConnectionLoss);
    assert!(!s.status().serving);
    // The session is still there for another server.
    let mut moved = e.servers[0]
        .connect(ConnectRequest {
            resume: Some((c.session, c.password)),
            ..new_req(4000)
        })
        .await
        .expect("resume on the other server");
    assert!(call(&e.servers[0], &mut moved, 1, Request::Ping)
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_restore_and_replay_give_the_same_state() {
    let e = ensemble(1);
    let s = &e.servers[0];
    let mut c = connect(s, 4000).await;
    for i in 0..20 {
        call(
            s,
            &mut c,
            i + 1,
            create(&format!("/n{i}"), CreateMode::Persistent),
        )
        .await
        .unwrap();
    }
    let snap_at = s.last_applied();
    let bytes = s.snapshot_bytes();
    let (tx, _rx) = mpsc::unbounded_channel();
    let fresh = Processor::start(
        cfg(2),
        Arc::new(Sink(tx)),
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
    );
    fresh.restore(snap_at, &bytes).expect("restore");
    assert_eq!(fresh.digest(), s.digest());
    assert_eq!(fresh.last_applied(), snap_at);
    assert_eq!(fresh.status().session_count, s.status().session_count);
    // Rebuilding from nothing by replaying the committed records gives the same state too.
    let replay = Processor::start(
        cfg(3),
        Arc::new(Sink(mpsc::unbounded_channel().0)),
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
    );
    replay.restore(Zxid::ZERO, &Bytes::new()).expect("empty");
    for (z, b) in e.committed.lock().unwrap().iter() {
        replay.apply_committed(*z, b);
    }
    assert_eq!(replay.digest(), s.digest());
    // A snapshot that does not match its zxid is refused.
    assert!(matches!(
        fresh.restore(Zxid(snap_at.0 + 1), &bytes),
        Err(RestoreError::WrongZxid { found, .. }) if found == snap_at
    ));
    assert!(matches!(
        fresh.restore(snap_at, &Bytes::from_static(b"garbage")),
        Err(RestoreError::Decode(_))
    ));
    let _ = SessionId(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leader_serves_off_the_leader_refuses_sessions_and_followers_take_them() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let s = Processor::start(
        ProcessorConfig {
            leader_serves: false,
            ..cfg(1)
        },
        Arc::new(Sink(tx)),
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
    );
    s.set_role(ServingRole::Leader);
    let req = new_req(4000);
    let err = s.connect(req).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ConnectionLoss);
    assert!(err.message.contains("leaderServes"), "{err:?}");
    assert!(s.status().serving, "it still serves the ensemble");
}

// ---------------------------------------------------------------------------------------------
// Session resume is confirmed by the ensemble (ZooKeeper's REVALIDATE)
// ---------------------------------------------------------------------------------------------

/// An ensemble stand-in driven step by step: each submission is committed only when the test
/// says so, and a "paused" server gets its commits only when it is resumed (in zxid order),
/// like a server stopped with SIGSTOP while the others go on.
struct Manual {
    rx: mpsc::UnboundedReceiver<Bytes>,
    servers: Vec<Arc<Processor>>,
    counter: u32,
    /// Commits not yet applied by each server (non-empty only while it is paused).
    backlog: Vec<Vec<(Zxid, Bytes)>>,
    paused: Vec<bool>,
}

impl Manual {
    /// `n` servers with `sink` (one per server) around one queue of submissions; server 0
    /// leads.
    fn new(n: usize, sink: impl Fn(mpsc::UnboundedSender<Bytes>) -> Arc<dyn TxnSink>) -> Manual {
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        let servers: Vec<Arc<Processor>> = (1..=n as u64)
            .map(|id| {
                Processor::start(
                    cfg(id),
                    sink(tx.clone()),
                    Arc::new(MemTxnLog::new()),
                    Arc::new(MemSnapshotStore::new()),
                )
            })
            .collect();
        for (i, s) in servers.iter().enumerate() {
            s.set_role(if i == 0 {
                ServingRole::Leader
            } else {
                ServingRole::Learner
            });
        }
        Manual {
            rx,
            backlog: vec![Vec::new(); n],
            paused: vec![false; n],
            servers,
            counter: 0,
        }
    }

    /// Waits for the next submission and commits it: applied on every server not paused.
    async fn commit_next(&mut self) -> paddock_types::TxnOp {
        let bytes = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a submission in time")
            .expect("open");
        self.counter += 1;
        let zxid = Zxid::new(Epoch(1), self.counter);
        for (i, s) in self.servers.iter().enumerate() {
            if self.paused[i] {
                self.backlog[i].push((zxid, bytes.clone()));
            } else {
                s.apply_committed(zxid, &bytes);
            }
        }
        paddock_types::Txn::decode(&bytes).expect("decodes").op
    }

    /// Nothing submitted within `d`.
    async fn nothing_submitted(&mut self, d: Duration) -> bool {
        tokio::time::timeout(d, self.rx.recv()).await.is_err()
    }

    fn pause(&mut self, i: usize) {
        self.paused[i] = true;
    }

    /// The paused server applies what it missed, in order, and follows again.
    fn resume(&mut self, i: usize) {
        self.paused[i] = false;
        for (zxid, bytes) in std::mem::take(&mut self.backlog[i]) {
            self.servers[i].apply_committed(zxid, &bytes);
        }
    }
}

fn plain_sink(tx: mpsc::UnboundedSender<Bytes>) -> Arc<dyn TxnSink> {
    Arc::new(Sink(tx))
}

/// A session created on server `i` (its CreateSession committed by `m`).
async fn manual_session(m: &mut Manual, i: usize, timeout_ms: i32) -> Connected {
    let s = m.servers[i].clone();
    let pending = tokio::spawn(async move { s.connect(new_req(timeout_ms)).await });
    assert!(matches!(
        m.commit_next().await,
        paddock_types::TxnOp::CreateSession { .. }
    ));
    pending.await.expect("task").expect("created")
}

/// The resume is answered only once the server applied its MoveSession: before the commit the
/// client waits; after it, the session is attached (and the old connection moved away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_answered_only_after_the_ensemble_ordered_it() {
    let mut m = Manual::new(3, plain_sink);
    let c = manual_session(&mut m, 1, 4000).await;
    let s = m.servers[2].clone();
    let req = resume_req(&c);
    let mut resumed = tokio::spawn(async move { s.connect(req).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut resumed)
            .await
            .is_err(),
        "no answer before the ensemble confirmed the session"
    );
    assert_eq!(
        m.commit_next().await,
        paddock_types::TxnOp::ResumeSession {
            owner: 3,
            timeout_ms: c.timeout_ms
        }
    );
    let mut resumed = resumed.await.expect("task").expect("resumed");
    assert_eq!(resumed.session, c.session);
    assert!(call(&m.servers[2], &mut resumed, 1, Request::Ping)
        .await
        .is_ok());
}

/// The rule of issue 12: a server that missed the expiry (paused while the leader expired the
/// session) still holds the session in its table, yet refuses its resume with SessionExpired
/// once it has applied, in zxid order, the expiry that came before the resume's move. Another
/// server refuses it at once. Fails if a resume is accepted from the local table alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_missed_the_expiry_refuses_the_resume_once_it_catches_up() {
    let mut m = Manual::new(3, plain_sink);
    let c = manual_session(&mut m, 1, 40).await;
    m.pause(1);
    // Nobody hears from the client: the leader expires the session (its ticker submits the
    // close); server 1, paused, does not apply it.
    assert_eq!(
        m.commit_next().await,
        paddock_types::TxnOp::CloseSession,
        "the leader expires the silent session"
    );
    assert!(
        m.servers[1].status().session_count >= 1,
        "server 1 missed it"
    );
    // The client resumes on the stale server: the move is ordered after the expiry.
    let s = m.servers[1].clone();
    let req = resume_req(&c);
    let resumed = tokio::spawn(async move { s.connect(req).await });
    assert_eq!(
        m.commit_next().await,
        paddock_types::TxnOp::ResumeSession {
            owner: 2,
            timeout_ms: c.timeout_ms
        }
    );
    m.resume(1);
    let err = resumed.await.expect("task").map(|c| c.session).unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionExpired, "{err:?}");
    // Everywhere else at once.
    for i in [0, 2] {
        let err = m.servers[i]
            .connect(resume_req(&c))
            .await
            .map(|c| c.session)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::SessionExpired, "server {i}: {err:?}");
    }
}

/// A server cut off from its leader (its submissions go nowhere) never answers a resume with a
/// session: ConnectionLoss after the bound (the session timeout, at least 1 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_that_the_ensemble_never_confirms_is_connection_loss() {
    let mut m = Manual::new(3, plain_sink);
    let c = manual_session(&mut m, 1, 40).await;
    let started = std::time::Instant::now();
    let err = m.servers[2]
        .connect(resume_req(&c))
        .await
        .map(|c| c.session)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ConnectionLoss, "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The move was submitted but never committed: nothing else happened.
    assert_eq!(
        m.commit_next().await,
        paddock_types::TxnOp::ResumeSession {
            owner: 3,
            timeout_ms: c.timeout_ms
        }
    );
}

/// A role change while a resume waits (the server lost its leader) ends the wait at once with
/// ConnectionLoss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_ends_a_waiting_resume_with_connection_loss() {
    let mut m = Manual::new(2, plain_sink);
    let c = manual_session(&mut m, 1, 10_000).await;
    let s = m.servers[1].clone();
    let req = resume_req(&c);
    m.pause(1); // the commit will not reach it...
    let resumed = tokio::spawn(async move { s.connect(req).await });
    assert_eq!(
        m.commit_next().await,
        paddock_types::TxnOp::ResumeSession {
            owner: 2,
            timeout_ms: c.timeout_ms
        }
    );
    m.servers[1].set_role(ServingRole::NotServing); // ...and it goes LOOKING
    let err = tokio::time::timeout(Duration::from_secs(2), resumed)
        .await
        .expect("answered at the role change, not after the 10 s bound")
        .expect("task")
        .map(|c| c.session)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ConnectionLoss, "{err:?}");
}

/// A sink whose ensemble side says it may not serve (a leader whose lease lapsed).
struct NoLease(mpsc::UnboundedSender<Bytes>);

impl TxnSink for NoLease {
    fn submit(&self, txn: Bytes) -> bool {
        self.0.send(txn).is_ok()
    }

    fn may_serve(&self) -> bool {
        false
    }
}

/// `TxnSink::may_serve` is asked at connect time: `false` refuses new sessions and resumes with
/// ConnectionLoss, with nothing submitted, while the role still says Leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_ensemble_side_may_not_serve_refuses_sessions() {
    let mut m = Manual::new(1, |tx| Arc::new(NoLease(tx)) as Arc<dyn TxnSink>);
    let s = &m.servers[0];
    assert_eq!(s.serving_role(), ServingRole::Leader);
    let err = s
        .connect(new_req(4000))
        .await
        .map(|c| c.session)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ConnectionLoss);
    assert!(m.nothing_submitted(Duration::from_millis(100)).await);
}
