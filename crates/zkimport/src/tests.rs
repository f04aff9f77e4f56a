//! Import tests over small ZooKeeper-format files made by a test-only jute writer (the format
//! as `snapshot.rs` / `txnlog.rs` document it, from ZooKeeper 3.8's serializers).

use std::path::{Path, PathBuf};

use paddock_storage::{DataDir, EpochStore};
use paddock_types::{Acl, Epoch, Id, NodeKind, SessionId, Stat, Zxid};

use crate::adler32::adler32;
use crate::records::{opcode, StatPersisted};
use crate::{read_zookeeper, ImportError, ImportOptions};

/// ZooKeeper's jute encoding, written.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn int(&mut self, v: i32) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn long(&mut self, v: i64) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn byte(&mut self, v: u8) -> &mut W {
        self.0.push(v);
        self
    }
    fn buf(&mut self, v: &[u8]) -> &mut W {
        self.int(v.len() as i32);
        self.0.extend_from_slice(v);
        self
    }
    fn str(&mut self, v: &str) -> &mut W {
        self.buf(v.as_bytes())
    }
    fn acls(&mut self, acl: &[Acl]) -> &mut W {
        self.int(acl.len() as i32);
        for a in acl {
            self.int(a.perms).str(&a.id.scheme).str(&a.id.id);
        }
        self
    }
    fn stat(&mut self, s: &StatPersisted) -> &mut W {
        self.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime);
        self.int(s.version).int(s.cversion).int(s.aversion);
        self.long(s.ephemeral_owner).long(s.pzxid)
    }
    fn seal(&mut self) -> &mut W {
        let crc = adler32(&self.0);
        self.long(crc).str("/")
    }
}

const E1: i64 = 1 << 32;
const E2: i64 = 2 << 32;

fn digest_bob() -> Vec<Acl> {
    vec![Acl::new(31, Id::new("digest", "bob:aGFzaA=="))]
}

fn stat(zxid: i64, owner: i64, cversion: i32, pzxid: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: 1000 + zxid,
        mtime: 1000 + zxid,
        version: 0,
        cversion,
        aversion: 0,
        ephemeral_owner: owner,
        pzxid,
    }
}

/// A snapshot named after zxid E1|5 that is fuzzy: it already holds /fuzzy, created at E1|6.
pub(crate) fn snapshot() -> Vec<u8> {
    let mut w = W::default();
    w.int(i32::from_be_bytes(*b"ZKSN")).int(2).long(0);
    // Sessions.
    w.int(2).long(0x55).int(30_000).long(0x66).int(10_000);
    // ACL cache: key 1 = bob's digest ACL.
    w.int(1).long(1).acls(&digest_bob());
    // Nodes, parents first; the root is "".
    let node = |w: &mut W, path: &str, data: &[u8], acl: i64, s: StatPersisted| {
        w.str(path).buf(data).long(acl).stat(&s);
    };
    node(&mut w, "", b"", -1, stat(0, 0, 3, E1 | 6));
    node(&mut w, "/app", b"v1", 1, stat(E1 | 2, 0, 1, E1 | 3));
    node(&mut w, "/app/eph", b"e", -1, stat(E1 | 3, 0x55, 0, E1 | 3));
    node(&mut w, "/fuzzy", b"f", -1, stat(E1 | 6, 0, 0, E1 | 6));
    node(&mut w, "/zookeeper", b"", -1, stat(0, 0, 0, 0));
    node(
        &mut w,
        "/zookeeper/config",
        b"server.1=zk:2888:3888",
        -1,
        stat(0, 0, 0, 0),
    );
    node(&mut w, "/zookeeper/quota", b"", -1, stat(0, 0, 0, 0));
    w.str("/");
    w.seal();
    // 3.6+ digest section, sealed again.
    w.long(E1 | 5).int(2).long(0x1234);
    w.seal();
    w.0
}

fn txn(client: i64, zxid: i64, kind: i32, record: impl FnOnce(&mut W)) -> Vec<u8> {
    let mut w = W::default();
    w.long(client).int(1).long(zxid).long(1000 + zxid).int(kind);
    record(&mut w);
    w.0
}

fn create<'a>(
    path: &'a str,
    data: &'a [u8],
    ephemeral: bool,
    parent_cversion: i32,
) -> impl FnOnce(&mut W) + 'a {
    move |w: &mut W| {
        w.str(path)
            .buf(data)
            .acls(&Acl::open())
            .byte(ephemeral as u8)
            .int(parent_cversion);
    }
}

