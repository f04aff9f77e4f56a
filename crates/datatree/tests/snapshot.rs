//! Snapshots: round trips, freezing, and refusal of truncated, garbage or inconsistent input.

mod common;

use common::*;
use paddock_datatree::{DataTree, SnapshotError, TreeSnapshot};
use paddock_types::{CreateMode::*, Response, SessionId, TxnOp, Zxid};
use proptest::prelude::*;

fn bytes_of(snapshot: &TreeSnapshot) -> Vec<u8> {
    let mut out = Vec::new();
    snapshot
        .write_to(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

fn read(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
    DataTree::read_snapshot(&mut &bytes[..])
}

/// A tree with a bit of everything: sessions, ephemerals, sequentials, deletes, binary data.
fn busy_tree() -> Harness {
    let mut h = Harness::new();
    h.open(1);
    h.open(2);
    h.create_ok(0, "/app", "config", Persistent);
    h.create_ok(0, "/app/locks", "", Persistent);
    for _ in 0..3 {
        h.create_ok(1, "/app/locks/lock-", "", EphemeralSequential);
    }
    h.create_ok(2, "/app/locks/lock-", "", EphemeralSequential);
    h.create_ok(0, "/app/queue-", "job", PersistentSequential);
    h.apply(0, delete("/app/locks/lock-0000000001", -1));
    h.apply(0, set_data("/app", "config-v2", 0));
    h.create_ok(2, "/e2", "", Ephemeral);
    h.create_ok(0, "/a-b", "sibling sorting before /a/", Persistent);
    h.apply(
        0,
        TxnOp::Create {
            acl: paddock_types::Acl::open(),
            path: "/bin".into(),
            data: bytes::Bytes::from(vec![0u8, 255, 0, 10, 13]).into(),
            mode: Persistent,
        },
    );
    h
}

#[test]
fn round_trip_keeps_digest_reads_sessions_and_ephemerals() {
    let h = busy_tree();
    let bytes = bytes_of(&h.tree.snapshot());
    let copy = read(&bytes).expect("a snapshot we wrote reads back");
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(dump(&copy), dump(&h.tree));
    assert_eq!(copy.last_zxid(), h.tree.last_zxid());
    assert_eq!(copy.node_count(), h.tree.node_count());
    assert_eq!(copy.approximate_data_size(), h.tree.approximate_data_size());
    assert_eq!(copy.sessions(), h.tree.sessions());
    for s in [1, 2] {
        assert_eq!(
            copy.ephemerals(SessionId(s)),
            h.tree.ephemerals(SessionId(s))
        );
    }
    assert_eq!(copy.ephemerals(SessionId(1)).len(), 2);
}

#[test]
fn a_reloaded_tree_behaves_like_the_original() {
    let mut h = busy_tree();
    let mut copy = read(&bytes_of(&h.tree.snapshot())).expect("reads back");
    let followups = [
        (1, TxnOp::CloseSession),
        (0, create("/app/locks/lock-", "", PersistentSequential)),
        (0, delete("/app/locks", -1)),
        (0, create("/e2/x", "", Persistent)),
    ];
    for (session, op) in followups {
        let txn = h.txn(session, op);
        let (a, b) = (h.tree.apply(&txn), copy.apply(&txn));
        assert_eq!(format!("{:?}", a.result), format!("{:?}", b.result));
    }
    assert_eq!(copy.digest(), h.tree.digest());
    assert!(copy.ephemerals(SessionId(1)).is_empty());
}

#[test]
fn empty_tree_round_trips() {
    let tree = DataTree::new();
    let copy = read(&bytes_of(&tree.snapshot())).expect("reads back");
    assert_eq!(copy.digest(), tree.digest());
    assert_eq!(copy.node_count(), 4);
    assert_eq!(copy.last_zxid(), Zxid::ZERO);
}

#[test]
fn a_snapshot_is_frozen_while_the_tree_moves_on() {
    let mut h = busy_tree();
    let before = h.tree.digest();
    let snapshot = h.tree.snapshot();
    let at = snapshot.last_zxid();
    h.apply(0, set_data("/app", "changed", -1));
    h.apply(2, TxnOp::CloseSession);
    h.create_ok(0, "/later", "", Persistent);
    assert_ne!(h.tree.digest(), before);
    // Written from another thread, as the storage layer will.
    let bytes = std::thread::spawn(move || bytes_of(&snapshot))
        .join()
        .expect("no panic");
    let copy = read(&bytes).expect("reads back");
    assert_eq!(copy.digest(), before);
    assert_eq!(copy.last_zxid(), at);
    assert!(copy.exists("/later", None).is_none());
}

#[test]
fn to_tree_restores_in_process() {
    let h = busy_tree();
    let copy = h.tree.snapshot().to_tree();
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(copy.last_zxid(), h.tree.last_zxid());
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = bytes_of(&busy_tree().tree.snapshot());
    for len in 0..bytes.len() {
        assert!(
            read(&bytes[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
    assert!(matches!(
        read(&bytes[..bytes.len() - 1]),
        Err(SnapshotError::Truncated)
    ));
}

#[test]
fn every_single_byte_corruption_is_an_error() {
    let bytes = bytes_of(&busy_tree().tree.snapshot());
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5a;
        assert!(read(&bad).is_err(), "flipping byte {i} went unnoticed");
    }
}

#[test]
fn bad_magic_and_unknown_versions_are_named() {
    let bytes = bytes_of(&DataTree::new().snapshot());
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(read(&bad), Err(SnapshotError::BadMagic)));
    let mut future = bytes.clone();
    future[8] = 4;
    assert!(matches!(
        read(&future),
        Err(SnapshotError::UnsupportedVersion(4))
    ));
    let mut flipped = bytes;
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        read(&flipped),
        Err(SnapshotError::Checksum { .. })
    ));
}

// ---- hand-made snapshots, checksum-valid but inconsistent ----

struct RawNode {
    path: &'static str,
    owner: i64,
    version: i32,
    cversion: i32,
    children: i32,
    data: &'static [u8],
}

fn node(path: &'static str, children: i32) -> RawNode {
    RawNode {
        path,
        owner: 0,
        version: 0,
        cversion: 0,
        children,
        data: b"",
    }
}

/// Encodes the documented format by hand (so the test also pins the format down).
fn raw(sessions: &[i64], nodes: &[RawNode]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"PDKTREE\0");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&77u64.to_le_bytes());
    b.extend_from_slice(&(sessions.len() as u64).to_le_bytes());
    for s in sessions {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&4000i32.to_le_bytes());
        b.extend_from_slice(&[1u8; 16]);
    }
    b.extend_from_slice(&(nodes.len() as u64).to_le_bytes());
    for n in nodes {
        b.extend_from_slice(&(n.path.len() as u32).to_le_bytes());
        b.extend_from_slice(n.path.as_bytes());
        for v in [1i64, 2, 3, 4, 5, n.owner] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [n.version, n.cversion, 0, n.children] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&(n.data.len() as u32).to_le_bytes());
        b.extend_from_slice(n.data);
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn corrupt(bytes: Vec<u8>) -> String {
    match read(&bytes) {
        Err(SnapshotError::Corrupt(why)) => why,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_hand_made_snapshot_in_the_documented_format_loads() {
    let tree = read(&raw(
        &[9],
        &[
            node("/", 2),
            node("/a", 1),
            node("/b", 0),
            RawNode {
                owner: 9,
                data: b"hi",
                ..node("/a/e", 0)
            },
        ],
    ))
    .expect("well formed");
    assert_eq!(tree.last_zxid(), Zxid(77));
    assert_eq!(tree.ephemerals(SessionId(9)), vec!["/a/e".to_string()]);
    assert_eq!(tree.get_data("/a/e", None).unwrap().0.as_ref(), b"hi");
    assert_eq!(tree.session(SessionId(9)).map(|s| s.timeout_ms), Some(4000));
}

#[test]
fn inconsistent_snapshots_are_corrupt() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no nodes", raw(&[], &[])),
        ("root not first", raw(&[], &[node("/a", 0), node("/", 1)])),
        ("orphan", raw(&[], &[node("/", 1), node("/a/b", 0)])),
        (
            "duplicate",
            raw(&[], &[node("/", 2), node("/a", 0), node("/a", 0)]),
        ),
        (
            "unsorted",
            raw(&[], &[node("/", 2), node("/b", 0), node("/a", 0)]),
        ),
        (
            "child count too high",
            raw(&[], &[node("/", 2), node("/a", 0)]),
        ),
        (
            "child count too low",
            raw(&[], &[node("/", 1), node("/a", 0), node("/b", 0)]),
        ),
        ("count on a leaf", raw(&[], &[node("/", 1), node("/a", 1)])),
        ("negative count", raw(&[], &[node("/", 1), node("/a", -1)])),
        ("invalid path", raw(&[], &[node("/", 1), node("/a/", 0)])),
        ("relative path", raw(&[], &[node("/", 1), node("a", 0)])),
        (
            "owner not open",
            raw(
                &[],
                &[
                    node("/", 1),
                    RawNode {
                        owner: 5,
                        ..node("/e", 0)
                    },
                ],
            ),
        ),
        (
            "child of an ephemeral",
            raw(
                &[5],
                &[
                    node("/", 1),
                    RawNode {
                        owner: 5,
                        ..node("/e", 1)
                    },
                    node("/e/c", 0),
                ],
            ),
        ),
        ("session 0", raw(&[0], &[node("/", 0)])),
        ("session twice", raw(&[3, 3], &[node("/", 0)])),
    ];
    for (name, bytes) in cases {
        let why = corrupt(bytes);
        assert!(!why.is_empty(), "{name}");
    }
}

