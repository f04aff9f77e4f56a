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
    log_format, DataDir, EpochStore, SnapshotStore, StorageError, StorageOptions, TxnLog,
    RECORDS_TREE, SNAPSHOT_DIR, TXNLOG_DIR,
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
    assert_eq!(report.truncated_from, None);
    assert_eq!(report.records_removed, 0);
    let log = data.log();
    assert_eq!(log.last_durable_zxid(), Zxid(100));
    assert_eq!(read_all(&*log), recs(1..=100));
}

#[test]
fn corrupt_tail_record_is_cut_at_open_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    flip_record_byte(dir.path(), 10);
    let (data, report) = open(dir.path());
    assert_eq!(
        report.truncated_from,
        Some(Zxid(10)),
        "report names the zxid"
    );
    assert!(
        report
            .truncation_reason
            .as_deref()
            .unwrap_or("")
            .contains("checksum"),
        "{report:?}"
    );
    assert_eq!(report.records_removed, 1);
    assert_eq!(report.last_zxid, Zxid(9));
    assert_eq!(read_all(&*data.log()), recs(1..=9));
    drop(data);
    let (_, again) = open(dir.path());
    assert_eq!(again.truncated_from, None, "the cut was made durable");
    assert_eq!(again.last_zxid, Zxid(9));
}

#[test]
fn corrupt_record_mid_log_cuts_it_and_everything_after() {
    // Later records cannot be applied without the lost one (zxid order), so they go too.
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
    flip_record_byte(dir.path(), 5);
    let (data, report) = open(dir.path());
    assert_eq!(report.truncated_from, Some(Zxid(5)));
    assert_eq!(report.records_removed, 6);
    assert_eq!(report.last_zxid, Zxid(4));
    let log = data.log();
    assert_eq!(read_all(&*log), recs(1..=4));
    log.append(&recs([5]))
        .expect("the log continues after the cut");
}

#[test]
fn malformed_records_are_cut_not_panicked_on() {
    // The log: segments 1..=7 and 8..=10. Each case: what is done to it, the zxid the cut is
    // reported from, records removed, records kept (1..=kept).
    type Edit = Box<dyn Fn(&sled::Tree)>;
    let seg8 = Zxid(8).to_be_bytes();
    let cases: Vec<(&str, Edit, Zxid, usize, u64)> = vec![
        (
            "value shorter than a segment header",
            Box::new(move |t: &sled::Tree| {
                t.insert(seg8, &[1u8, 2][..]).expect("insert");
            }),
            Zxid(8),
            1, // a segment whose header is unreadable counts as one record
            7,
        ),
        (
            "segment moved under another key",
            Box::new(move |t: &sled::Tree| {
                let v = t.get(Zxid(1).to_be_bytes()).expect("get").expect("exists");
                t.insert(seg8, v).expect("insert");
            }),
            Zxid(8),
            7, // the header of the moved segment counts 7
            7,
        ),
        (
            "segments overlapping",
            Box::new(|t: &sled::Tree| {
                let v = log_format::encode(&recs([5, 6]));
                t.insert(Zxid(5).to_be_bytes(), v).expect("insert");
            }),
            Zxid(8), // 5..=7 stay in the first segment: the cut starts above them
            2 + 3,
            7,
        ),
        (
            "key of the wrong length",
            Box::new(|t: &sled::Tree| {
                t.insert([0u8, 0, 0, 0, 0, 0, 0, 8, 1], &[0u8; 8][..])
                    .expect("insert");
            }),
            Zxid(11), // the 9-byte key sorts after segment 8..=10, which stays
            1,
            10,
        ),
        (
            "zxid zero",
            Box::new(|t: &sled::Tree| {
                t.insert(Zxid(0).to_be_bytes(), &[0u8; 8][..])
                    .expect("insert");
            }),
            Zxid(1),
            11,
            0,
        ),
        (
            "record out of order inside a segment",
            Box::new(move |t: &sled::Tree| {
                t.insert(seg8, log_format::encode(&recs([8, 9, 9])))
                    .expect("insert");
            }),
            Zxid(10),
            1,
            9,
        ),
        (
            "record length past the end of the value",
            Box::new(move |t: &sled::Tree| {
                let mut v = t.get(seg8).expect("get").expect("exists").to_vec();
                let at = log_format::HEADER_LEN + 8;
                v[at..at + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
                t.insert(seg8, v).expect("insert");
            }),
            Zxid(8),
            3,
            7,
        ),
        (
            "bytes after the last record",
            Box::new(move |t: &sled::Tree| {
                let mut v = t.get(seg8).expect("get").expect("exists").to_vec();
                v.push(0);
                t.insert(seg8, v).expect("insert");
            }),
            Zxid(10),
            1,
            9,
        ),
    ];
    for (what, corrupt, from, removed, kept) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        log_with(dir.path(), 10);
        with_raw_tree(dir.path(), corrupt);
        let (data, report) = open(dir.path());
        assert_eq!(report.truncated_from, Some(from), "{what}: {report:?}");
        assert_eq!(report.records_removed, removed, "{what}: {report:?}");
        let log = data.log();
        let left = read_all(&*log);
        assert_eq!(left, recs(1..=kept), "{what}");
        assert_eq!(
            log.last_logged_zxid(),
            left.last().map_or(Zxid::ZERO, |r| r.0)
        );
        drop(log);
        drop(data);
        let (_, again) = open(dir.path());
        assert_eq!(again.truncated_from, None, "{what}: the cut is durable");
        assert_eq!(again.last_zxid, Zxid(kept), "{what}");
    }
}

