//! The Rust client library and its recipes against a real 3-server ensemble: when the server a
//! client is attached to dies (SIGKILL), the client resumes its session on another server and
//! everything the session owns (ephemerals, a held lock, latch leadership) carries on.
//!
//! ```text
//!   3 x paddock (tickTime=100) ◀── Client::connect("a,b,c")  ── kill -9 the client's server
//!                                      └─ resumes on a survivor: same session, same ephemerals
//! ```
//!
//! Every wait is bounded; processes are killed and temp dirs removed when a test ends.

mod support;

use std::time::{Duration, Instant};

use paddock_client::recipes::leader::LeaderLatch;
use paddock_client::recipes::lock::Lock;
use paddock_client::{Client, ClientOptions, CreateMode, SessionState};
use support::LocalEnsemble;

const WAIT: Duration = Duration::from_secs(20);

/// The ensemble every test here runs on: 3 members, tickTime 100 ms.
async fn ensemble() -> LocalEnsemble {
    LocalEnsemble::start(
        3,
        &[
            "tickTime=100",
            "initLimit=10",
            "syncLimit=5",
            "maxSessionTimeout=30000",
        ],
    )
    .await
}

fn opts(seed: u64) -> ClientOptions {
    ClientOptions {
        session_timeout: Duration::from_secs(20),
        seed: Some(seed),
        ..ClientOptions::default()
    }
}

