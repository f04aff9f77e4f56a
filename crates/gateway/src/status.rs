//! Stream-level failures as gRPC statuses — the one place a [`ZkError`] becomes a
//! [`tonic::Status`].
//!
//! Every status the gateway produces carries the metadata key [`ERROR_CODE_METADATA`]
//! (`paddock-error-code`) with ZooKeeper's numeric code in ASCII decimal, so a client in any
//! language can branch on ZooKeeper's code rather than on gRPC's coarser one. A status without that
//! key came from the transport and means connection loss.

use paddock_types::{ErrorCode, ZkError};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// The trailer metadata key holding ZooKeeper's numeric error code.
pub const ERROR_CODE_METADATA: &str = "paddock-error-code";

/// The gRPC status code for a ZooKeeper error code.
///
/// The ones a session stream can end with: BadArguments -> INVALID_ARGUMENT; SessionExpired
/// (expired, unknown, wrong password) -> NOT_FOUND; ConnectionLoss -> UNAVAILABLE; Throttled ->
/// RESOURCE_EXHAUSTED; OperationTimeout -> DEADLINE_EXCEEDED. The rest follow gRPC's guidance so
/// that the table is total.
pub fn grpc_code(code: ErrorCode) -> Code {
    use ErrorCode as E;
    match code {
        E::Ok => Code::Unknown,
        E::SystemError | E::RuntimeInconsistency | E::DataInconsistency | E::ApiError => {
            Code::Internal
        }
        E::ConnectionLoss | E::NewConfigNoQuorum | E::ReconfigInProgress => Code::Unavailable,
        E::BadArguments | E::MarshallingError | E::InvalidAcl | E::InvalidCallback => {
            Code::InvalidArgument
        }
        E::Unimplemented => Code::Unimplemented,
        E::OperationTimeout | E::RequestTimeout => Code::DeadlineExceeded,
        E::UnknownSession | E::SessionExpired | E::NoNode => Code::NotFound,
        E::NodeExists => Code::AlreadyExists,
        E::NoAuth => Code::PermissionDenied,
        E::AuthFailed => Code::Unauthenticated,
        E::BadVersion
        | E::NotEmpty
        | E::NoChildrenForEphemerals
        | E::SessionMoved
        | E::NotReadOnly
        | E::EphemeralOnLocalSession
        | E::NoWatcher
        | E::ReconfigDisabled => Code::FailedPrecondition,
        E::QuotaExceeded | E::Throttled => Code::ResourceExhausted,
    }
}

/// A [`ZkError`] as the status that ends a stream (`From<ZkError> for Status` in spirit; both
/// types are foreign here, so it is a function).
pub fn zk_status(err: &ZkError) -> Status {
    with_code(grpc_code(err.code), err.message.clone(), err.code)
}

/// A status with an explicit gRPC code, tagged with ZooKeeper's `zk` code. Used where the gRPC
/// code comes from elsewhere (e.g. tonic refusing an oversize message).
pub fn with_code(code: Code, message: impl Into<String>, zk: ErrorCode) -> Status {
    let mut md = MetadataMap::new();
    md.insert(ERROR_CODE_METADATA, MetadataValue::from(zk.code()));
    Status::with_metadata(code, message, md)
}

/// ZooKeeper's code carried by a status, if a Paddock server put one there (for clients and tests).
pub fn error_code_of(status: &Status) -> Option<ErrorCode> {
    let v = status.metadata().get(ERROR_CODE_METADATA)?;
    let n: i32 = v.to_str().ok()?.parse().ok()?;
    ErrorCode::from_code(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_level_codes_follow_the_documented_table() {
        let table = [
            (ErrorCode::BadArguments, Code::InvalidArgument),
            (ErrorCode::SessionExpired, Code::NotFound),
            (ErrorCode::ConnectionLoss, Code::Unavailable),
            (ErrorCode::Throttled, Code::ResourceExhausted),
            (ErrorCode::OperationTimeout, Code::DeadlineExceeded),
            (ErrorCode::MarshallingError, Code::InvalidArgument),
        ];
        for (zk, grpc) in table {
            assert_eq!(grpc_code(zk), grpc, "{zk:?}");
        }
    }

    #[test]
    fn every_code_round_trips_through_metadata() {
        for code in ErrorCode::ALL {
            let s = zk_status(&ZkError::new(code, "why"));
            assert_eq!(error_code_of(&s), Some(code));
            assert_eq!(s.message(), "why");
            assert_ne!(s.code(), Code::Ok, "an error never reads as OK");
        }
    }

    #[test]
    fn metadata_is_ascii_decimal() {
        let s = zk_status(&ZkError::bad_arguments("x"));
        let v = s.metadata().get(ERROR_CODE_METADATA).expect("set");
        assert_eq!(v.to_str().ok(), Some("-8"));
    }
}
