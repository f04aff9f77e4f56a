//! Read-only mode (`readonlymode.enabled`, ZooKeeper's ReadOnlyZooKeeperServer) at the
//! processor's seam: a server cut off from its quorum (`enter_read_only_mode`) refuses
//! read-write clients, gives read-only clients sessions of its own, answers reads from its tree
//! and writes with NOTREADONLY, closes sessions by itself, and drops every read-only connection
//! when it serves again (`set_role`), forgetting the sessions it created meanwhile.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Processor, ProcessorConfig, ServingRole, SessionEvent,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_types::{
    CreateMode, Epoch, ErrorCode, Request, Response, SessionId, Zxid, PASSWORD_LEN,
};
use support::ensemble::{call, next};

fn start() -> Arc<Processor> {
    let cfg = ProcessorConfig {
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 4000,
        ..ProcessorConfig::default()
    };
    support::local(
        cfg,
        Arc::new(MemTxnLog::new()),
        Arc::new(MemSnapshotStore::new()),
        Epoch(1),
    )
}

fn hello(resume: Option<(SessionId, [u8; PASSWORD_LEN])>, read_only: bool) -> ConnectRequest {
    ConnectRequest {
        conn_ids: Vec::new(),
        resume,
        timeout_ms: 4000,
        last_zxid_seen: Zxid::ZERO,
        peer: "test".into(),
        set_watches: Default::default(),
        read_only,
    }
}

fn create(path: &str) -> Request {
    Request::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::from_static(b"v").into(),
        mode: CreateMode::Persistent,
    }
}

fn get(path: &str) -> Request {
    Request::GetData {
        path: path.into(),
        watch: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_sessions_read_and_are_refused_writes_until_the_server_serves_again() {
    let p = start();
    let mut rw = p.connect(hello(None, false)).await.expect("connect");
    assert!(!rw.read_only);
    call(&p, &mut rw, 1, create("/a")).await.expect("create");
    let (rw_id, rw_password) = (rw.session, rw.password);

    p.enter_read_only_mode();
    assert!(p.is_in_read_only_mode());
    assert_eq!(p.serving_role(), ServingRole::ReadOnly);
    assert!(p.status().writes_refused.is_some());
    // Entering the mode from a serving role dropped the connection.
    assert_eq!(next(&mut rw).await, None, "the old stream ends");

    // A client that does not allow read-only is refused as a connection loss.
    let e = p.connect(hello(None, false)).await.expect_err("refused");
    assert_eq!(e.code, ErrorCode::ConnectionLoss, "{e:?}");
    assert!(e.message.contains("read-only"), "{e:?}");

    // One that does gets a session of this server: reads work, writes do not.
    let mut ro = p
        .connect(hello(None, true))
        .await
        .expect("read-only connect");
    assert!(ro.read_only);
    let r = call(&p, &mut ro, 1, get("/a")).await.expect("read");
    assert!(matches!(r, Response::GetData { .. }), "{r:?}");
    for (xid, write) in [
        (2, create("/b")),
        (3, Request::Sync { path: "/a".into() }),
        (
            4,
            Request::SetData {
                path: "/a".into(),
                data: Bytes::new().into(),
                version: -1,
            },
        ),
    ] {
        let e = call(&p, &mut ro, xid, write).await.expect_err("refused");
        assert_eq!(e.code, ErrorCode::NotReadOnly, "{e:?}");
    }
    // An existing session is resumed read-only, with its id.
    let mut resumed = p
        .connect(hello(Some((rw_id, rw_password)), true))
        .await
        .expect("resume read-only");
    assert!(resumed.read_only);
    assert_eq!(resumed.session, rw_id);
    call(&p, &mut resumed, 10, get("/a")).await.expect("read");

    // Closing a read-only session works here and forgets it.
    let mut closing = p.connect(hello(None, true)).await.expect("connect");
    let closed_id = closing.session;
    call(&p, &mut closing, 1, Request::CloseSession)
        .await
        .expect("close");
    assert_eq!(
        next(&mut closing).await,
        Some(SessionEvent::Closed(ErrorCode::Ok))
    );
    let password = [0u8; PASSWORD_LEN];
    let e = p
        .connect(hello(Some((closed_id, password)), true))
        .await
        .expect_err("gone");
    assert_eq!(e.code, ErrorCode::SessionExpired);

    // Serving again: every read-only connection is dropped, the read-only session forgotten;
    // the ensemble's session is still there to resume read-write.
    let ro_id = ro.session;
    p.set_role(ServingRole::Leader);
    assert!(!p.is_in_read_only_mode());
    assert_eq!(next(&mut ro).await, None, "read-only stream ends");
    assert_eq!(next(&mut resumed).await, None, "read-only stream ends");
    assert_eq!(p.status().writes_refused, None);
    let e = p
        .connect(hello(Some((ro_id, ro.password)), true))
        .await
        .expect_err("a read-only session does not outlive the mode");
    assert_eq!(e.code, ErrorCode::SessionExpired);
    let mut back = p
        .connect(hello(Some((rw_id, rw_password)), true))
        .await
        .expect("resume read-write");
    assert!(!back.read_only);
    call(&p, &mut back, 20, create("/c")).await.expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_read_only_session_expires_on_its_server() {
    let p = start();
    p.enter_read_only_mode();
    let mut req = hello(None, true);
    req.timeout_ms = 40;
    let mut ro = p.connect(req).await.expect("connect");
    assert_eq!(
        next(&mut ro).await,
        Some(SessionEvent::Closed(ErrorCode::SessionExpired))
    );
}
