//! Recovery at open: reopening, corrupt log records, corrupt snapshots, the directory lock,
//! epoch files. Corruption is injected by editing the files (or the sled tree) while the data
//! directory is closed, as a bad disk or a torn write would leave them.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use paddock_storage::conformance::log::{payload, read_all, recs};
use paddock_storage::conformance::snapshot::{content, read_latest, write_snapshot};
use paddock_storage::{
    log_format, repair, Damage, DataDir, EpochStore, RepairOptions, RepairReport, SnapshotStore,
    StorageError, StorageOptions, TxnLog, RECORDS_TREE, SNAPSHOT_DIR, TXNLOG_DIR,
};
use paddock_types::{Epoch, Zxid};

fn open(dir: &Path) -> (DataDir, paddock_storage::RecoveryReport) {
    DataDir::open(dir).expect("open data dir")
}

/// Writes records 1..=n (synced) in appends of 7 — segments 1..=7, 8..=14, ... — and closes the
/// directory.
fn log_with(dir: &Path, n: u64) {
    let (data, _) = open(dir);
    let log = data.log();
    for chunk in (1..=n).collect::<Vec<_>>().chunks(7) {
        log.append(&recs(chunk.iter().copied())).expect("append");
    }
    log.sync().expect("sync");
}

/// Edits the closed log's sled tree directly. sled releases its own file lock a moment after
/// the last handle drops (see `open_sled`), hence the retries.
fn with_raw_tree(dir: &Path, edit: impl FnOnce(&sled::Tree)) {
    let config = sled::Config::new().path(dir.join(TXNLOG_DIR));
    let mut attempts = 0;
    let db = loop {
        match config.open() {
            Ok(db) => break db,
            Err(e) if attempts < 1000 => {
                attempts += 1;
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("open sled directly: {e}"),
        }
    };
    let tree = db.open_tree(RECORDS_TREE).expect("tree");
    edit(&tree);
    db.flush().expect("flush");
}

/// The segment holding `zxid`: its key and value.
fn segment_of(tree: &sled::Tree, zxid: u64) -> (sled::IVec, sled::IVec) {
    tree.range(..=log_format::key(Zxid(zxid)))
        .next_back()
        .expect("a segment")
        .expect("read")
}

/// Flips a bit in record `zxid`'s payload, inside its segment.
fn flip_record_byte(dir: &Path, zxid: u64) {
    with_raw_tree(dir, |tree| {
        let (key, value) = segment_of(tree, zxid);
        let seg = log_format::Segment::parse(&key, &value, Zxid::ZERO).expect("good segment");
        let rec = seg
            .records()
            .map(|r| r.expect("good record"))
            .find(|r| r.zxid == Zxid(zxid))
            .expect("record exists");
        let mut v = value.to_vec();
        v[rec.payload_range.end - 1] ^= 0x40;
        tree.insert(key, v).expect("insert");
    });
}

#[test]
fn reopen_after_sync_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 100);
    let (data, report) = open(dir.path());
    assert_eq!(report.last_zxid, Zxid(100));
    assert_eq!(report.first_zxid, Some(Zxid(1)));
    assert_eq!(report.verified_through, Zxid(100));
    assert_eq!(report.rebuilt, None);
    let log = data.log();
    assert_eq!(log.last_durable_zxid(), Zxid(100));
    assert_eq!(read_all(&*log), recs(1..=100));
}

/// The damage an open refuses: `Err(Damaged)`, with the verified end and the lost range.
fn damaged(dir: &Path) -> Damage {
    match DataDir::open(dir) {
        Err(StorageError::Damaged(d)) => *d,
        Err(other) => panic!("expected Damaged, got the error {other:?}"),
        Ok((_, report)) => panic!("expected Damaged, the directory opened: {report:?}"),
    }
}