#[test]
fn purge_watermark_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 10);
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
}

#[test]
fn torn_and_foreign_snapshots_are_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
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
/// records had been synced; the synced marker (`txnlog.synced`) makes the loss reported.
#[test]
fn synced_records_sled_drops_after_a_damaged_message_are_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (data, _) = open(dir.path());
        let log = data.log();
        for chunk in (1..=40).collect::<Vec<u64>>().chunks(4) {
            log.append(&recs(chunk.iter().copied())).expect("append");
            log.sync().expect("sync");
        }
    }
    let marker = dir.path().join("txnlog.synced");
    assert!(
        fs::read_to_string(&marker)
            .expect("a clean close leaves the marker")
            .contains("zxid=0x28"),
        "marker at 40"
    );
    let db = dir.path().join(TXNLOG_DIR).join("db");
    let mut bytes = fs::read(&db).expect("read db");
    let at = find(&bytes, &payload(Zxid(21), 20)).expect("record 21's payload is in db");
    bytes[at] ^= 0xff;
    fs::write(&db, bytes).expect("write db");

    let (data, report) = open(dir.path());
    let lost = report.lost_synced.expect("the loss is reported");
    // sled dropped them itself: our own scan found nothing wrong in what sled returned.
    assert_eq!(report.truncated_from, None, "{report:?}");
    assert_eq!(lost.synced_through, Zxid(40), "{report:?}");
    assert!(lost.log_end < Zxid(21), "{report:?}");
    assert_eq!(report.last_zxid, lost.log_end);
    assert_eq!(read_all(&*data.log()).len() as u64, lost.log_end.0);
    drop(data);
    let (_, again) = open(dir.path());
    assert_eq!(again.lost_synced, None, "reported once: {again:?}");
}

/// ZAB's TRUNC (and installing a snapshot, which truncates everything) removes synced records
/// on purpose: never reported as lost.
#[test]
fn truncation_is_not_a_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    log_with(dir.path(), 30);
    {
        let (data, _) = open(dir.path());
        data.log().truncate_after(Zxid(12)).expect("truncate");
    }
    let (data, report) = open(dir.path());
    assert_eq!(report.lost_synced, None, "{report:?}");
    assert_eq!(report.last_zxid, Zxid(12));
    data.log().truncate_after(Zxid::ZERO).expect("truncate all");
    drop(data);
    let (_, report) = open(dir.path());
    assert_eq!(report.lost_synced, None, "{report:?}");
    assert_eq!(report.last_zxid, Zxid::ZERO);
}
