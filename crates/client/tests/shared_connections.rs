//! Sessions sharing HTTP/2 connections (`ClientOptions::shared_connections`): they share one
//! TCP connection per server, keep their own watches, and when the connection breaks each
//! resumes (or expires) as it would on a connection of its own.

mod support;

use std::time::Duration;

use futures::future::join_all;
use paddock_client::{
    Client, ClientOptions, CreateMode, Error, EventType, SessionState, SharedConnections,
};
use support::*;

fn shared(pool: &SharedConnections) -> ClientOptions {
    opts().shared_connections(pool.clone())
}

async fn sessions(n: usize, cs: &str, opts: ClientOptions) -> Vec<Client> {
    // Connected at once: the first dials, the others wait for its connection.
    within(
        "sessions connect",
        join_all((0..n).map(|_| Client::connect(cs, opts.clone()))),
    )
    .await
    .into_iter()
    .map(|c| c.expect("connects"))
    .collect()
}

/// Retries `f` while it fails with ConnectionLoss (a call made as the connection broke).
async fn retried<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    within(what, async {
        loop {
            match f().await {
                Ok(v) => break v,
                Err(Error::ConnectionLoss) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{what}: {e:?}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_share_one_connection_and_keep_their_own_watches() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let pool = SharedConnections::new(1);
    let clients = sessions(8, &proxy.addr.to_string(), shared(&pool)).await;
    assert_eq!(proxy.accepted(), 1, "one TCP connection for 8 sessions");
    assert_eq!(pool.connections(), 1);
    let mut ids: Vec<i64> = clients.iter().map(|c| c.session_id().0).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8, "8 sessions");

    // Each session its own node and a watch on it; the calls of all sessions interleave.
    let mut watches = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        c.create(&format!("/s{i}"), "", CreateMode::Ephemeral)
            .await
            .unwrap();
        let (_, _, w) = c.get_data_w(&format!("/s{i}")).await.unwrap();
        watches.push(w);
    }
    let busy = join_all(clients.iter().enumerate().map(|(i, c)| async move {
        for _ in 0..50 {
            c.exists(&format!("/s{i}"))
                .await
                .unwrap()
                .expect("own node");
        }
    }));
    within("interleaved calls", busy).await;
    // Changing each node fires its own session's watch only: every watch resolves to its path.
    let observer = node.client().await;
    for i in (0..8).rev() {
        observer.set_data(&format!("/s{i}"), "x", -1).await.unwrap();
    }
    for (i, w) in watches.into_iter().enumerate() {
        let e = within("watch", w).await.unwrap();
        assert_eq!(e.event_type, EventType::NodeDataChanged);
        assert_eq!(e.path, format!("/s{i}"));
    }
    // One session closing leaves the others (and the connection) alone.
    let mut clients = clients.into_iter();
    let first = clients.next().expect("8 clients");
    first.close().await.unwrap();
    assert_eq!(observer.exists("/s0").await.unwrap(), None);
    let rest: Vec<Client> = clients.collect();
    for (i, c) in rest.iter().enumerate() {
        let stat = c.exists(&format!("/s{}", i + 1)).await.unwrap();
        assert_eq!(stat.expect("own node").ephemeral_owner, c.session_id().0);
    }
    for c in rest {
        c.close().await.unwrap();
    }
    assert_eq!(proxy.accepted(), 1);
    // The last session gone, so is the connection.
    within("connection closed", async {
        while pool.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_n_connections() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let pool = SharedConnections::new(3);
    let clients = sessions(10, &proxy.addr.to_string(), shared(&pool)).await;
    assert_eq!(proxy.accepted(), 3);
    for c in &clients {
        c.exists("/").await.unwrap();
    }
    for c in clients {
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_resumes_when_the_shared_connection_breaks_and_the_server_restarts() {
    let mut node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let pool = SharedConnections::new(1);
    let clients = sessions(6, &proxy.addr.to_string(), shared(&pool)).await;
    assert_eq!(proxy.accepted(), 1);
    let ids: Vec<_> = clients.iter().map(Client::session_id).collect();
    let mut states: Vec<_> = clients.iter().map(Client::state_events).collect();
    for (i, c) in clients.iter().enumerate() {
        c.create(&format!("/e{i}"), "", CreateMode::Ephemeral)
            .await
            .unwrap();
    }

    // The connection breaks (the server is fine): every session resumes, the same one.
    proxy.kill_connections();
    for s in &mut states {
        expect_state(s, SessionState::Disconnected).await;
        expect_state(s, SessionState::Connected).await;
    }
    for (c, id) in clients.iter().zip(&ids) {
        assert_eq!(c.session_id(), *id);
    }
    // The old connection is redialed or replaced, not one per session.
    let after_break = proxy.accepted();
    assert!(after_break <= 3, "{after_break} connections accepted");

    // The server restarts (a new port behind the same address): the same again, and every
    // session's ephemeral survived.
    node.stop().await;
    node.restart().await;
    proxy.retarget(node.addr);
    proxy.kill_connections();
    for s in &mut states {
        within("resumed after the restart", async {
            while s.recv().await.expect("state events") != SessionState::Connected {}
        })
        .await;
    }
    for (i, (c, id)) in clients.iter().zip(&ids).enumerate() {
        assert_eq!(c.session_id(), *id);
        let path = format!("/e{i}");
        let stat = retried("ephemeral", || c.exists(&path))
            .await
            .expect("the ephemeral survived");
        assert_eq!(stat.ephemeral_owner, id.0);
    }
    assert!(
        pool.connections() <= 2,
        "{} connections",
        pool.connections()
    );
    for c in clients {
        c.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_expires_when_no_server_takes_it_back() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let pool = SharedConnections::new(1);
    let clients = sessions(
        4,
        &proxy.addr.to_string(),
        shared(&pool).session_timeout(Duration::from_millis(1000)),
    )
    .await;
    let mut states: Vec<_> = clients.iter().map(Client::state_events).collect();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    for s in &mut states {
        expect_state(s, SessionState::Disconnected).await;
        expect_state(s, SessionState::Expired).await;
    }
    for c in &clients {
        assert_eq!(c.exists("/").await.unwrap_err(), Error::SessionExpired);
    }
    // Forwarding again: a new session over the same pool works.
    proxy.set_mode(Mode::Forward);
    let fresh = connect(&proxy.addr.to_string(), shared(&pool)).await;
    fresh.exists("/").await.unwrap();
    fresh.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_shared_connection_is_not_reused() {
    // Two sessions on a connection that stops carrying bytes (without closing: a hung server or
    // network). They only notice after 2/3 of their 20 s timeout. A new session meanwhile joins
    // that connection, gets no handshake within the connect timeout, and retires it: the next
    // attempt dials a new connection instead of waiting on the hung one again.
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let pool = SharedConnections::new(1);
    let cs = proxy.addr.to_string();
    let old = sessions(2, &cs, shared(&pool)).await;
    assert_eq!(proxy.accepted(), 1);
    proxy.stall_open_connections();
    let quick = shared(&pool).connect_timeout(Duration::from_millis(500));
    match within(
        "connect over the hung connection",
        Client::connect(&cs, quick.clone()),
    )
    .await
    {
        Err(Error::ConnectionLoss) => {}
        other => panic!("expected ConnectionLoss, got {other:?}"),
    }
    assert_eq!(proxy.accepted(), 1, "the hung connection was tried");
    let fresh = connect(&cs, quick).await;
    assert_eq!(proxy.accepted(), 2, "a new connection");
    fresh.exists("/").await.unwrap();
    // The old sessions are still on the hung connection (not timed out yet), the new one is not.
    assert_eq!(old[0].state(), SessionState::Connected);
    fresh.close().await.unwrap();
}
