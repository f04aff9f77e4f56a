//! Authentication and ACLs through the processor: addauth (digest, ip, failures that end the
//! session), the super user, connection ids (ip), checks on reads (no watch left by a denied
//! read), whoAmI, and authenticated ids kept when a session resumes on a new connection.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Processor, ProcessorConfig, SessionEvent,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_types::acl::{digest, perms};
use paddock_types::{Acl, CreateMode, Epoch, ErrorCode, Id, Request, Response, ZkError, Zxid};

const WAIT: Duration = Duration::from_secs(10);

fn start(super_digest: Option<&str>) -> Arc<Processor> {
    let cfg = ProcessorConfig {
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 4000,
        super_digest: super_digest.map(String::from),
        ..ProcessorConfig::default()
    };
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    support::local(cfg, log, snaps, Epoch(1))
}

fn from(addr: &str) -> ConnectRequest {
    ConnectRequest {
        resume: None,
        timeout_ms: 4000,
        last_zxid_seen: Zxid::ZERO,
        peer: format!("{addr}:5555"),
        conn_ids: vec![Id::new("ip", addr)],
        set_watches: Default::default(),
        read_only: false,
    }
}

async fn connect(p: &Processor, addr: &str) -> Connected {
    p.connect(from(addr)).await.expect("connect")
}

