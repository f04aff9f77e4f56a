//! Local sessions (`localSessionsEnabled`, ZooKeeper 3.5+'s `LocalSessionTracker` and
//! `UpgradeableSessionTracker`): sessions known only to the server the client connected to.
//!
//! Rules:
//! - opening, resuming (on this server), closing and expiring a local session write nothing:
//!   no transaction, no zxid, no proposal. Its id comes from the same generator as every other
//!   session of this server (server id in the top byte), so it is unique across the ensemble;
//! - every other server answers a resume of it SessionExpired: it does not know it;
//! - its reads and watches are this server's, as any session's; its writes go through the leader
//!   like any other (the leader never checks who sent a write: the data tree does, at apply);
//! - its first ephemeral create (also inside a multi) needs a global session: with
//!   `localSessionsUpgradingEnabled` this server first hands the ensemble a CreateSession with
//!   the same id, timeout and password (and an AddAuth with its `addAuth` ids), then the create;
//!   the ensemble applies them in that order (a server's submissions are FIFO). From the
//!   CreateSession's apply here on, the session is global. Upgrading off, the create is answered
//!   EPHEMERALONLOCALSESSION and nothing is written;
//! - only this server expires it (every tick, in any serving role): its watches go with it.
//!
//! The scope of a session is [`Scope`] (`session.rs`); anything else that opens sessions this
//! server alone knows of (a read-only server) can open them with [`Shared::open_local_session`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use paddock_types::{ErrorCode, Id, MultiOp, Request, SessionId, TxnOp, ZkError, PASSWORD_LEN};

use crate::api::{ConnectRequest, Connected};
use crate::processor::Processor;
use crate::session::{Scope, Session, SessionInner};
use crate::shared::{Reply, Shared};

impl Shared {
    /// A new session known only to this server, in the session table (not attached yet).
    pub(crate) fn open_local_session(&self, timeout_ms: i32) -> Arc<Session> {
        let id = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let mut password = [0u8; PASSWORD_LEN];
        self.fill_password(&mut password);
        let s = Arc::new(Session::new_local(id, timeout_ms, password, self.now_ms()));
        self.sessions.insert(s.clone());
        s
    }

    /// Before a write of `s` goes to the ensemble: a local session's ephemeral create is
    /// refused EPHEMERALONLOCALSESSION (upgrading off) or upgrades the session first (see the
    /// module doc). Anything else, and every write of a global session, goes on as it is.
    pub(crate) fn prepare_write(
        &self,
        s: &Session,
        g: &SessionInner,
        req: &Request,
    ) -> Result<(), ZkError> {
        if s.scope() != Scope::Local || !creates_ephemeral(req) {
            return Ok(());
        }
        if !self.cfg.local_sessions_upgrading {
            return Err(ZkError::new(
                ErrorCode::EphemeralOnLocalSession,
                format!(
                    "session {} is a local session and localSessionsUpgradingEnabled=false: it \
                     cannot own an ephemeral node",
                    s.id
                ),
            ));
        }
        let op = TxnOp::CreateSession {
            timeout_ms: s.timeout_ms(),
            password: s.password,
        };
        self.submit_txn(s.id, 0, op, Vec::new(), Reply::None)?;
        s.set_scope(Scope::Upgrading);
        tracing::info!(session = %s.id, "upgrading a local session to a global session (first ephemeral)");
        if !g.local_auth.is_empty() {
            // Negative: never a client's xid, so no queued request is matched with it.
            let token = -i64::try_from(self.next_id()).unwrap_or(i64::MAX);
            let op = TxnOp::AddAuth {
                ids: g.local_auth.clone(),
            };
            if let Err(e) = self.submit_txn(s.id, token, op, Vec::new(), Reply::None) {
                // The session still upgrades; its ids stay on its connections here.
                tracing::warn!(session = %s.id, error = %e, "could not replicate the ids of an upgraded session");
            }
        }
        Ok(())
    }

