//! What of the log is durable, as pure data: the driver's I/O progress (as openraft keeps its
//! own), separate from the wiring that moves records to the log writer and reports back.
//!
//! ```text
//!   Command::Log ──log()──▶ appends ──take_write()──▶ Write{records, last, generation} ──▶ writer
//!   writer ──Synced{last, generation}──▶ on_report() ──▶ Persisted::Log(last), once, in order
//!   PersistAccepted/CurrentEpoch (after the blocking write returned) ──epoch_persisted()──▶ notice
//!   log quiesced (writer barrier passed) ──quiesced()──▶ then one of:
//!       everything_durable()  (the log is about to be read)    ──▶ Persisted::Log(sent)
//!       truncated(to)         (after truncate_after returned)  ──▶ Log(sent) if sent <= to
//!       snapshot_installed(z) (after the snapshot is durable)  ──▶ Persisted::Log(z)
//!   role_ended() / storage_failed() / recovered(last): reports in flight become stale
//! ```
//!
//! Rules (each is a table test below):
//! - a `Persisted::Log(z)` notice is given only for a `z` the writer reported synced in the
//!   current generation (or that a passed barrier, a truncation or a snapshot made durable),
//!   and notices of the log only go up, except across a truncation (which lowers what was
//!   sent and notified to the cut, so that records above it are never reported) and a
//!   snapshot (the log restarts at its zxid);
//! - the generation changes whenever reports in flight must be ignored: a role ended (its
//!   followers' acks are a new role's business), the log was quiesced to be read, cut or
//!   replaced (a report of a record written before could be above the cut);
//! - after a storage failure every report is ignored until the log recovered (the failed role
//!   is over; an error report would only repeat the failure);
//! - notices wait in order until the driver takes them ([`Durability::take_notices`]) and feeds
//!   them to the role, after the commands of a wakeup are executed.

use super::log_writer::Synced;
use crate::command::Persisted;
use bytes::Bytes;
use paddock_storage::StorageError;
use paddock_types::Zxid;
use std::sync::Arc;

/// A batch for the log writer: appended with one write and made durable with one sync.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Write {
    pub records: Vec<(Zxid, Bytes)>,
    /// The last record's zxid.
    pub last: Zxid,
    /// The generation its report will carry.
    pub generation: u64,
}

/// The log's durability bookkeeping of one peer.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    /// Reports of another generation are stale.
    generation: u64,
    /// Records of this wakeup not handed to the writer yet (they go together, one sync).
    appends: Vec<(Zxid, Bytes)>,
    /// The last zxid handed to the writer (or made durable by a truncation or a snapshot).
    sent: Zxid,
    /// The last zxid reported durable (fed back to the role, or waiting in `notices`).
    notified: Zxid,
    /// Durability notices not taken yet, in order.
    notices: Vec<Persisted>,
    /// Storage failed: reports are ignored until [`Durability::recovered`].
    failed: bool,
}

impl Durability {
    /// A log record to append (in zxid order within a role).
    pub(crate) fn log(&mut self, zxid: Zxid, data: Bytes) {
        self.appends.push((zxid, data));
    }

    /// The records gathered since the last call, for the writer; `None` if there are none.
    pub(crate) fn take_write(&mut self) -> Option<Write> {
        let last = self.appends.last()?.0;
        self.sent = self.sent.max(last);
        Some(Write {
            records: std::mem::take(&mut self.appends),
            last,
            generation: self.generation,
        })
    }

    /// A report of the writer. `Err(why)` if the log failed (the peer goes out of service).
    pub(crate) fn on_report(&mut self, report: &Synced) -> Result<(), Arc<StorageError>> {
        if self.failed {
            return Ok(());
        }
        report.result.clone()?;
        if report.generation == self.generation && report.last > self.notified {
            self.notify(report.last);
        }
        Ok(())
    }

    /// acceptedEpoch or currentEpoch is on disk (the blocking write returned).
    pub(crate) fn epoch_persisted(&mut self, what: Persisted) {
        debug_assert!(!matches!(what, Persisted::Log(_)), "not an epoch: {what:?}");
        self.notices.push(what);
    }

