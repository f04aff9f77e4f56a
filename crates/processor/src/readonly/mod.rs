//! Read-only mode (ZooKeeper's `readonlymode.enabled`: its `ReadOnlyZooKeeperServer` and
//! `ReadOnlyRequestProcessor`): an ensemble member cut off from its quorum keeps serving reads
//! to the clients that allow it, from its own tree as it was when the quorum was lost.
//!
//! ```text
//!  NotServing ──enter_read_only_mode──▶ ReadOnly (cut off) ──set_role(anything)──▶ that role
//!     connect without read_only ─▶ refused (ConnectionLoss: the client tries another server)
//!     connect with read_only, new ─▶ a session of this server only (no transaction)
//!     connect with read_only, resume of a session this server knows ─▶ attached, unconfirmed
//!     reads, watches, AddAuth ─▶ served here      writes, sync ─▶ NOTREADONLY (-119)
//!     CloseSession ─▶ closed here (a session of this server only is forgotten)
//!  leaving: every connection is dropped (clients reconnect and get read-write sessions) and
//!           the sessions created read-only are forgotten (the ensemble never knew them)
//! ```
//!
//! This is not the `ReadOnly` of an ensemble of one whose txn log cannot write
//! ([`Processor::set_read_only`]): that one keeps its sessions and connections, refuses new
//! sessions and takes writes again by itself. Both share [`ServingRole::ReadOnly`]; this mode is
//! told apart by [`ReadOnlyMode::is_active`].
//!
//! Rules kept:
//! - nothing is written while read-only: no transaction leaves this server (`submit_txn`
//!   refuses), so the ensemble's history is untouched;
//! - sessions created read-only are never replicated and never outlive the mode;
//! - a session created read-only expires here after its timeout without a word from its client.

mod rules;

use std::sync::Arc;
use std::time::Instant;

use paddock_types::{ErrorCode, Request, Response, ZkError};

use crate::api::{ConnId, ConnectRequest, Connected, SessionEvent};
use crate::processor::Processor;
use crate::role::ServingRole;
use crate::session::{Session, SessionInner};
use crate::shared::{expired, Shared};
pub(crate) use rules::{classify, not_read_only, ReadOnlyAction, ReadOnlyMode};
use rules::{refused_read_write_client, REASON};

impl Processor {
    /// Enters read-only mode: this ensemble member lost its quorum (LOOKING long enough) and
    /// was started with `readonlymode.enabled`. Any serving role is left first (its
    /// connections dropped). Ends with the next [`Processor::set_role`].
    pub fn enter_read_only_mode(&self) {
        if self.serving_role() != ServingRole::NotServing {
            self.set_role(ServingRole::NotServing);
        }
        let sh = &self.shared;
        sh.read_only_mode.set_active(true);
        sh.set_read_only(Some(REASON.to_string()));
        sh.swap_role(ServingRole::ReadOnly);
        sh.writable.send_replace(false);
        tracing::warn!(
            last_zxid = %sh.applied_zxid(),
            "cut off from the quorum: serving read-only sessions until the ensemble is back"
        );
    }

    /// Whether this server is in read-only mode (cut off from its quorum), as opposed to
    /// serving normally or not at all.
    pub fn is_in_read_only_mode(&self) -> bool {
        self.shared.read_only_mode.is_active()
    }

    /// Leaves read-only mode (from `set_role`): every connection is dropped, so that clients
    /// reconnect — to a read-write server now — and the sessions created read-only are
    /// forgotten. Nothing happens outside read-only mode.
    pub(crate) fn leave_read_only_mode(&self) {
        let sh = &self.shared;
        if !sh.read_only_mode.set_active(false) {
            return;
        }
        let local = sh.read_only_mode.take_locals();
        for s in sh.sessions.all() {
            let mut g = s.lock();
            g.conn = None;
            g.queue.clear();
            g.closing = None;
        }
        for id in &local {
            sh.sessions.remove(*id);
        }
        sh.set_read_only(None);
        tracing::info!(
            forgotten_sessions = local.len(),
            "leaving read-only mode: read-only connections closed"
        );
    }

