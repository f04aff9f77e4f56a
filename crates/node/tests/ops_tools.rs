//! The offline operator tools and backup/restore (issue 19 item 4), through the real `paddock`
//! binary: `dump snapshot`, `dump log` (golden files of a data dir built from fixed
//! transactions), `tree-digest`, `snapshot save` from a running server, `restore` into a new
//! data dir — standalone and a fresh 3-server ensemble — and the refusals (a backup cut short
//! or altered, a non-empty target, a directory in use, a caller without cdrwa on `/`).
//!
//! Golden files live in `tests/golden/`; `UPDATE_GOLDEN=1 cargo test -p paddock-node --test
//! ops_tools` rewrites them (review the diff).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_proto::v1 as pb;
use paddock_storage::{DataDir, EpochStore, SnapshotStore, TxnLog};
use paddock_types::op::{CreateMode, MultiOp};
use paddock_types::{Acl, Epoch, Id, SessionId, Txn, TxnHeader, TxnOp, Zxid};
use rand::{Rng, SeedableRng};
use support::*;

/// ZooKeeper's documented super:test digest.
const SUPER: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// Runs `paddock args...` to completion (bounded), capturing stdout and stderr.
async fn paddock(args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_paddock"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("PADDOCK_CONFIG")
        .env_remove("PADDOCK_DATA_DIR")
        .env_remove("PADDOCK_SNAPSHOT_AUTH")
        .kill_on_drop(true);
    within(&format!("paddock {args:?}"), cmd.output())
        .await
        .expect("run paddock")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

// ---------------------------------------------------------------------------------------------
// A data dir built from fixed transactions: every time, session id and zxid known.
// ---------------------------------------------------------------------------------------------

const S1: SessionId = SessionId(0x0100_0000_0000_0001);
const S2: SessionId = SessionId(0x0100_0000_0000_0002);
/// 2026-12-06T06:00:00Z.
const T0: i64 = 1_796_536_800_000;

fn txn(counter: u64, session: SessionId, cxid: i64, op: TxnOp) -> Txn {
    Txn {
        header: TxnHeader {
            session,
            cxid,
            zxid: Zxid((1 << 32) | counter),
            time_ms: T0 + counter as i64 * 1_000,
            conn_ids: vec![Id::new("ip", "127.0.0.1")],
            legacy_sequence: false,
        },
        op,
    }
}

fn create(path: &str, data: &[u8], mode: CreateMode, acl: Vec<Acl>) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: Bytes::copy_from_slice(data).into(),
        mode,
        acl,
    }
}

/// The transactions of the golden data dir: the first `SNAPSHOT_AT` are in its snapshot, all
/// of them in its log.
fn golden_txns() -> Vec<Txn> {
    let digest_acl = vec![Acl::new(
        31,
        Id::new("digest", "app:F6Y+U5gIoCbNNoLQExmvxRFeatA="),
    )];
    vec![
        txn(
            1,
            S1,
            0,
            TxnOp::CreateSession {
                timeout_ms: 30_000,
                password: [7; 16],
            },
        ),
        txn(
            2,
            S1,
            1,
            create("/app", b"hello", CreateMode::Persistent, Acl::open()),
        ),
        txn(
            3,
            S1,
            2,
            create(
                "/app/cfg",
                &[0, 1, 2, 255],
                CreateMode::Persistent,
                digest_acl,
            ),
        ),
        txn(
            4,
            S1,
            3,
            create("/app/lock", b"", CreateMode::Ephemeral, Acl::open()),
        ),
        txn(
            5,
            S1,
            4,
            TxnOp::SetData {
                path: "/app".into(),
                data: Bytes::from_static(b"hello, world").into(),
                version: 0,
            },
        ),
        txn(
            6,
            S2,
            0,
            TxnOp::CreateSession {
                timeout_ms: 10_000,
                password: [9; 16],
            },
        ),
        // --- the snapshot is taken here ---
        txn(
            7,
            S2,
            1,
            TxnOp::Multi(vec![
                MultiOp::Check {
                    path: "/app".into(),
                    version: 1,
                },
                MultiOp::Create {
                    path: "/app/job-".into(),
                    data: Bytes::from_static(b"j").into(),
                    mode: CreateMode::PersistentSequential,
                    acl: Acl::open(),
                },
            ]),
        ),
        txn(
            8,
            S2,
            2,
            TxnOp::AddAuth {
                ids: vec![Id::new("digest", "app:F6Y+U5gIoCbNNoLQExmvxRFeatA=")],
            },
        ),
        txn(
            9,
            S2,
            3,
            TxnOp::Delete {
                path: "/app/job-0000000002".into(),
                version: -1,
            },
        ),
        txn(10, S1, 5, TxnOp::CloseSession),
    ]
}

