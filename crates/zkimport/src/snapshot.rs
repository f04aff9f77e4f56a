//! Reading a ZooKeeper snapshot (`FileSnap.deserialize`):
//!
//! ```text
//! FileHeader    magic int "ZKSN" | version int (2) | dbid long
//! sessions      count int, then per session: id long | timeout int
//! acl cache     count int, then per entry: key long | vector<ACL>
//! nodes         per node, parents first: path ustring ("" for the root) |
//!               data buffer | acl long (cache key; -1 = world:anyone:cdrwa) |
//!               StatPersisted{czxid mzxid ctime mtime long, version cversion aversion int,
//!               ephemeralOwner pzxid long}
//!               ... until the path "/"
//! seal          Adler-32 of every byte so far, long | "/" ustring
//! (3.6+)        ZxidDigest{zxid long, digestVersion int, digest long} | seal again
//! ```
//!
//! Everything is big-endian (jute). ZooKeeper names the file after `lastProcessedZxid` when the
//! snapshot *started*; it is fuzzy (it may hold later txns), which replay tolerates.

use std::collections::BTreeMap;
use std::path::Path;

use paddock_types::Acl;

use crate::adler32::adler32;
use crate::error::ImportError;
use crate::jute::{JuteError, Reader};
use crate::records::{read_acls, read_stat};
use crate::tree::{ZkNode, ZkTree};

/// `FileSnap.SNAP_MAGIC`: "ZKSN".
pub(crate) const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// The only file format version ZooKeeper 3.x writes.
pub(crate) const VERSION: i32 = 2;

/// `SnapStream.isValidSnapshot`: long enough and ending in the seal's "/" — what ZooKeeper
/// checks before it picks a snapshot (a snapshot cut short by a crash does not pass).
pub(crate) fn looks_complete(bytes: &[u8]) -> bool {
    bytes.len() >= 10 && bytes[bytes.len() - 5..] == [0, 0, 0, 1, b'/']
}

fn damaged(path: &Path, e: JuteError) -> ImportError {
    ImportError::Damaged {
        path: path.to_path_buf(),
        offset: e.offset,
        what: e.what,
    }
}

/// Reads a whole snapshot file's bytes into a tree (its checksum verified).
pub(crate) fn read(path: &Path, bytes: &[u8]) -> Result<ZkTree, ImportError> {
    parse(bytes).map_err(|e| damaged(path, e))
}

fn parse(bytes: &[u8]) -> Result<ZkTree, JuteError> {
    let mut r = Reader::new(bytes);
    let magic = r.int("magic")?;
    if magic != SNAP_MAGIC {
        return Err(r.invalid(
            0,
            format!("bad magic {magic:#010x}: not a ZooKeeper snapshot (ZKSN)"),
        ));
    }
    let version = r.int("version")?;
    if version != VERSION {
        return Err(r.invalid(4, format!("unsupported snapshot version {version}")));
    }
    r.long("dbid")?;

    let mut tree = ZkTree::default();
    let at = r.pos();
    let count = r.int("session count")?;
    if count < 0 {
        return Err(r.invalid(at, format!("session count {count}")));
    }
    for _ in 0..count {
        let id = r.long("session id")?;
        let timeout = r.int("session timeout")?;
        tree.sessions.insert(id, timeout);
    }

    let mut acls: BTreeMap<i64, Vec<Acl>> = BTreeMap::new();
    let at = r.pos();
    let count = r.int("acl cache size")?;
    if count < 0 {
        return Err(r.invalid(at, format!("acl cache size {count}")));
    }
    for _ in 0..count {
        let key = r.long("acl cache key")?;
        let at = r.pos();
        let list = read_acls(&mut r)?
            .ok_or_else(|| r.invalid(at, format!("acl cache entry {key} is null")))?;
        acls.insert(key, list);
    }

    loop {
        let at = r.pos();
        let path = r.string("path")?;
        if path == "/" {
            break;
        }
        let data = r.buffer("data")?.map(<[u8]>::to_vec).unwrap_or_default();
        let acl_at = r.pos();
        let acl_key = r.long("acl")?;
        let stat = read_stat(&mut r)?;
        let acl = match acl_key {
            -1 => None,
            k => Some(acls.get(&k).cloned().ok_or_else(|| {
                r.invalid(
                    acl_at,
                    format!("{path:?} refers to ACL {k}, not in the ACL cache"),
                )
            })?),
        };
        let key = if path.is_empty() { "/" } else { path.as_str() };
        let node = ZkNode {
            data,
            acl,
            stat,
            children: Default::default(),
        };
        if (path.is_empty()) != tree.nodes.is_empty() {
            return Err(r.invalid(at, format!("{path:?}: the root must come first, once")));
        }
        if tree.nodes.contains_key(key) || !tree.insert_loaded(key, node) {
            return Err(r.invalid(
                at,
                format!("{path:?} is repeated or comes without its parent"),
            ));
        }
    }
    if tree.nodes.is_empty() {
        return Err(r.invalid(r.pos(), "the snapshot has no root node"));
    }
    check_seal(&mut r, bytes)?;
    if r.remaining() > 0 {
        // ZooKeeper 3.6+: the digest of the tree, sealed again.
        r.long("digest zxid")?;
        r.int("digest version")?;
        r.long("digest")?;
        check_seal(&mut r, bytes)?;
    }
    Ok(tree)
}

/// `SnapStream.checkSealIntegrity`: the Adler-32 of everything before it, then "/".
fn check_seal(r: &mut Reader, bytes: &[u8]) -> Result<(), JuteError> {
    let at = r.pos();
    let computed = adler32(&bytes[..at]);
    let stored = r.long("checksum")?;
    let slash_at = r.pos();
    if r.string("seal")? != "/" {
        return Err(r.invalid(slash_at, "the checksum is not followed by \"/\""));
    }
    if stored != computed {
        return Err(r.invalid(
            at,
            format!("checksum mismatch: stored {stored:#x}, computed {computed:#x}"),
        ));
    }
    Ok(())
}