fn sub(kind: i32, record: impl FnOnce(&mut W)) -> (i32, Vec<u8>) {
    let mut w = W::default();
    record(&mut w);
    (kind, w.0)
}

fn multi(subs: Vec<(i32, Vec<u8>)>) -> impl FnOnce(&mut W) {
    move |w: &mut W| {
        w.int(subs.len() as i32);
        for (k, b) in subs {
            w.int(k).buf(&b);
        }
    }
}

pub(crate) fn log(txns: &[Vec<u8>], padding: usize) -> Vec<u8> {
    let mut w = W::default();
    w.int(i32::from_be_bytes(*b"ZKLG")).int(2).long(0);
    for t in txns {
        w.long(adler32(t)).buf(t).byte(b'B');
    }
    w.0.resize(w.0.len() + padding, 0);
    w.0
}

/// The first log starts before the snapshot (its first txns are in it) and ends in padding.
fn log1() -> Vec<u8> {
    log(&log1_txns(), 1000)
}

/// The records of [`log1`]: a txn of every kind ZooKeeper logs.
pub(crate) fn log1_txns() -> Vec<Vec<u8>> {
    use opcode::*;
    vec![
        txn(0x55, E1 | 3, CREATE, create("/app/eph", b"e", true, 1)),
        // In the snapshot's fuzzy window: applied again, NodeExists, tolerated.
        txn(0x55, E1 | 6, CREATE, create("/fuzzy", b"f", false, 3)),
        txn(
            0x55,
            E1 | 7,
            CREATE2,
            create("/app/seq-0000000001", b"s", false, 2),
        ),
        txn(0x55, E1 | 8, SET_DATA, |w| {
            w.str("/app").buf(b"v2").int(1);
        }),
        txn(0x55, E1 | 9, CREATE_CONTAINER, |w| {
            w.str("/c").buf(b"").acls(&Acl::open()).int(4);
        }),
        txn(0x55, E1 | 10, CREATE_TTL, |w| {
            w.str("/t").buf(b"ttl").acls(&Acl::open()).int(5).long(5000);
        }),
        txn(
            0x55,
            E1 | 11,
            MULTI,
            multi(vec![
                sub(CREATE, create("/m1", b"m", false, 6)),
                sub(SET_DATA, |w| {
                    w.str("/app").buf(b"v3").int(2);
                }),
                sub(DELETE, |w| {
                    w.str("/app/seq-0000000001");
                }),
                sub(CHECK, |w| {
                    w.str("/app").int(2);
                }),
            ]),
        ),
        // A failed multi: nothing happens.
        txn(
            0x55,
            E1 | 12,
            MULTI,
            multi(vec![
                sub(CREATE, create("/nope", b"", false, 7)),
                sub(ERROR, |w| {
                    w.int(-101);
                }),
            ]),
        ),
        txn(0x55, E1 | 13, SET_ACL, |w| {
            w.str("/app").acls(&Acl::read_unsafe()).int(1);
        }),
        txn(0x77, E1 | 14, CREATE_SESSION, |w| {
            w.int(4000);
        }),
        txn(0x77, E1 | 15, CREATE, create("/e2", b"", true, 7)),
        txn(0x66, E1 | 16, CLOSE_SESSION, |w| {
            w.int(0);
        }),
        txn(0x55, E1 | 17, ERROR, |w| {
            w.int(-110);
        }),
    ]
}

/// A second log, in epoch 2, that simply ends.
fn log2() -> Vec<u8> {
    use opcode::*;
    let txns = vec![
        txn(0x55, E2 | 1, CLOSE_SESSION, |w| {
            w.int(1).str("/app/eph");
        }),
        txn(0x55, E2 | 2, DELETE, |w| {
            w.str("/c");
        }),
    ];
    log(&txns, 0)
}

/// A ZooKeeper dataDir with the files above; returns (dir guard, dataDir).
pub(crate) fn zk_dir(files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let v2 = dir.path().join("zk").join("version-2");
    std::fs::create_dir_all(&v2).expect("mkdir");
    for (name, bytes) in files {
        std::fs::write(v2.join(name), bytes).expect("write");
    }
    let zk = dir.path().join("zk");
    (dir, zk)
}