const SNAPSHOT_AT: usize = 6;

/// Writes the golden data dir into `dir`; returns the digest of its full state.
fn build_golden_dir(dir: &Path) -> u64 {
    let txns = golden_txns();
    let mut tree = DataTree::new();
    let (data, _) = DataDir::open(dir).expect("open the data dir");
    for (i, t) in txns.iter().enumerate() {
        let applied = tree.apply(t);
        assert!(applied.result.is_ok(), "txn {i}: {:?}", applied.result);
        if i + 1 == SNAPSHOT_AT {
            let mut sink = data.snapshots().create(t.zxid()).expect("snapshot sink");
            tree.snapshot().write_to(&mut sink).expect("write snapshot");
            sink.commit().expect("commit snapshot");
        }
    }
    let records: Vec<(Zxid, Bytes)> = txns
        .iter()
        .map(|t| (t.zxid(), Bytes::from(t.encode())))
        .collect();
    data.log().append(&records).expect("append");
    data.log().sync().expect("sync");
    data.epochs().set_accepted_epoch(Epoch(1)).expect("epoch");
    data.epochs().set_current_epoch(Epoch(1)).expect("epoch");
    tree.digest()
}

/// Every file under `dir` with its bytes (`paddock.lock` aside): to prove a tool wrote nothing.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "paddock.lock") {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(
                    path.strip_prefix(dir).expect("under dir").to_path_buf(),
                    bytes,
                );
            }
        }
    }
    out
}

/// Compares `actual` (with `dir` written as `<DIR>`) with `tests/golden/<name>`, or rewrites it
/// under `UPDATE_GOLDEN=1`.
#[track_caller]
fn golden(name: &str, actual: &str, dir: &Path) {
    let actual = actual.replace(p(dir), "<DIR>");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n--- expected\n{}\n--- actual\n{}\n(all of it)\n{actual}",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end>"),
            actual.lines().nth(first).unwrap_or("<end>"),
        );
    }
}