/// Repairs `dir` (accepting the loss) and checks it then opens at `verified`, takes a write
/// above it and keeps that write across a reopen.
fn repair_and_write(dir: &Path, verified: u64) -> RepairReport {
    let report =
        repair(dir, &StorageOptions::default(), &RepairOptions::default()).expect("repair");
    assert!(report.damage.is_some(), "{report:?}");
    let (data, opened) = open(dir);
    assert_eq!(opened.verified_through, Zxid(verified), "{opened:?}");
    let log = data.log();
    assert_eq!(read_all(&*log), recs(1..=verified));
    log.append(&recs([verified + 1]))
        .expect("append after repair");
    log.sync().expect("sync");
    drop(log);
    drop(data);
    let (data, _) = open(dir);
    assert_eq!(
        read_all(&*data.log()),
        recs(1..=verified + 1),
        "the write survived"
    );
    report
}

#[test]
fn a_damaged_synced_record_makes_the_directory_damaged_until_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    flip_record_byte(dir.path(), 10);
    let d = damaged(dir.path());
    assert_eq!(d.verified_through, Zxid(9), "{d}");
    assert_eq!(d.lost(), (Zxid(10), Some(Zxid(10))));
    let text = d.to_string();
    assert!(text.contains("checksum"), "{text}");
    assert!(text.contains("txnlog"), "names the file: {text}");
    // Refusing changed nothing: it is refused again.
    assert_eq!(damaged(dir.path()).verified_through, Zxid(9));
    let report = repair_and_write(dir.path(), 9);
    assert_eq!(report.records_kept, 9);
    let aside = report.old_log_moved_to.expect("old log kept aside");
    assert!(aside.join("db").exists(), "{aside:?}");
    assert_eq!(
        paddock_storage::damaged_copies(&dir.path().join(TXNLOG_DIR)),
        vec![aside]
    );
}

#[test]
fn a_damaged_record_mid_log_loses_everything_after_it() {
    // Later records cannot be applied without the lost one (zxid order).
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    flip_record_byte(dir.path(), 5);
    let d = damaged(dir.path());
    assert_eq!(d.verified_through, Zxid(4));
    assert_eq!(d.lost(), (Zxid(5), Some(Zxid(10))));
    repair_and_write(dir.path(), 4);
}

#[test]
fn malformed_records_are_reported_not_panicked_on() {
    // The log: segments 1..=7 and 8..=10, all synced. Each case: what is done to it, and the
    // outcome: Ok(n) = opens (rebuilt) with all of 1..=n, Err(n) = damaged, verified through n.
    type Edit = Box<dyn Fn(&sled::Tree)>;
    let seg8 = Zxid(8).to_be_bytes();
    let cases: Vec<(&str, Edit, Result<u64, u64>)> = vec![
        (
            "value shorter than a segment header",
            Box::new(move |t: &sled::Tree| {
                t.insert(seg8, &[1u8, 2][..]).expect("insert");
            }),
            Err(7),
        ),
        (
            "segment moved under another key",
            Box::new(move |t: &sled::Tree| {
                let v = t.get(Zxid(1).to_be_bytes()).expect("get").expect("exists");
                t.insert(seg8, v).expect("insert");
            }),
            Err(7),
        ),
        (
            "segments overlapping (nothing missing)",
            Box::new(|t: &sled::Tree| {
                let v = log_format::encode(&recs([5, 6]));
                t.insert(Zxid(5).to_be_bytes(), v).expect("insert");
            }),
            Ok(10),
        ),
        (
            "key of the wrong length",
            Box::new(|t: &sled::Tree| {
                t.insert([0u8, 0, 0, 0, 0, 0, 0, 8, 1], &[0u8; 8][..])
                    .expect("insert");
            }),
            Ok(10),
        ),
        (
            "zxid zero",
            Box::new(|t: &sled::Tree| {
                t.insert(Zxid(0).to_be_bytes(), &[0u8; 8][..])
                    .expect("insert");
            }),
            Ok(10),
        ),
        (
            "record out of order inside a segment",
            Box::new(move |t: &sled::Tree| {
                t.insert(seg8, log_format::encode(&recs([8, 9, 9])))
                    .expect("insert");
            }),
            Err(9),
        ),
        (
            "record length past the end of the value",
            Box::new(move |t: &sled::Tree| {
                let mut v = t.get(seg8).expect("get").expect("exists").to_vec();
                let at = log_format::HEADER_LEN + 8;
                v[at..at + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
                t.insert(seg8, v).expect("insert");
            }),
            Err(7),
        ),
        (
            "bytes after the last record",
            Box::new(move |t: &sled::Tree| {
                let mut v = t.get(seg8).expect("get").expect("exists").to_vec();
                v.push(0);
                t.insert(seg8, v).expect("insert");
            }),
            Err(9),
        ),
    ];
    for (what, corrupt, outcome) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        log_with(dir.path(), 10);
        with_raw_tree(dir.path(), corrupt);
        match outcome {
            Ok(n) => {
                let (data, report) = open(dir.path());
                assert!(report.rebuilt.is_some(), "{what}: {report:?}");
                assert_eq!(read_all(&*data.log()), recs(1..=n), "{what}");
                drop(data);
                let (_, again) = open(dir.path());
                assert_eq!(again.rebuilt, None, "{what}: rebuilt once: {again:?}");
                assert_eq!(again.last_zxid, Zxid(n), "{what}");
            }
            Err(n) => {
                let d = damaged(dir.path());
                assert_eq!(d.verified_through, Zxid(n), "{what}: {d}");
                assert_eq!(d.synced_through, Some(Zxid(10)), "{what}: {d}");
                repair_and_write(dir.path(), n);
            }
        }
    }
}

