//! [`Shared`]: the state every entry point of the processor works on — the tree, the session
//! table, the way to the ensemble, the role, the counters — and the few steps they all share
//! (handing a transaction to the ensemble, delivering answers in each session's order).
//!
//! Lock order (never taken the other way round): tree write lock -> a session's mutex; a
//! session's mutex -> tree read lock only while applying (the only holder of the write lock
//! is `apply_committed`, called by one task in zxid order). Gateway threads never wait for the
//! tree while holding a session mutex: refusals report the applied zxid from an atomic.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{ErrorCode, Id, Response, SessionId, Txn, TxnHeader, TxnOp, ZkError, Zxid};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::sync::oneshot;

use crate::api::{ConnId, SessionEvent};
use crate::config::ProcessorConfig;
pub(crate) use crate::locks::lock;
use crate::queue::{Pending, PendingKind, Release};
use crate::readonly::ReadOnlyMode;
use crate::role::ServingRole;
use crate::session::{IdMap, SessionInner, SessionTable};
use crate::sink::TxnSink;
use crate::snapshot::SnapState;
use crate::stats::Stats;
use crate::sweep::Sweeper;

/// Who waits for a transaction's outcome.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A session's queued request (answered through its queue, matched at commit by the
    /// session and the request's xid).
    Queue,
    /// A session creation of this server (the caller waits on `creating`).
    Creating(oneshot::Sender<Result<Response, ZkError>>),
    /// Nobody (an expiry; a resume's move, matched through `resuming`).
    None,
}

/// The processor's state.
pub(crate) struct Shared {
    pub cfg: ProcessorConfig,
    tree: RwLock<DataTree>,
    pub sessions: SessionTable,
    /// Where transactions go to be ordered, logged on a quorum and committed.
    pub sink: Arc<dyn TxnSink>,
    /// The peer's log and snapshots: periodic snapshots are written here and the log purged.
    pub log: Arc<dyn TxnLog>,
    pub snaps: Arc<dyn SnapshotStore>,
    pub stats: Stats,
    /// [`ServingRole`], as a byte.
    role: AtomicU8,
    /// While read-only: why (the txn log cannot take writes).
    read_only: Mutex<Option<String>>,
    /// Read-only mode (`readonlymode.enabled`: cut off from the quorum), see `readonly/`.
    pub read_only_mode: ReadOnlyMode,
    /// Whether writes are taken now, for health reporting.
    pub writable: tokio::sync::watch::Sender<bool>,
    /// Session creations of this server waiting for their commit.
    pub creating: Mutex<IdMap<SessionId, oneshot::Sender<Result<Response, ZkError>>>>,
    /// Session resumes of this server waiting for their `MoveSession` to apply here, by
    /// (session, the move's cxid: a token unique on this server).
    pub resuming: Mutex<IdMap<(SessionId, i64), oneshot::Sender<()>>>,
    /// `now_ms` of the last liveness report (learners).
    pub last_report_ms: AtomicU64,
    /// Mirror of the tree's last zxid, readable without the tree lock.
    applied: AtomicU64,
    next_id: AtomicU64,
    pub next_session: AtomicI64,
    clock_origin: tokio::time::Instant,
    /// The wall clock at `clock_origin` in a deterministic run (`ProcessorConfig::deterministic`).
    wall_origin_ms: Option<u64>,
    /// Session passwords: seeded from the operating system, or from the deterministic seed.
    rng: Mutex<StdRng>,
    pub snap: Mutex<SnapState>,
    /// The container / TTL sweeper's deletions in flight (the leader's).
    pub sweeper: Mutex<Sweeper>,
}