pub(crate) fn standard() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("snapshot.100000005", snapshot()),
        ("log.100000001", log1()),
        ("log.200000001", log2()),
    ]
}

fn stat_of(tree: &paddock_datatree::DataTree, path: &str) -> Stat {
    tree.exists(path, None)
        .unwrap_or_else(|| panic!("{path} missing"))
}

#[test]
fn replays_the_logs_over_a_fuzzy_snapshot() {
    let (_g, zk) = zk_dir(&standard());
    let state = read_zookeeper(&zk, None).expect("import");
    let t = &state.tree;
    assert_eq!(t.last_zxid(), Zxid((E2 | 2) as u64));
    assert_eq!(state.logs.len(), 2);
    assert_eq!(state.txns_replayed, 14);

    let (data, app) = t.get_data("/app", None).expect("/app");
    assert_eq!(&data[..], b"v3");
    assert_eq!((app.version, app.aversion, app.mzxid), (2, 1, E1 | 11));
    // The create of the sequential node raised the stored cversion to 2; the deletes moved
    // pzxid only. Served (and imported): 2 * 2 creates - 0 children = 4 changes.
    assert_eq!((app.cversion, app.pzxid, app.num_children), (4, E2 | 1, 0));
    let (acl, _) = t
        .get_acl("/app", SessionId(1), &[Id::super_user()])
        .expect("acl");
    assert_eq!(acl, Acl::read_unsafe());

    for gone in ["/app/eph", "/app/seq-0000000001", "/nope", "/c"] {
        assert!(t.exists(gone, None).is_none(), "{gone}");
    }
    let m1 = stat_of(t, "/m1");
    assert_eq!(
        (m1.czxid, m1.ctime, m1.data_length),
        (E1 | 11, 1000 + (E1 | 11), 1)
    );
    let ttl = stat_of(t, "/t");
    assert_eq!(
        NodeKind::from_owner(ttl.ephemeral_owner),
        NodeKind::Ttl { ttl_ms: 5000 }
    );
    let e2 = stat_of(t, "/e2");
    assert_eq!(e2.ephemeral_owner, 0x77);
    assert_eq!(t.ephemerals(SessionId(0x77)), vec!["/e2".to_string()]);
    let fuzzy = stat_of(t, "/fuzzy");
    assert_eq!(fuzzy.czxid, E1 | 6);
    let root = stat_of(t, "/");
    // Children: app, e2, fuzzy, m1, t, zookeeper; the last create's parentCVersion was 7, so
    // ZooKeeper serves 2 * 7 - 6 = 8.
    assert_eq!(
        (root.num_children, root.cversion, root.pzxid),
        (6, 8, E2 | 2)
    );

    // Sessions: 0x55 and 0x66 closed, 0x77 open with its timeout and ZooKeeper's password.
    let sessions = t.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].0, SessionId(0x77));
    assert_eq!(sessions[0].1.timeout_ms, 4000);
    assert_eq!(sessions[0].1.password, crate::zookeeper_password(0x77));

    // /zookeeper and its config are Paddock's; quota is kept.
    let (config, _) = t.get_data("/zookeeper/config", None).expect("config");
    assert!(config.is_empty());
    assert_eq!(stat_of(t, "/zookeeper").num_children, 2);
    assert!(t.exists("/zookeeper/quota", None).is_some());
}

#[test]
fn writes_a_data_dir_a_server_opens() {
    let (g, zk) = zk_dir(&standard());
    let out = g.path().join("paddock");
    let report = crate::import(&ImportOptions {
        from: zk.clone(),
        from_log: None,
        data_dir: out.clone(),
        storage: Default::default(),
    })
    .expect("import");
    assert_eq!(report.epoch, Epoch(2));
    let text = report.to_string();
    assert!(text.contains("last zxid 0x200000002"), "{text}");

    let (data, rec) = DataDir::open(&out).expect("open");
    assert_eq!(rec.latest_snapshot, Some(Zxid((E2 | 2) as u64)));
    assert_eq!(rec.last_zxid, Zxid((E2 | 2) as u64));
    assert_eq!(data.epochs().current_epoch(), Epoch(2));
    assert_eq!(data.epochs().accepted_epoch(), Epoch(2));
    drop(data);

    // A second import into it is refused.
    let again = crate::import(&ImportOptions {
        from: zk,
        from_log: None,
        data_dir: out,
        storage: Default::default(),
    });
    assert!(matches!(again, Err(ImportError::NotEmpty(_))), "{again:?}");
}