/// Tools: dump of a known data dir (golden file). The dumps and the digest read the directory
/// without writing to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dumps_of_a_known_data_dir_match_the_golden_files() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    let digest = build_golden_dir(&dir);
    let before = contents(&dir);
    let d = p(&dir);

    let snap = paddock(&["dump", "snapshot", "--data-dir", d]).await;
    assert_exit(&snap, 0);
    golden("dump_snapshot.txt", &stdout(&snap), &dir);
    let snap_json = paddock(&["dump", "snapshot", "--json", "--data-dir", d]).await;
    assert_exit(&snap_json, 0);
    golden("dump_snapshot.json", &stdout(&snap_json), &dir);
    let v: serde_json::Value = serde_json::from_str(&stdout(&snap_json)).expect("valid JSON");
    assert_eq!(v["zxid"], "0x100000006");
    assert_eq!(v["nodes"][0]["path"], "/");

    let log = paddock(&["dump", "log", "--data-dir", d]).await;
    assert_exit(&log, 0);
    golden("dump_log.txt", &stdout(&log), &dir);
    let log_json = paddock(&["dump", "log", "--json", "--data-dir", d]).await;
    assert_exit(&log_json, 0);
    golden("dump_log.jsonl", &stdout(&log_json), &dir);
    let lines: Vec<serde_json::Value> = stdout(&log_json)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), golden_txns().len());
    assert_eq!(lines[6]["type"], "multi");

    let sum = paddock(&["tree-digest", d]).await;
    assert_exit(&sum, 0);
    assert!(
        stdout(&sum).contains(&format!("digest {digest:016x} zxid 0x10000000a")),
        "{}",
        stdout(&sum)
    );
    assert_eq!(contents(&dir), before, "a tool changed the data dir");

    // The same state from the log alone: the snapshot damaged is moved aside in the copy only.
    let snap_file = dir.join("snapshots/snapshot.0000000100000006");
    let mut bytes = std::fs::read(&snap_file).expect("read snapshot");
    bytes[40] ^= 0x55;
    std::fs::write(&snap_file, &bytes).expect("damage snapshot");
    let damaged = paddock(&["dump", "snapshot", "--data-dir", d]).await;
    assert_exit(&damaged, 3);
    assert!(
        stderr(&damaged).contains("checksum mismatch"),
        "{}",
        stderr(&damaged)
    );
    let sum = paddock(&["tree-digest", d]).await;
    assert_exit(&sum, 0);
    assert!(
        stdout(&sum).contains(&format!("digest {digest:016x}")),
        "{}",
        stdout(&sum)
    );
    let note = format!(
        "snapshot {} fails verification",
        dir.join("snapshots/snapshot.0000000100000006").display()
    );
    assert!(stderr(&sum).contains(&note), "{}", stderr(&sum));
    assert!(dir.join("snapshots/snapshot.0000000100000006").exists());
}

