//! Each election rule as data: call one handler, assert the exact commands it returns.

use paddock_election::{
    Command, ElectedRole, Election, ElectionConfig, Notification, PeerState, QuorumVerifier, Vote,
};
use paddock_types::{Epoch, ServerId, Zxid};

const FINALIZE: u32 = 2;

fn config(finalize_wait_ticks: u32) -> ElectionConfig {
    ElectionConfig {
        finalize_wait_ticks,
        max_notification_interval_ticks: 8,
    }
}

fn qv(voters: &[u64], observers: &[u64]) -> QuorumVerifier {
    QuorumVerifier::new(
        voters.iter().map(|i| ServerId(*i)),
        observers.iter().map(|i| ServerId(*i)),
    )
    .unwrap()
}

fn v(id: u64, zxid: u64, epoch: u32) -> Vote {
    Vote::new(ServerId(id), Zxid(zxid), Epoch(epoch))
}

fn n(sender: u64, vote: Vote, round: u64, state: PeerState) -> Notification {
    Notification {
        vote,
        round,
        sender: ServerId(sender),
        sender_state: state,
    }
}

fn looking(sender: u64, vote: Vote, round: u64) -> Notification {
    n(sender, vote, round, PeerState::Looking)
}

/// Peer 1 of {1..=5} (zxid 5, epoch 1), started.
fn peer1_of_five(finalize: u32) -> Election {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3, 4, 5], &[]),
        config(finalize),
    );
    e.start();
    e
}

fn bcast(e: &Election) -> Command {
    Command::Broadcast(e.current_notification())
}

#[test]
fn start_increments_round_votes_for_self_and_broadcasts() {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(2),
    )
    .with_last_round(6);
    assert_eq!(
        e.start(),
        vec![Command::Broadcast(looking(1, v(1, 5, 1), 7))]
    );
    assert_eq!(e.round(), 7);
    assert_eq!(e.proposal(), v(1, 5, 1));
}

#[test]
fn higher_round_adopts_round_and_the_better_vote() {
    let mut e = peer1_of_five(FINALIZE);
    let out = e.step(ServerId(2), looking(2, v(2, 9, 1), 4));
    assert_eq!(out, vec![Command::Broadcast(looking(1, v(2, 9, 1), 4))]);
    assert_eq!(e.round(), 4);
}

#[test]
fn higher_round_with_a_worse_vote_goes_back_to_own_initial_vote() {
    let mut e = peer1_of_five(FINALIZE);
    e.step(ServerId(3), looking(3, v(3, 9, 1), 1)); // adopt 3 in round 1
    let out = e.step(ServerId(2), looking(2, v(2, 1, 1), 2));
    assert_eq!(out, vec![Command::Broadcast(looking(1, v(1, 5, 1), 2))]);
}

#[test]
fn higher_round_forgets_the_votes_of_the_old_round() {
    let mut e = peer1_of_five(FINALIZE);
    e.step(ServerId(4), looking(4, v(4, 9, 1), 1));
    e.step(ServerId(5), looking(5, v(4, 9, 1), 1)); // {1, 4, 5} back 4 in round 1: finalizing
    assert!(e.is_finalizing());
    e.step(ServerId(2), looking(2, v(4, 9, 1), 2)); // round 2: only {1, 2} so far
    assert!(!e.is_finalizing());
    for _ in 0..10 {
        assert!(e
            .tick()
            .iter()
            .all(|c| !matches!(c, Command::Decided { .. })));
    }
}

#[test]
fn same_round_better_vote_is_adopted_and_broadcast() {
    let mut e = peer1_of_five(FINALIZE);
    let out = e.step(ServerId(2), looking(2, v(2, 5, 2), 1));
    assert_eq!(out, vec![Command::Broadcast(looking(1, v(2, 5, 2), 1))]);
}

#[test]
fn same_round_worse_vote_is_counted_but_not_adopted() {
    let mut e = peer1_of_five(FINALIZE);
    assert_eq!(e.step(ServerId(2), looking(2, v(2, 4, 1), 1)), vec![]);
    assert_eq!(e.proposal(), v(1, 5, 1));
}

