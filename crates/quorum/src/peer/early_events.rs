//! Peer events that arrive while the peer is LOOKING, as pure data. A learner whose election
//! decided first dials its leader before the leader's own election decided: the leader must not
//! lose that stream (its `Connected` and FOLLOWERINFO), so LOOKING holds the events and LEADING
//! replays them through the new `Leader`. A peer that ends up FOLLOWING closes the streams that
//! were opened to it (they think it leads) and forgets the rest.
//!
//! Rules (tested below): a `Disconnected(p)` while LOOKING forgets every held event of `p` (its
//! stream is gone; replaying its messages would resurrect it) and is not held itself; at most
//! [`EARLY_EVENTS_CAP`] events are held (later ones are dropped: a peer that floods a LOOKING
//! server re-syncs anyway); whatever the role, nothing is held across a role change.

use crate::transport::PeerEvent;
use paddock_types::ServerId;

/// Events held while LOOKING.
pub(crate) const EARLY_EVENTS_CAP: usize = 4096;

/// The events held while LOOKING, and those to replay on entering LEADING.
#[derive(Debug, Default)]
pub(crate) struct EarlyEvents {
    held: Vec<PeerEvent>,
    replay: Vec<PeerEvent>,
}

impl EarlyEvents {
    /// LOOKING: `ev` waits for the role the election decides.
    pub(crate) fn hold(&mut self, ev: PeerEvent) {
        if let PeerEvent::Disconnected(p) = ev {
            self.held.retain(
                |e| !matches!(e, PeerEvent::Connected(x) | PeerEvent::Message(x, _) if *x == p),
            );
        } else if self.held.len() < EARLY_EVENTS_CAP {
            self.held.push(ev);
        }
    }

    /// LEADING starts: the held events are replayed through the leader
    /// ([`EarlyEvents::take_replay`]).
    pub(crate) fn lead(&mut self) {
        self.replay = std::mem::take(&mut self.held);
    }

    /// FOLLOWING / OBSERVING `leader` starts: the held events are dropped; returns the peers
    /// (other than `leader`) whose streams came up meanwhile, in order, to be closed.
    pub(crate) fn follow(&mut self, leader: ServerId) -> Vec<ServerId> {
        std::mem::take(&mut self.held)
            .into_iter()
            .filter_map(|ev| match ev {
                PeerEvent::Connected(p) if p != leader => Some(p),
                _ => None,
            })
            .collect()
    }

    /// Whether events wait to be replayed.
    pub(crate) fn has_replay(&self) -> bool {
        !self.replay.is_empty()
    }

    /// The events to replay now, in arrival order.
    pub(crate) fn take_replay(&mut self) -> Vec<PeerEvent> {
        std::mem::take(&mut self.replay)
    }

    /// The role ended (or storage failed): nothing is held or replayed any more.
    pub(crate) fn clear(&mut self) {
        self.held.clear();
        self.replay.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PeerMessage;
    use paddock_types::Epoch;

    fn s(id: u64) -> ServerId {
        ServerId(id)
    }

    fn info(from: u64) -> PeerEvent {
        PeerEvent::Message(
            s(from),
            PeerMessage::FollowerInfo {
                accepted_epoch: Epoch(1),
                last_zxid: paddock_types::Zxid::ZERO,
                protocol_version: 1,
                snapshot_zxid: paddock_types::Zxid::ZERO,
            },
        )
    }

    fn up(p: u64) -> PeerEvent {
        PeerEvent::Connected(s(p))
    }

    fn down(p: u64) -> PeerEvent {
        PeerEvent::Disconnected(s(p))
    }

    #[test]
    fn leading_replays_what_is_left_of_the_held_events_in_order() {
        // (events while LOOKING, replayed on LEADING)
        let cases: Vec<(Vec<PeerEvent>, Vec<PeerEvent>)> = vec![
            (vec![up(2), info(2)], vec![up(2), info(2)]),
            (
                vec![up(2), up(3), info(3), info(2)],
                vec![up(2), up(3), info(3), info(2)],
            ),
            // A stream that closed again is forgotten, with its messages.
            (vec![up(2), info(2), up(3), down(2)], vec![up(3)]),
            (vec![up(2), down(2), up(2), info(2)], vec![up(2), info(2)]),
            (vec![down(4)], vec![]),
        ];
        for (held, replayed) in cases {
            let mut e = EarlyEvents::default();
            for ev in held.clone() {
                e.hold(ev);
            }
            assert!(!e.has_replay(), "{held:?}");
            e.lead();
            assert_eq!(e.has_replay(), !replayed.is_empty(), "{held:?}");
            assert_eq!(e.take_replay(), replayed, "{held:?}");
            assert!(!e.has_replay());
        }
    }

    #[test]
    fn following_closes_the_streams_of_others_and_forgets_the_rest() {
        // (events while LOOKING, the leader followed, streams to close)
        let cases: Vec<(Vec<PeerEvent>, u64, Vec<ServerId>)> = vec![
            (vec![up(1), info(1)], 1, vec![]),
            (vec![up(2), info(2), up(1), up(3)], 1, vec![s(2), s(3)]),
            (vec![up(2), down(2), up(3)], 1, vec![s(3)]),
        ];
        for (held, leader, closed) in cases {
            let mut e = EarlyEvents::default();
            for ev in held.clone() {
                e.hold(ev);
            }
            assert_eq!(e.follow(s(leader)), closed, "{held:?}");
            e.lead();
            assert!(!e.has_replay(), "nothing is left after following: {held:?}");
        }
    }

    #[test]
    fn at_most_the_cap_is_held_and_a_role_change_clears_everything() {
        let mut e = EarlyEvents::default();
        for _ in 0..EARLY_EVENTS_CAP + 10 {
            e.hold(info(2));
        }
        e.lead();
        assert_eq!(e.take_replay().len(), EARLY_EVENTS_CAP);
        e.hold(up(3));
        e.lead();
        e.clear();
        assert!(!e.has_replay());
        e.lead();
        assert!(!e.has_replay());
    }
}
