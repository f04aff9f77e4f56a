//! The peer's log writer: appends and fsyncs off the role loop, so the loop keeps receiving
//! (acks, proposals, client submissions) while the disk works.
//!
//! ```text
//!  driver ──Write{records, last, gen}──▶ [writer] takes every queued Write, appends them and
//!                                         syncs them with ONE sync (group commit)
//!                                         ──Synced{last, gen} per Write──▶ driver
//!  driver ──Barrier──▶ answered once everything sent before it is appended and synced
//! ```
//!
//! Rules: jobs are handled in the order sent; a `Synced` is sent only after the sync that
//! covers its records returned Ok; Writes queued together share one sync (group commit across
//! driver wakeups). After a failed write every later Write is reported failed without touching
//! the log (a later record must never land after a lost one) until the driver, having
//! recovered the log, sends `resume`. The writer ends when every sender is gone, after
//! finishing what it was given; [`PeerHandle::kill`](super::PeerHandle::kill) waits for that,
//! so a crashed peer's storage is quiet before the peer restarts on it.
//!
//! Where it runs ([`WriterMode`]): a thread of its own in a server (the disk's blocking work
//! next to the async runtime, one hop from the driver and back — as the standalone pipeline's
//! sync thread was, which an ensemble of one must match), or inline in a task of the runtime
//! for simulations on a paused clock (one thread, deterministic: the clock cannot advance
//! while a write is under way, and an in-memory log returns at once; a log that simulates a
//! slow disk says how long a sync takes, `TxnLog::simulated_sync_time`, and the inline writer
//! waits that long on the clock before each group commit).

use bytes::Bytes;
use paddock_storage::{StorageError, TxnLog};
use paddock_types::Zxid;
use std::sync::Arc;
use std::time::Instant;

use super::stats::PeerStats;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Largest number of queued jobs merged into one sync.
const MAX_GROUP: usize = 1024;

/// Where the log writer, and the peer's other blocking storage work (`peer::blocking`), run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WriterMode {
    /// The writer on a thread of its own, the other work on tokio's blocking pool (servers).
    #[default]
    Thread,
    /// The writer in a task of the runtime, the other work in place (deterministic
    /// simulations on a paused clock).
    Inline,
}

enum Job {
    Write {
        records: Vec<(Zxid, Bytes)>,
        last: Zxid,
        generation: u64,
    },
    Barrier(oneshot::Sender<()>),
    /// The log recovered: writes are attempted again.
    Resume,
}

/// A batch made durable (or the log failed: `result` is the error).
#[derive(Debug)]
pub(crate) struct Synced {
    pub last: Zxid,
    pub generation: u64,
    pub result: Result<(), Arc<StorageError>>,
}

pub(crate) struct LogWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl LogWriter {
    /// Starts the writer (needs a tokio runtime); durable batches are reported on `done`.
    /// The handle resolves when the writer has finished everything it was given.
    pub(crate) fn spawn(
        log: Arc<dyn TxnLog>,
        done: mpsc::UnboundedSender<Synced>,
        stats: Arc<PeerStats>,
        mode: WriterMode,
    ) -> (LogWriter, JoinHandle<()>) {
        let (jobs, mut rx) = mpsc::unbounded_channel();
        let mut state = State {
            log,
            done,
            stats,
            failed: None,
        };
        let task = match mode {
            WriterMode::Inline => tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    // A simulated slow disk: the group commit takes this long on the (paused)
                    // clock, and what is queued meanwhile joins it, as behind a slow fsync.
                    let slow = state.log.simulated_sync_time();
                    if !slow.is_zero() {
                        tokio::time::sleep(slow).await;
                    }
                    state.group(first, &mut rx);
                }
            }),
            WriterMode::Thread => {
                let (exit_tx, exit_rx) = oneshot::channel::<()>();
                let spawned = std::thread::Builder::new()
                    .name("paddock-log".into())
                    .spawn(move || {
                        while let Some(first) = rx.blocking_recv() {
                            state.group(first, &mut rx);
                        }
                        let _ = exit_tx.send(());
                    });
                if let Err(e) = spawned {
                    // The driver sees the writer gone at its first write and stops.
                    tracing::error!(error = %e, "cannot start the log writer thread");
                }
                tokio::spawn(async move {
                    let _ = exit_rx.await;
                })
            }
        };
        (LogWriter { jobs }, task)
    }

    /// Queues `records` (ending at `last`) to be appended and synced. `false` if the writer is
    /// gone.
    pub(crate) fn write(&self, records: Vec<(Zxid, Bytes)>, last: Zxid, generation: u64) -> bool {
        self.jobs
            .send(Job::Write {
                records,
                last,
                generation,
            })
            .is_ok()
    }

    /// The driver recovered the log (`TxnLog::recover`): later writes are attempted again.
    pub(crate) fn resume(&self) -> bool {
        self.jobs.send(Job::Resume).is_ok()
    }

    /// Waits until everything queued before is appended and synced (or the writer is gone).
    pub(crate) async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer's state between groups.
struct State {
    log: Arc<dyn TxnLog>,
    done: mpsc::UnboundedSender<Synced>,
    stats: Arc<PeerStats>,
    /// Why the log failed, until `Resume`.
    failed: Option<Arc<StorageError>>,
}

