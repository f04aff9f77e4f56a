//! Whole-ensemble simulations: the real state machines over the seeded in-memory network.
//!
//! What is asserted, precisely:
//! - *settled*: every running peer decided, exactly one running peer leads, every running peer
//!   names it, and the voters that follow it (and can reach it) plus itself are a quorum;
//! - *quorum-decided votes are never below the decider's own vote*: every peer that decided
//!   from a quorum of votes (not by joining an established leader) decided a vote at least as
//!   large as its own initial vote — so the leader has the highest (epoch, zxid, id) among the
//!   quorum that elected it;
//! - *votes are not forged*: the decided vote carries the leader's own persisted zxid and epoch;
//! - on a reliable network with delays below half the finalize wait and a simultaneous start,
//!   one election per peer suffices and the leader is the peer with the highest (epoch, zxid, id).

use paddock_election::sim::{Cluster, NetConfig, PeerSpec};
use paddock_election::{ElectedRole, ElectionConfig};
use paddock_types::ServerId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CONFIG: ElectionConfig = ElectionConfig {
    finalize_wait_ticks: 10,
    max_notification_interval_ticks: 64,
};

const RELIABLE: NetConfig = NetConfig {
    drop_probability: 0.0,
    min_delay_ticks: 1,
    max_delay_ticks: 4,
};

const LOSSY: NetConfig = NetConfig {
    drop_probability: 0.2,
    min_delay_ticks: 1,
    max_delay_ticks: 8,
};

const RECOVERY_TICKS: u32 = 60;
const MAX_TICKS: u64 = 20_000;

fn ids(specs: &[PeerSpec]) -> Vec<ServerId> {
    specs.iter().map(|s| s.id).collect()
}

fn best_voter(specs: &[PeerSpec]) -> ServerId {
    specs
        .iter()
        .filter(|s| !s.observer)
        .max_by_key(|s| s.vote())
        .unwrap()
        .id
}

fn assert_decisions_sound(cluster: &Cluster) {
    for event in cluster.events() {
        let d = event.decision;
        let leader_spec = cluster.spec(d.vote.leader);
        assert_eq!(
            (d.vote.zxid, d.vote.epoch),
            (leader_spec.zxid, leader_spec.epoch),
            "forged vote in {event:?}"
        );
        if !d.joined_established && d.role != ElectedRole::Observing {
            assert!(
                d.vote >= event.initial_vote,
                "decided below own vote: {event:?}"
            );
        }
    }
}

fn random_specs(rng: &mut StdRng, n: u64) -> Vec<PeerSpec> {
    (1..=n)
        .map(|id| PeerSpec::voter(id, rng.random_range(0..4), rng.random_range(0..3)))
        .collect()
}

/// Starts every peer at tick 0, in `order`.
fn start_all(cluster: &mut Cluster, order: &[ServerId]) {
    for id in order {
        cluster.start(*id);
    }
}

fn permutations(items: &[ServerId]) -> Vec<Vec<ServerId>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

#[test]
fn reliable_network_elects_the_highest_vote_from_every_start_order() {
    let combos: Vec<Vec<PeerSpec>> = vec![
        vec![
            PeerSpec::voter(1, 0, 0),
            PeerSpec::voter(2, 0, 0),
            PeerSpec::voter(3, 0, 0),
        ],
        vec![
            PeerSpec::voter(1, 9, 1),
            PeerSpec::voter(2, 8, 1),
            PeerSpec::voter(3, 8, 1),
        ],
        vec![
            PeerSpec::voter(1, 1, 2),
            PeerSpec::voter(2, 9, 1),
            PeerSpec::voter(3, 9, 1),
        ],
        vec![
            PeerSpec::voter(1, 5, 0),
            PeerSpec::voter(2, 5, 0),
            PeerSpec::voter(3, 4, 0),
        ],
    ];
    let mut seed = 0;
    for specs in combos {
        for order in permutations(&ids(&specs)) {
            seed += 1;
            let mut cluster = Cluster::new(&specs, CONFIG, RELIABLE, seed);
            start_all(&mut cluster, &order);
            assert!(cluster.run_until(2_000, Cluster::is_settled), "seed {seed}");
            assert_eq!(cluster.leaders(), vec![best_voter(&specs)], "seed {seed}");
            assert_eq!(cluster.events().len(), specs.len(), "one decision each");
            assert_decisions_sound(&cluster);
        }
    }
}