async fn next(c: &mut Connected) -> SessionEvent {
    tokio::time::timeout(WAIT, c.events.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

async fn call(p: &Processor, c: &mut Connected, req: Request) -> Result<Response, ZkError> {
    let xid = rand_xid(c);
    p.submit(c.session, c.conn, xid, req);
    match next(c).await {
        SessionEvent::Response { xid: x, result, .. } => {
            assert_eq!(x, xid);
            result
        }
        SessionEvent::Watch(w) => panic!("unexpected watch event {w:?}"),
        SessionEvent::Closed(code) => panic!("session closed: {code:?}"),
    }
}

/// xids only need to be increasing per connection; the zxid counter of the test is good enough.
fn rand_xid(c: &Connected) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let _ = c;
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn code(r: Result<Response, ZkError>) -> ErrorCode {
    match r {
        Ok(_) => ErrorCode::Ok,
        Err(e) => e.code,
    }
}

fn add_auth(user_password: &str) -> Request {
    Request::AddAuth {
        scheme: "digest".into(),
        auth: Bytes::copy_from_slice(user_password.as_bytes()),
    }
}

fn create(path: &str, mode: CreateMode, acl: Vec<Acl>) -> Request {
    Request::Create {
        path: path.into(),
        data: Bytes::from_static(b"x").into(),
        mode,
        acl,
    }
}

fn get_data(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

fn set_data(path: &str) -> Request {
    Request::SetData {
        path: path.into(),
        data: Bytes::from_static(b"y").into(),
        version: -1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_auth_protects_nodes_and_a_denied_read_leaves_no_watch() {
    let p = start(None);
    let mut alice = connect(&p, "127.0.0.1").await;
    let mut eve = connect(&p, "127.0.0.1").await;
    assert_eq!(
        call(&p, &mut alice, add_auth("alice:secret")).await,
        Ok(Response::AddAuth)
    );
    let r = call(
        &p,
        &mut alice,
        create("/a", CreateMode::Persistent, Acl::creator_all()),
    )
    .await;
    assert_eq!(code(r), ErrorCode::Ok);
    assert_eq!(
        code(call(&p, &mut eve, get_data("/a", true)).await),
        ErrorCode::NoAuth
    );
    let children = Request::GetChildren {
        path: "/a".into(),
        watch: true,
    };
    assert_eq!(code(call(&p, &mut eve, children).await), ErrorCode::NoAuth);
    assert_eq!(
        code(call(&p, &mut eve, set_data("/a")).await),
        ErrorCode::NoAuth
    );
    // exists needs nothing.
    let exists = Request::Exists {
        path: "/a".into(),
        watch: false,
    };
    assert!(matches!(
        call(&p, &mut eve, exists).await,
        Ok(Response::Exists { stat: Some(_) })
    ));
    // The owner changes /a: eve's denied reads left no watch, so eve hears nothing.
    assert_eq!(
        code(call(&p, &mut alice, set_data("/a")).await),
        ErrorCode::Ok
    );
    assert_eq!(
        code(call(&p, &mut alice, get_data("/a", false)).await),
        ErrorCode::Ok
    );
    assert_eq!(code(call(&p, &mut eve, Request::Ping).await), ErrorCode::Ok);
    assert!(eve.events.try_recv().is_err(), "no event for eve");
    // getACL: eve has neither READ nor ADMIN.
    let get_acl = || Request::GetAcl { path: "/a".into() };
    assert_eq!(code(call(&p, &mut eve, get_acl()).await), ErrorCode::NoAuth);
    let Ok(Response::GetAcl { acl, stat }) = call(&p, &mut alice, get_acl()).await else {
        panic!("alice reads her ACL");
    };
    let alice_id = Id::new("digest", digest("alice:secret").expect("colon"));
    assert_eq!(acl, vec![Acl::new(perms::ALL, alice_id.clone())]);
    assert_eq!(stat.aversion, 0);
    // whoAmI: the connection's ids first, then the session's.
    let Ok(Response::WhoAmI { ids }) = call(&p, &mut alice, Request::WhoAmI).await else {
        panic!("whoAmI");
    };
    assert_eq!(ids, vec![Id::new("ip", "127.0.0.1"), alice_id]);
    // setACL by the owner opens it up (checked against aversion).
    let set_acl = |version| Request::SetAcl {
        path: "/a".into(),
        acl: Acl::read_unsafe(),
        version,
    };
    assert_eq!(
        code(call(&p, &mut eve, set_acl(0)).await),
        ErrorCode::NoAuth
    );
    assert_eq!(
        code(call(&p, &mut alice, set_acl(7)).await),
        ErrorCode::BadVersion
    );
    assert_eq!(code(call(&p, &mut alice, set_acl(0)).await), ErrorCode::Ok);
    assert_eq!(
        code(call(&p, &mut eve, get_data("/a", false)).await),
        ErrorCode::Ok
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_addauth_answers_authfailed_and_ends_the_session() {
    let p = start(None);
    let mut c = connect(&p, "127.0.0.1").await;
    let mut watcher = connect(&p, "127.0.0.1").await;
    assert_eq!(
        code(call(&p, &mut c, create("/e", CreateMode::Ephemeral, Acl::open())).await),
        ErrorCode::Ok
    );
    let exists = Request::Exists {
        path: "/e".into(),
        watch: true,
    };
    assert!(call(&p, &mut watcher, exists).await.is_ok());
    // Pipelined: the bad addauth, then a read that must not run.
    p.submit(
        c.session,
        c.conn,
        100,
        Request::AddAuth {
            scheme: "kerberos".into(),
            auth: Bytes::from_static(b"x"),
        },
    );
    p.submit(c.session, c.conn, 101, get_data("/e", false));
    let mut answers = Vec::new();
    let closed = loop {
        match next(&mut c).await {
            SessionEvent::Response { xid, result, .. } => answers.push((xid, code(result))),
            SessionEvent::Closed(code) => break code,
            SessionEvent::Watch(_) => {}
        }
    };
    // 101 is answered AUTHFAILED if it arrived before the close applied; after that the session
    // is gone and the gateway answers what it still holds (gateway tests).
    assert_eq!(answers[0], (100, ErrorCode::AuthFailed));
    assert!(answers.len() <= 2);
    assert!(
        answers.iter().all(|(_, c)| *c == ErrorCode::AuthFailed),
        "{answers:?}"
    );
    assert_eq!(closed, ErrorCode::AuthFailed);
    // The session is gone, and so is its ephemeral.
    match next(&mut watcher).await {
        SessionEvent::Watch(w) => assert_eq!(w.path, "/e"),
        other => panic!("expected the ephemeral's deletion, got {other:?}"),
    }
    let mut again = from("127.0.0.1");
    again.resume = Some((c.session, c.password));
    assert_eq!(
        p.connect(again).await.map(|_| ()).unwrap_err().code,
        ErrorCode::SessionExpired
    );
    // Bad digest credentials fail the same way.
    let mut d = connect(&p, "127.0.0.1").await;
    assert_eq!(
        code(call_raw(&p, &mut d, add_auth("nocolon")).await),
        ErrorCode::AuthFailed
    );
    p.shutdown().await;
}

/// Like `call`, but the session may close right after the answer.
async fn call_raw(p: &Processor, c: &mut Connected, req: Request) -> Result<Response, ZkError> {
    p.submit(c.session, c.conn, 1, req);
    match next(c).await {
        SessionEvent::Response { result, .. } => result,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_super_user_and_ip_ids() {
    // ZooKeeper's documented super:test digest.
    let p = start(Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="));
    let mut owner = connect(&p, "127.0.0.1").await;
    let ip_only = vec![Acl::new(perms::ALL, Id::new("ip", "127.0.0.0/24"))];
    assert_eq!(
        code(
            call(
                &p,
                &mut owner,
                create("/net", CreateMode::Persistent, ip_only)
            )
            .await
        ),
        ErrorCode::Ok
    );
    // Another address is refused; the super user is not.
    let mut far = connect(&p, "10.1.1.1").await;
    assert_eq!(
        code(call(&p, &mut far, set_data("/net")).await),
        ErrorCode::NoAuth
    );
    assert_eq!(
        code(call(&p, &mut far, get_data("/net", false)).await),
        ErrorCode::NoAuth
    );
    assert_eq!(
        code(call(&p, &mut far, add_auth("super:test")).await),
        ErrorCode::Ok
    );
    assert_eq!(
        code(call(&p, &mut far, set_data("/net")).await),
        ErrorCode::Ok
    );
    assert_eq!(
        code(call(&p, &mut far, get_data("/net", false)).await),
        ErrorCode::Ok
    );
    // A near address passes on its own; addauth ip adds nothing but succeeds.
    let mut near = connect(&p, "127.0.0.7").await;
    let ip = Request::AddAuth {
        scheme: "ip".into(),
        auth: Bytes::new(),
    };
    assert_eq!(code(call(&p, &mut near, ip).await), ErrorCode::Ok);
    assert_eq!(
        code(call(&p, &mut near, set_data("/net")).await),
        ErrorCode::Ok
    );
    // A wrong super password is just another digest user.
    let mut wrong = connect(&p, "10.1.1.2").await;
    assert_eq!(
        code(call(&p, &mut wrong, add_auth("super:nope")).await),
        ErrorCode::Ok
    );
    assert_eq!(
        code(call(&p, &mut wrong, set_data("/net")).await),
        ErrorCode::NoAuth
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_ids_stay_with_a_resumed_session() {
    let p = start(None);
    let mut c = connect(&p, "127.0.0.1").await;
    assert_eq!(
        code(call(&p, &mut c, add_auth("bob:pw")).await),
        ErrorCode::Ok
    );
    assert_eq!(
        code(
            call(
                &p,
                &mut c,
                create("/b", CreateMode::Persistent, Acl::creator_all())
            )
            .await
        ),
        ErrorCode::Ok
    );
    // The client comes back on a new connection (from another address).
    let mut again = from("127.0.0.2");
    again.resume = Some((c.session, c.password));
    let mut c2 = p.connect(again).await.expect("resume");
    assert_eq!(code(call(&p, &mut c2, set_data("/b")).await), ErrorCode::Ok);
    let Ok(Response::WhoAmI { ids }) = call(&p, &mut c2, Request::WhoAmI).await else {
        panic!("whoAmI");
    };
    assert_eq!(ids[0], Id::new("ip", "127.0.0.2"));
    assert_eq!(ids[1].scheme, "digest");
    p.shutdown().await;
}