#[test]
fn lower_round_looking_sender_gets_our_vote_back_and_is_not_counted() {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(0),
    )
    .with_last_round(2);
    e.start(); // round 3
    let out = e.step(ServerId(2), looking(2, v(1, 5, 1), 1));
    assert_eq!(
        out,
        vec![Command::Send {
            to: ServerId(2),
            notification: looking(1, v(1, 5, 1), 3)
        }]
    );
    assert_eq!(
        e.decision(),
        None,
        "a stale vote for us must not make a quorum"
    );
}

#[test]
fn quorum_starts_the_finalize_wait_then_decides() {
    let mut e = peer1_of_five(FINALIZE);
    e.step(ServerId(4), looking(4, v(4, 9, 1), 1));
    assert_eq!(e.step(ServerId(5), looking(5, v(4, 9, 1), 1)), vec![]);
    assert!(e.is_finalizing());
    assert_eq!(e.tick(), vec![]);
    assert_eq!(
        e.tick(),
        vec![Command::Decided {
            leader: ServerId(4),
            epoch: Epoch(1),
            role: ElectedRole::Following
        }]
    );
    let d = e.decision().unwrap();
    assert!(!d.joined_established);
    assert_eq!((d.vote, d.round), (v(4, 9, 1), 1));
}

#[test]
fn better_vote_during_finalize_wait_cancels_it() {
    let mut e = peer1_of_five(FINALIZE);
    e.step(ServerId(4), looking(4, v(4, 9, 1), 1));
    e.step(ServerId(5), looking(5, v(4, 9, 1), 1));
    assert_eq!(e.tick(), vec![]);
    let out = e.step(ServerId(3), looking(3, v(3, 10, 1), 1));
    assert_eq!(out, vec![bcast(&e)]);
    assert_eq!(e.proposal(), v(3, 10, 1));
    assert!(!e.is_finalizing());
    assert_eq!(e.decision(), None);
}

#[test]
fn zero_finalize_wait_decides_on_the_quorum_forming_vote() {
    let mut e = peer1_of_five(0);
    e.step(ServerId(4), looking(4, v(4, 9, 1), 1));
    let out = e.step(ServerId(5), looking(5, v(4, 9, 1), 1));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(4),
            epoch: Epoch(1),
            role: ElectedRole::Following
        }]
    );
}

#[test]
fn own_vote_winning_decides_leading() {
    let mut e = Election::new(
        ServerId(3),
        Zxid(9),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(0),
    );
    e.start();
    let out = e.step(ServerId(1), looking(1, v(3, 9, 1), 1));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(3),
            epoch: Epoch(1),
            role: ElectedRole::Leading
        }]
    );
}

#[test]
fn silence_resends_with_doubling_interval_up_to_the_max() {
    let mut e = peer1_of_five(FINALIZE);
    let mut resent_at = Vec::new();
    for t in 1..=40 {
        let out = e.tick();
        if !out.is_empty() {
            assert_eq!(out, vec![bcast(&e)]);
            resent_at.push(t);
        }
    }
    // Intervals 2, 4, 8, then capped at 8.
    assert_eq!(resent_at, vec![2, 6, 14, 22, 30, 38]);
}

#[test]
fn a_notification_resets_the_quiet_time() {
    let mut e = peer1_of_five(FINALIZE);
    assert_eq!(e.tick(), vec![]);
    e.step(ServerId(2), looking(2, v(2, 1, 1), 1));
    assert_eq!(e.tick(), vec![]);
    assert_eq!(e.tick(), vec![bcast(&e)]);
}

#[test]
fn joins_an_established_leader_backed_by_a_quorum_that_says_it_leads() {
    let mut e = peer1_of_five(FINALIZE);
    let final_vote = v(4, 9, 3);
    assert_eq!(
        e.step(ServerId(2), n(2, final_vote, 7, PeerState::Following)),
        vec![]
    );
    assert_eq!(
        e.step(ServerId(3), n(3, final_vote, 7, PeerState::Following)),
        vec![]
    );
    let out = e.step(ServerId(4), n(4, final_vote, 7, PeerState::Leading));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(4),
            epoch: Epoch(3),
            role: ElectedRole::Following
        }]
    );
    let d = e.decision().unwrap();
    assert!(d.joined_established);
    assert_eq!(d.round, 7, "adopts the established round");
}

