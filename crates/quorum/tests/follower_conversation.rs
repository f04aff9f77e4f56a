//! Conversation tests: the test plays the leader (server 1) for DIFF / TRUNC / SNAP and
//! broadcast; the follower's exact commands are asserted.

mod support;

use bytes::Bytes;
use paddock_quorum::{
    Command, Follower, FollowerPhase, PeerMessage as M, Persisted, Reason, PROTOCOL_VERSION as PV,
};
use paddock_types::Epoch;
use support::*;

fn b(x: u8) -> Bytes {
    Bytes::from(vec![x])
}

/// Follower 2 of leader 1: accepted/current epoch 1, log up to `last`.
fn follower(last: paddock_types::Zxid) -> Follower {
    Follower::new(s(2), s(1), false, config(), Epoch(1), Epoch(1), last)
}

/// Through discovery to the sync phase in epoch 2.
fn syncing(last: paddock_types::Zxid) -> Follower {
    let mut f = follower(last);
    f.start();
    f.step(
        s(1),
        M::LeaderInfo {
            new_epoch: Epoch(2),
            protocol_version: PV,
        },
    );
    f.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    assert_eq!(f.phase(), FollowerPhase::Syncing);
    f
}

/// Synced by an empty DIFF and serving in epoch 2.
fn serving() -> Follower {
    let mut f = syncing(z(1, 3));
    f.step(s(1), M::Diff { last_zxid: z(1, 3) });
    f.step(s(1), M::NewLeader { zxid: z(2, 0) });
    f.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    f.step(s(1), M::UpToDate);
    assert_eq!(f.phase(), FollowerPhase::Serving);
    f
}

#[test]
fn discovery_ackepoch_leaves_only_after_accepted_epoch_is_durable() {
    let mut f = follower(z(1, 3));
    assert_eq!(
        outs(f.start()),
        vec![send(
            1,
            M::FollowerInfo {
                accepted_epoch: Epoch(1),
                last_zxid: z(1, 3),
                protocol_version: PV,
                snapshot_zxid: paddock_types::Zxid::ZERO,
            }
        )]
    );
    assert_eq!(
        outs(f.step(
            s(1),
            M::LeaderInfo {
                new_epoch: Epoch(2),
                protocol_version: PV
            }
        )),
        vec![cmd(Command::PersistAcceptedEpoch(Epoch(2)))]
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::AcceptedEpoch(Epoch(2)))),
        vec![ack(
            1,
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 3)
            }
        )]
    );
}

#[test]
fn discovery_same_epoch_is_already_durable_and_acked_at_once() {
    let mut f = Follower::new(s(2), s(1), false, config(), Epoch(2), Epoch(1), z(1, 3));
    f.start();
    assert_eq!(
        outs(f.step(
            s(1),
            M::LeaderInfo {
                new_epoch: Epoch(2),
                protocol_version: PV
            }
        )),
        vec![ack(
            1,
            M::AckEpoch {
                current_epoch: Epoch(1),
                last_zxid: z(1, 3)
            }
        )]
    );
}

#[test]
fn discovery_leader_epoch_below_ours_or_wrong_version_goes_looking() {
    let mut f = Follower::new(s(2), s(1), false, config(), Epoch(5), Epoch(5), z(5, 3));
    f.start();
    let out = f.step(
        s(1),
        M::LeaderInfo {
            new_epoch: Epoch(4),
            protocol_version: PV,
        },
    );
    assert!(matches!(
        &out[..],
        [Command::GoLooking(Reason::BadLeader(_))]
    ));
    let mut f = follower(z(1, 3));
    f.start();
    let out = f.step(
        s(1),
        M::LeaderInfo {
            new_epoch: Epoch(2),
            protocol_version: PV + 1,
        },
    );
    assert!(matches!(
        &out[..],
        [Command::GoLooking(Reason::BadLeader(_))]
    ));
}