#[test]
fn damage_above_every_synced_record_is_dropped_without_refusing() {
    // 1..=10 synced; 11..=14 appended but never synced (sled writes them out when it closes).
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (data, _) = open(dir.path());
        let log = data.log();
        log.append(&recs(1..=10)).expect("append");
        log.sync().expect("sync");
        log.append(&recs(11..=14)).expect("append, no sync");
    }
    flip_record_byte(dir.path(), 12);
    let (data, report) = open(dir.path());
    assert!(report.rebuilt.is_some(), "{report:?}");
    assert_eq!(read_all(&*data.log()), recs(1..=11));
}

#[test]
fn damage_the_snapshot_covers_costs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 20);
    snapshots(dir.path(), &[12]);
    flip_record_byte(dir.path(), 5);
    let (data, report) = open(dir.path());
    assert!(report.rebuilt.is_some(), "{report:?}");
    assert_eq!(report.verified_through, Zxid(20));
    // The rebuilt log continues the snapshot.
    assert_eq!(read_all(&*data.log()), recs(13..=20));
}

#[test]
fn purge_watermark_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    snapshots(dir.path(), &[10]);
    let (data, _) = open(dir.path());
    data.log().purge_through(Zxid(10)).expect("purge all");
    drop(data);
    let (data, report) = open(dir.path());
    assert_eq!(report.first_zxid, None);
    assert_eq!(report.last_zxid, Zxid(10));
    assert!(matches!(
        data.log().append(&recs([9])),
        Err(StorageError::OutOfOrder { .. })
    ));
}

fn snapshot_path(dir: &Path, zxid: u64) -> PathBuf {
    dir.join(SNAPSHOT_DIR).join(format!("snapshot.{zxid:016x}"))
}

fn snapshots(dir: &Path, zxids: &[u64]) {
    let (data, _) = open(dir);
    let store = data.snapshots();
    for z in zxids {
        write_snapshot(&*store, Zxid(*z), &content(Zxid(*z), 50_000));
    }
}

#[test]
fn corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 3);
    snapshots(dir.path(), &[1, 2, 3]);
    let path = snapshot_path(dir.path(), 3);
    let mut bytes = fs::read(&path).expect("read snapshot");
    bytes[1234] ^= 1;
    fs::write(&path, bytes).expect("write snapshot");

    let (data, report) = open(dir.path());
    assert_eq!(report.latest_snapshot, Some(Zxid(2)));
    assert_eq!(report.snapshots_skipped.len(), 1, "{report:?}");
    let skipped = &report.snapshots_skipped[0];
    assert_eq!(skipped.zxid, Zxid(3));
    assert!(skipped.why.contains("checksum"), "{skipped:?}");
    assert!(skipped.path.exists(), "kept aside for inspection");
    assert!(!path.exists());
    let store = data.snapshots();
    assert_eq!(
        read_latest(&*store),
        Some((Zxid(2), content(Zxid(2), 50_000)))
    );
    assert_eq!(store.list().expect("list"), [Zxid(1), Zxid(2)]);
    // The log covers what the corrupt snapshot held: nothing is lost.
    assert_eq!(report.verified_through, Zxid(3));
}

