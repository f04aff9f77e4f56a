//! The per-peer election state machine: construction, `start`, `tick` and the shared helpers.
//! The notification handlers are in `handlers.rs`.

use crate::command::{Command, Decision};
use crate::config::ElectionConfig;
use crate::quorum::QuorumVerifier;
use crate::vote::{ElectedRole, Notification, PeerState, Vote};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::{BTreeMap, BTreeSet};

/// A vote as recorded from one sender: what it voted for, in which round, in which state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) vote: Vote,
    pub(crate) round: u64,
    pub(crate) state: PeerState,
}

impl Recorded {
    /// ZooKeeper's `Vote.equals`: between looking peers the whole vote must match; once either
    /// side is decided, leader and epoch are enough.
    pub(crate) fn supports(&self, target: &Vote, target_state: PeerState) -> bool {
        if self.state == PeerState::Looking && target_state == PeerState::Looking {
            self.vote == *target
        } else {
            self.vote.same_leader_and_epoch(target)
        }
    }
}

/// One run of Fast Leader Election for one peer (ZooKeeper's `lookForLeader`), as a pure state
/// machine: feed it [`Election::start`], [`Election::step`] and [`Election::tick`], execute the
/// [`Command`]s it returns.
#[derive(Clone, Debug)]
pub struct Election {
    pub(crate) me: ServerId,
    pub(crate) verifier: QuorumVerifier,
    pub(crate) config: ElectionConfig,
    /// Our own vote: for ourselves with our last zxid and current epoch.
    pub(crate) initial: Vote,
    /// The logical clock.
    pub(crate) round: u64,
    /// The vote we currently propose.
    pub(crate) proposal: Vote,
    /// Votes of the current round, by sender, ourselves included (ZooKeeper's `recvset`).
    pub(crate) received: BTreeMap<ServerId, Recorded>,
    /// Votes of decided peers, any round (ZooKeeper's `outofelection`).
    pub(crate) out_of_election: BTreeMap<ServerId, Recorded>,
    /// Ticks left before deciding for the current proposal, when its supporters are a quorum.
    pub(crate) finalize_remaining: Option<u32>,
    /// Ticks since the last notification arrived.
    pub(crate) idle_ticks: u32,
    /// Quiet ticks before the next resend; doubles up to the configured maximum.
    pub(crate) resend_interval: u32,
    pub(crate) started: bool,
    pub(crate) decision: Option<Decision>,
    /// A voter without a vote ([`Election::recovering`]).
    pub(crate) recovering: bool,
    /// The configuration a change not known committed replaced ([`Election::with_previous`]).
    pub(crate) previous: Option<QuorumVerifier>,
    /// Whom a broadcast goes to: the voters of both configurations.
    pub(crate) recipients: QuorumVerifier,
}

impl Election {
    /// An election for peer `me`, whose last logged zxid is `last_zxid` and current epoch
    /// `current_epoch`, in the ensemble described by `verifier`. Nothing happens before
    /// [`Election::start`].
    pub fn new(
        me: ServerId,
        last_zxid: Zxid,
        current_epoch: Epoch,
        verifier: QuorumVerifier,
        config: ElectionConfig,
    ) -> Election {
        assert!(
            verifier.is_member(me),
            "server {me} is not a member of the ensemble"
        );
        let initial = Vote::new(me, last_zxid, current_epoch);
        Election {
            me,
            config,
            initial,
            round: 0,
            proposal: initial,
            received: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            finalize_remaining: None,
            idle_ticks: 0,
            resend_interval: config.first_resend_interval(),
            started: false,
            decision: None,
            recovering: false,
            previous: None,
            recipients: verifier.clone(),
            verifier,
        }
    }

    /// The configuration that `verifier`'s replaced, while this peer cannot tell whether the
    /// change committed (it is in its log, and nothing after it shows a later leader served).
    /// The election then counts with both, as ZooKeeper's with its last seen configuration:
    ///
    /// - its own proposal wins only with a quorum of each (a change that never committed must
    ///   not let its new voters elect among themselves; a committed one has both quorums);
    /// - votes of the previous configuration's voters count too;
    /// - it joins an established leader (FOLLOWING/LEADING answers, `checkLeader`) backed by a
    ///   quorum of either. A leader a quorum of the previous configuration follows in a later
    ///   epoch was elected without the change, so the change never committed (it would be in
    ///   the history of any leader such a quorum elects), and syncing with that leader rolls it
    ///   back; without this rule, the servers holding an uncommitted change that makes them a
    ///   quorum of their own would never follow the ensemble's leader.
    pub fn with_previous(mut self, previous: Option<QuorumVerifier>) -> Election {
        self.previous = previous.filter(|p| *p != self.verifier);
        if let Some(p) = &self.previous {
            let voters = self.verifier.voters().union(p.voters()).copied();
            if let Ok(both) = QuorumVerifier::new(voters, std::iter::empty()) {
                self.recipients = both;
            }
        }
        self
    }

