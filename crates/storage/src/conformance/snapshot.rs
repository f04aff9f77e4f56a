//! The [`SnapshotStore`] conformance suite.

use std::io::{Read, Write};
use std::sync::Arc;

use paddock_types::Zxid;

use super::ok;
use crate::traits::SnapshotStore;

/// Makes snapshot stores for the suite.
pub trait SnapshotHarness {
    /// The implementation under test.
    type Store: SnapshotStore;
    /// A new, empty store.
    fn fresh(&mut self) -> Arc<Self::Store>;
    /// Crash and reopen the store most recently returned, given its only handle.
    fn restart(&mut self, store: Arc<Self::Store>) -> Arc<Self::Store>;
}

/// `len` bytes of test content for the snapshot of `zxid`.
pub fn content(zxid: Zxid, len: usize) -> Vec<u8> {
    let seed = zxid.0.to_be_bytes();
    (0..len)
        .map(|i| seed[i % 8].wrapping_add((i / 8) as u8))
        .collect()
}

/// Writes a snapshot in chunks of 1000 bytes and commits it.
pub fn write_snapshot<S: SnapshotStore + ?Sized>(store: &S, zxid: Zxid, bytes: &[u8]) {
    let mut sink = ok(store.create(zxid), "create");
    for chunk in bytes.chunks(1000) {
        ok(sink.write_all(chunk), "write");
    }
    ok(sink.commit(), "commit");
}

/// `open_latest`, read to the end.
pub fn read_latest<S: SnapshotStore + ?Sized>(store: &S) -> Option<(Zxid, Vec<u8>)> {
    let (zxid, mut reader) = ok(store.open_latest(), "open_latest")?;
    let mut bytes = Vec::new();
    ok(reader.read_to_end(&mut bytes), "read snapshot");
    Some((zxid, bytes))
}

/// Runs every test of the suite.
pub fn run_all<H: SnapshotHarness>(h: &mut H) {
    empty_store(h);
    commit_then_open_latest(h);
    uncommitted_snapshot_is_invisible(h);
    a_synced_snapshot_commits_whole(h);
    newest_committed_wins(h);
    purge_keeps_newest(h);
    discard_after_removes_the_newer_ones(h);
    committed_snapshots_survive_restart(h);
}

/// A new store has no snapshot.
pub fn empty_store<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    assert!(ok(store.list(), "list").is_empty());
    assert!(
        read_latest(&*store).is_none(),
        "open_latest on an empty store"
    );
    assert!(ok(store.purge(3), "purge").is_empty());
}

/// A committed snapshot reads back exactly, whatever its size (including empty).
pub fn commit_then_open_latest<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    for (zxid, len) in [(1, 0), (2, 1), (3, 5_000), (4, 3 << 20)] {
        let zxid = Zxid(zxid);
        let bytes = content(zxid, len);
        write_snapshot(&*store, zxid, &bytes);
        assert_eq!(
            read_latest(&*store),
            Some((zxid, bytes)),
            "snapshot of {len} bytes"
        );
    }
    assert_eq!(
        ok(store.list(), "list"),
        [Zxid(1), Zxid(2), Zxid(3), Zxid(4)]
    );
}

/// Nothing is visible before commit, synced (`sync`) or not; an abandoned sink leaves nothing,
/// and the same zxid can be written again afterwards.
pub fn uncommitted_snapshot_is_invisible<H: SnapshotHarness>(h: &mut H) {
    for synced in [false, true] {
        let store = h.fresh();
        write_snapshot(&*store, Zxid(5), b"five");
        let mut sink = ok(store.create(Zxid(9)), "create 9");
        ok(sink.write_all(b"nine, unfinished"), "write");
        if synced {
            ok(sink.sync(), "sync");
        }
        assert_eq!(
            ok(store.list(), "list"),
            [Zxid(5)],
            "uncommitted is not listed (synced: {synced})"
        );
        assert_eq!(read_latest(&*store), Some((Zxid(5), b"five".to_vec())));
        drop(sink);
        assert_eq!(
            ok(store.list(), "list"),
            [Zxid(5)],
            "abandoned is not listed (synced: {synced})"
        );
        write_snapshot(&*store, Zxid(9), b"nine");
        assert_eq!(read_latest(&*store), Some((Zxid(9), b"nine".to_vec())));
    }
}

