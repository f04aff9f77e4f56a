//! # paddock-processor — the request-processor pipeline and the session tracker
//!
//! ```text
//!  gateway ──Backend::submit──▶ checks ─┬─ read, session idle ──▶ answered at once from the tree
//!                                       ├─ read behind a write ─▶ waits in the session's queue
//!                                       └─ write ──▶ Prep (zxid) ──▶ Sync (append + one fsync per
//!                                                    batch) ──▶ Final (apply, fire watches, answer)
//!  every answer and watch event ──▶ the session's one ordered channel ──▶ gateway
//! ```
//!
//! Invariants:
//! - nothing is answered before it is durable (the final stage only sees fsync'd batches);
//! - transactions are applied in zxid order, by one thread;
//! - a session's answers leave in the order its requests arrived (see [`queue`]);
//! - a watch event is queued before any answer that could show the change (events are queued
//!   under the tree's write lock, reads answer under its read lock);
//! - a session expires only after `timeout` without hearing from it, rounded up to a tick.
//!
//! The gateway sees all of this only through [`api::Backend`].

/// The gateway-facing API (the `paddock-api` crate), as the processor implements it.
pub use paddock_api as api;
pub mod config;
mod pipeline;
mod prep;
pub(crate) mod queue;
mod read;
pub mod recovery;
mod replicated;
mod server;
mod session;
mod stages;

pub use api::{Backend, ConnId, ConnectRequest, Connected, SessionEvent, SetWatches};
pub use config::ProcessorConfig;
pub use paddock_api::{ConnectionInfo, Status};
pub use pipeline::standalone;
pub use recovery::{recover, Recovered, RecoveryError};
pub use replicated::{replicated, ServingRole, TxnSink};
pub use server::{Latency, Server, Stats};
