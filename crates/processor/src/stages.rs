//! The standalone pipeline's stages after prep: sync (log + group commit) and final (apply, fire
//! watches, answer). Each runs on its own thread, connected by channels:
//!
//! ```text
//!  submit ──prep (zxid)──▶ [sync thread] append batch, one fsync ──▶ [final thread] apply batch
//!                                                                    fire watches, answer in order
//! ```
//!
//! Ordering rules: the sync stage forwards batches in the order it received them and only after
//! `TxnLog::sync` returned Ok (never acknowledge before durable); the final stage applies in zxid
//! order, queues watch events while holding the tree's write lock (so no reader sees the new data
//! before the event is queued), then releases each session's answers in FIFO order.
//!
//! A failed log write (a full disk, an I/O error) is not the end: the batch and everything
//! queued behind it are answered `NotReadOnly` without being applied, new writes are refused at
//! submit, and the sync stage retries `TxnLog::recover` with back-off until the log takes writes
//! again (it then holds exactly what was durable before the failure); reads and open sessions
//! go on meanwhile.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_types::{Response, SessionId, Txn, TxnOp, ZkError, Zxid};
use tokio::sync::oneshot;

use crate::api::SessionEvent;
use crate::queue::Release;
use crate::server::Shared;

/// Who is waiting for an item's outcome.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A session's queued request (answered through its queue).
    Queue { session: SessionId, id: u64 },
    /// A server-internal caller (session creation).
    Oneshot(oneshot::Sender<Result<Response, ZkError>>),
    /// Nobody (session expiry).
    None,
}

#[derive(Debug)]
pub(crate) struct Origin {
    pub reply: Reply,
}

/// What travels from prep to sync to final.
#[derive(Debug)]
pub(crate) enum SyncItem {
    Txn {
        txn: Txn,
        bytes: Bytes,
        origin: Origin,
    },
    Barrier {
        path: String,
        origin: Origin,
    },
}

/// The sync stage: group commit. Blocks for the first item, drains whatever else is queued (up to
/// `max_batch`), appends all of it, makes it durable with one `sync`, then forwards the batch.
/// A batch handed to the final stage. `durable == false` means the log write failed: the final
/// stage answers every item with an error and applies none of them.
#[derive(Debug)]
pub(crate) struct Batch {
    pub items: Vec<SyncItem>,
    pub durable: bool,
}

pub(crate) fn run_sync(shared: Arc<Shared>, rx: Receiver<SyncItem>, to_final: Sender<Batch>) {
    let max_batch = shared.cfg.max_batch.max(1);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let records: Vec<(Zxid, Bytes)> = batch
            .iter()
            .filter_map(|i| match i {
                SyncItem::Txn { txn, bytes, .. } => Some((txn.zxid(), bytes.clone())),
                SyncItem::Barrier { .. } => None,
            })
            .collect();
        if !records.is_empty() {
            let durable = shared.log.append(&records).and_then(|_| shared.log.sync());
            if let Err(e) = durable {
                tracing::error!(error = %e, "txn log write failed: this server is read-only until the log recovers");
                shared.refuse_writes(&e.to_string());
                let _ = to_final.send(Batch {
                    items: batch,
                    durable: false,
                });
                if !recover_log(&shared, &rx, &to_final) {
                    return;
                }
                continue;
            }
        }
        shared
            .stats
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if to_final
            .send(Batch {
                items: batch,
                durable: true,
            })
            .is_err()
        {
            return;
        }
    }
}

/// First wait between attempts to recover the log; doubled up to [`RECOVER_BACKOFF_MAX`].
const RECOVER_BACKOFF_FIRST: Duration = Duration::from_millis(100);
const RECOVER_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// After a failed write: refuses whatever reaches the stage, and retries `TxnLog::recover`
/// with back-off until it succeeds; then resumes writes. `false` when the pipeline is shutting
/// down (the channel closed) meanwhile.
fn recover_log(shared: &Shared, rx: &Receiver<SyncItem>, to_final: &Sender<Batch>) -> bool {
    let refuse = |item: SyncItem| {
        let _ = to_final.send(Batch {
            items: vec![item],
            durable: false,
        });
    };
    let mut wait = RECOVER_BACKOFF_FIRST;
    let mut attempts = 0u64;
    loop {
        // Items queued before the refusal was set: answered, never logged.
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(item) => refuse(item),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        attempts += 1;
        match shared.log.recover() {
            Ok(()) => {
                shared.resume_writes(|| {
                    while let Ok(item) = rx.try_recv() {
                        refuse(item);
                    }
                });
                return true;
            }
            Err(e) => {
                if attempts.is_power_of_two() {
                    tracing::warn!(error = %e, attempts, "the txn log still cannot take writes; retrying");
                }
                wait = (wait * 2).min(RECOVER_BACKOFF_MAX);
            }
        }
    }
}

