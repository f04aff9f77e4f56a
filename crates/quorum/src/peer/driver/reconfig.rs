//! The configuration in force. The replicated state holds it (a committed reconfiguration
//! transaction, or a snapshot that holds one) and reports it
//! ([`StateMachine::configuration`]); the driver follows after every batch of applies, after a
//! rebuild and after catching up at a role's start:
//!
//! - the election counts quorums of the new voters; a server outside the configuration takes
//!   part as an observer would (it learns the leader, never votes, and follows as a non-voting
//!   observer: how a joining server syncs before the change that adds it, and what a removed
//!   one does after);
//! - a learner connected as what it no longer is (a voter that became an observer, say) goes
//!   LOOKING and reconnects as what it is now;
//! - the next leader starts with the new membership, and with the previous one as a second
//!   quorum while the change is not known committed ([`Leader::with_joint`]).
//!
//! The leader side of a change is the ZAB core's (`leader/broadcast.rs`): the state machine
//! names the membership a proposal installs ([`StateMachine::config_change`]), the core needs a
//! quorum of both configurations to commit it and switches at the commit.

use super::{CurrentRole, PeerDriver};
use crate::command::Command;
use crate::leader::{ChangeRefused, Leader, NotServing};
use crate::membership::Membership;
use crate::peer::{ConfigChange, StateMachine};
use crate::transport::PeerTransport;
use bytes::Bytes;
use paddock_election::{ElectionTransport, QuorumVerifier};
use paddock_types::{ServerId, Zxid};

/// How a proposal went.
pub(super) enum Proposed {
    /// Logged at this zxid.
    Made(Zxid, Vec<Command>),
    /// Not proposed.
    NotServing(NotServing),
    /// A configuration change refused, and dropped (the state machine did not rewrite it).
    Refused(ChangeRefused),
}

/// Proposes `data` through the leader core: as a configuration change when the state machine
/// says it is one; a refused change as the state machine rewrites it.
pub(super) fn propose(l: &mut Leader, sm: &dyn StateMachine, data: Bytes) -> Proposed {
    let plain = |l: &mut Leader, data: Bytes| match l.propose(|_| data) {
        Ok((zxid, out)) => Proposed::Made(zxid, out),
        Err(e) => Proposed::NotServing(e),
    };
    let (members, data) = match sm.config_change(&data) {
        None => return plain(l, data),
        Some(ConfigChange::Fails(data)) => return plain(l, data),
        Some(ConfigChange::Installs { members, data }) => (members, data),
    };
    match l.propose_change(members, |_| data.clone()) {
        Ok((zxid, out)) => Proposed::Made(zxid, out),
        Err(ChangeRefused::NotServing(e)) => Proposed::NotServing(e),
        Err(why) => {
            tracing::info!(me = %l.me, error = %why, "configuration change refused");
            match sm.refuse_change(&data, &why) {
                Some(rewritten) => plain(l, rewritten),
                None => Proposed::Refused(why),
            }
        }
    }
}

/// The election's view of `members` from `me`: a server outside them counts as an observer.
pub(super) fn verifier_for(me: ServerId, members: &Membership) -> Option<QuorumVerifier> {
    let outside = (!members.is_member(me)).then_some(me);
    QuorumVerifier::new(
        members.voters().iter().copied(),
        members.observers().iter().copied().chain(outside),
    )
    .ok()
}

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// Follows the state machine's configuration if it moved. `committed`: the records just
    /// applied are known committed.
    pub(super) fn refresh_configuration(&mut self, committed: bool) {
        let version = self.sm.configuration_version();
        if version == self.config_version {
            if committed && !self.config_committed {
                self.config_committed = true;
                self.update_election_view();
            }
            return;
        }
        let (members, previous) = match self.sm.configuration() {
            Some(c) => (c.members, c.previous),
            None => match Membership::new(
                self.config.voters.iter().copied(),
                self.config.observers.iter().copied(),
            ) {
                Ok(m) => (m, None),
                Err(e) => {
                    tracing::error!(me = %self.me, error = %e, "the static configuration makes no membership");
                    return;
                }
            },
        };
        if verifier_for(self.me, &members).is_none() {
            tracing::error!(me = %self.me, %version, ?members, "a configuration without voters; ignored");
            return;
        }
        tracing::info!(me = %self.me, %version, ?members, "configuration in force");
        let rolled_back = version < self.config_version;
        self.config_version = version;
        self.config_committed = committed || version == Zxid::ZERO;
        // What the state machine says preceded it, else what this peer had in force until now
        // (the static configuration for the first change, or whatever this process followed;
        // not after a truncation rolled a change back): a new leader holding this change
        // uncommitted needs that quorum too, and elections count with it meanwhile.
        let replaced = std::mem::replace(&mut self.members, members);
        self.previous_members = if rolled_back {
            previous
        } else {
            previous.or(Some(replaced))
        };
        self.update_election_view();
    }

    /// Whether the change in force is known committed: applied through a commit, or followed
    /// in the log by a record of a later epoch (whose leader served, so committed its history).
    fn config_known_committed(&self, last: Zxid) -> bool {
        self.config_committed || last.epoch() > self.config_version.epoch()
    }

    /// This server's own view — whom the election counts, and whether it learns as a
    /// follower or an observer — is the configuration in force, the latest applied. (Electing
    /// with the one it replaced until the change is known committed, as ZooKeeper elects with
    /// its committed configuration, was tried: a restarted server cannot tell whether its last
    /// change committed, and servers holding different views then voted for candidates the
    /// others do not count, in seeded fault schedules. A change that never committed is rolled
    /// back with the log when this server syncs; a new leader holding one needs a quorum of
    /// the old configuration too, `with_joint`, whose members may ack as observers; and the
    /// election counts with both configurations meanwhile, [`Self::previous_verifier`].)
    pub(super) fn update_election_view(&mut self) {
        if let Some(v) = verifier_for(self.me, &self.members) {
            self.verifier = v;
        }
        // A learner connected as what its view no longer makes it reconnects as what it is.
        if let CurrentRole::Following { observer, .. } = &self.role {
            let voter = self.verifier.is_voter(self.me);
            if *observer == voter {
                self.pending_look.get_or_insert(format!(
                    "the configuration {} makes this server {}",
                    self.config_version,
                    if voter { "a voter" } else { "a non-voter" }
                ));
            }
        }
    }

    /// The election's view of the membership the one in force replaced, while the change is
    /// not known committed: an election then counts with both (`Election::with_previous`).
    pub(super) fn previous_verifier(&self) -> Option<QuorumVerifier> {
        if self.config_known_committed(self.last_zxid()) {
            return None;
        }
        verifier_for(self.me, self.previous_members.as_ref()?)
    }

    /// The previous membership a new leader must also gather a quorum of: while the change in
    /// force is not known committed (nothing shows it: it was applied from the log, and no
    /// record of a later epoch follows it).
    pub(super) fn joint_for_new_leader(&self, last: Zxid) -> Option<Membership> {
        if self.config_known_committed(last) {
            return None;
        }
        if self.previous_members.is_none() {
            tracing::warn!(me = %self.me, version = %self.config_version, "leading with a configuration change not known committed and without its predecessor: only the new configuration's quorum is required");
        }
        self.previous_members.clone()
    }
}
