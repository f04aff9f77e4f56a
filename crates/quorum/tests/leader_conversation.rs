//! Conversation tests: the test plays the learners, the leader's exact commands are asserted.

mod support;

use bytes::Bytes;
use paddock_quorum::{
    Command, Leader, LeaderPhase, Membership, PeerMessage as M, Persisted, Reason,
    PROTOCOL_VERSION as PV,
};
use paddock_types::{Epoch, ServerId};
use support::*;

fn data(zxid: paddock_types::Zxid) -> Bytes {
    Bytes::copy_from_slice(&zxid.to_be_bytes())
}

/// Leader 1 of {1,2,3}, accepted/current epoch 1, log (1,1)..(1,3).
fn leader() -> Leader {
    Leader::new(
        s(1),
        members(3),
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 3),
        (1..=3).map(|c| (z(1, c), data(z(1, c)))),
    )
}

fn info(accepted: u32, last: paddock_types::Zxid) -> M {
    M::FollowerInfo {
        accepted_epoch: Epoch(accepted),
        last_zxid: last,
        protocol_version: PV,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    }
}

/// Brings `leader()` through discovery and sync with 2 and 3 both at (1,3): serving in epoch 2.
fn serving_leader() -> Leader {
    let mut l = leader();
    l.step(s(2), info(1, z(1, 3)));
    l.step(s(3), info(1, z(1, 3)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    l.step(
        s(2),
        M::AckEpoch {
            current_epoch: Epoch(1),
            last_zxid: z(1, 3),
        },
    );
    l.step(
        s(3),
        M::AckEpoch {
            current_epoch: Epoch(1),
            last_zxid: z(1, 3),
        },
    );
    l.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    l.step(s(2), M::AckNewLeader { zxid: z(2, 0) });
    l.step(s(3), M::AckNewLeader { zxid: z(2, 0) });
    assert_eq!(l.phase(), LeaderPhase::Broadcast);
    l
}

#[test]
fn discovery_new_epoch_is_max_accepted_epoch_plus_one_once_a_quorum_answered() {
    let mut l = Leader::new(s(1), members(5), config(), Epoch(3), Epoch(3), z(3, 1), []);
    assert_eq!(
        outs(l.step(s(2), info(7, z(1, 3)))),
        vec![],
        "self + 2 is not a quorum of 5"
    );
    assert_eq!(
        outs(l.step(s(3), info(2, z(1, 3)))),
        vec![cmd(Command::PersistAcceptedEpoch(Epoch(8)))]
    );
    assert_eq!(
        outs(l.step(s(4), info(1, z(1, 3)))),
        vec![],
        "LEADERINFO waits for the durable epoch"
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::AcceptedEpoch(Epoch(8)))),
        [2, 3, 4]
            .map(|to| send(
                to,
                M::LeaderInfo {
                    new_epoch: Epoch(8),
                    protocol_version: PV
                }
            ))
            .to_vec()
    );
    assert_eq!(
        outs(l.step(s(5), info(1, z(1, 3)))),
        vec![send(
            5,
            M::LeaderInfo {
                new_epoch: Epoch(8),
                protocol_version: PV
            }
        )],
        "a late learner gets LEADERINFO at once"
    );
}

#[test]
fn discovery_counts_the_leaders_own_accepted_epoch() {
    let mut l = Leader::new(s(1), members(3), config(), Epoch(9), Epoch(9), z(9, 1), []);
    assert_eq!(
        outs(l.step(s(2), info(1, z(1, 3)))),
        vec![cmd(Command::PersistAcceptedEpoch(Epoch(10)))]
    );
}

#[test]
fn discovery_refuses_a_wrong_protocol_version_and_does_not_count_strangers() {
    let mut l = leader();
    let bad = M::FollowerInfo {
        accepted_epoch: Epoch(1),
        last_zxid: z(1, 1),
        protocol_version: PV + 1,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    };
    assert!(
        matches!(&l.step(s(2), bad)[..], [Command::DropLearner { learner, .. }] if *learner == s(2))
    );
    // A stranger (a server joining or removed by a reconfiguration) may connect, but never
    // counts toward discovery's quorum (reconfig_conversation.rs has the rest).
    assert_eq!(l.step(s(9), info(1, z(1, 1))), vec![]);
    assert_eq!(l.phase(), LeaderPhase::Discovery);
}

#[test]
fn discovery_leader_steps_down_when_a_quorum_member_is_ahead() {
    let mut l = leader();
    l.step(s(2), info(1, z(1, 3)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    assert_eq!(
        outs(l.step(
            s(2),
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 4)
            }
        )),
        vec![cmd(Command::StepDown(Reason::QuorumMemberAhead(s(2))))]
    );
    assert_eq!(l.phase(), LeaderPhase::Done);
    assert_eq!(outs(l.tick()), vec![], "a stepped-down leader is inert");
}