#[test]
fn a_voter_of_our_configuration_that_observes_counts_for_joining_its_leader() {
    // 3 is a voter in our (stale) configuration but a reconfiguration we have not seen made it
    // an observer: its word on the leader counts like a follower's, or we could never join.
    let mut e = peer1_of_five(FINALIZE);
    let final_vote = v(4, 9, 3);
    assert_eq!(
        e.step(ServerId(2), n(2, final_vote, 7, PeerState::Following)),
        vec![]
    );
    assert_eq!(
        e.step(ServerId(3), n(3, final_vote, 7, PeerState::Observing)),
        vec![]
    );
    let out = e.step(ServerId(4), n(4, final_vote, 7, PeerState::Leading));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(4),
            epoch: Epoch(3),
            role: ElectedRole::Following
        }],
        "2, 3 and 4 are 3 of 5"
    );
}

#[test]
fn does_not_join_when_the_leader_has_not_said_it_leads() {
    let mut e = peer1_of_five(FINALIZE);
    let final_vote = v(4, 9, 3);
    for sender in [2, 3, 5] {
        let out = e.step(
            ServerId(sender),
            n(sender, final_vote, 7, PeerState::Following),
        );
        assert_eq!(out, vec![]);
    }
    assert_eq!(e.decision(), None);
}

#[test]
fn does_not_join_a_leader_backed_by_a_minority() {
    let mut e = peer1_of_five(FINALIZE);
    let final_vote = v(4, 9, 3);
    e.step(ServerId(2), n(2, final_vote, 7, PeerState::Following));
    assert_eq!(
        e.step(ServerId(4), n(4, final_vote, 7, PeerState::Leading)),
        vec![]
    );
}

#[test]
fn same_round_following_votes_count_with_looking_votes() {
    // Round 1: peer 5 follows 4 already, peer 4 leads; our own proposal names 4 too.
    let mut e = peer1_of_five(FINALIZE);
    e.step(ServerId(4), looking(4, v(4, 9, 1), 1));
    e.step(ServerId(4), n(4, v(4, 9, 1), 1, PeerState::Leading));
    let out = e.step(ServerId(5), n(5, v(4, 9, 1), 1, PeerState::Following));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(4),
            epoch: Epoch(1),
            role: ElectedRole::Following
        }]
    );
}

#[test]
fn observer_notifications_are_answered_and_never_counted() {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[7, 8]),
        config(0),
    );
    e.start();
    let out = e.step(ServerId(7), looking(7, v(1, 5, 1), 1));
    assert_eq!(
        out,
        vec![Command::Send {
            to: ServerId(7),
            notification: looking(1, v(1, 5, 1), 1)
        }]
    );
    e.step(ServerId(8), looking(8, v(1, 5, 1), 1));
    assert_eq!(e.decision(), None);
}

#[test]
fn votes_for_a_non_voter_are_ignored() {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[7]),
        config(0),
    );
    e.start();
    assert_eq!(e.step(ServerId(2), looking(2, v(7, 99, 9), 1)), vec![]);
    assert_eq!(e.proposal(), v(1, 5, 1));
}

#[test]
fn notifications_before_start_are_ignored_and_strangers_are_answered_never_counted() {
    let mut e = Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(0),
    );
    assert_eq!(e.step(ServerId(2), looking(2, v(2, 9, 1), 1)), vec![]);
    e.start();
    // Server 9 is outside the configuration (joining, or removed by a reconfiguration): it
    // learns our vote, as an observer would, and its own vote changes nothing.
    assert_eq!(
        e.step(ServerId(9), looking(9, v(2, 9, 1), 1)),
        vec![Command::Send {
            to: ServerId(9),
            notification: looking(1, v(1, 5, 1), 1),
        }]
    );
    assert_eq!(e.step(ServerId(9), looking(9, v(9, 99, 9), 1)).len(), 1);
    assert_eq!(e.proposal(), v(1, 5, 1));
    assert!(e.decision().is_none());
}

