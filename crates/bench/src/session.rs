//! Bench sessions over the Rust client library (`paddock-client`) — the only module that opens
//! one.
//!
//! One bench session = one [`Client`] connected to one server (a one-entry connect string), so
//! the server sees N connections for N sessions, spread round-robin over `--server`. Note the
//! server's `maxClientCnxns` (60 streams per client IP by default).
//!
//! The client resumes a session whose connection breaks; the bench does not want that: a bench
//! session is busy all the time, and one whose calls fail with a session-level error
//! ([`is_session_failure`]: connection loss, expiry, close, no answer in time) is reported as
//! lost rather than repaired. Errors that are ZooKeeper answers (NoNode, BadVersion, ...) are
//! per-request errors, counted by code.

use std::time::Duration;

use paddock_client::{Client, ClientOptions, Error, SharedConnections, TlsOptions};

/// Largest server message the bench accepts (a big getChildren during cleanup).
const MAX_MESSAGE: usize = 512 * 1024 * 1024;
/// How long to wait for the TCP connection and for the handshake answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The session-level failure of a session: it cannot be used any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionError {
    /// ZooKeeper's code: CONNECTIONLOSS (-4), SESSIONEXPIRED (-112), OPERATIONTIMEOUT (-7), or
    /// the code the server refused the session with (e.g. THROTTLED, -127).
    pub code: i32,
    /// What happened, for the report.
    pub message: String,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            crate::stats::error_name(self.code),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for SessionError {}

impl From<Error> for SessionError {
    fn from(e: Error) -> SessionError {
        SessionError {
            code: e.code().code(),
            message: e.to_string(),
        }
    }
}

/// Whether `e` means the session is unusable (as opposed to a ZooKeeper answer to one request).
pub fn is_session_failure(e: &Error) -> bool {
    !matches!(e, Error::Zk { .. } | Error::Multi { .. })
}

/// `NAME (code) message` of a failed request, for error messages.
pub fn describe(e: &Error) -> String {
    let code = e.code();
    match e {
        Error::Zk { message, .. } => format!("{} ({}) {message}", code.name(), code.code()),
        other => format!("{} ({}) {other}", code.name(), code.code()),
    }
}

/// Opens a new session on `server` (`host:port`) asking for `timeout_ms`, over TLS with `tls`,
/// authenticated with `digest` (`user:password`), over one of `shared`'s connections when given
/// (else a connection of its own). Calls fail with OPERATIONTIMEOUT when
/// unanswered after the session timeout (at least 1 s). Unusable TLS files fail with
/// BADARGUMENTS, a TLS mismatch with CONNECTIONLOSS and the client's explanation.
pub async fn connect(
    server: &str,
    timeout_ms: i32,
    digest: Option<&str>,
    tls: Option<&TlsOptions>,
    shared: Option<&SharedConnections>,
) -> Result<Client, SessionError> {
    let timeout = Duration::from_millis(timeout_ms.max(1) as u64);
    let mut opts = ClientOptions::default()
        .session_timeout(timeout)
        .request_timeout(timeout.max(Duration::from_secs(1)))
        .connect_timeout(CONNECT_TIMEOUT);
    opts.max_message_size = MAX_MESSAGE;
    opts.tls = tls.cloned();
    opts.shared_connections = shared.cloned();
    // The client answers with the server's refusal code when one was given (e.g. THROTTLED past
    // maxClientCnxns), CONNECTIONLOSS otherwise.
    let client = Client::connect(server, opts)
        .await
        .map_err(|e| SessionError {
            code: e.code().code(),
            message: format!("cannot connect to {server}: {}", describe(&e)),
        })?;
    if let Some(credentials) = digest {
        let auth = bytes::Bytes::copy_from_slice(credentials.as_bytes());
        client
            .add_auth("digest", auth)
            .await
            .map_err(|e| SessionError {
                code: e.code().code(),
                message: format!("addauth digest on {server}: {}", describe(&e)),
            })?;
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_client::ErrorCode;

    #[test]
    fn only_answers_are_per_request_errors() {
        let zk = Error::Zk {
            code: ErrorCode::NoNode,
            message: "x".into(),
        };
        assert!(!is_session_failure(&zk));
        assert_eq!(describe(&zk), "NONODE (-101) x");
        for e in [
            Error::ConnectionLoss,
            Error::SessionExpired,
            Error::Timeout,
            Error::Closed,
            Error::Tls("the TLS handshake failed".into()),
            Error::TlsConfig("cannot read ca.pem".into()),
        ] {
            assert!(is_session_failure(&e), "{e:?}");
        }
        assert_eq!(SessionError::from(Error::Timeout).code, -7);
    }
}
