//! The standalone server: shared state, the [`Backend`] implementation, session expiry and
//! snapshots. The pipeline itself is assembled in [`crate::pipeline::standalone`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use paddock_datatree::DataTree;
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{ErrorCode, Request, Response, SessionId, TxnOp, ZkError, Zxid, PASSWORD_LEN};
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, oneshot};

use crate::api::{
    Backend, ConnId, ConnectRequest, Connected, ConnectionInfo, SessionEvent, Status,
};
use crate::config::ProcessorConfig;
use crate::prep::{self, Prep};
use crate::queue::{Pending, PendingKind};
use crate::session::{Conn, Session, SessionInner, SessionTable};
use crate::stages::{Origin, Reply};

/// Counters for status and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub received: AtomicU64,
    /// Answers sent.
    pub answered: AtomicU64,
    /// fsync'd batches written by the sync stage.
    pub batches: AtomicU64,
    /// Snapshots written.
    pub snapshots: AtomicU64,
    /// Time from `submit` to the answer being queued for the connection.
    pub latency: Latency,
}

impl Stats {
    /// One answer sent for a request submitted at `at`: counts it and its latency.
    pub(crate) fn record_answer(&self, at: Instant) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        self.latency.record(at.elapsed());
    }
}

/// Request latency (ZooKeeper's `Latency min/avg/max`), lock-free: four relaxed atomics in
/// microseconds, reported in milliseconds like ZooKeeper.
#[derive(Debug)]
pub struct Latency {
    min_us: AtomicU64,
    max_us: AtomicU64,
    total_us: AtomicU64,
    count: AtomicU64,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Latency {
    /// Adds one sample.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.min_us.fetch_min(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, total, max, count) in microseconds; min is 0 before the first sample.
    pub fn snapshot_us(&self) -> (u64, u64, u64, u64) {
        let count = self.count.load(Ordering::Relaxed);
        let min = match self.min_us.load(Ordering::Relaxed) {
            u64::MAX => 0,
            m => m,
        };
        (
            min,
            self.total_us.load(Ordering::Relaxed),
            self.max_us.load(Ordering::Relaxed),
            count,
        )
    }
}

#[derive(Debug)]
struct SnapState {
    since: u64,
    threshold: u64,
    running: Arc<AtomicBool>,
    rng: rand::rngs::StdRng,
}

/// State shared by the server's entry points and its stage threads.
pub(crate) struct Shared {
    pub cfg: ProcessorConfig,
    tree: RwLock<DataTree>,
    pub sessions: SessionTable,
    /// `None` once stopped (shutdown or storage failure).
    prep: Mutex<Option<Prep>>,
    pub log: Arc<dyn TxnLog>,
    snaps: Arc<dyn SnapshotStore>,
    pub stats: Stats,
    serving: AtomicBool,
    /// Standalone: why writes are refused (the log failed: a full disk, an I/O error), until
    /// the sync stage has recovered it. Read and written under the prep lock where it decides
    /// a submission.
    refusal: Mutex<Option<String>>,
    /// Whether writes are taken now (`false` while `refusal` is set), for health reporting.
    writable: tokio::sync::watch::Sender<bool>,
    /// Mirror of the tree's last zxid, readable without the tree lock.
    applied: AtomicU64,
    next_id: AtomicU64,
    next_session: AtomicI64,
    clock_origin: tokio::time::Instant,
    snap: Mutex<SnapState>,
    /// `Some` on an ensemble server: writes go to the ensemble instead of the local pipeline.
    pub(crate) replication: Option<crate::replicated::Replication>,
}

impl Shared {
    pub fn read_tree(&self) -> RwLockReadGuard<'_, DataTree> {
        self.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write_tree(&self) -> RwLockWriteGuard<'_, DataTree> {
        self.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    fn prep(&self) -> MutexGuard<'_, Option<Prep>> {
        self.prep.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last applied zxid, without taking the tree lock.
    pub fn applied_zxid(&self) -> Zxid {
        Zxid(self.applied.load(Ordering::Acquire))
    }

