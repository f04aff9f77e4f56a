//! Sessions (expiry, close, resume) and watches (each kind, one-shot, ordering), over real gRPC
//! against an in-process node (DESIGN.md §1 and §5; issue 2 "Sessions" and "Watches").

mod support;

use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::CreateMode::{Ephemeral, EphemeralSequential, Persistent};
use pb::EventType;
use support::*;

#[track_caller]
fn assert_event(e: &pb::WatchEvent, kind: EventType, path: &str) {
    assert_eq!(e.r#type, kind as i32, "event type of {e:?}");
    assert_eq!(e.path, path, "event path of {e:?}");
    assert_eq!(
        e.state,
        pb::KeeperState::SyncConnected as i32,
        "node events are SyncConnected: {e:?}"
    );
}

/// §1/§5: ephemerals live exactly as long as their session. A session that sends nothing for its
/// timeout expires: its ephemerals go (a watcher on another session sees NodeDeleted), its open
/// stream gets SessionClosed(-112) and ends OK — and not before the timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_removes_ephemerals_and_notifies_watchers() {
    let node = TestNode::start().await;
    let mut watcher = node.session().await;
    let mut doomed = node.session_with_timeout(300).await;
    assert_eq!(doomed.timeout_ms, 300);
    doomed.create_ok("/eph", b"", Ephemeral).await;
    doomed.mkdir("/dir").await;
    let seq = doomed
        .create_ok("/dir/e-", b"", EphemeralSequential)
        .await
        .path;
    let r = watcher.call(op::exists("/eph", true)).await;
    assert!(exists_result(r).exists);
    let r = watcher.call(op::get_children("/dir", true)).await;
    assert_eq!(get_children_result(r).children.len(), 1);
    let last_heard = Instant::now();
    ok(&doomed.ping().await);

    // doomed now stays silent (its stream stays open: an open stream is not a heartbeat).
    let first = watcher.next_event().await;
    let second = watcher.next_event().await;
    let gone_at = Instant::now();
    let mut events = [first, second];
    events.sort_by_key(|e| e.r#type);
    assert_event(&events[0], EventType::NodeDeleted, "/eph");
    assert_event(&events[1], EventType::NodeChildrenChanged, "/dir");
    assert_eq!(
        events[0].zxid, events[1].zxid,
        "one transaction deletes every ephemeral of the session"
    );
    assert!(
        gone_at - last_heard >= Duration::from_millis(300),
        "expired after {:?}, before its 300 ms timeout",
        gone_at - last_heard
    );
    assert!(watcher.stat("/eph").await.is_none());
    assert!(watcher.stat(&seq).await.is_none());
    assert!(
        watcher.stat("/dir").await.is_some(),
        "persistent nodes stay"
    );

    assert!(
        doomed.finish().await.is_ok(),
        "the stream ends with status OK"
    );
    assert_eq!(
        doomed.closed.as_ref().map(|c| c.error),
        Some(code::SESSION_EXPIRED)
    );
    // Resuming it is refused.
    let err = Session::connect(node.addr, doomed.resume_request())
        .await
        .err()
        .expect("an expired session cannot be resumed");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED));
}

/// §5: CloseSession deletes the session's ephemerals in the same transaction; the stream gets the
/// CloseSession answer, then SessionClosed(0), then ends with status OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_close_removes_ephemerals_and_ends_the_stream() {
    let node = TestNode::start().await;
    let mut watcher = node.session().await;
    let mut s = node.session().await;
    s.create_ok("/e1", b"", Ephemeral).await;
    s.create_ok("/e2", b"", Ephemeral).await;
    s.create_ok("/p", b"", Persistent).await;
    ok(&watcher.call(op::get_data("/e1", true)).await);
    ok(&watcher.call(op::exists("/e2", true)).await);

    let r = s.call(op::close()).await;
    ok(&r);
    let close_zxid = r.zxid;
    assert!(s.finish().await.is_ok());
    assert_eq!(s.closed.as_ref().map(|c| c.error), Some(code::OK));
    match s.seen.as_slice() {
        [.., Seen::Response(r), Seen::Closed(_)] => {
            assert!(matches!(
                r.result,
                Some(pb::response::Result::CloseSession(_))
            ));
        }
        other => panic!("close answer then SessionClosed expected: {other:?}"),
    }

    let mut events = [watcher.next_event().await, watcher.next_event().await];
    events.sort_by(|a, b| a.path.cmp(&b.path));
    assert_event(&events[0], EventType::NodeDeleted, "/e1");
    assert_event(&events[1], EventType::NodeDeleted, "/e2");
    assert!(events.iter().all(|e| e.zxid == close_zxid));
    assert!(watcher.stat("/e1").await.is_none());
    assert!(watcher.stat("/e2").await.is_none());
    assert!(watcher.stat("/p").await.is_some());

    let err = Session::connect(node.addr, s.resume_request())
        .await
        .err()
        .expect("a closed session cannot be resumed");
    assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED));
}