#[test]
fn torn_and_foreign_snapshots_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 4);
    snapshots(dir.path(), &[1, 2, 3, 4]);
    // 4: torn (trailer cut off); 3: empty; 2: renamed from another zxid.
    let p4 = snapshot_path(dir.path(), 4);
    let len = fs::metadata(&p4).expect("meta").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&p4)
        .and_then(|f| f.set_len(len - 10))
        .expect("truncate");
    fs::write(snapshot_path(dir.path(), 3), b"").expect("empty");
    fs::copy(snapshot_path(dir.path(), 1), snapshot_path(dir.path(), 2)).expect("copy");
    let (data, report) = open(dir.path());
    let skipped: Vec<Zxid> = report.snapshots_skipped.iter().map(|s| s.zxid).collect();
    assert_eq!(skipped, [Zxid(4), Zxid(3), Zxid(2)], "{report:?}");
    assert_eq!(report.latest_snapshot, Some(Zxid(1)));
    assert_eq!(read_latest(&*data.snapshots()).map(|s| s.0), Some(Zxid(1)));
}

#[test]
fn snapshot_changed_after_verification_fails_the_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 1);
    snapshots(dir.path(), &[1]);
    let (data, report) = open(dir.path());
    assert_eq!(report.latest_snapshot, Some(Zxid(1)));
    let path = snapshot_path(dir.path(), 1);
    let mut bytes = fs::read(&path).expect("read");
    bytes[10] ^= 1;
    fs::write(&path, bytes).expect("write");
    let (_, mut reader) = data
        .snapshots()
        .open_latest()
        .expect("open_latest")
        .expect("a snapshot");
    let err = reader
        .read_to_end(&mut Vec::new())
        .expect_err("crc re-checked while reading");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn stale_snapshot_tmp_files_are_removed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 1);
    snapshots(dir.path(), &[1]);
    let tmp = dir
        .path()
        .join(SNAPSHOT_DIR)
        .join("snapshot.0000000000000002.tmp");
    fs::write(&tmp, b"half a snapshot").expect("write tmp");
    let (data, report) = open(dir.path());
    assert_eq!(report.stale_snapshot_tmp_removed, 1);
    assert!(!tmp.exists());
    assert_eq!(data.snapshots().list().expect("list"), [Zxid(1)]);
}

#[test]
fn a_data_dir_can_be_opened_once_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, _) = open(dir.path());
    match DataDir::open(dir.path()) {
        Err(StorageError::Locked(p)) => assert_eq!(p, dir.path()),
        other => panic!("second open must fail with Locked, got {other:?}"),
    }
    let log = first.log();
    drop(first);
    assert!(
        matches!(DataDir::open(dir.path()), Err(StorageError::Locked(_))),
        "a live store keeps the lock"
    );
    drop(log);
    open(dir.path());
}

#[test]
fn a_separate_log_dir_holds_the_log_and_its_own_lock() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let log_dir = tempfile::tempdir().expect("tempdir");
    let options = StorageOptions {
        log_dir: Some(log_dir.path().to_path_buf()),
        ..StorageOptions::default()
    };
    {
        let (data, _) = DataDir::open_with(data_dir.path(), &options).expect("open");
        data.log().append(&recs([1, 2])).expect("append");
        data.log().sync().expect("sync");
        assert!(log_dir.path().join(TXNLOG_DIR).is_dir());
        assert!(!data_dir.path().join(TXNLOG_DIR).exists());
        let other = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            DataDir::open_with(other.path(), &options),
            Err(StorageError::Locked(p)) if p == log_dir.path()
        ));
    }
    let (data, report) = DataDir::open_with(data_dir.path(), &options).expect("reopen");
    assert_eq!(report.last_zxid, Zxid(2));
    assert_eq!(data.log().read_after(Zxid(1), 5).expect("read"), recs([2]));
}

#[test]
fn epochs_are_durable_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (data, _) = open(dir.path());
        let epochs = data.epochs();
        assert_eq!(epochs.accepted_epoch(), Epoch(0));
        epochs.set_accepted_epoch(Epoch(5)).expect("set accepted");
        epochs.set_current_epoch(Epoch(4)).expect("set current");
    }
    assert_eq!(
        fs::read_to_string(dir.path().join("acceptedEpoch")).expect("read"),
        "5\n",
        "ZooKeeper's format: the number as text"
    );
    let (data, _) = open(dir.path());
    assert_eq!(data.epochs().accepted_epoch(), Epoch(5));
    assert_eq!(data.epochs().current_epoch(), Epoch(4));
}

