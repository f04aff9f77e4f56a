//! ZooKeeper's error codes, with their numeric values, so any client can map them.

use serde::{Deserialize, Serialize};

/// ZooKeeper's `KeeperException.Code`, numeric values included. `Ok` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[repr(i32)]
pub enum ErrorCode {
    #[error("ok")]
    Ok = 0,
    #[error("system error")]
    SystemError = -1,
    #[error("runtime inconsistency")]
    RuntimeInconsistency = -2,
    #[error("data inconsistency")]
    DataInconsistency = -3,
    #[error("connection loss")]
    ConnectionLoss = -4,
    #[error("marshalling error")]
    MarshallingError = -5,
    #[error("unimplemented")]
    Unimplemented = -6,
    #[error("operation timeout")]
    OperationTimeout = -7,
    #[error("bad arguments")]
    BadArguments = -8,
    #[error("unknown session")]
    UnknownSession = -12,
    #[error("new config no quorum")]
    NewConfigNoQuorum = -13,
    #[error("reconfig in progress")]
    ReconfigInProgress = -14,
    #[error("api error")]
    ApiError = -100,
    #[error("no node")]
    NoNode = -101,
    #[error("not authenticated")]
    NoAuth = -102,
    #[error("bad version")]
    BadVersion = -103,
    #[error("no children for ephemerals")]
    NoChildrenForEphemerals = -108,
    #[error("node exists")]
    NodeExists = -110,
    #[error("directory not empty")]
    NotEmpty = -111,
    #[error("session expired")]
    SessionExpired = -112,
    #[error("invalid callback")]
    InvalidCallback = -113,
    #[error("invalid ACL")]
    InvalidAcl = -114,
    #[error("authentication failed")]
    AuthFailed = -115,
    #[error("session moved")]
    SessionMoved = -118,
    #[error("not a read-only call")]
    NotReadOnly = -119,
    #[error("ephemeral on local session")]
    EphemeralOnLocalSession = -120,
    #[error("no watcher")]
    NoWatcher = -121,
    #[error("request timeout")]
    RequestTimeout = -122,
    #[error("reconfig disabled")]
    ReconfigDisabled = -123,
    #[error("quota exceeded")]
    QuotaExceeded = -125,
    #[error("throttled")]
    Throttled = -127,
}

impl ErrorCode {
    /// Every code, for tables and round-trip tests.
    pub const ALL: [ErrorCode; 31] = [
        ErrorCode::Ok,
        ErrorCode::SystemError,
        ErrorCode::RuntimeInconsistency,
        ErrorCode::DataInconsistency,
        ErrorCode::ConnectionLoss,
        ErrorCode::MarshallingError,
        ErrorCode::Unimplemented,
        ErrorCode::OperationTimeout,
        ErrorCode::BadArguments,
        ErrorCode::UnknownSession,
        ErrorCode::NewConfigNoQuorum,
        ErrorCode::ReconfigInProgress,
        ErrorCode::ApiError,
        ErrorCode::NoNode,
        ErrorCode::NoAuth,
        ErrorCode::BadVersion,
        ErrorCode::NoChildrenForEphemerals,
        ErrorCode::NodeExists,
        ErrorCode::NotEmpty,
        ErrorCode::SessionExpired,
        ErrorCode::InvalidCallback,
        ErrorCode::InvalidAcl,
        ErrorCode::AuthFailed,
        ErrorCode::SessionMoved,
        ErrorCode::NotReadOnly,
        ErrorCode::EphemeralOnLocalSession,
        ErrorCode::NoWatcher,
        ErrorCode::RequestTimeout,
        ErrorCode::ReconfigDisabled,
        ErrorCode::QuotaExceeded,
        ErrorCode::Throttled,
    ];

    /// ZooKeeper's numeric value.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code for a numeric value, if it is one of ZooKeeper's.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// ZooKeeper's `Code` name (e.g. `NONODE`), as clients print it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Ok => "OK",
            ErrorCode::SystemError => "SYSTEMERROR",
            ErrorCode::RuntimeInconsistency => "RUNTIMEINCONSISTENCY",
            ErrorCode::DataInconsistency => "DATAINCONSISTENCY",
            ErrorCode::ConnectionLoss => "CONNECTIONLOSS",
            ErrorCode::MarshallingError => "MARSHALLINGERROR",
            ErrorCode::Unimplemented => "UNIMPLEMENTED",
            ErrorCode::OperationTimeout => "OPERATIONTIMEOUT",
            ErrorCode::BadArguments => "BADARGUMENTS",
            ErrorCode::UnknownSession => "UNKNOWNSESSION",
            ErrorCode::NewConfigNoQuorum => "NEWCONFIGNOQUORUM",
            ErrorCode::ReconfigInProgress => "RECONFIGINPROGRESS",
            ErrorCode::ApiError => "APIERROR",
            ErrorCode::NoNode => "NONODE",
            ErrorCode::NoAuth => "NOAUTH",
            ErrorCode::BadVersion => "BADVERSION",
            ErrorCode::NoChildrenForEphemerals => "NOCHILDRENFOREPHEMERALS",
            ErrorCode::NodeExists => "NODEEXISTS",
            ErrorCode::NotEmpty => "NOTEMPTY",
            ErrorCode::SessionExpired => "SESSIONEXPIRED",
            ErrorCode::InvalidCallback => "INVALIDCALLBACK",
            ErrorCode::InvalidAcl => "INVALIDACL",
            ErrorCode::AuthFailed => "AUTHFAILED",
            ErrorCode::SessionMoved => "SESSIONMOVED",
            ErrorCode::NotReadOnly => "NOTREADONLY",
            ErrorCode::EphemeralOnLocalSession => "EPHEMERALONLOCALSESSION",
            ErrorCode::NoWatcher => "NOWATCHER",
            ErrorCode::RequestTimeout => "REQUESTTIMEOUT",
            ErrorCode::ReconfigDisabled => "RECONFIGDISABLED",
            ErrorCode::QuotaExceeded => "QUOTAEXCEEDED",
            ErrorCode::Throttled => "THROTTLED",
        }
    }
}

/// An error answered to a client: ZooKeeper's code plus a human-readable detail
/// (e.g. which path, which rule).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({}): {message}", code.name())]
pub struct ZkError {
    /// ZooKeeper's error code; clients branch on this.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ZkError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ZkError {
        ZkError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_arguments(message: impl Into<String>) -> ZkError {
        ZkError::new(ErrorCode::BadArguments, message)
    }
}

impl From<ErrorCode> for ZkError {
    fn from(code: ErrorCode) -> ZkError {
        ZkError {
            code,
            message: code.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_zookeeper_values() {
        assert_eq!(ErrorCode::NoNode.code(), -101);
        assert_eq!(ErrorCode::NodeExists.code(), -110);
        assert_eq!(ErrorCode::BadVersion.code(), -103);
        assert_eq!(ErrorCode::NotEmpty.code(), -111);
        assert_eq!(ErrorCode::NoChildrenForEphemerals.code(), -108);
        assert_eq!(ErrorCode::SessionExpired.code(), -112);
        assert_eq!(ErrorCode::SessionMoved.code(), -118);
        assert_eq!(ErrorCode::BadArguments.code(), -8);
        assert_eq!(ErrorCode::RuntimeInconsistency.code(), -2);
        assert_eq!(ErrorCode::ConnectionLoss.code(), -4);
    }

    #[test]
    fn every_code_round_trips() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(12345), None);
    }
}