    /// The writer passed a barrier: everything handed to it is written and synced, and the
    /// reports still queued (`stale`) are checked for failures only — they describe records
    /// about to be read, cut or replaced, and are stale from now on. Follow with
    /// [`Durability::everything_durable`], [`Durability::truncated`] or
    /// [`Durability::snapshot_installed`].
    pub(crate) fn quiesced(
        &mut self,
        stale: impl IntoIterator<Item = Synced>,
    ) -> Result<(), Arc<StorageError>> {
        debug_assert!(
            self.appends.is_empty(),
            "the appends go out before a barrier"
        );
        for report in stale {
            if !self.failed {
                report.result?;
            }
        }
        self.generation += 1;
        Ok(())
    }

    /// After [`Durability::quiesced`], the log is read as it is: what was sent is durable.
    pub(crate) fn everything_durable(&mut self) {
        if self.sent > self.notified {
            self.notify(self.sent);
        }
    }

    /// After [`Durability::quiesced`], the log was cut after `to` (`truncate_after` returned).
    /// Records above `to` are gone and never reported; if none was sent, what was sent is
    /// durable.
    pub(crate) fn truncated(&mut self, to: Zxid) {
        if self.sent > to {
            self.sent = to;
            self.notified = self.notified.min(to);
        } else {
            self.everything_durable();
        }
    }

    /// After [`Durability::quiesced`], a snapshot at `zxid` replaced the state and the log
    /// continues after it (both durable).
    pub(crate) fn snapshot_installed(&mut self, zxid: Zxid) {
        self.sent = zxid;
        self.notified = zxid;
        self.notices.push(Persisted::Log(zxid));
    }

    /// The role ended: its notices are dropped and reports in flight are stale (what it sent
    /// counts as reported; the next role starts from a drained log).
    pub(crate) fn role_ended(&mut self) {
        self.generation += 1;
        self.notified = self.notified.max(self.sent);
        self.notices.clear();
    }

    /// Storage failed: the records not handed over yet are dropped, and so is every report
    /// until [`Durability::recovered`].
    pub(crate) fn storage_failed(&mut self) {
        self.failed = true;
        self.appends.clear();
    }

    /// The log recovered, holding records up to `last_logged`, all durable.
    pub(crate) fn recovered(&mut self, last_logged: Zxid) {
        self.failed = false;
        self.generation += 1;
        self.appends.clear();
        self.notices.clear();
        self.sent = last_logged;
        self.notified = last_logged;
    }

    /// The last zxid logged in this process: gathered, or handed to the writer.
    pub(crate) fn last_logged(&self) -> Zxid {
        self.appends
            .last()
            .map_or(self.sent, |(z, _)| (*z).max(self.sent))
    }

    /// The notices gathered so far, in order.
    pub(crate) fn take_notices(&mut self) -> Vec<Persisted> {
        std::mem::take(&mut self.notices)
    }