/// The log tools refuse a directory a server holds (its log is being written); a snapshot
/// file can still be dumped.
/// `dump log --from-zxid A --to-zxid B` prints exactly the lines of the full dump whose zxid
/// is in [A, B], in order; either end may be left out; an empty range is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_log_prints_only_the_zxid_range_asked_for() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    build_golden_dir(&dir);
    let d = p(&dir);
    let full = paddock(&["dump", "log", "--data-dir", d]).await;
    assert_exit(&full, 0);
    let full = stdout(&full);
    // The transaction lines of the full dump whose zxid satisfies `keep`.
    let lines_where = |keep: &dyn Fn(u64) -> bool| -> Vec<String> {
        full.lines()
            .filter(|l| {
                l.split(" zxid ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|z| u64::from_str_radix(z.trim_start_matches("0x"), 16).ok())
                    .is_some_and(keep)
            })
            .map(str::to_string)
            .collect()
    };

    let mid = paddock(&[
        "dump",
        "log",
        "--from-zxid",
        "0x100000005",
        "--to-zxid",
        "4294967303", // 0x100000007, in decimal
        "--data-dir",
        d,
    ])
    .await;
    assert_exit(&mid, 0);
    let mid = stdout(&mid);
    let printed: Vec<&str> = mid.lines().filter(|l| l.contains(" zxid ")).collect();
    let expected = lines_where(&|z| (0x1_0000_0005..=0x1_0000_0007).contains(&z));
    assert_eq!(expected.len(), 3);
    assert_eq!(printed, expected);
    assert!(
        mid.contains("Transactions 0x100000005 through 0x100000007:"),
        "{mid}"
    );
    assert!(mid.ends_with("3 txns in the range.\n"), "{mid}");

    let tail = paddock(&[
        "dump",
        "log",
        "--json",
        "--from-zxid",
        "0x100000009",
        "--data-dir",
        d,
    ])
    .await;
    assert_exit(&tail, 0);
    let zxids: Vec<String> = stdout(&tail)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["zxid"].as_str().expect("text").to_string()
        })
        .collect();
    assert_eq!(zxids, ["0x100000009", "0x10000000a"]);

    let head = paddock(&["dump", "log", "--to-zxid", "0x100000002", "--data-dir", d]).await;
    assert_exit(&head, 0);
    let printed: Vec<String> = stdout(&head)
        .lines()
        .filter(|l| l.contains(" zxid "))
        .map(str::to_string)
        .collect();
    assert_eq!(printed, lines_where(&|z| z <= 0x1_0000_0002));

    let empty = paddock(&[
        "dump",
        "log",
        "--from-zxid",
        "0x100000007",
        "--to-zxid",
        "0x100000006",
        "--data-dir",
        d,
    ])
    .await;
    assert_exit(&empty, 2);
    assert!(
        stderr(&empty).contains("nothing to print"),
        "{}",
        stderr(&empty)
    );
    let bad = paddock(&["dump", "log", "--from-zxid", "0xZZ", "--data-dir", d]).await;
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("is not a zxid"), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_in_use_is_refused_by_the_log_tools_only() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    build_golden_dir(&dir);
    let (_held, _) = DataDir::open(&dir).expect("hold the data dir");
    for args in [
        vec!["dump", "log", "--data-dir", p(&dir)],
        vec!["tree-digest", p(&dir)],
    ] {
        let o = paddock(&args).await;
        assert_exit(&o, 1);
        assert!(
            stderr(&o).contains("is in use by a running server"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = paddock(&["dump", "snapshot", "--data-dir", p(&dir)]).await;
    assert_exit(&o, 0);
}

// ---------------------------------------------------------------------------------------------
// Backups of running servers.
// ---------------------------------------------------------------------------------------------

/// A seeded tree: nested nodes with text and binary data, an ACL'd node, an ephemeral (of
/// `owner`, kept open by the caller). Returns the paths created with their data.
async fn populate(s: &mut Session, owner: &mut Session, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut made = Vec::new();
    for a in 0..4 {
        let top = format!("/t{a}");
        s.create_ok(
            &top,
            format!("top {a}").as_bytes(),
            pb::CreateMode::Persistent,
        )
        .await;
        made.push((top.clone(), format!("top {a}").into_bytes()));
        for b in 0..rng.random_range(1..6) {
            let path = format!("{top}/n{b}");
            let len = rng.random_range(0..200);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            s.create_ok(&path, &data, pb::CreateMode::Persistent).await;
            made.push((path, data));
        }
    }
    ok(&s
        .call(op::create_acl(
            "/secret",
            b"s",
            pb::CreateMode::Persistent,
            vec![op::acl(31, "digest", "app:F6Y+U5gIoCbNNoLQExmvxRFeatA=")],
        ))
        .await);
    owner
        .create_ok("/t0/eph", b"e", pb::CreateMode::Ephemeral)
        .await;
    made
}

/// `app:secret` as ZooKeeper's digest scheme stores it.
const APP: &str = "app:F6Y+U5gIoCbNNoLQExmvxRFeatA=";

/// Saves a backup of the server at `addr` into `file` (`extra` flags too).
async fn save(file: &Path, addr: &str, extra: &[&str]) -> Output {
    let mut args = vec!["snapshot", "save", p(file), "--server", addr];
    args.extend_from_slice(extra);
    paddock(&args).await
}

/// The `Digest: ` line of a snapshot dump.
fn dump_digest(o: &Output) -> String {
    stdout(o)
        .lines()
        .find_map(|l| l.strip_prefix("Digest: ").map(str::to_string))
        .expect("a digest line")
}

/// Tools: backup -> restore -> identical tree and digest (`tree-digest` equal), and the
/// restored directory serves the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_gives_the_same_tree_and_digest() {
    let mut node = TestNode::start().await;
    let addr = node.addr.to_string();
    let mut s = node.session().await;
    let mut owner = node.session().await;
    let made = populate(&mut s, &mut owner, 19).await;

    let tmp = tempfile::tempdir().expect("temp dir");
    let backup = tmp.path().join("backup.snap");
    let saved = save(&backup, &addr, &[]).await;
    assert_exit(&saved, 0);
    assert!(
        stdout(&saved).contains("Snapshot saved at"),
        "{}",
        stdout(&saved)
    );
    assert!(!tmp.path().join("backup.snap.part").exists());

    let restored = tmp.path().join("restored");
    let r = paddock(&["restore", "--from", p(&backup), "--data-dir", p(&restored)]).await;
    assert_exit(&r, 0);
    assert!(stdout(&r).contains("restored"), "{}", stdout(&r));

    // The backup's and the restored dir's dumps agree line for line (the file name aside).
    let dump_backup = paddock(&["dump", "snapshot", p(&backup)]).await;
    let dump_restored = paddock(&["dump", "snapshot", "--data-dir", p(&restored)]).await;
    assert_exit(&dump_backup, 0);
    assert_exit(&dump_restored, 0);
    let body = |o: &Output| stdout(o).lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&dump_backup), body(&dump_restored));
    assert!(
        stdout(&dump_backup).contains("\n  /t0/eph\n"),
        "the ephemeral, under its session"
    );

    // Nothing was written since the backup: the source's state and the restored one are equal.
    let source = node.dir.path().to_path_buf();
    node.stop().await;
    drop((s, owner));
    let cmp = paddock(&["tree-digest", p(&source), p(&restored)]).await;
    assert_exit(&cmp, 0);
    let digest = dump_digest(&dump_backup);
    assert!(
        stdout(&cmp).contains(&format!("EQUAL: digest {digest}")),
        "{}",
        stdout(&cmp)
    );

    // A server starts on the restored dir and serves the data; a backup of it is the same tree.
    // (Backed up before any session opens: creating one is a write.)
    let server = Paddock::spawn(&restored, &[]).await;
    let again = tmp.path().join("again.snap");
    assert_exit(&save(&again, &server.addr.to_string(), &[]).await, 0);
    let dump_again = paddock(&["dump", "snapshot", p(&again)]).await;
    assert_eq!(dump_digest(&dump_again), digest);
    let mut s = server.session().await;
    for (path, data) in &made {
        let (got, _) = s.data(path).await;
        assert_eq!(&got[..], &data[..], "{path}");
    }
}

