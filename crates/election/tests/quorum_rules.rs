//! Majority quorums over voters; observers never count.

use paddock_election::{QuorumError, QuorumVerifier};
use paddock_types::ServerId;
use std::collections::BTreeSet;

fn ids(list: &[u64]) -> BTreeSet<ServerId> {
    list.iter().map(|i| ServerId(*i)).collect()
}

fn qv(voters: &[u64], observers: &[u64]) -> QuorumVerifier {
    QuorumVerifier::new(ids(voters), ids(observers)).unwrap()
}

#[test]
fn three_voters_need_two() {
    let q = qv(&[1, 2, 3], &[]);
    assert_eq!(q.quorum_size(), 2);
    assert!(!q.contains_quorum(&ids(&[1])));
    assert!(q.contains_quorum(&ids(&[1, 3])));
    assert!(q.contains_quorum(&ids(&[1, 2, 3])));
}

#[test]
fn five_voters_need_three() {
    let q = qv(&[1, 2, 3, 4, 5], &[]);
    assert_eq!(q.quorum_size(), 3);
    assert!(!q.contains_quorum(&ids(&[4, 5])));
    assert!(q.contains_quorum(&ids(&[1, 4, 5])));
}

#[test]
fn even_ensembles_need_a_strict_majority() {
    let q = qv(&[1, 2, 3, 4], &[]);
    assert!(!q.contains_quorum(&ids(&[1, 2])));
    assert!(q.contains_quorum(&ids(&[1, 2, 3])));
}

#[test]
fn observers_never_count_toward_a_quorum() {
    let q = qv(&[1, 2, 3], &[4, 5, 6]);
    assert!(!q.contains_quorum(&ids(&[1, 4, 5, 6])));
    assert!(q.contains_quorum(&ids(&[1, 2, 4])));
    assert!(q.is_observer(ServerId(4)) && !q.is_voter(ServerId(4)) && q.is_member(ServerId(4)));
}

#[test]
fn strangers_never_count_toward_a_quorum() {
    let q = qv(&[1, 2, 3], &[]);
    assert!(!q.contains_quorum(&ids(&[1, 7, 8])));
    assert!(!q.is_member(ServerId(7)));
}

#[test]
fn single_voter_is_its_own_quorum() {
    assert!(qv(&[1], &[]).contains_quorum(&ids(&[1])));
}

#[test]
fn membership_errors_are_refused() {
    assert_eq!(
        QuorumVerifier::new(ids(&[]), ids(&[1])),
        Err(QuorumError::NoVoters)
    );
    assert_eq!(
        QuorumVerifier::new(ids(&[1, 2]), ids(&[2])),
        Err(QuorumError::VoterAndObserver(ServerId(2)))
    );
}
