//! Conversation tests of a configuration change in the ZAB core (ZooKeeper's reconfig rules):
//! the test plays the learners and asserts the leader's exact commands.
//!
//! - A change commits only once a quorum of the old configuration and a quorum of the new one
//!   acked it; at its commit the leader's quorums become the new configuration's.
//! - One change at a time (RECONFIGINPROGRESS); a change whose new voters that are synced
//!   followers are not a quorum of it is refused (NEWCONFIGNOQUORUM).
//! - A server outside the configuration, or a member connected as the other kind, may connect
//!   and sync (a joining or removed server, one that missed a change); only voters' acks count.
//! - A leader removed by a change steps down right after the change's commit went out; a
//!   learner connected as the wrong kind afterwards is dropped (it reconnects as what it is).
//! - A new leader holding a change not known committed needs a quorum of both configurations
//!   before it serves.

mod support;

use bytes::Bytes;
use paddock_quorum::{
    ChangeRefused, Command, Leader, LeaderPhase, Membership, PeerMessage as M, Persisted, Reason,
    PROTOCOL_VERSION as PV,
};
use paddock_types::{Epoch, Zxid};
use support::*;

fn data(zxid: Zxid) -> Bytes {
    Bytes::copy_from_slice(&zxid.to_be_bytes())
}

fn voters(ids: &[u64]) -> Membership {
    Membership::new(ids.iter().map(|i| s(*i)), []).expect("voters")
}

fn follower_info(last: Zxid) -> M {
    M::FollowerInfo {
        accepted_epoch: Epoch(1),
        last_zxid: last,
        protocol_version: PV,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    }
}

fn observer_info(last: Zxid) -> M {
    M::ObserverInfo {
        accepted_epoch: Epoch(1),
        last_zxid: last,
        protocol_version: PV,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    }
}

/// Leader 1 of `members` (log (1,1)), serving in epoch 2 with `followers` synced as followers
/// and `observers` as observers (members or not).
fn serving(members: Membership, followers: &[u64], observers: &[u64]) -> Leader {
    let mut l = Leader::new(
        s(1),
        members,
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 1),
        [(z(1, 1), data(z(1, 1)))],
    );
    for id in followers {
        l.step(s(*id), follower_info(z(1, 1)));
    }
    for id in observers {
        l.step(s(*id), observer_info(z(1, 1)));
    }
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    for id in followers.iter().chain(observers) {
        l.step(
            s(*id),
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 1),
            },
        );
    }
    l.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    for id in followers.iter().chain(observers) {
        l.step(s(*id), M::AckNewLeader { zxid: z(2, 0) });
    }
    assert_eq!(l.phase(), LeaderPhase::Broadcast);
    l
}

