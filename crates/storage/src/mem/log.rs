//! [`MemTxnLog`].

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use paddock_types::Zxid;

use super::injected;
use crate::error::StorageError;
use crate::fsutil::lock;
use crate::traits::TxnLog;

/// An in-memory [`TxnLog`] that knows which records are durable.
///
/// Same semantics as [`crate::SledTxnLog`], including the purge watermark: `last_logged_zxid` is
/// max(last record, highest zxid purged), so purging everything does not reset it.
#[derive(Debug, Default)]
pub struct MemTxnLog {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<Zxid, Bytes>,
    last_logged: Zxid,
    last_durable: Zxid,
    purged_through: Zxid,
    fail_sync: bool,
    fail_append: bool,
    /// Failures put the log out of service until `recover` (as sled does); see
    /// [`MemTxnLog::sticky_failures`].
    sticky: bool,
    /// Why it is out of service.
    failed: Option<String>,
    /// A write failed since the last `recover` (sticky or not): what was not durable then is
    /// in doubt, and `recover` must drop it (the trait's contract).
    in_doubt: bool,
    corrupt: BTreeSet<Zxid>,
    syncs: u64,
    /// What [`TxnLog::simulated_sync_time`] answers (a slow disk).
    sync_time: Duration,
}

impl State {
    fn recompute_last(&mut self) {
        let last_key = self
            .records
            .keys()
            .next_back()
            .copied()
            .unwrap_or(Zxid::ZERO);
        self.last_logged = last_key.max(self.purged_through);
    }

