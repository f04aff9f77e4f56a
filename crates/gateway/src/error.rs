//! What can stop the gateway as a whole (per-stream problems are statuses, see [`crate::status`]).

/// A gateway that cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A [`crate::GatewayOptions`] value is out of range.
    #[error("invalid gateway option {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// The reflection service could not be built from the descriptor sets (a build defect).
    #[error("building the reflection service: {0}")]
    Reflection(String),
    /// The TLS key store or trust store cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] paddock_tls::TlsError),
    /// A thread serving the port (`GatewayOptions::serving_threads`) could not be started, or
    /// its runtime or its handle of the listening socket could not be made.
    #[error("threads serving the gRPC port: {0}")]
    Threads(std::io::Error),
    /// The gRPC server failed (accepting connections, HTTP/2).
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}
