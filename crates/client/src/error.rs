//! The client's error type: ZooKeeper's codes, plus the client-side failures.

use paddock_types::{ErrorCode, OpResult};

/// Everything a call can fail with.
///
/// Server answers carry ZooKeeper's codes ([`Error::Zk`], [`Error::Multi`]); the session-level
/// outcomes are distinct variants so that callers can tell "retry, the session is still alive"
/// ([`Error::ConnectionLoss`], [`Error::Timeout`]) from "the session and its ephemerals are gone"
/// ([`Error::SessionExpired`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server refused the request with ZooKeeper's `code` (NoNode, NodeExists, BadVersion, ...).
    #[error("{}: {message}", code.name())]
    Zk { code: ErrorCode, message: String },
    /// A multi failed: `code` is the failing op's code, `results` has one
    /// [`OpResult::Error`] per op (Ok before the failing op, RuntimeInconsistency after it).
    #[error("multi failed: {}", code.name())]
    Multi {
        code: ErrorCode,
        results: Vec<OpResult>,
    },
    /// The connection to the server broke (or could not be made) before the answer arrived.
    /// The session may still be alive: the client is reconnecting; the request may or may not
    /// have been executed.
    #[error("connection loss")]
    ConnectionLoss,
    /// The session expired (or the server no longer knows it): its ephemeral nodes are gone and
    /// this client cannot be used any more. Create a new [`crate::Client`].
    #[error("session expired")]
    SessionExpired,
    /// An [`add_auth`](crate::Client::add_auth) failed (ZooKeeper's AUTHFAILED, -115): the server
    /// ended the session, as ZooKeeper does. Terminal like [`Error::SessionExpired`]: the call
    /// itself, every call still pending or made later, and every watch fail with it.
    #[error("authentication failed")]
    AuthFailed,
    /// No answer within the request deadline ([`crate::ClientOptions::request_timeout`]).
    #[error("request timed out")]
    Timeout,
    /// The client was closed with [`crate::Client::close`].
    #[error("client closed")]
    Closed,
    /// A bad argument detected by the client (e.g. a malformed connect string).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The TLS options cannot be used ([`crate::Client::connect`] reads them first): a file that
    /// cannot be read, no certificate or no private key in it, a key that does not belong to
    /// its certificate. The message names the file.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// No server accepted the session and TLS is the likely reason: a TLS client at a plaintext
    /// port, a plaintext client at a TLS port, a server certificate the given CA did not sign,
    /// or a client certificate the server refused. The message names the server, what failed
    /// and what to check. Retrying will not help until the configuration changes.
    #[error("{0}")]
    Tls(String),
}

impl Error {
    /// ZooKeeper's code for this error: `ConnectionLoss`, `SessionExpired`, `AuthFailed`,
    /// `OperationTimeout` for a timeout, `BadArguments` for an invalid argument or unusable TLS
    /// options, `ConnectionLoss` for a TLS failure to connect, and `SessionExpired` for a closed
    /// client (its session is gone).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Zk { code, .. } | Error::Multi { code, .. } => *code,
            Error::ConnectionLoss | Error::Tls(_) => ErrorCode::ConnectionLoss,
            Error::SessionExpired | Error::Closed => ErrorCode::SessionExpired,
            Error::AuthFailed => ErrorCode::AuthFailed,
            Error::Timeout => ErrorCode::OperationTimeout,
            Error::InvalidArgument(_) | Error::TlsConfig(_) => ErrorCode::BadArguments,
        }
    }

    /// Builds the error for a numeric code from the wire (`Response.error`).
    pub(crate) fn from_wire(code: i32, message: String) -> Error {
        match ErrorCode::from_code(code) {
            Some(ErrorCode::ConnectionLoss) => Error::ConnectionLoss,
            Some(ErrorCode::SessionExpired) => Error::SessionExpired,
            Some(ErrorCode::AuthFailed) => Error::AuthFailed,
            Some(code) => Error::Zk { code, message },
            None => Error::Zk {
                code: ErrorCode::SystemError,
                message: format!("unknown error code {code}: {message}"),
            },
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// client.proto "Access control": AUTHFAILED ends the session, so it is a variant of its own
    /// (like SessionExpired), while NOAUTH and INVALIDACL are ordinary per-request refusals.
    #[test]
    fn acl_codes_from_the_wire() {
        assert_eq!(Error::from_wire(-115, "x".into()), Error::AuthFailed);
        assert_eq!(Error::AuthFailed.code(), ErrorCode::AuthFailed);
        for (code, want) in [(-102, ErrorCode::NoAuth), (-114, ErrorCode::InvalidAcl)] {
            let e = Error::from_wire(code, "detail".into());
            assert_eq!(
                e,
                Error::Zk {
                    code: want,
                    message: "detail".into()
                }
            );
            assert_eq!(e.code().code(), code);
        }
    }
}