#[test]
fn lying_lengths_and_counts_do_not_allocate_or_hang() {
    // A path length of 4 GiB on a short input.
    let mut b = raw(&[], &[node("/", 0)]);
    let path_len_at = 8 + 4 + 8 + 8 + 8;
    b[path_len_at..path_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(read(&b), Err(SnapshotError::Truncated)));
    // 2^64 sessions / nodes announced, none present.
    let mut b = raw(&[], &[node("/", 0)]);
    b[20..28].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(read(&b).is_err());
    let mut b = raw(&[], &[node("/", 0)]);
    b[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(read(&b).is_err());
}

#[test]
fn versions_and_cversions_wrap_like_javas_ints() {
    let bytes = raw(
        &[],
        &[
            node("/", 1),
            RawNode {
                version: i32::MAX,
                cversion: i32::MAX,
                ..node("/v", 0)
            },
        ],
    );
    let mut h = Harness::new();
    h.tree = read(&bytes).expect("well formed");
    h.next = 78;
    match h.apply(0, set_data("/v", "", i32::MAX)).result {
        Ok(Response::SetData { stat }) => assert_eq!(stat.version, i32::MIN),
        other => panic!("{other:?}"),
    }
    // The cversion wraps to i32::MIN on the first create; the suffix (creates so far, from
    // cversion + children modulo 2^32, halved) keeps increasing through it.
    let (first, _) = h.create_ok(0, "/v/s-", "", PersistentSequential);
    assert_eq!(first, "/v/s-1073741823");
    assert_eq!(
        h.tree.exists("/v", None).map(|s| s.cversion),
        Some(i32::MIN)
    );
    assert_eq!(
        h.create_ok(0, "/v/s-", "", PersistentSequential).0,
        "/v/s-1073741824"
    );
}

fn assert_send_static<T: Send + Sync + 'static>() {}

#[test]
fn snapshots_and_trees_cross_threads() {
    assert_send_static::<TreeSnapshot>();
    assert_send_static::<DataTree>();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"PDKTREE\0\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = read(&bytes);
    }
}

