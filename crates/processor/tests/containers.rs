//! The container / TTL sweeper of a standalone server's processor (an ensemble of one, over the
//! stand-in peer of tests/support), on paused tokio time with the deterministic clock: what is
//! deleted, when, by how many transactions, and what is refused up front.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Deterministic, Processor, ProcessorConfig, SessionEvent,
};
use paddock_storage::mem::{MemSnapshotStore, MemTxnLog};
use paddock_storage::TxnLog;
use paddock_types::{
    Acl, CreateMode, Epoch, ErrorCode, EventType, Request, Response, Txn, TxnOp, ZkError, Zxid,
};

const CHECK_MS: u32 = 50;

fn cfg(extended: bool) -> ProcessorConfig {
    ProcessorConfig {
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 60_000,
        container_check_interval_ms: CHECK_MS,
        extended_types_enabled: extended,
        deterministic: Some(Deterministic {
            seed: 7,
            wall_origin_ms: 1_700_000_000_000,
        }),
        ..ProcessorConfig::default()
    }
}

struct Harness {
    server: Arc<Processor>,
    log: Arc<MemTxnLog>,
    c: Connected,
    xid: i64,
}

async fn start(extended: bool) -> Harness {
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    let server = support::local(cfg(extended), log.clone(), snaps, Epoch(1));
    let c = server
        .connect(ConnectRequest {
            conn_ids: Vec::new(),
            resume: None,
            timeout_ms: 60_000,
            last_zxid_seen: Zxid::ZERO,
            peer: "test".into(),
            set_watches: Default::default(),
            read_only: false,
        })
        .await
        .expect("connect");
    Harness {
        server,
        log,
        c,
        xid: 0,
    }
}

impl Harness {
    async fn call(&mut self, req: Request) -> Result<Response, ZkError> {
        self.xid += 1;
        self.server
            .submit(self.c.session, self.c.conn, self.xid, req);
        loop {
            match self.next().await {
                SessionEvent::Response { xid, result, .. } => {
                    assert_eq!(xid, self.xid);
                    return result;
                }
                SessionEvent::Watch(_) => continue,
                other => panic!("{other:?}"),
            }
        }
    }

    async fn next(&mut self) -> SessionEvent {
        tokio::time::timeout(Duration::from_secs(600), self.c.events.recv())
            .await
            .expect("an event in time")
            .expect("channel open")
    }

    async fn create(&mut self, path: &str, mode: CreateMode) -> Result<Response, ZkError> {
        self.call(Request::Create {
            path: path.into(),
            data: Bytes::new().into(),
            mode,
            acl: Acl::open(),
        })
        .await
    }

    async fn exists(&mut self, path: &str, watch: bool) -> bool {
        match self
            .call(Request::Exists {
                path: path.into(),
                watch,
            })
            .await
        {
            Ok(Response::Exists { stat }) => stat.is_some(),
            other => panic!("{other:?}"),
        }
    }

