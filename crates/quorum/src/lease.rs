//! The leader's lease: whether a leader may still call itself serving, judged against the
//! current time, not against the ticks its role loop happens to have run.
//!
//! DESIGN.md: "a leader that loses contact with a quorum stops serving writes within
//! `syncLimit * tickTime`". The [`crate::Leader`] core steps down on its next tick once its
//! synced voters are no longer a quorum, but a leader whose process was stopped (SIGSTOP, a VM
//! pause, a long GC) runs no tick: resumed after its followers elected another leader, it still
//! believes it leads until its loop has read the news. The lease closes that window: the
//! leader serves only while it *knows* a quorum of voters (itself included) still followed it
//! less than the lease duration ago, and anyone can check that against the clock at any time.
//!
//! What a learner's answer proves is the time the leader *sent* the message it answers, not
//! the time the answer arrived: an answer may have waited in a socket buffer while the leader
//! was stopped. A follower goes LOOKING only after hearing nothing from its leader for
//! syncLimit ticks, counted from when it *received* the leader's last message, which is after
//! the leader sent it. So if follower `f` answered a message sent at `t`, `f` follows this
//! leader at least until `t + syncLimit`; a new leader needs a quorum of voters that left, and
//! any such quorum meets the quorum that vouches for this leader's lease. The lease therefore
//! ends (at `base + duration`, `base` as computed by [`lease_base`]) before any other leader
//! can be elected, as long as both servers' clocks run at the same rate.
//!
//! Probes (request → its answer, FIFO per learner stream): `Ping` → `PingReply` (every tick
//! while serving) and `NewLeader` → `AckNewLeader` (so the lease holds from the moment the
//! leader starts serving). Everything here is pure: times are any ordered value (the driver
//! uses tokio's clock; tests use numbers).

use crate::membership::Membership;
use crate::messages::PeerMessage;
use paddock_types::ServerId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Unanswered pings kept per learner. A learner answers every ping at once and is dropped
/// after syncLimit ticks of silence, so this is never reached by a working learner; past it the
/// learner no longer vouches for the lease until its stream is replaced.
const MAX_PENDING_PINGS: usize = 4096;

/// Since when a leader is known to hold a quorum (see [`lease_base`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseBase<T> {
    /// The leader's own vote is a quorum (a single voter): no lease is needed.
    Unbounded,
    /// A quorum of voters (the leader included) followed it at this time or later.
    Since(T),
    /// The voters that answered do not make a quorum.
    None,
}

/// The lease rule: the latest time `t` such that the leader plus every voter that answered a
/// probe sent at `t` or later is a quorum of `members`. `answered` lists, per server, the send
/// time of the latest probe it answered; observers and the leader itself in it are ignored.
pub fn lease_base<T: Copy + Ord>(
    members: &Membership,
    me: ServerId,
    answered: impl IntoIterator<Item = (ServerId, T)>,
) -> LeaseBase<T> {
    let mut set = BTreeSet::from([me]);
    if members.contains_quorum(&set) {
        return LeaseBase::Unbounded;
    }
    let mut voters: Vec<(T, ServerId)> = answered
        .into_iter()
        .filter(|(id, _)| *id != me && members.is_voter(*id))
        .map(|(id, t)| (t, id))
        .collect();
    // Freshest first: the quorum with the latest oldest answer.
    voters.sort_by(|a, b| b.cmp(a));
    for (t, id) in voters {
        set.insert(id);
        if members.contains_quorum(&set) {
            return LeaseBase::Since(t);
        }
    }
    LeaseBase::None
}

/// The leader's record of its probes and their answers, per learner (stream order).
#[derive(Clone, Debug)]
pub struct LeaseTracker<T> {
    /// Send times of the pings each learner has not answered yet, oldest first.
    pings: BTreeMap<ServerId, VecDeque<T>>,
    /// Send time of the NEWLEADER each learner has not acked yet.
    new_leader: BTreeMap<ServerId, T>,
    /// Send time of the latest probe each learner answered.
    answered: BTreeMap<ServerId, T>,
    /// Learners whose pings overflowed: their answers can no longer be matched.
    untrusted: BTreeSet<ServerId>,
}

impl<T> Default for LeaseTracker<T> {
    fn default() -> Self {
        LeaseTracker {
            pings: BTreeMap::new(),
            new_leader: BTreeMap::new(),
            answered: BTreeMap::new(),
            untrusted: BTreeSet::new(),
        }
    }
}

impl<T: Copy + Ord> LeaseTracker<T> {
    /// An empty tracker (a new leadership: nobody vouches yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The leader sends `msg` to `to` at `at` (record it when it is queued: a send time that
    /// is early only shortens the lease).
    pub fn on_send(&mut self, to: ServerId, msg: &PeerMessage, at: T) {
        if self.untrusted.contains(&to) {
            return;
        }
        match msg {
            PeerMessage::Ping => {
                let queue = self.pings.entry(to).or_default();
                if queue.len() >= MAX_PENDING_PINGS {
                    self.forget(to);
                    self.untrusted.insert(to);
                    return;
                }
                queue.push_back(at);
            }
            PeerMessage::NewLeader { .. } => {
                self.new_leader.insert(to, at);
            }
            _ => {}
        }
    }

    /// `msg` arrived from `from`.
    pub fn on_receive(&mut self, from: ServerId, msg: &PeerMessage) {
        let sent = match msg {
            PeerMessage::PingReply => self.pings.get_mut(&from).and_then(VecDeque::pop_front),
            PeerMessage::AckNewLeader { .. } => self.new_leader.remove(&from),
            _ => None,
        };
        if let Some(t) = sent {
            let best = self.answered.entry(from).or_insert(t);
            *best = (*best).max(t);
        }
    }