impl State {
    /// `first` and every job already queued behind it (up to [`MAX_GROUP`]): one append and
    /// one sync for all their records, then their reports, then the barriers among them.
    fn group(&mut self, first: Job, rx: &mut mpsc::UnboundedReceiver<Job>) {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut records: Vec<(Zxid, Bytes)> = Vec::new();
        let mut reports = Vec::new();
        let mut barriers = Vec::new();
        for job in group {
            match job {
                Job::Write {
                    records: r,
                    last,
                    generation,
                } => {
                    records.extend(r);
                    reports.push((last, generation));
                }
                Job::Barrier(tx) => barriers.push(tx),
                Job::Resume => {
                    // Records queued before it belong to the failed stretch: reported failed
                    // here; those after it are written.
                    if self.failed.take().is_some() {
                        for (last, generation) in reports.drain(..) {
                            let _ = self.done.send(Synced {
                                last,
                                generation,
                                result: Err(Arc::new(StorageError::Failed(
                                    "the log failed before this write".to_string(),
                                ))),
                            });
                        }
                        records.clear();
                    }
                }
            }
        }
        if self.failed.is_none() && !records.is_empty() {
            let n = records.len();
            let start = Instant::now();
            match self.log.append(&records).and_then(|_| self.log.sync()) {
                Ok(()) => self.stats.record_sync(n, start.elapsed()),
                Err(e) => self.failed = Some(Arc::new(e)),
            }
        }
        for (last, generation) in reports {
            let result = match &self.failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            };
            let _ = self.done.send(Synced {
                last,
                generation,
                result,
            });
        }
        // Answered after the writes queued before them are durable (in this group or earlier).
        for b in barriers {
            let _ = b.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_storage::mem::MemTxnLog;

    fn rec(z: u64) -> (Zxid, Bytes) {
        (Zxid(z), Bytes::from(vec![z as u8; 3]))
    }

    #[tokio::test]
    async fn stats_count_group_commits_and_their_records() {
        let log = Arc::new(MemTxnLog::new());
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let stats = Arc::new(PeerStats::default());
        let (writer, task) =
            LogWriter::spawn(log.clone(), done_tx, stats.clone(), WriterMode::Thread);
        assert!(writer.write(vec![rec(1), rec(2)], Zxid(2), 0));
        assert!(writer.write(vec![rec(3)], Zxid(3), 0));
        writer.barrier().await;
        for last in [2, 3] {
            let s = done.recv().await.expect("a report per write");
            assert_eq!(s.last, Zxid(last));
            assert!(s.result.is_ok(), "{:?}", s.result);
        }
        // One or two group commits (the writes may have been queued together), three records.
        assert!((1..=2).contains(&stats.syncs()), "{stats:?}");
        assert_eq!(stats.records(), 3);
        assert!(stats.max_sync_time() <= stats.sync_time());
        assert_eq!(log.sync_count(), stats.syncs());
        drop(writer);
        task.await.expect("the writer ends when its sender is gone");
    }

    #[tokio::test]
    async fn a_failed_sync_is_not_counted() {
        let log = Arc::new(MemTxnLog::new());
        log.fail_syncs(true);
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let stats = Arc::new(PeerStats::default());
        let (writer, _task) = LogWriter::spawn(log, done_tx, stats.clone(), WriterMode::Thread);
        assert!(writer.write(vec![rec(1)], Zxid(1), 0));
        let s = done.recv().await.expect("a report");
        assert!(s.result.is_err());
        assert_eq!((stats.syncs(), stats.records()), (0, 0));
    }

    /// A simulated slow disk: on a paused clock the inline writer reports a write only once the
    /// log's sync time has passed, and writes queued meanwhile share that group commit.
    #[tokio::test(start_paused = true)]
    async fn an_inline_writer_takes_a_slow_logs_sync_time_and_groups_what_queued_meanwhile() {
        let log = Arc::new(MemTxnLog::new());
        log.slow_syncs(std::time::Duration::from_millis(40));
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let stats = Arc::new(PeerStats::default());
        let (writer, _task) =
            LogWriter::spawn(log.clone(), done_tx, stats.clone(), WriterMode::Inline);
        let t0 = tokio::time::Instant::now();
        assert!(writer.write(vec![rec(1)], Zxid(1), 0));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(
            done.try_recv().is_err(),
            "reported before the sync time passed"
        );
        assert_eq!(log.last_durable_zxid(), Zxid::ZERO);
        assert!(writer.write(vec![rec(2)], Zxid(2), 0));
        for last in [1, 2] {
            let s = done.recv().await.expect("a report per write");
            assert_eq!(s.last, Zxid(last));
            assert!(s.result.is_ok(), "{:?}", s.result);
        }
        assert_eq!(t0.elapsed(), std::time::Duration::from_millis(40));
        assert_eq!((stats.syncs(), stats.records()), (1, 2));
        // Fast again: the next write is durable without the clock moving.
        log.slow_syncs(std::time::Duration::ZERO);
        let t1 = tokio::time::Instant::now();
        assert!(writer.write(vec![rec(3)], Zxid(3), 0));
        assert_eq!(done.recv().await.expect("a report").last, Zxid(3));
        assert_eq!(t1.elapsed(), std::time::Duration::ZERO);
    }
}
