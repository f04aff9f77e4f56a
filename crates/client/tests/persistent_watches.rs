//! Persistent and persistent recursive watches (ZooKeeper 3.6's addWatch), watch removal
//! (removeWatches / checkWatches) and their resume (SetWatches2), through the client against an
//! in-process server.

mod support;

use std::time::Duration;

use paddock_client::{
    AddWatchMode, Client, CreateMode, Error, ErrorCode, EventType, PersistentWatch, SessionState,
    WatcherType,
};
use support::*;

/// Long enough for an event already on its way to arrive.
const QUIET: Duration = Duration::from_millis(300);

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn next(w: &mut PersistentWatch, what: &str) -> (EventType, String) {
    let e = within(what, w.next())
        .await
        .unwrap_or_else(|| panic!("{what}: the stream ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    (e.event_type, e.path)
}

/// Nothing more arrives (after a round trip: events come before answers on the stream).
async fn quiet(c: &Client, w: &mut PersistentWatch, what: &str) {
    c.exists("/").await.expect("round trip");
    if let Ok(e) = tokio::time::timeout(QUIET, w.next()).await {
        panic!("{what}: unexpected {e:?}");
    }
}

fn ev(t: EventType, p: &str) -> (EventType, String) {
    (t, p.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_watch_fires_every_time_for_its_path_only() {
    let node = TestNode::start().await;
    let (c, other) = (node.client().await, node.client().await);
    let mut w = c
        .add_watch("/p", AddWatchMode::Persistent)
        .await
        .expect("the node need not exist");
    other
        .create("/p", "", CreateMode::Persistent)
        .await
        .unwrap();
    other.set_data("/p", "1", -1).await.unwrap();
    other.set_data("/p", "2", -1).await.unwrap();
    other
        .create("/p/kid", "", CreateMode::Persistent)
        .await
        .unwrap();
    other.set_data("/p/kid", "x", -1).await.unwrap(); // not /p itself: nothing
    other.delete("/p/kid", -1).await.unwrap();
    other.delete("/p", -1).await.unwrap();
    other
        .create("/p", "", CreateMode::Persistent)
        .await
        .unwrap();
    use EventType::*;
    for want in [
        ev(NodeCreated, "/p"),
        ev(NodeDataChanged, "/p"),
        ev(NodeDataChanged, "/p"),
        ev(NodeChildrenChanged, "/p"),
        ev(NodeChildrenChanged, "/p"),
        ev(NodeDeleted, "/p"),
        ev(NodeCreated, "/p"),
    ] {
        assert_eq!(next(&mut w, "persistent").await, want);
    }
    quiet(&c, &mut w, "persistent watch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_watch_sees_the_subtree_without_child_events() {
    let node = TestNode::start().await;
    let (c, other) = (node.client().await, node.client().await);
    other
        .create("/r", "", CreateMode::Persistent)
        .await
        .unwrap();
    let mut w = c
        .add_watch("/r", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    // A one-shot watch of the same session on a node below: both watchers are told.
    other
        .create("/r/a", "", CreateMode::Persistent)
        .await
        .unwrap();
    let (_, _, once) = c.get_data_w("/r/a").await.unwrap();
    other
        .create("/r/a/b", "", CreateMode::Persistent)
        .await
        .unwrap();
    other.set_data("/r/a", "x", -1).await.unwrap();
    other
        .create("/rx", "", CreateMode::Persistent)
        .await
        .unwrap(); // a sibling, not below
    other.delete("/r/a/b", -1).await.unwrap();
    use EventType::*;
    for want in [
        ev(NodeCreated, "/r/a"),
        ev(NodeCreated, "/r/a/b"),
        ev(NodeDataChanged, "/r/a"),
        ev(NodeDeleted, "/r/a/b"),
    ] {
        assert_eq!(next(&mut w, "recursive").await, want);
    }
    let e = within("one-shot", once).await.unwrap();
    assert_eq!(e.event_type, NodeDataChanged);
    quiet(&c, &mut w, "recursive watch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_watches_tells_each_watcher_and_nowatcher_when_none() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/n", "", CreateMode::Persistent).await.unwrap();
    let mut p = c.add_watch("/n", AddWatchMode::Persistent).await.unwrap();
    let (_, _, data) = c.get_data_w("/n").await.unwrap();
    let (_, _, kids) = c.get_children_w("/n").await.unwrap();
    c.check_watches("/n", WatcherType::Data).await.unwrap();
    c.check_watches("/n", WatcherType::Persistent)
        .await
        .unwrap();
    assert_eq!(
        code(
            c.check_watches("/n", WatcherType::PersistentRecursive)
                .await
        ),
        ErrorCode::NoWatcher
    );
    assert_eq!(
        code(c.check_watches("/elsewhere", WatcherType::Any).await),
        ErrorCode::NoWatcher
    );

    c.remove_watches("/n", WatcherType::Children, false)
        .await
        .unwrap();
    let e = within("child watch removed", kids).await.unwrap();
    assert_eq!(e.event_type, EventType::ChildWatchRemoved);
    assert_eq!(
        code(c.remove_watches("/n", WatcherType::Children, false).await),
        ErrorCode::NoWatcher
    );
    assert_eq!(
        code(c.check_watches("/n", WatcherType::Children).await),
        ErrorCode::NoWatcher,
        "gone on the server too"
    );
    c.remove_watches("/n", WatcherType::Any, false)
        .await
        .unwrap();
    let e = within("data watch removed", data).await.unwrap();
    assert_eq!(e.event_type, EventType::DataWatchRemoved);
    assert_eq!(
        next(&mut p, "persistent removed").await,
        ev(EventType::PersistentWatchRemoved, "/n")
    );
    assert!(within("stream end", p.next()).await.is_none());
    // No more events for anyone: the server holds none.
    assert_eq!(
        code(c.check_watches("/n", WatcherType::Any).await),
        ErrorCode::NoWatcher
    );
    // Bad input.
    assert_eq!(
        code(c.add_watch("n", AddWatchMode::Persistent).await),
        ErrorCode::BadArguments
    );
    assert!(matches!(
        c.remove_watches("/n/", WatcherType::Any, false).await,
        Err(Error::InvalidArgument(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_removal_works_while_disconnected() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    let mut w = c.add_watch("/x", AddWatchMode::Persistent).await.unwrap();
    let mut states = c.state_events();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    c.remove_watches("/x", WatcherType::Persistent, true)
        .await
        .expect("local removal");
    assert_eq!(
        next(&mut w, "removed").await,
        ev(EventType::PersistentWatchRemoved, "/x")
    );
    assert!(within("stream end", w.next()).await.is_none());
}

/// The session resumes on a server that has none of its watches (a restarted node, like another
/// server of an ensemble): its persistent watches are set again and every change it missed is
/// replayed, once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watches_replay_what_they_missed_on_resume() {
    let mut node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    c.create("/tree", "", CreateMode::Persistent).await.unwrap();
    let mut rec = c
        .add_watch("/tree", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let mut per = c
        .add_watch("/tree", AddWatchMode::Persistent)
        .await
        .unwrap();
    let mut states = c.state_events();

    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    node.restart().await;
    let other = node.client().await;
    other
        .create("/tree/a", "", CreateMode::Persistent)
        .await
        .unwrap();
    other.set_data("/tree/a", "1", -1).await.unwrap();
    other.set_data("/tree/a", "2", -1).await.unwrap();
    other.delete("/tree/a", -1).await.unwrap();
    other.set_data("/tree", "t", -1).await.unwrap();
    proxy.retarget(node.addr);
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;

    use EventType::*;
    for want in [
        ev(NodeCreated, "/tree/a"),
        ev(NodeDataChanged, "/tree/a"),
        ev(NodeDataChanged, "/tree/a"),
        ev(NodeDeleted, "/tree/a"),
        ev(NodeDataChanged, "/tree"),
    ] {
        assert_eq!(next(&mut rec, "recursive, replayed").await, want);
    }
    for want in [
        ev(NodeChildrenChanged, "/tree"),
        ev(NodeChildrenChanged, "/tree"),
        ev(NodeDataChanged, "/tree"),
    ] {
        assert_eq!(next(&mut per, "persistent, replayed").await, want);
    }
    quiet(&c, &mut rec, "recursive after the replay").await;
    // Set again for real on the new server.
    other
        .create("/tree/b", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(next(&mut rec, "live").await, ev(NodeCreated, "/tree/b"));
    assert_eq!(
        next(&mut per, "live").await,
        ev(NodeChildrenChanged, "/tree")
    );
}