    /// `Err(Failed)` while out of service.
    fn in_service(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(why) => Err(StorageError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// An injected failure of `what`; a sticky log goes out of service.
    fn fail(&mut self, what: &str) -> StorageError {
        let e = injected(what);
        self.in_doubt = true;
        if self.sticky {
            self.failed = Some(e.to_string());
        }
        e
    }

    fn flush(&mut self) -> Result<(), StorageError> {
        self.in_service()?;
        if self.fail_sync {
            return Err(self.fail("txn log sync"));
        }
        self.syncs += 1;
        self.last_durable = self.last_logged;
        Ok(())
    }
}

impl MemTxnLog {
    /// An empty log.
    pub fn new() -> MemTxnLog {
        MemTxnLog::default()
    }

    /// While `true`, `sync`, `truncate_after` and `purge_through` fail with an io error and
    /// change nothing.
    pub fn fail_syncs(&self, fail: bool) {
        lock(&self.state).fail_sync = fail;
    }

    /// From now on every sync takes `time` on the runtime's clock ([`TxnLog::simulated_sync_time`]:
    /// a slow disk in a simulation); `Duration::ZERO` makes the disk fast again.
    pub fn slow_syncs(&self, time: Duration) {
        lock(&self.state).sync_time = time;
    }

    /// While `true`, `append` fails with an io error and changes nothing.
    pub fn fail_appends(&self, fail: bool) {
        lock(&self.state).fail_append = fail;
    }

    /// While `true`, an injected failure puts the log out of service (every write fails with
    /// `StorageError::Failed`) until [`TxnLog::recover`] succeeds, which it does only once the
    /// failures are switched off: how sled behaves on a full disk.
    pub fn sticky_failures(&self, sticky: bool) {
        lock(&self.state).sticky = sticky;
    }

    /// Makes `read_after` report `zxid`'s record as corrupt.
    pub fn corrupt_record(&self, zxid: Zxid) {
        lock(&self.state).corrupt.insert(zxid);
    }

    /// Simulates a power loss: every record appended but not synced is gone (the worst case
    /// the contract allows; sled may keep some of them).
    pub fn crash(&self) {
        let mut s = lock(&self.state);
        let durable = s.last_durable;
        s.records.retain(|z, _| *z <= durable);
        s.recompute_last();
        s.last_durable = s.last_logged;
    }

    /// Simulates a power loss that tore the log's tail: of the records appended but not synced,
    /// the first `survivors` (in zxid order, as a log is written) reached the disk, the rest are
    /// gone — anywhere between [`MemTxnLog::crash`] (none) and a clean stop (all). A record cut
    /// in the middle counts as gone: the file store's checksums drop it.
    pub fn crash_keeping(&self, survivors: usize) {
        let mut s = lock(&self.state);
        let durable = s.last_durable;
        let lost: Vec<Zxid> = s
            .records
            .range((Bound::Excluded(durable), Bound::Unbounded))
            .skip(survivors)
            .map(|(z, _)| *z)
            .collect();
        for z in lost {
            s.records.remove(&z);
        }
        s.recompute_last();
        s.last_durable = s.last_logged;
    }

    /// Every record held, durable or not.
    pub fn records(&self) -> Vec<(Zxid, Bytes)> {
        let s = lock(&self.state);
        s.records.iter().map(|(z, b)| (*z, b.clone())).collect()
    }

    /// The records that would survive [`MemTxnLog::crash`].
    pub fn durable_records(&self) -> Vec<(Zxid, Bytes)> {
        let s = lock(&self.state);
        s.records
            .range(..=s.last_durable)
            .map(|(z, b)| (*z, b.clone()))
            .collect()
    }

    /// Successful syncs (including those done by truncate and purge) so far.
    pub fn sync_count(&self) -> u64 {
        lock(&self.state).syncs
    }
}

impl TxnLog for MemTxnLog {
    fn simulated_sync_time(&self) -> Duration {
        lock(&self.state).sync_time
    }

    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.in_service()?;
        if s.fail_append {
            return Err(s.fail("txn log append"));
        }
        let mut last = s.last_logged;
        for (zxid, _) in records {
            if *zxid <= last {
                return Err(StorageError::OutOfOrder { zxid: *zxid, last });
            }
            last = *zxid;
        }
        for (zxid, payload) in records {
            s.records.insert(*zxid, payload.clone());
        }
        s.last_logged = last;
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        lock(&self.state).flush()
    }

    fn last_logged_zxid(&self) -> Zxid {
        lock(&self.state).last_logged
    }

    fn last_durable_zxid(&self) -> Zxid {
        lock(&self.state).last_durable
    }

    fn first_zxid(&self) -> Option<Zxid> {
        lock(&self.state).records.keys().next().copied()
    }

    fn read_after(&self, after: Zxid, limit: usize) -> Result<Vec<(Zxid, Bytes)>, StorageError> {
        let s = lock(&self.state);
        let mut out = Vec::new();
        for (zxid, payload) in s
            .records
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(limit)
        {
            if s.corrupt.contains(zxid) {
                return Err(StorageError::Corrupt {
                    zxid: *zxid,
                    why: "marked corrupt by the test".to_string(),
                });
            }
            out.push((*zxid, payload.clone()));
        }
        Ok(out)
    }

    fn truncate_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.in_service()?;
        if s.fail_sync {
            return Err(s.fail("txn log truncate"));
        }
        s.purged_through = s.purged_through.min(zxid);
        s.records.retain(|z, _| *z <= zxid);
        s.corrupt.retain(|z| *z <= zxid);
        s.recompute_last();
        s.flush()
    }

