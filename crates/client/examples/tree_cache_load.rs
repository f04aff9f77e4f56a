//! A [`TreeCache`] of a big subtree under write load (issue 15's target: a cache of 100,000
//! znodes stays in sync under a 32-session write load).
//!
//! ```text
//! cargo run --release -p paddock-client --example tree_cache_load -- HOST:PORT [NODES [WRITERS [SECS]]]
//! ```
//!
//! Creates `/tree-cache-load` with NODES children (default 100,000; multi batches of 1,000),
//! starts a cache on it (reports the load time), runs WRITERS sessions (default 32) doing setData
//! on random children for SECS seconds (default 10), then reports the writes, the cache events and
//! how long after the last write the cache held exactly the server's data for every node (or the
//! mismatches left after 30 s). Deletes the subtree at the end. Exit status 1 if the cache did not
//! converge.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_client::recipes::tree_cache::TreeCache;
use paddock_client::{Client, ClientOptions, CreateMode, MultiOp};

const ROOT: &str = "/tree-cache-load";

fn child(i: u64) -> String {
    format!("{ROOT}/n{i:07}")
}

async fn connect(server: &str) -> Client {
    let opts = ClientOptions::default()
        .session_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(60));
    match Client::connect(server, opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tree_cache_load: cannot connect to {server}: {e}");
            std::process::exit(2);
        }
    }
}

/// Deletes the subtree (children in multi batches, then the root).
async fn delete_all(c: &Client, nodes: u64) {
    for start in (0..nodes).step_by(1000) {
        let ops = (start..(start + 1000).min(nodes))
            .map(|i| MultiOp::Delete {
                path: child(i),
                version: -1,
            })
            .collect();
        let _ = c.multi(ops).await;
    }
    let _ = c.delete(ROOT, -1).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(server) = args.first().cloned() else {
        eprintln!("usage: tree_cache_load HOST:PORT [NODES [WRITERS [SECS]]]");
        std::process::exit(2);
    };
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (nodes, writers, secs) = (arg(1, 100_000), arg(2, 32), arg(3, 10));

    let admin = connect(&server).await;
    if admin.exists(ROOT).await.ok().flatten().is_some() {
        eprintln!("{ROOT} exists: delete it first (deleteall {ROOT})");
        std::process::exit(2);
    }
    let t = Instant::now();
    admin
        .create(ROOT, "", CreateMode::Persistent)
        .await
        .expect("create the root");
    for start in (0..nodes).step_by(1000) {
        let ops = (start..(start + 1000).min(nodes))
            .map(|i| MultiOp::Create {
                path: child(i),
                data: "0".into(),
                mode: CreateMode::Persistent,
                acl: paddock_client::Acl::open(),
            })
            .collect();
        admin.multi(ops).await.expect("create children");
    }
    println!(
        "created {nodes} nodes in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let cache = TreeCache::start(connect(&server).await, ROOT)
        .await
        .expect("start the cache");
    let mut events = cache.events();
    println!(
        "cache loaded {} nodes in {:.1} s",
        cache.len(),
        t.elapsed().as_secs_f64()
    );
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while events.recv().await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let c = connect(&server).await;
        let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
        tasks.push(tokio::spawn(async move {
            let mut x = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                n += 1;
                let key = child(x % nodes);
                if c.set_data(&key, format!("{w}-{n}"), -1).await.is_ok() {
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
            c
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for t in tasks {
        if let Ok(c) = t.await {
            clients.push(c);
        }
    }
    let stopped = Instant::now();
    let writes = written.load(Ordering::Relaxed);
    println!(
        "{writers} writers: {writes} setData in {secs} s ({:.0}/s)",
        writes as f64 / secs as f64
    );

    // The server's data for every node, then wait until the cache holds exactly that.
    admin.sync(ROOT).await.expect("sync");
    let mut want = Vec::with_capacity(nodes as usize);
    for start in (0..nodes).step_by(1000) {
        let keys: Vec<String> = (start..(start + 1000).min(nodes)).map(child).collect();
        let reads = futures::future::join_all(keys.iter().map(|k| admin.get_data(k))).await;
        for r in reads {
            want.push(r.expect("getData").0.into_bytes());
        }
    }
    let mismatches = || {
        (0..nodes)
            .filter(|&i| cache.get(&child(i)).map(|(d, _)| d) != Some(want[i as usize].clone()))
            .count()
    };
    let mut left = mismatches();
    while left > 0 && stopped.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = mismatches();
    }
    println!(
        "cache events: {}; after the last write the cache {} ({:.2} s after the writers stopped, \
         reading the server's {nodes} values included)",
        seen.load(Ordering::Relaxed),
        if left == 0 {
            "matched the server for every node".to_string()
        } else {
            format!("still differed on {left} nodes")
        },
        stopped.elapsed().as_secs_f64()
    );
    cache.close().await;
    delete_all(&admin, nodes).await;
    for c in clients {
        let _ = c.close().await;
    }
    let _ = admin.close().await;
    if left > 0 {
        std::process::exit(1);
    }
}