    pub fn set_applied_zxid(&self, z: Zxid) {
        self.applied.store(z.0, Ordering::Release);
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.clock_origin.elapsed().as_millis() as u64
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The log failed (a full disk, an I/O error): writes are refused with `NotReadOnly`
    /// until [`Shared::resume_writes`]; reads and open sessions go on.
    pub fn refuse_writes(&self, why: &str) {
        let _prep = self.prep();
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
        self.writable.send_replace(false);
    }

    /// The log recovered: the next zxid follows what it holds (the refused writes' zxids were
    /// never durable nor answered as done), and writes are taken again. `drain` refuses what
    /// is still queued for the sync stage, under the prep lock, so nothing queued with an old
    /// zxid reaches the log.
    pub(crate) fn resume_writes(&self, drain: impl FnOnce()) {
        let mut prep = self.prep();
        if let Some(p) = prep.as_mut() {
            p.restart_after(self.log.last_logged_zxid());
        }
        drain();
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.writable.send_replace(true);
        tracing::info!("the txn log took writes again: this server is read-write");
    }

    /// Why writes are refused now, if they are.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    pub(crate) fn set_serving(&self, on: bool) {
        self.serving.store(on, Ordering::SeqCst);
    }

    /// Queues a transaction; `Err` if the pipeline is stopped.
    pub(crate) fn submit_txn(
        &self,
        session: SessionId,
        cxid: i64,
        op: TxnOp,
        reply: Reply,
    ) -> Result<(), ZkError> {
        if let Some(r) = &self.replication {
            return r.submit(self, session, cxid, op, reply);
        }
        let mut prep = self.prep();
        let Some(p) = prep.as_mut() else {
            return Err(not_serving());
        };
        if let Some(why) = self.refusal() {
            return Err(read_only(&why));
        }
        p.submit_txn(session, cxid, op, Origin { reply })
            .map(|_| ())
            .map_err(|_| not_serving())
    }

