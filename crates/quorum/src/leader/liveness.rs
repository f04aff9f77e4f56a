//! Liveness: the driver ticks every tickTime/2. Before serving, the leader steps down once
//! initLimit passed; while serving it pings every learner each tick, drops a learner not heard
//! from for syncLimit, and steps down when its synced voters (itself included) are no longer a
//! quorum.

use super::{Leader, LeaderPhase, LearnerPhase};
use crate::command::{Command, Reason};
use crate::messages::PeerMessage;
use paddock_types::ServerId;
use std::collections::BTreeSet;

impl Leader {
    /// One tick (tickTime / 2).
    pub fn tick(&mut self) -> Vec<Command> {
        self.now += 1;
        match self.phase {
            LeaderPhase::Done => Vec::new(),
            LeaderPhase::Broadcast => self.tick_serving(),
            _ if self.now > u64::from(self.config.init_limit_ticks) => {
                vec![self.step_down(Reason::InitLimit)]
            }
            _ => Vec::new(),
        }
    }

    fn tick_serving(&mut self) -> Vec<Command> {
        let limit = u64::from(self.config.sync_limit_ticks);
        let silent: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| self.now - l.last_heard > limit)
            .map(|(id, _)| *id)
            .collect();
        let mut out: Vec<Command> = silent
            .into_iter()
            .map(|id| self.drop_learner(id, format!("silent for more than {limit} ticks")))
            .collect();
        out.extend(
            self.learners
                .keys()
                .map(|id| Leader::send(*id, PeerMessage::Ping)),
        );
        let mut synced: BTreeSet<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| l.phase == LearnerPhase::Synced)
            .map(|(id, _)| *id)
            .collect();
        synced.insert(self.me);
        if !self.members.contains_quorum(&synced) {
            out.push(self.step_down(Reason::LostQuorum));
        }
        out
    }
}
