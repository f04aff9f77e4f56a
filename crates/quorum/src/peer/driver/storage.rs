//! The driver's storage and state-machine work: the log writer's batches and reports (the
//! bookkeeping itself is `peer::durability`), quiescing the log before it is read, cut or
//! replaced, applying committed records a group at a time, truncation, snapshot installation
//! and rebuilding the state from storage. Everything that blocks (a file read, a write, an
//! fsync, a snapshot's restore) runs as blocking work (`peer::blocking`), the state machine
//! lent to it when it needs it; the loop awaits it.
//!
//! The hot path of a write — `Log` (appended to `Durability`, cached), one batch per wakeup to
//! the writer, its report, `Persisted::Log`, `Apply` (found in the cache, gathered), one
//! `apply_batch` — never leaves the loop's task except through the writer.

use super::{fatal, stop, Fatal, PeerDriver, StateMachine};
use crate::command::Persisted;
use crate::messages::PeerMessage;
use crate::peer::log_writer::Synced;
use crate::peer::{PeerStorage, RestoreError};
use crate::transport::PeerTransport;
use bytes::Bytes;
use paddock_election::ElectionTransport;
use paddock_storage::{SnapshotSink, StorageError};
use paddock_types::{Epoch, ServerId, Zxid};
use std::future::Future;
use std::io::{Read, Write};

/// Which epoch a `PersistAcceptedEpoch` / `PersistCurrentEpoch` writes.
#[derive(Clone, Copy, Debug)]
pub(super) enum EpochFile {
    Accepted,
    Current,
}

