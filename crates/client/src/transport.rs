//! Connections to servers: the endpoint of a `host:port` (plaintext or TLS), and what a failed
//! connection means in words a user can act on.
//!
//! A TLS mismatch fails in a different place depending on who expected what, and tonic reports
//! each as an opaque "transport error" (the cause is down its error's source chain):
//!
//! ```text
//!  client     server      where it fails                        what is down the chain
//!  TLS        plaintext   TLS handshake (Endpoint::connect)     rustls: corrupt message / EOF
//!  TLS        TLS, other  TLS handshake                         rustls: invalid peer certificate
//!                CA                                               (UnknownIssuer, NotValidForName)
//!  TLS, cert  TLS, need   first read after the handshake        rustls: received fatal alert
//!   refused                (TLS 1.3 checks the client last)       (CertificateRequired, UnknownCA),
//!                                                                 as words through h2 — or just
//!                                                                 a closed connection, when the
//!                                                                 alert lost the race
//!  plaintext  TLS         first answer (the session stream)     h2: the server closed the
//!                                                                 connection / sent non-HTTP/2
//! ```
//!
//! The client turns each into one sentence naming the server, what failed and what to check
//! ([`crate::Error::Tls`]; [`describe_error`] for callers using [`endpoint`]).

use std::error::Error as StdError;
use std::io;

use tokio_rustls::rustls::{self, AlertDescription, CertificateError};
use tonic::transport::Endpoint;

use crate::error::Error;
use crate::options::ClientOptions;
use crate::pool::{Lease, SharedConnections};
use crate::tls::{Tls, TlsOptions};

/// How the client reaches servers: the TLS material (read once, at [`crate::Client::connect`])
/// or plaintext.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    tls: Option<Tls>,
    /// The options' shared connections and the TLS options that key them, if sharing.
    shared: Option<(SharedConnections, Option<TlsOptions>)>,
}

impl Dialer {
    /// Reads the options' TLS files, if any ([`Error::TlsConfig`] when they are unusable).
    pub fn new(opts: &ClientOptions) -> Result<Dialer, Error> {
        let tls = opts.tls.as_ref().map(Tls::load).transpose()?;
        let shared = opts
            .shared_connections
            .clone()
            .map(|pool| (pool, opts.tls.clone()));
        Ok(Dialer { tls, shared })
    }

    /// A slot on a shared connection to `addr`, when the options share connections.
    pub fn lease(&self, addr: &str) -> Option<Lease> {
        let (pool, tls) = self.shared.as_ref()?;
        Some(pool.lease(addr, tls.as_ref()))
    }

    pub fn security(&self) -> Security {
        match &self.tls {
            None => Security::Plaintext,
            Some(tls) if tls.has_identity() => Security::TlsWithCertificate,
            Some(_) => Security::Tls,
        }
    }

    /// The endpoint of `addr` (`host:port`): `https://` with the TLS options, else `http://`.
    pub fn endpoint(&self, addr: &str) -> Result<Endpoint, Error> {
        match &self.tls {
            Some(tls) => tls.endpoint(addr),
            None => Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| Error::InvalidArgument(format!("{addr}: {e}"))),
        }
    }
}

/// Where a connection attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Opening the connection: TCP, and with TLS the handshake.
    Connect,
    /// Waiting for the first answer on an open connection (HTTP/2 and the session handshake).
    Answer,
}

/// `err` and its sources, `: `-separated (tonic's transport error alone says only "transport
/// error"); a source whose text is already there is skipped. A `tonic::Status` counts as its
/// message (its `Display` is a debugging dump).
pub(crate) fn with_sources(err: &(dyn StdError + 'static)) -> String {
    let mut text = match err.downcast_ref::<tonic::Status>() {
        Some(status) => status.message().to_string(),
        None => err.to_string(),
    };
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// The first rustls error down `err`'s chain (tokio-rustls wraps it in an `io::Error`, whose
/// `source()` skips it: look inside).
fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                return Some(r);
            }
        }
        next = e.source();
    }
    None
}

/// The kind of the first `io::Error` down `err`'s chain (h2 keeps its I/O error out of the
/// chain: look inside).
fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        if let Some(io) = e.downcast_ref::<h2::Error>().and_then(h2::Error::get_io) {
            return Some(io.kind());
        }
        next = e.source();
    }
    None
}

