//! Helpers shared by the node's end-to-end tests.
//!
//! ```text
//!  TestNode ── paddock_node::start (in-process, temp data dir, port 0, tickTime 50 ms)
//!  Session  ── one Paddock.Session stream, typed: call(op) -> Response, watch events kept in
//!              arrival order, everything seen recorded (for ordering checks)
//!  Paddock  ── the real `paddock` binary as a child process (killed on drop)
//!  raw      ── a gRPC client that sends bytes the server must reject (garbage, truncated frames)
//!  net      ── an ensemble whose members talk through fault-injecting proxies (partitions)
//!  lin      ── the linearizability workload and the end-of-run checks (digests, leaders, ledger)
//! ```
//!
//! Every wait is bounded: [`WAIT`] for anything that should happen promptly.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_node::Node;
use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_client::PaddockClient;
use paddock_types::{Config, ServerId};
use pb::request::Op;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

/// The longest any single expected thing may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(10);
/// tickTime of in-process nodes: minSessionTimeout is 2 ticks = 100 ms.
pub const TICK_MS: u32 = 50;
/// Session timeout of ordinary test sessions (long enough never to expire during a test).
pub const LONG_TIMEOUT_MS: i32 = 20_000;

/// ZooKeeper's error codes as the wire carries them.
#[allow(dead_code)]
pub mod zookeeper;

/// Fault-injecting proxies between ensemble members (partitions, one-way cuts).
pub mod net;

/// The linearizability workload and the end-of-run checks of linearizable.rs / partitions.rs.
pub mod lin;

/// A slow disk for one server process (an `LD_PRELOAD` shim on fsync / fdatasync).
pub mod slow_disk;

/// A small file system for a data directory, to fill up.
pub mod tmpfs;

pub mod code {
    use paddock_proto::v1::ErrorCode as E;
    pub const OK: i32 = E::Ok as i32;
    pub const RUNTIME_INCONSISTENCY: i32 = E::RuntimeInconsistency as i32;
    pub const CONNECTION_LOSS: i32 = E::ConnectionLoss as i32;
    pub const MARSHALLING_ERROR: i32 = E::MarshallingError as i32;
    pub const BAD_ARGUMENTS: i32 = E::BadArguments as i32;
    pub const UNIMPLEMENTED: i32 = E::Unimplemented as i32;
    pub const NO_NODE: i32 = E::NoNode as i32;
    pub const BAD_VERSION: i32 = E::BadVersion as i32;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = E::NoChildrenForEphemerals as i32;
    pub const NODE_EXISTS: i32 = E::NodeExists as i32;
    pub const NOT_EMPTY: i32 = E::NotEmpty as i32;
    pub const SESSION_EXPIRED: i32 = E::SessionExpired as i32;
    pub const SESSION_MOVED: i32 = E::SessionMoved as i32;
    pub const NO_AUTH: i32 = E::NoAuth as i32;
    pub const INVALID_ACL: i32 = E::InvalidAcl as i32;
    pub const AUTH_FAILED: i32 = E::AuthFailed as i32;
}

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// ZooKeeper's code carried by a stream-ending status (`paddock-error-code`), if any.
pub fn status_zk_code(status: &Status) -> Option<i32> {
    status
        .metadata()
        .get("paddock-error-code")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// In-process node
// ---------------------------------------------------------------------------------------------

/// The configuration of an in-process test node on `dir`.
pub fn test_config(dir: &Path) -> Config {
    Config {
        tick_ms: TICK_MS,
        max_session_timeout_ms: Some(30_000),
        data_dir: dir.to_path_buf(),
        grpc_port: 0,
        client_port: 0,
        grpc_address: "127.0.0.1".into(),
        max_client_cnxns: 0,
        // No HTTP admin server unless a test asks for one (on port 0): never ZooKeeper's 8080.
        admin_enabled: false,
        ..Config::default()
    }
}

/// A node running in this process on a temporary data directory.
pub struct TestNode {
    node: Option<Node>,
    pub addr: SocketAddr,
    pub config: Config,
    pub dir: Arc<tempfile::TempDir>,
}

impl TestNode {
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    /// Starts a node whose config `tweak` may change.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestNode {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = test_config(dir.path());
        tweak(&mut config);
        TestNode::start_on(dir, config).await
    }

    /// Starts a node on an existing directory (a restart). A node stopped just before may still
    /// hold the data dir's lock a moment (its connection tasks drop its storage once they see
    /// their sockets closed): retried while the lock is held, for up to 10 s.
    pub async fn start_on(dir: Arc<tempfile::TempDir>, config: Config) -> TestNode {
        let deadline = Instant::now() + Duration::from_secs(10);
        let node = loop {
            match within("node start", paddock_node::start(&config, ServerId(1))).await {
                Ok(node) => break node,
                Err(e) if format!("{e:#}").contains("lock held") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("the node starts: {e:#}"),
            }
        };
        TestNode {
            addr: node.grpc_addr,
            node: Some(node),
            config,
            dir,
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("running")
    }

    /// A new session with a long timeout.
    pub async fn session(&self) -> Session {
        Session::open(self.addr, LONG_TIMEOUT_MS).await
    }

    /// A new session asking for `timeout_ms`.
    pub async fn session_with_timeout(&self, timeout_ms: i32) -> Session {
        Session::open(self.addr, timeout_ms).await
    }

    /// Shuts the node down cleanly; the directory stays (for a restart).
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            within("node shutdown", node.shutdown()).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// Everything a session stream delivered after the handshake, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Response(pb::Response),
    Event(pb::WatchEvent),
    Closed(pb::SessionClosed),
}

/// A gRPC channel to `addr` (one per session, so dropping a session drops its connection).
pub async fn channel(addr: SocketAddr) -> Channel {
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).expect("endpoint");
    within("gRPC connect", endpoint.connect())
        .await
        .expect("the server accepts connections")
}

