//! Fuzz target of the election messages: `Notification` frame bytes as any peer (or anything
//! that reached the election port) sends them, through prost and `notification_from_proto`,
//! then into the election state machine, which must take any well-formed vote (from any
//! sender, for any leader, with any round, epoch and zxid) without panicking.
//! `PADDOCK_FUZZ_CASES` / `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use paddock_election::grpc::{notification_from_proto, notification_to_proto};
use paddock_election::{Election, ElectionConfig, Notification, PeerState, QuorumVerifier, Vote};
use paddock_fuzz::{bounded_by_input, config, input, TrackingAlloc};
use paddock_proto::v1 as pb;
use paddock_types::{Epoch, ServerId, Zxid};
use proptest::prelude::*;
use prost::Message;
use PeerState::*;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

const STATES: [PeerState; 5] = [Looking, Following, Leading, Observing, Recovering];

fn notification(state: PeerState, leader: u64) -> Notification {
    Notification {
        vote: Vote::new(ServerId(leader), Zxid(0x3_0000_0005), Epoch(3)),
        round: 7,
        sender: ServerId(2),
        sender_state: state,
    }
}

/// A vote in every sender state, and a hello.
fn frames() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = STATES
        .into_iter()
        .map(|s| notification_to_proto(&notification(s, 3)).encode_to_vec())
        .collect();
    out.push(
        pb::Notification {
            kind: Some(pb::notification::Kind::Hello(pb::ElectionHello::default())),
        }
        .encode_to_vec(),
    );
    out
}

/// An election of server 1 in {1, 2, 3} + observer 4, started.
fn election() -> Election {
    let qv = QuorumVerifier::new([ServerId(1), ServerId(2), ServerId(3)], [ServerId(4)])
        .expect("a valid ensemble");
    let mut e = Election::new(
        ServerId(1),
        Zxid(0x3_0000_0001),
        Epoch(3),
        qv,
        ElectionConfig::default(),
    );
    e.start();
    e
}

/// Decodes `bytes` as the election transport does and steps an election with what decodes,
/// then ticks it. The transport hands `step` only votes whose sender field is the peer of the
/// stream (it closes a stream that claims another), so that is what is stepped here.
fn exercise(bytes: &[u8], e: &mut Election) {
    let Ok(frame) = bounded_by_input(bytes.len(), || pb::Notification::decode(bytes)) else {
        return;
    };
    let Ok(n) = notification_from_proto(frame) else {
        return;
    };
    assert_eq!(notification_from_proto(notification_to_proto(&n)), Ok(n));
    e.step(n.sender, n);
    e.tick();
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn election_frames_never_panic(frames in proptest::collection::vec(input(frames()), 1..8)) {
        let mut e = election();
        for bytes in &frames {
            exercise(bytes, &mut e);
        }
    }

    #[test]
    fn any_vote_steps_an_election(
        leader in any::<u64>(), zxid in any::<u64>(), epoch in any::<u32>(), round in any::<u64>(),
        sender in prop_oneof![Just(1u64), Just(2), Just(3), Just(4), any::<u64>()],
        state in prop::sample::select(STATES.to_vec()),
    ) {
        let n = Notification {
            vote: Vote::new(ServerId(leader), Zxid(zxid), Epoch(epoch)),
            round,
            sender: ServerId(sender),
            sender_state: state,
        };
        let mut e = election();
        e.step(ServerId(sender), n);
        e.step(ServerId(3), Notification { sender: ServerId(3), ..n });
        e.tick();
    }
}
