//! Deterministic simulation support: an in-memory [`ElectionTransport`](crate::ElectionTransport)
//! over a seeded lossy network, and a whole-ensemble harness.

mod cluster;
mod network;

pub use cluster::{Cluster, DecisionEvent, PeerSpec};
pub use network::{MemNetwork, MemTransport, NetConfig};
