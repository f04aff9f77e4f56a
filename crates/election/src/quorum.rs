//! Quorum membership: which servers vote, and when a set of them is a quorum.

use paddock_types::ServerId;
use std::collections::BTreeSet;
use thiserror::Error;

/// Why an ensemble membership is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuorumError {
    /// An ensemble needs at least one voter.
    #[error("the ensemble has no voters")]
    NoVoters,
    /// A server was listed as both a voter and an observer.
    #[error("server {0} is listed as both a voter and an observer")]
    VoterAndObserver(ServerId),
}

/// Majority quorums over the voters of an ensemble; observers are members but never count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVerifier {
    voters: BTreeSet<ServerId>,
    observers: BTreeSet<ServerId>,
}

impl QuorumVerifier {
    /// Builds the verifier for an ensemble of `voters` plus `observers`.
    pub fn new(
        voters: impl IntoIterator<Item = ServerId>,
        observers: impl IntoIterator<Item = ServerId>,
    ) -> Result<QuorumVerifier, QuorumError> {
        let voters: BTreeSet<ServerId> = voters.into_iter().collect();
        let observers: BTreeSet<ServerId> = observers.into_iter().collect();
        if voters.is_empty() {
            return Err(QuorumError::NoVoters);
        }
        if let Some(both) = voters.intersection(&observers).next() {
            return Err(QuorumError::VoterAndObserver(*both));
        }
        Ok(QuorumVerifier { voters, observers })
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is an observer.
    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.contains(&id)
    }

    /// Whether `id` belongs to the ensemble at all.
    pub fn is_member(&self, id: ServerId) -> bool {
        self.is_voter(id) || self.is_observer(id)
    }

    /// The voters, in id order.
    pub fn voters(&self) -> &BTreeSet<ServerId> {
        &self.voters
    }

    /// The observers, in id order.
    pub fn observers(&self) -> &BTreeSet<ServerId> {
        &self.observers
    }

    /// The smallest number of voters that is a quorum: a strict majority.
    pub fn quorum_size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether the voters in `set` form a strict majority of all voters. Observers and strangers
    /// in `set` are ignored.
    pub fn contains_quorum(&self, set: &BTreeSet<ServerId>) -> bool {
        let voting = set.iter().filter(|id| self.is_voter(**id)).count();
        voting >= self.quorum_size()
    }
}