#[test]
fn seed_003_table_elects_server_2_while_3_and_5_are_down() {
    // Five servers; 3 (the old leader) and 5 fail; 1, 2, 4 have (epoch, zxid) (1,8) (1,8) (1,7).
    let specs = [
        PeerSpec::voter(1, 8, 1),
        PeerSpec::voter(2, 8, 1),
        PeerSpec::voter(3, 8, 1),
        PeerSpec::voter(4, 7, 1),
        PeerSpec::voter(5, 7, 1),
    ];
    for seed in 0..20 {
        let mut cluster = Cluster::new(&specs, CONFIG, RELIABLE, seed);
        start_all(&mut cluster, &[ServerId(1), ServerId(2), ServerId(4)]);
        assert!(cluster.run_until(2_000, Cluster::is_settled));
        assert_eq!(cluster.leaders(), vec![ServerId(2)]);
    }
}

#[test]
fn seed_003_first_start_one_by_one_elects_server_3_and_later_peers_follow() {
    // Five fresh servers started one at a time: 1 and 2 cannot reach a quorum, 3 makes one and
    // wins (highest id so far); 4 and 5 find an established leader and follow it.
    let specs: Vec<PeerSpec> = (1..=5).map(|id| PeerSpec::voter(id, 0, 0)).collect();
    let mut cluster = Cluster::new(&specs, CONFIG, RELIABLE, 3);
    for id in 1..=5 {
        cluster.start(ServerId(id));
        cluster.run(300);
        if id < 3 {
            assert!(cluster.events().is_empty(), "no quorum with {id} servers");
        }
    }
    assert!(cluster.is_settled());
    assert_eq!(cluster.leaders(), vec![ServerId(3)]);
    for late in [4, 5] {
        let d = cluster.decision(ServerId(late)).unwrap();
        assert!(d.joined_established);
        assert_eq!(d.role, ElectedRole::Following);
    }
}

#[test]
fn lossy_network_three_and_five_peers_settle_over_many_seeds() {
    for seed in 0..200u64 {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xE1EC);
        let n = if seed % 2 == 0 { 3 } else { 5 };
        let specs = random_specs(&mut rng, n);
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        // Staggered start: each peer at a random tick in [0, 40).
        let mut starts: Vec<(u64, ServerId)> = ids(&specs)
            .into_iter()
            .map(|id| (rng.random_range(0..40), id))
            .collect();
        starts.sort();
        let mut tick = 0;
        for (at, id) in starts {
            cluster.run(at - tick);
            tick = at;
            cluster.start(id);
        }
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed} did not settle: {:?}",
            cluster.events()
        );
        assert_decisions_sound(&cluster);
    }
}

#[test]
fn lossy_network_with_simultaneous_start_elects_the_highest_vote_of_the_deciding_quorum() {
    for seed in 0..100u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let specs = random_specs(&mut rng, 5);
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        start_all(&mut cluster, &ids(&specs));
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        let leader = cluster.leaders()[0];
        let leader_vote = cluster.decision(leader).unwrap().vote;
        for backer in cluster.backers(leader) {
            let d = cluster.decision(backer).unwrap();
            if !d.joined_established {
                assert!(leader_vote >= cluster.spec(backer).vote(), "seed {seed}");
            }
        }
    }
}

