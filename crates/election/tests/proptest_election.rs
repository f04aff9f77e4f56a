//! Random (zxid, epoch) assignments and seeds.

use paddock_election::sim::{Cluster, NetConfig, PeerSpec};
use paddock_election::ElectionConfig;
use paddock_types::ServerId;
use proptest::prelude::*;

const CONFIG: ElectionConfig = ElectionConfig {
    finalize_wait_ticks: 10,
    max_notification_interval_ticks: 64,
};

fn specs_strategy() -> impl Strategy<Value = Vec<PeerSpec>> {
    prop_oneof![Just(3usize), Just(5usize)].prop_flat_map(|n| {
        prop::collection::vec((0u64..6, 0u32..3), n).prop_map(|states| {
            states
                .into_iter()
                .enumerate()
                .map(|(i, (zxid, epoch))| PeerSpec::voter(i as u64 + 1, zxid, epoch))
                .collect()
        })
    })
}

fn start_all(cluster: &mut Cluster, specs: &[PeerSpec]) {
    for s in specs {
        cluster.start(s.id);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Reliable network, delays below half the finalize wait, simultaneous start: the peer with
    /// the highest (epoch, zxid, id) leads, everyone agrees, one decision per peer.
    #[test]
    fn reliable_elects_the_highest_vote(specs in specs_strategy(), seed in any::<u64>()) {
        let net = NetConfig { drop_probability: 0.0, min_delay_ticks: 1, max_delay_ticks: 4 };
        let mut cluster = Cluster::new(&specs, CONFIG, net, seed);
        start_all(&mut cluster, &specs);
        prop_assert!(cluster.run_until(2_000, Cluster::is_settled));
        let best = specs.iter().max_by_key(|s| s.vote()).unwrap().id;
        prop_assert_eq!(cluster.leaders(), vec![best]);
        prop_assert_eq!(cluster.events().len(), specs.len());
    }

    /// Lossy network with the role-loop recovery: the ensemble settles on one leader backed by
    /// a quorum, and no quorum-decided vote is below its decider's own vote.
    #[test]
    fn lossy_settles_on_one_leader(specs in specs_strategy(), seed in any::<u64>(), drop in 0.0f64..0.4) {
        let net = NetConfig { drop_probability: drop, min_delay_ticks: 1, max_delay_ticks: 12 };
        let mut cluster = Cluster::new(&specs, CONFIG, net, seed).with_recovery(60);
        start_all(&mut cluster, &specs);
        prop_assert!(cluster.run_until(30_000, Cluster::is_settled));
        prop_assert_eq!(cluster.leaders().len(), 1);
        for e in cluster.events() {
            if !e.decision.joined_established {
                prop_assert!(e.decision.vote >= e.initial_vote);
            }
        }
        let leader: ServerId = cluster.leaders()[0];
        prop_assert!(cluster.verifier().contains_quorum(&cluster.backers(leader)));
    }
}
