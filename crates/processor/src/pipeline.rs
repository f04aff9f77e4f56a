//! Pipeline assembly, one function per role (as ZooKeeper's `setupRequestProcessors`).
//!
//! Standalone: `Prep -> Sync -> Final`. The leader / follower / observer chains come with the
//! ensemble (crates/quorum) and reuse these stages.

use std::sync::{Arc, Mutex};

use paddock_datatree::DataTree;
use paddock_storage::{SnapshotStore, TxnLog};

use crate::config::ProcessorConfig;
use crate::server::Server;
use crate::stages::{run_final, run_sync};

/// Starts a standalone server over a recovered tree and its storage. Needs a tokio runtime
/// (for the session-expiry ticker); the sync and final stages run on their own threads.
pub fn standalone(
    cfg: ProcessorConfig,
    tree: DataTree,
    log: Arc<dyn TxnLog>,
    snaps: Arc<dyn SnapshotStore>,
) -> std::io::Result<Arc<Server>> {
    let (sync_tx, sync_rx) = std::sync::mpsc::channel();
    let (final_tx, final_rx) = std::sync::mpsc::channel();
    let shared = Server::new_shared(cfg, tree, log, snaps, Some(sync_tx), None);
    let s1 = shared.clone();
    let sync = std::thread::Builder::new()
        .name("paddock-sync".into())
        .spawn(move || run_sync(s1, sync_rx, final_tx))?;
    let s2 = shared.clone();
    let fin = std::thread::Builder::new()
        .name("paddock-final".into())
        .spawn(move || run_final(s2, final_rx))?;
    let server = Arc::new(Server {
        shared,
        threads: Mutex::new(vec![sync, fin]),
        ticker: Mutex::new(None),
    });
    server.start_ticker();
    Ok(server)
}
