//! The gateway's cross-cutting concerns as tower layers around the tonic services, so that the
//! handlers stay thin (decode -> submit -> await -> encode).
//!
//! ```text
//!  HTTP/2 request (one per unary call, one per session stream)
//!    └▶ CallTraceLayer (trace.rs): the call's span, request id, final gRPC code   [every call]
//!         └▶ router ─┬▶ StreamsPerIpLayer (per_ip.rs): maxClientCnxns ─▶ paddock.v1.Paddock
//!                    ├▶ UnaryLayer (unary.rs): shed past N in flight, timeout ─▶ paddock.v1.Admin
//!                    ├▶ UnaryLayer (its own count) ─────────────────────────────▶ grpc.health.v1
//!                    └▶ (no layer) ─────────────────────────────────────────────▶ reflection
//! ```
//!
//! A layer runs once per HTTP/2 request: for a session that is once per stream, never per
//! message, so none of them is on the per-request path of a session. What happens per message
//! inside one stream (answers in request order, the per-stream in-flight bound, message size, the
//! `submit` span, the handshake deadline) stays in `session.rs`: a layer cannot see it.
//!
//! Every refusal a layer makes is a gRPC status with `paddock-error-code`, made by
//! [`crate::status::with_code`] like the handler's own.

pub(crate) mod per_ip;
pub(crate) mod trace;
pub(crate) mod unary;

pub(crate) use per_ip::StreamsPerIpLayer;
pub(crate) use trace::CallTraceLayer;
pub(crate) use unary::UnaryLayer;