    /// Whom [`crate::execute`] broadcasts this election's notifications to: the voters of the
    /// configuration, and of the previous one ([`Election::with_previous`]).
    pub fn recipients(&self) -> &QuorumVerifier {
        &self.recipients
    }

    /// Whether `id`'s vote counts: a voter of the configuration or of the previous one.
    pub(crate) fn counts_vote_of(&self, id: ServerId) -> bool {
        self.verifier.is_voter(id) || self.previous.as_ref().is_some_and(|p| p.is_voter(id))
    }

    /// Whether `set` may elect from LOOKING votes: a quorum of the configuration, and of the
    /// previous one while the change is not known committed.
    pub(crate) fn elects(&self, set: &BTreeSet<ServerId>) -> bool {
        self.verifier.contains_quorum(set)
            && self
                .previous
                .as_ref()
                .is_none_or(|p| p.contains_quorum(set))
    }

    /// Whether `set`, following one leader, establishes it for this peer to join: a quorum of
    /// the configuration or of the previous one ([`Election::with_previous`]).
    pub(crate) fn establishes(&self, set: &BTreeSet<ServerId>) -> bool {
        self.verifier.contains_quorum(set)
            || self
                .previous
                .as_ref()
                .is_some_and(|p| p.contains_quorum(set))
    }

    /// Makes this peer a voter that does not vote: its data directory lost transactions it had
    /// made durable (and may have acknowledged), so its vote could help elect a leader that
    /// lacks them. Its notifications say [`PeerState::Recovering`]; other peers answer them but
    /// never count them; it never decides from LOOKING votes and never leads. It only joins a
    /// leader that a quorum of the others established (FOLLOWING/LEADING answers), as a
    /// follower. Once synced with that leader, the caller elects normally again.
    pub fn recovering(mut self, recovering: bool) -> Election {
        self.recovering = recovering;
        self
    }

    /// Whether this peer elects without a vote.
    pub fn is_recovering(&self) -> bool {
        self.recovering
    }

    /// Continues the logical clock of an earlier election of this process (ZooKeeper keeps
    /// `logicalclock` across elections): [`Election::start`] will use `last_round + 1`.
    pub fn with_last_round(mut self, last_round: u64) -> Election {
        self.round = last_round;
        self
    }

    /// Starts the election: next round, vote for ourselves, tell every voter.
    pub fn start(&mut self) -> Vec<Command> {
        assert!(!self.started, "an election is started once");
        self.started = true;
        self.round += 1;
        self.proposal = self.initial;
        self.received.clear();
        self.record_own_vote();
        tracing::debug!(me = %self.me, round = self.round, vote = %self.proposal, "election started");
        let mut out = vec![Command::Broadcast(self.current_notification())];
        self.check_proposal_quorum(&mut out);
        out
    }

    /// One unit of time: counts down the finalize wait, or resends our vote with exponential
    /// back-off when nothing arrived for a while.
    pub fn tick(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        if !self.started || self.decision.is_some() {
            return out;
        }
        if let Some(left) = self.finalize_remaining {
            if left <= 1 {
                self.finalize_remaining = None;
                if self.proposal_has_quorum() {
                    self.decide(self.proposal, false, &mut out);
                }
            } else {
                self.finalize_remaining = Some(left - 1);
            }
            return out;
        }
        self.idle_ticks += 1;
        if self.idle_ticks >= self.resend_interval {
            self.idle_ticks = 0;
            self.resend_interval = self
                .resend_interval
                .saturating_mul(2)
                .min(self.config.max_notification_interval_ticks);
            out.push(Command::Broadcast(self.current_notification()));
        }
        out
    }

    /// What a decided peer answers a LOOKING peer with (ZooKeeper's `WorkerReceiver` does this
    /// for a peer that is no longer looking): its final vote, round and state. `None` while
    /// undecided or when the asking peer is not looking.
    pub fn answer_when_decided(&self, sender_state: PeerState) -> Option<Notification> {
        let decision = self.decision?;
        matches!(sender_state, PeerState::Looking | PeerState::Recovering).then_some(Notification {
            vote: decision.vote,
            round: decision.round,
            sender: self.me,
            sender_state: decision.role.peer_state(),
        })
    }

