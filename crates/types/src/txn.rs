//! Transactions: the records of the replicated log.
//!
//! A transaction is the client's write *command* plus what the leader decided when it accepted it
//! (zxid, time, session). Applying it to a data tree is deterministic: every replica that applies the
//! same transactions in zxid order reaches the same state and computes the same per-request outcome
//! (including errors such as `BadVersion`), so no state-dependent check has to happen before
//! logging. See `docs/architecture.md` ("command log").

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, Zxid};
use crate::op::{CreateMode, MultiOp};

/// A session's password length in bytes (ZooKeeper uses 16).
pub const PASSWORD_LEN: usize = 16;

/// What every transaction carries besides its operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    /// The session that issued the request (the session being created / closed for session txns).
    pub session: SessionId,
    /// The client's request id within the session (0 for server-made txns such as expiry).
    pub cxid: i64,
    /// This transaction's zxid.
    pub zxid: Zxid,
    /// The proposer's wall clock, ms since the Unix epoch: becomes ctime / mtime.
    pub time_ms: i64,
}

/// A state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// Opens `header.session` with a negotiated timeout and its password.
    CreateSession {
        timeout_ms: i32,
        password: [u8; PASSWORD_LEN],
    },
    /// Closes `header.session` (client close or expiry); deletes all its ephemeral nodes.
    CloseSession,
    Create {
        path: String,
        data: Bytes,
        mode: CreateMode,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Bytes,
        version: i32,
    },
    /// All-or-nothing.
    Multi(Vec<MultiOp>),
    /// A client's `sync` in an ensemble: changes nothing; its commit on the client's server
    /// proves that server has applied everything the leader had committed before it
    /// (answered with `Response::Sync`). Standalone servers do not log it.
    Sync {
        path: String,
    },
    /// In an ensemble: `header.session` was resumed on server `owner`. Changes nothing in the
    /// tree; every other server drops the session's connection with `SessionMoved` when it
    /// applies it (answered with `Response::Ping`).
    MoveSession {
        owner: u64,
    },
}

/// One log record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    pub header: TxnHeader,
    pub op: TxnOp,
}

/// A record that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable transaction: {0}")]
pub struct DecodeError(String);

impl Txn {
    /// The record's bytes (compact binary, `postcard`). Checksums are the storage layer's job.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self)
            .expect("a Txn always serialises: no maps with non-string keys, no io")
    }

    /// Decodes bytes made by [`Txn::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Txn, DecodeError> {
        postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))
    }

    /// Decodes the record logged at `zxid`. In an ensemble the leader assigns zxids after the
    /// transaction was encoded (by the server the client talks to), so a header zxid of 0 means
    /// "the record's zxid"; any other value must match it.
    pub fn decode_at(bytes: &[u8], zxid: Zxid) -> Result<Txn, DecodeError> {
        let mut txn = Txn::decode(bytes)?;
        if txn.header.zxid == Zxid::ZERO {
            txn.header.zxid = zxid;
        } else if txn.header.zxid != zxid {
            return Err(DecodeError(format!(
                "the record is logged at {zxid} but holds zxid {}",
                txn.header.zxid
            )));
        }
        Ok(txn)
    }

    pub fn zxid(&self) -> Zxid {
        self.header.zxid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Epoch;

    #[test]
    fn decode_at_fills_in_an_unassigned_zxid_and_checks_an_assigned_one() {
        let mut t = Txn {
            header: TxnHeader {
                session: SessionId(1),
                cxid: 1,
                zxid: Zxid::ZERO,
                time_ms: 0,
            },
            op: TxnOp::Sync { path: "/".into() },
        };
        let at = Zxid::new(Epoch(2), 5);
        let decoded = Txn::decode_at(&t.encode(), at).expect("decodes");
        assert_eq!(decoded.zxid(), at);
        t.header.zxid = Zxid::new(Epoch(2), 6);
        assert!(Txn::decode_at(&t.encode(), at).is_err());
        assert_eq!(
            Txn::decode_at(&t.encode(), t.header.zxid)
                .map(|t| t.zxid())
                .ok(),
            Some(t.header.zxid)
        );
    }

    #[test]
    fn txn_round_trips() {
        let t = Txn {
            header: TxnHeader {
                session: SessionId(42),
                cxid: 7,
                zxid: Zxid::new(Epoch(1), 9),
                time_ms: 1_700_000_000_000,
            },
            op: TxnOp::Multi(vec![
                MultiOp::Create {
                    path: "/a".into(),
                    data: Bytes::from_static(b"x"),
                    mode: CreateMode::EphemeralSequential,
                },
                MultiOp::Check {
                    path: "/a".into(),
                    version: -1,
                },
            ]),
        };
        assert_eq!(Txn::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Txn::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Txn::decode(&[]).is_err());
    }
}
