//! A fake [`Backend`] and helpers: a real gateway on 127.0.0.1:0, real tonic clients.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use paddock_gateway::backend::{ConnId, ConnectRequest, Connected, SessionEvent};
use paddock_gateway::{AdminService, Backend, Gateway, GatewayError, GatewayOptions, HealthHandle};
use paddock_proto::v1 as pb;
use paddock_proto::v1::paddock_client::PaddockClient;
use paddock_types::{
    ErrorCode, EventType, KeeperState, Request, Response, SessionId, Stat, WatchedEvent, ZkError,
    Zxid,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

pub const PASSWORD: [u8; 16] = [7; 16];
pub const WAIT: Duration = Duration::from_secs(10);

/// What the fake saw and how it behaves.
#[derive(Default)]
pub struct State {
    next_session: i64,
    next_conn: u64,
    zxid: u64,
    /// If set, `connect` fails with this.
    pub refuse: Option<ZkError>,
    /// Answer requests as they arrive (otherwise the test answers with `emit`).
    pub auto_answer: bool,
    /// Size of the data a GetData answer carries (default: the path's bytes).
    pub get_data_bytes: Option<usize>,
    pub connects: Vec<ConnectRequest>,
    pub submits: Vec<(SessionId, ConnId, i64, Request)>,
    /// The name of the thread each submit ran on (unnamed: "").
    pub submit_threads: Vec<String>,
    pub detaches: Vec<(SessionId, ConnId)>,
    pub conns: Vec<(SessionId, ConnId)>,
    senders: HashMap<ConnId, mpsc::UnboundedSender<SessionEvent>>,
}

/// A Backend that records everything and answers as told.
pub struct Fake {
    state: Mutex<State>,
}

impl Fake {
    pub fn new(auto_answer: bool) -> Arc<Fake> {
        Arc::new(Fake {
            state: Mutex::new(State {
                auto_answer,
                next_session: 0x0100_0000_0000_0000,
                ..State::default()
            }),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    /// Pushes an event to a connection, as the server would.
    pub fn emit(&self, conn: ConnId, ev: SessionEvent) {
        let st = self.state();
        let tx = st.senders.get(&conn).expect("a connected conn");
        tx.send(ev).expect("the gateway holds the receiver");
    }

    /// Drops a connection's sender without a Closed event (the server lost it).
    pub fn drop_conn(&self, conn: ConnId) {
        self.state().senders.remove(&conn);
    }

    /// Waits (polling) until `f` holds, or panics after [`WAIT`].
    pub async fn wait_until(&self, what: &str, f: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if f(&self.state()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The session and connection of the newest successful connect.
    pub fn last_conn(&self) -> (SessionId, ConnId) {
        *self.state().conns.last().expect("a connection")
    }
}

pub fn stat(z: i64) -> Stat {
    Stat {
        czxid: z,
        mzxid: z,
        pzxid: z,
        ..Stat::default()
    }
}

pub fn response(xid: i64, zxid: u64, result: Result<Response, ZkError>) -> SessionEvent {
    SessionEvent::Response {
        xid,
        zxid: Zxid(zxid),
        result,
    }
}

pub fn watch(path: &str, zxid: u64) -> SessionEvent {
    SessionEvent::Watch(WatchedEvent {
        event_type: EventType::NodeDataChanged,
        state: KeeperState::SyncConnected,
        path: path.into(),
        zxid: Zxid(zxid),
    })
}

impl Backend for Fake {
    async fn connect(&self, req: ConnectRequest) -> Result<Connected, ZkError> {
        let mut st = self.state();
        st.connects.push(req.clone());
        if let Some(err) = st.refuse.clone() {
            return Err(err);
        }
        let session = match req.resume {
            Some((id, _)) => id,
            None => {
                st.next_session += 1;
                SessionId(st.next_session)
            }
        };
        st.next_conn += 1;
        let conn = ConnId(st.next_conn);
        let (tx, events) = mpsc::unbounded_channel();
        st.senders.insert(conn, tx);
        st.conns.push((session, conn));
        Ok(Connected {
            session,
            password: PASSWORD,
            timeout_ms: req.timeout_ms.clamp(4000, 40_000),
            conn,
            events,
            zxid: Zxid(st.zxid),
            read_only: false,
        })
    }

    fn submit(&self, session: SessionId, conn: ConnId, xid: i64, req: Request) {
        let mut st = self.state();
        st.submits.push((session, conn, xid, req.clone()));
        let thread = std::thread::current()
            .name()
            .unwrap_or_default()
            .to_string();
        st.submit_threads.push(thread);
        if !st.auto_answer {
            return;
        }
        st.zxid += 1;
        let z = st.zxid;
        let big = st.get_data_bytes;
        let Some(tx) = st.senders.get(&conn).cloned() else {
            return;
        };
        let events = match req {
            Request::Ping => vec![response(xid, z, Ok(Response::Ping))],
            Request::GetData { path, .. } => {
                let data = match big {
                    Some(n) => Bytes::from(vec![b'x'; n]),
                    None => Bytes::from(path.into_bytes()),
                };
                vec![response(
                    xid,
                    z,
                    Ok(Response::GetData {
                        data: data.into(),
                        stat: stat(1),
                    }),
                )]
            }
            // A write that fires a watch: the event comes before the answer.
            Request::SetData { path, .. } => vec![
                watch(&path, z),
                response(
                    xid,
                    z,
                    Ok(Response::SetData {
                        stat: stat(z as i64),
                    }),
                ),
            ],
            Request::Create { path, .. } => vec![response(
                xid,
                z,
                Ok(Response::Create {
                    path,
                    stat: stat(z as i64),
                }),
            )],
            Request::CloseSession => {
                st.senders.remove(&conn);
                vec![
                    response(xid, z, Ok(Response::CloseSession)),
                    SessionEvent::Closed(ErrorCode::Ok),
                ]
            }
            other => vec![response(
                xid,
                z,
                Err(ZkError::new(ErrorCode::NoNode, format!("{other:?}"))),
            )],
        };
        for ev in events {
            let _ = tx.send(ev);
        }
    }

    fn detach(&self, session: SessionId, conn: ConnId) {
        let mut st = self.state();
        st.detaches.push((session, conn));
        st.senders.remove(&conn);
    }
}

/// A gateway serving a fake on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    pub fake: Arc<Fake>,
    pub health: HealthHandle,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), GatewayError>>,
}

pub async fn start(fake: Arc<Fake>, opts: GatewayOptions) -> TestServer {
    start_with(fake, opts, None).await
}

/// A gateway serving a fake on 127.0.0.1:0, with `paddock.v1.Admin` answered by `admin`.
pub async fn start_with_admin(
    fake: Arc<Fake>,
    opts: GatewayOptions,
    admin: AdminService,
) -> TestServer {
    start_with(fake, opts, Some(admin)).await
}

async fn start_with(
    fake: Arc<Fake>,
    opts: GatewayOptions,
    admin: Option<AdminService>,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("bound address");
    let mut gateway = Gateway::new(Arc::clone(&fake), opts).expect("valid options");
    if let Some(admin) = admin {
        gateway = gateway.with_admin(admin);
    }
    let health = gateway.health();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(gateway.serve(listener, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        fake,
        health,
        stop: Some(stop),
        handle,
    }
}

impl TestServer {
    /// A plain channel to the gateway, for the health and reflection clients.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect to the gateway")
    }

    pub async fn client(&self) -> PaddockClient<tonic::transport::Channel> {
        PaddockClient::connect(format!("http://{}", self.addr))
            .await
            .expect("connect to the gateway")
    }

    /// Opens a session stream whose first message is `first`.
    pub async fn open_with(&self, first: pb::ClientMessage) -> Result<Conn, Status> {
        let mut client = self.client().await;
        let (tx, rx) = mpsc::channel(1024);
        tx.send(first).await.expect("queue the first message");
        let rx = client.session(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Conn { tx, rx })
    }

    /// Opens a new session and reads its ConnectResponse.
    pub async fn open(&self) -> (Conn, pb::ConnectResponse) {
        let mut c = self.open_with(connect(0, &[])).await.expect("handshake");
        match c.next().await.message {
            Some(pb::server_message::Message::Connect(r)) => (c, r),
            other => panic!("expected ConnectResponse first, got {other:?}"),
        }
    }

    pub async fn shutdown(mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task")
    }
}

/// One client session stream.
pub struct Conn {
    pub tx: mpsc::Sender<pb::ClientMessage>,
    pub rx: Streaming<pb::ServerMessage>,
}

impl Conn {
    pub async fn send(&self, msg: pb::ClientMessage) {
        self.tx.send(msg).await.expect("request stream open");
    }

    /// The next message; panics on end, error or timeout.
    pub async fn next(&mut self) -> pb::ServerMessage {
        match self.try_next().await {
            Ok(Some(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    pub async fn try_next(&mut self) -> Result<Option<pb::ServerMessage>, Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a message or the end in time")
    }

    pub async fn next_response(&mut self) -> pb::Response {
        match self.next().await.message {
            Some(pb::server_message::Message::Response(r)) => r,
            other => panic!("expected a Response, got {other:?}"),
        }
    }
}

pub fn connect(session_id: i64, password: &[u8]) -> pb::ClientMessage {
    pb::ClientMessage {
        message: Some(pb::client_message::Message::Connect(pb::ConnectRequest {
            session_id,
            password: Bytes::copy_from_slice(password),
            timeout_ms: 10_000,
            last_zxid_seen: 0,
            ..Default::default()
        })),
    }
}

pub fn request(xid: i64, op: Option<pb::request::Op>) -> pb::ClientMessage {
    pb::ClientMessage {
        message: Some(pb::client_message::Message::Request(pb::Request {
            xid,
            op,
        })),
    }
}

pub fn get_data(xid: i64, path: &str) -> pb::ClientMessage {
    request(
        xid,
        Some(pb::request::Op::GetData(pb::GetDataRequest {
            path: path.into(),
            watch: false,
        })),
    )
}

pub fn ping(xid: i64) -> pb::ClientMessage {
    request(xid, Some(pb::request::Op::Ping(pb::PingRequest {})))
}