    /// ZooKeeper's `QuorumPeer.updateElectionVote`: once the decided peer knows the epoch its
    /// leader established (the leader when it proposes it, a learner on LEADERINFO), the vote it
    /// answers LOOKING peers with carries that epoch. Without this, members of one ensemble that
    /// decided in different rounds answer with different epochs for the same leader, and a
    /// LOOKING peer — which counts decided peers by (leader, epoch) — may never see a quorum
    /// behind the established leader. No-op while undecided.
    pub fn update_established_epoch(&mut self, epoch: Epoch) {
        if let Some(d) = self.decision.as_mut() {
            d.vote.epoch = epoch;
        }
    }

    /// This peer.
    pub fn id(&self) -> ServerId {
        self.me
    }

    /// The current round (logical clock).
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The vote currently proposed.
    pub fn proposal(&self) -> Vote {
        self.proposal
    }

    /// This peer's own initial vote.
    pub fn initial_vote(&self) -> Vote {
        self.initial
    }

    /// How the election ended, once it has.
    pub fn decision(&self) -> Option<Decision> {
        self.decision
    }

    /// Whether a finalize wait is running.
    pub fn is_finalizing(&self) -> bool {
        self.finalize_remaining.is_some()
    }

    /// The ensemble.
    pub fn verifier(&self) -> &QuorumVerifier {
        &self.verifier
    }

    /// Our current vote as a LOOKING (or RECOVERING) notification.
    pub fn current_notification(&self) -> Notification {
        Notification {
            vote: self.proposal,
            round: self.round,
            sender: self.me,
            sender_state: if self.recovering {
                PeerState::Recovering
            } else {
                PeerState::Looking
            },
        }
    }

    /// `candidate` beats `current`: it names a voter, and either `current` does not or it is
    /// larger in (epoch, zxid, id) order. A vote for a non-voter never wins (ZooKeeper gives
    /// observers weight 0), and any voter's vote beats an observer's own initial vote.
    pub(crate) fn better(&self, candidate: &Vote, current: &Vote) -> bool {
        self.verifier.is_voter(candidate.leader)
            && (!self.verifier.is_voter(current.leader) || candidate > current)
    }

    /// Records our own proposal among this round's votes (voters only).
    pub(crate) fn record_own_vote(&mut self) {
        if self.verifier.is_voter(self.me) && !self.recovering {
            let own = Recorded {
                vote: self.proposal,
                round: self.round,
                state: PeerState::Looking,
            };
            self.received.insert(self.me, own);
        }
    }

    pub(crate) fn supporters(
        votes: &BTreeMap<ServerId, Recorded>,
        target: &Vote,
        target_state: PeerState,
    ) -> BTreeSet<ServerId> {
        votes
            .iter()
            .filter(|(_, r)| r.supports(target, target_state))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn proposal_has_quorum(&self) -> bool {
        let support = Self::supporters(&self.received, &self.proposal, PeerState::Looking);
        self.elects(&support)
    }

    /// ZooKeeper's `termPredicate` for the current proposal: start the finalize wait when its
    /// supporters are a quorum (or decide at once with a zero wait), stop it when they are not.
    pub(crate) fn check_proposal_quorum(&mut self, out: &mut Vec<Command>) {
        // A recovering peer only joins an established leader (`on_decided_peer`).
        if self.recovering || !self.proposal_has_quorum() {
            self.finalize_remaining = None;
            return;
        }
        // A voter alone in its ensemble: no other vote can ever arrive, so no wait.
        let alone = self.elects(&BTreeSet::from([self.me]));
        if self.config.finalize_wait_ticks == 0 || alone {
            self.decide(self.proposal, false, out);
        } else if self.finalize_remaining.is_none() {
            self.finalize_remaining = Some(self.config.finalize_wait_ticks);
        }
    }

    /// Ends the election for `vote`.
    pub(crate) fn decide(&mut self, vote: Vote, joined_established: bool, out: &mut Vec<Command>) {
        assert!(self.decision.is_none(), "an election decides once");
        let role = if self.verifier.is_observer(self.me) {
            ElectedRole::Observing
        } else if vote.leader == self.me {
            ElectedRole::Leading
        } else {
            ElectedRole::Following
        };
        self.proposal = vote;
        self.finalize_remaining = None;
        self.decision = Some(Decision {
            vote,
            round: self.round,
            role,
            joined_established,
        });
        tracing::info!(me = %self.me, round = self.round, %vote, ?role, joined_established, "election decided");
        out.push(Command::Decided {
            leader: vote.leader,
            epoch: vote.epoch,
            role,
        });
    }
}
