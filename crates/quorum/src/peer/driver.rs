//! The peer task: the role loop and the command executor (see the module docs of `peer`).
//!
//! Transitions never recurse: handlers only execute commands and record that the role ends
//! (`pending_look`) or that the election decided; [`Driver::settle`] then performs the
//! transitions, in a loop, after every input.

use super::blocking::{Blocking, Lost};
use super::durability::Durability;
use super::early_events::EarlyEvents;
use super::log_writer::{LogWriter, Synced};
use super::record_cache::RecordCache;
use super::stats::{CommitClock, PeerStats};
use super::{
    Lease, PeerConfig, PeerRole, PeerStatus, PeerStorage, ProposeError, Request, StateMachine,
};
use crate::command::{Command, Persisted};
use crate::follower::Follower;
use crate::leader::{Leader, NotServing};
use crate::lease::{LeaseBase, LeaseTracker};
use crate::membership::Membership;
use crate::messages::PeerMessage;
use crate::transport::{PeerEvent, PeerTransport};
use bytes::Bytes;
use paddock_election::{Election, ElectionTransport, QuorumVerifier, Role as ElectedRole};
use paddock_storage::StorageError;
use paddock_types::{ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

/// The election's tick (or the ZAB tick, if shorter): votes are read and the election's
/// timers advance at this pace.
const ELECTION_POLL: Duration = Duration::from_millis(10);

/// The most inputs handled before one sync.
const MAX_BATCH: usize = 1024;

/// Why the role loop cannot go on as it is.
#[derive(Debug)]
enum Fatal {
    /// Storage failed (a full disk, an I/O error): the peer leaves its role, takes no part in
    /// elections (it could not persist an epoch nor ack a proposal) and retries recovering its
    /// log; recovered, it rebuilds its state from what is durable and elects again.
    Storage(String),
    /// The peer stops (its transport or log writer is gone, or its state is inconsistent).
    Stop(String),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Storage(why) => write!(f, "storage failed: {why}"),
            Fatal::Stop(why) => f.write_str(why),
        }
    }
}

/// First wait between attempts to recover storage; doubled up to [`RECOVER_BACKOFF_MAX`].
const RECOVER_BACKOFF_FIRST: Duration = Duration::from_millis(100);
const RECOVER_BACKOFF_MAX: Duration = Duration::from_secs(2);

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

/// A storage error: the peer goes out of service until its log recovers.
fn fatal(e: impl std::fmt::Display) -> Fatal {
    Fatal::Storage(e.to_string())
}

fn stop(why: impl Into<String>) -> Fatal {
    Fatal::Stop(why.into())
}

impl From<Lost> for Fatal {
    fn from(lost: Lost) -> Fatal {
        stop(format!("blocking storage work did not finish: {}", lost.0))
    }
}

enum Role {
    Looking,
    Leading(Box<Leader>),
    Following {
        f: Box<Follower>,
        leader: ServerId,
        observer: bool,
        /// `connect` succeeded and FOLLOWERINFO went out.
        dialled: bool,
        /// `Connected(leader)` of our stream was seen (earlier events are a dead stream's).
        stream_up: bool,
    },
}

enum Input {
    Synced(Option<Synced>),
    Votes,
    Tick,
    Peer(Option<PeerEvent>),
    Request(Option<Request>),
}

pub(crate) struct Driver<T, E> {
    me: ServerId,
    config: PeerConfig,
    verifier: QuorumVerifier,
    members: Membership,
    storage: PeerStorage,
    transport: T,
    etrans: E,
    sm: Box<dyn StateMachine>,
    requests: mpsc::UnboundedReceiver<Request>,
    status: watch::Sender<PeerStatus>,
    role: Role,
    election: Election,
    /// Peer events received while LOOKING, replayed if we end up LEADING.
    early: EarlyEvents,
    /// Peers with a stream up.
    connected: BTreeSet<ServerId>,
    /// Logged transactions not applied yet.
    cache: RecordCache,
    /// Proposals of this leader waiting for their commit.
    waiting: BTreeMap<Zxid, oneshot::Sender<Result<Zxid, ProposeError>>>,
    /// The zxid of the latest snapshot (0 if none).
    snap_zxid: Zxid,
    serving: bool,
    /// The role ended; go LOOKING.
    pending_look: Option<String>,
    /// What of the log is durable: records not handed to the writer yet, what was sent, what
    /// was reported, the notices to feed back (pure: `peer::durability`).
    durability: Durability,
    /// The log writer thread (append + sync off the role loop) and its durability reports.
    writer: LogWriter,
    synced: mpsc::UnboundedReceiver<Synced>,
    /// When each transaction not applied yet was logged here, for the commit latency in
    /// `stats`.
    logged_at: CommitClock,
    stats: Arc<PeerStats>,
    /// Messages of this wakeup, per peer in order: sent as one frame per peer when the wakeup
    /// is done (proposals and commits of a group commit travel together).
    outbox: BTreeMap<ServerId, Vec<PeerMessage>>,
    stop: bool,
    /// Electing without a vote until synced (`PeerConfig::resync_flag`).
    recovering: bool,
    /// Out of service since storage failed: why, and when to try recovering next (with the
    /// wait after that).
    broken: Option<(String, tokio::time::Instant, Duration)>,
    /// Where blocking storage work runs (`PeerConfig::log_writer`).
    blocking: Blocking,
    /// LEADING: the probes sent to learners and their answers, for the lease (tokio's clock).
    lease: LeaseTracker<tokio::time::Instant>,
    /// Published in `PeerStatus::storage_failure`: set with `broken`, cleared once serving.
    storage_failure: Option<String>,
}