/// §5: a client may resume its session on a new stream with id + password before expiry: the
/// session keeps its ephemerals and timeout, and the old stream gets SessionClosed(-118).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_a_new_stream_keeps_ephemerals_and_moves_the_old_stream() {
    let node = TestNode::start().await;
    let mut first = node.session_with_timeout(5_000).await;
    first.create_ok("/mine", b"", Ephemeral).await;
    let zxid = first.ping().await.zxid;

    let mut again = Session::connect(
        node.addr,
        pb::ConnectRequest {
            last_zxid_seen: zxid,
            ..first.resume_request()
        },
    )
    .await
    .expect("resume accepted");
    assert_eq!(again.id, first.id);
    assert_eq!(again.password, first.password);
    assert_eq!(again.timeout_ms, 5_000, "the same timeout asked for again");
    assert!(again.connect_zxid >= zxid);

    assert!(first.finish().await.is_ok());
    assert_eq!(
        first.closed.as_ref().map(|c| c.error),
        Some(code::SESSION_MOVED)
    );

    let st = again.stat("/mine").await.expect("the ephemeral survived");
    assert_eq!(st.ephemeral_owner, first.id);
    // Still the owner: it can write and close, which deletes the ephemeral.
    again.create_ok("/mine2", b"", Ephemeral).await;
    ok(&again.call(op::close()).await);
    assert!(again.finish().await.is_ok());
    let mut other = node.session().await;
    assert!(other.stat("/mine").await.is_none());
    assert!(other.stat("/mine2").await.is_none());
}

/// §5 / proto "Errors": a resume with a wrong password, an unknown id, or after expiry ends the
/// stream with NOT_FOUND and paddock-error-code -112; the real session is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_wrong_password_unknown_id_or_after_expiry_is_session_expired() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    s.create_ok("/kept", b"", Ephemeral).await;

    let mut wrong = s.password.to_vec();
    wrong[0] ^= 0xff;
    for req in [
        pb::ConnectRequest {
            password: wrong.into(),
            ..s.resume_request()
        },
        pb::ConnectRequest {
            session_id: s.id + 12345,
            ..s.resume_request()
        },
    ] {
        let err = Session::connect(node.addr, req)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
        assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED), "{err:?}");
    }
    // The refused attempts did not move or end the real session.
    ok(&s.ping().await);
    assert!(s.stat("/kept").await.is_some());
    assert!(s.ended().is_none());

    // After expiry.
    let mut short = node.session_with_timeout(100).await;
    short.create_ok("/short", b"", Ephemeral).await;
    assert!(short.finish().await.is_ok());
    assert_eq!(
        short.closed.as_ref().map(|c| c.error),
        Some(code::SESSION_EXPIRED)
    );
    let err = Session::connect(node.addr, short.resume_request())
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED));
    assert!(s.stat("/short").await.is_none());
}

/// §5: the session timeout is negotiated into [minSessionTimeout, maxSessionTimeout].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timeout_is_clamped_into_min_and_max() {
    let node = TestNode::start_with(|c| {
        c.min_session_timeout_ms = Some(1_000);
        c.max_session_timeout_ms = Some(3_000);
    })
    .await;
    assert_eq!(node.session_with_timeout(10).await.timeout_ms, 1_000);
    assert_eq!(node.session_with_timeout(0).await.timeout_ms, 1_000);
    assert_eq!(node.session_with_timeout(2_000).await.timeout_ms, 2_000);
    assert_eq!(node.session_with_timeout(60_000).await.timeout_ms, 3_000);
}

