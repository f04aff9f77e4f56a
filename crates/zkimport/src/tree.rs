//! ZooKeeper's data tree as `DataTree.processTxn` keeps it, enough to replay a txn log over a
//! (fuzzy) snapshot and end where ZooKeeper ends:
//!
//! - create: parent missing → NoNode; child present → NodeExists, and for `create` (not
//!   create2) the parent's cversion/pzxid are still raised to the txn's (`setCversionPzxid`);
//!   a parentCVersion of -1 means the parent's + 1; the parent's cversion and pzxid move only
//!   forward. The node: czxid = mzxid = pzxid = zxid, ctime = mtime = time, versions 0.
//! - delete: the parent's pzxid moves forward to the zxid even when the child is already gone;
//!   the parent's cversion does not change (ZooKeeper's txn carries it on the next create).
//! - setData: data, mtime, mzxid, version from the txn. setACL: acl, aversion from the txn.
//! - closeSession: deletes the txn's paths, then the session's remaining ephemerals (NoNode
//!   ignored). createSession / closeSession also add / remove the session (`FileTxnSnapLog`).
//! - multi: nothing if any sub-txn is an error; else each sub-txn in turn (their failures
//!   ignored, as in replay).
//!
//! Failures (NoNode, NodeExists) change nothing and are counted: during replay of a fuzzy
//! snapshot ZooKeeper ignores them the same way.

use std::collections::{BTreeMap, BTreeSet};

use paddock_types::{Acl, NodeKind};

use crate::records::{self, opcode, Create, Owner, StatPersisted, TxnHeader, TxnRecord};

/// One znode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZkNode {
    pub data: Vec<u8>,
    /// `None`: ZooKeeper's `OPEN_ACL_UNSAFE` (ACL cache key -1 or a null list).
    pub acl: Option<Vec<Acl>>,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

/// The tree plus the sessions, as ZooKeeper's `ZKDatabase` holds them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZkTree {
    /// Keyed by path, the root as `/`.
    pub nodes: BTreeMap<String, ZkNode>,
    /// Open sessions: id → timeout ms.
    pub sessions: BTreeMap<i64, i32>,
    /// Each session's ephemeral nodes (ZooKeeper's `ephemerals`).
    ephemerals: BTreeMap<i64, BTreeSet<String>>,
    /// The highest zxid applied (or the snapshot's).
    pub last_zxid: i64,
    /// Txns (or multi sub-txns) that failed on replay and changed nothing.
    pub failed_txns: u64,
    /// Multis cut short at an op that did not decode (as ZooKeeper cuts them).
    pub multis_cut_short: u64,
}

/// (parent, child name) of a path, as ZooKeeper splits it at the last '/'; the root's parent
/// key is `/`.
fn split(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { "/" } else { &path[..slash] };
    Some((parent, &path[slash + 1..]))
}

