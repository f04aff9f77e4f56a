//! Peer connection failures in words: why a TLS handshake or a dial of another server failed,
//! with [`MISMATCH_HINT`] where one end seems to speak TLS and the other not, and a limit on
//! repeating the same warning ([`WarnLimiter`]).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_rustls::rustls;

use crate::MISMATCH_HINT;

/// Why a TLS handshake on the accepting side failed, in words. `from_peer`: the port is a peer
/// (election/quorum) port, so the other end is a server and [`MISMATCH_HINT`] is added when it
/// does not seem to speak TLS; on the client port the other end is a client.
pub fn explain_accept_error(e: &io::Error, from_peer: bool) -> String {
    let side = if from_peer {
        Side::Accepting
    } else {
        Side::AcceptingClient
    };
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => explain_rustls(tls, side),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the connection closed during the TLS handshake".into()
        }
        None => e.to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A peer port: the other end is a dialling server.
    Accepting,
    /// The client port: the other end is a client.
    AcceptingClient,
    Dialling,
}

fn explain_rustls(e: &rustls::Error, side: Side) -> String {
    use rustls::Error as E;
    let them = match side {
        Side::Accepting => "the dialling server",
        Side::AcceptingClient => "the client",
        Side::Dialling => "the server dialled",
    };
    // Only between servers can the cause be sslQuorum set differently.
    let hint = if side == Side::AcceptingClient {
        ""
    } else {
        MISMATCH_HINT
    };
    match e {
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
        | E::InvalidMessage(rustls::InvalidMessage::UnknownProtocolVersion)
        | E::InvalidMessage(rustls::InvalidMessage::MessageTooLarge) => {
            format!("{them} does not speak TLS ({e}) {hint}")
                .trim_end()
                .to_string()
        }
        E::NoCertificatesPresented => format!("{them} presented no certificate ({e}) {hint}")
            .trim_end()
            .to_string(),
        E::InvalidCertificate(why) => {
            use rustls::CertificateError as C;
            let what = match why {
                C::UnknownIssuer => {
                    "it is not signed by a CA of the trust store (UnknownIssuer)".to_string()
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("it does not name the host dialled ({why})")
                }
                other => other.to_string(),
            };
            match side {
                Side::Accepting => format!("the dialling server's certificate is refused: {what}"),
                Side::AcceptingClient => format!("the client's certificate is refused: {what}"),
                Side::Dialling => {
                    format!("the certificate of the server dialled is refused: {what}")
                }
            }
        }
        E::AlertReceived(alert) => format!("{them} refused the TLS handshake (alert {alert:?})"),
        other => format!("TLS: {other}"),
    }
}

/// Why a dial (connection, TLS handshake or first call) failed, from the error and its sources.
/// `tls`: whether we dialled with TLS. An error that looks like the other end speaking the other
/// protocol carries [`MISMATCH_HINT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialFailure {
    /// In words.
    pub reason: String,
    pub kind: FailureKind,
}

/// What kind of failure a [`DialFailure`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The peer is down, unreachable or slow: normal while servers start and stop.
    Unreachable,
    /// The peer answered with a gRPC status of its own: it refuses us (an unknown id, a
    /// certificate that does not name our host, ...).
    Refused,
    /// A TLS problem, or a TLS / plaintext mismatch.
    Tls,
}

impl DialFailure {
    /// A configuration problem (worth a warning), not merely a server that is down.
    pub fn is_configuration_problem(&self) -> bool {
        self.kind != FailureKind::Unreachable
    }
}