#[test]
fn a_corrupt_epoch_file_fails_the_open_naming_the_file() {
    for (file, content) in [
        ("acceptedEpoch", &b"garbage"[..]),
        ("currentEpoch", b""),
        ("currentEpoch", b"-1"),
        ("acceptedEpoch", b"4294967296"),
        ("acceptedEpoch", b"\xff\xfe"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(open(dir.path()));
        fs::write(dir.path().join(file), content).expect("write");
        match DataDir::open(dir.path()) {
            Err(StorageError::CorruptFile { path, why }) => {
                assert_eq!(path, dir.path().join(file), "{why}");
            }
            other => panic!("{file}={content:?}: expected CorruptFile, got {other:?}"),
        }
    }
}

#[test]
fn epoch_file_with_surrounding_whitespace_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()));
    fs::write(dir.path().join("currentEpoch"), b" 12\n").expect("write");
    let (data, _) = open(dir.path());
    assert_eq!(data.epochs().current_epoch(), Epoch(12));
}

#[test]
fn payload_bytes_are_returned_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, _) = open(dir.path());
    let log = data.log();
    let rec = vec![(Zxid(1), Bytes::from_static(b"\x00\xff exact"))];
    log.append(&rec).expect("append");
    assert_eq!(log.read_after(Zxid::ZERO, 1).expect("read"), rec);
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Damage inside sled's own data file (not in a record of ours): sled 0.34 ends its log at the
/// first message whose checksum fails and drops every later message without a word. Those
/// records had been synced; the synced marker (`txnlog.synced`) makes the loss a refusal.
#[test]
fn synced_records_sled_drops_after_a_damaged_message_are_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (data, _) = open(dir.path());
        let log = data.log();
        for chunk in (1..=40).collect::<Vec<u64>>().chunks(4) {
            log.append(&recs(chunk.iter().copied())).expect("append");
            log.sync().expect("sync");
        }
    }
    assert_eq!(
        paddock_storage::read_marker(&dir.path().join("txnlog.synced")),
        paddock_storage::MarkerState::Synced(Zxid(40))
    );
    let db = dir.path().join(TXNLOG_DIR).join("db");
    let mut bytes = fs::read(&db).expect("read db");
    let at = find(&bytes, &payload(Zxid(21), 20)).expect("record 21's payload is in db");
    bytes[at] ^= 0xff;
    fs::write(&db, bytes).expect("write db");

    let d = damaged(dir.path());
    assert_eq!(d.synced_through, Some(Zxid(40)), "{d}");
    assert!(d.verified_through < Zxid(21), "{d}");
    let verified = d.verified_through.0;
    repair_and_write(dir.path(), verified);
}

/// ZAB's TRUNC (and installing a snapshot, which resets the log) removes synced records on
/// purpose: never reported as lost.
#[test]
fn truncation_is_not_a_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 30);
    {
        let (data, _) = open(dir.path());
        data.log().truncate_after(Zxid(12)).expect("truncate");
    }
    let (data, report) = open(dir.path());
    assert_eq!(report.last_zxid, Zxid(12));
    assert_eq!(report.rebuilt, None);
    data.log().truncate_after(Zxid::ZERO).expect("truncate all");
    drop(data);
    let (data, report) = open(dir.path());
    assert_eq!(report.last_zxid, Zxid::ZERO);
    // A snapshot installed at 50: the log restarts after it.
    write_snapshot(&*data.snapshots(), Zxid(50), &content(Zxid(50), 100));
    data.log().reset_after(Zxid(50)).expect("reset");
    data.log().append(&recs([51])).expect("append");
    data.log().sync().expect("sync");
    drop(data);
    let (data, report) = open(dir.path());
    assert_eq!(report.rebuilt, None, "{report:?}");
    assert_eq!(report.verified_through, Zxid(51));
    assert_eq!(read_all(&*data.log()), recs([51]));
}