/// Whether HTTP/2 was already talking when `err` happened: an h2 error down the chain means
/// the TLS handshake under it had completed (tonic's connect includes the HTTP/2 handshake).
fn over_http2(err: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<h2::Error>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The TLS alert the server sent, from the error's text: after the handshake the alert reaches
/// us through HTTP/2, which keeps only its words ("received fatal alert: UnknownCA").
fn alert_in(detail: &str) -> Option<&str> {
    let (_, rest) = detail.split_once("received fatal alert: ")?;
    rest.split(|c: char| !c.is_ascii_alphanumeric()).next()
}

/// What the connection used, as far as explaining failures goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    Plaintext,
    /// TLS without a client certificate.
    Tls,
    /// TLS presenting a client certificate.
    TlsWithCertificate,
}

/// What a transport failure talking to `addr` means: `Some(sentence)` when TLS (used or not)
/// is the likely reason, `None` when it is something else (nobody listening, a timeout, an
/// answer from the server).
pub(crate) fn explain(
    addr: &str,
    security: Security,
    stage: Stage,
    err: &(dyn StdError + 'static),
) -> Option<String> {
    // A status the server sent (no transport error under it) is an answer, not a failure to
    // connect.
    if let Some(status) = err.downcast_ref::<tonic::Status>() {
        status.source()?;
    }
    if matches!(
        io_kind(err),
        Some(io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut)
    ) {
        return None;
    }
    let detail = with_sources(err);
    // A connect that failed in the HTTP/2 handshake failed after the TLS one: with TLS 1.3 the
    // server checks the client's certificate only then, and hangs up.
    let stage = match stage {
        Stage::Connect if over_http2(err) => Stage::Answer,
        stage => stage,
    };
    match (security, stage) {
        // Plaintext HTTP/2 reached something that hung up (a TLS server drops a connection
        // whose first bytes are not a ClientHello) or answered bytes that are not HTTP/2 (its
        // TLS alert).
        (Security::Plaintext, Stage::Answer) => Some(format!(
            "the server {addr} closed the connection before answering (does it require TLS? \
             then give the CA certificate to trust): {detail}"
        )),
        (Security::Plaintext, Stage::Connect) => None,
        (tls, stage) => Some(match (rustls_error(err), alert_in(&detail)) {
            (Some(r), _) => handshake_failure(addr, r),
            (None, Some(alert)) => refused(addr, alert, &detail),
            (None, None) if detail.contains("HTTP/2 was not negotiated") => format!(
                "{addr} speaks TLS but not HTTP/2 (is it a Paddock server's gRPC port?): {detail}"
            ),
            // Hung up during the handshake without a TLS alert.
            (None, None) if stage == Stage::Connect => match io_kind(err) {
                Some(
                    io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe,
                ) => format!(
                    "the TLS handshake with {addr} failed: the server closed the connection (is \
                     the server using TLS?): {detail}"
                ),
                _ => return None,
            },
            // The handshake worked, then the server hung up before answering: TLS 1.3 servers
            // check the client's certificate last, and the alert saying why does not always
            // reach us before the connection is gone.
            (None, None) if tls == Security::TlsWithCertificate => format!(
                "the server {addr} closed the TLS connection right after the handshake (did it \
                 refuse the client certificate? is it signed by a CA in the server's trust \
                 store?): {detail}"
            ),
            (None, None) => format!(
                "the server {addr} closed the TLS connection right after the handshake (does it \
                 require a client certificate? then give one signed by a CA it trusts): {detail}"
            ),
        }),
    }
}

/// The words for a TLS handshake rustls refused.
fn handshake_failure(addr: &str, r: &rustls::Error) -> String {
    match r {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the TLS handshake with {addr} failed: {r} (the server's certificate is not issued \
             for the name used: connect by a name it lists, or set the TLS server name)"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "the TLS handshake with {addr} failed: {r} (is the server's certificate signed by \
             the CA you gave?)"
        ),
        rustls::Error::AlertReceived(alert) => refused(addr, &format!("{alert:?}"), &r.to_string()),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => format!(
            "the TLS handshake with {addr} failed: {r} (is the server using TLS? it did not \
             answer in TLS)"
        ),
        _ => format!(
            "the TLS handshake with {addr} failed: {r} (is the server using TLS? is its \
             certificate signed by the CA you gave?)"
        ),
    }
}

/// The words for a fatal TLS alert from the server (named as rustls' `AlertDescription`).
fn refused(addr: &str, alert: &str, detail: &str) -> String {
    let certificate_refused = [
        AlertDescription::BadCertificate,
        AlertDescription::UnknownCA,
        AlertDescription::CertificateUnknown,
        AlertDescription::UnsupportedCertificate,
        AlertDescription::CertificateExpired,
        AlertDescription::CertificateRevoked,
        AlertDescription::AccessDenied,
        AlertDescription::DecryptError,
    ];
    if alert == format!("{:?}", AlertDescription::CertificateRequired) {
        format!(
            "the server {addr} refused the TLS connection: {detail} (it requires a client \
             certificate: give one signed by a CA it trusts)"
        )
    } else if certificate_refused
        .iter()
        .any(|a| alert == format!("{a:?}"))
    {
        format!(
            "the server {addr} refused the client certificate: {detail} (is it signed by a CA \
             in the server's trust store?)"
        )
    } else {
        format!(
            "the TLS handshake with {addr} failed: {detail} (is the server using TLS? is its \
             certificate signed by the CA you gave?)"
        )
    }
}

