//! The tree cache recipe (Curator's CuratorCache) on a persistent recursive watch, against an
//! in-process server: it loads a subtree, follows concurrent writers, and catches up after its
//! session resumes on a server that lost its watches.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use paddock_client::recipes::tree_cache::{CacheEvent, TreeCache};
use paddock_client::{Client, CreateMode, ErrorCode, SessionState};
use support::*;

/// The server's subtree at `root`: path -> data.
async fn server_tree(c: &Client, root: &str) -> BTreeMap<String, Bytes> {
    let mut out = BTreeMap::new();
    let mut queue = vec![root.to_string()];
    while let Some(p) = queue.pop() {
        let Ok((data, _)) = c.get_data(&p).await else {
            continue;
        };
        let Ok((kids, _)) = c.get_children(&p).await else {
            continue;
        };
        out.insert(p.clone(), data.into_bytes());
        queue.extend(kids.iter().map(|k| format!("{p}/{k}")));
    }
    out
}

fn cached(cache: &TreeCache) -> BTreeMap<String, Bytes> {
    cache
        .snapshot()
        .into_iter()
        .map(|(p, (d, _))| (p, d))
        .collect()
}

/// Waits until the cache equals the server's subtree.
async fn converges(cache: &TreeCache, c: &Client, root: &str) {
    c.sync(root).await.expect("sync");
    let want = server_tree(c, root).await;
    let start = tokio::time::Instant::now();
    while cached(cache) != want {
        assert!(
            start.elapsed() < WAIT,
            "the cache did not converge:\n cache  {:?}\n server {want:?}",
            cached(cache)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_loads_a_subtree_and_follows_concurrent_writers() {
    let node = TestNode::start().await;
    let c = node.client().await;
    for p in ["/app", "/app/a", "/app/a/x", "/app/b", "/other"] {
        c.create(p, p.as_bytes().to_vec(), CreateMode::Persistent)
            .await
            .unwrap();
    }
    let cache = TreeCache::start(node.client().await, "/app").await.unwrap();
    let mut events = cache.events();
    assert_eq!(cache.len(), 4);
    assert_eq!(cache.children("/app"), vec!["a", "b"]);
    assert_eq!(cache.get("/app/a/x").unwrap().0.as_ref(), b"/app/a/x");
    assert!(cache.get("/other").is_none());

    // Four writers creating, changing and deleting under /app at once.
    let mut writers = Vec::new();
    for w in 0..4u32 {
        let c = node.client().await;
        writers.push(tokio::spawn(async move {
            for i in 0..25u32 {
                let p = format!("/app/a/w{w}-{}", i % 5);
                match c
                    .create(&p, format!("{i}").into_bytes(), CreateMode::Persistent)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.code() == ErrorCode::NodeExists => {
                        if i % 3 == 0 {
                            c.delete(&p, -1).await.unwrap();
                        } else {
                            c.set_data(&p, format!("{i}").into_bytes(), -1)
                                .await
                                .unwrap();
                        }
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    c.delete("/app/a/x", -1).await.unwrap();
    converges(&cache, &c, "/app").await;
    // The events describe what happened, in order: a Deleted for /app/a/x is among them.
    let mut saw_delete = false;
    while let Ok(e) = events.try_recv() {
        saw_delete |= e == CacheEvent::Deleted("/app/a/x".into());
    }
    assert!(saw_delete);
    // Deleting the root empties the cache; re-creating it fills it again.
    c.delete("/app/b", -1).await.unwrap();
    for p in server_tree(&c, "/app/a").await.keys().rev() {
        c.delete(p, -1).await.unwrap();
    }
    c.delete("/app", -1).await.unwrap();
    converges(&cache, &c, "/app").await;
    assert!(cache.is_empty());
    c.create("/app", "back", CreateMode::Persistent)
        .await
        .unwrap();
    converges(&cache, &c, "/app").await;
    assert_eq!(cache.len(), 1);
    cache.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_catches_up_after_a_resume_elsewhere() {
    let mut node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let watcher = connect(&proxy.addr.to_string(), opts()).await;
    watcher
        .create("/svc", "", CreateMode::Persistent)
        .await
        .unwrap();
    watcher
        .create("/svc/old", "1", CreateMode::Persistent)
        .await
        .unwrap();
    let cache = TreeCache::start(watcher.clone(), "/svc").await.unwrap();
    assert_eq!(cache.len(), 2);
    let mut states = watcher.state_events();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    node.restart().await;
    let other = node.client().await;
    other
        .create("/svc/new", "2", CreateMode::Persistent)
        .await
        .unwrap();
    other.set_data("/svc/old", "changed", -1).await.unwrap();
    proxy.retarget(node.addr);
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;
    converges(&cache, &other, "/svc").await;
    assert_eq!(cache.get("/svc/old").unwrap().0.as_ref(), b"changed");
    // And it follows live changes again.
    other.delete("/svc/new", -1).await.unwrap();
    converges(&cache, &other, "/svc").await;
    assert_eq!(cache.len(), 2);
}