/// A voter that accepted epoch 3 (a candidate's, never established) while this leader
/// established epoch 2 could never follow it (found by the simulator with slow disks: seeds
/// (5, 1305943) and (5, 1308782) left a server LOOKING for good): the leader steps down so that
/// the next election picks an epoch above 3. Before the epoch is decided, the voter's accepted
/// epoch simply counts; an observer's never does, and one ahead is only dropped.
#[test]
fn a_voter_that_accepted_a_newer_epoch_makes_the_leader_give_way() {
    let mut l = serving_leader();
    assert_eq!(
        outs(l.step(s(3), info(3, z(1, 3)))),
        vec![cmd(Command::StepDown(Reason::VoterAcceptedNewerEpoch(
            s(3),
            Epoch(3)
        )))]
    );
    assert_eq!(l.phase(), LeaderPhase::Done);

    // Equal to the leader's epoch: an ordinary rejoin.
    let mut l = serving_leader();
    let out = l.step(s(3), info(2, z(2, 0)));
    assert!(
        matches!(&out[..], [Command::Send { to, msg: M::LeaderInfo { new_epoch: Epoch(2), .. } }] if *to == s(3)),
        "{out:?}"
    );

    // In discovery, before the epoch is decided, it raises the epoch proposed.
    let mut l = leader();
    assert_eq!(
        outs(l.step(s(2), info(5, z(1, 3)))),
        vec![cmd(Command::PersistAcceptedEpoch(Epoch(6)))]
    );

    // An observer ahead is dropped; the leader stays.
    let mut l = Leader::new(
        s(1),
        Membership::new((1..=3).map(ServerId), [ServerId(4)]).expect("members"),
        config(),
        Epoch(1),
        Epoch(1),
        z(1, 3),
        (1..=3).map(|c| (z(1, c), data(z(1, c)))),
    );
    l.step(s(2), info(1, z(1, 3)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    let observer = M::ObserverInfo {
        accepted_epoch: Epoch(7),
        last_zxid: z(1, 3),
        protocol_version: PV,
        snapshot_zxid: paddock_types::Zxid::ZERO,
    };
    let out = l.step(s(4), observer);
    assert!(
        matches!(&out[..], [Command::DropLearner { learner, .. }] if *learner == s(4)),
        "{out:?}"
    );
    assert_ne!(l.phase(), LeaderPhase::Done);
}

#[test]
fn sync_diff_for_a_lagging_follower_and_empty_diff_for_an_equal_one_then_serve_on_newleader_quorum()
{
    let mut l = leader();
    l.step(s(2), info(1, z(1, 1)));
    l.step(s(3), info(1, z(1, 3)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    assert_eq!(
        outs(l.step(
            s(2),
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 1)
            }
        )),
        vec![
            cmd(Command::PersistCurrentEpoch(Epoch(2))),
            send(2, M::Diff { last_zxid: z(1, 3) }),
            send(
                2,
                M::Txn {
                    zxid: z(1, 2),
                    data: data(z(1, 2))
                }
            ),
            send(
                2,
                M::Txn {
                    zxid: z(1, 3),
                    data: data(z(1, 3))
                }
            ),
            send(2, M::NewLeader { zxid: z(2, 0) }),
        ]
    );
    assert_eq!(
        outs(l.step(
            s(3),
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 3)
            }
        )),
        vec![
            send(3, M::Diff { last_zxid: z(1, 3) }),
            send(3, M::NewLeader { zxid: z(2, 0) })
        ]
    );
    assert_eq!(
        outs(l.step(s(2), M::AckNewLeader { zxid: z(2, 0) })),
        vec![],
        "own currentEpoch not durable yet"
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::CurrentEpoch(Epoch(2)))),
        vec![cmd(Command::StartServing), send(2, M::UpToDate)]
    );
    assert_eq!(
        outs(l.step(s(3), M::AckNewLeader { zxid: z(2, 0) })),
        vec![send(3, M::UpToDate)]
    );
}