#[test]
fn no_snapshot_left_for_a_purged_log_is_damage() {
    for remove_dir in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        log_with(dir.path(), 30);
        snapshots(dir.path(), &[20]);
        {
            let (data, _) = open(dir.path());
            data.log().purge_through(Zxid(20)).expect("purge");
        }
        let snaps = dir.path().join(SNAPSHOT_DIR);
        if remove_dir {
            fs::remove_dir_all(&snaps).expect("rm snapshots/");
        } else {
            let path = snapshot_path(dir.path(), 20);
            let mut bytes = fs::read(&path).expect("read");
            bytes[7] ^= 1;
            fs::write(&path, bytes).expect("write");
        }
        let d = damaged(dir.path());
        assert_eq!(d.snapshot, None, "{d}");
        assert_eq!(d.verified_through, Zxid::ZERO, "{d}");
        assert_eq!(d.synced_through, Some(Zxid(30)), "{d}");
        assert!(d.to_string().contains("purged through 0x14"), "{d}");
        // Accepting the loss leaves the empty tree, in a new epoch.
        let report = repair(
            dir.path(),
            &StorageOptions::default(),
            &RepairOptions { new_epoch: true },
        )
        .expect("repair");
        assert_eq!(report.new_epoch, Some(Epoch(1)));
        let (data, opened) = open(dir.path());
        assert_eq!(opened.verified_through, Zxid::ZERO);
        assert_eq!(data.epochs().current_epoch(), Epoch(1));
        assert!(read_all(&*data.log()).is_empty());
    }
}

#[test]
fn snapshots_removed_from_an_unpurged_log_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 30);
    snapshots(dir.path(), &[20]);
    fs::remove_dir_all(dir.path().join(SNAPSHOT_DIR)).expect("rm snapshots/");
    let (data, report) = open(dir.path());
    assert_eq!(report.verified_through, Zxid(30));
    assert_eq!(read_all(&*data.log()), recs(1..=30));
}

#[test]
fn a_removed_log_is_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 30);
    snapshots(dir.path(), &[20]);
    fs::remove_dir_all(dir.path().join(TXNLOG_DIR)).expect("rm txnlog/");
    let d = damaged(dir.path());
    assert_eq!((d.snapshot, d.verified_through), (Some(Zxid(20)), Zxid(20)));
    assert_eq!(d.synced_through, Some(Zxid(30)));
    // Also without the marker: the snapshot alone says a log existed.
    fs::remove_file(dir.path().join("txnlog.synced")).expect("rm marker");
    let d = damaged(dir.path());
    assert_eq!(d.lost(), (Zxid(21), Some(Zxid(21))));
    let report = repair(
        dir.path(),
        &StorageOptions::default(),
        &RepairOptions::default(),
    )
    .expect("repair");
    assert_eq!(report.old_log_moved_to, None);
    let (_, opened) = open(dir.path());
    assert_eq!(opened.verified_through, Zxid(20));
}

#[test]
fn an_interrupted_rebuild_is_finished_or_discarded_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    // A rebuild that never completed: its directory goes, the log stays.
    let rebuild = dir.path().join("txnlog.rebuild");
    fs::create_dir_all(&rebuild).expect("mkdir");
    fs::write(rebuild.join("db"), b"partial").expect("write");
    let (data, report) = open(dir.path());
    assert!(!rebuild.exists());
    assert_eq!(report.last_zxid, Zxid(10));
    drop(data);
    // A complete one (the .done file written) is finished: the new log replaces the old.
    flip_record_byte(dir.path(), 10);
    repair(
        dir.path(),
        &StorageOptions::default(),
        &RepairOptions::default(),
    )
    .expect("repair");
    let (data, _) = open(dir.path());
    drop(data);
    let log_dir = dir.path().join(TXNLOG_DIR);
    fs::rename(&log_dir, &rebuild).expect("pretend the swap had not happened");
    fs::write(dir.path().join("txnlog.rebuild.done"), b"marker=0x9\n").expect("done file");
    let (data, _) = open(dir.path());
    assert_eq!(read_all(&*data.log()), recs(1..=9));
    assert!(!dir.path().join("txnlog.rebuild.done").exists());
}

