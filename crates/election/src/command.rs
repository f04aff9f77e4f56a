//! What the election state machine asks its driver to do.

use crate::vote::{ElectedRole, Notification, Vote};
use paddock_types::{Epoch, ServerId};

/// An output of [`crate::Election`]; the driver executes them in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send `notification` to one peer.
    Send {
        /// The peer.
        to: ServerId,
        /// What to send.
        notification: Notification,
    },
    /// Send the notification to every voter except this peer.
    Broadcast(Notification),
    /// The election is over: this peer now has `role` under `leader` in `epoch` (the leader's
    /// epoch as carried by the winning vote).
    Decided {
        /// The elected leader.
        leader: ServerId,
        /// The winning vote's epoch.
        epoch: Epoch,
        /// This peer's role.
        role: ElectedRole,
    },
}

/// How an election ended, kept by the state machine after it decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The winning vote.
    pub vote: Vote,
    /// The round the decision belongs to.
    pub round: u64,
    /// This peer's role.
    pub role: ElectedRole,
    /// `true` when the peer joined a leader already established by others (FOLLOWING/LEADING
    /// notifications), `false` when a quorum of votes for its own proposal decided it.
    pub joined_established: bool,
}
