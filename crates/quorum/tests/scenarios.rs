//! Whole-ensemble scenarios on the in-memory harness (`paddock_quorum::sim`): reliable FIFO links,
//! seeded interleaving of deliveries and durability notices, crashes that lose in-flight messages
//! and non-durable log entries. After every step the harness checks prefix agreement between
//! serving servers.

use bytes::Bytes;
use paddock_quorum::sim::{Sim, SimRole, Storage};
use paddock_quorum::{Command, Reason, ZabConfig};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::BTreeMap;

fn z(e: u32, c: u32) -> Zxid {
    Zxid::new(Epoch(e), c)
}

fn config() -> ZabConfig {
    ZabConfig {
        sync_limit_ticks: 4,
        init_limit_ticks: 10,
        committed_log_capacity: 50,
    }
}

fn storage(epoch: u32, zxids: &[Zxid]) -> Storage {
    Storage {
        accepted_epoch: Epoch(epoch),
        current_epoch: Epoch(epoch),
        log: zxids
            .iter()
            .map(|z| (*z, Bytes::copy_from_slice(&z.to_be_bytes())))
            .collect(),
        ..Storage::default()
    }
}

fn applied(sim: &Sim, id: u64) -> &Vec<Zxid> {
    &sim.nodes[&ServerId(id)].storage.applied
}

fn serving(sim: &Sim, id: u64) -> bool {
    sim.nodes[&ServerId(id)].serving
}

/// Proposes `n` txns at `leader`, running a seeded number of steps between proposals
/// (pipelining: many proposals in flight).
fn write(sim: &mut Sim, leader: u64, n: usize) -> Vec<Zxid> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(sim.propose(leader).expect("leader serving"));
        let k = sim.rng.below(6);
        sim.run(k);
    }
    out
}

#[test]
fn establish_and_write_100_txns_every_server_applies_the_same_sequence() {
    for seed in 0..40 {
        let mut sim = Sim::new(seed, config(), &[1, 2, 3], BTreeMap::new());
        sim.elect(1);
        sim.run(10_000);
        assert!(
            (1..=3).all(|id| serving(&sim, id)),
            "seed {seed}: all serving"
        );
        let written = write(&mut sim, 1, 100);
        assert!(!sim.busy() || sim.run(100_000) > 0);
        assert!(!sim.busy());
        assert_eq!(
            written,
            (1..=100).map(|c| z(1, c)).collect::<Vec<_>>(),
            "epoch 1, counter from 1"
        );
        for id in 1..=3 {
            assert_eq!(applied(&sim, id), &written, "seed {seed}: server {id}");
        }
        assert!(
            sim.events.is_empty(),
            "seed {seed}: no role changes: {:?}",
            sim.events
        );
    }
}

#[test]
fn follower_crash_and_rejoin_is_brought_back_by_diff() {
    for seed in 0..20 {
        let wide = ZabConfig {
            committed_log_capacity: 500,
            ..config()
        };
        let mut sim = Sim::new(seed, wide, &[1, 2, 3], BTreeMap::new());
        sim.elect(1);
        sim.run(10_000);
        let mut written = write(&mut sim, 1, 30);
        sim.crash(3); // mid-broadcast: loses in-flight proposals and non-durable entries
        written.extend(write(&mut sim, 1, 30)); // {1, 2} is still a quorum
        sim.run(100_000);
        assert_eq!(
            applied(&sim, 1),
            &written,
            "seed {seed}: the majority committed everything"
        );
        sim.start_follower(3, 1);
        sim.run(100_000);
        assert!(serving(&sim, 3), "seed {seed}");
        assert_eq!(
            sim.nodes[&ServerId(3)].storage.snap_zxid,
            Zxid::ZERO,
            "seed {seed}: DIFF, not SNAP"
        );
        written.extend(write(&mut sim, 1, 10));
        sim.run(100_000);
        for id in 1..=3 {
            assert_eq!(applied(&sim, id), &written, "seed {seed}: server {id}");
        }
    }
}