/// Tools: restore the same backup into 3 fresh data dirs and start a 3-server ensemble from
/// them: every member serves the data, takes new writes, and ends with the same digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_backup_restored_into_three_data_dirs_starts_an_ensemble() {
    let mut node = TestNode::start().await;
    let mut s = node.session().await;
    let mut owner = node.session().await;
    let made = populate(&mut s, &mut owner, 7).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let backup = tmp.path().join("backup.snap");
    assert_exit(&save(&backup, &node.addr.to_string(), &[]).await, 0);
    node.stop().await;
    drop((s, owner));

    let bin = env!("CARGO_BIN_EXE_paddock");
    let mut e = LocalEnsemble::start_prepared(
        3,
        |ports| {
            ensemble_cfg(
                ports,
                &[
                    "tickTime=100",
                    "initLimit=10",
                    "syncLimit=5",
                    "maxSessionTimeout=30000",
                ],
            )
        },
        |_| Vec::new(),
        |_, dir| {
            let out = std::process::Command::new(bin)
                .args(["restore", "--from", p(&backup), "--data-dir", p(dir)])
                .env_remove("RUST_LOG")
                .output()
                .expect("run paddock restore");
            assert!(
                out.status.success(),
                "restore: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        },
    )
    .await;

    for peer in &e.peers {
        let mut s = Session::open(peer.addr, LONG_TIMEOUT_MS).await;
        for (path, data) in &made {
            let (got, _) = s.data(path).await;
            assert_eq!(&got[..], &data[..], "server.{} {path}", peer.id);
        }
        s.create_ok(
            &format!("/after-{}", peer.id),
            b"new",
            pb::CreateMode::Persistent,
        )
        .await;
    }
    // Every member applied everything, then stops; their data dirs hold one tree.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut zxids = Vec::new();
        for peer in &e.peers {
            zxids.push(peer.status(WAIT).await.map(|st| st.last_zxid).ok());
        }
        if zxids[0].is_some() && zxids.iter().all(|z| *z == zxids[0]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "members at {zxids:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A backup of a member of the ensemble (server.2) holds that same tree.
    let from_member = tmp.path().join("member.snap");
    assert_exit(
        &save(&from_member, &e.peers[1].addr.to_string(), &[]).await,
        0,
    );
    let dirs: Vec<PathBuf> = e.peers.iter().map(|peer| peer.data_dir.clone()).collect();
    for peer in &mut e.peers {
        peer.kill();
    }
    let standalone = tmp.path().join("standalone");
    let r = paddock(&[
        "restore",
        "--from",
        p(&from_member),
        "--data-dir",
        p(&standalone),
    ])
    .await;
    assert_exit(&r, 0);
    for other in dirs[1..].iter().chain([&standalone]) {
        let cmp = paddock(&["tree-digest", p(&dirs[0]), p(other)]).await;
        assert_exit(&cmp, 0);
        assert!(stdout(&cmp).contains("EQUAL: digest"), "{}", stdout(&cmp));
    }
}

/// A backup needs every permission on `/` (ZooKeeper's rule for its snapshot command), each
/// bit checked on its own: READ alone is not enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_needs_every_permission_on_the_root() {
    let node = TestNode::start_with(|c| c.super_digest = Some(SUPER.into())).await;
    let addr = node.addr.to_string();
    let mut s = node.session().await;
    s.mkdir("/data").await;
    ok(&s
        .call(op::set_acl(
            "/",
            vec![op::acl(31, "digest", APP), op::acl(1, "ip", "127.0.0.1")],
            -1,
        ))
        .await);
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("b.snap");

    let denied = save(&file, &addr, &[]).await;
    assert_exit(&denied, 1);
    assert!(
        stderr(&denied).contains("PermissionDenied") || stderr(&denied).contains("permission"),
        "{}",
        stderr(&denied)
    );
    assert!(stderr(&denied).contains("cdrwa"), "{}", stderr(&denied));
    assert!(!file.exists());

    let bad = save(&file, &addr, &["--auth", "no-colon"]).await;
    assert_exit(&bad, 1);
    assert!(stderr(&bad).contains("user:password"), "{}", stderr(&bad));

    assert_exit(&save(&file, &addr, &["--auth", "app:secret"]).await, 0);
    std::fs::remove_file(&file).expect("remove");
    assert_exit(&save(&file, &addr, &["--auth", "super:test"]).await, 0);
    let o = paddock(&["dump", "snapshot", "--json", p(&file)]).await;
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["nodes"][0]["path"], "/");
    assert_eq!(v["nodes"][0]["acl"][0]["id"], APP);
}

