//! # paddock-bench — a load generator for Paddock
//!
//! Drives a server or an ensemble with N concurrent sessions running closed loops of `create`,
//! `set`, `get` or `mixed` requests for a duration or a fixed count, and reports ops/s and latency
//! percentiles (human-readable, or one JSON line). See `paddock-bench --help`.
//!
//! ```text
//!  args ──validate──▶ Config ──▶ run::run ──▶ stats::Report ──▶ human() / json()
//!                                  │
//!                                  ├─ session   (opens sessions with the Rust client library,
//!                                  │             paddock-client; one Client per bench session)
//!                                  ├─ workload  (seeded key choice, request builders)
//!                                  └─ stats     (HdrHistogram per request kind, error counts)
//! ```

pub mod args;
pub mod pace;
pub mod run;
pub mod session;
pub mod stats;
pub mod workload;