#[test]
fn sync_trunc_for_a_follower_ahead_of_the_leader() {
    let mut l = leader();
    l.step(s(2), info(1, z(1, 7)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    // (1,7) > (1,3) but the same currentEpoch 0 < 1: not "ahead" as a state summary.
    assert_eq!(
        outs(l.step(
            s(2),
            M::AckEpoch {
                current_epoch: Epoch(0),
                last_zxid: z(1, 7)
            }
        )),
        vec![
            cmd(Command::PersistCurrentEpoch(Epoch(2))),
            send(2, M::Trunc { zxid: z(1, 3) }),
            send(2, M::NewLeader { zxid: z(2, 0) }),
        ]
    );
}

#[test]
fn sync_trunc_diff_for_a_follower_holding_an_old_epoch_txn_the_leader_never_had() {
    let history = [z(1, 1), z(1, 2), z(2, 1)];
    let mut l = Leader::new(
        s(1),
        members(3),
        config(),
        Epoch(2),
        Epoch(2),
        z(2, 1),
        history.map(|h| (h, data(h))),
    );
    l.step(s(2), info(1, z(1, 5)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(3)));
    assert_eq!(
        outs(l.step(
            s(2),
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 5)
            }
        )),
        vec![
            cmd(Command::PersistCurrentEpoch(Epoch(3))),
            send(2, M::Trunc { zxid: z(1, 2) }),
            send(
                2,
                M::Txn {
                    zxid: z(2, 1),
                    data: data(z(2, 1))
                }
            ),
            send(2, M::NewLeader { zxid: z(3, 0) }),
        ]
    );
}

#[test]
fn sync_snap_for_a_follower_older_than_the_committed_log_window() {
    let mut cfg = config();
    cfg.committed_log_capacity = 2;
    let mut l = Leader::new(
        s(1),
        members(3),
        cfg,
        Epoch(1),
        Epoch(1),
        z(1, 3),
        (1..=3).map(|c| (z(1, c), data(z(1, c)))),
    );
    l.step(s(2), info(0, z(0, 0)));
    l.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    assert_eq!(
        outs(l.step(
            s(2),
            M::AckEpoch {
                current_epoch: Epoch(0),
                last_zxid: z(0, 0)
            }
        )),
        vec![
            cmd(Command::PersistCurrentEpoch(Epoch(2))),
            cmd(Command::SendSnapshot {
                to: s(2),
                zxid: z(1, 3)
            }),
            send(2, M::NewLeader { zxid: z(2, 0) }),
        ]
    );
}

#[test]
fn broadcast_commits_strictly_in_zxid_order_with_out_of_order_acks() {
    let mut l = serving_leader();
    let mut zs = Vec::new();
    for _ in 0..3 {
        let (zxid, out) = l.propose(data).expect("serving");
        assert_eq!(
            outs(out),
            vec![
                cmd(Command::Log {
                    zxid,
                    data: data(zxid)
                }),
                send(
                    2,
                    M::Proposal {
                        zxid,
                        data: data(zxid)
                    }
                ),
                send(
                    3,
                    M::Proposal {
                        zxid,
                        data: data(zxid)
                    }
                ),
            ]
        );
        zs.push(zxid);
    }
    assert_eq!(
        zs,
        vec![z(2, 1), z(2, 2), z(2, 3)],
        "counter starts at 1 in the new epoch"
    );
    assert_eq!(
        outs(l.step(s(2), M::Ack { zxid: z(2, 3) })),
        vec![],
        "(2,3) has 2 of 3 but (2,1) does not"
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::Log(z(2, 3)))),
        vec![],
        "(2,1) has only the leader"
    );
    assert_eq!(outs(l.step(s(3), M::Ack { zxid: z(2, 2) })), vec![]);
    let commit = |zxid| {
        vec![
            cmd(Command::Apply(zxid)),
            send(2, M::Commit { zxid }),
            send(3, M::Commit { zxid }),
        ]
    };
    assert_eq!(
        outs(l.step(s(2), M::Ack { zxid: z(2, 1) })),
        [commit(z(2, 1)), commit(z(2, 2)), commit(z(2, 3))].concat()
    );
    assert_eq!(l.last_committed(), z(2, 3));
    assert_eq!(
        outs(l.step(s(3), M::Ack { zxid: z(2, 1) })),
        vec![],
        "late acks of committed zxids are ignored"
    );
}

#[test]
fn broadcast_leaders_own_ack_counts_only_after_its_log_is_persisted() {
    let mut l = serving_leader();
    let (zxid, _) = l.propose(data).expect("serving");
    assert_eq!(
        outs(l.step(s(2), M::Ack { zxid })),
        vec![],
        "follower 2 alone is not a quorum of 3"
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::Log(zxid))),
        vec![
            cmd(Command::Apply(zxid)),
            send(2, M::Commit { zxid }),
            send(3, M::Commit { zxid })
        ]
    );
}

#[test]
fn broadcast_refused_before_serving() {
    let mut l = leader();
    assert!(l.propose(data).is_err());
}