#[test]
fn partition_minority_never_decides_and_joins_after_healing() {
    for seed in 0..30u64 {
        let specs: Vec<PeerSpec> = (1..=5).map(|id| PeerSpec::voter(id, 10 - id, 1)).collect();
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        let minority = [ServerId(1), ServerId(2)];
        let majority = [ServerId(3), ServerId(4), ServerId(5)];
        cluster
            .net()
            .partition(vec![minority.into(), majority.into()]);
        start_all(&mut cluster, &ids(&specs));
        cluster.run(3_000);
        for id in minority {
            assert_eq!(cluster.decision(id), None, "seed {seed}: minority decided");
        }
        assert!(cluster.events().iter().all(|e| !minority.contains(&e.peer)));
        // The majority elects the best among itself (3 has the highest zxid there).
        assert_eq!(cluster.leaders(), vec![ServerId(3)], "seed {seed}");
        cluster.net().heal();
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(3)], "seed {seed}");
        for id in minority {
            assert!(
                cluster.decision(id).unwrap().joined_established,
                "seed {seed}"
            );
        }
    }
}

#[test]
fn peer_started_after_the_others_decided_joins_the_established_leader() {
    for seed in 0..30u64 {
        // Peer 3 has the highest zxid but arrives late: it follows the established leader.
        let specs = [
            PeerSpec::voter(1, 5, 1),
            PeerSpec::voter(2, 4, 1),
            PeerSpec::voter(3, 9, 1),
        ];
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        start_all(&mut cluster, &[ServerId(1), ServerId(2)]);
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(1)]);
        cluster.start(ServerId(3));
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(1)], "seed {seed}");
        let d = cluster.decision(ServerId(3)).unwrap();
        assert!(
            d.joined_established && d.role == ElectedRole::Following,
            "seed {seed}"
        );
    }
}

#[test]
fn crashed_leader_is_replaced_and_rejoins_as_follower_after_restart() {
    for seed in 0..30u64 {
        let specs: Vec<PeerSpec> = (1..=5).map(|id| PeerSpec::voter(id, 3, 1)).collect();
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        start_all(&mut cluster, &ids(&specs));
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(5)]);
        cluster.crash(ServerId(5));
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(4)], "seed {seed}");
        cluster.restart(ServerId(5));
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(4)], "seed {seed}");
        assert_eq!(
            cluster.decision(ServerId(5)).unwrap().role,
            ElectedRole::Following
        );
        assert_decisions_sound(&cluster);
    }
}

#[test]
fn observers_never_count_and_decide_observing() {
    for seed in 0..30u64 {
        // Observer 9 has by far the best (epoch, zxid) and still never leads.
        let specs = [
            PeerSpec::voter(1, 1, 1),
            PeerSpec::voter(2, 2, 1),
            PeerSpec::voter(3, 3, 1),
            PeerSpec::observer(8, 50, 9),
            PeerSpec::observer(9, 99, 9),
        ];
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, seed).with_recovery(RECOVERY_TICKS);
        // One voter and two observers: not a quorum.
        start_all(&mut cluster, &[ServerId(1), ServerId(8), ServerId(9)]);
        cluster.run(2_000);
        assert!(
            cluster.events().is_empty(),
            "seed {seed}: observers counted"
        );
        start_all(&mut cluster, &[ServerId(2), ServerId(3)]);
        assert!(
            cluster.run_until(MAX_TICKS, Cluster::is_settled),
            "seed {seed}"
        );
        assert_eq!(cluster.leaders(), vec![ServerId(3)], "seed {seed}");
        for obs in [8, 9] {
            let d = cluster.decision(ServerId(obs)).unwrap();
            assert_eq!(
                (d.role, d.vote.leader),
                (ElectedRole::Observing, ServerId(3))
            );
        }
    }
}

#[test]
fn same_seed_replays_the_same_history() {
    let specs: Vec<PeerSpec> = (1..=5).map(|id| PeerSpec::voter(id, id % 3, 1)).collect();
    let run = || {
        let mut cluster = Cluster::new(&specs, CONFIG, LOSSY, 42).with_recovery(RECOVERY_TICKS);
        start_all(&mut cluster, &ids(&specs));
        cluster.run(3_000);
        let stats = cluster.net().stats();
        (cluster.events().to_vec(), stats)
    };
    assert_eq!(run(), run());
}
