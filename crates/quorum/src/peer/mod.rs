//! The QuorumPeer: one tokio task per server that runs the role loop (ZooKeeper's
//! `QuorumPeer.run`) and executes the pure cores' commands against storage, a state machine and
//! the transports.
//!
//! ```text
//!              ┌──────────── LOOKING: paddock_election::Election over an ElectionTransport ───┐
//!   spawn ──►  │  Decided(Leading) ──► Leader  ┐                                              │
//!              │  Decided(Following/Observing) ──► Follower (connect to the leader)            │
//!              └──◄── StepDown / GoLooking / Resync / leader stream lost: a fresh Election ◄───┘
//!                     (the logical clock continues)
//!
//!   Command::Log{zxid,data}*   ─► TxnLog::append (each), one TxnLog::sync per batch ─► Persisted::Log(last)
//!   PersistAccepted/CurrentEpoch ─► EpochStore setters ─► Persisted::AcceptedEpoch / CurrentEpoch
//!   Truncate{to}               ─► TxnLog::truncate_after, state machine rebuilt (snapshot + log <= to);
//!                                 below the snapshot: the peer stops (a snapshot cannot be rolled back)
//!   InstallSnapshot{zxid,data} ─► SnapshotStore (durable), log emptied, StateMachine::restore ─► Persisted::Log
//!   SendSnapshot{to,zxid}      ─► PeerMessage::Snap { StateMachine::snapshot() }
//!   Apply(zxid)                ─► StateMachine::apply(zxid, logged bytes); a waiting propose() resolves
//!   ticks: tokio interval of `tick` (= tickTime / 2) ─► Election / Leader / Follower tick
//!
//!   Outside the cores (the driver handles these itself):
//!   submit(data), leading+serving      ─► Leader::propose, nobody waits
//!   submit(data), learner after UPTODATE ─► PeerMessage::Forward{data} to the leader
//!   submit(data), otherwise            ─► dropped (debug log)
//!   Forward{data} from a synced learner, leading+serving ─► Leader::propose, nobody waits
//!   tick, learner after UPTODATE       ─► StateMachine::take_touched_sessions ─► Touch{sessions}
//!   Touch{sessions} from a synced learner, leading ─► StateMachine::sessions_touched(from, ..)
//! ```
//!
//! The leader's lease ([`crate::lease`]): while LEADING the driver notes when it queues each
//! PING and NEWLEADER and, per learner in stream order, which one each PINGREPLY / NEWLEADER ack
//! answers; [`PeerStatus::lease`] says until when a quorum vouched for it (syncLimit less a
//! quarter tick after the send time of the freshest quorum's oldest answered probe). Readers judge it against
//! tokio's clock when they read ([`PeerHandle::status`], [`PeerStatus::serving_now`]), so a
//! leader that was paused reports itself not serving before its loop has run again.
//!
//! Submission order: [`Proposer::submit`] and [`Proposer::propose`] share one FIFO queue, a
//! learner's stream to the leader is FIFO, and the leader proposes the forwards of one stream in
//! arrival order; so the writes submitted at one server are proposed (and committed) in the order
//! of the calls, whichever server leads. A submission is never retried: one that is dropped
//! (no leader, not serving, the stream to the leader broke) shows up as a role change in
//! [`PeerStatus`], and the caller then fails its clients' pending writes.
//!
//! Group commit: after one input the driver also takes every peer event / propose request
//! already queued (up to 1024), executes all their commands, and only then syncs the log once
//! and feeds `Persisted` back (so 100 pipelined proposals cost about one sync per server).
//!
//! Notifications from the election transport are polled (`try_recv`) on every tick, so the
//! driver works with any [`ElectionTransport`] (the gRPC one included). While the peer is
//! LEADING or FOLLOWING its decided election keeps answering LOOKING peers, so a restarted
//! server joins the established leader.
//!
//! A crash is [`PeerHandle::kill`] (the task is aborted; its storage, `Arc`ed by the caller,
//! survives); [`spawn`] again on the same storage rebuilds the state machine from the latest
//! snapshot plus the log.
//!
//! Dropping the [`PeerHandle`] and every [`Proposer`] stops the peer as [`PeerHandle::shutdown`]
//! does.
//!
//! Blocking storage work (epoch writes, truncations, snapshot installation and serialisation,
//! reading the log back) runs off the runtime's threads ([`WriterMode`]), and the loop awaits
//! it: nothing that depends on a durable epoch or log is queued before the write returned.
//!
//! Determinism: the loop's `select!` is biased (a fixed priority, see `driver`), nothing in
//! the peer is random, and every timer is tokio's; on a single-threaded runtime with a paused
//! clock and [`WriterMode::Inline`] a schedule replays exactly (`tests/faults.rs`).
//!
//! Layout:
//!
//! ```text
//!   mod.rs            the API: spawn, PeerHandle, Proposer, PeerConfig, StateMachine, PeerStatus
//!   driver/           the role loop (wiring): mod.rs, inputs.rs, commands.rs, storage.rs,
//!                     roles.rs, outage.rs, status.rs
//!   durability.rs     what of the log is durable, pure (generations, notices, truncations)
//!   early_events.rs   peer events held while LOOKING, pure
//!   record_cache.rs   logged records not applied yet, pure
//!   log_writer.rs     appends + one sync per group, on a thread of its own
//!   blocking.rs       where the other blocking storage work runs
//!   stats.rs          counters for metrics, and the commit clock
//!   election_net.rs   an in-memory election network for tests
//! ```
//!
//! Not yet here: client-facing processor pipelines per role (they live in the server and use
//! [`Proposer::submit`] and the session hooks of [`StateMachine`]), periodic snapshots / log
//! purge.