/// Tools: a truncated or altered backup is refused with a clear error, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_or_corrupt_backup_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    build_golden_dir(&dir);
    let good = dir.join("snapshots/snapshot.0000000100000006");
    let bytes = std::fs::read(&good).expect("read snapshot");

    // A snapshot copied out of a data dir is a valid backup.
    let copied = tmp.path().join("copied.snap");
    std::fs::copy(&good, &copied).expect("copy");
    let target = tmp.path().join("from-copy");
    assert_exit(
        &paddock(&["restore", "--from", p(&copied), "--data-dir", p(&target)]).await,
        0,
    );

    let cut = tmp.path().join("cut.snap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).expect("write");
    let flipped = tmp.path().join("flipped.snap");
    let mut altered = bytes.clone();
    altered[bytes.len() / 2] ^= 0x01;
    std::fs::write(&flipped, &altered).expect("write");
    let empty = tmp.path().join("empty.snap");
    std::fs::write(&empty, b"").expect("write");
    for (file, why) in [
        (&cut, "no snapshot trailer"),
        (&flipped, "checksum mismatch"),
        (&empty, "shorter than the 28-byte trailer"),
    ] {
        let target = tmp.path().join("target");
        let o = paddock(&["restore", "--from", p(file), "--data-dir", p(&target)]).await;
        assert_exit(&o, 3);
        let err = stderr(&o);
        assert!(
            err.contains("is damaged or incomplete") && err.contains(why),
            "{err}"
        );
        assert!(err.contains("Nothing was written"), "{err}");
        assert!(
            !target.exists(),
            "a refused restore created {}",
            target.display()
        );
        let d = paddock(&["dump", "snapshot", p(file)]).await;
        assert_exit(&d, 3);
        assert!(stderr(&d).contains(why), "{}", stderr(&d));
    }
    let missing = paddock(&[
        "restore",
        "--from",
        p(&tmp.path().join("nope")),
        "--data-dir",
        p(&tmp.path().join("t2")),
    ])
    .await;
    assert_exit(&missing, 1);
    assert!(stderr(&missing).contains("nope"), "{}", stderr(&missing));
}