/// §5 data watch (getData): fires NodeDataChanged once; a second change fires nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_node_data_changed_exactly_once() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    m.create_ok("/d", b"0", Persistent).await;
    ok(&w.call(op::get_data("/d", true)).await);

    let zxid = m.call(op::set_data("/d", b"1", -1)).await.zxid;
    let e = w.next_event().await;
    assert_event(&e, EventType::NodeDataChanged, "/d");
    assert_eq!(e.zxid, zxid, "the event carries the change's zxid");
    ok(&m.call(op::set_data("/d", b"2", -1)).await);
    w.expect_no_event().await;

    // Also through exists on an existing node.
    ok(&w.call(op::exists("/d", true)).await);
    ok(&m.call(op::set_data("/d", b"3", -1)).await);
    assert_event(&w.next_event().await, EventType::NodeDataChanged, "/d");
    ok(&m.call(op::set_data("/d", b"4", -1)).await);
    w.expect_no_event().await;

    // A watch fires for the watcher's own writes too; children changes do not fire data watches.
    ok(&w.call(op::get_data("/d", true)).await);
    m.create_ok("/d/kid", b"", Persistent).await;
    w.expect_no_event().await;
    ok(&w.call(op::set_data("/d", b"5", -1)).await);
    assert_event(&w.next_event().await, EventType::NodeDataChanged, "/d");
}

/// §5 data watch (getData): fires NodeDeleted once on delete; re-creating fires nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_watch_fires_node_deleted_exactly_once() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    m.create_ok("/d", b"", Persistent).await;
    ok(&w.call(op::get_data("/d", true)).await);
    let zxid = m.call(op::delete("/d", -1)).await.zxid;
    let e = w.next_event().await;
    assert_event(&e, EventType::NodeDeleted, "/d");
    assert_eq!(e.zxid, zxid);
    m.create_ok("/d", b"", Persistent).await;
    ok(&m.call(op::delete("/d", -1)).await);
    w.expect_no_event().await;

    // getData on a missing node is NoNode and leaves no watch.
    expect_err(&w.call(op::get_data("/d", true)).await, code::NO_NODE);
    m.create_ok("/d", b"", Persistent).await;
    w.expect_no_event().await;
}

/// §5 exists watch on a missing node: fires NodeCreated once; later changes fire nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exists_watch_on_missing_node_fires_node_created_exactly_once() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    let r = w.call(op::exists("/later", true)).await;
    assert!(!exists_result(r).exists);
    let zxid = m.call(op::create("/later", b"", Persistent)).await.zxid;
    let e = w.next_event().await;
    assert_event(&e, EventType::NodeCreated, "/later");
    assert_eq!(e.zxid, zxid);
    ok(&m.call(op::set_data("/later", b"x", -1)).await);
    ok(&m.call(op::delete("/later", -1)).await);
    m.create_ok("/later", b"", Persistent).await;
    w.expect_no_event().await;
}

/// §5 child watch: fires NodeChildrenChanged once on a child create (or delete); a second change
/// fires nothing; the parent's data change does not fire it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_node_children_changed_exactly_once() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    m.mkdir("/p").await;
    ok(&w.call(op::get_children("/p", true)).await);
    ok(&m.call(op::set_data("/p", b"data", -1)).await);
    w.expect_no_event().await;
    let zxid = m.call(op::create("/p/a", b"", Persistent)).await.zxid;
    let e = w.next_event().await;
    assert_event(&e, EventType::NodeChildrenChanged, "/p");
    assert_eq!(e.zxid, zxid);
    m.create_ok("/p/b", b"", Persistent).await;
    ok(&m.call(op::delete("/p/a", -1)).await);
    w.expect_no_event().await;

    // A child delete fires it too; a grandchild change does not.
    ok(&w.call(op::get_children("/p", true)).await);
    m.create_ok("/p/b/deep", b"", Persistent).await;
    w.expect_no_event().await;
    ok(&m.call(op::delete("/p/b/deep", -1)).await);
    ok(&m.call(op::delete("/p/b", -1)).await);
    assert_event(&w.next_event().await, EventType::NodeChildrenChanged, "/p");
    w.expect_no_event().await;
}

