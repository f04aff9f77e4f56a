//! The leaf of read-only mode: its state, how a request is sorted, its errors (see the parent
//! module for the mode itself).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use paddock_types::{ErrorCode, Request, SessionId, ZkError};

use crate::locks::lock;

/// What `srvr`, `isro` and `Status::writes_refused` say while in read-only mode.
pub(crate) const REASON: &str =
    "read-only mode: this server is cut off from its quorum (readonlymode.enabled)";

/// The read-only mode's state.
#[derive(Debug, Default)]
pub(crate) struct ReadOnlyMode {
    /// In read-only mode now (cut off from the quorum).
    active: AtomicBool,
    /// The sessions created while in read-only mode: known to this server only.
    sessions: Mutex<HashSet<SessionId>>,
}

impl ReadOnlyMode {
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    pub fn set_active(&self, active: bool) -> bool {
        self.active.swap(active, Ordering::SeqCst)
    }

    pub fn is_local(&self, id: SessionId) -> bool {
        lock(&self.sessions).contains(&id)
    }

    /// Records a session created in read-only mode.
    pub fn add_local(&self, id: SessionId) {
        lock(&self.sessions).insert(id);
    }

    /// Forgets a session created in read-only mode; false if `id` is not one.
    pub fn remove_local(&self, id: SessionId) -> bool {
        lock(&self.sessions).remove(&id)
    }

    /// The sessions created in read-only mode.
    pub fn locals(&self) -> Vec<SessionId> {
        lock(&self.sessions).iter().copied().collect()
    }

    /// Forgets every session created in read-only mode, returning them.
    pub fn take_locals(&self) -> Vec<SessionId> {
        lock(&self.sessions).drain().collect()
    }
}

/// What a server in read-only mode does with a request (ZooKeeper's
/// `ReadOnlyRequestProcessor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadOnlyAction {
    /// Served as always: reads from the local tree, watches, pings.
    Serve,
    /// `AddAuth`: the ids are checked here and kept on this connection (no transaction).
    AuthLocally,
    /// `CloseSession`: answered and ended here.
    CloseLocally,
    /// A write (or `sync`, which needs the leader): answered NOTREADONLY, never applied.
    Refuse,
}

/// Sorts a request for a read-only server (a pure function of the request's kind).
pub(crate) fn classify(req: &Request) -> ReadOnlyAction {
    match req {
        Request::Exists { .. }
        | Request::GetData { .. }
        | Request::GetChildren { .. }
        | Request::GetAcl { .. }
        | Request::GetEphemerals { .. }
        | Request::GetAllChildrenNumber { .. }
        | Request::MultiRead(_)
        | Request::AddWatch { .. }
        | Request::RemoveWatches { .. }
        | Request::CheckWatches { .. }
        | Request::GetConfig { .. }
        | Request::SetWatches { .. }
        | Request::WhoAmI
        | Request::Ping => ReadOnlyAction::Serve,
        Request::AddAuth { .. } => ReadOnlyAction::AuthLocally,
        Request::CloseSession => ReadOnlyAction::CloseLocally,
        Request::Create { .. }
        | Request::Delete { .. }
        | Request::SetData { .. }
        | Request::SetAcl { .. }
        | Request::Multi(_)
        | Request::Reconfig { .. }
        | Request::Sync { .. } => ReadOnlyAction::Refuse,
    }
}

/// The answer to a write while in read-only mode.
pub(crate) fn not_read_only() -> ZkError {
    ZkError::new(
        ErrorCode::NotReadOnly,
        "this server is in read-only mode (cut off from its quorum): it serves reads only; the \
         request was not applied (retry it once connected to a read-write server)",
    )
}

/// The answer to a connect without `read_only` while in read-only mode: the client tries
/// another server, as after a connection loss.
pub(crate) fn refused_read_write_client() -> ZkError {
    ZkError::new(
        ErrorCode::ConnectionLoss,
        "this server is in read-only mode (cut off from its quorum) and the client did not allow \
         a read-only session (ConnectRequest.read_only / canBeReadOnly): try another server",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::{CreateMode, Data, MultiOp, ReadOp};

    fn path() -> String {
        "/a".to_string()
    }

    #[test]
    fn reads_and_watches_are_served() {
        for req in [
            Request::Exists {
                path: path(),
                watch: true,
            },
            Request::GetData {
                path: path(),
                watch: false,
            },
            Request::GetChildren {
                path: path(),
                watch: true,
            },
            Request::GetAcl { path: path() },
            Request::GetEphemerals { prefix: path() },
            Request::GetAllChildrenNumber { path: path() },
            Request::MultiRead(vec![ReadOp::GetData { path: path() }]),
            Request::GetConfig { watch: false },
            Request::WhoAmI,
            Request::Ping,
        ] {
            assert_eq!(classify(&req), ReadOnlyAction::Serve, "{req:?}");
        }
    }

    /// ZooKeeper's ReadOnlyRequestProcessor: every op that would be a transaction, and sync,
    /// is answered NOTREADONLY.
    #[test]
    fn writes_and_sync_are_refused() {
        for req in [
            Request::Create {
                path: path(),
                data: Data::default(),
                mode: CreateMode::Persistent,
                acl: Vec::new(),
            },
            Request::Delete {
                path: path(),
                version: -1,
            },
            Request::SetData {
                path: path(),
                data: Data::default(),
                version: -1,
            },
            Request::SetAcl {
                path: path(),
                acl: Vec::new(),
                version: -1,
            },
            Request::Multi(vec![MultiOp::Check {
                path: path(),
                version: 1,
            }]),
            Request::Sync { path: path() },
        ] {
            assert_eq!(classify(&req), ReadOnlyAction::Refuse, "{req:?}");
        }
        assert_eq!(not_read_only().code, ErrorCode::NotReadOnly);
    }

    #[test]
    fn close_and_auth_are_handled_here() {
        assert_eq!(
            classify(&Request::CloseSession),
            ReadOnlyAction::CloseLocally
        );
        let auth = Request::AddAuth {
            scheme: "digest".into(),
            auth: bytes::Bytes::from_static(b"u:p"),
        };
        assert_eq!(classify(&auth), ReadOnlyAction::AuthLocally);
    }

    #[test]
    fn a_read_write_client_is_refused_as_a_connection_loss() {
        let e = refused_read_write_client();
        assert_eq!(e.code, ErrorCode::ConnectionLoss);
        assert!(e.message.contains("read-only mode"), "{}", e.message);
        assert!(e.message.contains("did not allow"), "{}", e.message);
    }
}