/// Tools: a restore into a non-empty data dir is refused (a lone `myid` is fine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_a_non_empty_dir_is_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    build_golden_dir(&dir);
    let backup = dir.join("snapshots/snapshot.0000000100000006");

    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(busy.join("snapshots")).expect("mkdir");
    std::fs::write(busy.join("notes.txt"), b"keep me").expect("write");
    let before = contents(&busy);
    let o = paddock(&["restore", "--from", p(&backup), "--data-dir", p(&busy)]).await;
    assert_exit(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("is not empty") && err.contains("notes.txt, snapshots"),
        "{err}"
    );
    assert_eq!(contents(&busy), before);

    let member = tmp.path().join("member");
    std::fs::create_dir_all(&member).expect("mkdir");
    std::fs::write(member.join("myid"), b"2\n").expect("write");
    let o = paddock(&["restore", "--from", p(&backup), "--data-dir", p(&member)]).await;
    assert_exit(&o, 0);
    assert_eq!(std::fs::read(member.join("myid")).expect("myid"), b"2\n");
}

/// The end of what sled wrote in its (preallocated) data file.
fn written_len(db: &Path) -> u64 {
    let bytes = std::fs::read(db).expect("read db");
    bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Damaged files: `dump log` and `tree-digest` answer with the data or with a clear error
/// (exit 3, the damage named), never a panic, and leave the damaged directory as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_logs_are_reported_never_panicked_on_nor_changed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pristine = tmp.path().join("pristine");
    build_golden_dir(&pristine);
    let db_len = written_len(&pristine.join("txnlog/db"));
    let mut damaged_seen = 0;
    for case in 0..12u64 {
        let dir = tmp.path().join(format!("case{case}"));
        copy_tree(&pristine, &dir);
        let db = dir.join("txnlog/db");
        if case == 11 {
            std::fs::remove_dir_all(dir.join("txnlog")).expect("rm txnlog");
        } else {
            let mut bytes = std::fs::read(&db).expect("read db");
            let at = usize::try_from(db_len * (2 * case + 1) / 22).expect("offset");
            let at = at.min(bytes.len() - 1);
            bytes[at] ^= 0xff;
            std::fs::write(&db, bytes).expect("write db");
        }
        let before = contents(&dir);
        for args in [
            vec!["dump", "log", "--data-dir", p(&dir)],
            vec!["tree-digest", p(&dir)],
        ] {
            let o = paddock(&args).await;
            let code = o.status.code();
            assert!(
                code == Some(0) || code == Some(3),
                "case {case} {args:?}: {code:?}\n{}",
                stderr(&o)
            );
            if code == Some(3) {
                damaged_seen += 1;
                assert!(
                    stderr(&o).contains("damaged") && stderr(&o).contains("txnlog"),
                    "case {case} {args:?}: {}",
                    stderr(&o)
                );
            }
            assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
            assert!(
                !stderr(&o).contains("paddock-offline-"),
                "the private copy's paths leak: {}",
                stderr(&o)
            );
        }
        assert_eq!(
            contents(&dir),
            before,
            "case {case}: a tool changed the damaged dir"
        );
    }
    assert!(damaged_seen > 0, "no case was found damaged");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let path = e.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(e.file_name()));
        } else {
            std::fs::copy(&path, to.join(e.file_name())).expect("copy");
        }
    }
}

