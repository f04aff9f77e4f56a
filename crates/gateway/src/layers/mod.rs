//! The gateway's cross-cutting concerns as tower layers around the tonic services, so that the
//! handlers stay thin (decode -> submit -> await -> encode).
//!
//! A layer runs once per HTTP/2 request: for a session that is once per stream, never per
//! message, so none of them is on the per-request path of a session. What happens per message
//! inside one stream stays in `session.rs`: a layer cannot see it.
//!
//! Every refusal a layer makes is a gRPC status with `paddock-error-code`, made by
//! [`crate::status::with_code`] like the handler's own.

pub(crate) mod per_ip;
pub(crate) mod trace;

pub(crate) use per_ip::StreamsPerIpLayer;
pub(crate) use trace::CallTraceLayer;