mod blocking;
mod driver;
mod durability;
mod early_events;
pub mod election_net;
mod log_writer;
mod record_cache;
mod stats;

pub use log_writer::WriterMode;
pub use stats::{PeerStats, ProposalSizes};

use bytes::Bytes;
use paddock_election::{ElectionConfig, ElectionTransport, QuorumError, QuorumVerifier};
use paddock_storage::{EpochStore, SnapshotStore, TxnLog};
use paddock_types::{Epoch, ServerId, SessionId, Zxid};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::ZabConfig;
use crate::leader::ChangeRefused;
use crate::membership::{Membership, MembershipError};
use crate::transport::PeerTransport;

/// Why a [`StateMachine`] refused a snapshot (its own error type, boxed).
pub type RestoreError = Box<dyn std::error::Error + Send + Sync>;

/// The replicated state: committed transactions are applied in zxid order.
pub trait StateMachine: Send + 'static {
    /// Applies the committed transaction `zxid` (always above [`StateMachine::last_applied`]).
    fn apply(&mut self, zxid: Zxid, data: &Bytes);

    /// Applies consecutive committed transactions, in order (what one wakeup of the driver
    /// commits: a group commit's worth). The default applies them one by one; a machine with a
    /// lock to take per apply takes it once.
    fn apply_batch(&mut self, batch: &[(Zxid, Bytes)]) {
        for (zxid, data) in batch {
            self.apply(*zxid, data);
        }
    }
    /// The whole state, as of [`StateMachine::last_applied`].
    fn snapshot(&self) -> Bytes;
    /// Replaces the state with `data` taken at `zxid`. `restore(Zxid::ZERO, &Bytes::new())`
    /// must give the empty state (the driver uses it to rebuild from the log alone). `Err`
    /// (why) when `data` is not a state this machine can take: the state is then unchanged.
    fn restore(&mut self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError>;
    /// The last applied zxid (`Zxid::ZERO` when empty).
    fn last_applied(&self) -> Zxid;

    /// Whether every transaction applied so far is known to be committed. The driver says
    /// `false` before it applies logged records that no quorum may have (the rebuild at start,
    /// a role's catch-up with its own log, a role left) and `true` once the peer serves (a
    /// leader whose NEWLEADER a quorum acknowledged, a learner at UPTODATE). A machine that
    /// writes snapshots of its own must not start one while `false`: a later TRUNC may remove
    /// records such a snapshot holds, and a snapshot cannot be rolled back.
    fn history_confirmed(&mut self, confirmed: bool) {
        let _ = confirmed;
    }

    /// Learner side: the sessions heard from since the last call. The driver calls it once per
    /// tick while following or observing a leader it is serving under, and sends a non-empty
    /// result to the leader in a `Touch`. Sessions reported while the peer is not serving stay
    /// with the state machine until the next call.
    fn take_touched_sessions(&mut self) -> Vec<SessionId> {
        Vec::new()
    }

    /// Leader side: learner `from` heard from `sessions` (a `Touch` from a synced learner).
    fn sessions_touched(&mut self, from: ServerId, sessions: &[SessionId]) {
        let _ = (from, sessions);
    }

    /// Leader side: whether `data`, a transaction this peer is about to propose, is a
    /// configuration change, resolved against the configuration as of
    /// [`StateMachine::last_applied`] (the leader proposes one change at a time, so no other
    /// change lies between): the membership it installs and the bytes to propose in its place
    /// (the change spelled out whole, so every replica applies the same configuration), or the
    /// bytes of a change already known to fail (a stale version, say), proposed as an
    /// ordinary transaction that fails where it is applied. Asked of every proposal; `None`
    /// for anything else.
    fn config_change(&self, data: &Bytes) -> Option<ConfigChange> {
        let _ = data;
        None
    }

    /// Leader side: `data`, a configuration change the leader refuses for `why`, rewritten as a
    /// transaction that changes nothing and tells its client why when applied (so the refusal
    /// is ordered and reaches the server the client talks to). `None`: dropped unanswered.
    fn refuse_change(&self, data: &Bytes, why: &ChangeRefused) -> Option<Bytes> {
        let _ = (data, why);
        None
    }

    /// The configuration as of [`StateMachine::last_applied`], when a transaction (or a
    /// restored snapshot) set one; `None` while the static configuration the peer was started
    /// with holds. Asked after every batch of applies, so it should be cheap.
    fn configuration(&self) -> Option<Configuration> {
        None
    }

    /// The version of [`StateMachine::configuration`] (`Zxid::ZERO` for none): the driver
    /// fetches the configuration only when this moved.
    fn configuration_version(&self) -> Zxid {
        Zxid::ZERO
    }
}