/// `snapshot save` takes paddock-cli's TLS options; a client certificate is an identity for
/// the permission check (an `x509:` id the root grants cdrwa, or the x509 super user).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_over_tls_with_client_certificates() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = paddock_certs::Ca::new("test CA").expect("CA");
    ca.write(pki.path()).expect("write CA");
    ca.server("paddock", &["localhost", "127.0.0.1"])
        .expect("cert")
        .write(pki.path(), "server")
        .expect("write");
    for who in ["alice", "bob", "operator"] {
        ca.client(who)
            .expect("cert")
            .write(pki.path(), who)
            .expect("write");
    }
    let file = |name: &str| pki.path().join(name).display().to_string();
    let data = tempfile::tempdir().expect("data dir");
    let (key_store, trust_store) = (file("server.pem"), file("ca.pem"));
    let server = Paddock::spawn(
        data.path(),
        &[
            "--tls-key-store",
            &key_store,
            "--tls-trust-store",
            &trust_store,
            "--set",
            "zookeeper.X509AuthenticationProvider.superUser=CN=operator,O=Paddock",
        ],
    )
    .await;
    let addr = server.addr.to_string();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("b.snap");
    let ca_pem = file("ca.pem");
    let as_who = |who: &str| {
        vec![
            "--tls-ca".to_string(),
            ca_pem.clone(),
            "--tls-cert".to_string(),
            file(&format!("{who}.pem")),
        ]
    };
    // With the root open, any client that gets through TLS may back up; without the TLS
    // options the failure says TLS is the likely reason.
    let bob = as_who("bob");
    let bob: Vec<&str> = bob.iter().map(String::as_str).collect();
    assert_exit(&save(&out, &addr, &bob).await, 0);
    let plain = save(&out, &addr, &[]).await;
    assert_exit(&plain, 1);
    assert!(stderr(&plain).contains("TLS"), "{}", stderr(&plain));

    // The root locked to alice, by the operator (the x509 super user).
    let root_acl = vec![op::acl(31, "x509", "CN=alice,O=Paddock")];
    let mut operator_session = {
        let channel = tls_channel(server.addr, &ca, "operator").await;
        Session::connect_on(channel, new_session(LONG_TIMEOUT_MS))
            .await
            .expect("session")
    };
    ok(&operator_session.call(op::set_acl("/", root_acl, -1)).await);
    for (who, code) in [("alice", 0), ("bob", 1), ("operator", 0)] {
        let args = as_who(who);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = save(&out, &addr, &args).await;
        assert_exit(&o, code);
        if code != 0 {
            assert!(stderr(&o).contains("cdrwa"), "{who}: {}", stderr(&o));
        }
    }
}

/// A TLS channel to `addr` as client `who` (its certificate written by the test's CA).
async fn tls_channel(
    addr: std::net::SocketAddr,
    ca: &paddock_certs::Ca,
    who: &str,
) -> tonic::transport::Channel {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let leaf = ca.client(who).expect("cert");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.cert_pem()))
        .identity(Identity::from_pem(&leaf.cert_pem, &leaf.key_pem))
        .domain_name("localhost");
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls config")
        .connect_timeout(std::time::Duration::from_secs(5));
    within("TLS connect", endpoint.connect())
        .await
        .expect("connects")
}