#[test]
fn observer_adopts_voters_votes_and_decides_observing() {
    let mut e = Election::new(
        ServerId(7),
        Zxid(50),
        Epoch(9),
        qv(&[1, 2, 3], &[7]),
        config(0),
    );
    let out = e.start();
    assert_eq!(out, vec![Command::Broadcast(looking(7, v(7, 50, 9), 1))]);
    let out = e.step(ServerId(1), looking(1, v(3, 9, 1), 1));
    assert_eq!(out, vec![Command::Broadcast(looking(7, v(3, 9, 1), 1))]);
    let out = e.step(ServerId(2), looking(2, v(3, 9, 1), 1));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(3),
            epoch: Epoch(1),
            role: ElectedRole::Observing
        }]
    );
}

#[test]
fn decided_peer_answers_looking_peers_with_its_final_vote() {
    let mut e = Election::new(
        ServerId(3),
        Zxid(9),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(0),
    );
    e.start();
    e.step(ServerId(1), looking(1, v(3, 9, 1), 1));
    let answer = n(3, v(3, 9, 1), 1, PeerState::Leading);
    assert_eq!(e.answer_when_decided(PeerState::Looking), Some(answer));
    assert_eq!(e.answer_when_decided(PeerState::Following), None);
    assert_eq!(
        e.step(ServerId(2), looking(2, v(2, 1, 1), 5)),
        vec![Command::Send {
            to: ServerId(2),
            notification: answer
        }]
    );
    assert_eq!(
        e.step(ServerId(2), n(2, v(3, 9, 1), 1, PeerState::Following)),
        vec![]
    );
    assert_eq!(e.tick(), vec![]);
}

#[test]
fn undecided_peer_has_no_final_answer() {
    let e = peer1_of_five(FINALIZE);
    assert_eq!(e.answer_when_decided(PeerState::Looking), None);
}

/// A voter alone in its ensemble (a standalone server, issue 13) decides at once: no other vote
/// can arrive, so the finalize wait would only delay every start.
#[test]
fn single_voter_ensemble_elects_itself_at_once() {
    let mut e = Election::new(ServerId(1), Zxid(0), Epoch(0), qv(&[1], &[]), config(5));
    assert_eq!(
        e.start(),
        vec![
            Command::Broadcast(looking(1, v(1, 0, 0), 1)),
            Command::Decided {
                leader: ServerId(1),
                epoch: Epoch(0),
                role: ElectedRole::Leading
            }
        ]
    );
}

/// ZooKeeper's `updateElectionVote`: members of one ensemble that decided in different rounds
/// (with different epochs in their votes) answer a LOOKING peer with the epoch their leader
/// established, so the LOOKING peer sees a quorum behind that leader and joins it. Found by the
/// seeded fault schedules (crates/quorum/tests/faults.rs): without it a restarted server could
/// stay LOOKING forever next to a serving ensemble.
#[test]
fn decided_peers_answer_with_the_established_epoch_so_a_looking_peer_can_join() {
    // Peer 2 decided in round 1 for leader 5 at epoch 0; peer 4 and leader 5 decided later.
    let mut follower = Election::new(
        ServerId(2),
        Zxid(3),
        Epoch(0),
        qv(&[1, 2, 3, 4, 5], &[]),
        config(0),
    );
    follower.start();
    follower.step(ServerId(5), n(5, v(5, 3, 0), 1, PeerState::Leading));
    for from in [3, 4] {
        follower.step(ServerId(from), n(from, v(5, 3, 0), 1, PeerState::Following));
    }
    let decided = follower.decision().expect("decided");
    assert_eq!(decided.vote.epoch, Epoch(0));
    // The leader established epoch 1 (LEADERINFO): the answer carries it.
    follower.update_established_epoch(Epoch(1));
    let answer = follower
        .answer_when_decided(PeerState::Looking)
        .expect("answers a looking peer");
    assert_eq!(answer.vote.epoch, Epoch(1));
    assert_eq!(answer.vote.leader, ServerId(5));
    assert_eq!(answer.sender_state, PeerState::Following);

    // A looking peer hearing the leader (round 2, epoch 1) and two followers answering with
    // epoch 1 — one of them from an older round — joins leader 5.
    let mut joiner = peer1_of_five(FINALIZE);
    joiner.step(ServerId(5), n(5, v(5, 3, 1), 2, PeerState::Leading));
    joiner.step(ServerId(4), n(4, v(5, 3, 1), 2, PeerState::Following));
    assert!(joiner.decision().is_none(), "two of five are not a quorum");
    joiner.step(ServerId(2), answer);
    let d = joiner.decision().expect("joined the established leader");
    assert_eq!(d.vote.leader, ServerId(5));
    assert_eq!(d.role, ElectedRole::Following);
}