/// Waits until the client is attached again after losing its server.
async fn reconnected(c: &Client, old_server: &str) {
    let start = Instant::now();
    while !(c.state() == SessionState::Connected && c.server() != old_server) {
        assert!(
            start.elapsed() < WAIT,
            "client still {:?} on {}",
            c.state(),
            c.server()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_keeps_its_session_ephemerals_and_lock_when_its_server_dies() {
    let mut e = ensemble().await;
    let c = Client::connect(&e.connect_string(), opts(1))
        .await
        .expect("connect");
    let session = c.session_id();
    c.create("/svc", b"".to_vec(), CreateMode::Persistent)
        .await
        .expect("create /svc");
    c.create("/svc/me", b"up".to_vec(), CreateMode::Ephemeral)
        .await
        .expect("ephemeral");
    let mut lock = Lock::new(c.clone(), "/locks/a");
    assert!(lock.acquire().await.expect("acquire"));

    let server = c.server();
    let victim = e.index_of(&server);
    e.peers[victim].kill();
    let killed_at = Instant::now();
    reconnected(&c, &server).await;
    // Writes work again through a survivor (after an election if the victim led).
    let start = Instant::now();
    loop {
        match c.set_data("/svc", b"after".to_vec(), -1).await {
            Ok(_) => break,
            Err(err) => {
                assert!(start.elapsed() < WAIT, "no write after failover: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    eprintln!(
        "client failover: server {} killed, first write after {} ms on {}",
        victim + 1,
        killed_at.elapsed().as_millis(),
        c.server()
    );
    assert_eq!(c.session_id(), session, "the session survived");
    assert!(lock.is_held());
    // Another client (any survivor) sees the ephemeral and the lock node still owned by it.
    let other = Client::connect(&e.connect_string(), opts(2))
        .await
        .expect("second client");
    other.sync("/").await.expect("sync");
    let (_, stat) = other
        .get_data("/svc/me")
        .await
        .expect("ephemeral still there");
    assert_eq!(stat.ephemeral_owner, session.0);
    let lock_node = lock.node().expect("lock node").to_string();
    let (_, stat) = other.get_data(&lock_node).await.expect("lock node");
    assert_eq!(stat.ephemeral_owner, session.0);
    // Releasing and closing go through the new server; the ephemeral goes with the session.
    lock.release().await.expect("release");
    c.close().await.expect("close");
    other.sync("/").await.expect("sync");
    assert!(other.exists("/svc/me").await.expect("exists").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latch_leadership_moves_when_its_holder_closes_and_survives_a_server_loss() {
    let mut e = ensemble().await;
    let a = Client::connect(&e.connect_string(), opts(3))
        .await
        .expect("a");
    let b = Client::connect(&e.connect_string(), opts(4))
        .await
        .expect("b");
    let mut la = LeaderLatch::new(a.clone(), "/election", "a");
    la.start().await.expect("start a");
    assert!(la.await_leadership(WAIT).await, "a leads first");
    let mut lb = LeaderLatch::new(b.clone(), "/election", "b");
    lb.start().await.expect("start b");
    // Kill a's server: a resumes elsewhere and keeps leadership; b does not take over.
    let server = a.server();
    let victim = e.index_of(&server);
    e.peers[victim].kill();
    reconnected(&a, &server).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(la.has_leadership(), "a kept leadership across the failover");
    assert!(!lb.has_leadership());
    // a steps down: b leads (b may itself have had to move if it shared a's server).
    la.close().await.expect("close a");
    assert!(lb.await_leadership(WAIT).await, "b takes over");
    assert_eq!(
        lb.leader_id().await.expect("leader id").as_deref(),
        Some("b")
    );
}

/// A persistent recursive watch across a server loss (issue 15): while the client's server is
/// dead and the client resumes on a survivor, another client keeps writing under the watched
/// path; the watcher sees every change exactly once, in order — those made before the move, those
/// it missed while moving (replayed by the new server from its recent changes), and those after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_watch_sees_every_change_across_a_server_loss() {
    use paddock_client::{AddWatchMode, EventType};
    let mut e = ensemble().await;
    let watcher = Client::connect(&e.connect_string(), opts(5))
        .await
        .expect("watcher");
    let mut events = watcher
        .add_watch("/cfg", AddWatchMode::PersistentRecursive)
        .await
        .expect("addWatch");
    let victim = e.index_of(&watcher.server());
    // The writer is attached to a survivor, so its writes go on while the watcher moves.
    let survivor = e.peers[(victim + 1) % 3].addr.to_string();
    let writer = Client::connect(&survivor, opts(6)).await.expect("writer");
    writer
        .create("/cfg", b"".to_vec(), CreateMode::Persistent)
        .await
        .expect("create /cfg");
    let mut expected = vec![(EventType::NodeCreated, "/cfg".to_string())];
    // The next node to write, and the events it will give.
    let next = |expected: &mut Vec<(EventType, String)>| {
        let path = format!("/cfg/k{}", expected.len() / 2);
        expected.push((EventType::NodeCreated, path.clone()));
        expected.push((EventType::NodeDataChanged, path.clone()));
        path
    };
    for _ in 0..3 {
        let p = next(&mut expected);
        writer
            .create(&p, b"".to_vec(), CreateMode::Persistent)
            .await
            .expect("create");
        writer.set_data(&p, b"v".to_vec(), -1).await.expect("set");
    }
    let old = watcher.server();
    e.peers[victim].kill();
    // Writes while the watcher is away (the writer's server may have to wait for an election).
    for _ in 0..3 {
        let p = next(&mut expected);
        let start = Instant::now();
        loop {
            match writer
                .create(&p, b"".to_vec(), CreateMode::Persistent)
                .await
            {
                Ok(_) => break,
                Err(paddock_client::Error::Zk {
                    code: paddock_client::ErrorCode::NodeExists,
                    ..
                }) => break,
                Err(err) => {
                    assert!(start.elapsed() < WAIT, "no write after the loss: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        writer.set_data(&p, b"v".to_vec(), -1).await.expect("set");
    }
    reconnected(&watcher, &old).await;
    for _ in 0..2 {
        let p = next(&mut expected);
        writer
            .create(&p, b"".to_vec(), CreateMode::Persistent)
            .await
            .expect("create");
        writer.set_data(&p, b"v".to_vec(), -1).await.expect("set");
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let ev = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap_or_else(|_| panic!("only {got:?} of {expected:?}"))
            .expect("the stream goes on")
            .expect("an event");
        got.push((ev.event_type, ev.path));
    }
    assert_eq!(got, expected);
    watcher.sync("/").await.expect("sync");
    assert!(events.try_next().is_none(), "no event twice");
}
