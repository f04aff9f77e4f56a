//! The peer's log writer: appends and fsyncs off the role loop, so the loop keeps receiving
//! (acks, proposals, client submissions) while the disk works.
//!
//! ```text
//!  driver ──Write{records, last, gen}──▶ [writer task] takes every queued Write, appends and
//!                                         syncs them in ONE blocking call (spawn_blocking)
//!                                         ──Synced{last, gen} per Write──▶ driver
//!  driver ──Barrier──▶ answered once everything sent before it is appended and synced
//! ```
//!
//! Rules: jobs are handled in the order sent; a `Synced` is sent only after the sync that
//! covers its records returned Ok; Writes queued together share one sync (group commit across
//! driver wakeups). After a failed write every later Write is reported failed without touching
//! the log (a later record must never land after a lost one) until the driver, having
//! recovered the log, sends `resume`. The blocking work runs on tokio's blocking pool, which also keeps a paused
//! test clock from advancing while the disk works. The task ends when every sender is gone,
//! after finishing what it was given; [`PeerHandle::kill`](super::PeerHandle::kill) waits for
//! that, so a crashed peer's storage is quiet before the peer restarts on it.

use bytes::Bytes;
use paddock_storage::TxnLog;
use paddock_types::Zxid;
use std::sync::Arc;
use std::time::Instant;

use super::stats::PeerStats;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Largest number of queued jobs merged into one sync.
const MAX_GROUP: usize = 1024;

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
    pub result: Result<(), String>,
}

pub(crate) struct LogWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl LogWriter {
    /// Starts the writer task (needs a tokio runtime); durable batches are reported on `done`.
    /// The handle resolves when the task has finished everything it was given.
    pub(crate) fn spawn(
        log: Arc<dyn TxnLog>,
        done: mpsc::UnboundedSender<Synced>,
        stats: Arc<PeerStats>,
    ) -> (LogWriter, JoinHandle<()>) {
        let (jobs, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(log, rx, done, stats));
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

async fn run(
    log: Arc<dyn TxnLog>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Synced>,
    stats: Arc<PeerStats>,
) {
    let mut failed: Option<String> = None;
    while let Some(first) = rx.recv().await {
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
                    // below; those after it are written.
                    if failed.is_some() {
                        for (last, generation) in reports.drain(..) {
                            let _ = done.send(Synced {
                                last,
                                generation,
                                result: Err("the log failed before this write".to_string()),
                            });
                        }
                        records.clear();
                        failed = None;
                    }
                }
            }
        }
        if failed.is_none() && !records.is_empty() {
            let log = log.clone();
            let n = records.len();
            let written = tokio::task::spawn_blocking(move || {
                let start = Instant::now();
                log.append(&records)
                    .and_then(|_| log.sync())
                    .map(|()| start.elapsed())
            })
            .await;
            failed = match written {
                Ok(Ok(took)) => {
                    stats.record_sync(n, took);
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("the log write did not finish: {e}")),
            };
        }
        for (last, generation) in reports {
            let result = match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            };
            let _ = done.send(Synced {
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
        let (writer, task) = LogWriter::spawn(log.clone(), done_tx, stats.clone());
        assert!(writer.write(vec![rec(1), rec(2)], Zxid(2), 0));
        assert!(writer.write(vec![rec(3)], Zxid(3), 0));
        writer.barrier().await;
        for last in [2, 3] {
            let s = done.recv().await.expect("a report per write");
            assert_eq!((s.last, s.result), (Zxid(last), Ok(())));
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
        let (writer, _task) = LogWriter::spawn(log, done_tx, stats.clone());
        assert!(writer.write(vec![rec(1)], Zxid(1), 0));
        let s = done.recv().await.expect("a report");
        assert!(s.result.is_err());
        assert_eq!((stats.syncs(), stats.records()), (0, 0));
    }
}