// ----- a voter recovering from a damaged data directory (PeerState::Recovering) -----

/// Peer 1 of {1, 2, 3} (zxid 5, epoch 1), recovering, not started.
fn recovering_peer1_unstarted() -> Election {
    Election::new(
        ServerId(1),
        Zxid(5),
        Epoch(1),
        qv(&[1, 2, 3], &[]),
        config(0),
    )
    .recovering(true)
}

/// The same, started.
fn recovering_peer1() -> Election {
    let mut e = recovering_peer1_unstarted();
    e.start();
    e
}

#[test]
fn a_recovering_peer_says_so_and_does_not_count_itself() {
    let mut e = recovering_peer1_unstarted();
    let out = e.start();
    assert_eq!(
        out,
        vec![Command::Broadcast(n(
            1,
            v(1, 5, 1),
            1,
            PeerState::Recovering
        ))]
    );
    assert!(e.decision().is_none());
}

#[test]
fn a_recovering_peer_never_decides_from_looking_votes() {
    // With a zero finalize wait, two LOOKING votes for 3 plus its own would decide at once.
    let mut e = recovering_peer1();
    e.step(ServerId(2), looking(2, v(3, 9, 1), 1));
    e.step(ServerId(3), looking(3, v(3, 9, 1), 1));
    assert_eq!(e.proposal(), v(3, 9, 1), "it may adopt a better vote");
    assert!(e.decision().is_none(), "{:?}", e.decision());
    for _ in 0..10 {
        e.tick();
    }
    assert!(e.decision().is_none());
}

#[test]
fn a_recovering_peer_joins_a_leader_a_quorum_of_others_established() {
    let mut e = recovering_peer1();
    assert!(e
        .step(ServerId(2), n(2, v(3, 9, 2), 4, PeerState::Following))
        .is_empty());
    let out = e.step(ServerId(3), n(3, v(3, 9, 2), 4, PeerState::Leading));
    assert!(
        matches!(
            out.as_slice(),
            [Command::Decided {
                leader: ServerId(3),
                role: ElectedRole::Following,
                ..
            }]
        ),
        "{out:?}"
    );
}

#[test]
fn voters_answer_a_recovering_peer_but_never_count_it() {
    // Peer 1 of {1..=5}: 2 and 3 vote for 1 (with 1 itself: a quorum of 3). A recovering 4
    // voting for 1 too must not make a quorum of 2 and 3's votes alone.
    let mut e = peer1_of_five(0);
    let out = e.step(ServerId(4), n(4, v(1, 5, 1), 1, PeerState::Recovering));
    assert_eq!(
        out,
        vec![Command::Send {
            to: ServerId(4),
            notification: e.current_notification()
        }]
    );
    let out = e.step(ServerId(2), looking(2, v(1, 5, 1), 1));
    assert!(
        e.decision().is_none(),
        "1, 2 (and a recovering 4) are no quorum: {out:?}"
    );
    e.step(ServerId(3), looking(3, v(1, 5, 1), 1));
    assert_eq!(e.decision().map(|d| d.role), Some(ElectedRole::Leading));
    // Decided: a recovering peer gets the final vote, as a LOOKING one does.
    let answer = e.step(ServerId(4), n(4, v(4, 1, 1), 1, PeerState::Recovering));
    assert!(
        matches!(answer.as_slice(), [Command::Send { to: ServerId(4), notification }]
            if notification.sender_state == PeerState::Leading),
        "{answer:?}"
    );
}

