//! [`MemSnapshotStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Cursor, Write};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use paddock_types::Zxid;

use super::injected;
use crate::error::StorageError;
use crate::fsutil::lock;
use crate::traits::{SnapshotReader, SnapshotSink, SnapshotStore};

/// An in-memory [`SnapshotStore`]. Committed snapshots are "durable" (survive anything the test
/// does); a sink dropped without commit leaves nothing.
#[derive(Debug, Default)]
pub struct MemSnapshotStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    snapshots: BTreeMap<Zxid, Bytes>,
    /// Snapshots that `open_latest` must treat as failing verification.
    corrupt: BTreeSet<Zxid>,
    fail_commit: bool,
}

impl MemSnapshotStore {
    /// An empty store.
    pub fn new() -> MemSnapshotStore {
        MemSnapshotStore::default()
    }

    /// While `true`, `commit` fails with an io error and the snapshot is not stored.
    pub fn fail_commits(&self, fail: bool) {
        lock(&self.state).fail_commit = fail;
    }

    /// Makes `zxid`'s snapshot fail verification: `open_latest` skips it (as the file store
    /// does, it is no longer listed).
    pub fn corrupt(&self, zxid: Zxid) {
        lock(&self.state).corrupt.insert(zxid);
    }

    /// The committed bytes of `zxid`'s snapshot.
    pub fn get(&self, zxid: Zxid) -> Option<Bytes> {
        lock(&self.state).snapshots.get(&zxid).cloned()
    }
}

/// A sink buffering into memory.
struct MemSink {
    zxid: Zxid,
    buf: Vec<u8>,
    state: Arc<Mutex<State>>,
}

impl Write for MemSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SnapshotSink for MemSink {
    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        if s.fail_commit {
            return Err(injected("snapshot commit"));
        }
        s.corrupt.remove(&self.zxid);
        s.snapshots.insert(self.zxid, Bytes::from(self.buf));
        Ok(())
    }
}

impl SnapshotStore for MemSnapshotStore {
    fn create(&self, zxid: Zxid) -> Result<Box<dyn SnapshotSink>, StorageError> {
        Ok(Box::new(MemSink {
            zxid,
            buf: Vec::new(),
            state: Arc::clone(&self.state),
        }))
    }

    fn open_latest(&self) -> Result<Option<(Zxid, SnapshotReader)>, StorageError> {
        let mut s = lock(&self.state);
        while let Some((&zxid, bytes)) = s.snapshots.iter().next_back() {
            if s.corrupt.contains(&zxid) {
                tracing::warn!(%zxid, "in-memory snapshot marked corrupt; skipped");
                s.snapshots.remove(&zxid);
                continue;
            }
            let reader: SnapshotReader = Box::new(Cursor::new(bytes.clone()));
            return Ok(Some((zxid, reader)));
        }
        Ok(None)
    }

    fn list(&self) -> Result<Vec<Zxid>, StorageError> {
        Ok(lock(&self.state).snapshots.keys().copied().collect())
    }

    fn purge(&self, keep: usize) -> Result<Vec<Zxid>, StorageError> {
        let mut s = lock(&self.state);
        let n = s.snapshots.len().saturating_sub(keep);
        let remove: Vec<Zxid> = s.snapshots.keys().take(n).copied().collect();
        for z in &remove {
            s.snapshots.remove(z);
        }
        Ok(remove)
    }

    fn discard_after(&self, zxid: Zxid) -> Result<Vec<Zxid>, StorageError> {
        let mut s = lock(&self.state);
        let remove: Vec<Zxid> = s
            .snapshots
            .range((std::ops::Bound::Excluded(zxid), std::ops::Bound::Unbounded))
            .map(|(z, _)| *z)
            .collect();
        for z in &remove {
            s.snapshots.remove(z);
        }
        Ok(remove)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::snapshot::{read_latest, write_snapshot};

    #[test]
    fn corrupt_newest_falls_back_and_failed_commit_stores_nothing() {
        let store = MemSnapshotStore::new();
        write_snapshot(&store, Zxid(1), b"one");
        write_snapshot(&store, Zxid(2), b"two");
        store.corrupt(Zxid(2));
        assert_eq!(read_latest(&store), Some((Zxid(1), b"one".to_vec())));
        assert_eq!(store.list().expect("list"), [Zxid(1)]);
        store.fail_commits(true);
        let mut sink = store.create(Zxid(3)).expect("create");
        sink.write_all(b"three").expect("write");
        assert!(sink.commit().is_err());
        assert_eq!(store.get(Zxid(3)), None);
    }
}