#[test]
fn new_server_beyond_the_committed_log_window_is_brought_back_by_snap() {
    let mut sim = Sim::new(7, config(), &[1, 2, 3], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    sim.crash(3);
    sim.nodes.get_mut(&ServerId(3)).expect("node 3").storage = Storage::default(); // disk replaced
    let mut written = write(&mut sim, 1, 80); // more than the 50-txn window
    sim.run(100_000);
    sim.start_follower(3, 1);
    sim.run(100_000);
    assert_eq!(
        sim.nodes[&ServerId(3)].storage.snap_zxid,
        z(1, 80),
        "SNAP at the leader's last commit"
    );
    written.extend(write(&mut sim, 1, 5));
    sim.run(100_000);
    for id in 1..=3 {
        assert_eq!(applied(&sim, id), &written, "server {id}");
    }
}

/// Seed 002: a follower holding a proposal of the old leader that was never committed.
fn old_leader_with_uncommitted_tail() -> BTreeMap<u64, Storage> {
    let committed: Vec<Zxid> = (1..=4).map(|c| z(1, c)).collect();
    let mut with_tail = committed.clone();
    with_tail.push(z(1, 5));
    BTreeMap::from([
        (1, storage(1, &with_tail)),
        (2, storage(1, &committed)),
        (3, storage(1, &committed)),
    ])
}

#[test]
fn seed_002_old_leaders_uncommitted_proposal_is_truncated() {
    let mut sim = Sim::new(3, config(), &[1, 2, 3], old_leader_with_uncommitted_tail());
    sim.elect(2); // 1 was down during the election
    sim.crash(1);
    sim.run(10_000);
    assert!(serving(&sim, 2) && serving(&sim, 3));
    sim.start_follower(1, 2);
    sim.run(10_000);
    assert!(serving(&sim, 1));
    let expected: Vec<Zxid> = (1..=4).map(|c| z(1, c)).collect();
    for id in 1..=3 {
        assert_eq!(applied(&sim, id), &expected, "server {id}");
    }
    assert!(
        !sim.nodes[&ServerId(1)].storage.log.contains_key(&z(1, 5)),
        "TRUNC removed (1,5)"
    );
}

#[test]
fn seed_002_trunc_diff_when_the_new_epoch_has_moved_on() {
    let mut sim = Sim::new(4, config(), &[1, 2, 3], old_leader_with_uncommitted_tail());
    sim.elect(2);
    sim.crash(1);
    sim.run(10_000);
    let mut expected: Vec<Zxid> = (1..=4).map(|c| z(1, c)).collect();
    expected.extend(write(&mut sim, 2, 10));
    sim.run(10_000);
    assert_eq!(expected[4], z(2, 1));
    sim.start_follower(1, 2);
    sim.run(10_000);
    assert!(serving(&sim, 1));
    for id in 1..=3 {
        assert_eq!(applied(&sim, id), &expected, "server {id}");
    }
    assert!(!sim.nodes[&ServerId(1)].storage.log.contains_key(&z(1, 5)));
}

#[test]
fn liveness_leader_drops_a_crashed_follower_and_steps_down_when_quorum_is_lost() {
    let mut sim = Sim::new(5, config(), &[1, 2, 3], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    // A follower whose process hangs (no replies, stream still open).
    sim.nodes.get_mut(&ServerId(3)).expect("node 3").role = SimRole::Looking;
    for _ in 0..6 {
        sim.tick();
        sim.run(1_000);
    }
    assert!(
        matches!(&sim.events[..], [(l, Command::DropLearner { learner, .. })] if *l == ServerId(1) && *learner == ServerId(3))
    );
    assert!(serving(&sim, 1), "1 and 2 are still a quorum");
    sim.nodes.get_mut(&ServerId(2)).expect("node 2").role = SimRole::Looking;
    for _ in 0..6 {
        sim.tick();
        sim.run(1_000);
    }
    assert!(sim
        .events
        .iter()
        .any(|(at, c)| *at == ServerId(1) && *c == Command::StepDown(Reason::LostQuorum)));
    assert!(!serving(&sim, 1));
    assert!(
        sim.propose(1).is_none(),
        "a stepped-down leader takes no writes"
    );
}

#[test]
fn liveness_follower_goes_looking_when_the_leader_is_silent() {
    let mut sim = Sim::new(6, config(), &[1, 2, 3], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    sim.crash(1);
    for _ in 0..5 {
        sim.tick();
        sim.run(1_000);
    }
    for id in [2, 3] {
        assert!(
            sim.events
                .contains(&(ServerId(id), Command::GoLooking(Reason::LeaderSilent))),
            "server {id}"
        );
    }
}

/// 10% of deliveries break a stream (the TCP form of a lost PROPOSAL / COMMIT / ACK, seed 002):
/// the learner re-registers and is re-synced (DIFF or TRUNC+proposals), nothing is lost or
/// reordered. Assumption: no retransmission inside a stream; recovery is by re-sync only.
#[test]
fn write_100_txns_while_10_percent_of_deliveries_break_a_stream() {
    let mut total_breaks = 0;
    for seed in 0..30 {
        let wide = ZabConfig {
            committed_log_capacity: 500,
            ..config()
        };
        let mut sim = Sim::new(seed, wide, &[1, 2, 3], BTreeMap::new());
        sim.elect(1);
        sim.run(10_000);
        assert!((1..=3).all(|id| serving(&sim, id)), "seed {seed}");
        sim.break_per_mille = 100;
        let written = write(&mut sim, 1, 100);
        sim.run(2_000);
        sim.break_per_mille = 0;
        sim.run(1_000_000);
        assert!(!sim.busy());
        total_breaks += sim.breaks;
        for id in 1..=3 {
            assert!(serving(&sim, id), "seed {seed}: server {id} serving again");
            assert_eq!(applied(&sim, id), &written, "seed {seed}: server {id}");
        }
        assert!(sim.events.is_empty(), "seed {seed}: {:?}", sim.events);
    }
    assert!(
        total_breaks > 100,
        "the schedule really broke streams ({total_breaks})"
    );
}

/// The leader is killed mid-broadcast; the survivor with the highest (currentEpoch, last zxid)
/// (what Fast Leader Election picks) leads epoch 2; the old leader restarts later and follows.
/// No write the old leader committed (acknowledged to a client) is lost; the histories agree.
#[test]
fn leader_killed_mid_broadcast_loses_no_acknowledged_write() {
    for seed in 0..40 {
        let wide = ZabConfig {
            committed_log_capacity: 500,
            ..config()
        };
        let mut sim = Sim::new(seed, wide, &[1, 2, 3], BTreeMap::new());
        sim.elect(1);
        sim.run(10_000);
        write(&mut sim, 1, 50);
        let acknowledged = applied(&sim, 1).clone();
        sim.crash(1);
        let summary = |id: u64| {
            let st = &sim.nodes[&ServerId(id)].storage;
            (st.current_epoch, st.last_zxid(), id)
        };
        let new_leader = summary(2).max(summary(3)).2;
        sim.elect(new_leader);
        sim.crash(1); // still down while 2 and 3 establish epoch 2
        sim.run(100_000);
        let more = write(&mut sim, new_leader, 10);
        sim.start_follower(1, new_leader); // restarts; its uncommitted tail is truncated
        sim.run(100_000);
        assert!(
            (1..=3).all(|id| serving(&sim, id)),
            "seed {seed}: {:?}",
            sim.events
        );
        let more = [more, write(&mut sim, new_leader, 10)].concat();
        sim.run(100_000);
        assert_eq!(more[0], z(2, 1), "seed {seed}: the new epoch counts from 1");
        let history = applied(&sim, new_leader).clone();
        assert_eq!(
            history[..acknowledged.len()],
            acknowledged[..],
            "seed {seed}: acknowledged writes kept, in order"
        );
        assert!(history.ends_with(&more));
        for id in 1..=3 {
            assert_eq!(applied(&sim, id), &history, "seed {seed}: server {id}");
        }
    }
}