impl<T, E> PeerDriver<T, E>
where
    T: PeerTransport + 'static,
    E: ElectionTransport + Send + 'static,
{
    /// The last zxid this peer holds — logged (durable or not) or covered by its snapshot:
    /// what it votes with and syncs from.
    pub(super) fn last_zxid(&self) -> Zxid {
        self.storage
            .log
            .last_logged_zxid()
            .max(self.snap_zxid)
            .max(self.durability.last_logged())
    }

    /// Runs `f` as blocking work (`peer::blocking`); the loop waits for it. (The future borrows
    /// nothing of the driver, which is not `Sync`.)
    pub(super) fn offload<R, F>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<R, Fatal>> + Send + 'static
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let blocking = self.blocking;
        async move { blocking.run(f).await.map_err(Fatal::from) }
    }

    /// Runs `f` with the state machine as blocking work (restoring or serialising a snapshot,
    /// replaying the log), then puts the machine back. If the work is lost (it panicked) the
    /// machine is lost with it and the peer stops.
    pub(super) async fn with_machine<R, F>(&mut self, f: F) -> Result<R, Fatal>
    where
        F: FnOnce(&mut dyn StateMachine) -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut sm = std::mem::replace(&mut self.sm, Box::new(Lent));
        let blocking = self.blocking;
        let (sm, r) = blocking
            .run(move || {
                let r = f(sm.as_mut());
                (sm, r)
            })
            .await?;
        self.sm = sm;
        Ok(r)
    }

    /// Restores the latest snapshot (or the empty state) and replays the log up to `upto`
    /// (blocking work).
    pub(super) async fn rebuild(&mut self, upto: Option<Zxid>) -> Result<(), Fatal> {
        let (storage, me, snap) = (self.storage.clone(), self.me, self.snap_zxid);
        self.snap_zxid = self
            .with_machine(move |sm| rebuild(sm, &storage, me, snap, upto))
            .await??;
        self.refresh_configuration(false);
        Ok(())
    }

    /// Applies every logged record above the state machine (a role starts from "all applied").
    pub(super) async fn catch_up(&mut self) -> Result<(), Fatal> {
        let log = self.storage.log.clone();
        self.with_machine(move |sm| {
            let records = log.read_after(sm.last_applied(), usize::MAX)?;
            for (z, d) in records {
                if z > sm.last_applied() {
                    sm.apply(z, &d);
                }
            }
            Ok::<_, StorageError>(())
        })
        .await?
        .map_err(fatal)?;
        self.cache.clear();
        self.refresh_configuration(false);
        Ok(())
    }

    /// An `Apply(zxid)`: queued in `applies` (applied together by [`PeerDriver::flush_applies`],
    /// so a group commit's worth takes the state machine's lock once). The data comes from the
    /// cache of logged records, or, for a record logged before this role, from the log.
    pub(super) async fn queue_apply(
        &mut self,
        zxid: Zxid,
        applies: &mut Vec<(Zxid, Bytes)>,
    ) -> Result<(), Fatal> {
        let applied = applies
            .last()
            .map_or_else(|| self.sm.last_applied(), |(z, _)| *z);
        if zxid <= applied {
            return Ok(());
        }
        let data = match self.cache.remove(&zxid) {
            Some(d) => d,
            None => {
                self.flush_applies(applies);
                self.drain().await?;
                let (log, after) = (self.storage.log.clone(), self.sm.last_applied());
                let next = self
                    .offload(move || log.read_after(after, 1))
                    .await?
                    .map_err(fatal)?;
                match next.into_iter().next() {
                    Some((z, d)) if z == zxid => d,
                    other => {
                        return Err(stop(format!(
                            "apply {zxid}: next logged record is {:?}",
                            other.map(|(z, _)| z)
                        )))
                    }
                }
            }
        };
        applies.push((zxid, data));
        Ok(())
    }

    /// Applies what [`PeerDriver::queue_apply`] gathered, then answers the proposals waiting for
    /// them and times their commits.
    pub(super) fn flush_applies(&mut self, applies: &mut Vec<(Zxid, Bytes)>) {
        let Some(&(last, _)) = applies.last() else {
            return;
        };
        self.sm.apply_batch(applies);
        self.refresh_configuration(true);
        for (zxid, _) in applies.drain(..) {
            if let Some(at) = self.logged_at.applied(zxid) {
                self.stats.record_commit(at.elapsed());
            }
            if let Some(tx) = self.waiting.remove(&zxid) {
                let _ = tx.send(Ok(zxid));
            }
        }
        self.cache.drop_through(last);
    }

    /// Makes acceptedEpoch or currentEpoch durable (blocking work: a file write and its
    /// fsync), then gives the notice: the acknowledgement it allows is built only after the
    /// write returned.
    pub(super) async fn persist_epoch(&mut self, which: EpochFile, e: Epoch) -> Result<(), Fatal> {
        let epochs = self.storage.epochs.clone();
        self.offload(move || match which {
            EpochFile::Accepted => epochs.set_accepted_epoch(e),
            EpochFile::Current => epochs.set_current_epoch(e),
        })
        .await?
        .map_err(fatal)?;
        self.durability.epoch_persisted(match which {
            EpochFile::Accepted => Persisted::AcceptedEpoch(e),
            EpochFile::Current => Persisted::CurrentEpoch(e),
        });
        Ok(())
    }

    /// Serialises the state (blocking work) for a SNAP to `to`.
    pub(super) async fn send_snapshot(&mut self, to: ServerId, zxid: Zxid) -> Result<(), Fatal> {
        let applied = self.sm.last_applied();
        if applied != zxid {
            tracing::warn!(me = %self.me, %zxid, %applied, "snapshot not at the asked zxid");
        }
        let started = std::time::Instant::now();
        let data = self.with_machine(|sm| sm.snapshot()).await?;
        tracing::info!(
            me = %self.me,
            %to,
            %zxid,
            bytes = data.len(),
            serialise_ms = started.elapsed().as_millis() as u64,
            "sending a snapshot"
        );
        self.queue(to, PeerMessage::Snap { zxid, data });
        Ok(())
    }

    /// The zxid of the newest snapshot this peer holds: the store's newest or the one this
    /// driver restored or installed, whichever is higher ([`Zxid::ZERO`]: none).
    pub(super) async fn newest_snapshot(&mut self) -> Result<Zxid, Fatal> {
        let snaps = self.storage.snapshots.clone();
        let stored = self
            .offload(move || snaps.list())
            .await?
            .map_err(fatal)?
            .last()
            .copied()
            .unwrap_or(Zxid::ZERO);
        Ok(self.snap_zxid.max(stored))
    }

    /// Cuts the log after `to` (blocking work) and, if the state machine applied records above
    /// it, rebuilds it.
    pub(super) async fn truncate(&mut self, to: Zxid) -> Result<(), Fatal> {
        // A snapshot cannot be rolled back, and a leader truncates only what was never
        // committed: a state from a snapshot above `to` holds txns the ensemble does not have.
        // Going on would serve them and apply the new epoch on top; stop instead, untouched (as
        // ZooKeeper's learner exits when it cannot truncate). The store's newest snapshot, not
        // only the one this driver restored or installed: the state machine writes periodic
        // snapshots of its own (the processor's), and one taken after a role's `catch_up`
        // applied records that were never committed is just as far above `to` — the rebuild
        // below would restore it (found by the whole-server simulator, 5 servers, seed 11).
        // A leader that knows our snapshot (FOLLOWERINFO's snapshot_zxid) sends a SNAP instead;
        // this is the guard against one that does not.
        let snap = self.newest_snapshot().await?;
        if to < snap {
            return Err(stop(format!(
                "the leader truncates to {to}, below this server's snapshot {snap}, which holds \
                 transactions the ensemble never committed; remove this server's data to \
                 re-sync it"
            )));
        }
        // Durable reports of records above `to` must not be fed back.
        self.quiesce().await?;
        let log = self.storage.log.clone();
        self.offload(move || log.truncate_after(to))
            .await?
            .map_err(fatal)?;
        self.durability.truncated(to);
        self.cache.truncate_after(to);
        self.logged_at.truncate_after(to);
        if self.sm.last_applied() > to {
            self.rebuild(Some(to)).await?;
        }
        Ok(())
    }

    /// Replaces the state and the log by the leader's snapshot (blocking work).
    pub(super) async fn install_snapshot(&mut self, zxid: Zxid, data: Bytes) -> Result<(), Fatal> {
        // Nothing may still be writing when the log is emptied.
        self.quiesce().await?;
        let storage = self.storage.clone();
        let installed = self
            .with_machine(move |sm| install_snapshot(sm, &storage, zxid, &data))
            .await??;
        match installed {
            Ok(()) => {
                self.cache.clear();
                self.logged_at.clear();
                self.snap_zxid = zxid;
                self.durability.snapshot_installed(zxid);
                // A leader's SNAP is its committed state.
                self.refresh_configuration(true);
            }
            // Nothing changed: the state, the log and what it reports durable stay as they
            // were (claiming the snapshot's zxid would let the leader take this server for up
            // to date, and its votes claim history it lacks).
            Err(e) => {
                tracing::error!(me = %self.me, %zxid, error = %e, "the leader's snapshot cannot be restored; electing again");
                self.pending_look
                    .get_or_insert(format!("bad snapshot {zxid} from the leader"));
            }
        }
        Ok(())
    }

    /// Hands the records gathered in this wakeup to the log writer (one write, one sync).
    pub(super) fn send_appends(&mut self) -> Result<(), Fatal> {
        if let Some(w) = self.durability.take_write() {
            if !self.writer.write(w.records, w.last, w.generation) {
                return Err(stop("the log writer stopped"));
            }
        }
        Ok(())
    }

    /// Makes everything logged so far durable and quiet: sends what is gathered and waits for
    /// the writer to finish it; reports still in flight become stale. Needed before the log is
    /// read, cut or replaced.
    async fn quiesce(&mut self) -> Result<(), Fatal> {
        self.send_appends()?;
        self.writer.barrier().await;
        // Any failure is in the reports already queued.
        let synced = &mut self.synced;
        self.durability
            .quiesced(std::iter::from_fn(|| synced.try_recv().ok()))
            .map_err(fatal)
    }

    /// [`PeerDriver::quiesce`], and what was logged is reported durable now (the log is about to
    /// be read).
    pub(super) async fn drain(&mut self) -> Result<(), Fatal> {
        self.quiesce().await?;
        self.durability.everything_durable();
        Ok(())
    }

    /// Durability reports of the writer: this one and every one queued behind it. (After a
    /// storage failure they belong to the role that ended with it, and are ignored.)
    pub(super) fn on_synced(&mut self, first: Synced) -> Result<(), Fatal> {
        let mut next = Some(first);
        while let Some(s) = next.take() {
            self.durability.on_report(&s).map_err(fatal)?;
            next = self.synced.try_recv().ok();
        }
        Ok(())
    }
}