fn applied(out: &[Command]) -> Vec<Zxid> {
    out.iter()
        .filter_map(|c| match c {
            Command::Apply(z) => Some(*z),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_commits_only_with_a_quorum_of_the_old_and_of_the_new_configuration() {
    // {1,2,3} -> {1,4,5}; 4 and 5 joined as non-voting followers.
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3, 4, 5], &[]);
    let (change, _) = l
        .propose_change(voters(&[1, 4, 5]), data)
        .expect("a quorum of the new configuration is synced");
    assert_eq!(l.pending_change(), Some(change));
    l.on_persisted(Persisted::Log(change));
    assert_eq!(
        applied(&l.step(s(2), M::Ack { zxid: change })),
        vec![],
        "1 and 2 are a quorum of {{1,2,3}} but not of {{1,4,5}}"
    );
    assert_eq!(applied(&l.step(s(3), M::Ack { zxid: change })), vec![]);
    let out = l.step(s(4), M::Ack { zxid: change });
    assert_eq!(
        applied(&out),
        vec![change],
        "1 and 4 complete the new quorum"
    );
    assert!(out.contains(&Command::Send {
        to: s(2),
        msg: M::Commit { zxid: change }
    }));
    assert_eq!(l.members(), &voters(&[1, 4, 5]));
    assert_eq!(l.pending_change(), None);

    // From now on the new configuration commits: 2 and 3 no longer count.
    let (next, _) = l.propose(data).expect("serving");
    l.on_persisted(Persisted::Log(next));
    assert_eq!(applied(&l.step(s(2), M::Ack { zxid: next })), vec![]);
    assert_eq!(applied(&l.step(s(3), M::Ack { zxid: next })), vec![]);
    assert_eq!(applied(&l.step(s(5), M::Ack { zxid: next })), vec![next]);
}

#[test]
fn proposals_behind_a_change_wait_for_it_and_then_commit_by_the_new_quorum() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3, 4, 5], &[]);
    let (change, _) = l.propose_change(voters(&[1, 4, 5]), data).unwrap();
    let (after, _) = l.propose(data).unwrap();
    l.on_persisted(Persisted::Log(after));
    // `after` has the old quorum and the new one, but commits only behind the change.
    assert_eq!(applied(&l.step(s(2), M::Ack { zxid: after })), vec![]);
    assert_eq!(applied(&l.step(s(4), M::Ack { zxid: after })), vec![]);
    assert_eq!(applied(&l.step(s(2), M::Ack { zxid: change })), vec![]);
    assert_eq!(
        applied(&l.step(s(4), M::Ack { zxid: change })),
        vec![change, after]
    );
}

#[test]
fn one_change_at_a_time() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3], &[]);
    let (change, _) = l.propose_change(voters(&[1, 2]), data).unwrap();
    assert_eq!(
        l.propose_change(voters(&[1, 2, 3]), data),
        Err(ChangeRefused::InProgress)
    );
    l.on_persisted(Persisted::Log(change));
    l.step(s(2), M::Ack { zxid: change });
    assert_eq!(l.pending_change(), None);
    assert!(l.propose_change(voters(&[1, 2, 3]), data).is_ok());
}

#[test]
fn a_change_without_a_synced_quorum_of_its_voters_is_refused() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3], &[4]);
    // 4 and 5 are not synced followers (4 observes, 5 is absent): {1,4,5} has only 1.
    assert_eq!(
        l.propose_change(voters(&[1, 4, 5]), data),
        Err(ChangeRefused::NoQuorum)
    );
    assert_eq!(l.pending_change(), None);
    // Adding 4 to make 4 voters needs 3 of them: 1, 2 and 3 are synced.
    assert!(l.propose_change(voters(&[1, 2, 3, 4]), data).is_ok());
    let mut before = Leader::new(
        s(1),
        voters(&[1, 2, 3]),
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 1),
        [],
    );
    assert!(matches!(
        before.propose_change(voters(&[1, 2]), data),
        Err(ChangeRefused::NotServing(_))
    ));
}

#[test]
fn a_server_outside_the_configuration_syncs_but_never_counts() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3, 9], &[]);
    assert!(l.is_synced_learner(s(9)));
    let (zxid, out) = l.propose(data).unwrap();
    assert!(out.contains(&Command::Send {
        to: s(9),
        msg: M::Proposal {
            zxid,
            data: data(zxid)
        }
    }));
    l.on_persisted(Persisted::Log(zxid));
    assert_eq!(applied(&l.step(s(9), M::Ack { zxid })), vec![]);
    assert_eq!(applied(&l.step(s(3), M::Ack { zxid })), vec![zxid]);
}

