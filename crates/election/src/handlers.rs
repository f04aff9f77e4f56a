//! `Election::step`: what a notification does, by the sender's state (ZooKeeper's
//! `lookForLeader` switch plus the replies its `WorkerReceiver` sends).

use crate::command::Command;
use crate::election::{Election, Recorded};
use crate::vote::{Notification, PeerState};
use paddock_types::ServerId;

impl Election {
    /// Handles a notification from peer `from`.
    ///
    /// - Ignored: before `start`, from ourselves, or voting for a non-voter.
    /// - From an observer or a server outside the configuration (one joining the ensemble, or
    ///   removed from it, by a reconfiguration): answered with our current vote, never counted
    ///   (ZooKeeper answers non-voters the same way).
    /// - Once decided: a LOOKING sender gets our final vote ([`Election::answer_when_decided`]).
    /// - LOOKING senders and FOLLOWING/LEADING senders: see the two handlers below.
    pub fn step(&mut self, from: ServerId, n: Notification) -> Vec<Command> {
        debug_assert_eq!(from, n.sender, "sender field must match the link");
        if !self.started || from == self.me {
            return Vec::new();
        }
        if self.decision.is_some() {
            return self
                .answer_when_decided(n.sender_state)
                .map(|answer| Command::Send {
                    to: from,
                    notification: answer,
                })
                .into_iter()
                .collect();
        }
        if !self.counts_vote_of(from) || n.sender_state == PeerState::Recovering {
            // An observer, a server outside the configuration, or a voter recovering from a
            // damaged data directory, asking: tell it what we think; its vote does not count.
            return vec![self.reply_to(from)];
        }
        if !self.counts_vote_of(n.vote.leader) {
            tracing::warn!(me = %self.me, %from, vote = %n.vote, "ignoring vote for a non-voter");
            return Vec::new();
        }
        // Only the voters of the configuration in force end the quiet time. A voter of the
        // previous one only ([`Election::with_previous`]) is counted but may be an observer to
        // the others, who ignore it: its repeated votes must not keep us from resending ours,
        // or a voter that missed our last broadcast (a cut link) may never hear it — it does
        // not answer a vote equal to or worse than its own.
        if self.verifier.is_voter(from) {
            self.idle_ticks = 0;
        }
        match n.sender_state {
            PeerState::Looking => self.on_looking(from, n),
            // A voter of our configuration that observes: a reconfiguration we have not seen
            // made it an observer. Its word on who leads counts like a follower's (it decides
            // only whom we follow; the leader's quorums are the leader's), or a server with a
            // stale configuration could never find the leader to sync from.
            PeerState::Following | PeerState::Leading | PeerState::Observing => {
                self.on_decided_peer(from, n)
            }
            PeerState::Recovering => Vec::new(),
        }
    }

    fn reply_to(&self, to: ServerId) -> Command {
        Command::Send {
            to,
            notification: self.current_notification(),
        }
    }

    /// A LOOKING voter: round catch-up, vote adoption, then the quorum check.
    fn on_looking(&mut self, from: ServerId, n: Notification) -> Vec<Command> {
        let mut out = Vec::new();
        if n.round < self.round {
            // Behind us: ignore its vote, but tell it ours so it catches up.
            return vec![self.reply_to(from)];
        }
        if n.round > self.round {
            self.round = n.round;
            self.received.clear();
            self.proposal = if self.better(&n.vote, &self.initial) {
                n.vote
            } else {
                self.initial
            };
            self.finalize_remaining = None;
            out.push(Command::Broadcast(self.current_notification()));
        } else if self.better(&n.vote, &self.proposal) {
            self.proposal = n.vote;
            self.finalize_remaining = None;
            out.push(Command::Broadcast(self.current_notification()));
        }
        let recorded = Recorded {
            vote: n.vote,
            round: n.round,
            state: PeerState::Looking,
        };
        self.received.insert(from, recorded);
        self.record_own_vote();
        self.check_proposal_quorum(&mut out);
        out
    }

    /// A FOLLOWING/LEADING voter: count it in this round if rounds match, remember it as an
    /// out-of-election vote, and join its leader when a quorum backs it and the leader itself
    /// says it is LEADING (`checkLeader`).
    fn on_decided_peer(&mut self, from: ServerId, n: Notification) -> Vec<Command> {
        let mut out = Vec::new();
        let recorded = Recorded {
            vote: n.vote,
            round: n.round,
            state: n.sender_state,
        };
        self.out_of_election.insert(from, recorded);
        if n.round == self.round {
            self.received.insert(from, recorded);
            let support = Self::supporters(&self.received, &n.vote, n.sender_state);
            if self.establishes(&support) && self.leader_confirmed(&n) {
                self.decide(n.vote, true, &mut out);
                return out;
            }
        }
        let support = Self::supporters(&self.out_of_election, &n.vote, n.sender_state);
        if self.establishes(&support) && self.leader_confirmed(&n) {
            self.round = n.round;
            self.decide(n.vote, true, &mut out);
        }
        out
    }

    /// ZooKeeper's `checkLeader`: another peer must have told us itself that it is LEADING;
    /// if the vote names us, only a decision of our own current round counts.
    fn leader_confirmed(&self, n: &Notification) -> bool {
        let leader = n.vote.leader;
        if leader == self.me {
            return n.round == self.round;
        }
        self.out_of_election
            .get(&leader)
            .is_some_and(|r| r.state == PeerState::Leading)
    }
}
