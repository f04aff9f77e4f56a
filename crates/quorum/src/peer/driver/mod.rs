//! The peer task: the role loop and the command executor (see the module docs of `peer`). The
//! driver is wiring: the protocol is in the pure cores (`Election`, `Leader`, `Follower`), the
//! log's durability bookkeeping in `peer::durability`, the LOOKING-time event buffer in
//! `peer::early_events`; the driver feeds them inputs and executes what they return.
//!
//! ```text
//!   mod.rs       the struct and the loop: one input per wakeup, from a biased select
//!   inputs.rs    ticks, votes, peer events, local requests (each with what is queued behind it)
//!   commands.rs  executing the cores' commands; flush: the wakeup's records to the writer,
//!                durability notices back to the role
//!   storage.rs   the writer's batches and reports, applies, truncation, snapshots, rebuilds —
//!                blocking work on `peer::blocking`
//!   roles.rs     settle: go LOOKING, enter a decided role, replay early events; leave a role
//!   outage.rs    a storage failure: out of service, recovery with back-off
//!   status.rs    PeerStatus and the leader's lease
//! ```
//!
//! One wakeup: `select!` one input; handle it and everything of its kind already queued (up to
//! [`MAX_BATCH`]), executing the commands (messages to the outbox, records to `Durability`,
//! applies gathered); then `settle`: flush (one write to the log writer, notices fed back,
//! until none is left), perform the transitions handlers recorded, and send the outbox, one
//! batch per peer. Transitions never recurse: handlers only record that the role ends
//! (`pending_look`) or that the election decided, and `settle` performs them in a loop.
//!
//! The select is `biased`, in this order: the ZAB tick, the election tick (each ready once per
//! period, so they starve nobody, and pings and liveness never wait behind load), the log
//! writer's reports, peer events, local requests (work in flight before new work: a new write
//! waits while those in flight can progress). With nothing random in the peer and tokio's
//! clock for every timer, a single-threaded runtime on a paused clock with
//! [`WriterMode::Inline`](super::WriterMode::Inline) replays a schedule exactly
//! (`tests/faults.rs`: `one_seed_replays_the_same_event_trace`). The only instants taken from
//! the wall clock are metrics (`stats`: commit latency, sync time), never a decision.

use super::blocking::{Blocking, Lost};
use super::durability::Durability;
use super::early_events::EarlyEvents;
use super::log_writer::{LogWriter, Synced};
use super::record_cache::RecordCache;
use super::stats::{CommitClock, PeerStats};
use super::{
    Lease, PeerConfig, PeerRequest, PeerRole, PeerStatus, PeerStorage, ProposeError, StateMachine,
};
use crate::follower::Follower;
use crate::leader::Leader;
use crate::lease::LeaseTracker;
use crate::membership::Membership;
use crate::messages::PeerMessage;
use crate::transport::{PeerEvent, PeerTransport};
use paddock_election::{Election, ElectionTransport, QuorumVerifier};
use paddock_types::{ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

mod commands;
mod inputs;
mod outage;
mod reconfig;
mod roles;
mod status;
mod storage;

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

/// What the peer does now, with the core that runs it.
enum CurrentRole {
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

/// What woke the loop, in the select's priority order.
enum Input {
    Tick,
    Votes,
    Synced(Option<Synced>),
    Peer(Option<PeerEvent>),
    Request(Option<PeerRequest>),
}

/// The state of one peer's role loop.
pub(crate) struct PeerDriver<T, E> {
    me: ServerId,
    config: PeerConfig,
    /// Who votes (the election counts quorums with it).
    verifier: QuorumVerifier,
    /// Voters and observers (a new leader's quorums): the static configuration, then the one
    /// the state machine reports (`reconfig.rs`).
    members: Membership,
    /// The version (zxid) of the configuration in force (`Zxid::ZERO`: the static one).
    config_version: Zxid,
    /// Whether that configuration is known committed (applied through a commit, or followed
    /// by a record of a later epoch).
    config_committed: bool,
    /// The membership it replaced, when known.
    previous_members: Option<Membership>,
    storage: PeerStorage,
    transport: T,
    etrans: E,
    /// The replicated state. Lent to blocking work now and then (`storage.rs`).
    sm: Box<dyn StateMachine>,
    /// `Proposer` / `PeerHandle` calls, in call order.
    requests: mpsc::UnboundedReceiver<PeerRequest>,
    status: watch::Sender<PeerStatus>,
    role: CurrentRole,
    /// The latest election: running while LOOKING; decided, it keeps answering LOOKING peers.
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
    /// Leader: a quorum acked NEWLEADER; learner: UPTODATE came.
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
    /// Counters for metrics, shared with `PeerHandle::stats`.
    stats: Arc<PeerStats>,
    /// Messages of this wakeup, per peer in order: sent as one frame per peer when the wakeup
    /// is done (proposals and commits of a group commit travel together).
    outbox: BTreeMap<ServerId, Vec<PeerMessage>>,
    /// Shutdown asked (or every handle dropped): the loop ends after this wakeup.
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
    /// Set at start when the log ends below the newest snapshot and could not be reset after
    /// it (`storage::align_log_with_snapshot`; a failing disk): the peer starts out of service,
    /// and its storage recovery aligns the log before anything is appended.
    misaligned: Option<String>,
}

impl<T, E> PeerDriver<T, E>
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
        requests: mpsc::UnboundedReceiver<PeerRequest>,
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
        let blocking = Blocking(config.log_writer);
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
        let mut d = PeerDriver {
            me,
            config,
            verifier,
            members,
            config_version: Zxid::ZERO,
            config_committed: true,
            previous_members: None,
            storage,
            transport,
            etrans,
            sm,
            requests,
            status,
            role: CurrentRole::Looking,
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
            blocking,
            misaligned: None,
        };
        // Not on the loop yet: the caller runs `spawn` where it may block. The log's records
        // are not known committed until this peer serves: the machine holds its snapshots.
        d.sm.history_confirmed(false);
        d.snap_zxid = storage::rebuild(d.sm.as_mut(), &d.storage, me, Zxid::ZERO, None)
            .map_err(|e| super::PeerError::Rebuild(e.to_string()))?;
        if let Err(e) = storage::align_log_with_snapshot(&d.storage, me) {
            d.misaligned = Some(format!(
                "the log ends below the newest snapshot and cannot be reset after it: {e}"
            ));
        }
        d.refresh_configuration(false);
        d.publish();
        Ok((d, rx, writer_task))
    }

    /// The role loop, until shutdown or a fatal error.
    pub(crate) async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.config.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The election runs on its own clock of min(tick, 10 ms): with tickTime=2000 a ZAB tick
        // is a second, and an election counted in those made every failover take seconds.
        let mut votes = tokio::time::interval(self.config.tick.min(ELECTION_POLL));
        votes.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut result = match self.misaligned.take() {
            Some(why) => Err(Fatal::Storage(why)),
            None => self.start_election(),
        };
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
            // Biased: the branches are tried in this order (see the module docs), so a seed
            // replays exactly — an unbiased select draws from tokio's RNG. Timers first (ready
            // once per period, they starve nobody), then work in flight — durability reports,
            // peer messages — and new local requests last.
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
}
