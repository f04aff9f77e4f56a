//! Connecting a client: new sessions (a CreateSession transaction through the ensemble) and
//! resumes (with the ensemble's confirmation, ZooKeeper's REVALIDATE), and attaching the
//! connection with the events the client missed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use paddock_types::{ErrorCode, SessionId, SetWatches, TxnOp, ZkError, Zxid, PASSWORD_LEN};
use tokio::sync::{mpsc, oneshot};

use crate::api::{ConnId, ConnectRequest, Connected, SessionEvent};
use crate::processor::Processor;
use crate::role::ServingRole;
use crate::session::{Conn, Session};
use crate::shared::{expired, lock, not_serving, Reply};

impl Processor {
    /// [`crate::api::Backend::connect`].
    pub(crate) async fn connect_session(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        if sh.read_only_mode.is_active() {
            return self.connect_read_only(req).await;
        }
        if !sh.is_serving() || !sh.sink.may_serve() {
            return Err(not_serving());
        }
        if !sh.cfg.leader_serves && !sh.cfg.alone && sh.role() == ServingRole::Leader {
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
            Some((id, password)) => self.resume(id, password, req).await,
            None if sh.cfg.local_sessions_active() => self.create_local(req),
            None => self.create(req).await,
        }
    }

    async fn resume(
        &self,
        id: SessionId,
        password: [u8; PASSWORD_LEN],
        req: ConnectRequest,
    ) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        let s = sh.sessions.get(id).ok_or_else(|| expired(id))?;
        if s.password != password || s.lock().closing.is_some() {
            return Err(expired(id));
        }
        // ZooKeeper negotiates the timeout on every connect, a resume included.
        let timeout_ms = sh.cfg.negotiate_timeout(req.timeout_ms);
        // Only once the leader ordered this resume and it applied here with the session alive
        // (ZooKeeper's REVALIDATE). An ensemble of one is the authority itself, and logs the
        // resume only to keep a changed timeout. A session only this server tracks (local) has
        // no other authority: nothing is written, its timeout changes here.
        let confirm = if s.is_local() {
            s.set_timeout_ms(timeout_ms);
            None
        } else if sh.cfg.alone && timeout_ms == s.timeout_ms() {
            None
        } else {
            Some(self.revalidate(&s, timeout_ms).await?)
        };
        let (conn, events, zxid) = self.attach(&s, &req, confirm)?;
        tracing::debug!(session = %id, peer = %req.peer, timeout_ms, "session resumed");
        Ok(Connected {
            session: id,
            password,
            timeout_ms,
            conn,
            events,
            zxid,
            read_only: false,
        })
    }

    async fn create(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        let timeout_ms = sh.cfg.negotiate_timeout(req.timeout_ms);
        let id = SessionId(sh.next_session.fetch_add(1, Ordering::Relaxed));
        let mut password = [0u8; PASSWORD_LEN];
        sh.fill_password(&mut password);
        let (tx, rx) = oneshot::channel();
        let op = TxnOp::CreateSession {
            timeout_ms,
            password,
        };
        sh.submit_txn(id, 0, op, Vec::new(), Reply::Creating(tx))?;
        // Bounded: the commit may never come (the leader went away); the role change then drops
        // the waiter, and this bound covers the rest.
        let bound = Duration::from_millis(timeout_ms.max(1000) as u64);
        match tokio::time::timeout(bound, rx).await {
            Ok(Ok(Ok(_))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) | Err(_) => return Err(not_serving()),
        }
        // Applying the CreateSession put the session in the table.
        let s: Arc<Session> = sh.sessions.get(id).ok_or_else(not_serving)?;
        let (conn, events, zxid) = self.attach(&s, &req, None)?;
        tracing::debug!(session = %id, timeout_ms, peer = %req.peer, "session created");
        Ok(Connected {
            session: id,
            password,
            timeout_ms,
            conn,
            events,
            zxid,
            read_only: false,
        })
    }

    /// Asks the ensemble whether the session `s` (found here, password checked) is still alive
    /// before a resume is answered, as ZooKeeper's REVALIDATE does. A
    /// `ResumeSession { owner: this server, timeout_ms }` goes through the leader (and sets the
    /// renegotiated timeout on every replica); once it has applied here
    /// (so this server has applied everything committed before it, an expiry included) the
    /// caller attaches with the returned password, which makes [`Processor::attach`] check
    /// under the tree lock that the session is still in the tree and not closing. Every other
    /// server drops its connection of the session (`SessionMoved`) when it applies the move.
    ///
    /// Bounded as a session creation: no commit within the session timeout (at least 1 s),
    /// or a role change meanwhile, is ConnectionLoss — the client tries elsewhere, where an
    /// expired session is refused.
    async fn revalidate(
        &self,
        s: &Session,
        timeout_ms: i32,
    ) -> Result<[u8; PASSWORD_LEN], ZkError> {
        let sh = &self.shared;
        // Negative: never a client's xid. Unique on this server, so two resumes of one session
        // racing here each wait for their own move.
        let token = -i64::try_from(sh.next_id()).unwrap_or(i64::MAX);
        let (tx, rx) = oneshot::channel();
        lock(&sh.resuming).insert((s.id, token), tx);
        let op = TxnOp::ResumeSession {
            owner: sh.cfg.server_id.0,
            timeout_ms,
        };
        if let Err(e) = sh.submit_txn(s.id, token, op, Vec::new(), Reply::None) {
            lock(&sh.resuming).remove(&(s.id, token));
            return Err(e);
        }
        let bound = Duration::from_millis(u64::try_from(s.timeout_ms().max(1000)).unwrap_or(1000));
        let confirmed = tokio::time::timeout(bound, rx).await;
        lock(&sh.resuming).remove(&(s.id, token));
        match confirmed {
            Ok(Ok(())) => Ok(s.password),
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

    /// Attaches a new connection to `s`: the old one (if any) is told `SessionMoved`, then the
    /// new one gets, before anything else, the events the client missed — those that fired here
    /// while it was away (see `SessionInner::take_replay`), then those of
    /// `DataTree::set_watches` for the watches it lists — and the session's later events.
    ///
    /// Runs under the tree read lock (taken before the session's mutex, the documented lock
    /// order): no transaction can apply between checking the listed watches, registering them and
    /// attaching the connection, so a change is either reported here or fires a watch afterwards,
    /// never neither. Returns the new connection, its receiver and the tree's last zxid.
    ///
    /// `confirm` (a resume the ensemble confirmed): under the same locks, the session must
    /// still be in the tree with this password and not closing, else `SessionExpired` and
    /// nothing is attached (a close may have applied since the check).
    pub(crate) fn attach(
        &self,
        s: &Session,
        req: &ConnectRequest,
        confirm: Option<[u8; PASSWORD_LEN]>,
    ) -> Result<(ConnId, mpsc::UnboundedReceiver<SessionEvent>, Zxid), ZkError> {
        let sh = &self.shared;
        let tree = sh.read_tree();
        if let Some(password) = confirm {
            let live = tree.session(s.id).is_some_and(|i| i.password == password)
                && s.lock().closing.is_none();
            if !live {
                return Err(expired(s.id));
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = ConnId(sh.next_id());
        let mut g = s.lock();
        if let Some(old) = g.conn.take() {
            let _ = old.tx.send(SessionEvent::Closed(ErrorCode::SessionMoved));
        }
        let replay = g.take_replay(req.last_zxid_seen);
        // A listed one-shot watch whose event is in the replay fired here while the client was
        // away: it is spent (a one-shot watch fires once), so it is neither checked against the
        // node's later state (which would fire it a second time: NodeDeleted, then
        // NodeDataChanged for a node created again) nor set again. The tree's watch table is
        // a leaf lock: taking it under the session's mutex keeps the documented order.
        let w = unspent(&req.set_watches, &replay);
        let fired = if w.is_empty() {
            Vec::new()
        } else {
            let resumed = tree.set_watches(s.id, req.last_zxid_seen, &w);
            if resumed.missed {
                tracing::info!(
                    session = %s.id,
                    last_zxid_seen = %req.last_zxid_seen,
                    "persistent watches resumed; changes older than the server's recent history were not replayed"
                );
            }
            resumed.events
        };
        for ev in &replay {
            if let SessionEvent::Watch(w) = ev {
                // Still unconfirmed: keep it for the next resume too.
                if g.recent.len() == crate::session::MAX_RECENT_EVENTS {
                    g.recent.pop_front();
                }
                g.recent.push_back(w.clone());
            }
        }
        // A change a persistent watch matched while the client was away is both replayed and
        // reported by set_watches' replay of recent changes: the client gets it once. The same
        // change is the same (path, type, zxid): a node deleted before the cut and again
        // during it gives two NodeDeleted events, both delivered. Events of set_watches are not
        // kept in `recent`: a client that misses them still holds the watches and lists them
        // again on its next resume.
        let replayed = |e: &paddock_types::WatchedEvent| {
            replay.iter().any(|r| {
                matches!(r, SessionEvent::Watch(w)
                    if w.path == e.path && w.event_type == e.event_type && w.zxid == e.zxid)
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
        // What the old connection was handed comes first — except what set_watches found from
        // before the oldest of those (the session keeps only the last MAX_RECENT_EVENTS: a
        // long cut under load overflows it), which goes before, in zxid order. The rest of
        // set_watches' events follow in its own order (list order for one-shot watches).
        let first_kept = replay.iter().find_map(|ev| match ev {
            SessionEvent::Watch(w) => Some(w.zxid),
            _ => None,
        });
        let (mut before, after): (Vec<SessionEvent>, Vec<SessionEvent>) =
            fired.into_iter().partition(|ev| match (ev, first_kept) {
                (SessionEvent::Watch(w), Some(first)) => w.zxid < first,
                _ => false,
            });
        before.sort_by_key(|ev| match ev {
            SessionEvent::Watch(w) => w.zxid,
            _ => Zxid::ZERO,
        });
        let mut sent = 0;
        for ev in before.into_iter().chain(replay).chain(after) {
            sent += u64::from(tx.send(ev).is_ok());
        }
        let ids = std::sync::Arc::from(crate::local::with_local_auth(&req.conn_ids, &g.local_auth));
        g.conn = Some(Conn::new(conn, tx, req.peer.clone(), ids, sent));
        s.touch(sh.now_ms());
        Ok((conn, rx, tree.last_zxid()))
    }
}

/// The watches of `lists` that have not fired on this server since the client last saw it:
/// every persistent one, and each one-shot (data, exist, child) watch without an event of its
/// kind on its path in `replay` (the events that fired here while the client was away). Those
/// with one are spent.
fn unspent(lists: &SetWatches, replay: &[SessionEvent]) -> SetWatches {
    use paddock_types::EventType as E;
    let fired = |path: &str, kinds: &[E]| {
        replay.iter().any(|r| {
            matches!(r, SessionEvent::Watch(w) if w.path == path && kinds.contains(&w.event_type))
        })
    };
    let keep = |paths: &[String], kinds: &[E]| -> Vec<String> {
        paths.iter().filter(|p| !fired(p, kinds)).cloned().collect()
    };
    SetWatches {
        data: keep(&lists.data, &[E::NodeDataChanged, E::NodeDeleted]),
        exist: keep(&lists.exist, &[E::NodeCreated]),
        child: keep(&lists.child, &[E::NodeChildrenChanged, E::NodeDeleted]),
        persistent: lists.persistent.clone(),
        persistent_recursive: lists.persistent_recursive.clone(),
    }
}
