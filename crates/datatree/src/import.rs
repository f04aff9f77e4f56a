//! Building a tree from whole nodes that another system kept (e.g. a ZooKeeper data dir read by
//! `paddock-zkimport`), checked the way a snapshot is checked when it is read.

use std::collections::BTreeMap;

use paddock_types::acl::{self, Acl};
use paddock_types::{SessionId, Stat, Zxid};

use crate::key;
use crate::record::NodeStat;
use crate::session::{SessionEntry, SessionInfo};
use crate::snapshot::{Loader, RawNode, SnapshotError};
use crate::state::State;
use crate::tree::DataTree;

/// One znode for [`DataTree::from_nodes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeImage {
    /// Absolute path (`/` for the root).
    pub path: String,
    pub data: Vec<u8>,
    /// Kept as given, except `data_length` (taken from `data`). `num_children` must be the
    /// number of this node's children among the images.
    pub stat: Stat,
    /// The node's ACL; must not be empty.
    pub acl: Vec<Acl>,
}

impl DataTree {
    /// A tree holding exactly `nodes` (in any order) and `sessions`, at `last_zxid`: every Stat
    /// field as given, ACL lists numbered 1, 2, ... in path order (the open list is reference 0,
    /// as always). Checked like [`DataTree::read_snapshot`] checks a snapshot — valid paths, a
    /// root, every parent present and not ephemeral, child counts right, each ephemeral's owner
    /// among `sessions` — so the result is one a server can serve and snapshot. Nothing is
    /// added: a tree for a server needs `/zookeeper`, `/zookeeper/config` and
    /// `/zookeeper/quota` among the nodes, as [`DataTree::new`] makes them.
    pub fn from_nodes(
        last_zxid: Zxid,
        sessions: Vec<(SessionId, SessionInfo)>,
        nodes: Vec<NodeImage>,
    ) -> Result<DataTree, SnapshotError> {
        let corrupt = |why: String| SnapshotError::Corrupt(why);
        let mut state = State::empty();
        for (id, info) in sessions {
            if id == SessionId::NONE {
                return Err(corrupt("session id 0".into()));
            }
            if state.sessions.insert(id, SessionEntry::new(info)).is_some() {
                return Err(corrupt(format!("session {id} appears twice")));
            }
        }
        let mut keyed = Vec::with_capacity(nodes.len());
        for n in nodes {
            let k =
                key::encode(&n.path).ok_or_else(|| corrupt(format!("bad path {:?}", n.path)))?;
            keyed.push((k, n));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));

        let mut refs: BTreeMap<Vec<Acl>, u32> = BTreeMap::new();
        let mut last = 0u32;
        for (_, n) in &keyed {
            if n.acl.is_empty() {
                return Err(corrupt(format!("{} has an empty ACL", n.path)));
            }
            if acl::is_open(&n.acl) || refs.contains_key(&n.acl) {
                continue;
            }
            last = last
                .checked_add(1)
                .ok_or_else(|| corrupt("too many distinct ACL lists".into()))?;
            state.acls.restore(last, n.acl.clone());
            refs.insert(n.acl.clone(), last);
        }
        state.acls.set_last(last);

        let mut loader = Loader::default();
        for (_, n) in keyed {
            let acl = refs.get(&n.acl).copied().unwrap_or(0);
            let s = n.stat;
            let stat = NodeStat {
                czxid: s.czxid,
                mzxid: s.mzxid,
                pzxid: s.pzxid,
                ctime: s.ctime,
                mtime: s.mtime,
                version: s.version,
                cversion: s.cversion,
                aversion: s.aversion,
                ephemeral_owner: s.ephemeral_owner,
                num_children: s.num_children,
                acl,
            };
            let node = RawNode {
                path: n.path,
                stat,
                data: n.data,
                null: false,
            };
            loader.add(&mut state, node)?;
        }
        loader.finish(&state)?;
        crate::quota::rebuild(&mut state);
        Ok(DataTree::from_parts(state, last_zxid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::acl::{perms, Id};

    fn image(path: &str, data: &[u8], stat: Stat, acl: Vec<Acl>) -> NodeImage {
        NodeImage {
            path: path.into(),
            data: data.to_vec(),
            stat,
            acl,
        }
    }

    fn system(root_children: i32) -> Vec<NodeImage> {
        let with = |n: i32| Stat {
            num_children: n,
            ..Stat::default()
        };
        vec![
            image("/", b"", with(root_children), Acl::open()),
            image("/zookeeper", b"", with(2), Acl::open()),
            image("/zookeeper/config", b"", with(0), Acl::open()),
            image("/zookeeper/quota", b"", with(0), Acl::open()),
        ]
    }

    #[test]
    fn nodes_keep_their_stat_data_acl_and_owner() {
        let bob = vec![Acl::new(perms::READ, Id::new("digest", "bob:x"))];
        let stat = Stat {
            czxid: 5,
            mzxid: 9,
            ctime: 100,
            mtime: 200,
            version: 3,
            cversion: 0,
            aversion: 2,
            ephemeral_owner: 77,
            data_length: 999, // ignored
            num_children: 0,
            pzxid: 5,
        };
        let mut nodes = system(3);
        nodes.push(image("/e", b"eph", stat, bob.clone()));
        nodes.push(image("/p", b"", Stat::default(), bob.clone()));
        let info = SessionInfo {
            timeout_ms: 30_000,
            password: [7; 16],
        };
        nodes.reverse(); // any order
        let tree = DataTree::from_nodes(Zxid(9), vec![(SessionId(77), info)], nodes).unwrap();
        let (data, got) = tree.get_data("/e", None).unwrap();
        assert_eq!(&data[..], b"eph");
        assert_eq!(
            got,
            Stat {
                data_length: 3,
                ..stat
            }
        );
        assert_eq!(tree.ephemerals(SessionId(77)), vec!["/e".to_string()]);
        assert_eq!(tree.session(SessionId(77)), Some(info));
        assert_eq!(tree.acl_count(), 1);
        let (acl, _) = tree
            .get_acl("/p", SessionId(77), &[Id::super_user()])
            .unwrap();
        assert_eq!(acl, bob);
        // It snapshots and reads back as itself.
        let mut bytes = Vec::new();
        tree.snapshot().write_to(&mut bytes).unwrap();
        let copy = DataTree::read_snapshot(&mut bytes.as_slice()).unwrap();
        assert_eq!((copy.digest(), copy.last_zxid()), (tree.digest(), Zxid(9)));
    }

    #[test]
    fn inconsistent_nodes_are_refused() {
        let owner = Stat {
            ephemeral_owner: 5,
            ..Stat::default()
        };
        let cases: Vec<Vec<NodeImage>> = vec![
            // A child count that does not match.
            system(3),
            // A missing parent.
            [
                system(1),
                vec![image("/a/b", b"", Stat::default(), Acl::open())],
            ]
            .concat(),
            // An ephemeral without its session.
            [system(2), vec![image("/e", b"", owner, Acl::open())]].concat(),
            // An empty ACL.
            [system(2), vec![image("/x", b"", Stat::default(), vec![])]].concat(),
            // No root.
            system(1).split_off(1),
        ];
        for nodes in cases {
            assert!(DataTree::from_nodes(Zxid(1), vec![], nodes).is_err());
        }
    }
}
