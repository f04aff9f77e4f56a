//! The replicated state proper: nodes and sessions, with the bookkeeping that must stay in step
//! (ephemeral sets, approximate data size). No rules here: `apply` decides, this module stores.
//!
//! Cloning is O(1) (both maps are `imbl` persistent maps); a clone is how a snapshot freezes the
//! state and how a `multi` keeps a backup to roll back to.

use imbl::{OrdMap, OrdSet};
use paddock_types::path::{CONFIG_NODE, QUOTA_NODE, SYSTEM_ROOT};
use paddock_types::{NodeKind, SessionId};
use std::ops::Bound;

use crate::acls::AclTable;
use crate::key::{self, NodeKey};
use crate::record::{NodeRecord, NodeStat};
use crate::session::SessionEntry;

#[derive(Clone, Default)]
pub(crate) struct State {
    /// Every znode, keyed by its encoded path (see `key`), so children are a contiguous range.
    pub nodes: OrdMap<NodeKey, NodeRecord>,
    /// Open sessions, ordered by id so iteration (snapshots, digests) is deterministic.
    pub sessions: OrdMap<SessionId, SessionEntry>,
    /// The distinct ACL lists the nodes refer to.
    pub acls: AclTable,
    /// Every container node, so the leader's sweeper looks at these and not at the whole tree.
    /// Kept by `insert` / `remove` (a snapshot load inserts every node, so it is rebuilt there).
    pub containers: OrdSet<NodeKey>,
    /// Every TTL node, kept as `containers` is.
    pub ttls: OrdSet<NodeKey>,
    /// Quota'd paths with their limits and subtree usage, derived from the quota nodes under
    /// `/zookeeper/quota` (see `quota`); empty unless a quota exists.
    pub quotas: crate::quota::QuotaIndex,
    /// Sum over nodes of path length + data length (ZooKeeper's `approximate_data_size`).
    approx_data_size: u64,
}

impl State {
    /// An empty tree: no nodes at all, not even the root (used while loading a snapshot).
    pub(crate) fn empty() -> State {
        State::default()
    }

    /// `/`, `/zookeeper`, `/zookeeper/config`, `/zookeeper/quota`, all with zero stats (as
    /// ZooKeeper) except the child counts.
    pub(crate) fn with_system_nodes() -> State {
        let mut state = State::empty();
        let with_children = |n: i32| NodeStat {
            num_children: n,
            ..NodeStat::default()
        };
        state.insert(NodeKey::root(), NodeRecord::new(&with_children(1), b""));
        for (path, children) in [(SYSTEM_ROOT, 2), (CONFIG_NODE, 0), (QUOTA_NODE, 0)] {
            let key = NodeKey::from_path(path).expect("system paths are absolute");
            state.insert(key, NodeRecord::new(&with_children(children), b""));
        }
        state
    }

    pub(crate) fn node(&self, path: &str) -> Option<&NodeRecord> {
        key::encode(path).and_then(|k| self.nodes.get(k.as_str()))
    }

    pub(crate) fn node_by_key(&self, key: &str) -> Option<&NodeRecord> {
        self.nodes.get(key)
    }

    /// Names of `path`'s children, in key order (a range scan; see `key`).
    pub(crate) fn children<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = key::children_prefix(path);
        let range = (Bound::Included(prefix.as_str()), Bound::Unbounded);
        self.nodes
            .range::<_, str>(range)
            .map(|(k, _)| k.as_str())
            .take_while(move |k| k.starts_with(prefix.as_str()))
            .map(key::name_of)
    }

    /// Number of `path`'s descendants, `path` not counted (two range scans; see `key`): the keys
    /// starting with `path\0` are its children, those starting with `path/` every deeper node
    /// (`/a/b/c` is `/a/b\0c`). Every key but the root's descends from `/`.
    pub(crate) fn descendant_count(&self, path: &str) -> usize {
        if path == "/" {
            return self.nodes.len().saturating_sub(1);
        }
        let mut prefix = String::with_capacity(path.len() + 1);
        prefix.push_str(path);
        prefix.push('\0');
        let children = self.count_with_prefix(&prefix);
        prefix.pop();
        prefix.push('/');
        children + self.count_with_prefix(&prefix)
    }

    fn count_with_prefix(&self, prefix: &str) -> usize {
        let range = (Bound::Included(prefix), Bound::Unbounded);
        self.nodes
            .range::<_, str>(range)
            .take_while(|(k, _)| k.as_str().starts_with(prefix))
            .count()
    }

    /// Adds a node that is not in the tree (callers check), registering it with its owner session
    /// if ephemeral, in the container or TTL index if it is one. The record's ACL reference must already count this node (`AclTable::intern`).
    pub(crate) fn insert(&mut self, key: NodeKey, record: NodeRecord) {
        self.approx_data_size += (key.path_len() + record.data().len()) as u64;
        match NodeKind::from_owner(record.stat().ephemeral_owner) {
            NodeKind::Ephemeral(owner) => {
                if let Some(entry) = self.sessions.get_mut(&owner) {
                    entry.ephemerals.insert(key.clone());
                }
            }
            NodeKind::Container => {
                self.containers.insert(key.clone());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.insert(key.clone());
            }
            NodeKind::Persistent => {}
        }
        if let Some(old) = self.nodes.insert(key.clone(), record) {
            // Callers never insert over a node; keep the size right if one ever does.
            self.approx_data_size -= (key.path_len() + old.data().len()) as u64;
        }
    }

    /// Removes a node (its entry in its owner's ephemeral set or the container / TTL index, its
    /// hold on its ACL).
    pub(crate) fn remove(&mut self, key: &str) -> Option<(NodeKey, NodeRecord)> {
        let (key, record) = self.nodes.remove_with_key(key)?;
        self.acls.release(record.stat().acl);
        self.approx_data_size -= (key.path_len() + record.data().len()) as u64;
        match NodeKind::from_owner(record.stat().ephemeral_owner) {
            NodeKind::Ephemeral(owner) => {
                if let Some(entry) = self.sessions.get_mut(&owner) {
                    entry.ephemerals.remove(key.as_str());
                }
            }
            NodeKind::Container => {
                self.containers.remove(key.as_str());
            }
            NodeKind::Ttl { .. } => {
                self.ttls.remove(key.as_str());
            }
            NodeKind::Persistent => {}
        }
        Some((key, record))
    }

    /// Replaces an existing node's record (new data and stat); returns false if there is none.
    pub(crate) fn replace(&mut self, key: &str, record: NodeRecord) -> bool {
        match self.nodes.get_mut(key) {
            Some(slot) => {
                let (old_len, new_len) = (slot.data().len() as u64, record.data().len() as u64);
                *slot = record;
                self.approx_data_size = self.approx_data_size - old_len + new_len;
                true
            }
            None => false,
        }
    }

    /// Changes an existing node's stat (data untouched); returns false if there is none.
    pub(crate) fn update_stat(&mut self, key: &str, change: impl FnOnce(&mut NodeStat)) -> bool {
        match self.nodes.get_mut(key) {
            Some(slot) => {
                let mut stat = slot.stat();
                change(&mut stat);
                slot.set_stat(&stat);
                true
            }
            None => false,
        }
    }

    pub(crate) fn approx_data_size(&self) -> u64 {
        self.approx_data_size
    }
}