/// A configuration change as the state machine resolved it ([`StateMachine::config_change`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// It installs `members`; propose `data`.
    Installs {
        /// The new membership.
        members: Membership,
        /// What to propose.
        data: Bytes,
    },
    /// It fails where applied; propose these bytes as an ordinary transaction.
    Fails(Bytes),
}

/// The ensemble's configuration as the replicated state holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// The zxid of the transaction that installed it (its version).
    pub version: Zxid,
    /// Who votes and who observes.
    pub members: Membership,
    /// The membership it replaced, when known (after a restart the state may only know the
    /// latest).
    pub previous: Option<Membership>,
}

/// A server's durable storage, shared so that it outlives a crashed task.
#[derive(Clone)]
pub struct PeerStorage {
    /// The transaction log.
    pub log: Arc<dyn TxnLog>,
    /// acceptedEpoch / currentEpoch.
    pub epochs: Arc<dyn EpochStore>,
    /// Snapshots installed by SNAP syncs.
    pub snapshots: Arc<dyn SnapshotStore>,
}

/// Static settings of one peer.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This server.
    pub me: ServerId,
    /// The voting servers.
    pub voters: Vec<ServerId>,
    /// The observers.
    pub observers: Vec<ServerId>,
    /// One tick: tickTime / 2 (the leader pings every tick).
    pub tick: Duration,
    /// ZAB limits, in ticks.
    pub zab: ZabConfig,
    /// Election timing, in election ticks: min(`tick`, 10 ms). (`ElectionConfig::default()` is
    /// ZooKeeper's: finalize wait 200 ms, resend back-off up to 60 s.)
    pub election: ElectionConfig,
    /// Set when this server's data directory lost transactions it had made durable (it was
    /// repaired from what verified): while the flag exists the peer elects without a vote
    /// ([`paddock_election::Election::recovering`]) and only follows an established leader;
    /// the first completed sync with one (UPTODATE) clears it. `None`: never recovering.
    pub resync_flag: Option<ResyncFlag>,
    /// Where the peer's blocking storage work runs: the log writer on a thread of its own and
    /// the rest (epoch writes, truncations, snapshots, reading the log back) on tokio's
    /// blocking pool (servers), or all of it inline in the runtime (deterministic simulations
    /// on a paused clock).
    pub log_writer: WriterMode,
}