/// §5 child watch: fires NodeDeleted once when the watched parent itself is deleted (the
/// parent's parent's child watch fires NodeChildrenChanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_watch_fires_node_deleted_exactly_once() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    m.mkdir("/top").await;
    m.mkdir("/top/p").await;
    ok(&w.call(op::get_children("/top/p", true)).await);
    ok(&w.call(op::get_children("/top", true)).await);
    let zxid = m.call(op::delete("/top/p", -1)).await.zxid;
    let mut events = [w.next_event().await, w.next_event().await];
    events.sort_by_key(|e| e.r#type);
    assert_event(&events[0], EventType::NodeDeleted, "/top/p");
    assert_event(&events[1], EventType::NodeChildrenChanged, "/top");
    assert!(events.iter().all(|e| e.zxid == zxid));
    m.mkdir("/top/p").await;
    ok(&m.call(op::delete("/top/p", -1)).await);
    w.expect_no_event().await;
}

/// §1 ordering: a client sees the watch event for a change before any response showing the new
/// data. Session A watches, session B writes concurrently, A polls until it reads the new value:
/// on A's stream the event precedes that response. Repeated to catch races.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_event_arrives_before_a_read_showing_the_change() {
    let node = TestNode::start().await;
    let mut a = node.session().await;
    let mut b = node.session().await;
    b.create_ok("/o", b"0", Persistent).await;
    for round in 1..=20 {
        let new = format!("{round}");
        ok(&a.call(op::get_data("/o", true)).await);
        let start = a.seen.len();
        let writer = tokio::spawn({
            let new = new.clone();
            async move {
                ok(&b.call(op::set_data("/o", new.as_bytes(), -1)).await);
                b
            }
        });
        // Pipeline reads until one shows the new value.
        let mut shown = None;
        while shown.is_none() {
            let xids = [
                a.send(op::get_data("/o", false)).await,
                a.send(op::exists("/o", false)).await,
            ];
            for xid in xids {
                let r = a.response(xid).await;
                let fresh = match &r.result {
                    Some(pb::response::Result::GetData(d)) => {
                        d.data.as_deref() == Some(new.as_bytes())
                    }
                    Some(pb::response::Result::Exists(e)) => {
                        e.stat.as_ref().is_some_and(|s| s.version == round)
                    }
                    other => panic!("{other:?}"),
                };
                if fresh && shown.is_none() {
                    shown = Some(xid);
                }
            }
        }
        let shown = shown.expect("set");
        let seen = &a.seen[start..];
        let event_at = seen
            .iter()
            .position(|m| matches!(m, Seen::Event(_)))
            .unwrap_or_else(|| panic!("round {round}: no event before the new data: {seen:?}"));
        let response_at = seen
            .iter()
            .position(|m| matches!(m, Seen::Response(r) if r.xid == shown))
            .expect("recorded");
        assert!(
            event_at < response_at,
            "round {round}: the response showing the change came before its event: {seen:?}"
        );
        let e = a.next_event().await;
        assert_event(&e, EventType::NodeDataChanged, "/o");
        b = within("writer", writer).await.expect("writer task");
    }
    a.expect_no_event().await;
}

/// §1 ordering: events reach a session in zxid order, interleaved in order with its answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_several_watches_arrive_in_zxid_order() {
    let node = TestNode::start().await;
    let mut w = node.session().await;
    let mut m = node.session().await;
    for i in 0..10 {
        m.create_ok(&format!("/n{i}"), b"", Persistent).await;
        ok(&w.call(op::get_data(&format!("/n{i}"), true)).await);
    }
    let mut zxids = Vec::new();
    for i in (0..10).rev() {
        zxids.push(m.call(op::set_data(&format!("/n{i}"), b"x", -1)).await.zxid);
    }
    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(w.next_event().await);
    }
    let got_zxids: Vec<i64> = got.iter().map(|e| e.zxid).collect();
    assert_eq!(got_zxids, zxids);
    let paths: Vec<&str> = got.iter().map(|e| e.path.as_str()).collect();
    let want: Vec<String> = (0..10).rev().map(|i| format!("/n{i}")).collect();
    assert_eq!(paths, want);
}

