//! The processor of an ensemble server (leader, follower or observer).
//!
//! ```text
//!  gateway ──submit──▶ checks ─┬─ read ──▶ answered from the local tree (FIFO per session as standalone)
//!                              └─ write / sync / session create+close
//!                                   ──▶ Txn (zxid 0) ──TxnSink──▶ the ensemble: the leader orders it
//!                                       (a follower forwards it), logs it on a quorum, commits
//!  the peer applies each commit ──▶ Server::apply_committed(zxid, bytes):
//!        apply under the tree write lock, fire watches, and if the txn came from one of this
//!        server's sessions, answer the waiting request (matched by session + cxid)
//! ```
//!
//! Rules:
//! - nothing is answered before it committed (the peer calls `apply_committed` only for
//!   committed, quorum-logged transactions, in zxid order);
//! - a session's answers leave in request order: its writes reach the leader in order
//!   (`TxnSink::submit` is FIFO) and commit in that order; reads wait behind them in the queue;
//! - `sync` is a no-op transaction through the leader: when it commits here, everything
//!   committed before it has been applied here (a linearizable read point);
//! - a session resume is answered only after the ensemble confirmed it: its `MoveSession`
//!   went through the leader and applied here with the session still alive (else
//!   SessionExpired; no commit in time or a role change: ConnectionLoss) — ZooKeeper's
//!   REVALIDATE, so a server that missed an expiry never hands out an expired session;
//! - a session connects only while [`TxnSink::may_serve`] (a leader's lease) holds;
//! - only the serving leader expires sessions; learners report the sessions they hear from
//!   ([`Server::take_touched_sessions`]) and the leader refreshes them
//!   ([`Server::touch_sessions`]);
//! - when the server stops serving (election, lost leader) every connection is dropped and
//!   every waiting request forgotten: clients see the stream end, resume elsewhere, and treat
//!   in-flight writes as of unknown outcome, as with ZooKeeper's ConnectionLoss.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{
    ErrorCode, Response, SessionId, Txn, TxnHeader, TxnOp, ZkError, Zxid, PASSWORD_LEN,
};
use tokio::sync::oneshot;

use crate::api::SessionEvent;
use crate::config::ProcessorConfig;
use crate::server::{not_serving, Server, Shared};
use crate::session::Session;
use crate::stages::Reply;

/// Where an ensemble server's transactions go to be ordered and committed (the quorum peer).
pub trait TxnSink: Send + Sync + 'static {
    /// Queues an encoded [`Txn`] (header zxid 0: the leader assigns it). Fire and forget, FIFO:
    /// transactions submitted one after the other commit in that order or not at all. The
    /// outcome arrives through [`Server::apply_committed`]. `false` if the ensemble side is gone.
    fn submit(&self, txn: Bytes) -> bool;

    /// Whether the ensemble side may serve clients at this instant. A leader does only while
    /// its lease holds (it heard from a quorum of voters within syncLimit); a paused or cut-off
    /// leader says `false` here before its role loop notices anything. Asked when a session
    /// connects (new or resumed): `false` refuses it with ConnectionLoss. Default: `true`.
    fn may_serve(&self) -> bool {
        true
    }
}

/// What an ensemble server is doing, as far as clients are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingRole {
    /// Electing or syncing: sessions are refused and connections dropped.
    NotServing,
    /// The serving leader: also expires sessions.
    Leader,
    /// A serving follower or observer.
    Learner,
}

impl ServingRole {
    fn to_u8(self) -> u8 {
        match self {
            ServingRole::NotServing => 0,
            ServingRole::Leader => 1,
            ServingRole::Learner => 2,
        }
    }

    fn from_u8(v: u8) -> ServingRole {
        match v {
            1 => ServingRole::Leader,
            2 => ServingRole::Learner,
            _ => ServingRole::NotServing,
        }
    }
}

/// The ensemble half of [`Shared`].
pub(crate) struct Replication {
    sink: Arc<dyn TxnSink>,
    role: AtomicU8,
    /// Session creations of this server waiting for their commit.
    creating: Mutex<HashMap<SessionId, oneshot::Sender<Result<Response, ZkError>>>>,
    /// Session resumes of this server waiting for their `MoveSession` to apply here, by
    /// (session, the move's cxid: a token unique on this server).
    resuming: Mutex<HashMap<(SessionId, i64), oneshot::Sender<()>>>,
    /// `now_ms` of the last liveness report (learners).
    last_report_ms: AtomicU64,
}

impl Replication {
    pub(crate) fn role(&self) -> ServingRole {
        ServingRole::from_u8(self.role.load(Ordering::SeqCst))
    }

    /// Only the serving leader decides that a session expired.
    pub(crate) fn decides_expiry(&self) -> bool {
        self.role() == ServingRole::Leader
    }

