//! The vendored sled (vendor/sled/PADDOCK.md) under concurrent flushes: with its patches a
//! flushing thread writes its sealed buffer itself, so several threads that insert and flush at
//! once write buffers concurrently and out of order. A child process does that and then aborts
//! (no destructor runs, nothing is flushed on the way out); every insert that a completed flush
//! covered must be there when the parent reopens the database.

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