impl<T, E> Driver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: PeerConfig,
        verifier: QuorumVerifier,
        members: Membership,
        storage: PeerStorage,
        transport: T,
        etrans: E,
        sm: Box<dyn StateMachine>,
        requests: mpsc::UnboundedReceiver<Request>,
        stats: Arc<PeerStats>,
    ) -> Result<
        (
            Self,
            watch::Receiver<PeerStatus>,
            tokio::task::JoinHandle<()>,
        ),
        super::PeerError,
    > {
        let me = config.me;
        let config_mode = config.log_writer;
        let recovering = config.resync_flag.as_ref().is_some_and(|f| f.is_set());
        if recovering {
            tracing::warn!(%me, "this server's data directory lost durable transactions: it will not vote until it has synced with an established leader");
        }
        let election = Election::new(
            me,
            Zxid::ZERO,
            storage.epochs.current_epoch(),
            verifier.clone(),
            config.election,
        );
        let (synced_tx, synced) = mpsc::unbounded_channel();
        let (writer, writer_task) = LogWriter::spawn(
            storage.log.clone(),
            synced_tx,
            stats.clone(),
            config.log_writer,
        );
        let (status, rx) = watch::channel(PeerStatus {
            role: PeerRole::Looking,
            leader: None,
            epoch: storage.epochs.current_epoch(),
            serving: false,
            last_committed: Zxid::ZERO,
            round: 0,
            synced_followers: Vec::new(),
            lease: Lease::NotLeading,
            storage_failure: None,
        });
        let mut d = Driver {
            me,
            config,
            verifier,
            members,
            storage,
            transport,
            etrans,
            sm,
            requests,
            status,
            role: Role::Looking,
            election,
            early: EarlyEvents::default(),
            connected: BTreeSet::new(),
            cache: RecordCache::default(),
            waiting: BTreeMap::new(),
            snap_zxid: Zxid::ZERO,
            serving: false,
            pending_look: None,
            durability: Durability::default(),
            writer,
            synced,
            logged_at: CommitClock::default(),
            stats,
            outbox: BTreeMap::new(),
            stop: false,
            recovering,
            broken: None,
            lease: LeaseTracker::new(),
            storage_failure: None,
            blocking: Blocking(config_mode),
        };
        // Not on the loop yet: the caller runs `spawn` where it may block.
        d.snap_zxid = rebuild(d.sm.as_mut(), &d.storage, me, Zxid::ZERO, None)
            .map_err(|e| super::PeerError::Rebuild(e.to_string()))?;
        d.publish();
        Ok((d, rx, writer_task))
    }

    pub(crate) async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.config.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The election runs on its own clock of min(tick, 10 ms): with tickTime=2000 a ZAB tick
        // is a second, and an election counted in those made every failover take seconds.
        let mut votes = tokio::time::interval(self.config.tick.min(ELECTION_POLL));
        votes.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut result = self.start_election();
        if result.is_ok() {
            result = self.settle().await;
        }
        loop {
            if let Err(Fatal::Storage(why)) = result {
                self.out_of_service(why).await;
                self.publish();
                result = Ok(());
            }
            if result.is_err() || self.stop {
                break;
            }
            // Biased: the branches are tried in this order, so a seed replays exactly (an
            // unbiased select draws from tokio's RNG). Timers first: each is ready once per
            // period, so they starve nobody, and pings and liveness must not wait behind load.
            // Then work in flight, before new work: durability reports (they let commits go),
            // peer messages (acks, proposals, commits), and only then local requests — new
            // writes wait while those in flight can progress, as a bound on what is in flight.
            let input = tokio::select! {
                biased;
                _ = ticker.tick() => Input::Tick,
                _ = votes.tick() => Input::Votes,
                s = self.synced.recv() => Input::Synced(s),
                ev = self.transport.recv() => Input::Peer(ev),
                req = self.requests.recv() => Input::Request(req),
            };
            result = match input {
                Input::Tick => self.on_tick().await,
                Input::Votes => {
                    self.on_votes();
                    Ok(())
                }
                Input::Peer(Some(ev)) => self.on_peer_events(ev).await,
                Input::Peer(None) => Err(stop("peer transport closed")),
                Input::Request(Some(req)) => self.on_requests(req).await,
                Input::Request(None) => {
                    self.stop = true;
                    Ok(())
                }
                Input::Synced(Some(s)) => self.on_synced(s),
                Input::Synced(None) => Err(stop("the log writer stopped")),
            };
            if result.is_ok() {
                result = self.settle().await;
            }
            self.publish();
        }
        match &result {
            Ok(()) => {
                let flushed = match self.flush().await {
                    Ok(()) => self.drain().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = flushed {
                    tracing::error!(me = %self.me, error = %e, "final sync failed");
                }
            }
            Err(e) => tracing::error!(me = %self.me, error = %e, "peer stops"),
        }
        self.leave_role().await;
        self.status.send_modify(|s| {
            s.role = PeerRole::Stopped;
            s.serving = false;
            s.leader = None;
            s.synced_followers.clear();
            s.lease = Lease::NotLeading;
        });
    }

    // ----- storage and state machine -----

    fn last_zxid(&self) -> Zxid {
        self.storage
            .log
            .last_logged_zxid()
            .max(self.snap_zxid)
            .max(self.durability.last_logged())
    }

    /// Runs `f` as blocking work ([`Blocking`]); the loop waits for it. (The future borrows
    /// nothing of the driver, which is not `Sync`.)
    fn offload<R, F>(&self, f: F) -> impl Future<Output = Result<R, Fatal>> + Send + 'static
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let blocking = self.blocking;
        async move { blocking.run(f).await.map_err(Fatal::from) }
    }

    /// Runs `f` with the state machine as blocking work (restoring or serialising a snapshot,
    /// replaying the log), then puts the machine back. If the work is lost (it panicked) the
    /// machine is lost with it and the peer stops.
    async fn with_machine<R, F>(&mut self, f: F) -> Result<R, Fatal>
    where
        F: FnOnce(&mut dyn StateMachine) -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut sm = std::mem::replace(&mut self.sm, Box::new(Lent));
        let blocking = self.blocking;
        let (sm, r) = blocking
            .run(move || {
                let r = f(sm.as_mut());
                (sm, r)
            })
            .await?;
        self.sm = sm;
        Ok(r)
    }

    /// Restores the latest snapshot (or the empty state) and replays the log up to `upto`
    /// (blocking work).
    async fn rebuild(&mut self, upto: Option<Zxid>) -> Result<(), Fatal> {
        let (storage, me, snap) = (self.storage.clone(), self.me, self.snap_zxid);
        self.snap_zxid = self
            .with_machine(move |sm| rebuild(sm, &storage, me, snap, upto))
            .await??;
        Ok(())
    }

    /// Applies every logged record above the state machine (a role starts from "all applied").
    async fn catch_up(&mut self) -> Result<(), Fatal> {
        let log = self.storage.log.clone();
        self.with_machine(move |sm| {
            let records = log.read_after(sm.last_applied(), usize::MAX)?;
            for (z, d) in records {
                if z > sm.last_applied() {
                    sm.apply(z, &d);
                }
            }
            Ok::<_, StorageError>(())
        })
        .await?
        .map_err(fatal)?;
        self.cache.clear();
        Ok(())
    }

    /// An `Apply(zxid)`: queued in `applies` (applied together by [`Driver::flush_applies`],
    /// so a group commit's worth takes the state machine's lock once). The data comes from the
    /// cache of logged records, or, for a record logged before this role, from the log.
    async fn queue_apply(
        &mut self,
        zxid: Zxid,
        applies: &mut Vec<(Zxid, Bytes)>,
    ) -> Result<(), Fatal> {
        let applied = applies
            .last()
            .map_or_else(|| self.sm.last_applied(), |(z, _)| *z);
        if zxid <= applied {
            return Ok(());
        }
        let data = match self.cache.remove(&zxid) {
            Some(d) => d,
            None => {
                self.flush_applies(applies);
                self.drain().await?;
                let (log, after) = (self.storage.log.clone(), self.sm.last_applied());
                let next = self
                    .offload(move || log.read_after(after, 1))
                    .await?
                    .map_err(fatal)?;
                match next.into_iter().next() {
                    Some((z, d)) if z == zxid => d,
                    other => {
                        return Err(stop(format!(
                            "apply {zxid}: next logged record is {:?}",
                            other.map(|(z, _)| z)
                        )))
                    }
                }
            }
        };
        applies.push((zxid, data));
        Ok(())
    }

    /// Applies what [`Driver::queue_apply`] gathered, then answers the proposals waiting for
    /// them and times their commits.
    fn flush_applies(&mut self, applies: &mut Vec<(Zxid, Bytes)>) {
        let Some(&(last, _)) = applies.last() else {
            return;
        };
        self.sm.apply_batch(applies);
        for (zxid, _) in applies.drain(..) {
            if let Some(at) = self.logged_at.applied(zxid) {
                self.stats.record_commit(at.elapsed());
            }
            if let Some(tx) = self.waiting.remove(&zxid) {
                let _ = tx.send(Ok(zxid));
            }
        }
        self.cache.drop_through(last);
    }

    /// Cuts the log after `to` (blocking work) and, if the state machine applied records above
    /// it, rebuilds it.
    async fn truncate(&mut self, to: Zxid) -> Result<(), Fatal> {
        // Durable reports of records above `to` must not be fed back.
        self.quiesce().await?;
        let log = self.storage.log.clone();
        self.offload(move || log.truncate_after(to))
            .await?
            .map_err(fatal)?;
        self.durability.truncated(to);
        self.cache.truncate_after(to);
        self.logged_at.truncate_after(to);
        if self.sm.last_applied() > to {
            self.rebuild(Some(to)).await?;
        }
        Ok(())
    }

    /// Replaces the state and the log by the leader's snapshot (blocking work).
    async fn install_snapshot(&mut self, zxid: Zxid, data: Bytes) -> Result<(), Fatal> {
        // Nothing may still be writing when the log is emptied.
        self.quiesce().await?;
        let storage = self.storage.clone();
        let installed = self
            .with_machine(move |sm| install_snapshot(sm, &storage, zxid, &data))
            .await??;
        if let Err(e) = installed {
            tracing::error!(me = %self.me, %zxid, error = %e, "the leader's snapshot cannot be restored; electing again");
            self.pending_look
                .get_or_insert(format!("bad snapshot {zxid} from the leader"));
        } else {
            self.cache.clear();
            self.snap_zxid = zxid;
        }
        self.logged_at.clear();
        self.durability.snapshot_installed(zxid);
        Ok(())
    }

    fn queue(&mut self, to: ServerId, msg: PeerMessage) {
        if matches!(self.role, Role::Leading(_)) {
            // Queued now, sent at the end of the wakeup: an early send time only shortens the
            // lease.
            self.lease.on_send(to, &msg, tokio::time::Instant::now());
        }
        self.outbox.entry(to).or_default().push(msg);
    }

    /// Sends what this wakeup queued: one batch per peer, in order. Best effort, as every send:
    /// a broken stream shows up as `Disconnected` (or silence) anyway.
    async fn send_outbox(&mut self) {
        for (to, messages) in std::mem::take(&mut self.outbox) {
            if let Err(e) = self.transport.send_batch(to, messages).await {
                tracing::debug!(me = %self.me, %to, error = %e, "send failed");
            }
        }
    }

    /// Hands the records gathered in this wakeup to the log writer (one write, one sync).
    fn send_appends(&mut self) -> Result<(), Fatal> {
        if let Some(w) = self.durability.take_write() {
            if !self.writer.write(w.records, w.last, w.generation) {
                return Err(stop("the log writer stopped"));
            }
        }
        Ok(())
    }

    /// Makes everything logged so far durable and quiet: sends what is gathered and waits for
    /// the writer to finish it; reports still in flight become stale. Needed before the log is
    /// read, cut or replaced.
    async fn quiesce(&mut self) -> Result<(), Fatal> {
        self.send_appends()?;
        self.writer.barrier().await;
        // Any failure is in the reports already queued.
        let synced = &mut self.synced;
        self.durability
            .quiesced(std::iter::from_fn(|| synced.try_recv().ok()))
            .map_err(Fatal::Storage)
    }

    /// [`Driver::quiesce`], and what was logged is reported durable now (the log is about to
    /// be read).
    async fn drain(&mut self) -> Result<(), Fatal> {
        self.quiesce().await?;
        self.durability.everything_durable();
        Ok(())
    }

    /// Durability reports of the writer: this one and every one queued behind it. (After a
    /// storage failure they belong to the role that ended with it, and are ignored.)
    fn on_synced(&mut self, first: Synced) -> Result<(), Fatal> {
        let mut next = Some(first);
        while let Some(s) = next.take() {
            self.durability.on_report(&s).map_err(Fatal::Storage)?;
            next = self.synced.try_recv().ok();
        }
        Ok(())
    }

    // ----- command execution -----

    /// Executes `commands` in order. Log commands are appended at once; the sync and every
    /// durability notice wait for [`Driver::flush`], so a batch of inputs shares one sync.
    async fn execute(&mut self, commands: Vec<Command>) -> Result<(), Fatal> {
        // Applies are gathered and applied together; a command that reads or replaces the
        // applied state (or ends the role) first has them applied, and so does an error.
        let mut applies = Vec::new();
        let result = self.execute_gathering(commands, &mut applies).await;
        self.flush_applies(&mut applies);
        result
    }

    async fn execute_gathering(
        &mut self,
        commands: Vec<Command>,
        applies: &mut Vec<(Zxid, Bytes)>,
    ) -> Result<(), Fatal> {
        {
            for c in commands {
                match &c {
                    Command::Apply(zxid) => {
                        self.queue_apply(*zxid, applies).await?;
                        continue;
                    }
                    Command::Send { .. } | Command::SendAck { .. } | Command::Log { .. } => {}
                    _ => self.flush_applies(applies),
                }
                match c {
                    Command::Send { to, msg } => self.queue(to, msg),
                    Command::SendAck { to, ack } => self.queue(to, ack.into_message()),
                    Command::SendSnapshot { to, zxid } => {
                        if self.sm.last_applied() != zxid {
                            tracing::warn!(me = %self.me, %zxid, applied = %self.sm.last_applied(), "snapshot not at the asked zxid");
                        }
                        let data = self.with_machine(|sm| sm.snapshot()).await?;
                        self.queue(to, PeerMessage::Snap { zxid, data });
                    }
                    Command::PersistAcceptedEpoch(e) => {
                        let epochs = self.storage.epochs.clone();
                        self.offload(move || epochs.set_accepted_epoch(e))
                            .await?
                            .map_err(fatal)?;
                        // Answer LOOKING peers with the epoch this leadership establishes.
                        self.election.update_established_epoch(e);
                        self.durability.epoch_persisted(Persisted::AcceptedEpoch(e));
                    }
                    Command::PersistCurrentEpoch(e) => {
                        let epochs = self.storage.epochs.clone();
                        self.offload(move || epochs.set_current_epoch(e))
                            .await?
                            .map_err(fatal)?;
                        self.durability.epoch_persisted(Persisted::CurrentEpoch(e));
                    }
                    Command::Log { zxid, data } => {
                        // Broadcast only: records of a sync phase wait for NEWLEADER/UPTODATE.
                        if self.serving {
                            self.logged_at.logged(zxid, Instant::now());
                        }
                        self.durability.log(zxid, data.clone());
                        self.cache.insert(zxid, data);
                    }
                    Command::Truncate { to } => self.truncate(to).await?,
                    Command::InstallSnapshot { zxid, data } => {
                        self.install_snapshot(zxid, data).await?
                    }
                    Command::Apply(_) => unreachable!("gathered above"),
                    Command::StartServing => {
                        self.serving = true;
                        self.storage_failure = None;
                        self.synced_as_learner().await?;
                    }
                    Command::DropLearner { learner, why } => {
                        tracing::info!(me = %self.me, %learner, %why, "dropping learner");
                        self.lease.forget(learner);
                        self.send_outbox().await;
                        self.transport.disconnect(learner).await;
                    }
                    Command::StepDown(reason) | Command::GoLooking(reason) => {
                        self.pending_look.get_or_insert(format!("{reason:?}"));
                    }
                    Command::Resync { expected, got } => {
                        self.pending_look
                            .get_or_insert(format!("resync: expected {expected:?}, got {got}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Syncs what was appended (one sync for the whole batch) and feeds the durability notices
    /// back, until none is left.
    async fn flush(&mut self) -> Result<(), Fatal> {
        loop {
            // Durability arrives later as a writer report (`on_synced`).
            self.send_appends()?;
            let notices = self.durability.take_notices();
            if notices.is_empty() {
                return Ok(());
            }
            for n in notices {
                let more = match &mut self.role {
                    Role::Leading(l) => l.on_persisted(n),
                    Role::Following { f, .. } => f.on_persisted(n),
                    Role::Looking => Vec::new(),
                };
                self.execute(more).await?;
            }
        }
    }

    // ----- inputs -----

    async fn on_tick(&mut self) -> Result<(), Fatal> {
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
            paddock_election::execute(self.me, &self.verifier, out, &mut self.etrans);
        }
    }

    /// The election's clock: read votes and, while LOOKING, tick the election (its finalize
    /// wait and resend back-off count these ticks).
    fn on_votes(&mut self) {
        self.read_votes();
        if matches!(self.role, Role::Looking) {
            let out = self.election.tick();
            paddock_election::execute(self.me, &self.verifier, out, &mut self.etrans);
        }
    }

    async fn on_tick_roles(&mut self) -> Result<(), Fatal> {
        self.read_votes();
        let out = match &mut self.role {
            // The election ticks on its own, faster clock (`on_votes`).
            Role::Looking => Vec::new(),
            Role::Leading(l) => l.tick(),
            Role::Following { f, .. } => f.tick(),
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
            Role::Following {
                leader,
                stream_up: true,
                ..
            } if self.serving && self.pending_look.is_none() => Some(*leader),
            _ => None,
        }
    }

    /// Following and not connected yet: dial the leader, register on success.
    async fn dial_leader(&mut self) -> Result<(), Fatal> {
        let Role::Following {
            leader, dialled, ..
        } = &self.role
        else {
            return Ok(());
        };
        if *dialled || self.pending_look.is_some() {
            return Ok(());
        }
        let leader = *leader;
        self.send_outbox().await;
        match self.transport.connect(leader).await {
            Ok(()) => {
                let Role::Following { f, dialled, .. } = &mut self.role else {
                    unreachable!("role checked above");
                };
                *dialled = true;
                let out = f.start();
                self.execute(out).await
            }
            Err(e) => {
                tracing::debug!(me = %self.me, %leader, error = %e, "cannot reach the leader yet");
                Ok(())
            }
        }
    }

    async fn on_peer_event(&mut self, ev: PeerEvent) -> Result<(), Fatal> {
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
                if matches!(self.role, Role::Leading(_)) {
                    self.lease.on_receive(*from, msg);
                }
            }
        }
        if matches!(self.role, Role::Leading(_)) {
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
            Role::Looking => {
                self.early.hold(ev);
                Vec::new()
            }
            Role::Leading(l) => match ev {
                PeerEvent::Connected(_) => Vec::new(),
                PeerEvent::Message(from, msg) => l.step(from, msg),
                PeerEvent::Disconnected(p) => l.learner_disconnected(p),
            },
            Role::Following {
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
        let Role::Leading(l) = &self.role else {
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
        let Role::Leading(l) = &mut self.role else {
            unreachable!("only a leader proposes");
        };
        if !self.serving || self.pending_look.is_some() {
            tracing::debug!(me = %self.me, %origin, "not serving; submission dropped");
            return Ok(());
        }
        let size = data.len();
        match l.propose(|_| data) {
            Ok((_, out)) => {
                self.stats.record_proposal(size);
                self.execute(out).await
            }
            Err(e) => {
                tracing::debug!(me = %self.me, %origin, error = %e, "submission dropped");
                Ok(())
            }
        }
    }

    /// `first` and every event already queued behind it (up to [`MAX_BATCH`]), so that the
    /// log writes they cause share one sync (group commit).
    async fn on_peer_events(&mut self, first: PeerEvent) -> Result<(), Fatal> {
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

    /// `first` and every request already queued behind it (up to [`MAX_BATCH`]).
    async fn on_requests(&mut self, first: Request) -> Result<(), Fatal> {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(req) = next.take() {
            match req {
                Request::Propose(data, tx) => self.on_propose(data, tx).await?,
                Request::Submit(data) => self.on_submit(data).await?,
                Request::Shutdown => {
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
        if matches!(self.role, Role::Leading(_)) {
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
        let Role::Leading(l) = &mut self.role else {
            let _ = tx.send(Err(ProposeError::NotLeader { leader }));
            return Ok(());
        };
        if self.pending_look.is_some() {
            let _ = tx.send(Err(ProposeError::NotServing));
            return Ok(());
        }
        let size = data.len();
        match l.propose(|_| data) {
            Ok((zxid, out)) => {
                self.stats.record_proposal(size);
                self.waiting.insert(zxid, tx);
                self.execute(out).await
            }
            Err(NotServing::NotServing | NotServing::CounterExhausted) => {
                let _ = tx.send(Err(ProposeError::NotServing));
                Ok(())
            }
        }
    }

    // ----- transitions -----

    fn current_leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking => None,
            Role::Leading(_) => Some(self.me),
            Role::Following { leader, .. } => Some(*leader),
        }
    }

    /// Performs pending transitions until none is left.
    async fn settle(&mut self) -> Result<(), Fatal> {
        loop {
            self.flush().await?;
            if let Some(reason) = self.pending_look.take() {
                tracing::info!(me = %self.me, %reason, "going LOOKING");
                self.leave_role().await;
                self.start_election()?;
                continue;
            }
            if matches!(self.role, Role::Looking) && self.election.decision().is_some() {
                self.enter_role().await?;
                continue;
            }
            if self.early.has_replay() {
                for ev in self.early.take_replay() {
                    self.on_peer_event(ev).await?;
                }
                continue;
            }
            self.send_outbox().await;
            return Ok(());
        }
    }

    /// Ends the current role: streams closed, waiting proposals failed.
    async fn leave_role(&mut self) {
        // Durability reports still in flight belong to the role that ends.
        self.durability.role_ended();
        self.logged_at.clear();
        match std::mem::replace(&mut self.role, Role::Looking) {
            Role::Looking => {}
            Role::Leading(_) => {
                for p in std::mem::take(&mut self.connected) {
                    self.send_outbox().await;
                    self.send_outbox().await;
                    self.transport.disconnect(p).await;
                }
            }
            Role::Following { leader, .. } => {
                self.send_outbox().await;
                self.transport.disconnect(leader).await
            }
        }
        self.serving = false;
        self.lease = LeaseTracker::new();
        self.early.clear();
        for (zxid, tx) in std::mem::take(&mut self.waiting) {
            let _ = tx.send(Err(ProposeError::Unknown(zxid)));
        }
    }

    /// Storage failed: leave the role (clients are dropped by the role change) and sit out of
    /// elections — an election that is not started neither votes nor answers — until
    /// [`Driver::try_recover_storage`] succeeds.
    async fn out_of_service(&mut self, why: String) {
        tracing::error!(me = %self.me, error = %why, "storage failed: leaving the ensemble until the txn log can write again");
        self.leave_role().await;
        self.durability.storage_failed();
        self.pending_look = None;
        self.election = Election::new(
            self.me,
            self.last_zxid(),
            self.storage.epochs.current_epoch(),
            self.verifier.clone(),
            self.config.election,
        )
        .with_last_round(self.election.round());
        let first = tokio::time::Instant::now() + RECOVER_BACKOFF_FIRST;
        self.storage_failure = Some(why.clone());
        self.broken = Some((why, first, RECOVER_BACKOFF_FIRST));
    }

    /// Out of service: when due, waits for the log writer to be idle (its queued jobs fail
    /// fast), asks the log to recover and, once it has, rebuilds the state machine from what is
    /// durable (a learner may have applied commits its own log never held) and elects again.
    async fn try_recover_storage(&mut self) -> Result<(), Fatal> {
        let Some((why, due, wait)) = self.broken.clone() else {
            return Ok(());
        };
        if tokio::time::Instant::now() < due {
            return Ok(());
        }
        self.writer.barrier().await;
        while self.synced.try_recv().is_ok() {}
        let log = self.storage.log.clone();
        let epochs = self.storage.epochs.clone();
        // The log, and a rewrite of currentEpoch as it is: a probe of the data directory's
        // writes (an epoch file that cannot be written fails a role as surely as the log).
        let recovered = self
            .offload(move || {
                log.recover()?;
                epochs.set_current_epoch(epochs.current_epoch())
            })
            .await?;
        if let Err(e) = recovered {
            let wait = (wait * 2).min(RECOVER_BACKOFF_MAX);
            tracing::debug!(me = %self.me, error = %e, %why, "storage still failing");
            self.broken = Some((why, tokio::time::Instant::now() + wait, wait));
            return Ok(());
        }
        if !self.writer.resume() {
            return Err(stop("the log writer stopped"));
        }
        let logged = self.storage.log.last_logged_zxid();
        self.durability.recovered(logged);
        self.early.clear();
        self.cache.clear();
        self.logged_at.clear();
        // A learner may have applied commits its own log never held (a quorum acked them
        // without it): then the state machine is rebuilt from what is durable. A leader alone
        // commits nothing it did not log, and keeps its state (and its clients' sessions).
        if self.sm.last_applied() > logged.max(self.snap_zxid) {
            self.snap_zxid = Zxid::ZERO;
            self.rebuild(None).await?;
        }
        self.broken = None;
        tracing::info!(me = %self.me, last = %self.last_zxid(), "storage recovered: electing again");
        self.start_election()
    }

    /// A fresh election (the logical clock continues).
    fn start_election(&mut self) -> Result<(), Fatal> {
        let round = self.election.round();
        self.election = Election::new(
            self.me,
            self.last_zxid(),
            self.storage.epochs.current_epoch(),
            self.verifier.clone(),
            self.config.election,
        )
        .with_last_round(round)
        .recovering(self.recovering);
        let out = self.election.start();
        paddock_election::execute(self.me, &self.verifier, out, &mut self.etrans);
        Ok(())
    }

    async fn enter_role(&mut self) -> Result<(), Fatal> {
        let decision = self.election.decision().expect("decided");
        // The role starts from a quiet, durable log (reports of the old role are stale).
        self.drain().await?;
        drop(self.durability.take_notices());
        self.catch_up().await?;
        let accepted = self.storage.epochs.accepted_epoch();
        let current = self.storage.epochs.current_epoch();
        let last = self.last_zxid();
        tracing::info!(me = %self.me, leader = %decision.vote.leader, role = ?decision.role, %last, "election decided");
        match decision.role {
            ElectedRole::Leading => {
                let (log, keep) = (
                    self.storage.log.clone(),
                    self.config.zab.committed_log_capacity,
                );
                let history = self
                    .offload(move || {
                        let mut history = log.read_after(Zxid::ZERO, usize::MAX)?;
                        if history.len() > keep {
                            history.drain(..history.len() - keep);
                        }
                        Ok::<_, StorageError>(history)
                    })
                    .await?
                    .map_err(fatal)?;
                let mut leader = Leader::new(
                    self.me,
                    self.members.clone(),
                    self.config.zab,
                    accepted,
                    current,
                    last,
                    history,
                );
                let out = leader.start();
                self.role = Role::Leading(Box::new(leader));
                self.early.lead();
                self.execute(out).await?;
            }
            ElectedRole::Following | ElectedRole::Observing => {
                let leader = decision.vote.leader;
                // Streams opened to us while LOOKING: those peers think we lead.
                for p in self.early.follow(leader) {
                    self.send_outbox().await;
                    self.transport.disconnect(p).await;
                }
                let observer = decision.role == ElectedRole::Observing;
                let f = Follower::new(
                    self.me,
                    leader,
                    observer,
                    self.config.zab,
                    accepted,
                    current,
                    last,
                );
                self.role = Role::Following {
                    f: Box::new(f),
                    leader,
                    observer,
                    dialled: false,
                    stream_up: false,
                };
                self.dial_leader().await?;
            }
        }
        Ok(())
    }

    /// UPTODATE from an established leader: a recovering server now holds that leader's
    /// history, and votes again.
    async fn synced_as_learner(&mut self) -> Result<(), Fatal> {
        if !self.recovering || !matches!(self.role, Role::Following { .. }) {
            return Ok(());
        }
        if let Some(flag) = self.config.resync_flag.clone() {
            let path = flag.0.display().to_string();
            self.offload(move || flag.clear())
                .await?
                .map_err(|e| fatal(format!("cannot clear {path}: {e}")))?;
        }
        self.recovering = false;
        tracing::info!(me = %self.me, "synced with the leader after a damaged data directory: voting again");
        Ok(())
    }

    /// The lease a serving leader holds now (crate::lease): until its freshest quorum's
    /// oldest probe send time plus the lease duration.
    fn lease_now(&self) -> Lease {
        let Role::Leading(l) = &self.role else {
            return Lease::NotLeading;
        };
        if !self.serving {
            return Lease::Lapsed;
        }
        match self.lease.base(&self.members, self.me, l.synced_learners()) {
            LeaseBase::Unbounded => Lease::Unbounded,
            LeaseBase::Since(t) => Lease::Until(t + self.lease_duration()),
            LeaseBase::None => Lease::Lapsed,
        }
    }

    /// How long a learner's answer vouches for this leader: a quarter tick short of the
    /// syncLimit after which a follower gives its leader up (counted from when it received the
    /// probe, which is after the leader sent it). The margin covers the follower's tick timer,
    /// which may fire up to a few milliseconds before a whole period after the previous one.
    /// Pings go out every tick, so any syncLimit of 2 ticks or more (zoo.cfg's syncLimit=1 is
    /// 2 ticks) keeps a healthy leader's lease from lapsing between two pings.
    fn lease_duration(&self) -> Duration {
        let limit = self.config.tick * self.config.zab.sync_limit_ticks;
        limit.saturating_sub(self.config.tick / 4)
    }

    fn publish(&self) {
        let role = match &self.role {
            Role::Looking => PeerRole::Looking,
            Role::Leading(_) => PeerRole::Leading,
            Role::Following { observer: true, .. } => PeerRole::Observing,
            Role::Following { .. } => PeerRole::Following,
        };
        let new = PeerStatus {
            role,
            leader: self.current_leader(),
            epoch: self.storage.epochs.current_epoch(),
            serving: self.serving,
            last_committed: self.sm.last_applied(),
            round: self.election.round(),
            synced_followers: match &self.role {
                Role::Leading(l) if self.serving => l.synced_learners(),
                _ => Vec::new(),
            },
            lease: self.lease_now(),
            storage_failure: self.storage_failure.clone(),
        };
        // Commits alone update `last_committed` in place without waking the watchers (role
        // followers, health): that changes with every group commit, and nobody waits on it.
        self.status.send_if_modified(|s| {
            let notify = s.role != new.role
                || s.leader != new.leader
                || s.epoch != new.epoch
                || s.serving != new.serving
                || s.round != new.round
                || s.synced_followers != new.synced_followers
                || s.storage_failure != new.storage_failure;
            *s = new;
            notify
        });
    }
}

/// Stands in for the state machine while it is lent to blocking work
/// ([`Driver::with_machine`]): the loop awaits that work, so nothing uses this, unless the work
/// was lost, and then the peer stops with this in place (an empty state).
struct Lent;

impl StateMachine for Lent {
    fn apply(&mut self, _: Zxid, _: &Bytes) {}

    fn snapshot(&self) -> Bytes {
        Bytes::new()
    }

    fn restore(&mut self, _: Zxid, _: &Bytes) -> Result<(), String> {
        Err("the state machine is lent to blocking work".into())
    }

    fn last_applied(&self) -> Zxid {
        Zxid::ZERO
    }
}

/// Restores the latest snapshot (or the empty state) into `sm` and replays the log up to
/// `upto`. Returns the zxid of the snapshot the state now stems from (`snap` if there is none).
/// Blocking.
fn rebuild(
    sm: &mut dyn StateMachine,
    storage: &PeerStorage,
    me: ServerId,
    mut snap: Zxid,
    upto: Option<Zxid>,
) -> Result<Zxid, Fatal> {
    match storage.snapshots.open_latest().map_err(fatal)? {
        Some((z, mut r)) => {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map_err(fatal)?;
            // A snapshot whose checksum verified but that does not decode is not damage (a
            // bug, or another version's format): never replaced by an empty state.
            sm.restore(z, &Bytes::from(buf))
                .map_err(|e| stop(format!("snapshot {z} cannot be restored: {e}")))?;
            snap = z;
        }
        None => sm
            .restore(Zxid::ZERO, &Bytes::new())
            .map_err(|e| stop(format!("the empty state cannot be restored: {e}")))?,
    }
    if upto.is_some_and(|u| u < snap) {
        tracing::error!(%me, ?upto, %snap, "truncation below the snapshot");
    }
    let records = storage
        .log
        .read_after(sm.last_applied(), usize::MAX)
        .map_err(fatal)?;
    for (z, d) in records {
        if upto.is_some_and(|u| z > u) {
            break;
        }
        let last = sm.last_applied();
        if !z.follows(last) {
            return Err(stop(format!(
                "the log does not continue the state at {last}: its next record is {z}"
            )));
        }
        sm.apply(z, &d);
    }
    Ok(snap)
}

/// Installs the leader's snapshot: into the state machine first (a snapshot it cannot take,
/// sent by a leader of another version say, must not replace the log and the snapshots we
/// hold: `Ok(Err(why))`), then durably into the snapshot store, and the log restarts after it.
/// Blocking.
fn install_snapshot(
    sm: &mut dyn StateMachine,
    storage: &PeerStorage,
    zxid: Zxid,
    data: &Bytes,
) -> Result<Result<(), String>, Fatal> {
    if let Err(e) = sm.restore(zxid, data) {
        return Ok(Err(e));
    }
    let mut sink = storage.snapshots.create(zxid).map_err(fatal)?;
    sink.write_all(data).map_err(fatal)?;
    sink.commit().map_err(fatal)?;
    // The log continues after the snapshot (its purge watermark says so, across restarts).
    storage.log.reset_after(zxid).map_err(fatal)?;
    Ok(Ok(()))
}