/// ZooKeeper's node lookup: `""` is the root too.
fn norm(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

impl ZkTree {
    /// Adds a node read from a snapshot under its parent (already read: snapshots list parents
    /// first). False if the parent is missing.
    pub(crate) fn insert_loaded(&mut self, path: &str, node: ZkNode) -> bool {
        if path != "/" {
            let Some((parent, name)) = split(path) else {
                return false;
            };
            match self.nodes.get_mut(parent) {
                Some(p) => {
                    p.children.insert(name.to_string());
                }
                None => return false,
            }
        }
        self.index(path, node.stat.ephemeral_owner);
        self.nodes.insert(path.to_string(), node);
        true
    }

    fn index(&mut self, path: &str, owner: i64) {
        if let NodeKind::Ephemeral(s) = NodeKind::from_owner(owner) {
            self.ephemerals
                .entry(s.0)
                .or_default()
                .insert(path.to_string());
        }
    }

    /// Applies one logged txn (`FileTxnSnapLog.processTransaction` + `DataTree.processTxn`).
    pub(crate) fn process(&mut self, hdr: &TxnHeader, rec: &TxnRecord) {
        match rec {
            TxnRecord::CreateSession { timeout_ms } => {
                self.sessions.insert(hdr.client_id, *timeout_ms);
            }
            TxnRecord::CloseSession { .. } => {
                self.sessions.remove(&hdr.client_id);
            }
            _ => {}
        }
        self.apply(hdr, rec);
        self.last_zxid = self.last_zxid.max(hdr.zxid);
    }

    fn apply(&mut self, hdr: &TxnHeader, rec: &TxnRecord) {
        let ok = match rec {
            TxnRecord::Create(c) => {
                let ok = self.create(hdr, c);
                if !ok && hdr.kind == opcode::CREATE && self.nodes.contains_key(norm(&c.path)) {
                    // NodeExists on a plain create: raise the parent's cversion/pzxid anyway.
                    if let Some((parent, _)) = split(&c.path) {
                        self.set_cversion_pzxid(parent, c.parent_cversion, hdr.zxid);
                    }
                }
                ok
            }
            TxnRecord::Delete { path } => self.delete(path, hdr.zxid),
            TxnRecord::SetData {
                path,
                data,
                version,
            } => match self.nodes.get_mut(norm(path)) {
                Some(n) => {
                    n.data.clone_from(data);
                    n.stat.mtime = hdr.time;
                    n.stat.mzxid = hdr.zxid;
                    n.stat.version = *version;
                    true
                }
                None => false,
            },
            TxnRecord::SetAcl { path, acl, version } => match self.nodes.get_mut(norm(path)) {
                Some(n) => {
                    n.stat.aversion = *version;
                    n.acl.clone_from(acl);
                    true
                }
                None => false,
            },
            TxnRecord::CloseSession { paths } => {
                let mut local = self.ephemerals.remove(&hdr.client_id).unwrap_or_default();
                for p in paths.iter().flatten() {
                    local.remove(p);
                    self.delete(p, hdr.zxid);
                }
                for p in local {
                    self.delete(&p, hdr.zxid);
                }
                true
            }
            TxnRecord::CreateSession { .. } | TxnRecord::Check => true,
            TxnRecord::Error => false,
            TxnRecord::Multi(subs) => {
                if subs.iter().any(|(k, _)| *k == opcode::ERROR) {
                    return; // a failed multi: ZooKeeper turns every op into an error
                }
                for (kind, bytes) in subs {
                    let Ok(sub) = records::sub_record(*kind, bytes) else {
                        // ZooKeeper's IOException: the rest of the multi is skipped.
                        self.multis_cut_short += 1;
                        break;
                    };
                    let sub_hdr = TxnHeader {
                        kind: *kind,
                        ..*hdr
                    };
                    self.apply(&sub_hdr, &sub);
                }
                true
            }
        };
        if !ok {
            self.failed_txns += 1;
        }
    }

    fn create(&mut self, hdr: &TxnHeader, c: &Create) -> bool {
        let Some((parent_path, name)) = split(&c.path) else {
            return false;
        };
        let owner = match c.owner {
            Owner::None => 0,
            Owner::Session => hdr.client_id,
            Owner::Marker(m) => m,
        };
        let Some(parent) = self.nodes.get_mut(parent_path) else {
            return false;
        };
        if parent.children.contains(name) {
            return false;
        }
        let cversion = if c.parent_cversion == -1 {
            parent.stat.cversion.wrapping_add(1)
        } else {
            c.parent_cversion
        };
        if cversion > parent.stat.cversion {
            parent.stat.cversion = cversion;
            parent.stat.pzxid = hdr.zxid;
        }
        parent.children.insert(name.to_string());
        let stat = StatPersisted {
            czxid: hdr.zxid,
            mzxid: hdr.zxid,
            ctime: hdr.time,
            mtime: hdr.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: hdr.zxid,
        };
        let node = ZkNode {
            data: c.data.clone(),
            acl: c.acl.clone(),
            stat,
            children: BTreeSet::new(),
        };
        self.index(&c.path, owner);
        self.nodes.insert(c.path.clone(), node);
        true
    }

    fn delete(&mut self, path: &str, zxid: i64) -> bool {
        let Some((parent_path, name)) = split(path) else {
            return false;
        };
        let Some(parent) = self.nodes.get_mut(parent_path) else {
            return false;
        };
        parent.children.remove(name);
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        if path == "/" {
            return false;
        }
        let Some(node) = self.nodes.remove(path) else {
            return false;
        };
        if let NodeKind::Ephemeral(s) = NodeKind::from_owner(node.stat.ephemeral_owner) {
            if let Some(set) = self.ephemerals.get_mut(&s.0) {
                set.remove(path);
            }
        }
        true
    }

    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) {
        if let Some(n) = self.nodes.get_mut(norm(path)) {
            let cversion = if cversion == -1 {
                n.stat.cversion.wrapping_add(1)
            } else {
                cversion
            };
            if cversion > n.stat.cversion {
                n.stat.cversion = cversion;
                n.stat.pzxid = zxid;
            }
        }
    }

    /// What ZooKeeper does once loaded (`ZooKeeperServer.loadData`): ephemerals of sessions
    /// that are not open are deleted, at the last zxid. Returns how many.
    pub(crate) fn kill_dead_sessions(&mut self) -> usize {
        let dead: Vec<i64> = self
            .ephemerals
            .iter()
            .filter(|(s, paths)| !paths.is_empty() && !self.sessions.contains_key(s))
            .map(|(s, _)| *s)
            .collect();
        let mut count = 0;
        for s in dead {
            for p in self.ephemerals.remove(&s).unwrap_or_default() {
                if self.delete(&p, self.last_zxid) {
                    count += 1;
                }
            }
        }
        count
    }

    /// Every node reachable from the root, parents first (ZooKeeper's next snapshot would hold
    /// exactly these).
    pub(crate) fn reachable(&self) -> Vec<(String, &ZkNode)> {
        let mut out = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.nodes.get(&path) else {
                continue;
            };
            for child in node.children.iter().rev() {
                stack.push(if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                });
            }
            out.push((path, node));
        }
        out
    }
}