impl Shared {
    pub fn new(
        cfg: ProcessorConfig,
        sink: Arc<dyn TxnSink>,
        log: Arc<dyn TxnLog>,
        snaps: Arc<dyn SnapshotStore>,
    ) -> Shared {
        let (rng, wall_origin_ms) = match cfg.deterministic {
            Some(d) => (StdRng::seed_from_u64(d.seed), Some(d.wall_origin_ms)),
            None => (StdRng::from_os_rng(), None),
        };
        let wall_ms = wall_origin_ms.unwrap_or_else(crate::checks::system_wall_ms);
        let snap = SnapState::new(&cfg);
        Shared {
            next_session: AtomicI64::new(SessionId::initial(cfg.server_id, wall_ms).0),
            cfg,
            tree: RwLock::new(DataTree::new()),
            sessions: SessionTable::default(),
            sink,
            log,
            snaps,
            stats: Stats::default(),
            role: AtomicU8::new(ServingRole::NotServing.to_u8()),
            read_only: Mutex::new(None),
            read_only_mode: ReadOnlyMode::default(),
            writable: tokio::sync::watch::channel(true).0,
            creating: Mutex::new(IdMap::default()),
            resuming: Mutex::new(IdMap::default()),
            last_report_ms: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            clock_origin: tokio::time::Instant::now(),
            wall_origin_ms,
            rng: Mutex::new(rng),
            snap: Mutex::new(snap),
            sweeper: Mutex::new(Sweeper::default()),
        }
    }

    pub fn read_tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_tree(&self) -> RwLockWriteGuard<'_, DataTree> {
        self.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The last applied zxid, without taking the tree lock.
    pub fn applied_zxid(&self) -> Zxid {
        Zxid(self.applied.load(Ordering::Acquire))
    }

    pub fn set_applied_zxid(&self, z: Zxid) {
        self.applied.store(z.0, Ordering::Release);
    }

    /// Milliseconds on the processor's clock (tokio's: tests may pause it).
    pub fn now_ms(&self) -> u64 {
        self.clock_origin.elapsed().as_millis() as u64
    }

    /// Wall-clock ms since the epoch: a transaction's time (ctime, mtime). In a deterministic
    /// run, the fixed origin plus the tokio clock.
    pub fn wall_ms(&self) -> u64 {
        match self.wall_origin_ms {
            Some(origin) => origin + self.now_ms(),
            None => crate::checks::system_wall_ms(),
        }
    }

    /// A new session's password: unpredictable in production (an OS-seeded CSPRNG).
    pub fn fill_password(&self, password: &mut [u8]) {
        lock(&self.rng).fill_bytes(password);
    }

