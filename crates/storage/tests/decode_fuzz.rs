//! Fuzz targets of what storage reads back from disk: txn-log segments (`log_format`: the
//! header, then each record's zxid, length, payload and checksum), snapshot files (trailer and
//! checksum), and the epoch files a data directory opens. A damaged input must be an error
//! naming the fault, never a panic nor an allocation sized by a length field; whatever is
//! accepted must be exactly what the writer would have written. `PADDOCK_FUZZ_CASES` /
//! `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use std::io::Read;

use bytes::Bytes;
use paddock_fuzz::{bounded_by_input, config, config_costly, input, TrackingAlloc};
use paddock_storage::log_format::{self, Segment};
use paddock_storage::{
    open_snapshot_file, write_snapshot_file, DataDir, EpochStore, CURRENT_EPOCH_FILE,
};
use paddock_types::Zxid;
use proptest::prelude::*;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

const FIRST: Zxid = Zxid(0x2_0000_0001);
const Z: Zxid = Zxid(0x3_0000_0009);

/// Segments as the log writes them: one record, several, and an empty payload among them.
fn segments() -> Vec<Vec<u8>> {
    let record = |i: u64, payload: &'static [u8]| (Zxid(FIRST.0 + i), Bytes::from_static(payload));
    vec![
        log_format::encode(&[record(0, b"one record")]),
        log_format::encode(&[record(0, b"a"), record(1, b""), record(2, b"third payload")]),
    ]
}

/// Parses and checks a segment value as the log's scan does; one that checks out whole must
/// be byte for byte what `encode` makes of its records.
fn exercise_segment(value: &[u8]) {
    let key = FIRST.to_be_bytes();
    let decoded = bounded_by_input(value.len(), || {
        if let Ok(seg) = Segment::parse(&key, value, Zxid::ZERO) {
            let _ = (seg.first(), seg.last(), seg.count());
            for r in seg.records().flatten() {
                assert_eq!(&value[r.payload_range.clone()], r.payload);
                assert!(r.span.end <= value.len());
            }
        }
        log_format::decode(&key, value)
    });
    if let Ok(records) = decoded {
        assert_eq!(
            log_format::encode(&records),
            value,
            "accepted bytes we would not write"
        );
    }
}

fn snapshot_file(zxid: Zxid, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_snapshot_file(&mut out, zxid, |w| w.write_all(payload)).expect("writes to memory");
    out
}

/// Opens `bytes` as a snapshot file; one accepted must stream exactly its payload.
fn exercise_snapshot(dir: &std::path::Path, bytes: &[u8]) {
    let path = dir.join("snapshot.fuzz");
    std::fs::write(&path, bytes).expect("write the case");
    let opened = bounded_by_input(bytes.len(), || open_snapshot_file(&path));
    if let Ok((info, mut reader)) = opened {
        let mut payload = Vec::new();
        reader
            .read_to_end(&mut payload)
            .expect("a verified file reads whole");
        assert_eq!(payload.len() as u64, info.payload_len);
        assert_eq!(
            snapshot_file(info.zxid, &payload),
            bytes,
            "accepted bytes we would not write"
        );
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn log_segments_never_panic(value in input(segments())) {
        exercise_segment(&value);
    }

    #[test]
    fn log_segments_with_any_key_never_panic(
        key in paddock_fuzz::raw(12),
        value in input(segments()),
        previous in any::<u64>(),
    ) {
        let _ = bounded_by_input(value.len(), || {
            Segment::parse(&key, &value, Zxid(previous)).map(|s| s.records().count())
        });
    }
}

proptest! {
    #![proptest_config(config_costly(300, 10))]

    #[test]
    fn snapshot_files_never_panic(
        bytes in input(vec![snapshot_file(Z, b""), snapshot_file(Z, b"a snapshot's payload")]),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        exercise_snapshot(dir.path(), &bytes);
    }
}

proptest! {
    #![proptest_config(config_costly(24, 1000))]

    /// A data directory opens with any epoch file: an error unless it holds a u32 in decimal
    /// (surrounding white space allowed), which is then the epoch.
    #[test]
    fn epoch_files_are_a_number_or_an_error(bytes in input(vec![b"5\n".to_vec(), b"4294967295".to_vec()])) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(CURRENT_EPOCH_FILE), &bytes).expect("write the case");
        let expected = std::str::from_utf8(&bytes).ok().and_then(|t| t.trim().parse::<u32>().ok());
        match DataDir::open(dir.path()) {
            Ok((d, _)) => prop_assert_eq!(Some(d.epochs().current_epoch().0), expected),
            Err(e) => prop_assert!(expected.is_none(), "{e}"),
        }
    }
}

#[test]
fn valid_inputs_are_accepted() {
    for s in segments() {
        log_format::decode(&FIRST.to_be_bytes(), &s).expect("decodes");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s");
    std::fs::write(&path, snapshot_file(Z, b"xyz")).expect("write");
    assert_eq!(open_snapshot_file(&path).expect("opens").0.payload_len, 3);
}
