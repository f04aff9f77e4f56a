//! The [`TxnLog`] conformance suite.

use std::sync::Arc;

use bytes::Bytes;
use paddock_types::{Epoch, Zxid};

use super::ok;
use crate::error::StorageError;
use crate::traits::TxnLog;

/// Makes logs for the suite.
pub trait LogHarness {
    /// The implementation under test.
    type Log: TxnLog;
    /// A new, empty log (each call independent of earlier ones).
    fn fresh(&mut self) -> Arc<Self::Log>;
    /// Crash and restart the log most recently returned by [`LogHarness::fresh`] (or `restart`),
    /// given its only handle: returns it as rebuilt from what was persisted.
    fn restart(&mut self, log: Arc<Self::Log>) -> Arc<Self::Log>;
}

/// The payload the suites store under `zxid`, `len` bytes long.
pub fn payload(zxid: Zxid, len: usize) -> Bytes {
    let seed = zxid.to_be_bytes();
    Bytes::from(
        (0..len)
            .map(|i| seed[i % 8] ^ (i as u8))
            .collect::<Vec<u8>>(),
    )
}

/// Records for `zxids`, with 20-byte payloads.
pub fn recs(zxids: impl IntoIterator<Item = u64>) -> Vec<(Zxid, Bytes)> {
    zxids
        .into_iter()
        .map(|z| (Zxid(z), payload(Zxid(z), 20)))
        .collect()
}

/// Everything in the log, via paged `read_after` calls.
pub fn read_all<L: TxnLog + ?Sized>(log: &L) -> Vec<(Zxid, Bytes)> {
    let mut out = Vec::new();
    let mut after = Zxid::ZERO;
    loop {
        let page = ok(log.read_after(after, 7), "read_after (paging)");
        match page.last() {
            Some((z, _)) => after = *z,
            None => return out,
        }
        out.extend(page);
    }
}

fn zxids(records: &[(Zxid, Bytes)]) -> Vec<u64> {
    records.iter().map(|(z, _)| z.0).collect()
}

/// Runs every test of the suite.
pub fn run_all<H: LogHarness>(h: &mut H) {
    empty_log(h);
    append_sync_read_in_order(h);
    empty_append_is_a_no_op(h);
    out_of_order_append_is_refused_whole(h);
    read_after_respects_limit(h);
    truncate_after(h);
    purge_through(h);
    purge_everything_keeps_last_zxid(h);
    zxids_span_epochs(h);
    synced_records_survive_restart(h);
    truncate_and_purge_survive_restart(h);
    large_records_round_trip(h);
    reset_after_continues_after_the_zxid(h);
    recover_without_a_failure_changes_nothing(h);
}

/// `reset_after(z)` empties the log, durably, and makes it continue after `z`, across a
/// restart too (installing a snapshot taken at `z`).
pub fn reset_after_continues_after_the_zxid<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=10)), "append");
    ok(log.sync(), "sync");
    ok(log.reset_after(Zxid(50)), "reset_after 50");
    assert_eq!(log.last_logged_zxid(), Zxid(50), "reset: last_logged");
    assert_eq!(log.last_durable_zxid(), Zxid(50), "reset is durable");
    assert_eq!(log.first_zxid(), None, "reset: empty");
    assert!(
        log.append(&recs([50])).is_err(),
        "appends stay above the reset point"
    );
    ok(log.append(&recs([51, 52])), "append after reset");
    ok(log.sync(), "sync");
    let log = h.restart(log);
    assert_eq!(read_all(&*log), recs([51, 52]), "after restart");
    ok(log.reset_after(Zxid(20)), "reset below the end");
    assert_eq!(log.last_logged_zxid(), Zxid(20));
    assert_eq!(read_all(&*log), vec![]);
    let log = h.restart(log);
    assert_eq!(log.last_logged_zxid(), Zxid(20), "reset survives restart");
}