/// Stands in for the state machine while it is lent to blocking work
/// ([`PeerDriver::with_machine`]): the loop awaits that work, so nothing uses this, unless the work
/// was lost, and then the peer stops with this in place (an empty state).
struct Lent;

impl StateMachine for Lent {
    fn apply(&mut self, _: Zxid, _: &Bytes) {}

    fn snapshot(&self) -> Bytes {
        Bytes::new()
    }

    fn restore(&mut self, _: Zxid, _: &Bytes) -> Result<(), RestoreError> {
        Err("the state machine is lent to blocking work".into())
    }

    fn last_applied(&self) -> Zxid {
        Zxid::ZERO
    }
}

/// Restores the latest snapshot (or the empty state) into `sm` and replays the log up to
/// `upto`. Returns the zxid of the snapshot the state now stems from (`snap` if there is none).
/// Blocking.
pub(super) fn rebuild(
    sm: &mut dyn StateMachine,
    storage: &PeerStorage,
    me: ServerId,
    mut snap: Zxid,
    upto: Option<Zxid>,
) -> Result<Zxid, Fatal> {
    match storage.snapshots.open_latest().map_err(fatal)? {
        Some((z, mut r)) => {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).map_err(fatal)?;
            // A snapshot whose checksum verified but that does not decode is not damage (a
            // bug, or another version's format): never replaced by an empty state.
            sm.restore(z, &Bytes::from(buf))
                .map_err(|e| stop(format!("snapshot {z} cannot be restored: {e}")))?;
            snap = z;
        }
        None => sm
            .restore(Zxid::ZERO, &Bytes::new())
            .map_err(|e| stop(format!("the empty state cannot be restored: {e}")))?,
    }
    if upto.is_some_and(|u| u < snap) {
        tracing::error!(%me, ?upto, %snap, "truncation below the snapshot");
    }
    let records = storage
        .log
        .read_after(sm.last_applied(), usize::MAX)
        .map_err(fatal)?;
    for (z, d) in records {
        if upto.is_some_and(|u| z > u) {
            break;
        }
        let last = sm.last_applied();
        if !z.follows(last) {
            return Err(stop(format!(
                "the log does not continue the state at {last}: its next record is {z}"
            )));
        }
        sm.apply(z, &d);
    }
    Ok(snap)
}