/// A file that says "this server must sync from a leader before it votes again" (see
/// [`PeerConfig::resync_flag`]). Its content is the reason, for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResyncFlag(pub std::path::PathBuf);

impl ResyncFlag {
    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.0.exists()
    }

    /// Sets the flag durably (file written, fsync'ed, directory fsync'ed), with `reason`.
    pub fn set(&self, reason: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&self.0)?;
        f.write_all(reason.as_bytes())?;
        f.sync_all()?;
        self.sync_dir()
    }

    /// Clears the flag durably.
    pub fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.0) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        match self.0.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    }
}

/// A refused [`PeerConfig`] or unreadable storage at start.
#[derive(Debug, Error)]
pub enum PeerError {
    /// The server list does not make a quorum system.
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    /// The server list does not make a membership.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// `me` is not in the server list.
    #[error("server {0} is not in the server list")]
    NotAMember(ServerId),
    /// Rebuilding the state machine from the snapshot and the log failed.
    #[error("cannot rebuild the state from storage: {0}")]
    Rebuild(String),
}

/// What a peer is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// Electing.
    Looking,
    /// Leading (serving once `serving`).
    Leading,
    /// Following a leader.
    Following,
    /// Observing a leader.
    Observing,
    /// The task ended (shutdown, storage failure, transport closed).
    Stopped,
}

/// Whether a leader may call itself serving, judged against tokio's clock when read (see
/// [`crate::lease`]): a leader that was paused, or lost its followers, stops reporting itself
/// serving when its lease ends, whether or not its role loop has run since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Not a leader: `role` and `serving` say it all.
    NotLeading,
    /// A leader that is a quorum by itself (a single voter): always holds.
    Unbounded,
    /// A leader that heard from a quorum: holds strictly before this instant.
    Until(tokio::time::Instant),
    /// A leader that is not serving, or has not heard from a quorum recently enough.
    Lapsed,
}

impl Lease {
    /// Whether the lease holds at `now`.
    pub fn holds_at(&self, now: tokio::time::Instant) -> bool {
        match self {
            Lease::NotLeading | Lease::Unbounded => true,
            Lease::Until(t) => now < *t,
            Lease::Lapsed => false,
        }
    }
}