    /// A connect while in read-only mode (see the module doc).
    pub(crate) async fn connect_read_only(
        &self,
        req: ConnectRequest,
    ) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        if !req.read_only {
            return Err(refused_read_write_client());
        }
        let last = sh.read_tree().last_zxid();
        if req.last_zxid_seen > last {
            return Err(ZkError::new(
                ErrorCode::ConnectionLoss,
                format!(
                    "refusing session: the client has seen zxid {} but this read-only server's last zxid is {last}",
                    req.last_zxid_seen
                ),
            ));
        }
        let (s, password) = match req.resume {
            Some((id, password)) => {
                let s = sh.sessions.get(id).ok_or_else(|| expired(id))?;
                if s.password != password || s.lock().closing.is_some() {
                    return Err(expired(id));
                }
                (s, password)
            }
            None => {
                // A local session (nothing can be written), forgotten when the mode ends.
                let s = sh.open_local_session(sh.cfg.negotiate_timeout(req.timeout_ms));
                sh.read_only_mode.add_local(s.id);
                let password = s.password;
                (s, password)
            }
        };
        let (conn, events, zxid) = self.attach(&s, &req, None)?;
        if !sh.read_only_mode.is_active() {
            // The mode ended while attaching: this connection must not outlive it.
            s.lock().conn = None;
            if sh.read_only_mode.remove_local(s.id) {
                sh.sessions.remove(s.id);
            }
            return Err(crate::shared::not_serving());
        }
        tracing::debug!(session = %s.id, peer = %req.peer, "read-only session attached");
        Ok(Connected {
            session: s.id,
            password,
            timeout_ms: s.timeout_ms(),
            conn,
            events,
            zxid,
            read_only: true,
        })
    }
}

impl Shared {
    /// A request of session `s` while in read-only mode: answers it here unless it is served
    /// as always. True when answered.
    pub(crate) fn read_only_request(
        &self,
        s: &Session,
        g: &mut SessionInner,
        conn: ConnId,
        xid: i64,
        req: &Request,
        at: Instant,
    ) -> bool {
        match classify(req) {
            ReadOnlyAction::Serve => false,
            ReadOnlyAction::Refuse => {
                self.answer_in_order(g, conn, xid, Err(not_read_only()), at);
                true
            }
            ReadOnlyAction::AuthLocally => {
                let Request::AddAuth { scheme, auth } = req else {
                    return false;
                };
                let Some(ids) = g.conn.as_ref().map(|c| c.ids.clone()) else {
                    return true;
                };
                match crate::auth::authenticate(&self.cfg, &ids, scheme, auth) {
                    Ok(new) => {
                        if let Some(c) = g.conn.as_mut() {
                            let mut all = c.ids.to_vec();
                            all.extend(new.into_iter().filter(|id| !ids.contains(id)));
                            c.ids = Arc::from(all);
                        }
                        self.answer_in_order(g, conn, xid, Ok(Response::AddAuth), at);
                    }
                    Err(e) => {
                        tracing::info!(session = %s.id, scheme = %scheme, reason = %e.message, "authentication failed; ending the read-only connection");
                        self.answer_in_order(g, conn, xid, Err(e), at);
                        self.close_here(s, g, ErrorCode::AuthFailed);
                    }
                }
                true
            }
            ReadOnlyAction::CloseLocally => {
                self.answer_in_order(g, conn, xid, Ok(Response::CloseSession), at);
                self.close_here(s, g, ErrorCode::Ok);
                true
            }
        }
    }

    /// Ends session `s`'s connection with `Closed(code)`; a session created read-only is
    /// forgotten. A session of the ensemble stays there (its leader expires it once its
    /// client is gone for its timeout): nothing can be written here.
    fn close_here(&self, s: &Session, g: &mut SessionInner, code: ErrorCode) {
        if let Some(c) = g.conn.take() {
            let _ = c.tx.send(SessionEvent::Closed(code));
        }
        g.queue.clear();
        if self.read_only_mode.remove_local(s.id) {
            self.sessions.remove(s.id);
            tracing::debug!(session = %s.id, "read-only session closed");
        }
    }

    /// Expires the sessions created read-only whose client was silent for their timeout
    /// (every tick, in read-only mode only; the ensemble's sessions are its leader's to
    /// expire).
    pub(crate) fn expire_read_only_sessions(&self) {
        if !self.read_only_mode.is_active() {
            return;
        }
        let now = self.now_ms();
        let tick = u64::from(self.cfg.tick_ms);
        let local = self.read_only_mode.locals();
        for id in local {
            let Some(s) = self.sessions.get(id) else {
                continue;
            };
            if now < s.expires_at_ms(tick) || !self.read_only_mode.is_local(id) {
                continue;
            }
            let mut g = s.lock();
            tracing::info!(session = %id, timeout_ms = s.timeout_ms(), "read-only session expired");
            self.close_here(&s, &mut g, ErrorCode::SessionExpired);
        }
    }
}
