//! A stand-in for the quorum peer of an ensemble of one (a standalone server), for the
//! processor's tests: one task takes the processor's submissions in order, gives each the next
//! zxid, appends it to an in-memory log and syncs, and applies it — or, when the log cannot
//! write, turns the processor read-only and retries `recover` until it can, as the real peer
//! does (crates/quorum/src/peer/driver/). Snapshots and restarts use the same storage.

#![allow(dead_code)]

pub mod ensemble;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{Processor, ProcessorConfig, ServingRole, TxnSink};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_storage::{SnapshotStore, TxnLog};
use paddock_types::{Epoch, Zxid};
use tokio::sync::mpsc;

/// The processor's way to the stand-in.
pub struct Sink(pub mpsc::UnboundedSender<Bytes>);

impl TxnSink for Sink {
    fn submit(&self, txn: Bytes) -> bool {
        self.0.send(txn).is_ok()
    }
}

/// A processor of an ensemble of one over `log` and `snaps`, leading in `epoch` (its state
/// rebuilt from them first: the newest snapshot, then the log after it).
pub fn local(
    cfg: ProcessorConfig,
    log: Arc<MemTxnLog>,
    snaps: Arc<MemSnapshotStore>,
    epoch: Epoch,
) -> Arc<Processor> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let p = Processor::start(
        ProcessorConfig { alone: true, ..cfg },
        Arc::new(Sink(tx)),
        log.clone(),
        snaps.clone(),
    );
    rebuild(&p, &*log, &*snaps);
    p.set_role(ServingRole::Leader);
    let processor = p.clone();
    tokio::spawn(async move {
        let mut counter = 0;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let records: Vec<(Zxid, Bytes)> = batch
                .into_iter()
                .map(|b| {
                    counter += 1;
                    (Zxid::new(epoch, counter), b)
                })
                .collect();
            let durable = log.append(&records).and_then(|_| log.sync());
            if let Err(e) = durable {
                // None of them commits; the zxids are given again after recovery.
                counter -= records.len() as u32;
                processor.set_read_only(&e.to_string());
                while log.recover().is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                while rx.try_recv().is_ok() {}
                processor.set_role(ServingRole::Leader);
                continue;
            }
            for (zxid, data) in &records {
                processor.apply_committed(*zxid, data);
            }
        }
    });
    p
}

/// A fresh in-memory ensemble of one with `cfg`.
pub fn fresh(cfg: ProcessorConfig) -> (Arc<Processor>, Arc<MemTxnLog>, Arc<MemSnapshotStore>) {
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    let p = local(cfg, log.clone(), snaps.clone(), Epoch(1));
    (p, log, snaps)
}

/// What the peer does at start: the newest snapshot, then the log after it.
pub fn rebuild(p: &Processor, log: &dyn TxnLog, snaps: &dyn SnapshotStore) {
    match snaps.open_latest().expect("snapshots") {
        Some((z, mut r)) => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut buf).expect("read snapshot");
            p.restore(z, &Bytes::from(buf)).expect("restore");
        }
        None => p.restore(Zxid::ZERO, &Bytes::new()).expect("empty"),
    }
    for (z, d) in log.read_after(p.last_applied(), usize::MAX).expect("log") {
        p.apply_committed(z, &d);
    }
}