    /// A local session's `addAuth`: the ids are kept here (on the session, and on its
    /// connection for ACL checks and the transactions it sends).
    pub(crate) fn add_local_auth(&self, g: &mut SessionInner, ids: Vec<Id>) {
        for id in ids {
            if !g.local_auth.contains(&id) {
                g.local_auth.push(id);
            }
        }
        if let Some(c) = g.conn.as_mut() {
            c.ids = with_local_auth(&c.ids, &g.local_auth).into();
        }
    }

    /// A session only this server tracks went silent for its timeout: it is gone, decided here
    /// alone (its connection is told SessionExpired; its watches are dropped).
    pub(crate) fn expire_local(&self, s: &Session) {
        {
            let mut g = s.lock();
            g.closing.get_or_insert(ErrorCode::SessionExpired);
        }
        tracing::info!(session = %s.id, timeout_ms = s.timeout_ms(), "local session expired");
        self.finish_close(s.id);
    }
}

/// `conn_ids` followed by the `local` ids it does not hold yet.
pub(crate) fn with_local_auth(conn_ids: &[Id], local: &[Id]) -> Vec<Id> {
    let mut ids = conn_ids.to_vec();
    for id in local {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Whether the request creates an ephemeral node (a create, or a multi with one): what a local
/// session cannot do without becoming global (ZooKeeper's `checkUpgradeSession`).
pub(crate) fn creates_ephemeral(req: &Request) -> bool {
    match req {
        Request::Create { mode, .. } => mode.is_ephemeral(),
        Request::Multi(ops) => ops
            .iter()
            .any(|op| matches!(op, MultiOp::Create { mode, .. } if mode.is_ephemeral())),
        _ => false,
    }
}

impl Processor {
    /// [`crate::api::Backend::connect`] for a new session while local sessions are on: opened
    /// here, nothing written.
    pub(crate) fn create_local(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        let sh = &self.shared;
        let timeout_ms = sh.cfg.negotiate_timeout(req.timeout_ms);
        let s = sh.open_local_session(timeout_ms);
        let (conn, events, zxid) = match self.attach(&s, &req, None) {
            Ok(attached) => attached,
            Err(e) => {
                sh.sessions.remove(s.id);
                return Err(e);
            }
        };
        tracing::debug!(session = %s.id, timeout_ms, peer = %req.peer, "local session created");
        Ok(Connected {
            session: s.id,
            password: s.password,
            timeout_ms,
            conn,
            events,
            zxid,
            read_only: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use paddock_types::{Acl, CreateMode};

    fn create(mode: CreateMode) -> MultiOp {
        MultiOp::Create {
            path: "/a".into(),
            data: Bytes::new().into(),
            mode,
            acl: Acl::open(),
        }
    }

    #[test]
    fn only_ephemeral_creates_need_a_global_session() {
        let single = |mode| match create(mode) {
            MultiOp::Create {
                path,
                data,
                mode,
                acl,
            } => Request::Create {
                path,
                data,
                mode,
                acl,
            },
            _ => unreachable!("built as a create"),
        };
        assert!(creates_ephemeral(&single(CreateMode::Ephemeral)));
        assert!(creates_ephemeral(&single(CreateMode::EphemeralSequential)));
        assert!(!creates_ephemeral(&single(CreateMode::Persistent)));
        assert!(!creates_ephemeral(&single(CreateMode::Container)));
        let multi =
            |modes: &[CreateMode]| Request::Multi(modes.iter().map(|m| create(*m)).collect());
        assert!(creates_ephemeral(&multi(&[
            CreateMode::Persistent,
            CreateMode::Ephemeral
        ])));
        assert!(!creates_ephemeral(&multi(&[
            CreateMode::PersistentSequential
        ])));
        assert!(!creates_ephemeral(&Request::CloseSession));
    }

    #[test]
    fn local_ids_are_added_once() {
        let a = Id::new("digest", "a:x");
        let b = Id::new("ip", "10.0.0.1");
        assert_eq!(
            with_local_auth(std::slice::from_ref(&b), &[a.clone(), b.clone()]),
            vec![b, a]
        );
    }
}