#[test]
fn a_member_connected_as_the_other_kind_syncs_but_never_counts() {
    // 2 votes but connects as an observer (it has not applied the configuration yet): it
    // receives INFORMs and sends no ACK, so only 1 and 3 can commit.
    let members = Membership::new([s(1), s(2), s(3)], [s(7)]).unwrap();
    let mut l = serving(members, &[3, 7], &[2]);
    assert!(l.is_synced_learner(s(2)) && l.is_synced_learner(s(7)));
    let (zxid, _) = l.propose(data).unwrap();
    l.on_persisted(Persisted::Log(zxid));
    // 7 is an observer connected as a follower: its ack is no vote.
    assert_eq!(applied(&l.step(s(7), M::Ack { zxid })), vec![]);
    assert_eq!(applied(&l.step(s(3), M::Ack { zxid })), vec![zxid]);
}

#[test]
fn a_leader_removed_by_a_change_steps_down_once_its_commit_went_out() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3], &[]);
    let (change, _) = l.propose_change(voters(&[2, 3]), data).unwrap();
    let (after, _) = l.propose(data).unwrap();
    l.on_persisted(Persisted::Log(after));
    l.step(s(3), M::Ack { zxid: after });
    l.step(s(2), M::Ack { zxid: after });
    assert_eq!(applied(&l.step(s(2), M::Ack { zxid: change })), vec![]);
    let out = l.step(s(3), M::Ack { zxid: change });
    assert_eq!(
        out,
        vec![
            Command::Apply(change),
            Command::Send {
                to: s(2),
                msg: M::Commit { zxid: change }
            },
            Command::Send {
                to: s(3),
                msg: M::Commit { zxid: change }
            },
            Command::StepDown(Reason::Reconfigured(change)),
        ],
        "the change commits, the leader steps down; what follows is left to the next leader"
    );
    assert_eq!(l.phase(), LeaderPhase::Done);
}

#[test]
fn a_learner_connected_as_the_wrong_kind_after_a_change_is_dropped() {
    let mut l = serving(voters(&[1, 2, 3]), &[2, 3], &[]);
    let to = Membership::new([s(1), s(2)], [s(3)]).unwrap();
    let (change, _) = l.propose_change(to, data).unwrap();
    l.on_persisted(Persisted::Log(change));
    let out = l.step(s(2), M::Ack { zxid: change });
    assert_eq!(applied(&out), vec![change]);
    assert!(
        matches!(out.last(), Some(Command::DropLearner { learner, .. }) if *learner == s(3)),
        "3 is an observer now: it reconnects as one ({out:?})"
    );
    assert!(!l.is_synced_learner(s(3)));
}

#[test]
fn a_new_leader_holding_an_uncommitted_change_needs_both_quorums_to_serve() {
    // Leader 1's history ends with a change {1,2,3} -> {1,4,5} that nothing shows committed.
    let mut l = Leader::new(
        s(1),
        voters(&[1, 4, 5]),
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 1),
        [(z(1, 1), data(z(1, 1)))],
    )
    .with_joint(Some(voters(&[1, 2, 3])));
    assert_eq!(
        l.step(s(4), follower_info(z(1, 1))),
        vec![],
        "1 and 4 are a quorum of the new configuration only"
    );
    assert_eq!(
        l.step(s(2), follower_info(z(1, 1))),
        vec![Command::PersistAcceptedEpoch(Epoch(2))]
    );
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    let ack_epoch = M::AckEpoch {
        current_epoch: Epoch(1),
        last_zxid: z(1, 1),
    };
    l.step(s(4), ack_epoch.clone());
    assert_eq!(
        l.phase(),
        LeaderPhase::AwaitEpochAcks,
        "epoch acks of 1 and 4 only"
    );
    l.step(s(2), ack_epoch);
    assert_eq!(l.phase(), LeaderPhase::Sync);
    l.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    l.step(s(4), M::AckNewLeader { zxid: z(2, 0) });
    assert_eq!(
        l.phase(),
        LeaderPhase::Sync,
        "NEWLEADER acks of 1 and 4 only"
    );
    l.step(s(2), M::AckNewLeader { zxid: z(2, 0) });
    assert_eq!(l.phase(), LeaderPhase::Broadcast);
    // Serving: the history is committed, the new configuration alone counts.
    let (zxid, _) = l.propose(data).unwrap();
    l.on_persisted(Persisted::Log(zxid));
    assert_eq!(applied(&l.step(s(2), M::Ack { zxid })), vec![]);
    assert_eq!(applied(&l.step(s(4), M::Ack { zxid })), vec![zxid]);
}