    /// A number unique on this server (connection ids, request ids, resume tokens).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn role(&self) -> ServingRole {
        ServingRole::from_u8(self.role.load(Ordering::SeqCst))
    }

    /// Sets the role; returns the old one.
    pub fn swap_role(&self, role: ServingRole) -> ServingRole {
        ServingRole::from_u8(self.role.swap(role.to_u8(), Ordering::SeqCst))
    }

    /// Whether clients are served (sessions taken, reads answered): in every role but
    /// `NotServing`.
    pub fn is_serving(&self) -> bool {
        self.role() != ServingRole::NotServing
    }

    /// Why writes are refused now (read-only), if they are.
    pub fn read_only_reason(&self) -> Option<String> {
        lock(&self.read_only).clone()
    }

    pub fn set_read_only(&self, why: Option<String>) {
        *lock(&self.read_only) = why;
    }

    /// After applying `applied` transactions (the tree write-locked): a snapshot in the
    /// background when due.
    pub fn maybe_snapshot(&self, tree: &DataTree, applied: u64) {
        crate::snapshot::Snapshotting {
            state: &self.snap,
            cfg: &self.cfg,
            snaps: &self.snaps,
            log: &self.log,
            stats: &self.stats,
        }
        .maybe_snapshot(tree, applied);
    }

    /// Encodes a transaction of `session` (header zxid 0: the leader assigns it) and hands it to
    /// the ensemble. A session creation's caller then waits on `creating`; a request in a
    /// session queue is matched at commit by (session, cxid).
    pub fn submit_txn(
        &self,
        session: SessionId,
        cxid: i64,
        op: TxnOp,
        conn_ids: Vec<Id>,
        reply: Reply,
    ) -> Result<(), ZkError> {
        match self.role() {
            ServingRole::NotServing => return Err(not_serving()),
            ServingRole::ReadOnly if self.read_only_mode.is_active() => {
                return Err(crate::readonly::not_read_only());
            }
            ServingRole::ReadOnly => {
                let why = self
                    .read_only_reason()
                    .unwrap_or_else(|| "the txn log cannot take writes".to_string());
                return Err(read_only(&why));
            }
            ServingRole::Leader | ServingRole::Learner => {}
        }
        if let Reply::Creating(tx) = reply {
            lock(&self.creating).insert(session, tx);
        }
        let txn = Txn {
            header: TxnHeader {
                session,
                cxid,
                zxid: Zxid::ZERO,
                time_ms: self.wall_ms() as i64,
                conn_ids,
                legacy_sequence: false,
            },
            op,
        };
        if self.sink.submit(Bytes::from(txn.encode())) {
            Ok(())
        } else {
            lock(&self.creating).remove(&session);
            Err(not_serving())
        }
    }

    /// The session's answer for a request that did not go to the ensemble, in FIFO order.
    pub fn answer_in_order(
        &self,
        g: &mut SessionInner,
        conn: ConnId,
        xid: i64,
        result: Result<Response, ZkError>,
        at: Instant,
    ) {
        if g.queue.is_idle() {
            self.stats.record_answer(at);
            // Not the tree lock: a gateway thread must never wait for the tree while holding a
            // session (applying takes them the other way round).
            let zxid = self.applied_zxid();
            g.deliver_answer(conn, SessionEvent::Response { xid, zxid, result });
        } else {
            g.queue.push(Pending {
                conn,
                xid,
                kind: PendingKind::Done(result),
                at,
            });
        }
    }

    /// Sends released answers, executing released reads first. `tree`: the tree to execute
    /// them against when the caller holds it (applying); otherwise the read lock is taken.
    pub fn deliver(
        &self,
        session: SessionId,
        g: &mut SessionInner,
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
                Release::Read { conn, xid, req, at } => {
                    let ids = g
                        .conn
                        .as_ref()
                        .map(|c| c.ids.clone())
                        .unwrap_or_else(|| Arc::from([]));
                    match tree {
                        Some(t) => {
                            let result = crate::read::execute(
                                t,
                                &self.cfg.ensemble_config,
                                session,
                                &ids,
                                req,
                            );
                            (conn, xid, result, t.last_zxid(), at)
                        }
                        None => {
                            let t = self.read_tree();
                            let result = crate::read::execute(
                                &t,
                                &self.cfg.ensemble_config,
                                session,
                                &ids,
                                req,
                            );
                            (conn, xid, result, t.last_zxid(), at)
                        }
                    }
                }
            };
            self.stats.record_answer(at);
            g.deliver_answer(conn, SessionEvent::Response { xid, zxid, result });
        }
    }
}

/// The answer to a write while the server is read-only (its txn log cannot take writes: a full
/// disk): ZooKeeper's code for a write sent to a read-only server. The write was not applied.
pub(crate) fn read_only(why: &str) -> ZkError {
    ZkError::new(
        ErrorCode::NotReadOnly,
        format!(
            "this server is read-only for now: its txn log cannot take writes ({why}); the \
             write was not applied, and writes resume by themselves once the disk recovers"
        ),
    )
}

/// The answer while the server does not serve clients (electing, syncing, stopped).
pub(crate) fn not_serving() -> ZkError {
    ZkError::new(
        ErrorCode::ConnectionLoss,
        "This ZooKeeper instance is not currently serving requests",
    )
}

/// SessionExpired for `id`, as ZooKeeper words it.
pub(crate) fn expired(id: SessionId) -> ZkError {
    ZkError::new(
        ErrorCode::SessionExpired,
        format!("session {id} has expired or does not exist"),
    )
}
