//! Reads, served from the local tree (sequentially consistent, as ZooKeeper).

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_types::acl::perms;
use paddock_types::path::CONFIG_NODE;
use paddock_types::Data;
use paddock_types::{
    validate_path, ErrorCode, Id, ReadOp, ReadResult, Request, Response, SessionId, Stat,
    WatcherId, ZkError,
};

/// Executes a read (or ping) against the tree for `session`, whose connection proves
/// `conn_ids`; a `watch` registers for `session`. ACLs are checked first, so a denied read
/// (`NoAuth`) leaves no watch. `exists` and `getEphemerals` need no permission (as the issue and
/// ZooKeeper < 3.9; getEphemerals only lists the caller's own nodes); `getAllChildrenNumber` needs
/// READ on the node, as ZooKeeper's FinalRequestProcessor checks. A `multiRead` runs all its ops
/// here, under the caller's one hold of the read lock, so they all see the same zxid. `addWatch`,
/// `removeWatches` and `checkWatches` act on this server's watch table only (watches are local to
/// the server a session is attached to) and, as ZooKeeper, check no ACL. `/zookeeper/config`'s
/// data is `config` (the ensemble's configuration, not stored in the tree: see `get_data`);
/// `getConfig` reads it as getData does, READ on the node checked (ZooKeeper's
/// FinalRequestProcessor).
pub(crate) fn execute(
    tree: &DataTree,
    config: &Bytes,
    session: SessionId,
    conn_ids: &[Id],
    req: Request,
) -> Result<Response, ZkError> {
    let w = |watch: bool| watch.then_some(session);
    match req {
        Request::Exists { path, watch } => Ok(Response::Exists {
            stat: tree.exists(&path, w(watch)),
        }),
        Request::GetData { path, watch } => {
            tree.access(&path, perms::READ, session, conn_ids)?;
            get_data(tree, config, &path, w(watch))
                .map(|(data, stat)| Response::GetData { data, stat })
        }
        Request::GetConfig { watch } => {
            tree.access(CONFIG_NODE, perms::READ, session, conn_ids)?;
            get_data(tree, config, CONFIG_NODE, w(watch)).map(|(data, stat)| Response::GetConfig {
                data: data.into_bytes(),
                stat,
            })
        }
        Request::GetChildren { path, watch } => {
            tree.access(&path, perms::READ, session, conn_ids)?;
            tree.get_children(&path, w(watch))
                .map(|(children, stat)| Response::GetChildren { children, stat })
        }
        Request::GetAcl { path } => tree
            .get_acl(&path, session, conn_ids)
            .map(|(acl, stat)| Response::GetAcl { acl, stat }),
        Request::GetEphemerals { prefix } => Ok(Response::GetEphemerals {
            paths: tree.ephemerals_with_prefix(session, &prefix),
        }),
        Request::GetAllChildrenNumber { path } => {
            tree.access(&path, perms::READ, session, conn_ids)?;
            let number = tree.all_children_number(&path)?;
            Ok(Response::GetAllChildrenNumber {
                // ZooKeeper's answer is an int; a tree that large does not fit in memory anyway.
                number: i32::try_from(number).unwrap_or(i32::MAX),
            })
        }
        Request::WhoAmI => {
            let mut ids = conn_ids.to_vec();
            ids.extend(tree.session_auth(session));
            Ok(Response::WhoAmI { ids })
        }
        Request::MultiRead(ops) => Ok(Response::MultiRead(
            ops.into_iter()
                .map(|op| read_op(tree, config, session, conn_ids, op))
                .collect(),
        )),
        Request::AddWatch { path, mode } => {
            tree.add_watch(&path, mode, session);
            Ok(Response::AddWatch)
        }
        Request::RemoveWatches { path, kind } => tree
            .remove_watches(&path, kind, session)
            .map(|_| Response::RemoveWatches),
        Request::CheckWatches { path, kind } => tree
            .check_watches(&path, kind, session)
            .map(|()| Response::CheckWatches),
        Request::SetWatches {
            relative_zxid,
            watches,
        } => {
            let resumed = tree.set_watches(session, relative_zxid, &watches);
            if resumed.missed {
                tracing::info!(
                    session = %session,
                    relative_zxid = %relative_zxid,
                    "persistent watches set again; changes older than the server's recent history were not replayed"
                );
            }
            Ok(Response::SetWatches {
                events: resumed.events,
            })
        }
        Request::Ping => Ok(Response::Ping),
        other => Err(ZkError::new(
            ErrorCode::SystemError,
            format!("{} is not a read", other.name()),
        )),
    }
}

/// One op of a `multiRead`: its answer or its own error code, as ZooKeeper's FinalRequestProcessor
/// turns each op's KeeperException into an `ErrorResult` and carries on. The path is validated
/// here rather than in `checks` so that a bad path fails only its op (BadArguments): ZooKeeper's
/// server does no path check of its own for reads (its client refuses the whole call), so an op
/// is answered exactly as the same single read would be. ACL first (READ), as the single read;
/// no watch, as ZooKeeper's read ops carry none.
fn read_op(
    tree: &DataTree,
    config: &Bytes,
    session: SessionId,
    conn_ids: &[Id],
    op: ReadOp,
) -> ReadResult {
    let result = validate_path(op.path(), false)
        .and_then(|()| tree.access(op.path(), perms::READ, session, conn_ids))
        .and_then(|()| match &op {
            ReadOp::GetData { path } => get_data(tree, config, path, None)
                .map(|(data, stat)| ReadResult::GetData { data, stat }),
            ReadOp::GetChildren { path } => tree
                .get_children(path, None)
                .map(|(children, stat)| ReadResult::GetChildren { children, stat }),
        });
    result.unwrap_or_else(|e| ReadResult::Error(e.code))
}

