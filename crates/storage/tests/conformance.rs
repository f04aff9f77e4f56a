//! Runs the conformance suites (src/conformance) against the disk and in-memory implementations,
//! plus the model-based log check with proptest.

use std::path::PathBuf;
use std::sync::Arc;

use paddock_storage::conformance::epoch::{self as epoch_suite, EpochHarness};
use paddock_storage::conformance::log::{self as log_suite, LogHarness};
use paddock_storage::conformance::model::{check_ops, random_ops, LogOp};
use paddock_storage::conformance::snapshot::{self as snapshot_suite, SnapshotHarness};
use paddock_storage::mem::{MemEpochStore, MemSnapshotStore, MemTxnLog};
use paddock_storage::{DataDir, FileEpochStore, FileSnapshotStore, SledTxnLog};
use proptest::prelude::*;
use tempfile::TempDir;

/// Fresh data directories under one temp dir; restart = drop every handle and reopen.
struct DiskHarness {
    root: TempDir,
    made: usize,
    current: PathBuf,
}

impl DiskHarness {
    fn new() -> DiskHarness {
        let root = tempfile::tempdir().expect("temp dir");
        let current = root.path().to_path_buf();
        DiskHarness {
            root,
            made: 0,
            current,
        }
    }

    fn fresh_dir(&mut self) -> DataDir {
        self.made += 1;
        self.current = self.root.path().join(format!("d{}", self.made));
        DataDir::open(&self.current).expect("open fresh data dir").0
    }

    fn reopen<T>(&mut self, handle: Arc<T>) -> DataDir {
        assert_eq!(
            Arc::strong_count(&handle),
            1,
            "restart needs the only handle"
        );
        drop(handle);
        DataDir::open(&self.current).expect("reopen data dir").0
    }
}

/// The sled log on its own (`SledTxnLog::open_in`): the suites append arbitrary increasing
/// zxids, which a server's `DataDir` would rightly call gaps (it checks ZAB's continuity).
impl LogHarness for DiskHarness {
    type Log = SledTxnLog;
    fn fresh(&mut self) -> Arc<SledTxnLog> {
        self.made += 1;
        self.current = self.root.path().join(format!("d{}", self.made));
        Arc::new(
            SledTxnLog::open_in(&self.current, 8 << 20)
                .expect("open fresh log")
                .0,
        )
    }
    fn restart(&mut self, log: Arc<SledTxnLog>) -> Arc<SledTxnLog> {
        assert_eq!(Arc::strong_count(&log), 1, "restart needs the only handle");
        drop(log);
        Arc::new(
            SledTxnLog::open_in(&self.current, 8 << 20)
                .expect("reopen log")
                .0,
        )
    }
}

impl SnapshotHarness for DiskHarness {
    type Store = FileSnapshotStore;
    fn fresh(&mut self) -> Arc<FileSnapshotStore> {
        self.fresh_dir().snapshots()
    }
    fn restart(&mut self, store: Arc<FileSnapshotStore>) -> Arc<FileSnapshotStore> {
        self.reopen(store).snapshots()
    }
}

impl EpochHarness for DiskHarness {
    type Store = FileEpochStore;
    fn fresh(&mut self) -> Arc<FileEpochStore> {
        self.fresh_dir().epochs()
    }
    fn restart(&mut self, store: Arc<FileEpochStore>) -> Arc<FileEpochStore> {
        self.reopen(store).epochs()
    }
}

/// In-memory stores; restart = `crash()` (lose everything not durable).
struct MemHarness;

impl LogHarness for MemHarness {
    type Log = MemTxnLog;
    fn fresh(&mut self) -> Arc<MemTxnLog> {
        Arc::new(MemTxnLog::new())
    }
    fn restart(&mut self, log: Arc<MemTxnLog>) -> Arc<MemTxnLog> {
        log.crash();
        log
    }
}

impl SnapshotHarness for MemHarness {
    type Store = MemSnapshotStore;
    fn fresh(&mut self) -> Arc<MemSnapshotStore> {
        Arc::new(MemSnapshotStore::new())
    }
    fn restart(&mut self, store: Arc<MemSnapshotStore>) -> Arc<MemSnapshotStore> {
        store
    }
}

impl EpochHarness for MemHarness {
    type Store = MemEpochStore;
    fn fresh(&mut self) -> Arc<MemEpochStore> {
        Arc::new(MemEpochStore::new())
    }
    fn restart(&mut self, store: Arc<MemEpochStore>) -> Arc<MemEpochStore> {
        store
    }
}

#[test]
fn sled_log_passes_the_log_suite() {
    log_suite::run_all(&mut DiskHarness::new());
}

#[test]
fn mem_log_passes_the_log_suite() {
    log_suite::run_all(&mut MemHarness);
}

#[test]
fn file_snapshots_pass_the_snapshot_suite() {
    snapshot_suite::run_all(&mut DiskHarness::new());
}

#[test]
fn mem_snapshots_pass_the_snapshot_suite() {
    snapshot_suite::run_all(&mut MemHarness);
}

#[test]
fn file_epochs_pass_the_epoch_suite() {
    epoch_suite::run_all(&mut DiskHarness::new());
}

#[test]
fn mem_epochs_pass_the_epoch_suite() {
    epoch_suite::run_all(&mut MemHarness);
}

#[test]
fn seeded_random_sequences_agree_with_the_model() {
    for seed in 1..=20 {
        check_ops(&mut MemHarness, &random_ops(seed, 200));
    }
    for seed in 1..=4 {
        check_ops(&mut DiskHarness::new(), &random_ops(seed, 120));
    }
}

fn op() -> impl Strategy<Value = LogOp> {
    prop_oneof![
        6 => (prop_oneof![9 => 0u64..3, 1 => Just(1u64 << 32)], 0u8..6, 0u16..300)
            .prop_map(|(gap, count, payload_len)| LogOp::Append { gap, count, payload_len }),
        1 => (0u64..4).prop_map(|below| LogOp::AppendStale { below }),
        3 => Just(LogOp::Sync),
        2 => (0u64..12, 0u8..8).prop_map(|(back, limit)| LogOp::Read { back, limit }),
        1 => (0u64..8).prop_map(|back| LogOp::TruncateAfter { back }),
        2 => (0u64..10, any::<bool>()).prop_map(|(back, past_end)| LogOp::PurgeThrough { back, past_end }),
        1 => Just(LogOp::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn mem_log_matches_the_model(ops in prop::collection::vec(op(), 0..80)) {
        check_ops(&mut MemHarness, &ops);
    }
}

proptest! {
    // Each case opens sled databases and fsyncs: keep the count modest.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn sled_log_matches_the_model(ops in prop::collection::vec(op(), 0..60)) {
        check_ops(&mut DiskHarness::new(), &ops);
    }
}
