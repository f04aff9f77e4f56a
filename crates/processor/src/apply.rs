//! Applying what the ensemble committed: one transaction at a time in zxid order (fire the
//! watches, keep the session table in step, answer the request this server waits on for it),
//! or a whole state at once from a snapshot.
//!
//! Rules:
//! - nothing is answered before it committed: the peer calls `apply_committed` only for
//!   committed, quorum-logged transactions, in zxid order;
//! - watch events are queued while the tree's write lock is held, so no read sees the new data
//!   before the event is queued on the watcher's ordered channel;
//! - a session's answers leave in request order: its writes reach the leader in order
//!   (`TxnSink::submit` is FIFO) and commit in that order; reads wait behind them in its queue
//!   and are executed right after the write ahead of them, before the next transaction applies.

use std::sync::Arc;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_types::{ErrorCode, SessionId, Txn, TxnHeader, TxnOp, Zxid, PASSWORD_LEN};

use crate::api::SessionEvent;
use crate::error::RestoreError;
use crate::processor::Processor;
use crate::session::{Scope, Session};
use crate::shared::lock;

impl Processor {
    /// Applies the committed transaction `zxid` (called by the quorum peer, in zxid order):
    /// fires watches, keeps the session table in step, and answers the request this server is
    /// waiting on for it, if any.
    pub fn apply_committed(&self, zxid: Zxid, data: &Bytes) {
        self.apply_committed_batch(&[(zxid, data.clone())]);
    }

    /// [`Processor::apply_committed`] for consecutive commits (a group commit's worth), under
    /// one hold of the tree's write lock. Each transaction is applied, and its waiting request
    /// answered (releasing the reads queued behind it, executed against the tree as it is
    /// then), before the next one applies.
    pub fn apply_committed_batch(&self, batch: &[(Zxid, Bytes)]) {
        let sh = &self.shared;
        let mut closed = Vec::new();
        {
            let mut tree = sh.write_tree();
            for (zxid, data) in batch {
                if let Some(session) = self.apply_one(&mut tree, *zxid, data) {
                    closed.push(session);
                }
            }
            sh.set_applied_zxid(tree.last_zxid());
            sh.maybe_snapshot(&tree, batch.len() as u64);
        }
        for session in closed {
            sh.finish_close(session);
        }
    }

    /// Whether every transaction the tree holds is known to be committed. The quorum peer says
    /// `false` before it applies logged records that no quorum may have (rebuilding the tree
    /// at start, a role's catch-up with its own log, a truncation's rebuild) and `true` once it
    /// serves (a leader whose history a quorum acknowledged, a learner synced with its leader).
    /// Periodic snapshots are held while `false`: a snapshot of a record that was never
    /// committed could not be rolled back by the leader's TRUNC. A processor starts confirmed
    /// (a peer that replays says otherwise before it does).
    pub fn set_history_confirmed(&self, confirmed: bool) {
        lock(&self.shared.snap).set_history_confirmed(confirmed);
    }