/// A node's data and Stat. `/zookeeper/config` holds the configuration a reconfiguration
/// installed (replicated: in snapshots and digests); until one did, the tree keeps the node
/// empty and its data is the server's static configuration from zoo.cfg, `config`
/// (`dataLength` is then the served data's).
fn get_data(
    tree: &DataTree,
    config: &Bytes,
    path: &str,
    watch: Option<WatcherId>,
) -> Result<(Data, Stat), ZkError> {
    let (data, mut stat) = tree.get_data(path, watch)?;
    if path != CONFIG_NODE || !data.is_empty() {
        return Ok((data, stat));
    }
    stat.data_length = i32::try_from(config.len()).unwrap_or(i32::MAX);
    Ok((Data::from(config.clone()), stat))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use paddock_types::acl::Acl;
    use paddock_types::{CreateMode, Txn, TxnHeader, TxnOp, Zxid};

    use super::*;

    fn create(tree: &mut DataTree, zxid: u64, path: &str, acl: Vec<Acl>) {
        let txn = Txn {
            header: TxnHeader {
                session: SessionId(1),
                cxid: zxid as i64,
                zxid: Zxid(zxid),
                time_ms: 0,
                conn_ids: Vec::new(),
                legacy_sequence: false,
            },
            op: TxnOp::Create {
                path: path.into(),
                data: Bytes::from(path.to_string()).into(),
                mode: CreateMode::Persistent,
                acl,
            },
        };
        assert!(tree.apply(&txn).result.is_ok(), "{path}");
    }

    /// ZooKeeper's FinalRequestProcessor: each op's KeeperException becomes that op's
    /// ErrorResult and the loop goes on; no op leaves a watch.
    #[test]
    fn multi_read_answers_every_op_on_its_own() {
        let mut tree = DataTree::new();
        create(&mut tree, 1, "/a", Acl::open());
        create(&mut tree, 2, "/a/b", Acl::open());
        create(
            &mut tree,
            3,
            "/dark",
            vec![Acl::new(perms::WRITE, Id::anyone())],
        );
        let ops = vec![
            ReadOp::GetData { path: "/a".into() },
            ReadOp::GetChildren {
                path: "/missing".into(),
            },
            ReadOp::GetData {
                path: "/dark".into(),
            },
            ReadOp::GetData { path: "a".into() },
            ReadOp::GetChildren { path: "/a".into() },
        ];
        let Ok(Response::MultiRead(r)) = execute(
            &tree,
            &Bytes::new(),
            SessionId(2),
            &[],
            Request::MultiRead(ops),
        ) else {
            panic!("a multiRead succeeds as a whole");
        };
        assert!(matches!(&r[0], ReadResult::GetData { data, .. } if data.as_ref() == b"/a"));
        assert_eq!(r[1], ReadResult::Error(ErrorCode::NoNode));
        assert_eq!(r[2], ReadResult::Error(ErrorCode::NoAuth));
        assert_eq!(r[3], ReadResult::Error(ErrorCode::BadArguments));
        assert!(matches!(&r[4], ReadResult::GetChildren { children, .. } if children == &["b"]));
        assert_eq!(tree.watch_count(), 0, "a multiRead leaves no watch");
    }

    /// `/zookeeper/config`'s data is the server's ensemble configuration, whichever read asks
    /// (getData, getConfig, a multiRead's getData), with a matching dataLength; getConfig's
    /// watch is a data watch on the node; the tree itself is unchanged.
    #[test]
    fn zookeeper_config_is_served_from_the_configuration() {
        let tree = DataTree::new();
        let config = Bytes::from_static(b"server.1=a:1:2:participant\nversion=0");
        let read = |req| execute(&tree, &config, SessionId(2), &[], req);
        let Ok(Response::GetConfig { data, stat }) = read(Request::GetConfig { watch: true })
        else {
            panic!("getConfig succeeds");
        };
        assert_eq!(data, config);
        assert_eq!(stat.data_length, config.len() as i32);
        assert_eq!(tree.watch_count(), 1, "getConfig's watch is left");
        let Ok(Response::GetData { data: d2, stat: s2 }) = read(Request::GetData {
            path: CONFIG_NODE.into(),
            watch: false,
        }) else {
            panic!("getData succeeds");
        };
        assert_eq!((d2.into_bytes(), s2), (config.clone(), stat));
        let Ok(Response::MultiRead(r)) = read(Request::MultiRead(vec![ReadOp::GetData {
            path: CONFIG_NODE.into(),
        }])) else {
            panic!("multiRead succeeds");
        };
        assert_eq!(
            r,
            vec![ReadResult::GetData {
                data: config.clone().into(),
                stat
            }]
        );
        let (stored, _) = tree.get_data(CONFIG_NODE, None).expect("the node exists");
        assert!(stored.is_empty(), "the tree keeps no config data");
    }
}
