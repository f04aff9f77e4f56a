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
//!                                  ├─ pace      (one session's loop: closed, or on a --rate
//!                                  │             schedule; merging the sessions' figures)
//!                                  ├─ workload  (seeded key choice, request builders)
//!                                  └─ stats     (HdrHistogram per request kind, error counts)
//! ```
//!
//! `paddock-bench-zk` (src/bin/zk.rs, cargo feature `zookeeper`) runs the same `pace` loops,
//! workload and report over ZooKeeper's native protocol, for side-by-side figures.

pub mod args;
pub mod lin;
pub mod pace;
pub mod run;
pub mod session;
pub mod stats;
pub mod workload;

/// The load generator's tokio runtime (a worker per core), or the message why there is none.
pub fn runtime(program: &str) -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("{program}: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        })
}