    fn reset_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.in_service()?;
        if s.fail_sync {
            return Err(s.fail("txn log reset"));
        }
        s.records.clear();
        s.corrupt.clear();
        s.purged_through = zxid;
        s.recompute_last();
        s.flush()
    }

    fn recover(&self) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        if s.failed.is_none() && !s.in_doubt {
            return Ok(());
        }
        if s.fail_sync || s.fail_append {
            return Err(injected("txn log recover"));
        }
        // Also after a failure that did not put the log out of service: the records appended
        // since the last sync may or may not be on disk, and a caller that recovered counts
        // everything left as durable. (Before, a non-sticky failed sync left them in place,
        // and a learner reported and acknowledged records that a crash then lost.)
        let durable = s.last_durable;
        s.records.retain(|z, _| *z <= durable);
        s.recompute_last();
        s.failed = None;
        s.in_doubt = false;
        Ok(())
    }

    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        let mut s = lock(&self.state);
        s.in_service()?;
        if s.fail_sync {
            return Err(s.fail("txn log purge"));
        }
        let through = zxid.min(s.last_logged);
        s.purged_through = s.purged_through.max(through);
        s.records.retain(|z, _| *z > through);
        s.corrupt.retain(|z| *z > through);
        s.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::log::recs;

    #[test]
    fn crash_drops_only_what_was_not_synced() {
        let log = MemTxnLog::new();
        log.append(&recs(1..=3)).expect("append");
        log.sync().expect("sync");
        log.append(&recs(4..=5)).expect("append");
        assert_eq!(log.records(), recs(1..=5));
        assert_eq!(log.durable_records(), recs(1..=3));
        log.crash();
        assert_eq!(log.records(), recs(1..=3));
        assert_eq!(log.last_logged_zxid(), Zxid(3));
        log.append(&recs([4])).expect("zxid 4 can be logged again");
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_what_was_not_synced() {
        let log = MemTxnLog::new();
        log.append(&recs(1..=2)).expect("append");
        log.sync().expect("sync");
        log.append(&recs(3..=5)).expect("append");
        log.crash_keeping(2);
        assert_eq!(log.records(), recs(1..=4));
        assert_eq!(log.last_durable_zxid(), Zxid(4));
        log.crash_keeping(5);
        assert_eq!(log.records(), recs(1..=4), "nothing unsynced left to lose");
    }

    #[test]
    fn failing_sync_changes_nothing_durable() {
        let log = MemTxnLog::new();
        log.append(&recs(1..=3)).expect("append");
        log.fail_syncs(true);
        assert!(matches!(log.sync(), Err(StorageError::Io { .. })));
        assert!(log.truncate_after(Zxid(1)).is_err());
        assert!(log.purge_through(Zxid(1)).is_err());
        assert_eq!(log.last_durable_zxid(), Zxid::ZERO);
        assert_eq!(log.records(), recs(1..=3));
        log.fail_syncs(false);
        log.sync().expect("sync");
        assert_eq!(log.last_durable_zxid(), Zxid(3));
        assert_eq!(log.sync_count(), 1);
    }

    #[test]
    fn sticky_failures_need_a_recover_which_drops_what_was_not_durable() {
        let log = MemTxnLog::new();
        log.sticky_failures(true);
        log.append(&recs(1..=3)).expect("append");
        log.sync().expect("sync");
        log.append(&recs(4..=5)).expect("append");
        log.fail_syncs(true);
        assert!(log.sync().is_err());
        log.fail_syncs(false);
        assert!(matches!(log.sync(), Err(StorageError::Failed(_))));
        assert!(matches!(
            log.append(&recs([6])),
            Err(StorageError::Failed(_))
        ));
        log.fail_syncs(true);
        assert!(log.recover().is_err(), "still failing");
        log.fail_syncs(false);
        log.recover().expect("recover");
        assert_eq!(log.records(), recs(1..=3));
        assert_eq!(log.last_logged_zxid(), Zxid(3));
        log.append(&recs([4])).expect("append again");
        log.sync().expect("sync");
    }

    #[test]
    fn recover_after_a_failure_that_was_not_sticky_drops_what_was_not_synced() {
        let log = MemTxnLog::new();
        log.append(&recs(1..=2)).expect("append");
        log.sync().expect("sync");
        log.append(&recs(3..=4)).expect("append");
        log.fail_syncs(true);
        assert!(log.sync().is_err());
        assert!(log.recover().is_err(), "still failing");
        log.fail_syncs(false);
        log.recover().expect("recovers");
        assert_eq!(log.records(), recs(1..=2), "only what was durable is left");
        assert_eq!(log.last_logged_zxid(), log.last_durable_zxid());
        log.recover().expect("a no-op now");
    }

    #[test]
    fn failing_append_and_corrupt_record_switches() {
        let log = MemTxnLog::new();
        log.fail_appends(true);
        assert!(log.append(&recs([1])).is_err());
        assert_eq!(log.last_logged_zxid(), Zxid::ZERO);
        log.fail_appends(false);
        log.append(&recs(1..=3)).expect("append");
        log.corrupt_record(Zxid(2));
        assert!(matches!(
            log.read_after(Zxid::ZERO, 10),
            Err(StorageError::Corrupt { zxid: Zxid(2), .. })
        ));
        assert_eq!(log.read_after(Zxid(2), 10).expect("read"), recs([3]));
    }
}