    /// Applies one transaction under the held write lock; returns the session it closed, if
    /// it was a CloseSession.
    fn apply_one(&self, tree: &mut DataTree, zxid: Zxid, data: &Bytes) -> Option<SessionId> {
        let sh = &self.shared;
        let txn = match Txn::decode_at(data, zxid) {
            Ok(t) => t,
            Err(e) => {
                // Every replica decodes the same bytes the same way, so all skip it alike.
                tracing::error!(%zxid, error = %e, "committed record cannot be decoded; applied as a no-op");
                Txn {
                    header: TxnHeader {
                        session: SessionId(0),
                        cxid: 0,
                        zxid,
                        time_ms: 0,
                        conn_ids: Vec::new(),
                        legacy_sequence: false,
                    },
                    op: TxnOp::Sync { path: "/".into() },
                }
            }
        };
        let session = txn.header.session;
        let mut closed = false;
        {
            let applied = tree.apply(&txn);
            for (watcher, ev) in applied.events {
                if let Some(s) = sh.sessions.get(watcher) {
                    s.lock().deliver_event(SessionEvent::Watch(ev));
                }
            }
            match &txn.op {
                TxnOp::CreateSession {
                    timeout_ms,
                    password,
                } if applied.result.is_ok() => match sh.sessions.get(session) {
                    None => sh.sessions.insert(Arc::new(Session::new(
                        session,
                        *timeout_ms,
                        *password,
                        sh.now_ms(),
                    ))),
                    // This server's local session, upgraded (`local.rs`): global from now on.
                    Some(s) if s.is_local() => {
                        s.set_scope(Scope::Global);
                        s.touch(sh.now_ms());
                        tracing::info!(session = %session, "local session upgraded to a global session");
                    }
                    Some(_) => {}
                },
                TxnOp::CloseSession => {
                    closed = true;
                    // A client's close carries its xid; an expiry (the leader's) carries 0. The
                    // servers other than the client's learn which it was only from this.
                    if txn.header.cxid != 0 {
                        if let Some(s) = sh.sessions.get(session) {
                            s.lock().closing.get_or_insert(ErrorCode::Ok);
                        }
                    }
                }
                TxnOp::MoveSession { owner } | TxnOp::ResumeSession { owner, .. } => {
                    if let Some(s) = sh.sessions.get(session) {
                        if let TxnOp::ResumeSession { timeout_ms, .. } = &txn.op {
                            s.set_timeout_ms(*timeout_ms);
                        }
                        // The client is alive: its expiry clock restarts (ZooKeeper's leader
                        // touches a session it revalidates).
                        s.touch(sh.now_ms());
                        if *owner != sh.cfg.server_id.0 {
                            // The client resumed on another server: this connection is stale.
                            let mut g = s.lock();
                            if let Some(c) = g.conn.take() {
                                let _ = c.tx.send(SessionEvent::Closed(ErrorCode::SessionMoved));
                                tracing::debug!(session = %session, owner, "session moved to another server");
                            }
                            g.queue.clear();
                        }
                    }
                    if *owner == sh.cfg.server_id.0 {
                        // A resume here waits for this: it checks the session once attached.
                        let waiter = lock(&sh.resuming).remove(&(session, txn.header.cxid));
                        if let Some(tx) = waiter {
                            let _ = tx.send(());
                        }
                    }
                }
                _ => {}
            }
            match &txn.op {
                TxnOp::CreateSession { .. } => {
                    let waiter = lock(&sh.creating).remove(&session);
                    if let Some(tx) = waiter {
                        let _ = tx.send(applied.result);
                    }
                }
                // Answered through `resuming` above, never a request of the session's queue.
                TxnOp::MoveSession { .. } | TxnOp::ResumeSession { .. } => {}
                _ => {
                    if let Some(s) = sh.sessions.get(session) {
                        let mut g = s.lock();
                        if let Some(id) = g.queue.write_id_for_xid(txn.header.cxid) {
                            let released = g.queue.complete(id, applied.result);
                            sh.deliver(session, &mut g, zxid, released, Some(tree));
                            // A local session's close waited behind this write: it was just
                            // answered, so the session goes (`local.rs`).
                            if s.scope() == Scope::Local && g.closing.is_some() && g.queue.is_idle()
                            {
                                closed = true;
                            }
                        }
                    }
                }
            }
        }
        closed.then_some(session)
    }

    /// Replaces the whole state with a serialized snapshot taken at `zxid` (empty bytes at
    /// `Zxid::ZERO`: the empty tree). The session table follows the tree.
    pub fn restore(&self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError> {
        let sh = &self.shared;
        let tree = if data.is_empty() && zxid == Zxid::ZERO {
            DataTree::new()
        } else {
            let mut reader: &[u8] = data;
            let t = DataTree::read_snapshot(&mut reader)?;
            if t.last_zxid() != zxid {
                return Err(RestoreError::WrongZxid {
                    expected: zxid,
                    found: t.last_zxid(),
                });
            }
            t
        };
        let live: std::collections::HashMap<SessionId, (i32, [u8; PASSWORD_LEN])> = tree
            .sessions()
            .into_iter()
            .map(|(id, info)| (id, (info.timeout_ms, info.password)))
            .collect();
        let mut guard = sh.write_tree();
        *guard = tree;
        sh.set_applied_zxid(guard.last_zxid());
        drop(guard);
        let now = sh.now_ms();
        for s in sh.sessions.all() {
            if s.is_local() {
                // Not in any snapshot unless its upgrade committed.
                if live.contains_key(&s.id) {
                    s.set_scope(Scope::Global);
                }
                continue;
            }
            if !live.contains_key(&s.id) {
                if let Some(gone) = sh.sessions.remove(s.id) {
                    if let Some(c) = gone.lock().conn.take() {
                        let _ = c.tx.send(SessionEvent::Closed(ErrorCode::SessionExpired));
                    }
                }
            }
        }
        for (id, (timeout_ms, password)) in live {
            if sh.sessions.get(id).is_none() {
                sh.sessions
                    .insert(Arc::new(Session::new(id, timeout_ms, password, now)));
            }
        }
        Ok(())
    }

    /// The whole tree, serialized as a snapshot file is (for a SNAP sync).
    pub fn snapshot_bytes(&self) -> Bytes {
        let frozen = self.shared.read_tree().snapshot();
        let mut buf = Vec::new();
        if let Err(e) = frozen.write_to(&mut buf) {
            tracing::error!(error = %e, "cannot serialize the tree");
        }
        Bytes::from(buf)
    }

    /// The last committed zxid applied to the tree.
    pub fn last_applied(&self) -> Zxid {
        self.shared.read_tree().last_zxid()
    }
}
