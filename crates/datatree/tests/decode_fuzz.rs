//! Fuzz target of the snapshot body decoder (`DataTree::read_snapshot`: what a data directory
//! loads at start and a learner loads from the leader's SNAP). Damaged bodies are mutated and
//! then, half the time, given a fresh checksum, so the loader's own consistency checks (not
//! only the crc) meet them. Nothing may panic or allocate from a length field or a count; a
//! body accepted must give a tree that snapshots and loads again to the same digest.
//! `PADDOCK_FUZZ_CASES` / `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

mod common;

use common::{create, set_data, Harness};
use paddock_datatree::DataTree;
use paddock_fuzz::{bounded_by_input, config, input, TrackingAlloc};
use paddock_types::CreateMode::{self, *};
use paddock_types::{Acl, Id, TxnOp};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Snapshots of small trees with every kind of node, sessions, ACLs and a quota.
fn snapshots() -> Vec<Vec<u8>> {
    let mut h = Harness::new();
    let mut out = vec![bytes_of(&h.tree)];
    h.open(1);
    h.create_ok(0, "/app", "config", Persistent);
    h.create_ok(1, "/app/lock-", "", EphemeralSequential);
    h.create_ok(0, "/c", "", Container);
    h.create_ok(0, "/c/x", "", Persistent);
    h.create_ok(0, "/ttl", "", CreateMode::PersistentWithTtl { ttl_ms: 100 });
    h.apply(
        0,
        TxnOp::Create {
            path: "/private".into(),
            data: bytes::Bytes::from_static(b"\0\xff").into(),
            mode: Persistent,
            acl: vec![
                Acl::new(31, Id::new("digest", "u:h")),
                Acl::new(1, Id::anyone()),
            ],
        },
    );
    h.apply(0, create("/zookeeper/quota/app", "", Persistent));
    h.apply(0, set_data("/app", "v2", 0));
    out.push(bytes_of(&h.tree));
    out
}

fn bytes_of(tree: &DataTree) -> Vec<u8> {
    let mut out = Vec::new();
    tree.snapshot()
        .write_to(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

/// `bytes` with its last four bytes replaced by the crc32 (little-endian) of the rest.
fn with_fresh_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= 4 {
        let body = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

fn exercise(bytes: &[u8]) {
    let loaded = bounded_by_input(bytes.len(), || DataTree::read_snapshot(&mut &bytes[..]));
    if let Ok(tree) = loaded {
        let again = DataTree::read_snapshot(&mut &bytes_of(&tree)[..])
            .expect("a loaded tree's own snapshot loads");
        assert_eq!(again.digest(), tree.digest());
        assert_eq!(again.node_count(), tree.node_count());
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn snapshot_bodies_never_panic(bytes in input(snapshots()), fix_crc in any::<bool>()) {
        let bytes = if fix_crc { with_fresh_checksum(bytes) } else { bytes };
        exercise(&bytes);
    }
}

#[test]
fn the_valid_snapshots_load() {
    for s in snapshots() {
        DataTree::read_snapshot(&mut &s[..]).expect("loads");
    }
}