    fn notify(&mut self, zxid: Zxid) {
        self.notices.push(Persisted::Log(zxid));
        self.notified = zxid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::Epoch;

    /// One input of a case, or a check.
    #[derive(Clone, Debug)]
    enum Step {
        /// `Command::Log` of this zxid.
        Log(u64),
        /// The write handed to the writer: `Some((last, generation))`, or `None`.
        Write(Option<(u64, u64)>),
        /// A successful writer report (last, generation).
        Report(u64, u64),
        /// A failed writer report of this generation: `on_report` must say `Err` unless the
        /// storage failed already.
        FailedReport(u64, bool),
        /// currentEpoch persisted.
        CurrentEpoch(u32),
        /// A barrier passed with these stale reports (last, generation) queued.
        Quiesce(&'static [(u64, u64)]),
        EverythingDurable,
        Truncated(u64),
        SnapshotInstalled(u64),
        RoleEnded,
        StorageFailed,
        Recovered(u64),
        /// Check: the notices taken now.
        Notices(&'static [Persisted]),
        /// Check: `last_logged`.
        LastLogged(u64),
    }

    use Persisted::Log as Durable;
    use Step::*;

    fn report(last: u64, generation: u64, ok: bool) -> Synced {
        Synced {
            last: Zxid(last),
            generation,
            result: if ok {
                Ok(())
            } else {
                Err(Arc::new(StorageError::Failed("disk full".into())))
            },
        }
    }

    fn run(name: &str, steps: &[Step]) {
        let mut d = Durability::default();
        for (k, step) in steps.iter().enumerate() {
            let at = format!("{name}, step {k} ({step:?})");
            match step.clone() {
                Log(z) => d.log(Zxid(z), Bytes::from(vec![z as u8])),
                Write(want) => {
                    let got = d.take_write();
                    if let Some(w) = &got {
                        assert_eq!(w.records.last().map(|r| r.0), Some(w.last), "{at}");
                    }
                    assert_eq!(got.map(|w| (w.last.0, w.generation)), want, "{at}");
                }
                Report(last, generation) => {
                    assert!(d.on_report(&report(last, generation, true)).is_ok(), "{at}")
                }
                FailedReport(generation, refused) => {
                    let r = d.on_report(&report(1, generation, false));
                    assert_eq!(r.is_err(), refused, "{at}");
                }
                CurrentEpoch(e) => d.epoch_persisted(Persisted::CurrentEpoch(Epoch(e))),
                Quiesce(stale) => {
                    let stale = stale.iter().map(|(l, g)| report(*l, *g, true));
                    assert!(d.quiesced(stale).is_ok(), "{at}");
                }
                EverythingDurable => d.everything_durable(),
                Truncated(to) => d.truncated(Zxid(to)),
                SnapshotInstalled(z) => d.snapshot_installed(Zxid(z)),
                RoleEnded => d.role_ended(),
                StorageFailed => d.storage_failed(),
                Recovered(last) => d.recovered(Zxid(last)),
                Notices(want) => assert_eq!(d.take_notices(), want, "{at}"),
                LastLogged(z) => assert_eq!(d.last_logged(), Zxid(z), "{at}"),
            }
        }
    }

    #[test]
    fn log_records_are_reported_durable_once_in_order() {
        let cases: &[(&str, &[Step])] = &[
            (
                "group commit: one write per wakeup, a notice per report",
                &[
                    Log(1),
                    Log(2),
                    LastLogged(2),
                    Write(Some((2, 0))),
                    Write(None),
                    Log(3),
                    Write(Some((3, 0))),
                    Notices(&[]),
                    Report(2, 0),
                    Notices(&[Durable(Zxid(2))]),
                    Report(3, 0),
                    Notices(&[Durable(Zxid(3))]),
                ],
            ),
            (
                "reports taken together give one notice each, in order",
                &[
                    Log(1),
                    Write(Some((1, 0))),
                    Log(2),
                    Write(Some((2, 0))),
                    Report(1, 0),
                    Report(2, 0),
                    Notices(&[Durable(Zxid(1)), Durable(Zxid(2))]),
                ],
            ),
            (
                "a report at or below what was notified gives nothing",
                &[
                    Log(1),
                    Log(2),
                    Write(Some((2, 0))),
                    Report(2, 0),
                    Report(1, 0),
                    Report(2, 0),
                    Notices(&[Durable(Zxid(2))]),
                ],
            ),
            (
                "epoch notices wait with the log's, in the order they came",
                &[
                    Log(1),
                    Write(Some((1, 0))),
                    CurrentEpoch(2),
                    Report(1, 0),
                    Notices(&[Persisted::CurrentEpoch(Epoch(2)), Durable(Zxid(1))]),
                ],
            ),
        ];
        for (name, steps) in cases {
            run(name, steps);
        }
    }

    #[test]
    fn reports_of_a_stale_generation_are_ignored() {
        let cases: &[(&str, &[Step])] = &[
            (
                "a role ended while its write was in flight",
                &[
                    Log(1),
                    Write(Some((1, 0))),
                    CurrentEpoch(1),
                    RoleEnded,
                    Notices(&[]),
                    Report(1, 0),
                    Notices(&[]),
                    // The next role's writes carry the new generation.
                    Log(2),
                    Write(Some((2, 1))),
                    Report(2, 1),
                    Notices(&[Durable(Zxid(2))]),
                ],
            ),
            (
                "a role ended: what it sent counts as reported, a drain adds nothing",
                &[
                    Log(1),
                    Write(Some((1, 0))),
                    RoleEnded,
                    Quiesce(&[(1, 0)]),
                    EverythingDurable,
                    Notices(&[]),
                    LastLogged(1),
                ],
            ),
            (
                "drained to be read: one notice for all that was sent, late reports stale",
                &[
                    Log(1),
                    Write(Some((1, 0))),
                    Log(2),
                    Write(Some((2, 0))),
                    Report(1, 0),
                    Quiesce(&[(2, 0)]),
                    EverythingDurable,
                    Notices(&[Durable(Zxid(1)), Durable(Zxid(2))]),
                    Report(2, 0),
                    Notices(&[]),
                    Log(3),
                    Write(Some((3, 1))),
                ],
            ),
        ];
        for (name, steps) in cases {
            run(name, steps);
        }
    }

    #[test]
    fn a_truncation_never_reports_records_above_the_cut() {
        let cases: &[(&str, &[Step])] = &[
            (
                "cut below what was sent: no notice, and the cut records' reports are stale",
                &[
                    Log(1),
                    Log(2),
                    Log(3),
                    Write(Some((3, 0))),
                    Quiesce(&[(3, 0)]),
                    Truncated(2),
                    Notices(&[]),
                    LastLogged(2),
                    Report(3, 0),
                    Notices(&[]),
                    // A record logged again above the cut is reported once synced.
                    Log(3),
                    Write(Some((3, 1))),
                    Report(3, 1),
                    Notices(&[Durable(Zxid(3))]),
                ],
            ),
            (
                "cut below what was notified lowers it: the next record above is reported",
                &[
                    Log(5),
                    Write(Some((5, 0))),
                    Report(5, 0),
                    Notices(&[Durable(Zxid(5))]),
                    Quiesce(&[]),
                    Truncated(3),
                    Notices(&[]),
                    Log(4),
                    Write(Some((4, 1))),
                    Report(4, 1),
                    Notices(&[Durable(Zxid(4))]),
                ],
            ),
            (
                "cut above what was sent: what was sent is durable",
                &[
                    Log(1),
                    Log(2),
                    Write(Some((2, 0))),
                    Quiesce(&[]),
                    Truncated(7),
                    Notices(&[Durable(Zxid(2))]),
                    LastLogged(2),
                ],
            ),
            (
                "an epoch notice given before the cut is kept",
                &[
                    CurrentEpoch(3),
                    Log(1),
                    Write(Some((1, 0))),
                    Quiesce(&[]),
                    Truncated(0),
                    Notices(&[Persisted::CurrentEpoch(Epoch(3))]),
                ],
            ),
        ];
        for (name, steps) in cases {
            run(name, steps);
        }
    }

    #[test]
    fn a_snapshot_install_is_durable_at_its_zxid() {
        let cases: &[(&str, &[Step])] = &[
            (
                "above the log: notified at the snapshot, older reports stale",
                &[
                    Log(1),
                    Log(2),
                    Write(Some((2, 0))),
                    Quiesce(&[]),
                    SnapshotInstalled(9),
                    Notices(&[Durable(Zxid(9))]),
                    LastLogged(9),
                    Report(2, 0),
                    Notices(&[]),
                    Log(10),
                    Write(Some((10, 1))),
                    Report(10, 1),
                    Notices(&[Durable(Zxid(10))]),
                ],
            ),
            (
                "below what was sent: the log restarts at the snapshot",
                &[
                    Log(5),
                    Write(Some((5, 0))),
                    Report(5, 0),
                    Notices(&[Durable(Zxid(5))]),
                    Quiesce(&[]),
                    SnapshotInstalled(3),
                    Notices(&[Durable(Zxid(3))]),
                    LastLogged(3),
                    Log(4),
                    Write(Some((4, 1))),
                ],
            ),
        ];
        for (name, steps) in cases {
            run(name, steps);
        }
    }

    #[test]
    fn after_a_storage_failure_reports_are_ignored_until_recovered() {
        run(
            "full disk",
            &[
                Log(1),
                Write(Some((1, 0))),
                Log(2),
                FailedReport(0, true),
                StorageFailed,
                RoleEnded,
                LastLogged(1),
                FailedReport(0, false),
                Report(1, 0),
                Notices(&[]),
                Quiesce(&[]),
                Recovered(1),
                Notices(&[]),
                Log(2),
                Write(Some((2, 3))),
                Report(2, 3),
                Notices(&[Durable(Zxid(2))]),
            ],
        );
    }

    #[test]
    fn a_failure_among_the_stale_reports_of_a_barrier_is_reported() {
        let mut d = Durability::default();
        d.log(Zxid(1), Bytes::new());
        assert!(d.take_write().is_some());
        let stale = [report(1, 0, false)];
        let e = d.quiesced(stale).unwrap_err();
        assert!(
            matches!(&*e, StorageError::Failed(why) if why == "disk full"),
            "{e}"
        );
    }
}