#[test]
fn sync_diff_logs_and_applies_then_acks_newleader_after_epoch_and_log_are_durable() {
    let mut f = syncing(z(1, 1));
    assert_eq!(outs(f.step(s(1), M::Diff { last_zxid: z(1, 3) })), vec![]);
    assert_eq!(
        outs(f.step(
            s(1),
            M::Txn {
                zxid: z(1, 2),
                data: b(2)
            }
        )),
        vec![
            cmd(Command::Log {
                zxid: z(1, 2),
                data: b(2)
            }),
            cmd(Command::Apply(z(1, 2)))
        ]
    );
    f.step(
        s(1),
        M::Txn {
            zxid: z(1, 3),
            data: b(3),
        },
    );
    assert_eq!(
        outs(f.step(s(1), M::NewLeader { zxid: z(2, 0) })),
        vec![],
        "currentEpoch waits for the synced txns (ZOOKEEPER-4643)"
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(1, 2)))),
        vec![],
        "(1,3) not durable yet"
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(1, 3)))),
        vec![cmd(Command::PersistCurrentEpoch(Epoch(2)))]
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::CurrentEpoch(Epoch(2)))),
        vec![ack(1, M::AckNewLeader { zxid: z(2, 0) })]
    );
    assert_eq!(
        outs(f.step(s(1), M::UpToDate)),
        vec![cmd(Command::StartServing)]
    );
    assert_eq!(f.last_applied(), z(1, 3));
}

#[test]
fn sync_trunc_rolls_back_the_uncommitted_tail() {
    let mut f = syncing(z(1, 7));
    assert_eq!(
        outs(f.step(s(1), M::Trunc { zxid: z(1, 3) })),
        vec![cmd(Command::Truncate { to: z(1, 3) })]
    );
    f.step(s(1), M::NewLeader { zxid: z(2, 0) });
    assert_eq!(
        outs(f.on_persisted(Persisted::CurrentEpoch(Epoch(2)))),
        vec![ack(1, M::AckNewLeader { zxid: z(2, 0) })],
        "after a truncation the remaining log is durable"
    );
}

#[test]
fn sync_trunc_diff_truncates_then_logs_the_leaders_txns() {
    let mut f = syncing(z(1, 5));
    assert_eq!(
        outs(f.step(s(1), M::Trunc { zxid: z(1, 2) })),
        vec![cmd(Command::Truncate { to: z(1, 2) })]
    );
    assert_eq!(
        outs(f.step(
            s(1),
            M::Txn {
                zxid: z(2, 1),
                data: b(9)
            }
        )),
        vec![
            cmd(Command::Log {
                zxid: z(2, 1),
                data: b(9)
            }),
            cmd(Command::Apply(z(2, 1)))
        ]
    );
}

#[test]
fn sync_snap_installs_and_acks_newleader_only_once_the_snapshot_is_durable() {
    let mut f = syncing(z(0, 0));
    assert_eq!(
        outs(f.step(
            s(1),
            M::Snap {
                zxid: z(1, 9),
                data: b(7)
            }
        )),
        vec![cmd(Command::InstallSnapshot {
            zxid: z(1, 9),
            data: b(7)
        })]
    );
    assert_eq!(
        outs(f.step(s(1), M::NewLeader { zxid: z(2, 0) })),
        vec![],
        "currentEpoch waits for the snapshot"
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(1, 9)))),
        vec![cmd(Command::PersistCurrentEpoch(Epoch(2)))]
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::CurrentEpoch(Epoch(2)))),
        vec![ack(1, M::AckNewLeader { zxid: z(2, 0) })]
    );
    assert_eq!(f.last_applied(), z(1, 9));
}

#[test]
fn broadcast_ack_never_before_the_proposal_is_persisted_and_acks_are_group_committed() {
    let mut f = serving();
    assert_eq!(
        outs(f.step(
            s(1),
            M::Proposal {
                zxid: z(2, 1),
                data: b(1)
            }
        )),
        vec![cmd(Command::Log {
            zxid: z(2, 1),
            data: b(1)
        })]
    );
    assert_eq!(
        outs(f.step(
            s(1),
            M::Proposal {
                zxid: z(2, 2),
                data: b(2)
            }
        )),
        vec![cmd(Command::Log {
            zxid: z(2, 2),
            data: b(2)
        })]
    );
    assert_eq!(outs(f.tick()), vec![]);
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(2, 2)))),
        vec![
            ack(1, M::Ack { zxid: z(2, 1) }),
            ack(1, M::Ack { zxid: z(2, 2) })
        ]
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(2, 2)))),
        vec![],
        "each ack once"
    );
}

