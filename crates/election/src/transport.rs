//! The seam between the election state machine and the network.

use crate::command::Command;
use crate::quorum::QuorumVerifier;
use crate::vote::Notification;
use paddock_types::ServerId;

/// Carries notifications between peers: one logical connection per pair of peers. The gRPC
/// implementation lives with the node; [`crate::sim::MemTransport`] is the in-memory one.
pub trait ElectionTransport {
    /// Queues `notification` for `to`. Delivery is best effort: the election resends.
    fn send(&mut self, to: ServerId, notification: Notification);
    /// The next notification that arrived for this peer, with its sender, if any.
    fn try_recv(&mut self) -> Option<(ServerId, Notification)>;
}

/// The transport of a voter alone in its ensemble (a standalone server): there is nobody to
/// tell and nothing arrives.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPeers;

impl ElectionTransport for NoPeers {
    fn send(&mut self, to: ServerId, _: Notification) {
        tracing::warn!(%to, "a notification for a peer, in an ensemble of one");
    }
    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        None
    }
}

/// Executes `commands` of peer `me` against `transport`; a `Broadcast` goes to every voter but
/// `me`. Returns whether one of the commands was `Decided` (the full
/// [`crate::Decision`] is then available from [`crate::Election::decision`]).
pub fn execute<T: ElectionTransport + ?Sized>(
    me: ServerId,
    verifier: &QuorumVerifier,
    commands: Vec<Command>,
    transport: &mut T,
) -> bool {
    let mut decided = false;
    for command in commands {
        match command {
            Command::Send { to, notification } => transport.send(to, notification),
            Command::Broadcast(notification) => {
                for to in verifier.voters().iter().filter(|v| **v != me) {
                    transport.send(*to, notification);
                }
            }
            Command::Decided { .. } => decided = true,
        }
    }
    decided
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote::{ElectedRole, PeerState, Vote};
    use paddock_types::{Epoch, Zxid};

    #[derive(Default)]
    struct Recording(Vec<(ServerId, Notification)>);

    impl ElectionTransport for Recording {
        fn send(&mut self, to: ServerId, notification: Notification) {
            self.0.push((to, notification));
        }
        fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
            None
        }
    }

    #[test]
    fn broadcast_reaches_every_other_voter_but_no_observer() {
        let qv =
            QuorumVerifier::new([ServerId(1), ServerId(2), ServerId(3)], [ServerId(9)]).unwrap();
        let n = Notification {
            vote: Vote::new(ServerId(2), Zxid(1), Epoch(1)),
            round: 1,
            sender: ServerId(2),
            sender_state: PeerState::Looking,
        };
        let mut t = Recording::default();
        let decided = execute(
            ServerId(2),
            &qv,
            vec![
                Command::Broadcast(n),
                Command::Send {
                    to: ServerId(9),
                    notification: n,
                },
            ],
            &mut t,
        );
        assert!(!decided);
        let targets: Vec<ServerId> = t.0.iter().map(|(to, _)| *to).collect();
        assert_eq!(targets, vec![ServerId(1), ServerId(3), ServerId(9)]);
        let decided = execute(
            ServerId(2),
            &qv,
            vec![Command::Decided {
                leader: ServerId(2),
                epoch: Epoch(1),
                role: ElectedRole::Leading,
            }],
            &mut t,
        );
        assert!(decided);
    }
}