/// Makes the log continue after the newest stored snapshot when it ends below it: a SNAP
/// install whose log reset failed (a failing disk) or was cut short by a crash leaves the
/// snapshot committed and the old log behind it. Left so, the records appended after the
/// snapshot follow those old ones with a hole between them (the snapshot's history), and a
/// leader DIFFing from that log would skip the hole: a learner's tree diverges (simulator seed
/// 5 servers, 1549988). Every record the reset drops is at or below the snapshot, which holds
/// their effect. Run at start (a failure there starts the peer out of service) and by every
/// storage recovery, before anything is appended. Blocking.
pub(super) fn align_log_with_snapshot(
    storage: &PeerStorage,
    me: ServerId,
) -> Result<(), StorageError> {
    let Some(newest) = storage.snapshots.list()?.into_iter().max() else {
        return Ok(());
    };
    let logged = storage.log.last_logged_zxid();
    if logged < newest {
        tracing::warn!(%me, %logged, snapshot = %newest, "the log ends below the newest snapshot (a snapshot install was interrupted): it now continues after the snapshot");
        storage.log.reset_after(newest)?;
    }
    Ok(())
}

/// Installs the leader's snapshot: into the state machine first (a snapshot it cannot take,
/// sent by a leader of another version say, must not replace the log and the snapshots we
/// hold: `Ok(Err(why))`), then durably into the snapshot store, and the log restarts after it.
/// The file is written and synced on a second thread while the state machine restores (both
/// take about as long with a large tree: ~0.7 and ~1.2 s for 1 M znodes); it becomes visible
/// (`commit`) only once the restore succeeded, so what a crash leaves is as before. Blocking.
fn install_snapshot(
    sm: &mut dyn StateMachine,
    storage: &PeerStorage,
    zxid: Zxid,
    data: &Bytes,
) -> Result<Result<(), RestoreError>, Fatal> {
    let started = std::time::Instant::now();
    // Errors as the driver reports them (`fatal`): rendered.
    let write = || -> Result<Box<dyn SnapshotSink>, String> {
        let mut sink = storage.snapshots.create(zxid).map_err(|e| e.to_string())?;
        sink.write_all(data).map_err(|e| e.to_string())?;
        sink.sync().map_err(|e| e.to_string())?;
        Ok(sink)
    };
    let (restored, written) = std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("paddock-snap-in".into())
            .spawn_scoped(scope, write);
        let restored = sm.restore(zxid, data).map(|()| started.elapsed());
        let written = match writer {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err("the snapshot writer panicked".to_string())),
            // No thread to spare: written here, after the restore.
            Err(_) => write(),
        };
        (restored, written)
    });
    let restore_time = match restored {
        Ok(t) => t,
        // The file written meanwhile is dropped uncommitted: never visible.
        Err(e) => return Ok(Err(e)),
    };
    written.map_err(fatal)?.commit().map_err(fatal)?;
    tracing::info!(
        %zxid,
        bytes = data.len(),
        restore_ms = restore_time.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "installed the leader's snapshot"
    );
    // The log continues after the snapshot (its purge watermark says so, across restarts).
    storage.log.reset_after(zxid).map_err(fatal)?;
    // Snapshots above the leader's state hold a history it does not have (a SNAP from a leader
    // whose epoch never established; see `sync_mode`): they go last, so that a crash at any step
    // restarts from a snapshot and a log that agree (the old state, or the new one).
    storage.snapshots.discard_after(zxid).map_err(fatal)?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_storage::conformance::snapshot::read_latest;
    use paddock_storage::mem::{MemEpochStore, MemSnapshotStore, MemTxnLog};
    use paddock_storage::{SnapshotStore, TxnLog};
    use std::sync::Arc;

    /// The zxids applied, and the snapshot restored.
    #[derive(Default)]
    struct Applied(Vec<Zxid>);

    impl StateMachine for Applied {
        fn apply(&mut self, zxid: Zxid, _: &Bytes) {
            self.0.push(zxid);
        }

        fn snapshot(&self) -> Bytes {
            Bytes::new()
        }

        fn restore(&mut self, zxid: Zxid, _: &Bytes) -> Result<(), RestoreError> {
            self.0 = vec![zxid];
            Ok(())
        }

        fn last_applied(&self) -> Zxid {
            self.0.last().copied().unwrap_or(Zxid::ZERO)
        }
    }

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(Epoch(epoch), counter)
    }

    /// A log holding (1,1)..(1,3) and a snapshot at `snap`, as a SNAP install leaves them when
    /// its log reset failed.
    fn storage(snap: Zxid) -> (PeerStorage, Arc<MemTxnLog>) {
        let log = Arc::new(MemTxnLog::new());
        let records: Vec<(Zxid, Bytes)> = (1..=3)
            .map(|c| (z(1, c), Bytes::from_static(b"t")))
            .collect();
        log.append(&records).expect("append");
        log.sync().expect("sync");
        let snapshots = Arc::new(MemSnapshotStore::new());
        let mut sink = snapshots.create(snap).expect("create");
        sink.write_all(b"state").expect("write");
        sink.commit().expect("commit");
        let storage = PeerStorage {
            log: log.clone(),
            epochs: Arc::new(MemEpochStore::new()),
            snapshots,
        };
        (storage, log)
    }

    /// Takes a snapshot only if its bytes are `good`.
    #[derive(Default)]
    struct Picky(Option<Zxid>);

    impl StateMachine for Picky {
        fn apply(&mut self, _: Zxid, _: &Bytes) {}

        fn snapshot(&self) -> Bytes {
            Bytes::new()
        }

        fn restore(&mut self, zxid: Zxid, data: &Bytes) -> Result<(), RestoreError> {
            if &data[..] != b"good" {
                return Err("not a snapshot this state machine reads".into());
            }
            self.0 = Some(zxid);
            Ok(())
        }

        fn last_applied(&self) -> Zxid {
            self.0.unwrap_or(Zxid::ZERO)
        }
    }

    /// The file is written while the state machine restores, but a snapshot the state machine
    /// refuses is never committed: the snapshots and the log stay as they were.
    #[test]
    fn a_snapshot_the_state_machine_refuses_is_not_stored_and_the_log_is_kept() {
        let (storage, log) = storage(z(1, 2));
        let mut sm = Picky::default();
        let refused = install_snapshot(&mut sm, &storage, z(2, 9), &Bytes::from_static(b"bad"))
            .expect("no storage failure");
        assert!(refused.is_err());
        assert_eq!(storage.snapshots.list().expect("list"), vec![z(1, 2)]);
        assert_eq!(
            read_latest(&*storage.snapshots),
            Some((z(1, 2), b"state".to_vec()))
        );
        assert_eq!(log.first_zxid(), Some(z(1, 1)));
        assert_eq!(log.last_logged_zxid(), z(1, 3));
        assert_eq!(sm.0, None);
    }

    /// A snapshot taken: restored, stored whole and durable, and the log continues after it.
    #[test]
    fn an_installed_snapshot_is_restored_stored_and_the_log_continues_after_it() {
        let (storage, log) = storage(z(1, 2));
        let mut sm = Picky::default();
        install_snapshot(&mut sm, &storage, z(2, 9), &Bytes::from_static(b"good"))
            .expect("no storage failure")
            .expect("restored");
        assert_eq!(sm.0, Some(z(2, 9)));
        assert_eq!(
            read_latest(&*storage.snapshots),
            Some((z(2, 9), b"good".to_vec()))
        );
        assert_eq!(log.first_zxid(), None);
        assert_eq!(log.last_durable_zxid(), z(2, 9));
        log.append(&[(z(2, 10), Bytes::new())])
            .expect("the log continues after the snapshot");
    }

    /// Found by the simulator (5 servers, seed 1549988): a log left behind the snapshot got
    /// later records appended after a hole, and a leader DIFFed past it. A disk that cannot
    /// take the reset: [`a_log_that_cannot_be_aligned_is_reported_not_left_behind`].
    #[test]
    fn a_log_that_ends_below_the_newest_snapshot_is_made_to_continue_after_it() {
        let (storage, log) = storage(z(2, 7));
        let mut sm = Applied::default();
        align_log_with_snapshot(&storage, ServerId(1)).expect("align");
        let snap = rebuild(&mut sm, &storage, ServerId(1), Zxid::ZERO, None).expect("rebuild");
        assert_eq!(snap, z(2, 7));
        assert_eq!(sm.0, vec![z(2, 7)]);
        assert_eq!(log.last_logged_zxid(), z(2, 7));
        assert_eq!(log.last_durable_zxid(), z(2, 7));
        assert_eq!(
            log.first_zxid(),
            None,
            "the records behind the snapshot are gone"
        );
        // What comes next continues the snapshot, with no hole behind it.
        assert!(log.append(&[(z(1, 9), Bytes::new())]).is_err());
        log.append(&[(z(2, 8), Bytes::new())])
            .expect("append after");
        assert_eq!(log.read_after(Zxid::ZERO, 10).expect("read").len(), 1);
    }

    #[test]
    fn a_log_that_reaches_the_snapshot_is_left_alone() {
        let (storage, log) = storage(z(1, 2));
        let mut sm = Applied::default();
        align_log_with_snapshot(&storage, ServerId(1)).expect("align");
        rebuild(&mut sm, &storage, ServerId(1), Zxid::ZERO, None).expect("rebuild");
        assert_eq!(sm.0, vec![z(1, 2), z(1, 3)]);
        assert_eq!(log.first_zxid(), Some(z(1, 1)));
        assert_eq!(log.last_logged_zxid(), z(1, 3));
    }

    /// A failing disk at start (a simulator server restarted on a full disk, 3 servers, one of
    /// the seeds 1602000..1604000):
    /// the reset fails and says so; the driver then starts out of service.
    #[test]
    fn a_log_that_cannot_be_aligned_is_reported_not_left_behind() {
        let (storage, log) = storage(z(2, 7));
        log.fail_syncs(true);
        assert!(align_log_with_snapshot(&storage, ServerId(1)).is_err());
        log.fail_syncs(false);
        align_log_with_snapshot(&storage, ServerId(1)).expect("align once the disk works");
        assert_eq!(log.last_logged_zxid(), z(2, 7));
    }
}