/// Null data (created or set with none) is kept apart from empty data by apply, snapshots and
/// the digest. Fails if a snapshot or a setData loses the distinction.
#[test]
fn null_data_survives_snapshots_and_differs_from_empty_in_the_digest() {
    use paddock_types::Data;
    let with = |data: Data| {
        let mut h = Harness::new();
        h.apply(
            0,
            TxnOp::Create {
                acl: paddock_types::Acl::open(),
                path: "/n".into(),
                data,
                mode: Persistent,
            },
        );
        h
    };
    let null = with(Data::NULL);
    let empty = with(Data::from(""));
    assert!(null.tree.get_data("/n", None).unwrap().0.is_null());
    assert!(!empty.tree.get_data("/n", None).unwrap().0.is_null());
    assert_eq!(null.tree.get_data("/n", None).unwrap().1.data_length, 0);
    assert_ne!(null.tree.digest(), empty.tree.digest());
    let copy = read(&bytes_of(&null.tree.snapshot())).expect("reads back");
    assert!(copy.get_data("/n", None).unwrap().0.is_null());
    assert_eq!(copy.digest(), null.tree.digest());
    // setData to null and back.
    let mut h = empty;
    h.apply(
        0,
        TxnOp::SetData {
            path: "/n".into(),
            data: Data::NULL,
            version: -1,
        },
    );
    assert!(h.tree.get_data("/n", None).unwrap().0.is_null());
    h.apply(0, set_data("/n", "x", -1));
    assert_eq!(h.tree.get_data("/n", None).unwrap().0, "x");
}
