//! Reads, served from the local tree (sequentially consistent, as ZooKeeper).

use paddock_datatree::DataTree;
use paddock_types::acl::perms;
use paddock_types::{ErrorCode, Id, Request, Response, SessionId, ZkError};

/// Executes a read (or ping) against the tree for `session`, whose connection proves
/// `conn_ids`; a `watch` registers for `session`. ACLs are checked first, so a denied read
/// (`NoAuth`) leaves no watch. `exists` and `getEphemerals` need no permission (as the issue and
/// ZooKeeper < 3.9; getEphemerals only lists the caller's own nodes); `getAllChildrenNumber` needs
/// READ on the node, as ZooKeeper's FinalRequestProcessor checks.
pub(crate) fn execute(
    tree: &DataTree,
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
            tree.get_data(&path, w(watch))
                .map(|(data, stat)| Response::GetData { data, stat })
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
        Request::Ping => Ok(Response::Ping),
        other => Err(ZkError::new(
            ErrorCode::SystemError,
            format!("{} is not a read", other.name()),
        )),
    }
}