    /// `peer`'s stream closed or was replaced, or the leader dropped it: its answers no longer
    /// count, and answers still in flight cannot be matched to what the next stream carries.
    pub fn forget(&mut self, peer: ServerId) {
        self.pings.remove(&peer);
        self.new_leader.remove(&peer);
        self.answered.remove(&peer);
        self.untrusted.remove(&peer);
    }

    /// The lease base counting only `synced` learners (those the leader core counts in its
    /// quorum): see [`lease_base`].
    pub fn base(
        &self,
        members: &Membership,
        me: ServerId,
        synced: impl IntoIterator<Item = ServerId>,
    ) -> LeaseBase<T> {
        let answered = synced
            .into_iter()
            .filter_map(|id| self.answered.get(&id).map(|t| (id, *t)));
        lease_base(members, me, answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::{Epoch, Zxid};

    fn members(voters: &[u64], observers: &[u64]) -> Membership {
        Membership::new(
            voters.iter().map(|i| ServerId(*i)),
            observers.iter().map(|i| ServerId(*i)),
        )
        .unwrap()
    }

    fn s(i: u64) -> ServerId {
        ServerId(i)
    }

    #[test]
    fn the_base_is_the_oldest_answer_of_the_freshest_quorum() {
        let three = members(&[1, 2, 3], &[]);
        // Leader 1 plus one voter is a quorum of three: the fresher of the two counts.
        assert_eq!(
            lease_base(&three, s(1), [(s(2), 10u64), (s(3), 30)]),
            LeaseBase::Since(30)
        );
        assert_eq!(
            lease_base(&three, s(1), [(s(2), 10u64)]),
            LeaseBase::Since(10)
        );
        assert_eq!(
            lease_base(&three, s(1), Vec::<(ServerId, u64)>::new()),
            LeaseBase::None
        );
        // Five voters: the leader plus the two freshest.
        let five = members(&[1, 2, 3, 4, 5], &[]);
        assert_eq!(
            lease_base(
                &five,
                s(1),
                [(s(2), 50u64), (s(3), 40), (s(4), 10), (s(5), 45)]
            ),
            LeaseBase::Since(45)
        );
        assert_eq!(lease_base(&five, s(1), [(s(2), 50u64)]), LeaseBase::None);
    }

    #[test]
    fn observers_and_the_leader_itself_never_vouch() {
        let m = members(&[1, 2, 3], &[9]);
        assert_eq!(
            lease_base(&m, s(1), [(s(9), 100u64), (s(1), 100)]),
            LeaseBase::None
        );
        // A single voter needs nobody.
        let solo = members(&[1], &[9]);
        assert_eq!(
            lease_base(&solo, s(1), Vec::<(ServerId, u64)>::new()),
            LeaseBase::Unbounded
        );
    }

    #[test]
    fn an_answer_vouches_for_the_send_time_of_the_probe_it_answers() {
        let m = members(&[1, 2, 3], &[]);
        let mut t = LeaseTracker::new();
        t.on_send(s(2), &PeerMessage::Ping, 100u64);
        t.on_send(s(2), &PeerMessage::Ping, 200);
        assert_eq!(
            t.base(&m, s(1), [s(2)]),
            LeaseBase::None,
            "nothing answered yet"
        );
        // The answer to the first ping arrives (say at 900, after a pause): it proves 100.
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::Since(100));
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::Since(200));
        // A stray answer (nothing pending) proves nothing new.
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::Since(200));
        // Only synced learners count.
        assert_eq!(t.base(&m, s(1), []), LeaseBase::None);
    }

    #[test]
    fn the_newleader_ack_starts_the_lease() {
        let m = members(&[1, 2, 3], &[]);
        let mut t = LeaseTracker::new();
        let nl = PeerMessage::NewLeader {
            zxid: Zxid::new(Epoch(2), 0),
        };
        t.on_send(s(3), &nl, 5u64);
        // A ping sent while the NEWLEADER ack waits for the learner's disk is answered first.
        t.on_send(s(3), &PeerMessage::Ping, 7);
        t.on_receive(s(3), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(3)]), LeaseBase::Since(7));
        t.on_receive(
            s(3),
            &PeerMessage::AckNewLeader {
                zxid: Zxid::new(Epoch(2), 0),
            },
        );
        assert_eq!(
            t.base(&m, s(1), [s(3)]),
            LeaseBase::Since(7),
            "never goes back"
        );
    }

    #[test]
    fn a_replaced_stream_forgets_what_it_proved() {
        let m = members(&[1, 2, 3], &[]);
        let mut t = LeaseTracker::new();
        t.on_send(s(2), &PeerMessage::Ping, 1u64);
        t.on_receive(s(2), &PeerMessage::PingReply);
        t.on_send(s(2), &PeerMessage::Ping, 2);
        t.forget(s(2));
        // The answer to the old stream's ping must not be taken for a new one.
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::None);
        t.on_send(s(2), &PeerMessage::Ping, 3);
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::Since(3));
    }

    #[test]
    fn a_learner_that_never_answers_stops_being_tracked() {
        let m = members(&[1, 2, 3], &[]);
        let mut t = LeaseTracker::new();
        for i in 0..=MAX_PENDING_PINGS as u64 {
            t.on_send(s(2), &PeerMessage::Ping, i);
        }
        t.on_send(s(2), &PeerMessage::Ping, 1_000_000);
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::None);
        t.forget(s(2));
        t.on_send(s(2), &PeerMessage::Ping, 2_000_000);
        t.on_receive(s(2), &PeerMessage::PingReply);
        assert_eq!(t.base(&m, s(1), [s(2)]), LeaseBase::Since(2_000_000));
    }
}