/// Explains `e`, a failed dial of a peer; see [`DialFailure`].
pub fn explain_dial_error(e: &(dyn StdError + 'static), tls: bool) -> DialFailure {
    // A status without a source is the peer's own answer, not a transport error.
    if let Some(status) = e.downcast_ref::<tonic::Status>() {
        if status.source().is_none() {
            return DialFailure {
                reason: format!("refused: {:?}: {}", status.code(), status.message()),
                kind: FailureKind::Refused,
            };
        }
    }
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(e);
    while let Some(err) = source {
        // io::Error's (and h2's) `source` skip the error they wrap: look inside where we can.
        let wrapped = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(tls_err) = err.downcast_ref::<rustls::Error>().or(wrapped) {
            return DialFailure {
                reason: explain_rustls(tls_err, Side::Dialling),
                kind: FailureKind::Tls,
            };
        }
        let s = match err.downcast_ref::<tonic::Status>() {
            Some(status) => format!("{:?}: {}", status.code(), status.message()),
            None => err.to_string(),
        };
        if !s.is_empty() && !parts.iter().any(|t| t.contains(&s)) {
            parts.push(s);
        }
        source = err.source();
    }
    let text = parts.join(": ");
    let lower = text.to_ascii_lowercase();
    let has = |markers: &[&str]| markers.iter().any(|m| lower.contains(m));
    let problem = |reason: String| DialFailure {
        reason,
        kind: FailureKind::Tls,
    };
    let unreachable = |reason: String| DialFailure {
        reason,
        kind: FailureKind::Unreachable,
    };
    if has(&["connection refused", "timed out", "deadline"]) {
        return unreachable(text);
    }
    if tls {
        // Where the rustls error itself was out of reach (inside an h2 error), its text is not.
        if has(&["received fatal alert"]) {
            return problem(format!(
                "the server dialled refused the TLS handshake: {text} (does it trust the CA \
                 of this server's certificate, and does the certificate name this server's host?)"
            ));
        }
        if has(&["invalid peer certificate"]) {
            return problem(format!(
                "the certificate of the server dialled is refused: {text}"
            ));
        }
        if has(&["corrupt message", "invalidcontenttype", "handshake eof"]) {
            return problem(format!(
                "the server dialled does not speak TLS: {text} {MISMATCH_HINT}"
            ));
        }
        // Under TLS 1.3 a server that refuses this server's certificate says so after the
        // dialler finished its side of the handshake: an alert, or only a closed connection.
        if has(&[
            "connection reset",
            "connection closed",
            "broken pipe",
            "early eof",
        ]) {
            return problem(format!(
                "{text}: the server dialled closed the connection at the TLS handshake: it does \
                 not accept this server's certificate, or does not speak TLS {MISMATCH_HINT}"
            ));
        }
    } else if has(&[
        "frame with invalid size",
        "invalid frame",
        "connection reset",
        "connection closed",
        "broken pipe",
        "early eof",
    ]) {
        // A TLS server answers an HTTP/2 preface with a TLS alert record (not an HTTP/2
        // frame), and closes.
        return problem(format!(
            "{text}: the server dialled closed the connection at once: it may expect TLS \
             {MISMATCH_HINT}"
        ));
    }
    unreachable(text)
}

/// Limits repeated warnings: the first occurrence of a key is a warning, repeats within
/// `every` are not (the caller logs them at debug). A redialling misconfigured peer would
/// otherwise fill the log several times a second. At most `CAPACITY` keys are remembered.
pub struct WarnLimiter {
    every: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl WarnLimiter {
    const CAPACITY: usize = 256;

    /// Repeats of a key are warned at most once per `every`.
    pub fn new(every: Duration) -> WarnLimiter {
        WarnLimiter {
            every,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a message with this key should be a warning now.
    pub fn should_warn(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = seen.get(key) {
            if now.duration_since(*last) < self.every {
                return false;
            }
        }
        if seen.len() >= Self::CAPACITY {
            seen.retain(|_, at| now.duration_since(*at) < self.every);
            if seen.len() >= Self::CAPACITY {
                seen.clear();
            }
        }
        seen.insert(key.to_string(), now);
        true
    }
}

impl Default for WarnLimiter {
    /// Once per 30 s per key.
    fn default() -> WarnLimiter {
        WarnLimiter::new(Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_failures_are_told_apart() {
        let refused = explain_dial_error(
            &tonic::Status::permission_denied("unknown server id 9"),
            true,
        );
        assert_eq!(refused.kind, FailureKind::Refused);
        assert_eq!(
            refused.reason,
            "refused: PermissionDenied: unknown server id 9"
        );
        let down = io::Error::new(io::ErrorKind::ConnectionRefused, "Connection refused");
        assert_eq!(
            explain_dial_error(&down, true).kind,
            FailureKind::Unreachable
        );
        assert!(!explain_dial_error(&down, false).is_configuration_problem());
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
        );
        let why = explain_dial_error(&alert, true);
        assert_eq!(why.kind, FailureKind::Tls);
        assert!(why.reason.contains("refused the TLS handshake"), "{why:?}");
        let plaintext = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        let why = explain_dial_error(&plaintext, true);
        assert!(
            why.reason.contains("does not speak TLS") && why.reason.contains(MISMATCH_HINT),
            "{why:?}"
        );
        let accepted = explain_accept_error(&plaintext, true);
        assert!(
            accepted.contains("the dialling server does not speak TLS")
                && accepted.contains(MISMATCH_HINT),
            "{accepted}"
        );
        // On the client port the other end is a client: no word of servers or sslQuorum.
        let client = explain_accept_error(&plaintext, false);
        assert!(
            client.starts_with("the client does not speak TLS") && !client.contains("sslQuorum"),
            "{client}"
        );
        let none = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );
        assert_eq!(
            explain_accept_error(&none, false),
            "the client presented no certificate (peer sent no certificates)"
        );
    }

    #[test]
    fn repeated_warnings_are_limited_per_key() {
        let limit = WarnLimiter::new(Duration::from_secs(60));
        assert!(limit.should_warn("a"));
        assert!(!limit.should_warn("a"));
        assert!(limit.should_warn("b"));
        let always = WarnLimiter::new(Duration::ZERO);
        assert!(always.should_warn("a"));
        assert!(always.should_warn("a"));
        for i in 0..1000 {
            limit.should_warn(&i.to_string());
        }
        assert!(limit.seen.lock().unwrap().len() <= WarnLimiter::CAPACITY);
    }
}