    fn creating(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SessionId, oneshot::Sender<Result<Response, ZkError>>>>
    {
        self.creating.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resuming(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(SessionId, i64), oneshot::Sender<()>>> {
        self.resuming.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encodes and hands a transaction to the ensemble. Requests waiting in a session queue are
    /// matched at commit by (session, cxid); a session creation's caller waits on `creating`.
    pub(crate) fn submit(
        &self,
        shared: &Shared,
        session: SessionId,
        cxid: i64,
        op: TxnOp,
        reply: Reply,
    ) -> Result<(), ZkError> {
        if self.role() == ServingRole::NotServing || !shared.is_serving() {
            return Err(not_serving());
        }
        if let Reply::Oneshot(tx) = reply {
            self.creating().insert(session, tx);
        }
        let txn = Txn {
            header: TxnHeader {
                session,
                cxid,
                zxid: Zxid::ZERO,
                time_ms: crate::prep::now_ms(),
            },
            op,
        };
        if self.sink.submit(Bytes::from(txn.encode())) {
            Ok(())
        } else {
            self.creating().remove(&session);
            Err(not_serving())
        }
    }
}

/// SessionExpired for a resume of `id`, as ZooKeeper words it.
pub(crate) fn expired(id: SessionId) -> ZkError {
    ZkError::new(
        ErrorCode::SessionExpired,
        format!("session {id} has expired or does not exist"),
    )
}

/// Starts the processor of an ensemble server. It holds an empty tree and does not serve until
/// [`Server::set_role`] says so; the quorum peer fills the tree ([`Server::restore`],
/// [`Server::apply_committed`]). `log` and `snaps` are the peer's: the server writes periodic
/// snapshots from its tree and purges the log behind them, as standalone. Needs a tokio runtime.
pub fn replicated(
    cfg: ProcessorConfig,
    sink: Arc<dyn TxnSink>,
    log: Arc<dyn TxnLog>,
    snaps: Arc<dyn SnapshotStore>,
) -> Arc<Server> {
    let replication = Replication {
        sink,
        role: AtomicU8::new(ServingRole::NotServing.to_u8()),
        creating: Mutex::new(HashMap::new()),
        resuming: Mutex::new(HashMap::new()),
        last_report_ms: AtomicU64::new(0),
    };
    let shared = Server::new_shared(cfg, DataTree::new(), log, snaps, None, Some(replication));
    let server = Arc::new(Server {
        shared,
        threads: Mutex::new(Vec::new()),
        ticker: Mutex::new(None),
    });
    server.start_ticker();
    server
}

impl Server {
    fn replication(&self) -> Option<&Replication> {
        self.shared.replication.as_ref()
    }

    /// Whether the ensemble side lets this server take a session now ([`TxnSink::may_serve`]:
    /// a leader's lease). Always standalone.
    pub(crate) fn ensemble_may_serve(&self) -> bool {
        self.replication().is_none_or(|r| r.sink.may_serve())
    }

    /// Ensemble: asks the ensemble whether the session `s` (found here, password checked) is
    /// still alive before a resume is answered, as ZooKeeper's REVALIDATE does. A
    /// `MoveSession { owner: this server }` goes through the leader; once it has applied here
    /// (so this server has applied everything committed before it, an expiry included) the
    /// caller attaches with the returned password, which makes [`Server::attach`] check under
    /// the tree lock that the session is still in the tree and not closing. Every other server
    /// drops its connection of the session (`SessionMoved`) when it applies the move.
    ///
    /// Bounded as a session creation: no commit within the session timeout (at least 1 s),
    /// or a role change meanwhile, is ConnectionLoss — the client tries elsewhere, where an
    /// expired session is refused. Standalone: `Ok(None)` at once (the server is the authority).
    pub(crate) async fn revalidate(
        &self,
        s: &Session,
    ) -> Result<Option<[u8; PASSWORD_LEN]>, ZkError> {
        let Some(r) = self.replication() else {
            return Ok(None);
        };
        let sh = &self.shared;
        // Negative: never a client's xid. Unique on this server, so two resumes of one session
        // racing here each wait for their own move.
        let token = -i64::try_from(sh.next_id()).unwrap_or(i64::MAX);
        let (tx, rx) = oneshot::channel();
        r.resuming().insert((s.id, token), tx);
        let op = TxnOp::MoveSession {
            owner: sh.cfg.server_id.0,
        };
        if let Err(e) = sh.submit_txn(s.id, token, op, Reply::None) {
            r.resuming().remove(&(s.id, token));
            return Err(e);
        }
        let bound =
            std::time::Duration::from_millis(u64::try_from(s.timeout_ms.max(1000)).unwrap_or(1000));
        let confirmed = tokio::time::timeout(bound, rx).await;
        r.resuming().remove(&(s.id, token));
        match confirmed {
            Ok(Ok(())) => Ok(Some(s.password)),
            Ok(Err(_)) => Err(not_serving()),
            Err(_) => {
                tracing::info!(session = %s.id, bound_ms = bound.as_millis() as u64, "the ensemble did not confirm a session resume in time");
                Err(ZkError::new(
                    ErrorCode::ConnectionLoss,
                    format!(
                        "the ensemble did not confirm session {} within {} ms: try another server",
                        s.id,
                        bound.as_millis()
                    ),
                ))
            }
        }
    }

    /// The role this (ensemble) server serves clients in; `NotServing` standalone.
    pub fn serving_role(&self) -> ServingRole {
        self.replication()
            .map(Replication::role)
            .unwrap_or(ServingRole::NotServing)
    }

    /// Switches what the server does for clients. Leaving a serving role (or changing it)
    /// drops every connection and forgets waiting requests; becoming leader restarts every
    /// session's timeout (as ZooKeeper does when a leader takes over). No-op standalone.
    pub fn set_role(&self, role: ServingRole) {
        let Some(r) = self.replication() else {
            return;
        };
        let sh = &self.shared;
        let old = ServingRole::from_u8(r.role.swap(role.to_u8(), Ordering::SeqCst));
        if old != ServingRole::NotServing {
            sh.set_serving(false);
            r.creating().clear();
            r.resuming().clear();
            for s in sh.sessions.all() {
                let mut g = s.lock();
                g.conn = None;
                g.queue.clear();
                // A CloseSession that did not commit yet may never: the next leader decides.
                g.closing = None;
            }
        }
        if role == ServingRole::Leader {
            let now = sh.now_ms();
            for s in sh.sessions.all() {
                s.touch(now);
            }
        }
        if role != ServingRole::NotServing {
            sh.set_serving(true);
        }
        tracing::info!(?old, new = ?role, "client service role changed");
    }

    /// Applies the committed transaction `zxid` (called by the quorum peer, in zxid order):
    /// fires watches, keeps the session table in step, and answers the request this server is
    /// waiting on for it, if any.
    pub fn apply_committed(&self, zxid: Zxid, data: &Bytes) {
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
                    },
                    op: TxnOp::Sync { path: "/".into() },
                }
            }
        };
        let session = txn.header.session;
        let mut closed = false;
        {
            let mut tree = sh.write_tree();
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
                } if applied.result.is_ok() && sh.sessions.get(session).is_none() => {
                    sh.sessions.insert(Arc::new(Session::new(
                        session,
                        *timeout_ms,
                        *password,
                        sh.now_ms(),
                    )));
                }
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
                TxnOp::MoveSession { owner } => {
                    if let Some(s) = sh.sessions.get(session) {
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
                        let waiter = self
                            .replication()
                            .and_then(|r| r.resuming().remove(&(session, txn.header.cxid)));
                        if let Some(tx) = waiter {
                            let _ = tx.send(());
                        }
                    }
                }
                _ => {}
            }
            match &txn.op {
                TxnOp::CreateSession { .. } => {
                    let waiter = self
                        .replication()
                        .and_then(|r| r.creating().remove(&session));
                    if let Some(tx) = waiter {
                        let _ = tx.send(applied.result);
                    }
                }
                // Answered through `resuming` above, never a request of the session's queue.
                TxnOp::MoveSession { .. } => {}
                _ => {
                    if let Some(s) = sh.sessions.get(session) {
                        let mut g = s.lock();
                        if let Some(id) = g.queue.write_id_for_xid(txn.header.cxid) {
                            let released = g.queue.complete(id, applied.result);
                            sh.deliver(session, &mut g, zxid, released, Some(&tree));
                        }
                    }
                }
            }
            sh.set_applied_zxid(tree.last_zxid());
            sh.maybe_snapshot(&tree, 1);
        }
        if closed {
            sh.finish_close(session);
        }
    }

    /// Replaces the whole state with a serialized snapshot taken at `zxid` (empty bytes at
    /// `Zxid::ZERO`: the empty tree). The session table follows the tree.
    pub fn restore(&self, zxid: Zxid, data: &Bytes) -> Result<(), String> {
        let sh = &self.shared;
        let tree = if data.is_empty() && zxid == Zxid::ZERO {
            DataTree::new()
        } else {
            let mut reader: &[u8] = data;
            let t = DataTree::read_snapshot(&mut reader).map_err(|e| e.to_string())?;
            if t.last_zxid() != zxid {
                return Err(format!(
                    "the snapshot for {zxid} holds the state at {}",
                    t.last_zxid()
                ));
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

    /// Learner side: the sessions heard from since the last call (reported to the leader,
    /// which alone decides expiry).
    pub fn take_touched_sessions(&self) -> Vec<SessionId> {
        let sh = &self.shared;
        let Some(r) = self.replication() else {
            return Vec::new();
        };
        let now = sh.now_ms();
        let since = r.last_report_ms.swap(now, Ordering::SeqCst);
        sh.sessions
            .all()
            .iter()
            .filter(|s| s.last_seen_ms.load(Ordering::Relaxed) >= since)
            .map(|s| s.id)
            .collect()
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