/// A data directory written the way a server writes one: ~4,000 records of 200 bytes in group
/// commits of 11, every one synced; closed cleanly.
fn busy_log(dir: &Path) -> u64 {
    let (data, _) = open(dir);
    let log = data.log();
    let n = 4_000u64;
    let mut z = 1;
    while z <= n {
        let batch: Vec<(Zxid, Bytes)> = (z..(z + 11).min(n + 1))
            .map(|i| (Zxid(i), Bytes::from(vec![(i % 251) as u8; 200])))
            .collect();
        z += batch.len() as u64;
        log.append(&batch).expect("append");
        log.sync().expect("sync");
    }
    n
}

/// The outcome of opening a directory whose files were damaged: it serves everything that was
/// synced, or it refuses (and a repair then gives a directory that opens and keeps its writes).
/// Never a panic, never less.
fn opens_whole_or_refuses(dir: &Path, synced: u64, what: &str) -> &'static str {
    match DataDir::open(dir) {
        Ok((data, _)) => {
            let all = read_all(&*data.log());
            assert_eq!(
                all.len() as u64,
                synced,
                "{what}: served less than was synced"
            );
            "served"
        }
        Err(StorageError::Damaged(d)) => {
            assert!(d.verified_through < Zxid(synced), "{what}: {d}");
            let verified = d.verified_through.0;
            let r = repair(dir, &StorageOptions::default(), &RepairOptions::default());
            let r = r.unwrap_or_else(|e| panic!("{what}: repair failed: {e}"));
            assert!(r.damage.is_some(), "{what}");
            let (data, opened) = open(dir);
            assert_eq!(opened.verified_through, Zxid(verified), "{what}");
            let log = data.log();
            log.append(&[(Zxid(verified + 1), Bytes::from_static(b"after"))])
                .expect("append after repair");
            log.sync().expect("sync");
            drop(log);
            drop(data);
            let (data, _) = open(dir);
            let last = read_all(&*data.log()).last().map(|r| r.0);
            assert_eq!(
                last,
                Some(Zxid(verified + 1)),
                "{what}: the write after repair"
            );
            "refused"
        }
        Err(e) => panic!("{what}: unexpected error {e}"),
    }
}

#[test]
fn flipped_bytes_in_sleds_file_never_panic_or_serve_less() {
    let pristine = tempfile::tempdir().expect("tempdir");
    let synced = busy_log(pristine.path());
    let db_len = fs::metadata(pristine.path().join(TXNLOG_DIR).join("db"))
        .expect("db")
        .len();
    let mut refused = 0;
    for tenth in 0..10u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(pristine.path(), dir.path());
        let db = dir.path().join(TXNLOG_DIR).join("db");
        let mut bytes = fs::read(&db).expect("read");
        // Into the written part of the file (sled preallocates zeros after it).
        let written = bytes.iter().rposition(|b| *b != 0).unwrap_or(0) as u64;
        let at = (written * (2 * tenth + 1) / 20) as usize;
        bytes[at] ^= 0xff;
        fs::write(&db, bytes).expect("write");
        let what = format!("byte {at} of {db_len}");
        if opens_whole_or_refuses(dir.path(), synced, &what) == "refused" {
            refused += 1;
        }
    }
    // Most single-byte hits in the written part cost synced records (sled drops what follows).
    assert!(refused > 0);
}

#[test]
fn a_truncated_sled_file_never_panics_or_serves_less() {
    let pristine = tempfile::tempdir().expect("tempdir");
    let synced = busy_log(pristine.path());
    let mut outcomes = Vec::new();
    for cut in [1u64, 100, 4096, 65_536, 300_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(pristine.path(), dir.path());
        let db = dir.path().join(TXNLOG_DIR).join("db");
        // sled's file is preallocated: cut into what was written, from its end.
        let bytes = fs::read(&db).expect("read");
        let written = bytes
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i as u64 + 1);
        fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .and_then(|f| f.set_len(written.saturating_sub(cut)))
            .expect("truncate");
        outcomes.push(opens_whole_or_refuses(
            dir.path(),
            synced,
            &format!("cut {cut} bytes"),
        ));
    }
    assert!(outcomes.contains(&"refused"), "{outcomes:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            fs::create_dir_all(&dest).expect("mkdir");
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}
