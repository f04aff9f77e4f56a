//! Reads, served from the local tree (sequentially consistent, as ZooKeeper).

use paddock_datatree::DataTree;
use paddock_types::{ErrorCode, Request, Response, SessionId, ZkError};

/// Executes a read (or ping) against the tree; a `watch` registers for `session`.
pub(crate) fn execute(
    tree: &DataTree,
    session: SessionId,
    req: Request,
) -> Result<Response, ZkError> {
    let w = |watch: bool| watch.then_some(session);
    match req {
        Request::Exists { path, watch } => Ok(Response::Exists {
            stat: tree.exists(&path, w(watch)),
        }),
        Request::GetData { path, watch } => tree
            .get_data(&path, w(watch))
            .map(|(data, stat)| Response::GetData { data, stat }),
        Request::GetChildren { path, watch } => tree
            .get_children(&path, w(watch))
            .map(|(children, stat)| Response::GetChildren { children, stat }),
        Request::Ping => Ok(Response::Ping),
        other => Err(ZkError::new(
            ErrorCode::SystemError,
            format!("{} is not a read", other.name()),
        )),
    }
}