/// A snapshot of a peer's state, published on every change of role, leader, epoch, serving,
/// round or synced followers. `last_committed` and `lease` are kept current (`status()` reads
/// them) but their progress alone does not wake watchers: they move with every group commit
/// and every ping.
///
/// `serving` is the role loop's view. A leader's `serving` must be read together with its
/// lease at the time it matters: [`PeerStatus::serving_now`], or [`PeerStatus::as_of`] (what
/// [`PeerHandle::status`] returns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// The role.
    pub role: PeerRole,
    /// The leader it leads/follows, if not LOOKING.
    pub leader: Option<ServerId>,
    /// Its currentEpoch (durable).
    pub epoch: Epoch,
    /// Whether it serves clients (leader: a quorum acked NEWLEADER; learner: UPTODATE).
    pub serving: bool,
    /// The last zxid applied to its state machine.
    pub last_committed: Zxid,
    /// The election round (logical clock) of its latest election.
    pub round: u64,
    /// Leader only, while serving: the learners (followers and observers) that acked NEWLEADER
    /// and got UPTODATE, in id order; empty otherwise.
    pub synced_followers: Vec<ServerId>,
    /// Leader only: until when it may serve (see [`Lease`]).
    pub lease: Lease,
    /// Why its storage cannot write, while it sits out because of that (a full disk): from the
    /// failure until it serves again (so an ensemble of one goes from read-only straight back
    /// to leading).
    pub storage_failure: Option<String>,
}

impl PeerStatus {
    /// Whether the peer serves clients at `now`: `serving`, and for a leader its lease holds.
    pub fn serving_at(&self, now: tokio::time::Instant) -> bool {
        self.serving && self.lease.holds_at(now)
    }

    /// [`PeerStatus::serving_at`] the current time of tokio's clock.
    pub fn serving_now(&self) -> bool {
        self.serving_at(tokio::time::Instant::now())
    }

    /// The status as it stands at `now`: a leader whose lease ended reports `serving: false`
    /// and no synced followers (its role stays `Leading` until its loop steps down).
    pub fn as_of(mut self, now: tokio::time::Instant) -> PeerStatus {
        if !self.serving_at(now) {
            self.serving = false;
            self.synced_followers.clear();
        }
        self
    }
}

/// Why a proposal did not commit (or is not known to).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProposeError {
    /// This peer does not lead; `leader` is who it follows, if anyone.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The current leader as far as this peer knows.
        leader: Option<ServerId>,
    },
    /// This peer leads but is not (or no longer) serving.
    #[error("not currently serving requests")]
    NotServing,
    /// Leadership ended after the proposal was made and before it committed here: it may
    /// still commit under the next leader, or not.
    #[error("leadership lost before {0} committed; outcome unknown")]
    Unknown(Zxid),
    /// The peer stopped.
    #[error("the peer is stopped")]
    Stopped,
    /// A configuration change the leader refused (and the state machine did not rewrite).
    #[error("configuration change refused: {0}")]
    ChangeRefused(ChangeRefused),
}

pub(crate) enum PeerRequest {
    Propose(Bytes, oneshot::Sender<Result<Zxid, ProposeError>>),
    /// Fire and forget: proposed here if leading, forwarded to the leader if a serving learner.
    Submit(Bytes),
    Shutdown,
}

/// Proposes through a peer task; cloneable.
#[derive(Clone)]
pub struct Proposer {
    requests: mpsc::UnboundedSender<PeerRequest>,
}

impl Proposer {
    /// As [`PeerHandle::propose`].
    pub fn propose(
        &self,
        data: Bytes,
    ) -> impl Future<Output = Result<Zxid, ProposeError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.requests.send(PeerRequest::Propose(data, tx)).is_ok();
        async move {
            if !queued {
                return Err(ProposeError::Stopped);
            }
            rx.await.unwrap_or(Err(ProposeError::Stopped))
        }
    }

    /// As [`PeerHandle::submit`].
    pub fn submit(&self, data: Bytes) -> bool {
        self.requests.send(PeerRequest::Submit(data)).is_ok()
    }
}

/// The handle of a running peer task.
pub struct PeerHandle {
    me: ServerId,
    requests: mpsc::UnboundedSender<PeerRequest>,
    status: watch::Receiver<PeerStatus>,
    task: JoinHandle<()>,
    /// The log writer task: ends after the driver, once what it was given is written.
    writer: JoinHandle<()>,
    stats: Arc<PeerStats>,
}

