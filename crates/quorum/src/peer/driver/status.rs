//! What the driver publishes: [`PeerStatus`] on every change of role, leader, epoch, serving,
//! round or synced learners, and the leader's lease (`crate::lease`), judged by readers against
//! tokio's clock.

use super::{CurrentRole, PeerDriver};
use crate::lease::LeaseBase;
use crate::peer::{Lease, PeerRole, PeerStatus};
use crate::transport::PeerTransport;
use paddock_election::ElectionTransport;
use paddock_types::ServerId;
use std::time::Duration;

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    pub(super) fn current_leader(&self) -> Option<ServerId> {
        match &self.role {
            CurrentRole::Looking => None,
            CurrentRole::Leading(_) => Some(self.me),
            CurrentRole::Following { leader, .. } => Some(*leader),
        }
    }

    pub(super) fn publish(&self) {
        let role = match &self.role {
            CurrentRole::Looking => PeerRole::Looking,
            CurrentRole::Leading(_) => PeerRole::Leading,
            CurrentRole::Following { observer: true, .. } => PeerRole::Observing,
            CurrentRole::Following { .. } => PeerRole::Following,
        };
        let new = PeerStatus {
            role,
            leader: self.current_leader(),
            epoch: self.storage.epochs.current_epoch(),
            serving: self.serving,
            last_committed: self.sm.last_applied(),
            round: self.election.round(),
            synced_followers: match &self.role {
                CurrentRole::Leading(l) if self.serving => l.synced_learners(),
                _ => Vec::new(),
            },
            lease: self.lease_now(),
            storage_failure: self.storage_failure.clone(),
        };
        // Commits alone update `last_committed` in place without waking the watchers (role
        // followers, health): that changes with every group commit, and nobody waits on it.
        self.status.send_if_modified(|s| {
            let notify = s.role != new.role
                || s.leader != new.leader
                || s.epoch != new.epoch
                || s.serving != new.serving
                || s.round != new.round
                || s.synced_followers != new.synced_followers
                || s.storage_failure != new.storage_failure;
            *s = new;
            notify
        });
    }

    /// The lease a serving leader holds now (crate::lease): until its freshest quorum's
    /// oldest probe send time plus the lease duration.
    fn lease_now(&self) -> Lease {
        let CurrentRole::Leading(l) = &self.role else {
            return Lease::NotLeading;
        };
        if !self.serving {
            return Lease::Lapsed;
        }
        match self.lease.base(l.members(), self.me, l.synced_learners()) {
            LeaseBase::Unbounded => Lease::Unbounded,
            LeaseBase::Since(t) => Lease::Until(t + self.lease_duration()),
            LeaseBase::None => Lease::Lapsed,
        }
    }

    /// How long a learner's answer vouches for this leader: a quarter tick short of the
    /// syncLimit after which a follower gives its leader up (counted from when it received the
    /// probe, which is after the leader sent it). The margin covers the follower's tick timer,
    /// which may fire up to a few milliseconds before a whole period after the previous one.
    /// Pings go out every tick, so any syncLimit of 2 ticks or more (zoo.cfg's syncLimit=1 is
    /// 2 ticks) keeps a healthy leader's lease from lapsing between two pings.
    fn lease_duration(&self) -> Duration {
        let limit = self.config.tick * self.config.zab.sync_limit_ticks;
        limit.saturating_sub(self.config.tick / 4)
    }
}