/// `recover` when nothing failed is a no-op.
pub fn recover_without_a_failure_changes_nothing<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=3)), "append");
    ok(log.sync(), "sync");
    ok(log.recover(), "recover");
    assert_eq!(read_all(&*log), recs(1..=3));
    assert_eq!(log.last_durable_zxid(), Zxid(3));
}

/// A new log is empty and at zxid zero.
pub fn empty_log<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    assert_eq!(log.last_logged_zxid(), Zxid::ZERO, "empty: last_logged");
    assert_eq!(log.last_durable_zxid(), Zxid::ZERO, "empty: last_durable");
    assert_eq!(log.first_zxid(), None, "empty: first_zxid");
    assert!(ok(log.read_after(Zxid::ZERO, 10), "read").is_empty());
    ok(log.sync(), "sync of an empty log");
    ok(log.truncate_after(Zxid::ZERO), "truncate of an empty log");
    ok(log.purge_through(Zxid(5)), "purge of an empty log");
    assert_eq!(log.last_logged_zxid(), Zxid::ZERO);
    assert_eq!(log.first_zxid(), None);
}

/// append buffers (logged, not durable); sync makes it durable; reads come back in zxid order.
pub fn append_sync_read_in_order<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs([1, 2, 3])), "append 1..3");
    assert_eq!(log.last_logged_zxid(), Zxid(3), "append moves last_logged");
    assert_eq!(
        log.last_durable_zxid(),
        Zxid::ZERO,
        "append alone is not durable"
    );
    ok(log.sync(), "sync");
    assert_eq!(
        log.last_durable_zxid(),
        Zxid(3),
        "sync makes all appended durable"
    );
    ok(log.append(&recs([4])), "append 4");
    assert_eq!(log.last_durable_zxid(), Zxid(3));
    ok(log.append(&recs([7, 9])), "append 7, 9 (gaps are allowed)");
    ok(log.sync(), "sync");
    assert_eq!(log.last_durable_zxid(), Zxid(9));
    assert_eq!(
        read_all(&*log),
        recs([1, 2, 3, 4, 7, 9]),
        "read order and payloads"
    );
    assert_eq!(zxids(&ok(log.read_after(Zxid(3), 100), "read")), [4, 7, 9]);
    assert_eq!(zxids(&ok(log.read_after(Zxid(5), 100), "read")), [7, 9]);
    assert!(ok(log.read_after(Zxid(9), 100), "read").is_empty());
    assert!(ok(log.read_after(Zxid(u64::MAX), 100), "read").is_empty());
    assert_eq!(log.first_zxid(), Some(Zxid(1)));
}

/// An empty batch changes nothing.
pub fn empty_append_is_a_no_op<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&[]), "empty append");
    assert_eq!(log.last_logged_zxid(), Zxid::ZERO);
    ok(log.append(&recs([2])), "append");
    ok(log.append(&[]), "empty append");
    assert_eq!(log.last_logged_zxid(), Zxid(2));
}

/// A batch with any zxid not above its predecessor is refused with `OutOfOrder`, and none of it
/// is written.
pub fn out_of_order_append_is_refused_whole<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    let refused = |r: Result<(), StorageError>, what: &str| {
        assert!(
            matches!(r, Err(StorageError::OutOfOrder { .. })),
            "{what}: expected OutOfOrder, got {r:?}"
        )
    };
    refused(log.append(&recs([0])), "zxid 0 on an empty log");
    ok(log.append(&recs([5])), "append 5");
    refused(log.append(&recs([5])), "repeat of the last zxid");
    refused(log.append(&recs([4])), "below the last zxid");
    refused(log.append(&recs([6, 6])), "duplicate inside a batch");
    refused(log.append(&recs([8, 7])), "decreasing inside a batch");
    refused(
        log.append(&recs([6, 7, 3])),
        "bad record at the end of a batch",
    );
    assert_eq!(
        log.last_logged_zxid(),
        Zxid(5),
        "refused batches leave no trace"
    );
    ok(log.sync(), "sync");
    assert_eq!(read_all(&*log), recs([5]), "refused batches leave no trace");
    ok(log.append(&recs([6])), "the next zxid is still accepted");
}