/// Peer 4 holding a change, not known committed, that made {4, 5} the voters of {1..=5}.
fn peer4_with_pending_change(finalize: u32) -> Election {
    let mut e = Election::new(
        ServerId(4),
        Zxid(9),
        Epoch(2),
        qv(&[4, 5], &[1, 2, 3]),
        config(finalize),
    )
    .with_previous(Some(qv(&[1, 2, 3, 4, 5], &[])));
    e.start();
    e
}

#[test]
fn with_a_change_not_known_committed_the_new_voters_alone_do_not_elect() {
    // 4 and 5 are a quorum of the change's configuration but not of the one it replaced: if
    // the change never committed, electing among themselves would fork the ensemble.
    let mut e = peer4_with_pending_change(0);
    e.step(ServerId(5), looking(5, v(5, 9, 2), 1));
    assert_eq!(e.proposal(), v(5, 9, 2));
    assert_eq!(e.decision(), None, "{{4, 5}} is no quorum of {{1..=5}}");
    // A third voter of the previous configuration makes both quorums.
    let out = e.step(ServerId(1), looking(1, v(5, 9, 2), 1));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(5),
            epoch: Epoch(2),
            role: ElectedRole::Following
        }]
    );
}

#[test]
fn with_a_change_not_known_committed_it_joins_a_leader_the_previous_quorum_follows() {
    // 1, 2 and 3 follow 3 in a later epoch: elected without the change, which therefore never
    // committed; 4 must join them (and be rolled back) instead of waiting for 5 forever.
    let mut e = peer4_with_pending_change(FINALIZE);
    let established = v(3, 7, 3);
    for sender in [1, 2] {
        let out = e.step(
            ServerId(sender),
            n(sender, established, 5, PeerState::Following),
        );
        assert_eq!(
            out,
            vec![],
            "votes of the previous configuration's voters count"
        );
    }
    let out = e.step(ServerId(3), n(3, established, 5, PeerState::Leading));
    assert_eq!(
        out,
        vec![Command::Decided {
            leader: ServerId(3),
            epoch: Epoch(3),
            role: ElectedRole::Following
        }]
    );
}

#[test]
fn without_a_previous_configuration_the_old_voters_do_not_count() {
    // The same peer once the change is known committed: 1, 2 and 3 no longer vote.
    let mut e = Election::new(
        ServerId(4),
        Zxid(9),
        Epoch(2),
        qv(&[4, 5], &[1, 2, 3]),
        config(FINALIZE),
    );
    e.start();
    let established = v(3, 7, 3);
    for sender in [1, 2] {
        e.step(
            ServerId(sender),
            n(sender, established, 5, PeerState::Following),
        );
    }
    e.step(ServerId(3), n(3, established, 5, PeerState::Leading));
    assert_eq!(e.decision(), None);
}

#[test]
fn broadcasts_reach_the_voters_of_both_configurations() {
    let e = peer4_with_pending_change(FINALIZE);
    let to: Vec<u64> = e.recipients().voters().iter().map(|s| s.0).collect();
    assert_eq!(to, vec![1, 2, 3, 4, 5]);
    let plain = Election::new(
        ServerId(4),
        Zxid(9),
        Epoch(2),
        qv(&[4, 5], &[1, 2, 3]),
        config(FINALIZE),
    );
    let to: Vec<u64> = plain.recipients().voters().iter().map(|s| s.0).collect();
    assert_eq!(to, vec![4, 5]);
}

#[test]
fn votes_of_the_previous_configurations_voters_do_not_end_the_quiet_time() {
    // Seed 4190 of the 3-node fault schedules: the new configuration's other voter missed our
    // broadcast, and the removed server's repeated votes (counted by us, ignored by it as an
    // observer's) kept us from ever resending it.
    let mut e = peer4_with_pending_change(FINALIZE);
    assert_eq!(e.tick(), vec![]);
    e.step(ServerId(1), looking(1, v(4, 9, 2), 1));
    assert_eq!(
        e.tick(),
        vec![bcast(&e)],
        "1 votes only in the previous configuration"
    );
    assert_eq!(e.tick(), vec![]);
    e.step(ServerId(5), looking(5, v(4, 9, 2), 1));
    assert_eq!(e.tick(), vec![], "5 votes in the configuration in force");
}