#[test]
fn broadcast_proposal_acks_wait_for_the_newleader_ack() {
    let mut f = syncing(z(1, 3));
    f.step(s(1), M::Diff { last_zxid: z(1, 3) });
    f.step(s(1), M::NewLeader { zxid: z(2, 0) });
    f.step(
        s(1),
        M::Proposal {
            zxid: z(2, 1),
            data: b(1),
        },
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::Log(z(2, 1)))),
        vec![],
        "currentEpoch not durable"
    );
    assert_eq!(
        outs(f.on_persisted(Persisted::CurrentEpoch(Epoch(2)))),
        vec![
            ack(1, M::AckNewLeader { zxid: z(2, 0) }),
            ack(1, M::Ack { zxid: z(2, 1) })
        ]
    );
}

#[test]
fn broadcast_commits_apply_in_order_and_an_out_of_order_commit_resyncs() {
    let mut f = serving();
    for c in 1..=3 {
        f.step(
            s(1),
            M::Proposal {
                zxid: z(2, c),
                data: b(c as u8),
            },
        );
    }
    assert_eq!(
        outs(f.step(s(1), M::Commit { zxid: z(2, 1) })),
        vec![cmd(Command::Apply(z(2, 1)))]
    );
    assert_eq!(
        outs(f.step(s(1), M::Commit { zxid: z(2, 3) })),
        vec![cmd(Command::Resync {
            expected: Some(z(2, 2)),
            got: z(2, 3)
        })]
    );
    assert_eq!(f.phase(), FollowerPhase::Done);
    assert_eq!(
        outs(f.step(s(1), M::Commit { zxid: z(2, 2) })),
        vec![],
        "inert after resync"
    );
}

#[test]
fn liveness_answers_pings_and_goes_looking_after_sync_limit_of_silence() {
    let mut f = serving();
    assert_eq!(outs(f.tick()), vec![]);
    assert_eq!(outs(f.tick()), vec![]);
    assert_eq!(outs(f.step(s(1), M::Ping)), vec![send(1, M::PingReply)]);
    assert_eq!(outs(f.tick()), vec![]);
    assert_eq!(outs(f.tick()), vec![]);
    assert_eq!(
        outs(f.tick()),
        vec![cmd(Command::GoLooking(Reason::LeaderSilent))]
    );
}

#[test]
fn observer_registers_as_observer_and_applies_informs_without_acking() {
    let mut f = Follower::new(s(4), s(1), true, config(), Epoch(1), Epoch(1), z(1, 3));
    assert_eq!(
        outs(f.start()),
        vec![send(
            1,
            M::ObserverInfo {
                accepted_epoch: Epoch(1),
                last_zxid: z(1, 3),
                protocol_version: PV,
                snapshot_zxid: paddock_types::Zxid::ZERO,
            }
        )]
    );
    f.step(
        s(1),
        M::LeaderInfo {
            new_epoch: Epoch(2),
            protocol_version: PV,
        },
    );
    f.on_persisted(Persisted::AcceptedEpoch(Epoch(2)));
    f.step(s(1), M::Diff { last_zxid: z(1, 3) });
    f.step(s(1), M::NewLeader { zxid: z(2, 0) });
    f.on_persisted(Persisted::CurrentEpoch(Epoch(2)));
    f.step(s(1), M::UpToDate);
    assert_eq!(
        outs(f.step(
            s(1),
            M::Inform {
                zxid: z(2, 1),
                data: b(1)
            }
        )),
        vec![
            cmd(Command::Log {
                zxid: z(2, 1),
                data: b(1)
            }),
            cmd(Command::Apply(z(2, 1)))
        ]
    );
    assert_eq!(outs(f.on_persisted(Persisted::Log(z(2, 1)))), vec![]);
}
