//! A stand-in for the quorum of an ensemble of processors: one task orders every server's
//! submissions (gives each the next zxid), records it, and applies each commit on every server
//! in turn, as the quorum peers do. Plus the session helpers the ensemble tests share.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Processor, ProcessorConfig, ServingRole, SessionEvent,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_types::{Epoch, Request, Response, Txn, TxnOp, ZkError, Zxid};
use tokio::sync::mpsc;

use super::Sink;

/// How long a test waits for anything before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ensemble {
    pub servers: Vec<Arc<Processor>>,
    /// Every committed record, in zxid order.
    pub committed: Arc<Mutex<Vec<(Zxid, Bytes)>>>,
}

impl Ensemble {
    /// One server per config over in-memory storage; the first leads, the others learn; all
    /// serve.
    pub fn start(cfgs: impl IntoIterator<Item = ProcessorConfig>) -> Ensemble {
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let servers: Vec<Arc<Processor>> = cfgs
            .into_iter()
            .map(|cfg| {
                Processor::start(
                    cfg,
                    Arc::new(Sink(tx.clone())),
                    Arc::new(MemTxnLog::new()),
                    Arc::new(MemSnapshotStore::new()),
                )
            })
            .collect();
        let committed = Arc::new(Mutex::new(Vec::new()));
        let (all, log) = (servers.clone(), committed.clone());
        tokio::spawn(async move {
            let mut counter = 0;
            while let Some(bytes) = rx.recv().await {
                counter += 1;
                let zxid = Zxid::new(Epoch(1), counter);
                log.lock().unwrap().push((zxid, bytes.clone()));
                for s in &all {
                    s.apply_committed(zxid, &bytes);
                }
            }
        });
        for (i, s) in servers.iter().enumerate() {
            s.set_role(if i == 0 {
                ServingRole::Leader
            } else {
                ServingRole::Learner
            });
        }
        Ensemble { servers, committed }
    }

    /// How many records were committed so far.
    pub fn committed(&self) -> usize {
        self.committed.lock().unwrap().len()
    }

    /// The operations committed after the first `from`.
    pub fn ops_since(&self, from: usize) -> Vec<TxnOp> {
        self.committed.lock().unwrap()[from..]
            .iter()
            .map(|(z, b)| Txn::decode_at(b, *z).expect("decodes").op)
            .collect()
    }

    /// Every server's last applied zxid.
    pub fn last_zxids(&self) -> Vec<Zxid> {
        self.servers.iter().map(|s| s.last_applied()).collect()
    }

    /// Waits until every server has applied every committed record: a commit is applied on
    /// the servers one after another, so an answer from one server does not mean the others
    /// have the change yet.
    pub async fn settle(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = self.committed.lock().unwrap().last().map(|(z, _)| *z);
            if last.is_none_or(|last| self.servers.iter().all(|s| s.last_applied() == last)) {
                return;
            }
            assert!(Instant::now() < deadline, "servers did not settle");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A request for a new read-write session.
pub fn new_req(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        conn_ids: Vec::new(),
        resume: None,
        timeout_ms,
        last_zxid_seen: Zxid::ZERO,
        peer: "test".into(),
        set_watches: Default::default(),
        read_only: false,
    }
}

/// A request resuming `c`'s session.
pub fn resume_req(c: &Connected) -> ConnectRequest {
    ConnectRequest {
        resume: Some((c.session, c.password)),
        ..new_req(c.timeout_ms)
    }
}

pub async fn connect(s: &Processor, timeout_ms: i32) -> Connected {
    s.connect(new_req(timeout_ms)).await.expect("connect")
}

/// The next event of `c`'s stream (`None`: the stream ended).
pub async fn next(c: &mut Connected) -> Option<SessionEvent> {
    tokio::time::timeout(WAIT, c.events.recv())
        .await
        .expect("an event in time")
}

/// Submits `req` as `xid` and waits for its answer (watch events on the way are skipped).
pub async fn call(
    s: &Processor,
    c: &mut Connected,
    xid: i64,
    req: Request,
) -> Result<Response, ZkError> {
    s.submit(c.session, c.conn, xid, req);
    loop {
        match next(c).await.expect("channel open") {
            SessionEvent::Response { xid: x, result, .. } => {
                assert_eq!(x, xid, "answers come in request order");
                return result;
            }
            SessionEvent::Watch(_) => continue,
            SessionEvent::Closed(code) => panic!("session closed: {code:?}"),
        }
    }
}
