//! # paddock-gateway — the gRPC client edge
//!
//! Serves `paddock.v1.Paddock` (see `proto/paddock/v1/client.proto`, the client's contract): one
//! bidirectional stream per session connection, carrying the handshake, requests, responses, watch
//! events and the end of the session in one order. The server behind it is reached only through
//! the [`Backend`] trait, so the gateway is tested against a fake.
//!
//! ```text
//!              tonic (HTTP/2, keepalive, max message size, health, reflection)
//!  client ◀──▶ tower layers (per call: span; per service: per-IP limit, or shed + timeout)
//!               └▶ GatewayService ── per stream ──▶ session
//!                                     │ handshake: ConnectRequest ─▶ Backend::connect
//!                                     │ requests: convert::from_proto ─▶ Backend::submit
//!                                     │ events:   Connected.events ─▶ convert::to_proto
//!                                     │           ─▶ response stream ─▶ client
//!                                     └ end: Backend::detach (unless the session closed)
//! ```
//!
//! ## Layout
//! - [`convert`]: wire <-> Paddock types, one module per direction; malformed input is `BadArguments`.
//! - [`status`]: stream-level failures as gRPC statuses with `paddock-error-code` metadata.
//! - `layers`: the concerns that are per call, as tower layers: `trace` (each call's span),
//!   `per_ip` (`maxClientCnxns`), `unary` (load shedding and timeouts of admin and health calls).
//! - `session`: one stream's driver (what is per message: ordering, in-flight bound, the
//!   `submit` span); answers in request order with `paddock_api::ReplyOrder`.
//! - [`GatewayService`] (the tonic service), [`Gateway`] / [`serve`] (the whole server, layers
//!   included), [`HealthHandle`], [`GatewayOptions`], [`AdminService`].
//! - [`backup`]: `Admin/SaveSnapshot`, a backup streamed in chunks from a blocking writer
//!   (the node supplies the tree through `AdminSource::backup`).
//!
//! ## Invariants
//! - A stream's first message out is its `ConnectResponse`; a refused handshake is a status with
//!   `paddock-error-code`, never a half-open stream.
//! - Answers leave in request order, including the ones the gateway makes itself for malformed
//!   requests; events leave in the order the backend emitted them.
//! - Memory per stream is bounded: at most `max_in_flight_per_stream` unanswered requests read;
//!   the response stream (which is what reads requests) runs only when tonic takes its messages,
//!   i.e. while HTTP/2 can send, so a client that does not read stops the reading; at most
//!   `outbound_buffer_messages` wait between it and tonic. Messages over `max_message_bytes` are
//!   refused by tonic.
//! - Every stream that attached a session either forwards `SessionClosed` (the session ended) or
//!   calls `Backend::detach` exactly once.
//! - At most `max_connections_per_ip` session streams per client IP are open; a refused stream
//!   never reaches a handler.
//! - Nothing the network sends can make the gateway panic.
//!
//! ## Example
//! ```no_run
//! # async fn run<B: paddock_gateway::Backend>(backend: std::sync::Arc<B>) -> Result<(), paddock_gateway::GatewayError> {
//! use paddock_gateway::{Gateway, GatewayOptions};
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:7181").await.expect("bind");
//! let gateway = Gateway::new(backend, GatewayOptions::default())?;
//! let health = gateway.health(); // health.set_serving(false).await while there is no quorum
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod admin;
pub mod backend;
pub mod backup;
pub mod convert;
mod error;
mod health;
mod layers;
mod options;
mod server;
mod service;
mod session;
pub mod status;

pub use admin::{AdminOptions, AdminService, AdminSource, Mode, NodeStatus};
pub use backend::Backend;
pub use backup::{Backup, BackupCaller, BackupRefused};
pub use error::GatewayError;
pub use health::{HealthHandle, ServingGate};
pub use layers::trace::set_request_spans;
pub use options::GatewayOptions;
pub use paddock_tls::{ClientAuth, TlsError, TlsOptions};
pub use server::{serve, Gateway};
pub use service::GatewayService;
pub use session::OutboundStream;
