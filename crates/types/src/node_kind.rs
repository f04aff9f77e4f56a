//! What kind of node a znode is, read from its `Stat.ephemeralOwner` as ZooKeeper 3.5+ encodes it
//! (`org.apache.zookeeper.server.EphemeralType`), so a ZooKeeper-wire gateway can show the same
//! Stat:
//!
//! ```text
//!   0                                   persistent (plain or sequential)
//!   0x8000_0000_0000_0000 (i64::MIN)    container
//!   0xFF00_0000_0000_0000 | ttl         TTL node (top byte 0xFF, type bits 0x0000, ttl in the
//!                                       low 40 bits: 1 ..= 0xFF_FFFF_FFFF ms)
//!   anything else                       ephemeral: the owning session's id
//! ```
//!
//! Session ids carry their server's id in the top byte, so a server id of 255 would give
//! session ids that read as TTL markers; ZooKeeper therefore refuses server ids above 254 when
//! `extendedTypesEnabled` is set, and so does `Config::validate`.

use crate::error::ZkError;
use crate::ids::SessionId;
use crate::op::CreateMode;

/// `ephemeralOwner` of a container (ZooKeeper's `CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// The top byte of an extended type's `ephemeralOwner` (ZooKeeper's `EXTENDED_MASK`).
const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;
/// The type bits of an extended owner (bits 40..56); 0 is TTL, the only type ZooKeeper defines.
const EXTENDED_TYPE_MASK: u64 = 0x00FF_FF00_0000_0000;
/// The largest ttl, ms (ZooKeeper's `TTL.maxValue()`, 40 bits: about 34 years).
pub const MAX_TTL_MS: i64 = 0xFF_FFFF_FFFF;

/// A znode's kind, decoded from its `ephemeralOwner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(SessionId),
    Container,
    Ttl { ttl_ms: i64 },
}

impl NodeKind {
    /// Decodes an `ephemeralOwner` (see the module doc).
    pub fn from_owner(owner: i64) -> NodeKind {
        let bits = owner as u64;
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if bits & EXTENDED_MASK == EXTENDED_MASK && bits & EXTENDED_TYPE_MASK == 0 {
            NodeKind::Ttl {
                ttl_ms: (bits & MAX_TTL_MS as u64) as i64,
            }
        } else {
            NodeKind::Ephemeral(SessionId(owner))
        }
    }

    /// The `ephemeralOwner` that encodes this kind.
    pub fn owner(self) -> i64 {
        match self {
            NodeKind::Persistent => 0,
            NodeKind::Ephemeral(s) => s.0,
            NodeKind::Container => CONTAINER_OWNER,
            NodeKind::Ttl { ttl_ms } => {
                (EXTENDED_MASK | (ttl_ms as u64 & MAX_TTL_MS as u64)) as i64
            }
        }
    }

    /// The kind a create makes (`session`: the creating session, for ephemerals).
    pub fn of_create(mode: CreateMode, session: SessionId) -> NodeKind {
        match mode {
            CreateMode::Persistent | CreateMode::PersistentSequential => NodeKind::Persistent,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => NodeKind::Ephemeral(session),
            CreateMode::Container => NodeKind::Container,
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => NodeKind::Ttl { ttl_ms },
        }
    }

    pub fn is_ephemeral(self) -> bool {
        matches!(self, NodeKind::Ephemeral(_))
    }
}

/// ZooKeeper's `EphemeralType.validateTTL` for a TTL mode: `BadArguments` unless
/// 0 < ttl <= [`MAX_TTL_MS`]. Other modes pass (their ttl is not carried).
pub fn validate_ttl(mode: CreateMode) -> Result<(), ZkError> {
    match mode.ttl_ms() {
        Some(ttl) if ttl <= 0 || ttl > MAX_TTL_MS => Err(ZkError::bad_arguments(format!(
            "ttl {ttl} is not valid: a TTL node's ttl must be in 1..={MAX_TTL_MS} ms"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_decode_as_zookeeper_encodes_them() {
        assert_eq!(NodeKind::from_owner(0), NodeKind::Persistent);
        assert_eq!(NodeKind::from_owner(i64::MIN), NodeKind::Container);
        // ZooKeeper: EphemeralType.TTL.toEphemeralOwner(100) == 0xFF00000000000064.
        assert_eq!(
            NodeKind::Ttl { ttl_ms: 100 }.owner(),
            0xFF00_0000_0000_0064_u64 as i64
        );
        assert_eq!(
            NodeKind::from_owner(0xFF00_0000_0000_0064_u64 as i64),
            NodeKind::Ttl { ttl_ms: 100 }
        );
        let max = NodeKind::Ttl { ttl_ms: MAX_TTL_MS };
        assert_eq!(NodeKind::from_owner(max.owner()), max);
        assert_eq!(max.owner(), -1_i64 << 56 | MAX_TTL_MS);
        let session = 0x0100_0000_1234_5678;
        assert_eq!(
            NodeKind::from_owner(session),
            NodeKind::Ephemeral(SessionId(session))
        );
        // A top byte of 0xFF with type bits set is not a TTL (ZooKeeper reserves them).
        assert!(NodeKind::from_owner(0xFF01_0000_0000_0001_u64 as i64).is_ephemeral());
    }

    #[test]
    fn ttl_bounds_are_zookeepers() {
        let ttl = |t| validate_ttl(CreateMode::PersistentWithTtl { ttl_ms: t });
        assert!(ttl(1).is_ok());
        assert!(ttl(MAX_TTL_MS).is_ok());
        for bad in [0, -1, MAX_TTL_MS + 1, i64::MAX, i64::MIN] {
            let e = ttl(bad).expect_err("out of range");
            assert_eq!(e.code, crate::ErrorCode::BadArguments);
        }
        assert!(validate_ttl(CreateMode::Persistent).is_ok());
    }
}
