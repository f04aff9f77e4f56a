//! Who votes: majority quorums over the voters (observers never count). The same rule as
//! `paddock_election::QuorumVerifier`, kept here so the ZAB core does not depend on election.

use paddock_types::ServerId;
use std::collections::BTreeSet;
use thiserror::Error;

/// Why a membership is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MembershipError {
    /// No voters.
    #[error("the ensemble has no voters")]
    NoVoters,
    /// Listed both ways.
    #[error("server {0} is listed as both a voter and an observer")]
    VoterAndObserver(ServerId),
}

/// The ensemble: voters and observers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    voters: BTreeSet<ServerId>,
    observers: BTreeSet<ServerId>,
}

impl Membership {
    /// Builds a membership of `voters` plus `observers`.
    pub fn new(
        voters: impl IntoIterator<Item = ServerId>,
        observers: impl IntoIterator<Item = ServerId>,
    ) -> Result<Membership, MembershipError> {
        let voters: BTreeSet<ServerId> = voters.into_iter().collect();
        let observers: BTreeSet<ServerId> = observers.into_iter().collect();
        if voters.is_empty() {
            return Err(MembershipError::NoVoters);
        }
        if let Some(both) = voters.intersection(&observers).next() {
            return Err(MembershipError::VoterAndObserver(*both));
        }
        Ok(Membership { voters, observers })
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: ServerId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is an observer.
    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.contains(&id)
    }

    /// Whether `id` belongs to the ensemble (voter or observer).
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

    /// Whether the voters in `set` are a strict majority of all voters.
    pub fn contains_quorum(&self, set: &BTreeSet<ServerId>) -> bool {
        self.contains_quorum_with(set, None)
    }

    /// [`Membership::contains_quorum`] of `set` plus `extra` (without building the union).
    pub fn contains_quorum_with(&self, set: &BTreeSet<ServerId>, extra: Option<ServerId>) -> bool {
        let extra = extra.filter(|id| self.is_voter(*id) && !set.contains(id));
        let voting =
            set.iter().filter(|id| self.is_voter(**id)).count() + usize::from(extra.is_some());
        voting > self.voters.len() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_of_voters_observers_never_count() {
        let m = Membership::new([ServerId(1), ServerId(2), ServerId(3)], [ServerId(9)]).unwrap();
        let set = |ids: &[u64]| ids.iter().map(|i| ServerId(*i)).collect::<BTreeSet<_>>();
        assert!(!m.contains_quorum(&set(&[1])));
        assert!(!m.contains_quorum(&set(&[1, 9])));
        assert!(m.contains_quorum(&set(&[1, 3])));
        assert_eq!(Membership::new([], []), Err(MembershipError::NoVoters));
        assert_eq!(
            Membership::new([ServerId(1)], [ServerId(1)]),
            Err(MembershipError::VoterAndObserver(ServerId(1)))
        );
    }
}