/// `read_after` returns at most `limit` records; paging with it reads everything.
pub fn read_after_respects_limit<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=20)), "append 1..20");
    assert!(ok(log.read_after(Zxid::ZERO, 0), "limit 0").is_empty());
    assert_eq!(
        zxids(&ok(log.read_after(Zxid::ZERO, 3), "limit 3")),
        [1, 2, 3]
    );
    assert_eq!(
        zxids(&ok(log.read_after(Zxid(18), 5), "limit past end")),
        [19, 20]
    );
    assert_eq!(
        read_all(&*log),
        recs(1..=20),
        "unsynced records are readable"
    );
}

/// `truncate_after(z)` removes everything above `z`, durably; appends continue above `z`.
pub fn truncate_after<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=10)), "append");
    ok(log.sync(), "sync");
    ok(log.append(&recs(11..=12)), "append unsynced");
    ok(log.truncate_after(Zxid(6)), "truncate_after 6");
    assert_eq!(log.last_logged_zxid(), Zxid(6), "truncate: last_logged");
    assert_eq!(
        log.last_durable_zxid(),
        Zxid(6),
        "truncate is durable on return"
    );
    assert_eq!(read_all(&*log), recs(1..=6));
    let replacement = vec![(Zxid(7), payload(Zxid(7), 33))];
    ok(
        log.append(&replacement),
        "append a different 7 after truncation",
    );
    assert_eq!(ok(log.read_after(Zxid(6), 10), "read"), replacement);
    ok(log.truncate_after(Zxid(100)), "truncate above the end");
    assert_eq!(
        log.last_logged_zxid(),
        Zxid(7),
        "truncate above the end is a no-op"
    );
    assert_eq!(
        log.last_durable_zxid(),
        Zxid(7),
        "and leaves everything durable"
    );
    ok(log.truncate_after(Zxid::ZERO), "truncate everything");
    assert_eq!(log.last_logged_zxid(), Zxid::ZERO);
    assert_eq!(log.last_durable_zxid(), Zxid::ZERO);
    assert_eq!(log.first_zxid(), None);
    ok(log.append(&recs([1])), "append from scratch");
}

/// `purge_through(z)` removes everything up to `z`, durably; later records stay.
pub fn purge_through<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=10)), "append");
    ok(log.purge_through(Zxid(4)), "purge_through 4");
    assert_eq!(log.first_zxid(), Some(Zxid(5)), "purge: first_zxid");
    assert_eq!(log.last_logged_zxid(), Zxid(10), "purge keeps last_logged");
    assert_eq!(
        log.last_durable_zxid(),
        Zxid(10),
        "purge is durable on return"
    );
    assert_eq!(read_all(&*log), recs(5..=10));
    assert_eq!(
        zxids(&ok(log.read_after(Zxid(2), 2), "read below first")),
        [5, 6]
    );
    ok(log.purge_through(Zxid(2)), "purge below first is a no-op");
    assert_eq!(log.first_zxid(), Some(Zxid(5)));
}

/// Purging every record leaves `last_logged_zxid` where it was: appends at or below it are still
/// refused. A purge past the end purges only up to the end.
pub fn purge_everything_keeps_last_zxid<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=5)), "append");
    ok(log.purge_through(Zxid(5)), "purge all");
    assert_eq!(log.first_zxid(), None);
    assert_eq!(
        log.last_logged_zxid(),
        Zxid(5),
        "purging all keeps last_logged"
    );
    assert!(log.append(&recs([5])).is_err(), "append at a purged zxid");
    ok(log.append(&recs([6])), "append above");
    ok(log.purge_through(Zxid(100)), "purge past the end");
    assert_eq!(log.last_logged_zxid(), Zxid(6), "purge past the end clamps");
    ok(log.append(&recs([7])), "zxid 7 is still above last_logged");
    ok(
        log.truncate_after(Zxid(3)),
        "truncate below the purge point",
    );
    assert_eq!(
        log.last_logged_zxid(),
        Zxid(3),
        "truncate lowers last_logged"
    );
    ok(
        log.append(&recs([4])),
        "append after truncating below the purge point",
    );
    assert_eq!(read_all(&*log), recs([4]));
}

