//! The loop's inputs: ticks (ZAB's and the election's), peer events and local requests, each
//! taken with everything already queued behind it (up to [`MAX_BATCH`]) so that the log
//! writes they cause share one sync.

use super::reconfig::{self, Proposed};
use super::{stop, CurrentRole, Fatal, PeerDriver, MAX_BATCH};
use crate::leader::NotServing;
use crate::messages::PeerMessage;
use crate::peer::{PeerRequest, ProposeError};
use crate::transport::{PeerEvent, PeerTransport};
use bytes::Bytes;
use paddock_election::ElectionTransport;
use paddock_types::{ServerId, Zxid};
use tokio::sync::oneshot;

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// The ZAB tick (tickTime / 2): the role's liveness, dialing a leader not reached yet,
    /// session reports; out of service, a recovery attempt when due.
    pub(super) async fn on_tick(&mut self) -> Result<(), Fatal> {
        if self.broken.is_some() {
            return self.try_recover_storage().await;
        }
        self.on_tick_roles().await?;
        self.report_touched_sessions().await;
        Ok(())
    }

    /// Steps the election with every notification received so far (a decided election answers
    /// LOOKING peers).
    fn read_votes(&mut self) {
        while let Some((from, n)) = self.etrans.try_recv() {
            let out = self.election.step(from, n);
            paddock_election::execute(self.me, self.election.recipients(), out, &mut self.etrans);
        }
    }

    /// The election's clock: read votes and, while LOOKING, tick the election (its finalize
    /// wait and resend back-off count these ticks).
    pub(super) fn on_votes(&mut self) {
        self.read_votes();
        if matches!(self.role, CurrentRole::Looking) {
            let out = self.election.tick();
            paddock_election::execute(self.me, self.election.recipients(), out, &mut self.etrans);
        }
    }

    async fn on_tick_roles(&mut self) -> Result<(), Fatal> {
        self.read_votes();
        let out = match &mut self.role {
            // The election ticks on its own, faster clock (`on_votes`).
            CurrentRole::Looking => Vec::new(),
            CurrentRole::Leading(l) => l.tick(),
            CurrentRole::Following { f, .. } => f.tick(),
        };
        self.execute(out).await?;
        self.dial_leader().await
    }

    /// A serving learner tells its leader which sessions it heard from since the last tick.
    async fn report_touched_sessions(&mut self) {
        let Some(leader) = self.serving_learner_of() else {
            return;
        };
        let sessions = self.sm.take_touched_sessions();
        if !sessions.is_empty() {
            self.queue(leader, PeerMessage::Touch { sessions });
        }
    }

    /// The leader, when this peer is a learner that got UPTODATE on an established stream and
    /// is not about to go LOOKING: only then may it forward writes and session reports.
    fn serving_learner_of(&self) -> Option<ServerId> {
        match &self.role {
            CurrentRole::Following {
                leader,
                stream_up: true,
                ..
            } if self.serving && self.pending_look.is_none() => Some(*leader),
            _ => None,
        }
    }

    /// `first` and every event already queued behind it (up to [`MAX_BATCH`]), so that the
    /// log writes they cause share one sync (group commit).
    pub(super) async fn on_peer_events(&mut self, first: PeerEvent) -> Result<(), Fatal> {
        self.on_peer_event(first).await?;
        for _ in 1..MAX_BATCH {
            if self.pending_look.is_some() {
                break;
            }
            // Only what is already queued: one poll, no waiting. (Not a zero `timeout`: tokio's
            // timer rounds its deadline up to the next millisecond, so a receive that is not
            // ready would stall the whole loop for about a millisecond per wakeup.)
            match poll_once(self.transport.recv()) {
                Some(Some(ev)) => self.on_peer_event(ev).await?,
                Some(None) => return Err(stop("peer transport closed")),
                None => break,
            }
        }
        Ok(())
    }

    /// One peer event: the lease's bookkeeping, then the role's core (LOOKING holds it in
    /// `early`; a leader handles learners' requests itself).
    pub(super) async fn on_peer_event(&mut self, ev: PeerEvent) -> Result<(), Fatal> {
        match &ev {
            PeerEvent::Connected(p) => {
                self.connected.insert(*p);
                self.lease.forget(*p);
            }
            PeerEvent::Disconnected(p) => {
                self.connected.remove(p);
                self.lease.forget(*p);
            }
            PeerEvent::Message(from, msg) => {
                if matches!(self.role, CurrentRole::Leading(_)) {
                    self.lease.on_receive(*from, msg);
                }
            }
        }
        if matches!(self.role, CurrentRole::Leading(_)) {
            if let PeerEvent::Message(
                from,
                msg @ (PeerMessage::Forward { .. } | PeerMessage::Touch { .. }),
            ) = ev
            {
                // Learner requests are the driver's business, not the ZAB core's.
                return self.on_learner_request(from, msg).await;
            }
        }
        let out = match &mut self.role {
            CurrentRole::Looking => {
                self.early.hold(ev);
                Vec::new()
            }
            CurrentRole::Leading(l) => match ev {
                PeerEvent::Connected(_) => Vec::new(),
                PeerEvent::Message(from, msg) => l.step(from, msg),
                PeerEvent::Disconnected(p) => l.learner_disconnected(p),
            },
            CurrentRole::Following {
                f,
                leader,
                stream_up,
                ..
            } => match ev {
                PeerEvent::Connected(p) if p == *leader => {
                    *stream_up = true;
                    Vec::new()
                }
                PeerEvent::Connected(p) => {
                    // It thinks we lead; we do not.
                    self.send_outbox().await;
                    self.transport.disconnect(p).await;
                    Vec::new()
                }
                PeerEvent::Message(from, msg) if from == *leader && *stream_up => f.step(from, msg),
                PeerEvent::Message(..) => Vec::new(),
                PeerEvent::Disconnected(p) if p == *leader && *stream_up => {
                    self.pending_look
                        .get_or_insert("the leader's stream closed".to_string());
                    Vec::new()
                }
                PeerEvent::Disconnected(_) => Vec::new(),
            },
        };
        self.execute(out).await
    }

    /// LEADING: a `Forward` or `Touch` from learner `from`. Accepted only from a learner with a
    /// stream up that acked NEWLEADER (so it got, or is about to get, UPTODATE); a forward is
    /// proposed only while serving. Forwards of one batch share the batch's sync.
    async fn on_learner_request(&mut self, from: ServerId, msg: PeerMessage) -> Result<(), Fatal> {
        let CurrentRole::Leading(l) = &self.role else {
            unreachable!("checked by the caller");
        };
        if !self.connected.contains(&from) || !l.is_synced_learner(from) {
            tracing::debug!(me = %self.me, %from, "request from a learner that is not synced; dropped");
            return Ok(());
        }
        match msg {
            PeerMessage::Forward { data } => self.propose_unwaited(data, from).await,
            PeerMessage::Touch { sessions } => {
                self.sm.sessions_touched(from, &sessions);
                Ok(())
            }
            other => unreachable!("not a learner request: {other:?}"),
        }
    }

    /// Proposes `data` (submitted at `origin`) if this peer leads and serves; nobody waits for
    /// the outcome. Otherwise drops it: the origin learns of the failure by the role change.
    async fn propose_unwaited(&mut self, data: Bytes, origin: ServerId) -> Result<(), Fatal> {
        let CurrentRole::Leading(l) = &mut self.role else {
            unreachable!("only a leader proposes");
        };
        if !self.serving || self.pending_look.is_some() {
            tracing::debug!(me = %self.me, %origin, "not serving; submission dropped");
            return Ok(());
        }
        let size = data.len();
        match reconfig::propose(l, self.sm.as_ref(), data) {
            Proposed::Made(_, out) => {
                self.stats.record_proposal(size);
                self.execute(out).await
            }
            Proposed::NotServing(e) => {
                tracing::debug!(me = %self.me, %origin, error = %e, "submission dropped");
                Ok(())
            }
            Proposed::Refused(e) => {
                tracing::debug!(me = %self.me, %origin, error = %e, "submission dropped");
                Ok(())
            }
        }
    }

    /// `first` and every request already queued behind it (up to [`MAX_BATCH`]).
    pub(super) async fn on_requests(&mut self, first: PeerRequest) -> Result<(), Fatal> {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(req) = next.take() {
            match req {
                PeerRequest::Propose(data, tx) => self.on_propose(data, tx).await?,
                PeerRequest::Submit(data) => self.on_submit(data).await?,
                PeerRequest::Shutdown => {
                    self.stop = true;
                    return Ok(());
                }
            }
            n += 1;
            if n < MAX_BATCH && self.pending_look.is_none() {
                next = self.requests.try_recv().ok();
            }
        }
        Ok(())
    }

    /// A local fire-and-forget submission: proposed if leading, forwarded if a serving learner.
    async fn on_submit(&mut self, data: Bytes) -> Result<(), Fatal> {
        if matches!(self.role, CurrentRole::Leading(_)) {
            return self.propose_unwaited(data, self.me).await;
        }
        match self.serving_learner_of() {
            Some(leader) => self.queue(leader, PeerMessage::Forward { data }),
            None => tracing::debug!(me = %self.me, "no serving leader; submission dropped"),
        }
        Ok(())
    }

    async fn on_propose(
        &mut self,
        data: Bytes,
        tx: oneshot::Sender<Result<Zxid, ProposeError>>,
    ) -> Result<(), Fatal> {
        let leader = self.current_leader();
        let CurrentRole::Leading(l) = &mut self.role else {
            let _ = tx.send(Err(ProposeError::NotLeader { leader }));
            return Ok(());
        };
        if self.pending_look.is_some() {
            let _ = tx.send(Err(ProposeError::NotServing));
            return Ok(());
        }
        let size = data.len();
        match reconfig::propose(l, self.sm.as_ref(), data) {
            Proposed::Made(zxid, out) => {
                self.stats.record_proposal(size);
                self.waiting.insert(zxid, tx);
                self.execute(out).await
            }
            Proposed::NotServing(NotServing::NotServing | NotServing::CounterExhausted) => {
                let _ = tx.send(Err(ProposeError::NotServing));
                Ok(())
            }
            Proposed::Refused(why) => {
                let _ = tx.send(Err(ProposeError::ChangeRefused(why)));
                Ok(())
            }
        }
    }
}

/// Polls `fut` once: its output if it is ready now, `None` otherwise (the future is dropped, so
/// it must be cancel-safe, as a channel receive is).
fn poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
