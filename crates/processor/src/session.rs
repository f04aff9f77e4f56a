//! The session table: each live session's connection, ordering queue and liveness.
//!
//! Lock order (never taken the other way round): tree write lock -> a session's mutex; a session's
//! mutex -> tree read lock only while applying (`apply_committed`), the only holder of the write lock.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use paddock_types::{ErrorCode, Id, SessionId, WatchedEvent, Zxid, PASSWORD_LEN};
use tokio::sync::mpsc::UnboundedSender;

use crate::api::{ConnId, SessionEvent};
use crate::queue::SessionQueue;

/// Undelivered watch events kept for a session between two connections.
pub(crate) const MAX_PARKED_EVENTS: usize = 10_000;

/// Watch events already handed to a connection, kept so a resume can resend the ones the client
/// never saw (a stream can die with events in flight before the server notices).
pub(crate) const MAX_RECENT_EVENTS: usize = 256;

/// A connection currently attached to a session.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub tx: UnboundedSender<SessionEvent>,
    /// The client's address (for `cons`).
    pub peer: String,
    /// The ids this connection proves (`ip:`, `x509:`), for ACL checks.
    pub ids: Arc<[Id]>,
    /// Requests received on this connection (`cons`: `recved`).
    pub received: u64,
    /// Answers and events handed to it (`cons`: `sent`).
    pub sent: u64,
}