/// Zxids order numerically across epochs (keys are big-endian).
pub fn zxids_span_epochs<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    let z = |e, c| Zxid::new(Epoch(e), c).0;
    let all = [
        z(1, 1),
        z(1, 255),
        z(1, 256),
        z(1, u32::MAX),
        z(2, 0),
        z(2, 1),
        z(300, 7),
    ];
    ok(log.append(&recs(all)), "append across epochs");
    assert!(log.append(&recs([z(2, 5)])).is_err(), "older epoch refused");
    assert_eq!(zxids(&read_all(&*log)), all);
    assert_eq!(
        zxids(&ok(log.read_after(Zxid(z(1, u32::MAX)), 10), "read")),
        &all[4..]
    );
    ok(
        log.truncate_after(Zxid(z(1, 256))),
        "truncate across epochs",
    );
    assert_eq!(zxids(&read_all(&*log)), &all[..3]);
}

/// After a crash, every synced record is there; unsynced ones may be, but only as a prefix of
/// what was appended; everything present is durable.
pub fn synced_records_survive_restart<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=5)), "append");
    ok(log.sync(), "sync");
    ok(log.append(&recs(6..=8)), "append unsynced");
    let log = h.restart(log);
    let got = read_all(&*log);
    assert!(got.len() >= 5, "synced records lost: {:?}", zxids(&got));
    assert_eq!(got, recs(1..=got.len() as u64), "restart keeps a prefix");
    assert_eq!(log.last_logged_zxid(), Zxid(got.len() as u64));
    assert_eq!(
        log.last_durable_zxid(),
        log.last_logged_zxid(),
        "recovered = durable"
    );
    assert_eq!(log.first_zxid(), Some(Zxid(1)));
    let next = got.len() as u64 + 1;
    ok(log.append(&recs([next])), "append after restart");
    ok(log.sync(), "sync after restart");
    let log = h.restart(log);
    assert_eq!(read_all(&*log), recs(1..=next));
}

/// Truncations and purges, durable on return, stay done after a crash.
pub fn truncate_and_purge_survive_restart<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    ok(log.append(&recs(1..=10)), "append");
    ok(log.sync(), "sync");
    ok(log.truncate_after(Zxid(8)), "truncate");
    ok(log.purge_through(Zxid(3)), "purge");
    let log = h.restart(log);
    assert_eq!(read_all(&*log), recs(4..=8));
    assert_eq!(log.first_zxid(), Some(Zxid(4)));
    ok(log.purge_through(Zxid(8)), "purge all");
    let log = h.restart(log);
    assert_eq!(log.first_zxid(), None);
    assert_eq!(
        log.last_logged_zxid(),
        Zxid(8),
        "purge watermark survives restart"
    );
    assert!(
        log.append(&recs([8])).is_err(),
        "purged zxid refused after restart"
    );
}

/// Records from empty to several hundred KiB (sled stores values over 128 KiB as separate blob
/// files) round-trip and survive restart.
pub fn large_records_round_trip<H: LogHarness>(h: &mut H) {
    let log = h.fresh();
    let sizes = [0usize, 1, 150, 64 << 10, 300 << 10, 1 << 20];
    let records: Vec<(Zxid, Bytes)> = sizes
        .iter()
        .enumerate()
        .map(|(i, len)| {
            let z = Zxid(i as u64 + 1);
            (z, payload(z, *len))
        })
        .collect();
    ok(log.append(&records), "append large");
    ok(log.sync(), "sync large");
    assert_eq!(read_all(&*log), records);
    let log = h.restart(log);
    assert_eq!(read_all(&*log), records, "large records after restart");
}
