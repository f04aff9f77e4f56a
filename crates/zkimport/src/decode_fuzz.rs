//! Fuzz targets of the ZooKeeper file decoders (in the crate, for its jute writers and
//! private readers): a txn record mutated *inside* a log entry whose checksum is then right, so
//! the record decoder meets it; a whole snapshot or log mutated; and whole ZooKeeper data dirs
//! with one file mutated, through `read_zookeeper`. No input may panic or allocate from a length
//! or count field; a damaged one is `Ok` or a named error. `PADDOCK_FUZZ_CASES` /
//! `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use std::path::Path;

use paddock_fuzz::{bounded_by_input, config, config_costly, input, mutated, TrackingAlloc};
use proptest::prelude::*;

use crate::read_zookeeper;
use crate::tests::{log, log1_txns, snapshot, standard, zk_dir};
use crate::{snapshot as snap, txnlog};

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn txn_records_never_panic(record in input(log1_txns())) {
        let file = log(&[record], 0);
        let _ = bounded_by_input(file.len(), || txnlog::read(Path::new("log.1"), &file));
    }

    #[test]
    fn log_files_never_panic(file in input(vec![log(&log1_txns(), 16)])) {
        let _ = bounded_by_input(file.len(), || txnlog::read(Path::new("log.1"), &file));
    }

    #[test]
    fn snapshot_files_never_panic(file in input(vec![snapshot()])) {
        let _ = bounded_by_input(file.len(), || snap::read(Path::new("snapshot.1"), &file));
    }
}

proptest! {
    #![proptest_config(config_costly(100, 20))]

    /// Rule: no input makes the importer panic; damaged input is Ok or Err, nothing else.
    #[test]
    fn mutated_data_dirs_never_panic(
        (which, bytes) in (0usize..3).prop_flat_map(|which| {
            (Just(which), mutated(vec![standard()[which].1.clone()]))
        }),
    ) {
        let mut files = standard();
        files[which].1 = bytes;
        let (_g, zk) = zk_dir(&files);
        let _ = read_zookeeper(&zk, None);
    }
}
