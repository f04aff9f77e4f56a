//! A znode's value in the tree: its stat and data packed into one shared allocation.
//!
//! One `Arc<[u8]>` per node holds `[stat: 68 bytes][flags: 1 byte][data]` (flags: bit 0 = the
//! data is ZooKeeper's null, not empty bytes), so a node costs one heap block besides
//! its key (see `examples/mem.rs` for the measured footprint). `data_length` is the data's length;
//! every other `Stat` field is stored, and so is the node's ACL reference (see `acls`). Stat updates (a parent's `cversion` / `pzxid` /
//! `num_children` on every child create or delete) are made in place when nothing else shares the
//! block, and by copying it otherwise (a snapshot or a multi's backup still holds the old version).

use std::sync::Arc;

use bytes::Bytes;
use paddock_types::{Data, Stat};

/// Bytes taken by the packed stat at the start of a record.
const STAT_LEN: usize = 68;
/// The flags byte after the stat.
const FLAGS_AT: usize = STAT_LEN;
/// Bytes before the data.
const HEAD_LEN: usize = STAT_LEN + 1;
/// Flag: the data is null.
const NULL_DATA: u8 = 1;

/// The stored part of a `Stat` (everything but `data_length`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub num_children: i32,
    /// The node's ACL: a reference into the tree's `AclTable` (0 = world:anyone:cdrwa).
    pub acl: u32,
}

impl NodeStat {
    /// The client-facing `Stat` for a node holding `data_len` bytes.
    pub(crate) fn to_stat(self, data_len: usize) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            data_length: i32::try_from(data_len).unwrap_or(i32::MAX),
            num_children: self.num_children,
            pzxid: self.pzxid,
        }
    }

    fn encode(&self) -> [u8; STAT_LEN] {
        let mut b = [0u8; STAT_LEN];
        b[0..8].copy_from_slice(&self.czxid.to_le_bytes());
        b[8..16].copy_from_slice(&self.mzxid.to_le_bytes());
        b[16..24].copy_from_slice(&self.pzxid.to_le_bytes());
        b[24..32].copy_from_slice(&self.ctime.to_le_bytes());
        b[32..40].copy_from_slice(&self.mtime.to_le_bytes());
        b[40..48].copy_from_slice(&self.ephemeral_owner.to_le_bytes());
        b[48..52].copy_from_slice(&self.version.to_le_bytes());
        b[52..56].copy_from_slice(&self.cversion.to_le_bytes());
        b[56..60].copy_from_slice(&self.aversion.to_le_bytes());
        b[60..64].copy_from_slice(&self.num_children.to_le_bytes());
        b[64..68].copy_from_slice(&self.acl.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> NodeStat {
        let i64_at = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[at..at + 8]);
            i64::from_le_bytes(w)
        };
        let i32_at = |at: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&b[at..at + 4]);
            i32::from_le_bytes(w)
        };
        NodeStat {
            czxid: i64_at(0),
            mzxid: i64_at(8),
            pzxid: i64_at(16),
            ctime: i64_at(24),
            mtime: i64_at(32),
            ephemeral_owner: i64_at(40),
            version: i32_at(48),
            cversion: i32_at(52),
            aversion: i32_at(56),
            num_children: i32_at(60),
            acl: i32_at(64) as u32,
        }
    }
}

/// A node's stat and data in one immutable, shared block (see the module doc).
#[derive(Clone)]
pub(crate) struct NodeRecord(Arc<[u8]>);

impl NodeRecord {
    pub(crate) fn new(stat: &NodeStat, data: &[u8]) -> NodeRecord {
        NodeRecord::build(stat, data, 0)
    }

    /// A record holding `data`, null included.
    pub(crate) fn with_data(stat: &NodeStat, data: &Data) -> NodeRecord {
        NodeRecord::build(stat, data, if data.is_null() { NULL_DATA } else { 0 })
    }

    fn build(stat: &NodeStat, data: &[u8], flags: u8) -> NodeRecord {
        let mut block = Vec::with_capacity(HEAD_LEN + data.len());
        block.extend_from_slice(&stat.encode());
        block.push(flags);
        block.extend_from_slice(data);
        NodeRecord(Arc::from(block))
    }

    /// The data is ZooKeeper's null (no data at all), not empty bytes.
    pub(crate) fn is_null(&self) -> bool {
        self.0[FLAGS_AT] & NULL_DATA != 0
    }

    /// The data as [`Data`] (null kept) without copying it.
    pub(crate) fn data_value(&self) -> Data {
        if self.is_null() {
            Data::NULL
        } else {
            Data::from(self.data_bytes())
        }
    }

    pub(crate) fn stat(&self) -> NodeStat {
        NodeStat::decode(&self.0[..STAT_LEN])
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.0[HEAD_LEN..]
    }

    /// The client-facing `Stat`.
    pub(crate) fn full_stat(&self) -> Stat {
        self.stat().to_stat(self.data().len())
    }

    /// The data as `Bytes` without copying it (the `Bytes` keeps this record alive).
    pub(crate) fn data_bytes(&self) -> Bytes {
        if self.data().is_empty() {
            return Bytes::new();
        }
        Bytes::from_owner(DataView(self.clone()))
    }

    /// Replaces the stat, in place when this is the only reference to the block.
    pub(crate) fn set_stat(&mut self, stat: &NodeStat) {
        match Arc::get_mut(&mut self.0) {
            Some(bytes) => bytes[..STAT_LEN].copy_from_slice(&stat.encode()),
            None => *self = NodeRecord::build(stat, self.data(), self.0[FLAGS_AT]),
        }
    }
}

/// Lets a `Bytes` point into a record's data.
struct DataView(NodeRecord);

impl AsRef<[u8]> for DataView {
    fn as_ref(&self) -> &[u8] {
        self.0.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeStat {
        NodeStat {
            czxid: 1,
            mzxid: -2,
            pzxid: i64::MAX,
            ctime: 4,
            mtime: 5,
            version: 6,
            cversion: -7,
            aversion: 8,
            ephemeral_owner: i64::MIN,
            num_children: 10,
            acl: u32::MAX,
        }
    }

    #[test]
    fn stat_and_data_round_trip() {
        let r = NodeRecord::new(&sample(), b"hello");
        assert_eq!(r.stat(), sample());
        assert_eq!(r.data(), b"hello");
        assert_eq!(r.full_stat().data_length, 5);
        assert_eq!(&r.data_bytes()[..], b"hello");
        assert!(!r.is_null());
        let null = NodeRecord::with_data(&sample(), &Data::NULL);
        assert!(null.is_null());
        assert_eq!(null.data_value(), Data::NULL);
        assert_eq!(null.full_stat().data_length, 0);
        assert_eq!(
            NodeRecord::with_data(&sample(), &Data::from("")).data_value(),
            ""
        );
    }

    #[test]
    fn set_stat_never_changes_a_shared_copy() {
        let mut a = NodeRecord::new(&NodeStat::default(), b"data");
        let b = a.clone();
        a.set_stat(&sample());
        assert_eq!(a.stat(), sample());
        assert_eq!(b.stat(), NodeStat::default());
        assert_eq!(a.data(), b"data");
        // Unique now: updated in place.
        let mut s = sample();
        s.version = 99;
        a.set_stat(&s);
        assert_eq!(a.stat().version, 99);
        // A null record stays null through both kinds of stat update.
        let mut n = NodeRecord::with_data(&NodeStat::default(), &Data::NULL);
        let shared = n.clone();
        n.set_stat(&sample());
        assert!(n.is_null() && shared.is_null());
        n.set_stat(&NodeStat::default());
        assert!(n.is_null());
    }
}
