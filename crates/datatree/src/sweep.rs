//! What the leader's sweeper may delete: empty containers and expired TTL nodes (ZooKeeper's
//! `ContainerManager.getCandidates`). Only the container and TTL indexes are read (kept by
//! `State::insert` / `remove`, so rebuilt by every snapshot load and log replay): a sweep over
//! a tree of a million ordinary znodes looks at none of them.
//!
//! Rules:
//! - a container is a candidate once it has had a child (`cversion > 0`: a child was created
//!   at some time) and has none now;
//! - a TTL node is a candidate when it has no children and `now - mtime > ttl` (mtime: the
//!   proposer's clock at its create or last setData; `now`: the sweeping leader's clock).

use paddock_types::{NodeKind, TxnOp};

use crate::key::NodeKey;
use crate::tree::DataTree;

/// A node the sweeper may delete, as it saw it: the conditional delete it submits
/// ([`Reapable::txn_op`]) fails harmlessly if the node changed meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reapable {
    pub path: String,
    pub czxid: i64,
    pub version: i32,
    pub cversion: i32,
}

impl Reapable {
    /// The conditional delete for this node.
    pub fn txn_op(&self) -> TxnOp {
        TxnOp::DeleteContainer {
            path: self.path.clone(),
            czxid: self.czxid,
            version: self.version,
            cversion: self.cversion,
        }
    }
}

impl DataTree {
    /// Up to `limit` nodes the sweeper may delete at wall-clock time `now_ms` (see the module
    /// doc), containers first, each set in path-key order. Costs O(containers + TTL nodes).
    pub fn sweep_candidates(&self, now_ms: i64, limit: usize) -> Vec<Reapable> {
        let state = self.state();
        let mut out = Vec::new();
        let indexed = state.containers.iter().chain(state.ttls.iter());
        for key in indexed {
            if out.len() >= limit {
                break;
            }
            if let Some(r) = self.judge(key, now_ms) {
                out.push(r);
            }
        }
        out
    }

    fn judge(&self, key: &NodeKey, now_ms: i64) -> Option<Reapable> {
        let stat = self.state().node_by_key(key.as_str())?.stat();
        if stat.num_children != 0 {
            return None;
        }
        let due = match NodeKind::from_owner(stat.ephemeral_owner) {
            NodeKind::Container => stat.cversion > 0,
            NodeKind::Ttl { ttl_ms } => now_ms.saturating_sub(stat.mtime) > ttl_ms,
            NodeKind::Persistent | NodeKind::Ephemeral(_) => false,
        };
        due.then(|| Reapable {
            path: key.path(),
            czxid: stat.czxid,
            version: stat.version,
            cversion: stat.cversion,
        })
    }

    /// Number of container nodes (the index's size).
    pub fn container_count(&self) -> usize {
        self.state().containers.len()
    }

    /// Number of TTL nodes (the index's size).
    pub fn ttl_count(&self) -> usize {
        self.state().ttls.len()
    }
}
