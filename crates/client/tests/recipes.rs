//! The recipes (lock, leader latch, service registry) with several contenders at once, against
//! an in-process server; a TCP proxy cuts a participant off to make its session expire.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_client::recipes::leader::LeaderLatch;
use paddock_client::recipes::lock::Lock;
use paddock_client::recipes::registry::{ServiceDiscovery, ServiceRegistry};
use paddock_client::{Client, CreateMode, Error, SessionState};
use support::*;
use tokio::sync::{mpsc, oneshot, watch};

/// Short enough to keep the expiry tests quick, long enough for pings at a third of it.
const SHORT_SESSION: Duration = Duration::from_millis(800);

async fn children(c: &Client, path: &str) -> usize {
    c.get_children(path)
        .await
        .map(|(v, _)| v.len())
        .unwrap_or(0)
}

async fn wait_children(c: &Client, path: &str, n: usize) {
    within(&format!("{path} has {n} children"), async {
        while children(c, path).await != n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_gives_mutual_exclusion() {
    const CONTENDERS: usize = 5;
    const ROUNDS: usize = 10;
    let node = TestNode::start().await;
    let setup = node.client().await;
    setup
        .create("/counter", "0", CreateMode::Persistent)
        .await
        .unwrap();
    let inside = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONTENDERS {
        let client = node.client().await;
        let inside = Arc::clone(&inside);
        tasks.push(tokio::spawn(async move {
            let mut lock = Lock::new(client.clone(), "/locks/counter");
            for _ in 0..ROUNDS {
                assert!(lock.acquire_timeout(WAIT).await.unwrap(), "acquired");
                assert!(lock.is_held());
                assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                let (data, _) = client.get_data("/counter").await.unwrap();
                let n: usize = std::str::from_utf8(&data).unwrap().parse().unwrap();
                tokio::task::yield_now().await;
                client
                    .set_data("/counter", (n + 1).to_string(), -1)
                    .await
                    .unwrap();
                inside.store(false, Ordering::SeqCst);
                lock.release().await.unwrap();
                assert!(!lock.is_held());
            }
            client.close().await.unwrap();
        }));
    }
    for t in tasks {
        within("contender", t).await.unwrap();
    }
    eprintln!(
        "{} lock rounds in {:?}",
        CONTENDERS * ROUNDS,
        started.elapsed()
    );
    let (data, _) = setup.get_data("/counter").await.unwrap();
    assert_eq!(data, (CONTENDERS * ROUNDS).to_string());
    assert_eq!(children(&setup, "/locks/counter").await, 0, "no node left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_is_reentrant_and_times_out_cleanly() {
    let node = TestNode::start().await;
    let a = node.client().await;
    let b = node.client().await;
    let mut la = Lock::new(a.clone(), "/r/lock");
    let mut lb = Lock::new(b.clone(), "/r/lock");
    assert!(matches!(la.release().await, Err(Error::InvalidArgument(_))));

    assert!(la.acquire().await.unwrap());
    let own = la.node().unwrap().to_string();
    assert!(own.starts_with("/r/lock/lock-"), "{own}");
    assert!(la.acquire().await.unwrap());
    assert_eq!(la.hold_count(), 2);
    assert_eq!(children(&a, "/r/lock").await, 1, "reentry adds no node");

    // another Lock (even on the same session) is excluded; its timeout leaves no node
    let mut same_session = Lock::new(a.clone(), "/r/lock");
    assert!(!same_session
        .acquire_timeout(Duration::from_millis(100))
        .await
        .unwrap());
    assert!(!lb
        .acquire_timeout(Duration::from_millis(100))
        .await
        .unwrap());
    assert_eq!(children(&a, "/r/lock").await, 1);

    la.release().await.unwrap();
    assert!(la.is_held(), "one hold left");
    assert!(a.exists(&own).await.unwrap().is_some());
    assert!(!lb
        .acquire_timeout(Duration::from_millis(100))
        .await
        .unwrap());
    la.release().await.unwrap();
    assert!(!la.is_held());
    assert_eq!(a.exists(&own).await.unwrap(), None, "last release deletes");
    assert!(lb.acquire_timeout(WAIT).await.unwrap());
    lb.release().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_release_wakes_only_the_next_waiter() {
    const WAITERS: usize = 5;
    let node = TestNode::start().await;
    let observer = node.client().await;
    let holder_client = node.client().await;
    let mut holder = Lock::new(holder_client.clone(), "/herd");
    assert!(holder.acquire().await.unwrap());

    let (acquired_tx, mut acquired_rx) = mpsc::unbounded_channel();
    let mut releases = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..WAITERS {
        let client = node.client().await;
        let (release_tx, release_rx) = oneshot::channel::<()>();
        releases.push(release_tx);
        let acquired_tx = acquired_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut lock = Lock::new(client.clone(), "/herd");
            assert!(lock.acquire_timeout(WAIT).await.unwrap());
            acquired_tx.send(i).unwrap();
            release_rx.await.unwrap();
            let wakeups = lock.watch_wakeups();
            lock.release().await.unwrap();
            client.close().await.unwrap();
            wakeups
        }));
        // queue the waiters in a known order
        wait_children(&observer, "/herd", i + 2).await;
    }

    holder.release().await.unwrap();
    for (i, release) in releases.into_iter().enumerate() {
        let got = within("next waiter acquires", acquired_rx.recv())
            .await
            .unwrap();
        assert_eq!(got, i, "waiters acquire in queue order");
        // nobody else wakes up and takes it meanwhile
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(acquired_rx.try_recv().is_err(), "only one holder");
        release.send(()).unwrap();
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let wakeups = within("waiter ends", t).await.unwrap();
        assert_eq!(wakeups, 1, "waiter {i} was woken {wakeups} times");
    }
    assert_eq!(children(&observer, "/herd").await, 0);
    holder_client.close().await.unwrap();
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_passes_on_when_the_holder_session_expires() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let short = opts().session_timeout(SHORT_SESSION);
    let holder_client = connect(&proxy.addr.to_string(), short.clone()).await;
    let cut_waiter_client = connect(&proxy.addr.to_string(), short).await;
    let waiter_client = node.client().await;

    let mut holder = Lock::new(holder_client.clone(), "/x/lock");
    assert!(holder.acquire().await.unwrap());
    // a waiter behind the holder that is cut off too, then one that stays connected
    let cut = tokio::spawn(async move {
        let mut lock = Lock::new(cut_waiter_client, "/x/lock");
        lock.acquire_timeout(WAIT).await
    });
    wait_children(&waiter_client, "/x/lock", 2).await;
    let waiter = tokio::spawn(async move {
        let mut lock = Lock::new(waiter_client.clone(), "/x/lock");
        let ok = lock.acquire_timeout(WAIT).await.unwrap();
        (ok, lock, waiter_client)
    });
    let observer = node.client().await;
    wait_children(&observer, "/x/lock", 3).await;

    let cut_at = Instant::now();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    let err = within("cut waiter fails", cut).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::ConnectionLoss | Error::SessionExpired),
        "{err:?}"
    );
    within("holder sees the loss", async {
        while holder.is_held() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let (ok, mut lock, waiter_client) = within("waiter acquires", waiter).await.unwrap();
    assert!(ok && lock.is_held());
    eprintln!("next waiter acquired {:?} after the cut", cut_at.elapsed());
    assert!(cut_at.elapsed() >= SHORT_SESSION / 2, "not before expiry");
    let mut states = holder_client.state_watch();
    within(
        "holder expired",
        states.wait_for(|s| *s == SessionState::Expired),
    )
    .await
    .unwrap();
    assert!(!holder.is_held());
    assert_eq!(holder.release().await.unwrap_err(), Error::SessionExpired);
    lock.release().await.unwrap();
    assert_eq!(children(&observer, "/x/lock").await, 0);
    waiter_client.close().await.unwrap();
    observer.close().await.unwrap();
}

/// Samples the leadership of every latch and counts moments with more than one leader.
fn monitor(rxs: Vec<watch::Receiver<bool>>) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let violations = Arc::new(AtomicUsize::new(0));
    let v = Arc::clone(&violations);
    let task = tokio::spawn(async move {
        loop {
            let leaders = rxs.iter().filter(|r| *r.borrow()).count();
            if leaders > 1 {
                v.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    (violations, task)
}

async fn leaders(latches: &[&LeaderLatch]) -> Vec<String> {
    latches
        .iter()
        .filter(|l| l.has_leadership())
        .map(|l| l.id().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_latch_has_one_leader_and_hands_over_on_close() {
    let node = TestNode::start().await;
    let mut latches = Vec::new();
    for i in 0..3 {
        let mut l = LeaderLatch::new(node.client().await, "/election/svc", format!("c{i}"));
        l.start().await.unwrap();
        latches.push(l);
    }
    let (violations, mon) = monitor(latches.iter().map(|l| l.subscribe()).collect());
    assert!(latches[0].await_leadership(WAIT).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(leaders(&latches.iter().collect::<Vec<_>>()).await, ["c0"]);
    assert_eq!(latches[2].leader_id().await.unwrap().as_deref(), Some("c0"));
    assert_eq!(latches[1].participants().await.unwrap(), ["c0", "c1", "c2"]);
    assert!(!latches[2].await_leadership(Duration::from_millis(50)).await);

    let mut first = latches.remove(0);
    first.close().await.unwrap();
    assert!(!first.has_leadership());
    assert!(latches[0].await_leadership(WAIT).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(leaders(&latches.iter().collect::<Vec<_>>()).await, ["c1"]);
    assert_eq!(latches[1].leader_id().await.unwrap().as_deref(), Some("c1"));

    latches[0].close().await.unwrap();
    assert!(latches[1].await_leadership(WAIT).await);
    assert_eq!(leaders(&latches.iter().collect::<Vec<_>>()).await, ["c2"]);
    latches[1].close().await.unwrap();
    mon.abort();
    assert_eq!(violations.load(Ordering::SeqCst), 0, "two leaders at once");
    assert_eq!(latches[1].leader_id().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_latch_hands_over_when_the_leader_session_expires() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let leader_client = connect(
        &proxy.addr.to_string(),
        opts().session_timeout(SHORT_SESSION),
    )
    .await;
    let mut l0 = LeaderLatch::new(leader_client.clone(), "/election/exp", "c0");
    l0.start().await.unwrap();
    assert!(l0.await_leadership(WAIT).await);
    let mut l1 = LeaderLatch::new(node.client().await, "/election/exp", "c1");
    let mut l2 = LeaderLatch::new(node.client().await, "/election/exp", "c2");
    l1.start().await.unwrap();
    l2.start().await.unwrap();
    let (violations, mon) = monitor(vec![l0.subscribe(), l1.subscribe(), l2.subscribe()]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(leaders(&[&l0, &l1, &l2]).await, ["c0"]);

    let cut_at = Instant::now();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    let mut lost = l0.subscribe();
    within("old leader steps down", lost.wait_for(|l| !*l))
        .await
        .unwrap();
    assert!(l1.await_leadership(WAIT).await, "c1 takes over");
    eprintln!("new leader {:?} after the cut", cut_at.elapsed());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(leaders(&[&l0, &l1, &l2]).await, ["c1"]);
    assert_eq!(l2.leader_id().await.unwrap().as_deref(), Some("c1"));
    let mut states = leader_client.state_watch();
    within(
        "old leader expired",
        states.wait_for(|s| *s == SessionState::Expired),
    )
    .await
    .unwrap();
    assert!(!l0.has_leadership());
    l0.close().await.unwrap();
    mon.abort();
    assert_eq!(violations.load(Ordering::SeqCst), 0, "two leaders at once");
    l1.close().await.unwrap();
    l2.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_membership_follows_registrations_and_sessions() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let a = node.client().await;
    let b = connect(
        &proxy.addr.to_string(),
        opts().session_timeout(SHORT_SESSION),
    )
    .await;
    let c = node.client().await;
    let watcher = node.client().await;

    let ra = ServiceRegistry::register(&a, "/services/api", "a", "10.0.0.1:80")
        .await
        .unwrap();
    assert_eq!(ra.path(), "/services/api/a");
    let _rb = ServiceRegistry::register(&b, "/services/api", "b", "10.0.0.2:80")
        .await
        .unwrap();
    let mut disco = ServiceDiscovery::watch(&watcher, "/services/api")
        .await
        .unwrap();
    assert_eq!(disco.members(), ["a", "b"]);
    let _rc = ServiceRegistry::register(&c, "/services/api", "c", "10.0.0.3:80")
        .await
        .unwrap();
    let mut rx = disco.subscribe();
    assert_eq!(
        within("c joins", disco.changed()).await.unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(disco.members(), ["a", "b", "c"]);
    assert_eq!(
        disco.instance_data("b").await.unwrap().unwrap(),
        "10.0.0.2:80"
    );
    let dup = ServiceRegistry::register(&c, "/services/api", "c", "")
        .await
        .unwrap_err();
    assert_eq!(dup.code(), paddock_client::ErrorCode::NodeExists);

    ra.unregister().await.unwrap();
    assert_eq!(
        within("a leaves", disco.changed()).await.unwrap(),
        ["b", "c"]
    );
    c.close().await.unwrap();
    within("c's session closed", rx.wait_for(|m| m[..] == ["b"]))
        .await
        .unwrap();
    let cut_at = Instant::now();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    within("b's session expired", rx.wait_for(|m| m.is_empty()))
        .await
        .unwrap();
    eprintln!(
        "expired member dropped {:?} after the cut",
        cut_at.elapsed()
    );
    assert_eq!(disco.instance_data("b").await.unwrap(), None);
    drop(disco);
    a.close().await.unwrap();
    watcher.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_latch_rejoins_when_its_node_is_deleted() {
    let node = TestNode::start().await;
    let admin = node.client().await;
    let mut l0 = LeaderLatch::new(node.client().await, "/election/del", "c0");
    let mut l1 = LeaderLatch::new(node.client().await, "/election/del", "c1");
    l0.start().await.unwrap();
    l1.start().await.unwrap();
    assert!(l0.await_leadership(WAIT).await);
    let old = l0.node().unwrap();
    admin.delete(&old, -1).await.unwrap();
    assert!(l1.await_leadership(WAIT).await, "c1 takes over");
    within("c0 rejoins behind c1", async {
        while l1.participants().await.unwrap() != ["c1", "c0"] {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(!l0.has_leadership());
    assert_ne!(l0.node().unwrap(), old);
    l1.close().await.unwrap();
    assert!(l0.await_leadership(WAIT).await);
    l0.close().await.unwrap();
    assert_eq!(children(&admin, "/election/del").await, 0);
    admin.close().await.unwrap();
}