/// Proto "Watches": watches belong to the stream. After a resume on a new stream the client
/// re-registers them, and each registration fires at most once (§1): one event, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_after_resume_fire_at_most_once_per_registration() {
    let node = TestNode::start().await;
    let mut m = node.session().await;
    m.create_ok("/r", b"0", Persistent).await;
    let mut w = node.session().await;
    ok(&w.call(op::get_data("/r", true)).await);
    let mut w2 = Session::connect(node.addr, w.resume_request())
        .await
        .expect("resume");
    assert!(w.finish().await.is_ok());
    // As documented, re-register on the new stream.
    ok(&w2.call(op::get_data("/r", true)).await);
    ok(&m.call(op::set_data("/r", b"1", -1)).await);
    assert_event(&w2.next_event().await, EventType::NodeDataChanged, "/r");
    w2.expect_no_event().await;
}

/// Proto "Watches": watches belong to the session on the server that registered them. Resumed
/// on a new stream to the same server (the old one gets SessionMoved), its watches still fire —
/// on the new stream, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_follow_the_session_to_a_new_stream_on_the_same_server() {
    let node = TestNode::start().await;
    let mut m = node.session().await;
    m.create_ok("/r", b"0", Persistent).await;
    let mut w = node.session().await;
    ok(&w.call(op::get_data("/r", true)).await);
    let mut w2 = Session::connect(node.addr, w.resume_request())
        .await
        .expect("resume");
    assert!(w.finish().await.is_ok());
    assert_eq!(
        w.closed.as_ref().map(|c| c.error),
        Some(code::SESSION_MOVED)
    );
    assert!(w.events.is_empty());
    let zxid = m.call(op::set_data("/r", b"1", -1)).await.zxid;
    let e = w2.next_event().await;
    assert_event(&e, EventType::NodeDataChanged, "/r");
    assert_eq!(e.zxid, zxid);
    ok(&m.call(op::set_data("/r", b"2", -1)).await);
    w2.expect_no_event().await;
}

/// Proto "Watches": events that fire while a session has no stream are delivered first on the
/// stream that resumes it (before any answer), in zxid order, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_fired_while_detached_are_delivered_first_on_resume() {
    let node = TestNode::start().await;
    let mut m = node.session().await;
    m.create_ok("/r", b"0", Persistent).await;
    m.mkdir("/p").await;
    let mut w = node.session().await;
    ok(&w.call(op::get_data("/r", true)).await);
    ok(&w.call(op::get_children("/p", true)).await);
    ok(&w.call(op::exists("/new", true)).await);
    let resume_req = w.resume_request();
    // The client ends its stream; once the server has ended its side too, the session is
    // detached (not closed).
    w.half_close();
    assert!(w.finish().await.is_ok());
    assert!(w.closed.is_none());

    let z1 = m.call(op::create("/p/c", b"", Persistent)).await.zxid;
    let z2 = m.call(op::set_data("/r", b"1", -1)).await.zxid;
    let z3 = m.call(op::create("/new", b"", Persistent)).await.zxid;
    ok(&m.call(op::set_data("/r", b"2", -1)).await); // no watch left: nothing more

    let mut w2 = Session::connect(node.addr, resume_req)
        .await
        .expect("resume");
    let x = w2.send(op::ping()).await;
    ok(&w2.response(x).await);
    let kinds: Vec<(i32, String, i64)> = w2
        .seen
        .iter()
        .take_while(|m| matches!(m, Seen::Event(_)))
        .map(|m| match m {
            Seen::Event(e) => (e.r#type, e.path.clone(), e.zxid),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (EventType::NodeChildrenChanged as i32, "/p".to_string(), z1),
            (EventType::NodeDataChanged as i32, "/r".to_string(), z2),
            (EventType::NodeCreated as i32, "/new".to_string(), z3),
        ],
        "parked events first, in zxid order: {:?}",
        w2.seen
    );
    assert_eq!(
        w2.seen.len(),
        4,
        "then the ping's answer only: {:?}",
        w2.seen
    );
    w2.events.clear();
    w2.expect_no_event().await;
}

