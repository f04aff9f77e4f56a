//! Makes COUNT emptied containers for the sweep benchmark (issue 15: a container sweep must not
//! stall writes): each `/sweep-load/cNNNNNNN` is created as a container with one child, then the
//! child is deleted, so every container is due for deletion at the leader's next sweep.
//!
//! ```text
//! cargo run --release -p paddock-client --example emptied_containers -- HOST:PORT [COUNT]
//! ```
//!
//! COUNT defaults to 100,000; creates and deletes go in multi batches of 500. Prints how long
//! it took. The server deletes the containers itself (`znode.container.checkIntervalMs`,
//! `znode.container.maxPerMinute`); `/sweep-load` is a plain persistent node left behind.

use std::time::{Duration, Instant};

use paddock_client::{Client, ClientOptions, CreateMode, MultiOp};

const ROOT: &str = "/sweep-load";
const BATCH: u64 = 500;

fn container(i: u64) -> String {
    format!("{ROOT}/c{i:07}")
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(server) = args.first().cloned() else {
        eprintln!("usage: emptied_containers HOST:PORT [COUNT]");
        std::process::exit(2);
    };
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let opts = ClientOptions::default()
        .session_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(60));
    let c = match Client::connect(&server, opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("emptied_containers: cannot connect to {server}: {e}");
            std::process::exit(2);
        }
    };
    let t = Instant::now();
    if c.exists(ROOT).await.ok().flatten().is_none() {
        if let Err(e) = c.create(ROOT, "", CreateMode::Persistent).await {
            eprintln!("emptied_containers: create {ROOT}: {e}");
            std::process::exit(1);
        }
    }
    for start in (0..count).step_by(BATCH as usize) {
        let ops = (start..(start + BATCH).min(count))
            .flat_map(|i| {
                [
                    MultiOp::Create {
                        path: container(i),
                        data: "".into(),
                        mode: CreateMode::Container,
                        acl: paddock_client::Acl::open(),
                    },
                    MultiOp::Create {
                        path: format!("{}/x", container(i)),
                        data: "".into(),
                        mode: CreateMode::Persistent,
                        acl: paddock_client::Acl::open(),
                    },
                ]
            })
            .collect();
        if let Err(e) = c.multi(ops).await {
            eprintln!("emptied_containers: creating batch at {start}: {e}");
            std::process::exit(1);
        }
    }
    for start in (0..count).step_by(BATCH as usize) {
        let ops = (start..(start + BATCH).min(count))
            .map(|i| MultiOp::Delete {
                path: format!("{}/x", container(i)),
                version: -1,
            })
            .collect();
        if let Err(e) = c.multi(ops).await {
            eprintln!("emptied_containers: emptying batch at {start}: {e}");
            std::process::exit(1);
        }
    }
    println!(
        "{count} emptied containers under {ROOT} in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let _ = c.close().await;
}