#[test]
fn liveness_pings_each_tick_drops_a_silent_learner_and_steps_down_on_lost_quorum() {
    let mut l = serving_leader();
    let pings = vec![send(2, M::Ping), send(3, M::Ping)];
    assert_eq!(outs(l.tick()), pings);
    assert_eq!(outs(l.step(s(2), M::PingReply)), vec![]);
    assert_eq!(outs(l.tick()), pings);
    assert_eq!(outs(l.step(s(2), M::PingReply)), vec![]);
    // tick 3: 3 has been silent for 3 > sync_limit (2) ticks.
    let out = outs(l.tick());
    assert!(matches!(&out[0], Out::Cmd(Command::DropLearner { learner, .. }) if *learner == s(3)));
    assert_eq!(
        out[1..],
        [send(2, M::Ping)],
        "servers 1 and 2 are still a quorum"
    );
    assert_eq!(l.synced_learners(), vec![s(2)]);
    assert_eq!(outs(l.tick()), vec![send(2, M::Ping)]);
    let out = outs(l.tick());
    assert!(matches!(&out[0], Out::Cmd(Command::DropLearner { learner, .. }) if *learner == s(2)));
    assert_eq!(out[1..], [cmd(Command::StepDown(Reason::LostQuorum))]);
    assert_eq!(l.phase(), LeaderPhase::Done);
}

#[test]
fn liveness_init_limit_bounds_discovery_and_sync() {
    let mut l = leader();
    for _ in 0..3 {
        assert_eq!(outs(l.tick()), vec![]);
    }
    assert_eq!(
        outs(l.tick()),
        vec![cmd(Command::StepDown(Reason::InitLimit))]
    );
}

#[test]
fn late_learner_during_broadcast_is_synced_and_gets_outstanding_proposals() {
    let mut l = serving_leader();
    let (z1, _) = l.propose(data).expect("serving");
    l.on_persisted(Persisted::Log(z1));
    l.step(s(2), M::Ack { zxid: z1 }); // committed
    let (z2, _) = l.propose(data).expect("serving"); // outstanding
    l.learner_disconnected(s(3));
    assert_eq!(
        outs(l.step(s(3), info(2, z(1, 3)))),
        vec![send(
            3,
            M::LeaderInfo {
                new_epoch: Epoch(2),
                protocol_version: PV
            }
        )]
    );
    assert_eq!(
        outs(l.step(
            s(3),
            M::AckEpoch {
                current_epoch: Epoch(2),
                last_zxid: z(1, 3)
            }
        )),
        vec![
            send(3, M::Diff { last_zxid: z1 }),
            send(
                3,
                M::Txn {
                    zxid: z1,
                    data: data(z1)
                }
            ),
            send(3, M::NewLeader { zxid: z(2, 0) }),
            send(
                3,
                M::Proposal {
                    zxid: z2,
                    data: data(z2)
                }
            ),
        ]
    );
    assert_eq!(
        outs(l.step(s(3), M::AckNewLeader { zxid: z(2, 0) })),
        vec![send(3, M::UpToDate)]
    );
}

/// Issue 13: a leader that is a quorum by itself (a standalone server: an ensemble of one)
/// goes through discovery and synchronisation on its own durability notices, and commits a
/// proposal once its own log made it durable — the same commands an ensemble leader issues.
#[test]
fn a_single_voter_leads_on_its_own_durability_notices() {
    let mut l = Leader::new(s(1), members(1), config(), Epoch(3), Epoch(3), z(3, 7), []);
    assert_eq!(
        outs(l.start()),
        vec![cmd(Command::PersistAcceptedEpoch(Epoch(4)))]
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::AcceptedEpoch(Epoch(4)))),
        vec![cmd(Command::PersistCurrentEpoch(Epoch(4)))],
        "its own epoch ack is a quorum"
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::CurrentEpoch(Epoch(4)))),
        vec![cmd(Command::StartServing)],
        "its own NEWLEADER is a quorum"
    );
    assert_eq!(l.phase(), LeaderPhase::Broadcast);
    let (zxid, out) = l.propose(data).expect("serving");
    assert_eq!(zxid, z(4, 1));
    assert_eq!(
        outs(out),
        vec![cmd(Command::Log {
            zxid,
            data: data(zxid)
        })]
    );
    assert_eq!(
        outs(l.on_persisted(Persisted::Log(zxid))),
        vec![cmd(Command::Apply(zxid))]
    );
    // A leader of several voters waits for learners before proposing an epoch.
    assert_eq!(outs(leader().start()), vec![]);
}
