//! The replayed ZooKeeper tree as a Paddock `DataTree`: every node with its data, Stat and ACL,
//! the open sessions with their timeouts (and ZooKeeper's passwords). ZooKeeper's own
//! `/zookeeper` and `/zookeeper/config` are replaced by Paddock's (which manages them; zero
//! stats, as `DataTree::new` makes them); `/zookeeper/quota` and its subtree are kept.
//!
//! The Stat is the one ZooKeeper *serves* (`DataNode.copyStat`), not the one it stores:
//! ZooKeeper stores `cversion` as the number of child creates and serves
//! `2 * stored - numChildren` (creates + deletes), which is what Paddock stores and serves. So
//! Paddock's next sequential name under a parent, taken from that cversion, is at least
//! ZooKeeper's next one: sequence numbers keep increasing (some may be skipped).
//! `ephemeralOwner` keeps ZooKeeper's container and TTL markers (Paddock needs them to know the
//! node's kind), where ZooKeeper's `copyStat` shows clients 0.

use std::collections::BTreeMap;

use paddock_datatree::{DataTree, NodeImage, SessionInfo};
use paddock_types::path::{CONFIG_NODE, QUOTA_NODE, SYSTEM_ROOT};
use paddock_types::{Acl, SessionId, Stat, Zxid};

use crate::error::ImportError;
use crate::password::zookeeper_password;
use crate::tree::{ZkNode, ZkTree};

/// Whether a ZooKeeper node is carried over (the rest of `/zookeeper` is Paddock's).
fn kept(path: &str) -> bool {
    let under = |p: &str| path == p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/'));
    !under(SYSTEM_ROOT) || under(QUOTA_NODE)
}

fn image(path: String, node: &ZkNode) -> NodeImage {
    let s = node.stat;
    let children = i32::try_from(node.children.len()).unwrap_or(i32::MAX);
    NodeImage {
        path,
        data: node.data.clone(),
        stat: Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.saturating_mul(2).saturating_sub(children),
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: 0,
            num_children: 0, // counted below
            pzxid: s.pzxid,
        },
        acl: node.acl.clone().unwrap_or_else(Acl::open),
    }
}

fn system(path: &str) -> NodeImage {
    NodeImage {
        path: path.to_string(),
        data: Vec::new(),
        stat: Stat::default(),
        acl: Acl::open(),
    }
}

/// Builds the Paddock tree (checked by `DataTree::from_nodes`).
pub(crate) fn to_datatree(zk: &ZkTree) -> Result<DataTree, ImportError> {
    let last_zxid = u64::try_from(zk.last_zxid)
        .map_err(|_| ImportError::Unsupported(format!("last zxid {:#x}", zk.last_zxid)))?;
    let mut nodes: Vec<NodeImage> = zk
        .reachable()
        .into_iter()
        .filter(|(p, _)| kept(p))
        .map(|(p, n)| image(p, n))
        .collect();
    nodes.push(system(SYSTEM_ROOT));
    nodes.push(system(CONFIG_NODE));
    if !nodes.iter().any(|n| n.path == QUOTA_NODE) {
        nodes.push(system(QUOTA_NODE));
    }
    let mut children: BTreeMap<String, i32> = BTreeMap::new();
    for n in &nodes {
        if n.path != "/" {
            let parent = paddock_types::path::parent(&n.path);
            *children.entry(parent.to_string()).or_default() += 1;
        }
    }
    for n in &mut nodes {
        n.stat.num_children = children.get(&n.path).copied().unwrap_or(0);
    }
    let sessions = zk
        .sessions
        .iter()
        .map(|(id, timeout_ms)| {
            let info = SessionInfo {
                timeout_ms: *timeout_ms,
                password: zookeeper_password(*id),
            };
            (SessionId(*id), info)
        })
        .collect();
    DataTree::from_nodes(Zxid(last_zxid), sessions, nodes).map_err(ImportError::Tree)
}

#[cfg(test)]
mod tests {
    use super::kept;

    #[test]
    fn only_quota_is_kept_under_zookeeper() {
        for p in [
            "/",
            "/a",
            "/zookeeperx",
            "/zookeeper/quota",
            "/zookeeper/quota/a/zookeeper_limits",
        ] {
            assert!(kept(p), "{p}");
        }
        for p in [
            "/zookeeper",
            "/zookeeper/config",
            "/zookeeper/other",
            "/zookeeper/quotax",
        ] {
            assert!(!kept(p), "{p}");
        }
    }
}
