//! The vendored sled's patches (vendor/sled/PADDOCK.md), each with a test below.
//!
//! Concurrent flushes: with its patches a flushing thread writes its sealed buffer itself, so
//! several threads that insert and flush at once write buffers concurrently and out of order. A
//! child process does that and then aborts (no destructor runs, nothing is flushed on the way
//! out); every insert that a completed flush covered must be there when the parent reopens the
//! database.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;

const THREADS: usize = 4;
const PER_THREAD: usize = 1500;
/// Set (to the database directory) in the child process.
const CHILD_ENV: &str = "PADDOCK_VENDORED_SLED_CHILD";
const TEST_NAME: &str = "concurrent_inserts_and_flushes_survive_an_abort";

fn key(t: usize, i: usize) -> [u8; 8] {
    (((t as u64) << 32) | i as u64).to_be_bytes()
}

fn value(t: usize, i: usize) -> Vec<u8> {
    // Sizes from 1 byte to ~3 KiB, so buffers fill and roll at different points.
    vec![(t * 31 + i) as u8; 1 + (i * 37 + t * 101) % 3000]
}

/// The child's work: THREADS threads insert and flush at once; each ends with a flush; then the
/// process aborts.
fn child(dir: &Path) -> ! {
    let db = Arc::new(
        sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .open()
            .expect("open"),
    );
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    db.insert(key(t, i), value(t, i)).expect("insert");
                    if i % 3 == t % 3 {
                        db.flush().expect("flush");
                    }
                }
                db.flush().expect("final flush");
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    // An insert after the last flush, which may or may not survive.
    db.insert(b"unflushed", b"x".to_vec()).expect("insert");
    std::process::abort();
}

#[test]
fn concurrent_inserts_and_flushes_survive_an_abort() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("test binary");
    let status = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .expect("run the child");
    assert!(!status.success(), "the child must abort, got {status}");

    let db = sled::open(dir.path()).expect("reopen after the abort");
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            let got = db.get(key(t, i)).expect("get");
            let got =
                got.unwrap_or_else(|| panic!("thread {t} insert {i} was flushed but is gone"));
            assert_eq!(&got[..], &value(t, i)[..], "thread {t} insert {i}");
        }
    }
    let len = db.len();
    assert!(
        len == THREADS * PER_THREAD || len == THREADS * PER_THREAD + 1,
        "{len} keys"
    );
}

/// sled's default segment size, which the txn log keeps.
const SEGMENT_BYTES: u64 = 512 * 1024;

fn open_unflushed(dir: &Path) -> sled::Db {
    sled::Config::new()
        .path(dir)
        .flush_every_ms(None)
        .open()
        .expect("open")
}

/// Inserts `count` 200-byte values from key `from` on, flushing every tenth, as group commits do.
fn insert_flushed(db: &sled::Db, from: u32, count: u32) {
    for i in from..from + count {
        db.insert(i.to_be_bytes(), vec![i as u8; 200])
            .expect("insert");
        if i % 10 == 9 {
            db.flush().expect("flush");
        }
    }
    db.flush().expect("flush");
}

fn assert_holds(db: &sled::Db, count: u32) {
    assert_eq!(db.len(), count as usize);
    for i in 0..count {
        let got = db.get(i.to_be_bytes()).expect("get");
        assert_eq!(got.as_deref(), Some(&vec![i as u8; 200][..]), "key {i}");
    }
}

/// The vendored patch 3: a new segment is written whole (zeros) before it is used, so the data
/// file's length moves a segment at a time and the flushes in between overwrite blocks the file
/// already has (an fdatasync then has no size change to commit). Recovery reads the zeroed tail
/// of the active segment as the end of the log, as it reads the zeros it fills free segments with.
#[test]
fn the_data_file_grows_a_whole_segment_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_len = || {
        std::fs::metadata(dir.path().join("db"))
            .expect("sled's data file")
            .len()
    };
    {
        let db = open_unflushed(dir.path());
        // ~660 KB of records: more than one segment.
        insert_flushed(&db, 0, 3000);
        let len = data_len();
        assert!(
            len >= 2 * SEGMENT_BYTES && len % SEGMENT_BYTES == 0,
            "the data file is {len} bytes, not whole {SEGMENT_BYTES}-byte segments"
        );
    }
    {
        let db = open_unflushed(dir.path());
        assert_holds(&db, 3000);
        insert_flushed(&db, 3000, 3000);
        assert_eq!(data_len() % SEGMENT_BYTES, 0, "after a reopen");
    }
    let db = open_unflushed(dir.path());
    assert_holds(&db, 6000);
}

/// The vendored patch 3, second half: the zero fill pays only when a segment is flushed many
/// times (one journal commit saved per flush). When the segment being left saw fewer than four
/// flushes (large values: a flush writes most of a segment), the next one is not zero-filled
/// and the file grows with the writes as upstream's does; once flushes are frequent again, new
/// segments are zero-filled again. Every value survives a reopen either way.
#[test]
fn only_segments_flushed_often_are_followed_by_a_zero_filled_one() {
    const LARGE: usize = 100 * 1024;
    const LARGE_FROM: u32 = 1_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let data_len = || {
        std::fs::metadata(dir.path().join("db"))
            .expect("sled's data file")
            .len()
    };
    let large = |i: u32| vec![i as u8; LARGE];
    {
        let db = open_unflushed(dir.path());
        // ~2.4 MB, a flush every ~300 KB: at most two flushes per segment.
        for i in 0..24 {
            db.insert((LARGE_FROM + i).to_be_bytes(), large(i))
                .expect("insert");
            if i % 3 == 2 {
                db.flush().expect("flush");
            }
        }
        db.flush().expect("flush");
        let len = data_len();
        assert!(
            len > 4 * SEGMENT_BYTES && len % SEGMENT_BYTES != 0,
            "the data file is {len} bytes: new segments were zero-filled"
        );
        // Small values, a flush every ten (~2 KB): the zero fill comes back.
        insert_flushed(&db, 0, 6000);
        assert_eq!(
            data_len() % SEGMENT_BYTES,
            0,
            "the data file is not whole segments after frequent flushes"
        );
    }
    let db = open_unflushed(dir.path());
    for i in 0..24 {
        let got = db.get((LARGE_FROM + i).to_be_bytes()).expect("get");
        assert_eq!(got.as_deref(), Some(&large(i)[..]), "large value {i}");
    }
    db.remove(LARGE_FROM.to_be_bytes()).expect("remove");
    assert_eq!(db.len(), 6000 + 23);
    for i in LARGE_FROM + 1..LARGE_FROM + 24 {
        db.remove(i.to_be_bytes()).expect("remove");
    }
    assert_holds(&db, 6000);
}

/// The vendored patch 4 (sled issue #1387): sled writes its own recovery snapshot as
/// `snap.<lsn>.generating` and renames it when complete. A write that failed (a full disk) left
/// that file behind, and sled read it as the newest snapshot on the next open ("empty/corrupt
/// snapshot file found"), so the database never opened again, even with space back. Such a
/// leftover is now skipped, and a failed write removes it.
#[test]
fn a_snapshot_left_half_written_does_not_stop_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = open_unflushed(dir.path());
        insert_flushed(&db, 0, 300);
    }
    // The name sorts after every complete snapshot (`snap.<16 hex digits>`), as the leftover of a
    // failed write at the newest lsn does.
    let leftover = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"").expect("write the leftover");
    let db = open_unflushed(dir.path());
    assert_holds(&db, 300);
}
