//! Broadcast: `propose` assigns the next zxid of the epoch, logs it and sends PROPOSAL to every
//! follower being synced or synced; ACKs are counted per zxid (the leader's own only once its log
//! is durable); proposals commit strictly in zxid order once a quorum acked: `Apply`, COMMIT to
//! followers, INFORM to observers. Many proposals may be in flight.

use super::{Leader, LeaderPhase, LearnerPhase, Outstanding};
use crate::command::Command;
use crate::messages::PeerMessage;
use bytes::Bytes;
use paddock_types::{ServerId, Zxid};
use std::collections::BTreeSet;
use thiserror::Error;

/// Why the leader cannot propose.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NotServing {
    /// Not (or no longer) in broadcast: the client gets "not currently serving requests".
    #[error("not currently serving requests")]
    NotServing,
    /// The epoch's zxid counter is exhausted; a new election is needed.
    #[error("zxid counter exhausted in this epoch")]
    CounterExhausted,
}

impl Leader {
    /// The zxid the next proposal will get.
    pub fn next_zxid(&self) -> Result<Zxid, NotServing> {
        if self.phase != LeaderPhase::Broadcast {
            return Err(NotServing::NotServing);
        }
        let epoch = self.new_epoch.expect("broadcast has an epoch");
        if self.last_zxid.epoch() == epoch {
            self.last_zxid.next().ok_or(NotServing::CounterExhausted)
        } else {
            Ok(Zxid::new(epoch, 1))
        }
    }

    /// Proposes a transaction; `encode` gets its zxid and returns the encoded `Txn`.
    pub fn propose(
        &mut self,
        encode: impl FnOnce(Zxid) -> Bytes,
    ) -> Result<(Zxid, Vec<Command>), NotServing> {
        let zxid = self.next_zxid()?;
        let data = encode(zxid);
        self.last_zxid = zxid;
        let mut out = vec![Command::Log {
            zxid,
            data: data.clone(),
        }];
        out.extend(self.forwarding(false).into_iter().map(|to| {
            Leader::send(
                to,
                PeerMessage::Proposal {
                    zxid,
                    data: data.clone(),
                },
            )
        }));
        self.outstanding.insert(
            zxid,
            Outstanding {
                data,
                acks: BTreeSet::new(),
            },
        );
        out.extend(self.try_commit());
        Ok((zxid, out))
    }

    /// Learners that receive the stream: followers (or observers) being synced or synced.
    fn forwarding(&self, observers: bool) -> Vec<ServerId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.observer == observers)
            .filter(|(_, l)| matches!(l.phase, LearnerPhase::Syncing | LearnerPhase::Synced))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn on_log_durable(&mut self, zxid: Zxid) -> Vec<Command> {
        assert!(zxid <= self.last_zxid, "durable only what was logged");
        self.durable = self.durable.max(zxid);
        self.try_commit()
    }

    pub(crate) fn on_ack(&mut self, from: ServerId, zxid: Zxid) -> Vec<Command> {
        let Some(l) = self.learners.get(&from) else {
            return vec![self.drop_learner(from, "ACK from an unknown learner".into())];
        };
        if l.observer || !matches!(l.phase, LearnerPhase::Syncing | LearnerPhase::Synced) {
            return vec![self.drop_learner(from, format!("ACK {zxid} out of protocol"))];
        }
        match self.outstanding.get_mut(&zxid) {
            Some(o) => {
                o.acks.insert(from);
                self.try_commit()
            }
            None if zxid <= self.last_committed => Vec::new(),
            None => {
                tracing::warn!(%from, %zxid, "ACK for a zxid never proposed");
                Vec::new()
            }
        }
    }

    /// Commits the oldest outstanding proposals while each has a quorum (strict zxid order).
    fn try_commit(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        // Once per call, not per commit: who receives the stream.
        let (followers, observers) = (self.forwarding(false), self.forwarding(true));
        while let Some(entry) = self.outstanding.first_entry() {
            let zxid = *entry.key();
            let own = (self.durable >= zxid).then_some(self.me);
            if !self.members.contains_quorum_with(&entry.get().acks, own) {
                break;
            }
            let o = entry.remove();
            assert!(zxid > self.last_committed, "commits strictly increase");
            self.last_committed = zxid;
            self.committed.push(zxid, o.data.clone());
            out.push(Command::Apply(zxid));
            out.extend(
                followers
                    .iter()
                    .map(|to| Leader::send(*to, PeerMessage::Commit { zxid })),
            );
            out.extend(observers.iter().map(|to| {
                Leader::send(
                    *to,
                    PeerMessage::Inform {
                        zxid,
                        data: o.data.clone(),
                    },
                )
            }));
        }
        out
    }
}
