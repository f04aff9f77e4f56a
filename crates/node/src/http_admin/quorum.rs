//! The commands that describe this server's place in the ensemble: `zabstate` and `observers`
//! (ZooKeeper 3.9's `ZabStateCommand` and `SyncedObserverConsCommand`), read from the quorum
//! peer's status and the configured server list.
//!
//! What Paddock's peer reports is its role, whether it serves, and (a leader) which learners
//! are synced; it does not report ZAB's discovery phase apart from synchronization, nor
//! per-learner connection counters. Those parts of ZooKeeper's answers are left out (see
//! docs/operations.md) rather than made up.

use paddock_gateway::NodeStatus;
use paddock_quorum::peer::{PeerRole, PeerStatus};
use paddock_types::{ServerSpec, Zxid};
use serde_json::{json, Map, Value};

/// ZooKeeper's `QuorumPeer.ZabState`, in the lower case `zabstate` prints. Paddock's peer does
/// not tell discovery from synchronization: a leader or learner that does not serve yet is in
/// one of the two, reported as `synchronization`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZabPhase {
    Election,
    Synchronization,
    Broadcast,
}

impl ZabPhase {
    /// The phase of a peer with status `st` (already judged at the current time).
    pub fn of(st: &PeerStatus) -> ZabPhase {
        match st.role {
            PeerRole::Looking | PeerRole::Stopped => ZabPhase::Election,
            PeerRole::Leading | PeerRole::Following | PeerRole::Observing if st.serving => {
                ZabPhase::Broadcast
            }
            PeerRole::Leading | PeerRole::Following | PeerRole::Observing => {
                ZabPhase::Synchronization
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ZabPhase::Election => "election",
            ZabPhase::Synchronization => "synchronization",
            ZabPhase::Broadcast => "broadcast",
        }
    }
}

/// `zabstate`. A standalone server answers as ZooKeeper's does: `voting` false, `zabstate` "".
/// An ensemble member: its id, role, addresses from its `server.N` line, whether it votes, the
/// last zxid it applied (hex, and as epoch and counter) and its phase.
pub fn zabstate(
    members: &[ServerSpec],
    peer: Option<&PeerStatus>,
    s: &NodeStatus,
    out: &mut Map<String, Value>,
) {
    let me = members.iter().find(|m| m.id.0 == s.server_id);
    let (Some(me), Some(st)) = (me, peer) else {
        out.insert("voting".into(), false.into());
        out.insert("zabstate".into(), "".into());
        return;
    };
    let last = Zxid(s.processor.last_zxid.0);
    out.insert("myid".into(), s.server_id.into());
    out.insert("is_leader".into(), (st.role == PeerRole::Leading).into());
    out.insert(
        "quorum_address".into(),
        format!("{}:{}", me.host, me.quorum_port).into(),
    );
    out.insert(
        "election_address".into(),
        format!("{}:{}", me.host, me.election_port).into(),
    );
    out.insert(
        "client_address".into(),
        me.client_addr.clone().map_or(Value::Null, Value::from),
    );
    out.insert("voting".into(), (!me.observer).into());
    out.insert("last_zxid".into(), format!("0x{:x}", last.0).into());
    out.insert("zab_epoch".into(), last.epoch().0.into());
    out.insert("zab_counter".into(), last.counter().into());
    out.insert("zabstate".into(), ZabPhase::of(st).as_str().into());
}

/// `observers` / `obsr`: on a serving leader, the observers among its synced learners
/// (`synced_observers`, and an entry with `sid` each); on any other server 0 and an empty
/// list, as ZooKeeper's followers without an observer master answer.
pub fn observers(members: &[ServerSpec], peer: Option<&PeerStatus>, out: &mut Map<String, Value>) {
    let synced: Vec<u64> = match peer {
        Some(st) if st.role == PeerRole::Leading && st.serving => st
            .synced_followers
            .iter()
            .filter(|id| members.iter().any(|m| m.id == **id && m.observer))
            .map(|id| id.0)
            .collect(),
        _ => Vec::new(),
    };
    out.insert("synced_observers".into(), synced.len().into());
    let list: Vec<Value> = synced.iter().map(|sid| json!({ "sid": sid })).collect();
    out.insert("observers".into(), list.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::{Epoch, ServerId};

    fn spec(id: u64, observer: bool) -> ServerSpec {
        ServerSpec {
            id: ServerId(id),
            host: format!("10.0.0.{id}"),
            quorum_port: 2888,
            election_port: 3888,
            observer,
            client_addr: (id == 1).then(|| "0.0.0.0:2181".to_string()),
        }
    }

    fn peer(role: PeerRole, serving: bool, synced: &[u64]) -> PeerStatus {
        PeerStatus {
            role,
            leader: Some(ServerId(1)),
            epoch: Epoch(3),
            serving,
            last_committed: Zxid::ZERO,
            round: 1,
            synced_followers: synced.iter().map(|&i| ServerId(i)).collect(),
            lease: paddock_quorum::peer::Lease::Unbounded,
            storage_failure: None,
        }
    }

    #[test]
    fn the_phase_follows_the_role_and_whether_it_serves() {
        let phase = |role, serving| ZabPhase::of(&peer(role, serving, &[])).as_str();
        assert_eq!(phase(PeerRole::Looking, false), "election");
        assert_eq!(phase(PeerRole::Stopped, false), "election");
        assert_eq!(phase(PeerRole::Following, false), "synchronization");
        assert_eq!(phase(PeerRole::Leading, false), "synchronization");
        assert_eq!(phase(PeerRole::Leading, true), "broadcast");
        assert_eq!(phase(PeerRole::Observing, true), "broadcast");
    }

    #[test]
    fn a_leader_lists_only_its_synced_observers() {
        let members = [spec(1, false), spec(2, false), spec(3, true), spec(4, true)];
        let mut out = Map::new();
        observers(
            &members,
            Some(&peer(PeerRole::Leading, true, &[2, 3])),
            &mut out,
        );
        assert_eq!(out["synced_observers"], 1);
        assert_eq!(out["observers"], json!([{ "sid": 3 }]));
        // A follower, or a leader that does not serve, has none.
        for st in [
            peer(PeerRole::Following, true, &[]),
            peer(PeerRole::Leading, false, &[3]),
        ] {
            let mut out = Map::new();
            observers(&members, Some(&st), &mut out);
            assert_eq!(out["synced_observers"], 0);
            assert_eq!(out["observers"], json!([]));
        }
    }
}