/// A sink written on after `sync` and then committed reads back whole, across a restart (a
/// learner syncs the file while it restores the tree, then commits).
pub fn a_synced_snapshot_commits_whole<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    let bytes = content(Zxid(8), 300_000);
    let mut sink = ok(store.create(Zxid(8)), "create 8");
    ok(sink.write_all(&bytes[..100_000]), "write");
    ok(sink.sync(), "sync");
    ok(sink.write_all(&bytes[100_000..]), "write after sync");
    ok(sink.sync(), "sync again");
    ok(sink.commit(), "commit");
    assert_eq!(read_latest(&*store), Some((Zxid(8), bytes.clone())));
    let store = h.restart(store);
    assert_eq!(read_latest(&*store), Some((Zxid(8), bytes)));
}

/// `open_latest` returns the highest zxid, whatever the commit order; `list` is oldest first.
pub fn newest_committed_wins<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    for z in [3u64, 9, 6, 0x1_0000_0000] {
        write_snapshot(&*store, Zxid(z), &content(Zxid(z), 100));
    }
    let newest = Zxid(0x1_0000_0000);
    assert_eq!(read_latest(&*store), Some((newest, content(newest, 100))));
    assert_eq!(
        ok(store.list(), "list"),
        [Zxid(3), Zxid(6), Zxid(9), newest]
    );
}

/// `purge(keep)` deletes all but the newest `keep` and says which.
pub fn purge_keeps_newest<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    for z in 1..=5 {
        write_snapshot(&*store, Zxid(z), &content(Zxid(z), 10));
    }
    assert_eq!(ok(store.purge(2), "purge 2"), [Zxid(1), Zxid(2), Zxid(3)]);
    assert_eq!(ok(store.list(), "list"), [Zxid(4), Zxid(5)]);
    assert!(ok(store.purge(10), "purge 10").is_empty());
    assert_eq!(read_latest(&*store), Some((Zxid(5), content(Zxid(5), 10))));
    assert_eq!(ok(store.purge(0), "purge 0"), [Zxid(4), Zxid(5)]);
    assert!(read_latest(&*store).is_none());
}

/// `discard_after(z)` deletes every snapshot above `z`, durably, and says which.
pub fn discard_after_removes_the_newer_ones<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    for z in [2u64, 4, 6, 8] {
        write_snapshot(&*store, Zxid(z), &content(Zxid(z), 10));
    }
    assert!(ok(store.discard_after(Zxid(8)), "discard after 8").is_empty());
    assert_eq!(
        ok(store.discard_after(Zxid(5)), "discard after 5"),
        [Zxid(6), Zxid(8)]
    );
    assert_eq!(ok(store.list(), "list"), [Zxid(2), Zxid(4)]);
    assert_eq!(read_latest(&*store), Some((Zxid(4), content(Zxid(4), 10))));
    let store = h.restart(store);
    assert_eq!(ok(store.list(), "list after restart"), [Zxid(2), Zxid(4)]);
    assert_eq!(
        ok(store.discard_after(Zxid::ZERO), "discard after 0"),
        [Zxid(2), Zxid(4)]
    );
    assert!(read_latest(&*store).is_none());
}

/// Committed snapshots survive a crash; uncommitted ones do not appear.
pub fn committed_snapshots_survive_restart<H: SnapshotHarness>(h: &mut H) {
    let store = h.fresh();
    write_snapshot(&*store, Zxid(7), &content(Zxid(7), 70_000));
    let mut sink = ok(store.create(Zxid(8)), "create 8");
    ok(sink.write_all(b"unfinished"), "write");
    std::mem::forget(sink); // a crash: no drop, no commit
    let store = h.restart(store);
    assert_eq!(ok(store.list(), "list"), [Zxid(7)]);
    assert_eq!(
        read_latest(&*store),
        Some((Zxid(7), content(Zxid(7), 70_000)))
    );
    write_snapshot(&*store, Zxid(8), b"eight");
    assert_eq!(read_latest(&*store), Some((Zxid(8), b"eight".to_vec())));
}