#[test]
fn voters_of_the_old_configuration_connected_as_observers_count_for_a_new_leaders_quorums() {
    // The change {1..5} -> {1,2} is not known committed; 3 applied it and observes. Its
    // ACKEPOCH and NEWLEADER acks are as durable as a follower's, so with 1 and 2 it makes the
    // old configuration's quorum (otherwise such a change could never commit: a deadlock).
    let mut l = Leader::new(
        s(1),
        voters(&[1, 2]),
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 1),
        [(z(1, 1), data(z(1, 1)))],
    )
    .with_joint(Some(voters(&[1, 2, 3, 4, 5])));
    assert_eq!(l.step(s(2), follower_info(z(1, 1))), vec![]);
    assert_eq!(
        l.step(s(3), observer_info(z(1, 1))),
        vec![Command::PersistAcceptedEpoch(Epoch(2))],
        "1, 2 and 3 are 3 of 5"
    );
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    let ack_epoch = M::AckEpoch {
        current_epoch: Epoch(1),
        last_zxid: z(1, 1),
    };
    l.step(s(2), ack_epoch.clone());
    assert_eq!(l.phase(), LeaderPhase::AwaitEpochAcks);
    l.step(s(3), ack_epoch);
    assert_eq!(l.phase(), LeaderPhase::Sync);
    l.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    l.step(s(2), M::AckNewLeader { zxid: z(2, 0) });
    assert_eq!(
        l.phase(),
        LeaderPhase::Sync,
        "the old quorum needs 3's ack too"
    );
    l.step(s(3), M::AckNewLeader { zxid: z(2, 0) });
    assert_eq!(l.phase(), LeaderPhase::Broadcast);
}

#[test]
fn a_new_leader_its_own_history_made_a_non_voter_hands_over_once_the_history_commits() {
    // Leader 3 was elected by the old configuration {1..5}; its history ends with a change to
    // {2,4,5} that nothing shows committed. The NEWLEADER quorum of both commits it; 3 then
    // tells its learners they are up to date and steps down, as a leader its own change
    // removed does: a leader outside the configuration cannot be found by its observers.
    let mut l = Leader::new(
        s(3),
        voters(&[2, 4, 5]),
        config(),
        Epoch(3),
        Epoch(3),
        z(3, 1),
        [(z(3, 1), data(z(3, 1)))],
    )
    .with_joint(Some(voters(&[1, 2, 3, 4, 5])));
    for id in [2, 4] {
        l.step(s(id), follower_info(z(3, 1)));
    }
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(4)));
    let ack_epoch = M::AckEpoch {
        current_epoch: Epoch(3),
        last_zxid: z(3, 1),
    };
    l.step(s(2), ack_epoch.clone());
    l.step(s(4), ack_epoch);
    l.on_persisted(Persisted::CurrentEpoch(Epoch(4)));
    l.step(s(2), M::AckNewLeader { zxid: z(4, 0) });
    assert_eq!(
        l.phase(),
        LeaderPhase::Sync,
        "2 and 3 are no quorum of {{2,4,5}}"
    );
    let out = l.step(s(4), M::AckNewLeader { zxid: z(4, 0) });
    assert_eq!(
        out.last(),
        Some(&Command::StepDown(Reason::Reconfigured(z(3, 1)))),
        "{out:?}"
    );
    for id in [2, 4] {
        assert!(
            out.contains(&Command::Send {
                to: s(id),
                msg: M::UpToDate
            }),
            "{id} learns the history is committed before the leader goes: {out:?}"
        );
    }
}