/// Proto "Watches" + ZooKeeper's guarantee that a set watch is notified: a stream can break
/// without the server noticing (a network partition: the server still writes into it). Events
/// that fire then go into the dead stream. When the client resumes on a new stream with the
/// last zxid it saw, it must still get them — otherwise a lock waiter watching its predecessor
/// waits forever. (ZooKeeper re-fires them from SetWatches' relative zxid.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_into_a_stream_the_client_lost_are_delivered_on_resume() {
    let node = TestNode::start().await;
    let mut m = node.session().await;
    m.create_ok("/lock-pred", b"", Persistent).await;
    let mut w = node.session().await;
    let r = w.call(op::exists("/lock-pred", true)).await;
    let last_seen = r.zxid;
    // From here the client has lost `w`'s stream (it reads nothing more from it); the server
    // has not noticed.
    let z = m.call(op::delete("/lock-pred", -1)).await.zxid;

    let mut w2 = Session::connect(
        node.addr,
        pb::ConnectRequest {
            last_zxid_seen: last_seen,
            ..w.resume_request()
        },
    )
    .await
    .expect("resume");
    ok(&w2.ping().await);
    let got: Vec<_> = w2.events.drain(..).collect();
    // Where the event went, for the failure message.
    assert!(w.finish().await.is_ok());
    let lost: Vec<_> = w.events.drain(..).collect();
    assert_eq!(
        got.len(),
        1,
        "the NodeDeleted (zxid {z}) the client never saw must reach the resumed stream; \
         it went to the lost stream instead: {lost:?}"
    );
    assert_event(&got[0], EventType::NodeDeleted, "/lock-pred");
    assert_eq!(got[0].zxid, z);
}

/// Proto "Session resume": a server whose data is older than the client's last_zxid_seen refuses
/// the connection with UNAVAILABLE / ConnectionLoss (-4), so the client never goes back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_a_future_last_zxid_seen_is_refused_unavailable() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    let zxid = s.create("/z", b"", Persistent).await.zxid;
    for req in [
        pb::ConnectRequest {
            last_zxid_seen: zxid + 1_000,
            ..new_session(LONG_TIMEOUT_MS)
        },
        pb::ConnectRequest {
            last_zxid_seen: zxid + 1,
            ..s.resume_request()
        },
    ] {
        let err = Session::connect(node.addr, req)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
        assert_eq!(status_zk_code(&err), Some(code::CONNECTION_LOSS));
    }
    // Up to date is fine, and the refused resume did not move the session.
    let ok_req = pb::ConnectRequest {
        last_zxid_seen: zxid,
        ..new_session(LONG_TIMEOUT_MS)
    };
    assert!(Session::connect(node.addr, ok_req).await.is_ok());
    ok(&s.ping().await);
    assert!(s.ended().is_none());
}

/// §5 + §7: sessions are part of the durable state. After a clean restart a session's ephemerals
/// are still there and it can be resumed; a session whose client never comes back expires one
/// timeout after the restart, taking its ephemerals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_ephemerals_survive_a_restart_then_expire() {
    let mut node = TestNode::start().await;
    let mut keeper = node.session_with_timeout(5_000).await;
    keeper.create_ok("/kept", b"", Ephemeral).await;
    let mut leaver = node.session_with_timeout(1_000).await;
    leaver.create_ok("/left", b"", Ephemeral).await;
    let (keeper_req, leaver_req) = (keeper.resume_request(), leaver.resume_request());
    drop((keeper, leaver));
    node.stop().await;

    let config = node.config.clone();
    let restarted = Instant::now(); // before the restart: sessions get a full timeout from load
    let node = TestNode::start_on(node.dir.clone(), config).await;
    let mut keeper = Session::connect(node.addr, keeper_req)
        .await
        .expect("resume after a restart");
    let mut observer = node.session().await;
    let st = observer.stat("/kept").await.expect("kept");
    assert_eq!(st.ephemeral_owner, keeper.id);
    assert!(observer.stat("/left").await.is_some(), "until the timeout");

    let deadline = Instant::now() + WAIT;
    while observer.stat("/left").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the abandoned session never expired"
        );
        ok(&keeper.ping().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        restarted.elapsed() >= Duration::from_millis(1_000),
        "expired {:?} after the restart, before its 1 s timeout",
        restarted.elapsed()
    );
    assert!(observer.stat("/kept").await.is_some());
    let err = Session::connect(node.addr, leaver_req)
        .await
        .err()
        .expect("expired");
    assert_eq!(status_zk_code(&err), Some(code::SESSION_EXPIRED));
}
