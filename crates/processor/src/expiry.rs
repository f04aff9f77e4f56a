//! The serving leader's timed work. Session liveness: only the serving leader expires global
//! sessions (a CloseSession transaction per silent session, rounded up to ZooKeeper's expiry
//! buckets of tickTime); learners report the sessions they hear from and the leader refreshes
//! them. A local session (`local.rs`) is expired by its own server alone, in any serving role,
//! with no transaction. The
//! container / TTL sweep: only the serving leader deletes empty containers and expired TTL
//! nodes (a conditional `DeleteContainer` transaction each; see `sweep.rs`).

use std::sync::atomic::Ordering;

use paddock_datatree::Reapable;
use paddock_types::{ErrorCode, SessionId, TxnOp};

use crate::api::SessionEvent;
use crate::processor::Processor;
use crate::role::ServingRole;
use crate::session::Scope;
use crate::shared::{lock, Reply, Shared};

impl Shared {
    /// Closes every session that has been silent for its timeout: global ones on the serving
    /// leader only, local ones on their server (whatever its serving role).
    pub(crate) fn expire_sessions(&self) {
        let role = self.role();
        if role == ServingRole::NotServing
            || (role != ServingRole::Leader && !self.cfg.local_sessions_active())
        {
            // Nothing this server may expire (a learner without local sessions).
            return;
        }
        let now = self.now_ms();
        let tick = u64::from(self.cfg.tick_ms);
        // The sessions due, in id order: the table is a hash map, and the order of the expiry
        // transactions must not depend on its per-process hash seed (a simulation's seed
        // replays the same zxids only if it does not).
        let mut due: Vec<_> = self
            .sessions
            .all()
            .into_iter()
            .filter(|s| now >= s.expires_at_ms(tick))
            .collect();
        due.sort_by_key(|s| s.id.0);
        for s in due {
            if s.is_local() {
                self.expire_local(&s);
                continue;
            }
            if role != ServingRole::Leader {
                continue;
            }
            let mut g = s.lock();
            if g.closing.is_some() {
                continue;
            }
            g.closing = Some(ErrorCode::SessionExpired);
            tracing::info!(session = %s.id, timeout_ms = s.timeout_ms(), "session expired");
            if let Err(e) = self.submit_txn(s.id, 0, TxnOp::CloseSession, Vec::new(), Reply::None) {
                // Tried again next tick (the server may be read-only for now).
                g.closing = None;
                tracing::warn!(session = %s.id, error = %e, "could not queue the expiry");
            }
        }
    }

    /// Plans one sweep of empty containers and expired TTL nodes (the serving leader only;
    /// every `znode.container.checkIntervalMs`): reads only the tree's two indexes, under its
    /// read lock, and returns the deletions to submit, recorded as in flight. The caller
    /// submits them paced over the interval ([`Shared::submit_sweep`]), as ZooKeeper's
    /// `ContainerManager` spaces its deletions, so a large sweep does not arrive at the log as
    /// one burst in front of client writes.
    pub(crate) fn plan_sweep(&self) -> Vec<Reapable> {
        let mut sweeper = lock(&self.sweeper);
        if self.role() != ServingRole::Leader {
            sweeper.clear();
            return Vec::new();
        }
        let budget = self.cfg.sweep_budget();
        let candidates = self
            .read_tree()
            .sweep_candidates(self.wall_ms() as i64, sweeper.wanted(budget));
        sweeper.plan(candidates, budget, self.now_ms())
    }

    /// Submits one paced chunk of a planned sweep. False once this server is no longer the
    /// serving leader: the rest of the sweep is dropped (forgotten, so the next leader's or
    /// the next sweep's plan takes it up).
    pub(crate) fn submit_sweep(&self, chunk: &[Reapable]) -> bool {
        let mut sweeper = lock(&self.sweeper);
        if self.role() != ServingRole::Leader {
            sweeper.clear();
            return false;
        }
        for node in chunk {
            tracing::info!(path = %node.path, "deleting an empty container / expired TTL node");
            let op = node.txn_op();
            if let Err(e) = self.submit_txn(SessionId::NONE, 0, op, Vec::new(), Reply::None) {
                sweeper.forget(&node.path);
                tracing::warn!(path = %node.path, error = %e, "could not queue the deletion");
            }
        }
        true
    }

    /// A CloseSession transaction was applied, or a local session closed or expired: the
    /// session is gone. Called with neither the tree nor a session locked.
    pub(crate) fn finish_close(&self, session: SessionId) {
        let Some(s) = self.sessions.remove(session) else {
            return;
        };
        if s.is_local() {
            // No CloseSession applied to drop its watches: dropped here, before the client
            // hears of the close (under the read lock: the watch table has its own).
            self.read_tree().remove_watcher(session);
        }
        let mut g = s.lock();
        let code = g.closing.unwrap_or(ErrorCode::SessionExpired);
        if let Some(c) = g.conn.take() {
            let _ = c.tx.send(SessionEvent::Closed(code));
        }
        g.queue.clear();
        g.parked.clear();
        drop(g);
        tracing::info!(session = %session, reason = code.name(), local = s.is_local(), "session closed");
    }
}

impl Processor {
    /// Learner side: the sessions heard from since the last call (reported to the leader,
    /// which alone decides expiry).
    pub fn take_touched_sessions(&self) -> Vec<SessionId> {
        let sh = &self.shared;
        let now = sh.now_ms();
        let since = sh.last_report_ms.swap(now, Ordering::SeqCst);
        let mut touched: Vec<SessionId> = sh
            .sessions
            .all()
            .iter()
            // The leader never heard of a local session (an upgrading one it may have).
            .filter(|s| s.scope() != Scope::Local)
            .filter(|s| s.last_seen_ms.load(Ordering::Relaxed) >= since)
            .map(|s| s.id)
            .collect();
        // In id order, not the hash map's: the report is a message, the same on every replay.
        touched.sort_unstable_by_key(|id| id.0);
        touched
    }

    /// Leader side: a learner heard from these sessions.
    pub fn touch_sessions(&self, ids: &[SessionId]) {
        let sh = &self.shared;
        let now = sh.now_ms();
        for id in ids {
            if let Some(s) = sh.sessions.get(*id) {
                s.touch(now);
            }
        }
    }
}
