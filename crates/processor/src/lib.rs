//! # paddock-processor — the request processor and the session tracker
//!
//! One processor per server, whatever the ensemble's size: a standalone server is an ensemble
//! of one (issue 13), so every write takes the path an ensemble leader's does.
//!
//! ```text
//!  gateway ──Backend::submit──▶ checks ─┬─ read, session idle ──▶ answered at once from the tree
//!                                       ├─ read behind a write ─▶ waits in the session's queue
//!                                       └─ write / sync / session create+close+move
//!                                            ──▶ Txn (zxid 0) ──TxnSink──▶ the quorum peer: the
//!                                                leader orders it, logs it on a quorum, commits
//!  the peer applies each commit ──▶ Processor::apply_committed: apply under the tree write lock,
//!        fire watches, answer the waiting request of this server's session, release its reads
//!  every answer and watch event ──▶ the session's one ordered channel ──▶ gateway
//! ```
//!
//! Invariants:
//! - nothing is answered before it committed (the peer applies only committed, quorum-logged
//!   transactions, in zxid order, from one task);
//! - a session's answers leave in the order its requests arrived (see `queue.rs`);
//! - a watch event is queued before any answer that could show the change (events are queued
//!   under the tree's write lock, reads answer under its read lock);
//! - a session expires only after `timeout` without hearing from it, rounded up to a tick, and
//!   only the serving leader expires sessions.
//!
//! The gateway sees all of this only through [`api::Backend`].
//!
//! ## Layout
//!
//! ```text
//! processor.rs  Processor and its start
//! shared.rs     the state every entry point works on; handing a txn to the ensemble; answers
//! role.rs       ServingRole: what the server does for clients (set by the quorum peer's role)
//! serving.rs    the role switches: serving, not serving, read-only; shutdown
//! connect.rs    new sessions, resumes (confirmed by the ensemble), attaching a connection
//! submit.rs     requests: reads from the tree, writes to the ensemble; the Backend impl
//! apply.rs      applying commits and snapshots
//! expiry.rs     the leader's timed work: session expiry, the container / TTL sweep; liveness
//!               reports (learners)
//! sweep.rs      the sweeper's bookkeeping (what to submit, what is in flight)
//! readonly/     read-only mode (`readonlymode.enabled`): an ensemble member cut off from its
//!               quorum serving reads to read-only sessions; `rules.rs` (a leaf: its state, the
//!               request classification, its errors) and the `impl Processor` block
//! snapshot.rs   periodic snapshots and log purge
//! stats.rs      counters; status.rs the Status, connections
//! checks.rs     the stateless checks of a request
//! queue.rs      the per-session FIFO rules; session.rs the session table (global and local
//!               sessions: `Scope`); read.rs reads
//! local.rs      local sessions (`localSessionsEnabled`): opened, closed and expired here with
//!               no transaction; upgraded to global on their first ephemeral
//! locks.rs      the lock helper
//!
//! Files import downwards only: the leaves (config, checks, queue, session, read, role, sink,
//! stats, snapshot, sweep, locks, readonly/rules) import none of the others (readonly/rules but
//! the lock helper); shared.rs imports leaves; processor.rs imports shared; the rest (connect,
//! submit, apply, expiry, serving, status, local, readonly) hold the
//! `impl Processor` blocks and import processor, shared and leaves.
//! sink.rs       TxnSink, the way to the ensemble
//! ```

/// The gateway-facing API (the `paddock-api` crate), as the processor implements it.
pub use paddock_api as api;
mod apply;
mod auth;
mod backup;
mod checks;
pub mod config;
mod connect;
mod dump;
pub mod error;
mod expiry;
mod local;
mod locks;
mod processor;
pub(crate) mod queue;
mod read;
mod readonly;
mod reconfig;
mod role;
mod serving;
mod session;
mod shared;
mod sink;
mod snapshot;
mod stats;
mod status;
mod submit;
mod sweep;

pub use api::{Backend, ConnId, ConnectRequest, Connected, SessionEvent, SetWatches};
pub use config::{Deterministic, ProcessorConfig};
pub use error::RestoreError;
pub use paddock_api::{ConnectionInfo, SessionDump, Status};
pub use processor::Processor;
pub use reconfig::Vetted;
pub use role::ServingRole;
pub use sink::TxnSink;
pub use stats::{Latency, Stats};