    async fn delete(&mut self, path: &str) {
        let r = self
            .call(Request::Delete {
                path: path.into(),
                version: -1,
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
    }

    /// The sweeper's transactions in the log.
    fn reaps(&self) -> Vec<String> {
        self.log
            .read_after(Zxid::ZERO, usize::MAX)
            .expect("log")
            .into_iter()
            .filter_map(|(z, b)| match Txn::decode_at(&b, z).expect("decodes").op {
                TxnOp::DeleteContainer { path, .. } => Some(path),
                _ => None,
            })
            .collect()
    }
}

fn code(r: Result<Response, ZkError>) -> ErrorCode {
    r.err().map(|e| e.code).unwrap_or(ErrorCode::Ok)
}

#[tokio::test(start_paused = true)]
async fn an_emptied_container_is_deleted_once_by_one_transaction() {
    let mut h = start(false).await;
    h.create("/c", CreateMode::Container).await.unwrap();
    h.create("/never", CreateMode::Container).await.unwrap();
    h.create("/c/x", CreateMode::Persistent).await.unwrap();
    tokio::time::sleep(Duration::from_millis(u64::from(CHECK_MS) * 4)).await;
    assert!(h.exists("/c", false).await, "it has a child");
    assert!(h.exists("/c", true).await);
    h.delete("/c/x").await;
    match h.next().await {
        SessionEvent::Watch(ev) => {
            assert_eq!(
                (ev.event_type, ev.path.as_str()),
                (EventType::NodeDeleted, "/c")
            )
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(u64::from(CHECK_MS) * 10)).await;
    assert_eq!(h.reaps(), vec!["/c"], "one transaction");
    assert!(
        h.exists("/never", false).await,
        "a container that never had a child stays"
    );
    h.server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_ttl_node_goes_after_its_ttl_and_not_while_it_has_children() {
    let mut h = start(true).await;
    let ttl = CreateMode::PersistentWithTtl { ttl_ms: 500 };
    let r = h.create("/t", ttl).await.unwrap();
    let Response::Create { stat, .. } = r else {
        panic!("{r:?}")
    };
    assert_eq!(stat.ephemeral_owner as u64, 0xFF00_0000_0000_01F4);
    h.create("/p", ttl).await.unwrap();
    h.create("/p/child", CreateMode::Persistent).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.exists("/t", false).await, "ttl not passed yet");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!h.exists("/t", false).await, "expired");
    assert!(h.exists("/p", false).await, "has a child");
    h.delete("/p/child").await; // its mtime is old: it goes at the next sweep
    tokio::time::sleep(Duration::from_millis(u64::from(CHECK_MS) * 4)).await;
    assert!(!h.exists("/p", false).await);
    assert_eq!(h.reaps(), vec!["/t", "/p"]);
    h.server.shutdown().await;
}

/// The indexes are rebuilt by replaying the log: a container emptied while no sweep ran is
/// deleted by the restarted server.
#[tokio::test(start_paused = true)]
async fn a_restarted_server_finds_the_container_from_its_log() {
    let log = Arc::new(MemTxnLog::new());
    let snaps = Arc::new(MemSnapshotStore::new());
    let never = ProcessorConfig {
        container_check_interval_ms: 3_600_000,
        ..cfg(false)
    };
    let server = support::local(never, log.clone(), snaps.clone(), Epoch(1));
    let mut h = Harness {
        c: server
            .connect(ConnectRequest {
                conn_ids: Vec::new(),
                resume: None,
                timeout_ms: 60_000,
                last_zxid_seen: Zxid::ZERO,
                peer: "test".into(),
                set_watches: Default::default(),
                read_only: false,
            })
            .await
            .expect("connect"),
        server,
        log: log.clone(),
        xid: 0,
    };
    h.create("/c", CreateMode::Container).await.unwrap();
    h.create("/c/x", CreateMode::Persistent).await.unwrap();
    h.delete("/c/x").await;
    // The sweeper's first tick came at start, before /c existed; the next is an hour away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.exists("/c", false).await);
    h.server.shutdown().await;
    drop(h);

    let restarted = support::local(cfg(false), log.clone(), snaps, Epoch(2));
    tokio::time::sleep(Duration::from_millis(u64::from(CHECK_MS) * 4)).await;
    let reaps: Vec<String> = log
        .read_after(Zxid::ZERO, usize::MAX)
        .expect("log")
        .into_iter()
        .filter_map(|(z, b)| match Txn::decode_at(&b, z).expect("decodes").op {
            TxnOp::DeleteContainer { path, .. } => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(reaps, vec!["/c"]);
    restarted.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ttl_creates_need_extended_types_and_a_valid_ttl() {
    let mut h = start(false).await;
    let ttl = |ttl_ms| CreateMode::PersistentWithTtl { ttl_ms };
    assert_eq!(
        code(h.create("/t", ttl(100)).await),
        ErrorCode::Unimplemented
    );
    h.server.shutdown().await;
    let mut h = start(true).await;
    for bad in [0, -1, 0x100_0000_0000] {
        assert_eq!(
            code(h.create("/t", ttl(bad)).await),
            ErrorCode::BadArguments
        );
    }
    let seq = CreateMode::PersistentSequentialWithTtl { ttl_ms: 100 };
    match h.create("/s-", seq).await {
        Ok(Response::Create { path, .. }) => assert_eq!(path, "/s-0000000000"),
        other => panic!("{other:?}"),
    }
    h.server.shutdown().await;
}
