//! Watches across a resume (client.proto, ConnectRequest.data_watches / exist_watches /
//! child_watches — ZooKeeper's SetWatches): the client lists its outstanding watches on every
//! resume; a change missed while disconnected fires the watch once, right after the resume; a
//! watch on an unchanged node does not fire then, but on its next change.

mod support;

use std::time::Duration;

use paddock_client::{Client, CreateMode, EventType, SessionState, Watch};
use support::*;

/// Long enough for an event already on its way to arrive.
const QUIET: Duration = Duration::from_millis(300);

/// Panics if `w` resolves within [`QUIET`] (after a round trip, so any event sent before it has
/// been handled: events come before answers on the stream).
async fn assert_not_fired(c: &Client, w: &mut Watch, what: &str) {
    c.exists("/").await.expect("round trip");
    if let Ok(e) = tokio::time::timeout(QUIET, w).await {
        panic!("{what} fired spuriously: {e:?}");
    }
}

async fn fired(w: &mut Watch, what: &str) -> EventType {
    within(what, w).await.expect("a watch event").event_type
}

/// The server the session resumes on has none of its watches (a restarted node: watches are not
/// persisted, sessions are), like a resume on another server of an ensemble.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_survive_a_resume_on_a_server_that_lost_them() {
    let mut node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    for p in ["/data", "/kids", "/calm"] {
        c.create(p, "", CreateMode::Persistent).await.unwrap();
    }
    let (_, _, mut data) = c.get_data_w("/data").await.unwrap();
    let (_, _, mut kids) = c.get_children_w("/kids").await.unwrap();
    let (_, _, mut calm) = c.get_data_w("/calm").await.unwrap();
    let (absent, mut born) = c.exists_w("/born").await.unwrap();
    assert!(absent.is_none());
    let mut states = c.state_events();

    // Cut the client off and restart the server: its watches are gone, the session is not.
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    node.restart().await;
    let observer = node.client().await;
    observer.set_data("/data", "changed", -1).await.unwrap();
    observer
        .create("/born", "", CreateMode::Persistent)
        .await
        .unwrap();
    proxy.retarget(node.addr);
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;

    // Missed changes fire once, right after the resume.
    assert_eq!(
        fired(&mut data, "data watch").await,
        EventType::NodeDataChanged
    );
    assert_eq!(
        fired(&mut born, "exist watch").await,
        EventType::NodeCreated
    );
    // Unchanged nodes: set again on the new server, silent until they change.
    assert_not_fired(&c, &mut kids, "child watch on an unchanged node").await;
    assert_not_fired(&c, &mut calm, "data watch on an unchanged node").await;
    observer
        .create("/kids/k", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(
        fired(&mut kids, "child watch").await,
        EventType::NodeChildrenChanged
    );
    observer.set_data("/calm", "now", -1).await.unwrap();
    assert_eq!(
        fired(&mut calm, "calm watch").await,
        EventType::NodeDataChanged
    );
    // The session's watches on /data and /born were consumed: a new one sees only new changes.
    let (_, _, mut again) = c.get_data_w("/data").await.unwrap();
    assert_not_fired(&c, &mut again, "a fresh watch after the resume").await;
    observer.set_data("/data", "again", -1).await.unwrap();
    assert_eq!(
        fired(&mut again, "fresh watch").await,
        EventType::NodeDataChanged
    );

    c.close().await.unwrap();
    observer.close().await.unwrap();
    node.stop().await;
}

/// The connection is cut and the session resumes on the same server: the event that fired while
/// away is delivered once (replayed and also found by the listed watches, not twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_missed_while_cut_off_fires_once_after_the_resume() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    let observer = node.client().await;
    c.create("/n", "", CreateMode::Persistent).await.unwrap();
    c.create("/quiet", "", CreateMode::Persistent)
        .await
        .unwrap();
    let (_, _, mut data) = c.get_data_w("/n").await.unwrap();
    let (_, _, mut kids) = c.get_children_w("/n").await.unwrap();
    let (_, _, mut quiet) = c.get_data_w("/quiet").await.unwrap();
    let mut states = c.state_events();

    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    observer.set_data("/n", "x", -1).await.unwrap();
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;

    assert_eq!(
        fired(&mut data, "data watch").await,
        EventType::NodeDataChanged
    );
    assert_not_fired(&c, &mut kids, "child watch (only the data changed)").await;
    assert_not_fired(&c, &mut quiet, "watch on an unchanged node").await;
    // No second copy of the missed change is in flight to fire a new watch.
    let (_, _, mut again) = c.get_data_w("/n").await.unwrap();
    assert_not_fired(&c, &mut again, "a fresh watch after the resume").await;

    observer
        .create("/n/k", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(
        fired(&mut kids, "child watch").await,
        EventType::NodeChildrenChanged
    );
    observer.set_data("/quiet", "y", -1).await.unwrap();
    assert_eq!(
        fired(&mut quiet, "quiet watch").await,
        EventType::NodeDataChanged
    );
    observer.set_data("/n", "z", -1).await.unwrap();
    assert_eq!(
        fired(&mut again, "fresh watch").await,
        EventType::NodeDataChanged
    );
    c.close().await.unwrap();
    observer.close().await.unwrap();
}