impl Conn {
    /// A connection with nothing received or sent yet (`sent`: what was handed to `tx` already).
    pub fn new(
        id: ConnId,
        tx: UnboundedSender<SessionEvent>,
        peer: String,
        ids: Arc<[Id]>,
        sent: u64,
    ) -> Conn {
        Conn {
            id,
            tx,
            peer,
            ids,
            received: 0,
            sent,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct SessionInner {
    /// The attached connection, if any.
    pub conn: Option<Conn>,
    /// Requests waiting for their turn (FIFO order).
    pub queue: SessionQueue,
    /// Watch events that fired while no connection was attached.
    pub parked: Vec<SessionEvent>,
    /// The last watch events handed to a connection (at most [`MAX_RECENT_EVENTS`]).
    pub recent: VecDeque<WatchedEvent>,
    /// Set once a CloseSession (client close or expiry) is under way: `Ok` for a client close,
    /// `SessionExpired` for expiry. Further requests are refused.
    pub closing: Option<ErrorCode>,
    /// A local session's `addAuth` ids (it has no row in the replicated state to keep them in):
    /// added to its connection's ids for every ACL check and transaction, and written to the
    /// replicated state when the session is upgraded.
    pub local_auth: Vec<Id>,
}

/// Who knows of a session: ZooKeeper's global and local sessions (`localSessionsEnabled`).
///
/// ```text
///  Global     in the replicated state: created and closed by transactions, expired by the leader
///  Local      known to this server only: no transaction to create or close it, expired here,
///             SessionExpired anywhere else; its writes still go through the leader
///  Upgrading  a local session whose CreateSession (first ephemeral create) went to the
///             ensemble and has not applied here yet: its requests go through the ensemble as a
///             global session's, but this server still expires it; Global once it applies
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Global,
    Local,
    Upgrading,
}

impl Scope {
    fn to_u8(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Local => 1,
            Scope::Upgrading => 2,
        }
    }

    fn from_u8(v: u8) -> Scope {
        match v {
            1 => Scope::Local,
            2 => Scope::Upgrading,
            _ => Scope::Global,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Session {
    pub id: SessionId,
    /// The negotiated timeout; a resume renegotiates it (`TxnOp::ResumeSession`).
    timeout_ms: AtomicI32,
    pub password: [u8; PASSWORD_LEN],
    /// Milliseconds since the server's clock origin when the session was last heard from.
    pub last_seen_ms: AtomicU64,
    /// [`Scope`], as a byte.
    scope: AtomicU8,
    pub inner: Mutex<SessionInner>,
}

impl Session {
    pub fn new(
        id: SessionId,
        timeout_ms: i32,
        password: [u8; PASSWORD_LEN],
        now_ms: u64,
    ) -> Session {
        Session {
            id,
            timeout_ms: AtomicI32::new(timeout_ms),
            password,
            last_seen_ms: AtomicU64::new(now_ms),
            scope: AtomicU8::new(Scope::Global.to_u8()),
            inner: Mutex::new(SessionInner::default()),
        }
    }

    /// A session known only to this server ([`Scope::Local`]).
    pub fn new_local(
        id: SessionId,
        timeout_ms: i32,
        password: [u8; PASSWORD_LEN],
        now_ms: u64,
    ) -> Session {
        let s = Session::new(id, timeout_ms, password, now_ms);
        s.set_scope(Scope::Local);
        s
    }

    pub fn scope(&self) -> Scope {
        Scope::from_u8(self.scope.load(Ordering::SeqCst))
    }

    pub fn set_scope(&self, scope: Scope) {
        self.scope.store(scope.to_u8(), Ordering::SeqCst);
    }

    /// Whether only this server tracks the session (`Local` or `Upgrading`): it alone expires
    /// it, and the replicated state may not know it.
    pub fn is_local(&self) -> bool {
        self.scope() != Scope::Global
    }

    pub fn lock(&self) -> MutexGuard<'_, SessionInner> {
        // A poisoned session mutex means a panic while holding it; the data is plain state that
        // stays consistent enough to keep serving, so recover the guard.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn timeout_ms(&self) -> i32 {
        self.timeout_ms.load(Ordering::Relaxed)
    }

    pub fn set_timeout_ms(&self, timeout_ms: i32) {
        self.timeout_ms.store(timeout_ms, Ordering::Relaxed);
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// When the session expires if nothing more is heard: last seen + timeout, rounded up to the
    /// next tick (ZooKeeper's expiry buckets).
    pub fn expires_at_ms(&self, tick_ms: u64) -> u64 {
        let t = self.last_seen_ms.load(Ordering::Relaxed) + self.timeout_ms().max(0) as u64;
        let tick = tick_ms.max(1);
        t.div_ceil(tick) * tick
    }
}

impl SessionInner {
    /// Sends a watch event to the attached connection, or parks it.
    pub fn deliver_event(&mut self, ev: SessionEvent) {
        if let Some(c) = &mut self.conn {
            if c.tx.send(ev.clone()).is_ok() {
                c.sent += 1;
                if let SessionEvent::Watch(w) = ev {
                    if self.recent.len() == MAX_RECENT_EVENTS {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(w);
                }
                return;
            }
            self.conn = None;
        }
        if self.parked.len() < MAX_PARKED_EVENTS {
            self.parked.push(ev);
        } else {
            tracing::warn!(
                "dropping a watch event: too many undelivered events for a detached session"
            );
        }
    }

    /// Events a new connection must get first: those handed to an earlier connection with a zxid
    /// above what the client has seen (lost with that connection), then the parked ones.
    pub fn take_replay(&mut self, last_zxid_seen: Zxid) -> Vec<SessionEvent> {
        let mut out: Vec<SessionEvent> = self
            .recent
            .drain(..)
            .filter(|w| w.zxid > last_zxid_seen)
            .map(SessionEvent::Watch)
            .collect();
        out.append(&mut self.parked);
        out
    }

    /// Sends an answer to `conn` if it is still the attached connection (answers to requests of
    /// an older connection are dropped: that client has moved on).
    pub fn deliver_answer(&mut self, conn: ConnId, ev: SessionEvent) {
        if let Some(c) = &mut self.conn {
            if c.id == conn {
                if c.tx.send(ev).is_ok() {
                    c.sent += 1;
                } else {
                    self.conn = None;
                }
            }
        }
    }
}

/// A hash map keyed by ids this server hands out (sessions), hashed with fixed keys: its
/// iteration order depends only on what was inserted and removed, never on a per-process
/// random seed. Walks over it decide the order of work — connections dropped, waiters woken,
/// expiries submitted — and a simulation's seed replays exactly only if that order does.
/// Safe from hash flooding: clients can look ids up, but only the server inserts them.
pub(crate) type IdMap<K, V> =
    HashMap<K, V, std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>>;

/// All live sessions of this server.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    map: RwLock<IdMap<SessionId, Arc<Session>>>,
}

impl SessionTable {
    pub fn get(&self, id: SessionId) -> Option<Arc<Session>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn insert(&self, s: Arc<Session>) {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.id, s);
    }

    pub fn remove(&self, id: SessionId) -> Option<Arc<Session>> {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_rounded_up_to_the_next_tick() {
        let s = Session::new(SessionId(1), 4000, [0; 16], 1234);
        assert_eq!(s.expires_at_ms(2000), 6000); // 5234 -> next tick boundary
        s.touch(1000); // older touches never move the time back
        assert_eq!(s.expires_at_ms(2000), 6000);
        s.touch(6000);
        assert_eq!(s.expires_at_ms(2000), 10000);
    }

    #[test]
    fn events_park_while_detached() {
        let s = Session::new(SessionId(1), 4000, [0; 16], 0);
        let mut g = s.lock();
        g.deliver_event(SessionEvent::Closed(ErrorCode::Ok));
        assert_eq!(g.parked.len(), 1);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        g.conn = Some(Conn::new(ConnId(7), tx, String::new(), Arc::from([]), 0));
        g.deliver_answer(ConnId(6), SessionEvent::Closed(ErrorCode::Ok));
        assert!(
            rx.try_recv().is_err(),
            "answers for an old connection are dropped"
        );
        g.deliver_answer(ConnId(7), SessionEvent::Closed(ErrorCode::Ok));
        assert!(rx.try_recv().is_ok());
        g.deliver_event(SessionEvent::Closed(ErrorCode::Ok));
        assert_eq!(
            g.conn.as_ref().map(|c| c.sent),
            Some(2),
            "only what reached this connection counts as sent"
        );
    }
}