/// The tonic endpoint of one server (`host:port`) as the client connects to it: `https://` with
/// the options' TLS (files read now: [`Error::TlsConfig`] when unusable), else `http://`; the
/// options' connect timeout. For the other services on the client port (`paddock.v1.Admin`,
/// `grpc.health.v1`).
pub fn endpoint(addr: &str, opts: &ClientOptions) -> Result<Endpoint, Error> {
    Ok(Dialer::new(opts)?
        .endpoint(addr)?
        .connect_timeout(opts.connect_timeout))
}

/// `err`, an error from talking to `addr` over an [`endpoint`] made with `opts` (a
/// `tonic::transport::Error` or a `tonic::Status`), in words: its sources, and what to check
/// when TLS is the likely reason (e.g. "the server 10.0.0.1:7181 closed the connection before
/// answering (does it require TLS? ...)").
pub fn describe_error(addr: &str, opts: &ClientOptions, err: &(dyn StdError + 'static)) -> String {
    let security = match &opts.tls {
        None => Security::Plaintext,
        Some(tls) if tls.cert.is_some() => Security::TlsWithCertificate,
        Some(_) => Security::Tls,
    };
    let stage = if err.is::<tonic::Status>() {
        Stage::Answer
    } else {
        Stage::Connect
    };
    explain(addr, security, stage, err).unwrap_or_else(|| with_sources(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn alerts_are_read_from_the_words_http2_kept() {
        assert_eq!(
            alert_in("connection error: received fatal alert: UnknownCA"),
            Some("UnknownCA")
        );
        assert_eq!(
            alert_in("received fatal alert: CertificateRequired (x)"),
            Some("CertificateRequired")
        );
        assert_eq!(alert_in("connection reset"), None);
    }

    /// A status the server sent is an answer: never blamed on TLS. One with a transport error
    /// under it is a broken connection: plaintext at a TLS port, or a refused certificate.
    #[test]
    fn only_transport_failures_are_explained() {
        let answer = tonic::Status::not_found("no such service");
        for security in [Security::Plaintext, Security::TlsWithCertificate] {
            assert_eq!(explain("h:1", security, Stage::Answer, &answer), None);
        }
        let mut broken = tonic::Status::unknown("transport error");
        broken.set_source(Arc::new(io::Error::new(
            io::ErrorKind::InvalidData,
            "received fatal alert: BadCertificate",
        )));
        assert_eq!(
            with_sources(&broken),
            "transport error: received fatal alert: BadCertificate"
        );
        let plain = explain("h:1", Security::Plaintext, Stage::Answer, &broken).expect("TLS");
        assert!(plain.contains("does it require TLS?"), "{plain}");
        let tls =
            explain("h:1", Security::TlsWithCertificate, Stage::Answer, &broken).expect("TLS");
        assert!(
            tls.starts_with("the server h:1 refused the client certificate"),
            "{tls}"
        );
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            explain("h:1", Security::Tls, Stage::Connect, &refused),
            None
        );
    }

    /// tonic's connect runs the HTTP/2 handshake too: a server that hangs up then (an h2 error
    /// in the chain) let the TLS handshake through and refused what followed it, as TLS 1.3
    /// servers refuse client certificates.
    #[test]
    fn a_connect_that_failed_over_http2_failed_after_the_tls_handshake() {
        let mut broken = tonic::Status::unknown("transport error");
        broken.set_source(Arc::new(h2::Error::from(h2::Reason::PROTOCOL_ERROR)));
        let msg =
            explain("h:1", Security::TlsWithCertificate, Stage::Connect, &broken).expect("TLS");
        assert!(msg.contains("right after the handshake"), "{msg}");
        assert!(msg.contains("client certificate"), "{msg}");
        let hung_up = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let msg = explain("h:1", Security::Tls, Stage::Connect, &hung_up).expect("TLS");
        assert!(msg.contains("is the server using TLS?"), "{msg}");
    }

    #[test]
    fn certificate_errors_say_what_to_check() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let msg = handshake_failure("h:1", &unknown);
        assert!(msg.contains("signed by the CA you gave"), "{msg}");
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(handshake_failure("h:1", &name).contains("server name"));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(handshake_failure("h:1", &required).contains("requires a client certificate"));
    }
}
