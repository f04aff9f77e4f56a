//! Identifiers: zxids, epochs, server ids and session ids.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ZooKeeper transaction id: the epoch in the high 32 bits, a counter in the low 32.
///
/// Every state change gets one; all servers apply changes in zxid order. Ordering of `Zxid`
/// is numeric, which is (epoch, counter) order.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Zxid(pub u64);

impl Zxid {
    /// The zxid before any transaction.
    pub const ZERO: Zxid = Zxid(0);

    /// Builds a zxid from an epoch and a counter.
    pub fn new(epoch: Epoch, counter: u32) -> Zxid {
        Zxid((u64::from(epoch.0) << 32) | u64::from(counter))
    }

    /// The epoch (high 32 bits).
    pub fn epoch(self) -> Epoch {
        Epoch((self.0 >> 32) as u32)
    }

    /// The counter within the epoch (low 32 bits).
    pub fn counter(self) -> u32 {
        self.0 as u32
    }

    /// The next zxid in the same epoch, or `None` if the counter would overflow (a new epoch is
    /// then needed, as in ZooKeeper, which forces a re-election at counter 0xffffffff).
    pub fn next(self) -> Option<Zxid> {
        self.counter()
            .checked_add(1)
            .map(|c| Zxid::new(self.epoch(), c))
    }

    /// Whether `self` may directly follow `prev` in a ZAB history: the next counter of the same
    /// epoch (or the numeric successor, which a counter overflow makes the first zxid of the
    /// next epoch), or the first zxid of a later epoch (counter 1: a new leader's first
    /// proposal). `prev == Zxid::ZERO` is the empty state.
    pub fn follows(self, prev: Zxid) -> bool {
        self.0 == prev.0.wrapping_add(1) || (self.epoch() > prev.epoch() && self.counter() == 1)
    }

    /// Big-endian bytes, so byte order equals numeric order (used as storage keys).
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Inverse of [`Zxid::to_be_bytes`].
    pub fn from_be_bytes(b: [u8; 8]) -> Zxid {
        Zxid(u64::from_be_bytes(b))
    }

    /// The value as ZooKeeper's signed 64-bit field carries it.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A leader epoch (ZAB's `e`): incremented each time a new leader establishes itself.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Epoch(pub u32);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A server's id in the ensemble (`server.N` / the `myid` file). 1..=255 as in ZooKeeper, so it
/// fits in the top byte of a session id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ServerId(pub u64);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A client session id. As in ZooKeeper, the creating server's id sits in the top byte, so ids are
/// unique across the ensemble. `SessionId(0)` is "no session" (e.g. the ephemeral owner of a
/// persistent node).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SessionId(pub i64);

impl SessionId {
    /// "No session".
    pub const NONE: SessionId = SessionId(0);

    /// The first session id a server hands out, as ZooKeeper's `SessionTrackerImpl.initializeNextSession`
    /// computes it: the server id in the top byte, the low bits from the start time in milliseconds.
    pub fn initial(server: ServerId, now_ms: u64) -> SessionId {
        let time_bits = (now_ms << 24) >> 8; // drop the top 24 bits, leave the low 8 free
        let id = (server.0 << 56) | time_bits;
        SessionId(id as i64)
    }

    /// The server id in the top byte.
    pub fn server(self) -> ServerId {
        ServerId((self.0 as u64) >> 56)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0 as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_packs_epoch_high_counter_low() {
        let z = Zxid::new(Epoch(3), 7);
        assert_eq!(z.0, (3u64 << 32) | 7);
        assert_eq!(z.epoch(), Epoch(3));
        assert_eq!(z.counter(), 7);
        assert!(Zxid::new(Epoch(2), u32::MAX) < Zxid::new(Epoch(3), 0));
        assert_eq!(Zxid::new(Epoch(1), u32::MAX).next(), None);
        assert_eq!(Zxid::new(Epoch(1), 1).next(), Some(Zxid::new(Epoch(1), 2)));
    }

    #[test]
    fn zxid_big_endian_bytes_sort_numerically() {
        let a = Zxid(0x00ff);
        let b = Zxid(0x0100);
        assert!(a.to_be_bytes() < b.to_be_bytes());
        assert_eq!(Zxid::from_be_bytes(b.to_be_bytes()), b);
    }

    #[test]
    fn session_id_carries_server_in_top_byte() {
        let s = SessionId::initial(ServerId(5), 1_700_000_000_000);
        assert_eq!(s.server(), ServerId(5));
        let t = SessionId::initial(ServerId(255), u64::MAX);
        assert_eq!(t.server(), ServerId(255));
    }
}