/// A ConnectRequest for a new session.
pub fn new_session(timeout_ms: i32) -> pb::ConnectRequest {
    pb::ConnectRequest {
        session_id: 0,
        password: Bytes::new(),
        timeout_ms,
        last_zxid_seen: 0,
        ..Default::default()
    }
}

/// A ConnectRequest resuming `id` with `password`.
pub fn resume(id: i64, password: Bytes) -> pb::ConnectRequest {
    pb::ConnectRequest {
        session_id: id,
        password,
        timeout_ms: LONG_TIMEOUT_MS,
        last_zxid_seen: 0,
        ..Default::default()
    }
}

/// Opens a session stream whose first message is `first` (any message, for bad-input tests).
/// Returns the sender (keep it: dropping it half-closes) and the call's outcome.
pub async fn open_stream(
    addr: SocketAddr,
    first: pb::ClientMessage,
) -> (
    mpsc::Sender<pb::ClientMessage>,
    Result<tonic::Streaming<pb::ServerMessage>, Status>,
) {
    open_stream_on(channel(addr).await, first).await
}

/// [`open_stream`] over a given channel (e.g. a TLS one).
pub async fn open_stream_on(
    channel: Channel,
    first: pb::ClientMessage,
) -> (
    mpsc::Sender<pb::ClientMessage>,
    Result<tonic::Streaming<pb::ServerMessage>, Status>,
) {
    let mut client = PaddockClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel(1024);
    tx.send(first).await.expect("queue the first message");
    let call = within("session call", client.session(ReceiverStream::new(rx))).await;
    (tx, call.map(|r| r.into_inner()))
}

/// One session over one `Paddock.Session` stream.
pub struct Session {
    pub id: i64,
    pub password: Bytes,
    pub timeout_ms: i32,
    /// `ConnectResponse.zxid`.
    pub connect_zxid: i64,
    tx: Option<mpsc::Sender<pb::ClientMessage>>,
    rx: tonic::Streaming<pb::ServerMessage>,
    next_xid: i64,
    /// Responses read but not yet claimed by `response(xid)`.
    responses: VecDeque<pb::Response>,
    /// Watch events received and not yet taken, in arrival order.
    pub events: VecDeque<pb::WatchEvent>,
    /// Everything received after the handshake, in order.
    pub seen: Vec<Seen>,
    /// The SessionClosed message, once received.
    pub closed: Option<pb::SessionClosed>,
    /// How the stream ended, once it has: Ok = status OK.
    end: Option<Result<(), Status>>,
}

impl Session {
    /// Opens a new session; panics if refused.
    pub async fn open(addr: SocketAddr, timeout_ms: i32) -> Session {
        Session::connect(addr, new_session(timeout_ms))
            .await
            .expect("the server accepts a new session")
    }

    /// Sends `hello` and waits for the ConnectResponse; `Err` is the status refusing it.
    pub async fn connect(addr: SocketAddr, hello: pb::ConnectRequest) -> Result<Session, Status> {
        Session::connect_on(channel(addr).await, hello).await
    }

    /// [`Session::connect`] over a given channel (e.g. a TLS one).
    pub async fn connect_on(
        channel: Channel,
        hello: pb::ConnectRequest,
    ) -> Result<Session, Status> {
        let first = pb::ClientMessage {
            message: Some(pb::client_message::Message::Connect(hello)),
        };
        let (tx, call) = open_stream_on(channel, first).await;
        let mut rx = call?;
        let msg = within("ConnectResponse", rx.message()).await?;
        let Some(pb::ServerMessage {
            message: Some(pb::server_message::Message::Connect(c)),
        }) = msg
        else {
            panic!("the first server message must be a ConnectResponse, got {msg:?}");
        };
        assert_eq!(c.password.len(), 16, "a 16-byte password");
        Ok(Session {
            id: c.session_id,
            password: c.password,
            timeout_ms: c.timeout_ms,
            connect_zxid: c.zxid,
            tx: Some(tx),
            rx,
            next_xid: 1,
            responses: VecDeque::new(),
            events: VecDeque::new(),
            seen: Vec::new(),
            closed: None,
            end: None,
        })
    }

    /// A ConnectRequest that resumes this session, asking for its negotiated timeout again (as a
    /// ZooKeeper client does: a resume renegotiates the timeout).
    pub fn resume_request(&self) -> pb::ConnectRequest {
        pb::ConnectRequest {
            timeout_ms: self.timeout_ms,
            ..resume(self.id, self.password.clone())
        }
    }

    /// Sends any ClientMessage (e.g. a Request without an op).
    pub async fn try_send_message(&mut self, msg: pb::ClientMessage) -> Result<(), String> {
        let tx = self.tx.as_ref().ok_or("the session half-closed its side")?;
        match tokio::time::timeout(WAIT, tx.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("the request stream is gone".into()),
            Err(_) => Err("timed out queueing a request".into()),
        }
    }

