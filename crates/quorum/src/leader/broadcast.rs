//! Broadcast: `propose` assigns the next zxid of the epoch, logs it and sends PROPOSAL to every
//! follower being synced or synced; ACKs are counted per zxid (the leader's own only once its log
//! is durable); proposals commit strictly in zxid order once a quorum acked: `Apply`, COMMIT to
//! followers, INFORM to observers. Many proposals may be in flight.
//!
//! A configuration change (`propose_change`) is one proposal that installs a new membership: it
//! commits only once a quorum of the current membership *and* a quorum of the new one acked it
//! (ZooKeeper's reconfig rule: any later quorum of either configuration then holds it); at its
//! commit the leader's membership becomes the new one, so the proposals behind it commit by the
//! new quorum. One change at a time; it is refused when the new membership's voters that are
//! synced followers (the leader included) are not a quorum of it: it could not commit.

use super::{Leader, LeaderPhase, LearnerPhase, Outstanding};
use crate::command::Command;
use crate::membership::Membership;
use crate::messages::PeerMessage;
use bytes::Bytes;
use paddock_types::{ServerId, Zxid};
use std::collections::BTreeSet;
use thiserror::Error;

/// Why the leader refuses a configuration change (ZooKeeper's error codes in brackets).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ChangeRefused {
    /// Not serving, or the zxid counter is exhausted.
    #[error(transparent)]
    NotServing(#[from] NotServing),
    /// Another change is proposed and not committed yet (RECONFIGINPROGRESS).
    #[error("a reconfiguration is in progress")]
    InProgress,
    /// The new configuration's voters that are connected and synced are not a quorum of it
    /// (NEWCONFIGNOQUORUM).
    #[error("no quorum of the new configuration is connected and synced")]
    NoQuorum,
}

/// Why the leader cannot propose.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
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
        self.propose_installing(None, encode)
    }

    /// Proposes a configuration change that installs `members` (see the module comment).
    pub fn propose_change(
        &mut self,
        members: Membership,
        encode: impl FnOnce(Zxid) -> Bytes,
    ) -> Result<(Zxid, Vec<Command>), ChangeRefused> {
        self.next_zxid()?;
        if self.pending_change.is_some() {
            return Err(ChangeRefused::InProgress);
        }
        let synced: BTreeSet<ServerId> = self
            .learners
            .iter()
            .filter(|(_, l)| !l.observer && l.phase == LearnerPhase::Synced)
            .map(|(id, _)| *id)
            .collect();
        if !members.contains_quorum_with(&synced, Some(self.me)) {
            return Err(ChangeRefused::NoQuorum);
        }
        let (zxid, out) = self.propose_installing(Some(members), encode)?;
        Ok((zxid, out))
    }

    /// The configuration change proposed and not committed yet, if any.
    pub fn pending_change(&self) -> Option<Zxid> {
        self.pending_change
    }

    fn propose_installing(
        &mut self,
        installs: Option<Membership>,
        encode: impl FnOnce(Zxid) -> Bytes,
    ) -> Result<(Zxid, Vec<Command>), NotServing> {
        let zxid = self.next_zxid()?;
        let data = encode(zxid);
        self.last_zxid = zxid;
        if installs.is_some() {
            self.pending_change = Some(zxid);
        }
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
                installs,
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
            let o = entry.get();
            let new_quorum = o
                .installs
                .as_ref()
                .is_none_or(|m| m.contains_quorum_with(&o.acks, own));
            if !new_quorum || !self.members.contains_quorum_with(&o.acks, own) {
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
            if let Some(members) = o.installs {
                out.extend(self.install(zxid, members));
                if self.phase == LeaderPhase::Done {
                    break;
                }
            }
        }
        out
    }

    /// The change committed at `zxid` installs `members`: learners now connected as the wrong
    /// kind are dropped (they reconnect as what the configuration says), and a leader that no
    /// longer votes steps down (its commit went out first; the voters elect a new leader).
    fn install(&mut self, zxid: Zxid, members: Membership) -> Vec<Command> {
        tracing::info!(me = %self.me, %zxid, ?members, "configuration change committed");
        self.members = members;
        self.pending_change = None;
        let wrong_kind: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(id, l)| {
                if l.observer {
                    self.members.is_voter(**id)
                } else {
                    self.members.is_observer(**id)
                }
            })
            .map(|(id, _)| *id)
            .collect();
        let mut out: Vec<Command> = wrong_kind
            .into_iter()
            .map(|id| self.drop_learner(id, format!("server {id} changed role at {zxid}")))
            .collect();
        if !self.members.is_voter(self.me) {
            out.push(self.step_down(crate::command::Reason::Reconfigured(zxid)));
        }
        out
    }
}
