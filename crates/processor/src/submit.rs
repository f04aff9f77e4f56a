//! A client's requests: reads answered from the local tree in the session's order, writes (and
//! `sync`) handed to the ensemble and answered when they apply here; and the
//! [`crate::api::Backend`] implementation that ties connect / submit / detach together.

use std::sync::atomic::Ordering;
use std::time::Instant;

use std::sync::Arc;

use paddock_types::{ErrorCode, Request, Response, SessionId, TxnOp, ZkError, Zxid};

use crate::api::{Backend, ConnId, ConnectRequest, Connected, SessionEvent};
use crate::auth;
use crate::checks;
use crate::processor::Processor;
use crate::queue::{Pending, PendingKind};
use crate::session::Scope;
use crate::shared::Reply;

impl Processor {
    /// [`Backend::submit`].
    fn submit_request(&self, session: SessionId, conn: ConnId, xid: i64, req: Request) {
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
        if let Some(closing) = g.closing {
            let err = match closing {
                ErrorCode::AuthFailed => {
                    ZkError::new(closing, "authentication failed: the session is closing")
                }
                _ => ZkError::new(ErrorCode::SessionExpired, "the session is closing"),
            };
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
        if sh.read_only_mode.is_active() && sh.read_only_request(&s, &mut g, conn, xid, &req, at) {
            return;
        }
        if let Err(refusal) = checks::check(
            &req,
            checks::Accept {
                max_data: sh.cfg.max_data_bytes,
                extended_types: sh.cfg.extended_types_enabled,
                // ZooKeeper's order: the setting first, so a standalone server with the
                // default answers RECONFIGDISABLED as ZooKeeper's does.
                reconfig: if !sh.cfg.reconfig_enabled {
                    checks::Reconfig::Disabled
                } else if sh.cfg.alone {
                    checks::Reconfig::Standalone
                } else {
                    checks::Reconfig::Enabled
                },
            },
        ) {
            sh.answer_in_order(&mut g, conn, xid, refusal, at);
            return;
        }
        let op = match req {
            Request::Exists { .. }
            | Request::GetData { .. }
            | Request::GetChildren { .. }
            | Request::GetAcl { .. }
            | Request::GetEphemerals { .. }
            | Request::GetAllChildrenNumber { .. }
            | Request::MultiRead(_)
            | Request::AddWatch { .. }
            | Request::RemoveWatches { .. }
            | Request::CheckWatches { .. }
            | Request::GetConfig { .. }
            | Request::SetWatches { .. }
            | Request::WhoAmI
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
                let Some((tx, ids)) = g.conn.as_mut().map(|c| {
                    // Counted here, under the session lock: the answer is sent without it.
                    c.sent += 1;
                    (c.tx.clone(), c.ids.clone())
                }) else {
                    return;
                };
                drop(g);
                let tree = sh.read_tree();
                let zxid = tree.last_zxid();
                let result =
                    crate::read::execute(&tree, &sh.cfg.ensemble_config, session, &ids, req);
                sh.stats.record_answer(at);
                // Sent while the read lock is held: no write can apply (and fire a watch) between
                // reading and queueing the answer.
                let _ = tx.send(SessionEvent::Response { xid, zxid, result });
                return;
            }
            // Through the leader: answered when the no-op commits here, i.e. once this server
            // has applied everything committed before it (a linearizable read point).
            Request::Sync { path } => TxnOp::Sync { path },
            Request::AddAuth { scheme, auth } => {
                let conn_ids = g
                    .conn
                    .as_ref()
                    .map(|c| c.ids.clone())
                    .unwrap_or_else(|| Arc::from([]));
                match auth::authenticate(&sh.cfg, &conn_ids, &scheme, &auth) {
                    // Nothing to remember beyond what the connection proves.
                    Ok(ids) if ids.is_empty() => {
                        sh.answer_in_order(&mut g, conn, xid, Ok(Response::AddAuth), at);
                        return;
                    }
                    // A local session has no replicated row to hold them: kept here.
                    Ok(ids) if s.scope() == Scope::Local => {
                        sh.add_local_auth(&mut g, ids);
                        sh.answer_in_order(&mut g, conn, xid, Ok(Response::AddAuth), at);
                        return;
                    }
                    Ok(ids) => TxnOp::AddAuth { ids },
                    Err(e) => {
                        tracing::info!(session = %session, scheme = %scheme, reason = %e.message, "authentication failed; ending the session");
                        sh.answer_in_order(&mut g, conn, xid, Err(e), at);
                        // As ZooKeeper: a failed authentication ends the session (its
                        // ephemerals go with it).
                        g.closing = Some(ErrorCode::AuthFailed);
                        if s.scope() == Scope::Local {
                            let now = g.queue.is_idle();
                            drop(g);
                            if now {
                                sh.finish_close(session);
                            }
                            return;
                        }
                        if sh
                            .submit_txn(session, 0, TxnOp::CloseSession, Vec::new(), Reply::None)
                            .is_err()
                        {
                            g.closing = None;
                        }
                        return;
                    }
                }
            }
            // A local session closes here: nothing to write. Its answer waits for the session's
            // writes ahead of it; the session goes once that answer is sent (here, or when the
            // write ahead of it applies).
            Request::CloseSession if s.scope() == Scope::Local => {
                g.closing = Some(ErrorCode::Ok);
                sh.answer_in_order(&mut g, conn, xid, Ok(Response::CloseSession), at);
                let now = g.queue.is_idle();
                drop(g);
                if now {
                    sh.finish_close(session);
                }
                return;
            }
            write => {
                if let Err(e) = sh.prepare_write(&s, &g, &write) {
                    sh.answer_in_order(&mut g, conn, xid, Err(e), at);
                    return;
                }
                if matches!(write, Request::CloseSession) {
                    g.closing = Some(ErrorCode::Ok);
                }
                let Some(op) = checks::txn_op(write) else {
                    return;
                };
                op
            }
        };
        let conn_ids = g.conn.as_ref().map(|c| c.ids.to_vec()).unwrap_or_default();
        let id = sh.next_id();
        g.queue.push(Pending {
            conn,
            xid,
            kind: PendingKind::Write { id },
            at,
        });
        if let Err(e) = sh.submit_txn(session, xid, op, conn_ids, Reply::Queue) {
            if g.closing == Some(ErrorCode::Ok) {
                // The close did not go out: the session stays open.
                g.closing = None;
            }
            let released = g.queue.complete(id, Err(e));
            sh.deliver(session, &mut g, Zxid::ZERO, released, None);
        }
    }

    /// [`Backend::detach`].
    fn detach_connection(&self, session: SessionId, conn: ConnId) {
        if let Some(s) = self.shared.sessions.get(session) {
            let mut g = s.lock();
            if g.conn.as_ref().map(|c| c.id) == Some(conn) {
                g.conn = None;
                tracing::debug!(session = %session, "connection detached; session lives until its timeout");
            }
        }
    }
}

impl Backend for Processor {
    async fn connect(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        self.connect_session(req).await
    }

    fn submit(&self, session: SessionId, conn: ConnId, xid: i64, req: Request) {
        self.submit_request(session, conn, xid, req);
    }

    fn detach(&self, session: SessionId, conn: ConnId) {
        self.detach_connection(session, conn);
    }
}