#[test]
fn logs_in_their_own_dir_and_a_bare_version_dir() {
    let (g, zk) = zk_dir(&[("snapshot.100000005", snapshot())]);
    let logs = g.path().join("logs").join("version-2");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(logs.join("log.100000001"), log1()).expect("write");
    let state =
        read_zookeeper(&zk.join("version-2"), Some(&g.path().join("logs"))).expect("import");
    assert_eq!(state.tree.last_zxid(), Zxid((E1 | 17) as u64));
}

fn damaged(files: &[(&str, Vec<u8>)]) -> (String, PathBuf, u64) {
    let (_g, zk) = zk_dir(files);
    match read_zookeeper(&zk, None) {
        Err(ImportError::Damaged { path, offset, what }) => (what, path, offset),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

#[test]
fn a_flipped_byte_is_a_checksum_error_naming_the_file() {
    let mut snap = snapshot();
    let at = snap.windows(2).position(|w| w == b"v1").expect("data");
    snap[at] ^= 0x01;
    let (what, path, offset) = damaged(&[("snapshot.100000005", snap.clone())]);
    assert!(what.contains("checksum mismatch"), "{what}");
    assert_eq!(file_name(&path), "snapshot.100000005");
    assert!(offset > at as u64);
    // The error message names both.
    let e = ImportError::Damaged { path, offset, what };
    assert!(
        e.to_string().contains("snapshot.100000005: at offset"),
        "{e}"
    );

    let mut l = log1();
    let at = l.windows(2).position(|w| w == b"v2").expect("data");
    l[at] = b'X';
    let (what, path, _) = damaged(&[("snapshot.100000005", snapshot()), ("log.100000001", l)]);
    assert!(what.contains("checksum mismatch"), "{what}");
    assert_eq!(file_name(&path), "log.100000001");
}

#[test]
fn a_record_cut_short_is_refused_but_a_log_that_ends_is_not() {
    let l = log2();
    // Cut inside the second entry.
    let cut = l[..l.len() - 5].to_vec();
    let (what, path, offset) =
        damaged(&[("snapshot.100000005", snapshot()), ("log.200000001", cut)]);
    assert!(what.contains("cut short"), "{what}");
    assert_eq!(file_name(&path), "log.200000001");
    assert!(offset > 16);
    // Cut between entries: just a shorter log.
    let first_len = 8
        + 4
        + txn(0x55, E2 | 1, opcode::CLOSE_SESSION, |w| {
            w.int(1).str("/app/eph");
        })
        .len()
        + 1;
    let (_g, zk) = zk_dir(&[
        ("snapshot.100000005", snapshot()),
        ("log.200000001", l[..16 + first_len].to_vec()),
    ]);
    let state = read_zookeeper(&zk, None).expect("a log that ends");
    assert_eq!(state.tree.last_zxid(), Zxid((E2 | 1) as u64));
    // A missing end-of-record byte.
    let mut no_eor = l.clone();
    no_eor[16 + first_len - 1] = b'X';
    let (what, _, _) = damaged(&[
        ("snapshot.100000005", snapshot()),
        ("log.200000001", no_eor),
    ]);
    assert!(what.contains("end-of-record"), "{what}");
    // A torn write at the end of a preallocated file (the entry's tail and its EOR byte still
    // zeros) is what a crash leaves: dropped, reported, as ZooKeeper does.
    let mut torn = l.clone();
    torn.resize(torn.len() + 64, 0); // the preallocated padding
    let second = 16 + first_len;
    for b in &mut torn[second + 15..] {
        *b = 0;
    }
    let (_g, zk) = zk_dir(&[("snapshot.100000005", snapshot()), ("log.200000001", torn)]);
    let state = read_zookeeper(&zk, None).expect("a torn tail is a crash's");
    assert_eq!(state.tree.last_zxid(), Zxid((E2 | 1) as u64));
    assert_eq!(state.torn_tails.len(), 1);
    assert_eq!(state.torn_tails[0].1, second as u64);
    // The same entry complete but with a flipped byte is damage, padding or not.
    let mut flipped = l.clone();
    flipped.resize(flipped.len() + 64, 0);
    flipped[second + 20] ^= 0x40;
    let (what, _, _) = damaged(&[
        ("snapshot.100000005", snapshot()),
        ("log.200000001", flipped),
    ]);
    assert!(what.contains("checksum mismatch"), "{what}");
    // Garbage after the zero padding starts.
    let mut l1 = log1();
    let n = l1.len();
    l1[n - 10] = 7;
    let (what, _, _) = damaged(&[("snapshot.100000005", snapshot()), ("log.100000001", l1)]);
    assert!(what.contains("after the end of the log"), "{what}");
}

#[test]
fn bad_magic_is_refused() {
    let mut snap = snapshot();
    snap[0] = b'X';
    let (what, _, offset) = damaged(&[("snapshot.100000005", snap)]);
    assert!(what.contains("bad magic"), "{what}");
    assert_eq!(offset, 0);
    let mut l = log1();
    l[1] = b'X';
    let (what, path, _) = damaged(&[("snapshot.100000005", snapshot()), ("log.100000001", l)]);
    assert!(what.contains("bad magic"), "{what}");
    assert_eq!(file_name(&path), "log.100000001");
}

#[test]
fn an_incomplete_newer_snapshot_is_passed_over() {
    let mut files = standard();
    let partial = snapshot()[..100].to_vec();
    files.push(("snapshot.100000009", partial));
    let (_g, zk) = zk_dir(&files);
    let state = read_zookeeper(&zk, None).expect("import");
    assert_eq!(state.incomplete_snapshots.len(), 1);
    assert_eq!(file_name(&state.snapshot), "snapshot.100000005");
}

#[test]
fn missing_transactions_are_refused() {
    // A txn missing in the middle of an epoch (zxids run on by one within an epoch; a new epoch
    // starts at counter 1, so a lost log across an epoch change cannot be told).
    use opcode::*;
    let gap = log(
        &[
            txn(0x55, E1 | 6, CREATE, create("/fuzzy", b"f", false, 3)),
            txn(0x55, E1 | 8, CREATE, create("/g", b"", false, 4)),
        ],
        0,
    );
    let (_g, zk) = zk_dir(&[("snapshot.100000005", snapshot()), ("log.100000006", gap)]);
    let e = read_zookeeper(&zk, None).expect_err("a gap");
    assert!(matches!(e, ImportError::Missing(_)), "{e}");
    assert!(e.to_string().contains("log.100000006"), "{e}");
    assert!(e.to_string().contains("0x100000008"), "{e}");
    // A snapshot, no logs: probably a separate dataLogDir not given.
    let (_g, zk) = zk_dir(&[("snapshot.100000005", snapshot())]);
    let e = read_zookeeper(&zk, None).expect_err("no logs");
    assert!(e.to_string().contains("--from-log"), "{e}");
    // ... accepted when the caller says where the logs are.
    let state = read_zookeeper(&zk, Some(&zk)).expect("the snapshot alone");
    assert_eq!(state.tree.last_zxid(), Zxid((E1 | 5) as u64));
}

#[test]
fn an_unknown_txn_type_is_refused() {
    // Like ZooKeeper, which will not start on a txn it cannot read.
    let l = log(
        &[txn(0x55, E1 | 6, 99, |w| {
            w.int(0);
        })],
        0,
    );
    let (_g, zk) = zk_dir(&[("snapshot.100000005", snapshot()), ("log.100000006", l)]);
    let e = read_zookeeper(&zk, None).expect_err("unknown type");
    assert!(e.to_string().contains("type 99"), "{e}");
}

#[test]
fn follows_is_next_counter_or_a_new_epoch() {
    assert!(crate::follows(E1 | 5, E1 | 6));
    assert!(crate::follows(E1 | 5, E2 | 1));
    assert!(crate::follows(0, 1));
    assert!(!crate::follows(E1 | 5, E1 | 7));
    assert!(!crate::follows(E1 | 5, E2 | 2));
    assert!(!crate::follows(E2 | 5, E1 | 6));
}

#[test]
fn no_snapshot_is_refused() {
    let (_g, zk) = zk_dir(&[("log.100000001", log1())]);
    let e = read_zookeeper(&zk, None).expect_err("no snapshot");
    assert!(
        e.to_string().contains("no complete ZooKeeper snapshot"),
        "{e}"
    );
}