    /// The session's answer for a request that did not go through the pipeline, in FIFO order.
    fn answer_in_order(
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
            // session (the final stage takes them the other way round).
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

    /// A CloseSession transaction was applied: the session is gone.
    pub fn finish_close(&self, session: SessionId) {
        let Some(s) = self.sessions.remove(session) else {
            return;
        };
        let mut g = s.lock();
        let code = g.closing.unwrap_or(ErrorCode::SessionExpired);
        if let Some(c) = g.conn.take() {
            let _ = c.tx.send(SessionEvent::Closed(code));
        }
        g.queue.clear();
        g.parked.clear();
        tracing::info!(session = %session, reason = code.name(), "session closed");
    }

    /// Closes every session that has been silent for its timeout.
    fn expire_sessions(&self) {
        if self
            .replication
            .as_ref()
            .is_some_and(|r| !r.decides_expiry())
        {
            return; // in an ensemble only the serving leader expires sessions
        }
        let now = self.now_ms();
        let tick = u64::from(self.cfg.tick_ms);
        for s in self.sessions.all() {
            if now < s.expires_at_ms(tick) {
                continue;
            }
            let mut g = s.lock();
            if g.closing.is_some() {
                continue;
            }
            g.closing = Some(ErrorCode::SessionExpired);
            tracing::info!(session = %s.id, timeout_ms = s.timeout_ms, "session expired");
            if let Err(e) = self.submit_txn(s.id, 0, TxnOp::CloseSession, Reply::None) {
                // Tried again next tick (the disk may be full for now).
                g.closing = None;
                tracing::warn!(session = %s.id, error = %e, "could not queue the expiry");
            }
        }
    }

    /// Called by the final stage with the tree write-locked after applying `applied` txns:
    /// starts a snapshot in the background when due (one at a time).
    pub fn maybe_snapshot(&self, tree: &DataTree, applied: u64) {
        let mut st = self.snap.lock().unwrap_or_else(|e| e.into_inner());
        st.since += applied;
        if st.since < st.threshold || st.running.load(Ordering::SeqCst) {
            return;
        }
        st.since = 0;
        let half = (self.cfg.snap_count / 2).max(1);
        st.threshold = half + st.rng.random_range(0..=half);
        st.running.store(true, Ordering::SeqCst);
        let running = st.running.clone();
        let frozen = tree.snapshot();
        let snaps = self.snaps.clone();
        let log = self.log.clone();
        let keep = self.cfg.snap_retain_count.max(1);
        let spawned = std::thread::Builder::new()
            .name("paddock-snapshot".into())
            .spawn(move || {
                let zxid = frozen.last_zxid();
                let started = std::time::Instant::now();
                let result = (|| -> Result<(), String> {
                    let mut sink = snaps.create(zxid).map_err(|e| e.to_string())?;
                    frozen.write_to(&mut sink).map_err(|e| e.to_string())?;
                    sink.commit().map_err(|e| e.to_string())?;
                    snaps.purge(keep).map_err(|e| e.to_string())?;
                    let kept = snaps.list().map_err(|e| e.to_string())?;
                    if let Some(oldest) = kept.first() {
                        log.purge_through(*oldest).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })();
                match result {
                    Ok(()) => tracing::info!(zxid = %zxid, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot written"),
                    Err(e) => tracing::warn!(zxid = %zxid, error = %e, "snapshot failed"),
                }
                running.store(false, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the snapshot thread");
            st.running.store(false, Ordering::SeqCst);
        } else {
            self.stats.snapshots.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The answer to a write while the log cannot take writes (ZooKeeper's code for a write sent to
/// a read-only server). The write was not applied.
pub(crate) fn read_only(why: &str) -> ZkError {
    ZkError::new(
        ErrorCode::NotReadOnly,
        format!(
            "this server is read-only for now: its txn log cannot take writes ({why}); the \
             write was not applied, and writes resume by themselves once the disk recovers"
        ),
    )
}

pub(crate) fn not_serving() -> ZkError {
    ZkError::new(
        ErrorCode::ConnectionLoss,
        "This ZooKeeper instance is not currently serving requests",
    )
}

/// A running standalone server.
pub struct Server {
    pub(crate) shared: Arc<Shared>,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    pub(crate) ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Server {
    pub(crate) fn new_shared(
        cfg: ProcessorConfig,
        tree: DataTree,
        log: Arc<dyn TxnLog>,
        snaps: Arc<dyn SnapshotStore>,
        sync_tx: Option<std::sync::mpsc::Sender<crate::stages::SyncItem>>,
        replication: Option<crate::replicated::Replication>,
    ) -> Arc<Shared> {
        let clock_origin = tokio::time::Instant::now();
        let last = tree.last_zxid().max(log.last_logged_zxid());
        let sessions = SessionTable::default();
        for (id, info) in tree.sessions() {
            // Restored sessions get a full timeout from now, as ZooKeeper does on load.
            sessions.insert(Arc::new(Session::new(
                id,
                info.timeout_ms,
                info.password,
                0,
            )));
        }
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let first_prep = last.max(Zxid::new(cfg.epoch, 0));
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let half = (cfg.snap_count / 2).max(1);
        let threshold = half + rng.random_range(0..=half);
        Arc::new(Shared {
            next_session: AtomicI64::new(SessionId::initial(cfg.server_id, wall_ms).0),
            cfg,
            tree: RwLock::new(tree),
            sessions,
            prep: Mutex::new(sync_tx.map(|tx| Prep::new(first_prep, tx))),
            log,
            snaps,
            stats: Stats::default(),
            // An ensemble server serves once its peer is synced with a leader.
            serving: AtomicBool::new(replication.is_none()),
            refusal: Mutex::new(None),
            writable: tokio::sync::watch::channel(true).0,
            applied: AtomicU64::new(last.0),
            next_id: AtomicU64::new(1),
            clock_origin,
            snap: Mutex::new(SnapState {
                since: 0,
                threshold,
                running: Arc::new(AtomicBool::new(false)),
                rng,
            }),
            replication,
        })
    }

    /// Starts the session-expiry ticker (needs a tokio runtime).
    pub(crate) fn start_ticker(&self) {
        let weak = Arc::downgrade(&self.shared);
        let tick = Duration::from_millis(u64::from(self.shared.cfg.tick_ms.max(1)));
        let handle = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                shared.expire_sessions();
            }
        });
        *self.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// What the server looks like now.
    pub fn status(&self) -> Status {
        let sh = &self.shared;
        let (mut outstanding, mut connections) = (0, 0);
        for s in sh.sessions.all() {
            let g = s.lock();
            outstanding += g.queue.len();
            connections += usize::from(g.conn.is_some());
        }
        let (latency_min_us, latency_total_us, latency_max_us, latency_count) =
            sh.stats.latency.snapshot_us();
        let tree = sh.read_tree();
        let ephemerals_count = tree
            .sessions()
            .iter()
            .map(|(id, _)| tree.ephemerals(*id).len())
            .sum();
        let watches = tree.watches_list();
        let watching_sessions = watches
            .iter()
            .map(|(w, _, _)| w.0)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let watched_paths = watches
            .iter()
            .map(|(_, p, _)| p.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        Status {
            watching_sessions,
            watched_paths,
            connections,
            ephemerals_count,
            latency_min_us,
            latency_total_us,
            latency_max_us,
            latency_count,
            serving: sh.serving.load(Ordering::SeqCst),
            writes_refused: sh.refusal(),
            last_zxid: tree.last_zxid(),
            node_count: tree.node_count(),
            watch_count: tree.watch_count(),
            session_count: sh.sessions.len(),
            approximate_data_size: tree.approximate_data_size(),
            outstanding,
            received: sh.stats.received.load(Ordering::Relaxed),
            answered: sh.stats.answered.load(Ordering::Relaxed),
        }
    }

    /// Every attached connection, by session id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut out: Vec<ConnectionInfo> = self
            .shared
            .sessions
            .all()
            .iter()
            .filter_map(|s| {
                let g = s.lock();
                let conn = g.conn.as_ref()?;
                Some(ConnectionInfo {
                    peer: conn.peer.clone(),
                    session: s.id,
                    timeout_ms: s.timeout_ms,
                    queued: g.queue.len(),
                    received: conn.received,
                    sent: conn.sent,
                })
            })
            .collect();
        out.sort_by_key(|c| c.session.0);
        out
    }

    /// Whether writes are taken (`false` while a standalone server's txn log cannot write);
    /// changes are seen by `changed()` on the receiver.
    pub fn watch_writable(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.writable.subscribe()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Digest of the tree (to compare replicas or a restart with the state before it).
    pub fn digest(&self) -> u64 {
        self.shared.read_tree().digest()
    }

    /// Stops taking requests, lets the pipeline drain (every queued write is logged, synced and
    /// answered), and waits for the stage threads. Sessions are not closed: they survive a restart
    /// and expire if their clients do not come back.
    pub async fn shutdown(&self) {
        self.shared.serving.store(false, Ordering::SeqCst);
        self.shared.prep().take();
        if let Some(t) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        // Drop every connection's channel without a `Closed`: the sessions are alive (they are
        // in the log and survive the restart), so the gateway ends the streams with UNAVAILABLE
        // and clients resume.
        for s in self.shared.sessions.all() {
            s.lock().conn = None;
        }
    }

    fn new_password(&self) -> [u8; PASSWORD_LEN] {
        let mut pw = [0u8; PASSWORD_LEN];
        rand::rng().fill(&mut pw);
        pw
    }

    /// Attaches a new connection to `s`: the old one (if any) is told `SessionMoved`, then the
    /// new one gets, before anything else, the events the client missed — those that fired here
    /// while it was away (see [`SessionInner::take_replay`]), then those of
    /// [`DataTree::set_watches`] for the watches it lists — and the session's later events.
    ///
    /// Runs under the tree read lock (taken before the session's mutex, the documented lock
    /// order): no transaction can apply between checking the listed watches, registering them and
    /// attaching the connection, so a change is either reported here or fires a watch afterwards,
    /// never neither. Returns the new connection, its receiver and the tree's last zxid.
    ///
    /// `confirm` (an ensemble resume, after the ensemble confirmed it): under the same locks,
    /// the session must still be in the tree with this password and not closing, else
    /// `SessionExpired` and nothing is attached (a close may have applied since the check).
    ///
    /// [`SessionInner::take_replay`]: crate::session::SessionInner::take_replay
    fn attach(
        &self,
        s: &Session,
        req: &ConnectRequest,
        confirm: Option<[u8; PASSWORD_LEN]>,
    ) -> Result<(ConnId, mpsc::UnboundedReceiver<SessionEvent>, Zxid), ZkError> {
        let tree = self.shared.read_tree();
        if let Some(password) = confirm {
            let live = tree.session(s.id).is_some_and(|i| i.password == password)
                && s.lock().closing.is_none();
            if !live {
                return Err(crate::replicated::expired(s.id));
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = ConnId(self.shared.next_id());
        let w = &req.set_watches;
        let fired = if w.is_empty() {
            Vec::new()
        } else {
            tree.set_watches(s.id, req.last_zxid_seen, &w.data, &w.exist, &w.child)
        };
        let mut g = s.lock();
        if let Some(old) = g.conn.take() {
            let _ = old.tx.send(SessionEvent::Closed(ErrorCode::SessionMoved));
        }
        let replay = g.take_replay(req.last_zxid_seen);
        for ev in &replay {
            if let SessionEvent::Watch(w) = ev {
                // Still unconfirmed: keep it for the next resume too.
                if g.recent.len() == crate::session::MAX_RECENT_EVENTS {
                    g.recent.pop_front();
                }
                g.recent.push_back(w.clone());
            }
        }
        // A watch that fired here while the client was away is both replayed and (its node having
        // changed) reported by set_watches: the client gets it once. Events of set_watches are
        // not kept in `recent`: a client that misses them still holds the watches and lists them
        // again on its next resume.
        let replayed = |e: &paddock_types::WatchedEvent| {
            replay.iter().any(|r| {
                matches!(r, SessionEvent::Watch(w) if w.path == e.path && w.event_type == e.event_type)
            })
        };
        let fired: Vec<SessionEvent> = fired
            .into_iter()
            .filter(|e| !replayed(e))
            .map(SessionEvent::Watch)
            .collect();
        if !fired.is_empty() {
            tracing::debug!(session = %s.id, events = fired.len(), "watches fired on resume");
        }
        let mut sent = 0;
        for ev in replay.into_iter().chain(fired) {
            sent += u64::from(tx.send(ev).is_ok());
        }
        g.conn = Some(Conn::new(conn, tx, req.peer.clone(), sent));
        s.touch(self.shared.now_ms());
        Ok((conn, rx, tree.last_zxid()))
    }
}

impl Backend for Server {
    async fn connect(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        if !sh.serving.load(Ordering::SeqCst) || !self.ensemble_may_serve() {
            return Err(not_serving());
        }
        if !sh.cfg.leader_serves && self.serving_role() == crate::ServingRole::Leader {
            return Err(ZkError::new(
                ErrorCode::ConnectionLoss,
                "this server leads the ensemble and leaderServes=no: connect to another server",
            ));
        }
        let last = sh.read_tree().last_zxid();
        if req.last_zxid_seen > last {
            return Err(ZkError::new(
                ErrorCode::ConnectionLoss,
                format!(
                    "refusing session: the client has seen zxid {} but this server's last zxid is {last}",
                    req.last_zxid_seen
                ),
            ));
        }
        match req.resume {
            Some((id, password)) => {
                let expired = || crate::replicated::expired(id);
                let s = sh.sessions.get(id).ok_or_else(expired)?;
                if s.password != password || s.lock().closing.is_some() {
                    return Err(expired());
                }
                // Ensemble: only once the leader ordered this resume and it applied here with
                // the session alive (ZooKeeper's REVALIDATE). No-op standalone.
                let confirm = self.revalidate(&s).await?;
                let (conn, events, zxid) = self.attach(&s, &req, confirm)?;
                tracing::debug!(session = %id, peer = %req.peer, "session resumed");
                Ok(Connected {
                    session: id,
                    password,
                    timeout_ms: s.timeout_ms,
                    conn,
                    events,
                    zxid,
                })
            }
            None => {
                let timeout_ms = sh.cfg.negotiate_timeout(req.timeout_ms);
                let id = SessionId(sh.next_session.fetch_add(1, Ordering::Relaxed));
                let password = self.new_password();
                let (tx, rx) = oneshot::channel();
                sh.submit_txn(
                    id,
                    0,
                    TxnOp::CreateSession {
                        timeout_ms,
                        password,
                    },
                    Reply::Oneshot(tx),
                )?;
                // Bounded: in an ensemble the commit may never come (the leader went away);
                // the role change then drops the waiter, and this bound covers the rest.
                let bound = Duration::from_millis(timeout_ms.max(1000) as u64);
                match tokio::time::timeout(bound, rx).await {
                    Ok(Ok(Ok(_))) => {}
                    Ok(Ok(Err(e))) => return Err(e),
                    Ok(Err(_)) | Err(_) => return Err(not_serving()),
                }
                // Applying the CreateSession put the session in the table (on every server of
                // an ensemble); standalone, it is added here.
                let s = match sh.sessions.get(id) {
                    Some(s) => s,
                    None => {
                        let s = Arc::new(Session::new(id, timeout_ms, password, sh.now_ms()));
                        sh.sessions.insert(s.clone());
                        s
                    }
                };
                let (conn, events, zxid) = self.attach(&s, &req, None)?;
                tracing::debug!(session = %id, timeout_ms, peer = %req.peer, "session created");
                Ok(Connected {
                    session: id,
                    password,
                    timeout_ms,
                    conn,
                    events,
                    zxid,
                })
            }
        }
    }

    fn submit(&self, session: SessionId, conn: ConnId, xid: i64, req: Request) {
        let sh = &self.shared;
        let at = Instant::now();
        sh.stats.received.fetch_add(1, Ordering::Relaxed);
        let Some(s) = sh.sessions.get(session) else {
            return;
        };
        s.touch(sh.now_ms());
        let mut g = s.lock();
        match g.conn.as_mut() {
            Some(c) if c.id == conn => c.received += 1,
            _ => return, // an old connection: it was told SessionMoved
        }
        if g.closing.is_some() {
            let err = ZkError::new(ErrorCode::SessionExpired, "the session is closing");
            sh.answer_in_order(&mut g, conn, xid, Err(err), at);
            return;
        }
        if g.queue.len() >= sh.cfg.max_inflight_per_session {
            let err = ZkError::new(
                ErrorCode::Throttled,
                format!(
                    "more than {} requests in flight on this session",
                    sh.cfg.max_inflight_per_session
                ),
            );
            sh.answer_in_order(&mut g, conn, xid, Err(err), at);
            return;
        }
        if let Err(refusal) = prep::check(&req, sh.cfg.max_data_bytes) {
            sh.answer_in_order(&mut g, conn, xid, refusal, at);
            return;
        }
        match req {
            Request::Exists { .. }
            | Request::GetData { .. }
            | Request::GetChildren { .. }
            | Request::Ping => {
                if !g.queue.is_idle() {
                    g.queue.push(Pending {
                        conn,
                        xid,
                        kind: PendingKind::Read(req),
                        at,
                    });
                    return;
                }
                let Some(tx) = g.conn.as_mut().map(|c| {
                    // Counted here, under the session lock: the answer is sent without it.
                    c.sent += 1;
                    c.tx.clone()
                }) else {
                    return;
                };
                drop(g);
                let tree = sh.read_tree();
                let zxid = tree.last_zxid();
                let result = crate::read::execute(&tree, session, req);
                sh.stats.record_answer(at);
                // Sent while the read lock is held: no write can apply (and fire a watch) between
                // reading and queueing the answer.
                let _ = tx.send(SessionEvent::Response { xid, zxid, result });
            }
            Request::Sync { path } => {
                let id = sh.next_id();
                g.queue.push(Pending {
                    conn,
                    xid,
                    kind: PendingKind::Write { id },
                    at,
                });
                let ok = if sh.replication.is_some() {
                    // Through the leader: answered when the no-op commits here, i.e. once this
                    // server has applied everything committed before it.
                    let op = TxnOp::Sync { path };
                    sh.submit_txn(session, xid, op, Reply::Queue { session, id })
                        .is_ok()
                } else {
                    let origin = Origin {
                        reply: Reply::Queue { session, id },
                    };
                    sh.prep()
                        .as_mut()
                        .map(|p| p.submit_barrier(path, origin).is_ok())
                        .unwrap_or(false)
                };
                if !ok {
                    let released = g.queue.complete(id, Err(not_serving()));
                    sh.deliver(session, &mut g, Zxid::ZERO, released, None);
                }
            }
            write => {
                if matches!(write, Request::CloseSession) {
                    g.closing = Some(ErrorCode::Ok);
                }
                let Some(op) = prep::txn_op(write) else {
                    return;
                };
                let id = sh.next_id();
                g.queue.push(Pending {
                    conn,
                    xid,
                    kind: PendingKind::Write { id },
                    at,
                });
                if let Err(e) = sh.submit_txn(session, xid, op, Reply::Queue { session, id }) {
                    let released = g.queue.complete(id, Err(e));
                    sh.deliver(session, &mut g, Zxid::ZERO, released, None);
                }
            }
        }
    }

    fn detach(&self, session: SessionId, conn: ConnId) {
        if let Some(s) = self.shared.sessions.get(session) {
            let mut g = s.lock();
            if g.conn.as_ref().map(|c| c.id) == Some(conn) {
                g.conn = None;
                tracing::debug!(session = %session, "connection detached; session lives until its timeout");
            }
        }
    }
}