fn fail_batch(shared: &Shared, batch: Vec<SyncItem>) {
    let why = shared
        .refusal()
        .unwrap_or_else(|| "the write could not be made durable".to_string());
    for item in batch {
        let origin = match item {
            SyncItem::Txn { origin, .. } | SyncItem::Barrier { origin, .. } => origin,
        };
        let err = crate::server::read_only(&why);
        shared.answer(origin, Zxid::ZERO, Err(err), None);
    }
}

/// The final stage: applies each batch under one write lock, then answers.
pub(crate) fn run_final(shared: Arc<Shared>, rx: Receiver<Batch>) {
    while let Ok(Batch {
        items: batch,
        durable,
    }) = rx.recv()
    {
        if !durable {
            fail_batch(&shared, batch);
            continue;
        }
        let applied_count = batch.len() as u64;
        let mut closed = Vec::new();
        {
            let mut tree = shared.write_tree();
            for item in batch {
                match item {
                    SyncItem::Txn { txn, origin, .. } => {
                        let applied = tree.apply(&txn);
                        for (watcher, ev) in applied.events {
                            if let Some(s) = shared.sessions.get(watcher) {
                                s.lock().deliver_event(SessionEvent::Watch(ev));
                            }
                        }
                        if matches!(txn.op, TxnOp::CloseSession) {
                            tree.remove_watcher(txn.header.session);
                            closed.push(txn.header.session);
                        }
                        // Answered before the next transaction applies: reads released behind
                        // this write must not see the session's own later writes.
                        shared.answer(origin, txn.zxid(), applied.result, Some(&tree));
                    }
                    SyncItem::Barrier { path, origin } => {
                        let zxid = tree.last_zxid();
                        shared.answer(origin, zxid, Ok(Response::Sync { path }), Some(&tree));
                    }
                }
            }
            shared.set_applied_zxid(tree.last_zxid());
            shared.maybe_snapshot(&tree, applied_count);
        }
        for session in closed {
            shared.finish_close(session);
        }
    }
}

impl Shared {
    /// Delivers an item's outcome to whoever waits for it, releasing what queued behind it.
    ///
    /// `tree` is the tree to execute released reads against when the caller already holds it
    /// (the final stage); otherwise the read lock is taken.
    pub(crate) fn answer(
        &self,
        origin: Origin,
        zxid: Zxid,
        result: Result<Response, ZkError>,
        tree: Option<&DataTree>,
    ) {
        match origin.reply {
            Reply::None => {}
            Reply::Oneshot(tx) => {
                let _ = tx.send(result);
            }
            Reply::Queue { session, id } => {
                let Some(s) = self.sessions.get(session) else {
                    return;
                };
                let mut g = s.lock();
                let released = g.queue.complete(id, result);
                self.deliver(session, &mut g, zxid, released, tree);
            }
        }
    }

    /// Sends released answers, executing released reads first.
    pub(crate) fn deliver(
        &self,
        session: SessionId,
        g: &mut crate::session::SessionInner,
        zxid: Zxid,
        released: Vec<Release>,
        tree: Option<&DataTree>,
    ) {
        for r in released {
            let (conn, xid, result, zxid, at) = match r {
                Release::Answer {
                    conn,
                    xid,
                    result,
                    at,
                } => (conn, xid, result, zxid, at),
                Release::Read { conn, xid, req, at } => match tree {
                    Some(t) => {
                        let result = crate::read::execute(t, session, req);
                        (conn, xid, result, t.last_zxid(), at)
                    }
                    None => {
                        let t = self.read_tree();
                        let result = crate::read::execute(&t, session, req);
                        (conn, xid, result, t.last_zxid(), at)
                    }
                },
            };
            self.stats.record_answer(at);
            g.deliver_answer(conn, SessionEvent::Response { xid, zxid, result });
        }
    }
}