/// Starts the peer task of `config.me` on `storage`: rebuilds `state_machine` from the latest
/// snapshot and the log, then goes LOOKING. Needs a tokio runtime.
pub fn spawn<T, E>(
    config: PeerConfig,
    storage: PeerStorage,
    transport: T,
    election: E,
    state_machine: Box<dyn StateMachine>,
) -> Result<PeerHandle, PeerError>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    let verifier = QuorumVerifier::new(
        config.voters.iter().copied(),
        config.observers.iter().copied(),
    )?;
    let members = Membership::new(
        config.voters.iter().copied(),
        config.observers.iter().copied(),
    )?;
    if !verifier.is_member(config.me) {
        return Err(PeerError::NotAMember(config.me));
    }
    let me = config.me;
    let (requests, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(PeerStats::default());
    let (driver, status, writer) = driver::PeerDriver::new(
        config,
        verifier,
        members,
        storage,
        transport,
        election,
        state_machine,
        rx,
        stats.clone(),
    )?;
    let task = tokio::spawn(driver.run());
    Ok(PeerHandle {
        me,
        requests,
        status,
        task,
        writer,
        stats,
    })
}

impl PeerHandle {
    /// This server.
    pub fn id(&self) -> ServerId {
        self.me
    }

    /// Proposes `data`; resolves with its zxid once it is committed and applied on this (leading)
    /// peer. The request is queued when this is called (not when the future is first polled),
    /// so proposals made one after the other get increasing zxids and are pipelined.
    pub fn propose(
        &self,
        data: Bytes,
    ) -> impl Future<Output = Result<Zxid, ProposeError>> + Send + 'static {
        self.proposer().propose(data)
    }

    /// Submits `data` to be committed through whichever server leads, without waiting: proposed
    /// here when this peer leads and serves, forwarded to the leader when it follows or
    /// observes one and got UPTODATE, dropped otherwise (with a debug log; the caller learns of
    /// it from the role change). Submissions from one server are proposed in call order,
    /// interleaved with [`PeerHandle::propose`] calls in call order too. The outcome is seen
    /// when the transaction is applied to the [`StateMachine`]. Returns `false` only when the
    /// peer task is gone.
    pub fn submit(&self, data: Bytes) -> bool {
        self.proposer().submit(data)
    }

    /// This peer's counters (group commits, commit latency), for metrics.
    pub fn stats(&self) -> Arc<PeerStats> {
        self.stats.clone()
    }

    /// A cloneable handle that only proposes (for request pipelines).
    pub fn proposer(&self) -> Proposer {
        Proposer {
            requests: self.requests.clone(),
        }
    }

    /// The current status, a leader's lease judged now ([`PeerStatus::as_of`]).
    pub fn status(&self) -> PeerStatus {
        self.status
            .borrow()
            .clone()
            .as_of(tokio::time::Instant::now())
    }

    /// A receiver of status changes (the role loop's view: judge a leader's `serving` with
    /// [`PeerStatus::serving_now`] when it is read).
    pub fn watch(&self) -> watch::Receiver<PeerStatus> {
        self.status.clone()
    }

    /// The role.
    pub fn role(&self) -> PeerRole {
        self.status.borrow().role
    }

    /// The leader, if not LOOKING.
    pub fn leader(&self) -> Option<ServerId> {
        self.status.borrow().leader
    }

    /// The last applied zxid.
    pub fn last_committed(&self) -> Zxid {
        self.status.borrow().last_committed
    }

    /// Stops the task in an orderly way (streams closed, waiting proposals failed) and waits.
    pub async fn shutdown(self) {
        let _ = self.requests.send(PeerRequest::Shutdown);
        let _ = self.task.await;
        let _ = self.writer.await;
    }

    /// Crashes the peer: the task is aborted where it stands; its storage is kept by whoever
    /// holds the [`PeerStorage`].
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        // The writer finishes the write it holds (a real disk would too) and stops: nothing
        // touches the storage after this returns.
        let _ = self.writer.await;
    }
}
