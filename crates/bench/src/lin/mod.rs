//! `paddock-lin`: a linearizability workload for real ensembles under faults (the container
//! chaos scenarios, scripts/chaos.sh; issue 18).
//!
//! ```text
//!  workload::run ──▶ history (JSON lines, history.rs) ──▶ check::check ──▶ counts + finding
//!   N sessions on the server list, D seconds          paddock-lincheck, the znode
//!   or until a stop file: sync+getData, setData,      model, one part per znode
//!   CAS, create, delete on K znodes; then a
//!   sync+getData of each znode through each server
//! ```
//!
//! The history holds every operation with its call and answer times (or no answer: its outcome
//! is unknown). It is linearizable when one order of the operations that respects real time
//! explains every answer; a stale read, a lost acknowledged write or a value never written
//! leaves none. The final reads make every server's last state part of the history, so a
//! server that lost a write or diverged is caught too.

pub mod check;
pub mod history;
pub mod workload;

#[cfg(test)]
mod tests;