    pub async fn send_message(&mut self, msg: pb::ClientMessage) {
        self.try_send_message(msg)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends `op` without waiting for its answer; returns its xid.
    pub async fn try_send(&mut self, op: Op) -> Result<i64, String> {
        let xid = self.next_xid;
        self.next_xid += 1;
        let msg = pb::ClientMessage {
            message: Some(pb::client_message::Message::Request(pb::Request {
                xid,
                op: Some(op),
            })),
        };
        self.try_send_message(msg).await.map(|()| xid)
    }

    pub async fn send(&mut self, op: Op) -> i64 {
        self.try_send(op).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next xid `send` will use (to build raw requests).
    pub fn take_xid(&mut self) -> i64 {
        let xid = self.next_xid;
        self.next_xid += 1;
        xid
    }

    /// Reads one message (recording it), or records the end of the stream.
    async fn read_one(&mut self) -> Result<(), String> {
        if let Some(end) = &self.end {
            return Err(format!("the stream has ended: {end:?}"));
        }
        let msg = match tokio::time::timeout(WAIT, self.rx.message()).await {
            Err(_) => return Err(format!("nothing from the server within {WAIT:?}")),
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => {
                self.end = Some(Ok(()));
                return Ok(());
            }
            Ok(Err(status)) => {
                self.end = Some(Err(status));
                return Ok(());
            }
        };
        use pb::server_message::Message;
        match msg.message {
            Some(Message::Response(r)) => {
                self.seen.push(Seen::Response(r.clone()));
                self.responses.push_back(r);
            }
            Some(Message::WatchEvent(e)) => {
                self.seen.push(Seen::Event(e.clone()));
                self.events.push_back(e);
            }
            Some(Message::SessionClosed(c)) => {
                assert!(self.closed.is_none(), "a second SessionClosed: {c:?}");
                self.seen.push(Seen::Closed(c.clone()));
                self.closed = Some(c);
            }
            other => panic!("unexpected server message after the handshake: {other:?}"),
        }
        Ok(())
    }

    /// The answer to `xid`. Answers come in request order, so every answer before it must be
    /// to an earlier request.
    pub async fn try_response(&mut self, xid: i64) -> Result<pb::Response, String> {
        loop {
            if let Some(pos) = self.responses.iter().position(|r| r.xid == xid) {
                let r = self.responses.remove(pos).expect("present");
                return Ok(r);
            }
            if let Some(r) = self.responses.iter().find(|r| r.xid > xid) {
                return Err(format!(
                    "FIFO violated: the answer to xid {} came before the one to {xid}",
                    r.xid
                ));
            }
            if self.end.is_some() {
                return Err(format!(
                    "the stream ended before the answer to xid {xid}: {:?}",
                    self.end
                ));
            }
            self.read_one().await?;
        }
    }

    pub async fn response(&mut self, xid: i64) -> pb::Response {
        self.try_response(xid)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends `op` and waits for its answer.
    pub async fn try_call(&mut self, op: Op) -> Result<pb::Response, String> {
        let xid = self.try_send(op).await?;
        self.try_response(xid).await
    }

    pub async fn call(&mut self, op: Op) -> pb::Response {
        self.try_call(op).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next watch event (already received or coming).
    pub async fn next_event(&mut self) -> pb::WatchEvent {
        loop {
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            self.read_one()
                .await
                .unwrap_or_else(|e| panic!("waiting for a watch event: {e}"));
        }
    }

    /// Asserts that no watch event is pending: a ping round trip flushes everything queued for
    /// this session before it (events leave in order with answers).
    pub async fn expect_no_event(&mut self) {
        let r = self.call(op::ping()).await;
        ok(&r);
        assert!(
            self.events.is_empty(),
            "unexpected watch events: {:?}",
            self.events
        );
    }

    /// Half-closes the request side (the session stays alive).
    pub fn half_close(&mut self) {
        self.tx = None;
    }

    /// Reads until the stream ends; returns how it ended (Ok = status OK).
    pub async fn finish(&mut self) -> Result<(), Status> {
        while self.end.is_none() {
            self.read_one()
                .await
                .unwrap_or_else(|e| panic!("waiting for the stream to end: {e}"));
        }
        self.end.clone().expect("ended")
    }

    /// The stream's end, if it has ended.
    pub fn ended(&self) -> Option<&Result<(), Status>> {
        self.end.as_ref()
    }

    // --- typed conveniences -------------------------------------------------------------------

    pub async fn create(&mut self, path: &str, data: &[u8], mode: pb::CreateMode) -> pb::Response {
        self.call(op::create(path, data, mode)).await
    }

    /// Creates a node and returns its CreateResponse (panics on an error).
    pub async fn create_ok(
        &mut self,
        path: &str,
        data: &[u8],
        mode: pb::CreateMode,
    ) -> pb::CreateResponse {
        let r = self.create(path, data, mode).await;
        created(r)
    }

    /// Creates a persistent node (panics on an error).
    pub async fn mkdir(&mut self, path: &str) -> pb::Stat {
        self.create_ok(path, b"", pb::CreateMode::Persistent)
            .await
            .stat
            .expect("stat")
    }

    /// The node's Stat, or None if it does not exist.
    pub async fn stat(&mut self, path: &str) -> Option<pb::Stat> {
        let r = self.call(op::exists(path, false)).await;
        let e = exists_result(r);
        if e.exists {
            Some(e.stat.expect("a Stat when the node exists"))
        } else {
            assert!(e.stat.is_none(), "no Stat for a missing node");
            None
        }
    }

    /// The node's data and Stat (panics on an error).
    pub async fn data(&mut self, path: &str) -> (Bytes, pb::Stat) {
        let r = self.call(op::get_data(path, false)).await;
        let d = get_data_result(r);
        (d.data.unwrap_or_default(), d.stat.expect("stat"))
    }

    /// The node's children, sorted, and its Stat (panics on an error).
    pub async fn children(&mut self, path: &str) -> (Vec<String>, pb::Stat) {
        let r = self.call(op::get_children(path, false)).await;
        let c = get_children_result(r);
        let mut names = c.children;
        names.sort();
        (names, c.stat.expect("stat"))
    }

    pub async fn ping(&mut self) -> pb::Response {
        self.call(op::ping()).await
    }
}

// ---------------------------------------------------------------------------------------------
// Ops and results
// ---------------------------------------------------------------------------------------------

/// Request ops.
pub mod op {
    use bytes::Bytes;
    use paddock_proto::v1 as pb;
    use pb::request::Op;

    pub fn create_request(path: &str, data: &[u8], mode: pb::CreateMode) -> pb::CreateRequest {
        pb::CreateRequest {
            path: path.into(),
            data: Bytes::copy_from_slice(data).into(),
            mode: mode as i32,
            acl: None,
            ttl: 0,
        }
    }

    /// A create with an explicit ACL.
    pub fn create_acl(path: &str, data: &[u8], mode: pb::CreateMode, acl: Vec<pb::Acl>) -> Op {
        let mut req = create_request(path, data, mode);
        req.acl = Some(pb::AclList { acls: acl });
        Op::Create(req)
    }

    /// One ACL entry.
    pub fn acl(perms: i32, scheme: &str, id: &str) -> pb::Acl {
        pb::Acl {
            perms,
            id: Some(pb::Id {
                scheme: scheme.into(),
                id: id.into(),
            }),
        }
    }

    pub fn add_auth(scheme: &str, auth: &str) -> Op {
        Op::AddAuth(pb::AddAuthRequest {
            scheme: scheme.into(),
            auth: Bytes::copy_from_slice(auth.as_bytes()),
        })
    }

    pub fn get_acl(path: &str) -> Op {
        Op::GetAcl(pb::GetAclRequest { path: path.into() })
    }

    pub fn set_acl(path: &str, acl: Vec<pb::Acl>, version: i32) -> Op {
        Op::SetAcl(pb::SetAclRequest {
            path: path.into(),
            acl,
            version,
        })
    }

    pub fn who_am_i() -> Op {
        Op::WhoAmI(pb::WhoAmIRequest {})
    }

    pub fn get_ephemerals(prefix: &str) -> Op {
        Op::GetEphemerals(pb::GetEphemeralsRequest {
            prefix_path: prefix.into(),
        })
    }

    pub fn get_all_children_number(path: &str) -> Op {
        Op::GetAllChildrenNumber(pb::GetAllChildrenNumberRequest { path: path.into() })
    }

    pub fn create(path: &str, data: &[u8], mode: pb::CreateMode) -> Op {
        Op::Create(create_request(path, data, mode))
    }

    pub fn delete(path: &str, version: i32) -> Op {
        Op::Delete(pb::DeleteRequest {
            path: path.into(),
            version,
        })
    }

    pub fn set_data(path: &str, data: &[u8], version: i32) -> Op {
        Op::SetData(pb::SetDataRequest {
            path: path.into(),
            data: Bytes::copy_from_slice(data).into(),
            version,
        })
    }

    pub fn exists(path: &str, watch: bool) -> Op {
        Op::Exists(pb::ExistsRequest {
            path: path.into(),
            watch,
        })
    }

    pub fn get_data(path: &str, watch: bool) -> Op {
        Op::GetData(pb::GetDataRequest {
            path: path.into(),
            watch,
        })
    }

    pub fn get_children(path: &str, watch: bool) -> Op {
        Op::GetChildren(pb::GetChildrenRequest {
            path: path.into(),
            watch,
        })
    }

    pub fn sync(path: &str) -> Op {
        Op::Sync(pb::SyncRequest { path: path.into() })
    }

    pub fn multi(ops: Vec<pb::MultiOp>) -> Op {
        Op::Multi(pb::MultiRequest { ops })
    }

    /// A multi_read of `ops` (built with [`m::get_data`] / [`m::get_children`], or anything else
    /// to test refusals).
    pub fn multi_read(ops: Vec<pb::MultiOp>) -> Op {
        Op::MultiRead(pb::MultiReadRequest { ops })
    }

    pub fn ping() -> Op {
        Op::Ping(pb::PingRequest {})
    }

    pub fn close() -> Op {
        Op::CloseSession(pb::CloseSessionRequest {})
    }

    /// Ops of a multi.
    pub mod m {
        use bytes::Bytes;
        use paddock_proto::v1 as pb;
        use pb::multi_op::Op;

        fn wrap(op: Op) -> pb::MultiOp {
            pb::MultiOp { op: Some(op) }
        }

        pub fn create(path: &str, data: &[u8], mode: pb::CreateMode) -> pb::MultiOp {
            wrap(Op::Create(super::create_request(path, data, mode)))
        }

        pub fn delete(path: &str, version: i32) -> pb::MultiOp {
            wrap(Op::Delete(pb::DeleteRequest {
                path: path.into(),
                version,
            }))
        }

        pub fn set_data(path: &str, data: &[u8], version: i32) -> pb::MultiOp {
            wrap(Op::SetData(pb::SetDataRequest {
                path: path.into(),
                data: Bytes::copy_from_slice(data).into(),
                version,
            }))
        }

        pub fn check(path: &str, version: i32) -> pb::MultiOp {
            wrap(Op::Check(pb::CheckVersionRequest {
                path: path.into(),
                version,
            }))
        }

        /// A multi_read op (no watch: a multi_read leaves none).
        pub fn get_data(path: &str) -> pb::MultiOp {
            wrap(Op::GetData(pb::GetDataRequest {
                path: path.into(),
                watch: false,
            }))
        }

        /// A multi_read op (no watch).
        pub fn get_children(path: &str) -> pb::MultiOp {
            wrap(Op::GetChildren(pb::GetChildrenRequest {
                path: path.into(),
                watch: false,
            }))
        }
    }
}

/// Asserts the response is a success.
#[track_caller]
pub fn ok(r: &pb::Response) {
    assert_eq!(
        r.error, 0,
        "xid {}: expected OK, got error {} ({})",
        r.xid, r.error, r.error_message
    );
}

/// Asserts the response failed with `code`, with a message and no result (except a multi).
#[track_caller]
pub fn expect_err(r: &pb::Response, code: i32) {
    assert_eq!(
        r.error, code,
        "xid {}: expected error {code}, got {} ({}) {:?}",
        r.xid, r.error, r.error_message, r.result
    );
    assert!(!r.error_message.is_empty(), "an error carries a message");
}

macro_rules! result_accessor {
    ($name:ident, $variant:ident, $ty:ty) => {
        #[track_caller]
        pub fn $name(r: pb::Response) -> $ty {
            ok(&r);
            match r.result {
                Some(pb::response::Result::$variant(v)) => v,
                other => panic!(
                    concat!("expected a ", stringify!($variant), " result, got {:?}"),
                    other
                ),
            }
        }
    };
}

result_accessor!(created, Create, pb::CreateResponse);
result_accessor!(set_data_result, SetData, pb::SetDataResponse);
result_accessor!(exists_result, Exists, pb::ExistsResponse);
result_accessor!(get_data_result, GetData, pb::GetDataResponse);
result_accessor!(get_children_result, GetChildren, pb::GetChildrenResponse);
result_accessor!(sync_result, Sync, pb::SyncResponse);
result_accessor!(get_acl_result, GetAcl, pb::GetAclResponse);
result_accessor!(who_am_i_result, WhoAmI, pb::WhoAmIResponse);
result_accessor!(
    get_ephemerals_result,
    GetEphemerals,
    pb::GetEphemeralsResponse
);
result_accessor!(
    get_all_children_number_result,
    GetAllChildrenNumber,
    pb::GetAllChildrenNumberResponse
);

/// The per-op results of a successful multi_read (each op's answer or its own error).
#[track_caller]
pub fn multi_read_results(r: pb::Response) -> Vec<pb::read_result::Result> {
    ok(&r);
    match r.result {
        Some(pb::response::Result::MultiRead(m)) => m
            .results
            .into_iter()
            .map(|o| o.result.expect("every ReadResult is set"))
            .collect(),
        other => panic!("expected a MultiRead result, got {other:?}"),
    }
}

/// The per-op results of a multi, successful or not.
#[track_caller]
pub fn multi_results(r: &pb::Response) -> Vec<pb::op_result::Result> {
    match &r.result {
        Some(pb::response::Result::Multi(m)) => m
            .results
            .iter()
            .map(|o| o.result.clone().expect("every OpResult is set"))
            .collect(),
        other => panic!("expected a Multi result, got {other:?} ({r:?})"),
    }
}

/// The codes of a failed multi's per-op ErrorResults.
#[track_caller]
pub fn multi_error_codes(r: &pb::Response) -> Vec<i32> {
    multi_results(r)
        .into_iter()
        .map(|o| match o {
            pb::op_result::Result::Error(e) => e.error,
            other => panic!("a failed multi reports ErrorResult for every op, got {other:?}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Raw gRPC: bytes the generated client would never send
// ---------------------------------------------------------------------------------------------

pub mod raw {
    use std::net::SocketAddr;

    use bytes::{Buf, BufMut, Bytes};
    use paddock_proto::v1 as pb;
    use prost::Message;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::codegen::http;
    use tonic::Status;

    use super::within;

    /// Sends each item's bytes verbatim as one gRPC message; decodes ServerMessages.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct RawCodec;

    #[derive(Clone, Copy, Debug, Default)]
    pub struct RawEncoder;

    #[derive(Clone, Copy, Debug, Default)]
    pub struct ServerMessageDecoder;

    impl Encoder for RawEncoder {
        type Item = Bytes;
        type Error = Status;
        fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for ServerMessageDecoder {
        type Item = pb::ServerMessage;
        type Error = Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<pb::ServerMessage>, Status> {
            let bytes = src.copy_to_bytes(src.remaining());
            pb::ServerMessage::decode(bytes)
                .map(Some)
                .map_err(|e| Status::internal(format!("undecodable ServerMessage: {e}")))
        }
    }

    impl Codec for RawCodec {
        type Encode = Bytes;
        type Decode = pb::ServerMessage;
        type Encoder = RawEncoder;
        type Decoder = ServerMessageDecoder;
        fn encoder(&mut self) -> RawEncoder {
            RawEncoder
        }
        fn decoder(&mut self) -> ServerMessageDecoder {
            ServerMessageDecoder
        }
    }

    /// A ClientMessage's protobuf encoding.
    pub fn encode(msg: &pb::ClientMessage) -> Bytes {
        Bytes::from(msg.encode_to_vec())
    }

    /// Opens a session stream whose messages are raw bytes. The first item is queued before the
    /// call, so the handshake can be answered.
    pub async fn open(
        addr: SocketAddr,
        first: Bytes,
    ) -> (
        mpsc::Sender<Bytes>,
        Result<tonic::Streaming<pb::ServerMessage>, Status>,
    ) {
        let mut grpc = tonic::client::Grpc::new(super::channel(addr).await);
        within("raw client ready", grpc.ready())
            .await
            .expect("channel ready");
        let (tx, rx) = mpsc::channel(16);
        tx.send(first).await.expect("queue");
        let path = http::uri::PathAndQuery::from_static("/paddock.v1.Paddock/Session");
        let call = within(
            "raw session call",
            grpc.streaming(tonic::Request::new(ReceiverStream::new(rx)), path, RawCodec),
        )
        .await;
        (tx, call.map(|r| r.into_inner()))
    }

    /// Posts `body` (gRPC framing included, so it can be truncated or lie about lengths) as the
    /// whole request body of a session stream, and returns the status the stream ended with.
    /// `body` must be ASCII (it travels as a `String` body).
    pub async fn post_body(addr: SocketAddr, body: &[u8]) -> Status {
        use tonic::codegen::Service;
        let text = String::from_utf8(body.to_vec()).expect("an ASCII body");
        let mut channel = super::channel(addr).await;
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/paddock.v1.Paddock/Session"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(tonic::body::Body::new(text))
            .expect("request");
        within(
            "channel ready",
            std::future::poll_fn(|cx| channel.poll_ready(cx)),
        )
        .await
        .expect("ready");
        let resp = within("raw POST", channel.call(req))
            .await
            .expect("an HTTP response");
        if let Some(status) = Status::from_header_map(resp.headers()) {
            // Trailers-only response: the status is in the headers.
            return status;
        }
        let (parts, body) = resp.into_parts();
        let mut stream = tonic::Streaming::new_response(
            ServerMessageDecoder,
            body,
            parts.status,
            None,
            Some(64 << 20),
        );
        loop {
            match within("raw stream message", stream.message()).await {
                Ok(Some(_)) => continue,
                Ok(None) => return Status::ok("the stream ended with status OK"),
                Err(s) => return s,
            }
        }
    }

    /// One gRPC length-prefixed frame header: uncompressed, `len` bytes follow.
    pub fn frame_header(len: u32) -> [u8; 5] {
        let b = len.to_be_bytes();
        [0, b[0], b[1], b[2], b[3]]
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------------

/// A `paddock` command with logs on stderr, uncoloured.
pub fn paddock_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paddock"));
    cmd.env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        // ZooKeeper's protocol off unless a test asks for it (`--client-port`): otherwise every
        // server would try 2181.
        .env("PADDOCK_CLIENT_PORT", "0")
        // Likewise the HTTP admin API (`--admin-port`), which would try 8080.
        .env("PADDOCK_ADMIN_PORT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Removes ANSI escape sequences (in case the log is coloured anyway).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A running `paddock` process. Killed (SIGKILL) on drop if still running.
pub struct Paddock {
    child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    log: Arc<Mutex<String>>,
    exit: Option<ExitStatus>,
}

/// Spawns `cmd`, collecting its stderr into a shared string.
pub fn spawn_logged(mut cmd: Command) -> (Child, Arc<Mutex<String>>) {
    let mut child = cmd.spawn().expect("spawn paddock");
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
            l.push_str(&strip_ansi(&line));
            l.push('\n');
        }
    });
    (child, log)
}

/// Runs `paddock args...` expecting it to exit by itself; returns its status and stderr.
pub async fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = paddock_command();
    cmd.args(args);
    let (mut child, log) = spawn_logged(cmd);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            // Let the reader thread drain the pipe.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return (status, text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            panic!("paddock {args:?} did not exit within {WAIT:?}; stderr:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Paddock {
    /// Starts `paddock --data-dir DIR --grpc-port 0 --grpc-address 127.0.0.1 extra...` and waits
    /// for its "serving" log line, which names the bound address (`grpc=...`).
    pub async fn spawn(data_dir: &Path, extra: &[&str]) -> Paddock {
        let mut cmd = paddock_command();
        cmd.arg("--data-dir")
            .arg(data_dir)
            .args(["--grpc-port", "0", "--grpc-address", "127.0.0.1"])
            .args(extra);
        let (mut child, log) = spawn_logged(cmd);
        let deadline = Instant::now() + WAIT;
        let addr = loop {
            let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(addr) = serving_addr(&text) {
                break addr;
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                panic!("paddock exited early with {status}; stderr:\n{text}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("paddock did not log its address within {WAIT:?}; stderr:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        Paddock {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
            log,
            exit: None,
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The buffer the process's stderr is collected in.
    pub fn log_handle(&self) -> Arc<Mutex<String>> {
        self.log.clone()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = Some(self.child.wait().expect("wait"));
        }
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        if let Some(s) = self.exit {
            return s;
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.exit = Some(status);
                return status;
            }
            if Instant::now() > deadline {
                let log = self.log();
                self.kill();
                panic!("paddock did not exit within {WAIT:?} of SIGTERM; stderr:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn session(&self) -> Session {
        Session::open(self.addr, LONG_TIMEOUT_MS).await
    }
}

impl Drop for Paddock {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in the "paddock standalone server serving grpc=ADDR ..." log line.
pub fn serving_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains("server serving"))?;
    let rest = &line[line.find("grpc=")? + "grpc=".len()..];
    let addr = rest.split_whitespace().next()?;
    addr.trim_matches('"').parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Ensembles of real binaries
// ---------------------------------------------------------------------------------------------

/// Why [`try_open`] did not open a session.
#[derive(Debug)]
pub enum OpenError {
    /// The server answered the stream with an error status (e.g. UNAVAILABLE: not serving).
    Refused(Status),
    /// No gRPC connection (nothing listening, connection reset).
    Unreachable(String),
    /// Nothing decisive within the limit.
    TimedOut,
}

/// A gRPC channel to `addr` that fails (instead of panicking) if none is made within `limit`.
pub async fn try_channel(addr: SocketAddr, limit: Duration) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(limit);
    match tokio::time::timeout(limit, endpoint.connect()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
        Err(_) => Err(format!("connect {addr}: timed out after {limit:?}")),
    }
}

/// Opens a new session on `addr` without panicking: for servers that may be down, or up but not
/// serving. Everything (connect, handshake) is bounded by `limit`.
pub async fn try_open(
    addr: SocketAddr,
    timeout_ms: i32,
    limit: Duration,
) -> Result<Session, OpenError> {
    let attempt = async {
        let channel = try_channel(addr, limit)
            .await
            .map_err(OpenError::Unreachable)?;
        let mut client = PaddockClient::new(channel);
        let (tx, rx) = mpsc::channel(1024);
        let hello = pb::ClientMessage {
            message: Some(pb::client_message::Message::Connect(new_session(
                timeout_ms,
            ))),
        };
        tx.send(hello).await.expect("queue the ConnectRequest");
        let mut stream = client
            .session(ReceiverStream::new(rx))
            .await
            .map_err(OpenError::Refused)?
            .into_inner();
        let msg = stream.message().await.map_err(OpenError::Refused)?;
        let Some(pb::ServerMessage {
            message: Some(pb::server_message::Message::Connect(c)),
        }) = msg
        else {
            return Err(OpenError::Unreachable(format!(
                "the stream ended without a ConnectResponse: {msg:?}"
            )));
        };
        Ok(Session {
            id: c.session_id,
            password: c.password,
            timeout_ms: c.timeout_ms,
            connect_zxid: c.zxid,
            tx: Some(tx),
            rx: stream,
            next_xid: 1,
            responses: VecDeque::new(),
            events: VecDeque::new(),
            seen: Vec::new(),
            closed: None,
            end: None,
        })
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(OpenError::TimedOut),
    }
}

/// `Admin/GetStatus` on `addr`, bounded by `limit`; `Err` if the server cannot be asked.
pub async fn try_status(addr: SocketAddr, limit: Duration) -> Result<pb::ServerStatus, String> {
    let channel = try_channel(addr, limit).await?;
    let call = async {
        pb::admin_client::AdminClient::new(channel)
            .get_status(pb::GetStatusRequest {})
            .await
    };
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("GetStatus {addr}: {s}")),
        Err(_) => Err(format!("GetStatus {addr}: timed out after {limit:?}")),
    }
}

/// Free TCP ports on 127.0.0.1, all distinct, for servers that must be told their ports before
/// they start (an ensemble's members name each other's ports in zoo.cfg).
///
/// The ports come from below the kernel's ephemeral range (`ip_local_port_range`), never from
/// `bind(0)`: a port handed out by `bind(0)` and released is an ephemeral port, and the kernel
/// may give it to any outgoing connection (the members of another ensemble in this process
/// dialling each other) before the server binds it — "Address already in use" at start-up. Below
/// the range only explicit binds take ports; a cursor shared by the whole process never hands out
/// the same one twice, it starts at a place derived from the process id (other test binaries
/// running at the same time start elsewhere), and a port something already listens on is skipped.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    const LOWEST: u32 = 10_000;
    static SPAN: OnceLock<u32> = OnceLock::new();
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    let span = *SPAN.get_or_init(|| {
        let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32_768);
        ephemeral_low.saturating_sub(LOWEST)
    });
    if span < 1_000 {
        // An unusual range: fall back to bind(0) (all bound together, then released).
        let listeners: Vec<std::net::TcpListener> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        return listeners
            .iter()
            .map(|l| l.local_addr().expect("local addr").port())
            .collect();
    }
    let cursor =
        CURSOR.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7_919) % span));
    let mut ports = Vec::with_capacity(n);
    for _ in 0..span {
        if ports.len() == n {
            break;
        }
        let port = (LOWEST + cursor.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(
        ports.len(),
        n,
        "no {n} free ports below the ephemeral range"
    );
    ports
}

/// The ports of one ensemble member.
#[derive(Clone, Copy, Debug)]
pub struct PeerPorts {
    pub quorum: u16,
    pub election: u16,
    pub grpc: u16,
}

/// Free quorum, election and gRPC ports for `n` ensemble members.
pub fn peer_ports(n: usize) -> Vec<PeerPorts> {
    free_ports(3 * n)
        .chunks(3)
        .map(|p| PeerPorts {
            quorum: p[0],
            election: p[1],
            grpc: p[2],
        })
        .collect()
}

/// A zoo.cfg for a local ensemble: `server.N=127.0.0.1:quorum:election` for N = 1.. in order,
/// then `extra` lines (tickTime, limits...).
pub fn ensemble_cfg(peers: &[PeerPorts], extra: &[&str]) -> String {
    let mut cfg = String::from("# A local test ensemble (written by crates/node/tests).\n");
    for line in extra {
        cfg.push_str(line);
        cfg.push('\n');
    }
    for (i, p) in peers.iter().enumerate() {
        cfg.push_str(&format!(
            "server.{}=127.0.0.1:{}:{}\n",
            i + 1,
            p.quorum,
            p.election
        ));
    }
    cfg
}

/// One ensemble member: the real `paddock` binary started with
/// `--config CFG --myid ID --data-dir DIR --grpc-port P --grpc-address 127.0.0.1`. Unlike
/// [`Paddock::spawn`] it does not wait for a "serving" log line (a member may legitimately not
/// serve); use [`try_status`] on [`Peer::addr`]. Killed (SIGKILL) on drop if still running.
pub struct Peer {
    pub id: u64,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    child: Child,
    log: Arc<Mutex<String>>,
    exit: Option<ExitStatus>,
    /// More flags, kept for [`Peer::restart`].
    extra: Vec<String>,
    /// More environment variables, kept for [`Peer::restart`].
    env: Vec<(String, String)>,
}

impl Peer {
    /// Starts member `id` (its data in `data_dir`, created if missing) with gRPC on `grpc_port`.
    pub fn spawn(id: u64, config: &Path, data_dir: &Path, grpc_port: u16) -> Peer {
        Peer::spawn_with(id, config, data_dir, grpc_port, Vec::new())
    }

    /// [`Peer::spawn`] with more flags (e.g. `--client-port N`).
    pub fn spawn_with(
        id: u64,
        config: &Path,
        data_dir: &Path,
        grpc_port: u16,
        extra: Vec<String>,
    ) -> Peer {
        Peer::spawn_with_env(id, config, data_dir, grpc_port, extra, Vec::new())
    }

    /// [`Peer::spawn_with`] with more environment variables (e.g. [`slow_disk::SlowDisks::env`]).
    pub fn spawn_with_env(
        id: u64,
        config: &Path,
        data_dir: &Path,
        grpc_port: u16,
        extra: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Peer {
        std::fs::create_dir_all(data_dir).expect("create the data dir");
        let mut cmd = paddock_command();
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.arg("--config")
            .arg(config)
            .args(["--myid", &id.to_string()])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--grpc-port", &grpc_port.to_string()])
            .args(["--grpc-address", "127.0.0.1"])
            .args(&extra);
        let (child, log) = spawn_logged(cmd);
        Peer {
            id,
            addr: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
            data_dir: data_dir.to_path_buf(),
            config: config.to_path_buf(),
            child,
            log,
            exit: None,
            extra,
            env,
        }
    }

    /// Starts this member again on the same config, data dir, ports and environment (after
    /// [`Peer::kill`]).
    pub fn restart(&self) -> Peer {
        assert!(self.exit.is_some(), "restart only a stopped peer");
        Peer::spawn_with_env(
            self.id,
            &self.config,
            &self.data_dir,
            self.addr.port(),
            self.extra.clone(),
            self.env.clone(),
        )
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The exit status if the process has exited (reaped here).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
        }
        self.exit
    }

    /// Panics with the log if the process has exited: a member must not die on its own.
    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            // Let the reader thread drain the pipe.
            std::thread::sleep(Duration::from_millis(50));
            panic!(
                "paddock server.{} exited by itself with {status}; stderr:\n{}",
                self.id,
                self.log()
            );
        }
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP: the process stops where it stands (its sockets stay open, the kernel keeps
    /// accepting connections for it) until [`Peer::cont`]. A stopped peer is still SIGKILLed on
    /// drop.
    pub fn stop_signal(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Peer::stop_signal`].
    pub fn cont(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid}: {status}");
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = Some(self.child.wait().expect("wait"));
        }
    }

    pub async fn status(&self, limit: Duration) -> Result<pb::ServerStatus, String> {
        try_status(self.addr, limit).await
    }
}

/// A local ensemble of real `paddock` processes on 127.0.0.1 (ports from [`peer_ports`]), in a
/// temp dir removed when it is dropped (after the processes, which are SIGKILLed then).
pub struct LocalEnsemble {
    /// Declared before `tmp`: the processes die before their directories are removed.
    pub peers: Vec<Peer>,
    pub ports: Vec<PeerPorts>,
    _tmp: tempfile::TempDir,
}

impl LocalEnsemble {
    /// `n` members on [`ensemble_cfg`] with `extra` lines, once all of them serve.
    pub async fn start(n: usize, extra: &[&str]) -> LocalEnsemble {
        LocalEnsemble::start_with(n, |ports| ensemble_cfg(ports, extra)).await
    }

    /// `n` members on the zoo.cfg `cfg` writes for their ports, once all of them serve.
    pub async fn start_with(n: usize, cfg: impl FnOnce(&[PeerPorts]) -> String) -> LocalEnsemble {
        LocalEnsemble::start_with_args(n, cfg, |_| Vec::new()).await
    }

    /// [`LocalEnsemble::start_with`], member `i` (from 0) started with the flags `args(i)` too.
    pub async fn start_with_args(
        n: usize,
        cfg: impl FnOnce(&[PeerPorts]) -> String,
        args: impl Fn(usize) -> Vec<String>,
    ) -> LocalEnsemble {
        LocalEnsemble::start_prepared(n, cfg, args, |_, _| {}).await
    }

    /// [`LocalEnsemble::start_with_args`], with `prepare(i, data_dir)` called for member `i`'s
    /// data dir (not created yet) before it starts: e.g. to restore a backup into it.
    pub async fn start_prepared(
        n: usize,
        cfg: impl FnOnce(&[PeerPorts]) -> String,
        args: impl Fn(usize) -> Vec<String>,
        prepare: impl Fn(usize, &Path),
    ) -> LocalEnsemble {
        let tmp = tempfile::tempdir().expect("temp dir");
        let ports = peer_ports(n);
        let config = tmp.path().join("zoo.cfg");
        std::fs::write(&config, cfg(&ports)).expect("write zoo.cfg");
        for i in 0..n {
            prepare(i, &tmp.path().join((i + 1).to_string()));
        }
        let peers = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let id = i as u64 + 1;
                Peer::spawn_with(
                    id,
                    &config,
                    &tmp.path().join(id.to_string()),
                    p.grpc,
                    args(i),
                )
            })
            .collect();
        let mut e = LocalEnsemble {
            peers,
            ports,
            _tmp: tmp,
        };
        let all: Vec<usize> = (0..n).collect();
        e.wait_serving(&all).await;
        e
    }

    /// Waits (20 s at most) until every listed member serves; panics with their statuses and
    /// logs otherwise, or at once if one exits by itself.
    pub async fn wait_serving(&mut self, which: &[usize]) {
        const LIMIT: Duration = Duration::from_secs(20);
        let start = Instant::now();
        loop {
            let mut statuses = Vec::new();
            for &i in which {
                self.peers[i].assert_running();
                statuses.push(try_status(self.peers[i].addr, Duration::from_secs(1)).await);
            }
            if statuses.iter().all(|s| s.as_ref().is_ok_and(|s| s.serving)) {
                return;
            }
            assert!(
                start.elapsed() < LIMIT,
                "ensemble members {which:?} not serving after {LIMIT:?}: {statuses:?}\n{}",
                log_tails(&self.peers, 30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The members' gRPC addresses, comma-separated (a client connect string).
    pub fn connect_string(&self) -> String {
        self.peers
            .iter()
            .map(|p| p.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the member whose gRPC address is `addr`.
    pub fn index_of(&self, addr: &str) -> usize {
        self.peers
            .iter()
            .position(|p| p.addr.to_string() == addr)
            .unwrap_or_else(|| panic!("{addr} is not a member"))
    }
}

/// The last `n` lines of each member's log, one section per member, for failure messages.
pub fn log_tails<'a>(peers: impl IntoIterator<Item = &'a Peer>, n: usize) -> String {
    let mut out = String::new();
    for p in peers {
        let log = p.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(n)..];
        out.push_str(&format!(
            "--- server.{} (last {} lines) ---\n{}\n",
            p.id,
            tail.len(),
            tail.join("\n")
        ));
    }
    out
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
