//! Quotas end to end (ZooKeeper 3.7+ hard limits): set through plain writes under
//! /zookeeper/quota as zkCli does, enforced by every server as it applies the write, and still
//! right after a restart (usage rebuilt from the snapshot and the log).
//!
//! ```text
//!  client ── create /zookeeper/quota/app/zookeeper_limits "...countHardLimit=3"
//!         ── create /app/n3 ──▶ QUOTAEXCEEDED (-125) from whichever server it goes through
//! ```
//!
//! Every wait is bounded; processes are killed and temp dirs removed when a test ends.

mod support;

use std::time::Duration;

use bytes::Bytes;
use paddock_client::{Acl, Client, ClientOptions, CreateMode, Error, ErrorCode, MultiOp};
use paddock_types::quota::{limit_path, stat_path, StatsTrack};
use support::{try_status, LocalEnsemble, TestNode};

async fn connect(addr: &str) -> Client {
    let opts = ClientOptions {
        session_timeout: Duration::from_secs(20),
        seed: Some(7),
        ..ClientOptions::default()
    };
    support::within("connect", Client::connect(addr, opts))
        .await
        .expect("connect")
}

/// zkCli's `setquota -N count path` on a fresh path.
async fn set_hard_count(c: &Client, path: &str, count: i64) {
    c.create("/zookeeper/quota/app", Vec::new(), CreateMode::Persistent)
        .await
        .expect("quota dir");
    let mut t = StatsTrack::new();
    t.set_count(-1);
    t.set_bytes(-1);
    t.set_count_hard_limit(count);
    t.set_byte_hard_limit(-1);
    c.create(
        &limit_path(path),
        t.to_string().into_bytes(),
        CreateMode::Persistent,
    )
    .await
    .expect("limits");
    c.create(
        &stat_path(path),
        b"count=0,bytes=0".to_vec(),
        CreateMode::Persistent,
    )
    .await
    .expect("stats");
}

async fn usage(c: &Client, path: &str) -> (i64, i64) {
    let (data, _) = c.get_data(&stat_path(path)).await.expect("stats node");
    let t = StatsTrack::parse_bytes(&data);
    (t.count(), t.bytes())
}

fn create_op(path: &str) -> MultiOp {
    MultiOp::Create {
        path: path.into(),
        data: Bytes::new().into(),
        mode: CreateMode::Persistent,
        acl: Acl::open(),
    }
}

/// The ways to go over a hard count of 3 on /app holding 3 nodes: all refused with -125.
async fn assert_full(c: &Client) {
    let err = c
        .create("/app/over", Vec::new(), CreateMode::Persistent)
        .await
        .expect_err("over the quota");
    assert_eq!(err.code(), ErrorCode::QuotaExceeded, "{err:?}");
    assert_eq!(ErrorCode::QuotaExceeded.code(), -125);
    let err = c
        .create("/app/seq-", Vec::new(), CreateMode::PersistentSequential)
        .await
        .expect_err("sequential over the quota");
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    match c
        .multi(vec![create_op("/outside"), create_op("/app/over")])
        .await
    {
        Err(Error::Multi { code, .. }) => assert_eq!(code, ErrorCode::QuotaExceeded),
        other => panic!("the multi should fail whole: {other:?}"),
    }
    assert!(c.exists("/outside").await.expect("exists").is_none());
    assert_eq!(usage(c, "/app").await, (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_limit_holds_after_a_restart_from_snapshot_and_log() {
    let mut node = TestNode::start_with(|c| c.snap_count = 10).await;
    let c = connect(&node.addr.to_string()).await;
    c.create("/app", b"ab".to_vec(), CreateMode::Persistent)
        .await
        .expect("app");
    set_hard_count(&c, "/app", 3).await;
    // Enough writes elsewhere for a snapshot, then the quota'd ones after it (in the log).
    for i in 0..15 {
        c.create(&format!("/other{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .expect("other");
    }
    c.create("/app/a", Vec::new(), CreateMode::Persistent)
        .await
        .expect("a");
    c.create("/app/b", Vec::new(), CreateMode::Persistent)
        .await
        .expect("b");
    assert_full(&c).await;
    c.close().await.expect("close");
    node.stop().await;

    let node = TestNode::start_on(node.dir.clone(), node.config.clone()).await;
    let c = connect(&node.addr.to_string()).await;
    assert_full(&c).await;
    c.delete("/app/b", -1).await.expect("delete");
    assert_eq!(usage(&c, "/app").await, (2, 2));
    c.create("/app/c", Vec::new(), CreateMode::Persistent)
        .await
        .expect("room again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_of_an_ensemble_enforces_the_limit_also_after_a_restart() {
    let mut e = LocalEnsemble::start(
        3,
        &[
            "tickTime=100",
            "initLimit=10",
            "syncLimit=5",
            "snapCount=10",
        ],
    )
    .await;
    let first = connect(&e.peers[0].addr.to_string()).await;
    first
        .create("/app", b"ab".to_vec(), CreateMode::Persistent)
        .await
        .expect("app");
    set_hard_count(&first, "/app", 3).await;
    for name in ["/app/a", "/app/b"] {
        first
            .create(name, Vec::new(), CreateMode::Persistent)
            .await
            .expect(name);
    }
    // Through each server (the write forwarded to the leader, applied by all): refused.
    for p in &e.peers {
        let c = connect(&p.addr.to_string()).await;
        c.sync("/app").await.expect("sync");
        assert_full(&c).await;
        c.close().await.expect("close");
    }
    // A member killed and restarted rebuilds the usage from its disk and the leader's sync. It
    // is a follower other than `first`'s server, so the writes meanwhile need no election.
    let mut victim = None;
    for i in [1, 2] {
        let st = try_status(e.peers[i].addr, Duration::from_secs(2))
            .await
            .expect("status");
        if st.mode == "follower" {
            victim = Some(i);
            break;
        }
    }
    let v = victim.expect("servers 2 and 3 cannot both lead");
    e.peers[v].kill();
    for i in 0..12 {
        first
            .create(&format!("/other{i}"), Vec::new(), CreateMode::Persistent)
            .await
            .expect("other");
    }
    first.delete("/app/b", -1).await.expect("delete");
    first
        .create("/app/c", b"xyz".to_vec(), CreateMode::Persistent)
        .await
        .expect("c");
    e.peers[v] = e.peers[v].restart();
    e.wait_serving(&[0, 1, 2]).await;
    let c = connect(&e.peers[v].addr.to_string()).await;
    c.sync("/app").await.expect("sync");
    assert_eq!(usage(&c, "/app").await, (3, 5));
    let err = c
        .create("/app/over", Vec::new(), CreateMode::Persistent)
        .await
        .expect_err("over the quota");
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
}
