//! The sessions table: each open session's negotiated timeout, password, ephemeral nodes and
//! authenticated ids.

use imbl::OrdSet;
use paddock_types::{Id, PASSWORD_LEN};

use crate::key::NodeKey;

/// What the replicated state knows of an open session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The negotiated timeout: the leader expires the session after this long without hearing from it.
    pub timeout_ms: i32,
    /// Checked when a client reconnects with the session id (possibly to another server).
    pub password: [u8; PASSWORD_LEN],
}

/// A session's row: its info plus the keys of the ephemeral nodes it owns (closing the session
/// deletes them). Cloning shares the set.
#[derive(Clone, Debug)]
pub(crate) struct SessionEntry {
    pub info: SessionInfo,
    pub ephemerals: OrdSet<NodeKey>,
    /// The ids the session authenticated as (`AddAuth`), in order, no repeats.
    pub auth: Vec<Id>,
}

impl SessionEntry {
    pub(crate) fn new(info: SessionInfo) -> SessionEntry {
        SessionEntry {
            info,
            ephemerals: OrdSet::new(),
            auth: Vec::new(),
        }
    }
}
