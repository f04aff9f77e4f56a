//! Read-only sessions (ZooKeeper's `canBeReadOnly`) against scripted in-process gRPC servers
//! (no Paddock server): the client is ConnectedReadOnly on a read-only server, looks for a
//! read-write one in the background (ZooKeeper's `pingRwServer`) and moves there — as a new
//! session when its session was created read-only (`seenRwServerBefore` false), with its own
//! session when it had seen a read-write server before.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_client::{Client, ClientOptions, CreateMode, ErrorCode, SessionState};
use paddock_proto::v1::paddock_server::{Paddock, PaddockServer};
use paddock_proto::v1::{self as pb, request::Op, response::Result as R};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

const WAIT: Duration = Duration::from_secs(10);
/// The id a read-only server gives a new session; the id a read-write server gives one.
const RO_SESSION: i64 = 0x0100_0000_0000_0001;
const RW_SESSION: i64 = 0x0200_0000_0000_0001;

/// What a scripted server does with connects.
const DOWN: u8 = 0;
const READ_ONLY: u8 = 1;
const READ_WRITE: u8 = 2;

#[derive(Clone)]
struct Scripted {
    mode: Arc<AtomicU8>,
    connects: Arc<Mutex<Vec<pb::ConnectRequest>>>,
    /// Ends every open stream with UNAVAILABLE: a connection loss.
    kill: broadcast::Sender<()>,
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

fn refusal(code: i32, message: &str) -> Status {
    let mut s = Status::unavailable(message);
    s.metadata_mut().insert(
        "paddock-error-code",
        code.to_string().parse().expect("ascii"),
    );
    s
}

fn message(m: pb::server_message::Message) -> pb::ServerMessage {
    pb::ServerMessage { message: Some(m) }
}

#[tonic::async_trait]
impl Paddock for Scripted {
    type SessionStream = Out;

    async fn session(
        &self,
        request: Request<Streaming<pb::ClientMessage>>,
    ) -> Result<Response<Out>, Status> {
        let mode = self.mode.load(Ordering::SeqCst);
        if mode == DOWN {
            return Err(Status::unavailable("scripted: not serving"));
        }
        let mut inbound = request.into_inner();
        let first = inbound.message().await?.and_then(|m| m.message);
        let Some(pb::client_message::Message::Connect(hello)) = first else {
            return Err(Status::invalid_argument("connect first"));
        };
        self.connects.lock().unwrap().push(hello.clone());
        let read_only = mode == READ_ONLY;
        if read_only && !hello.read_only {
            return Err(refusal(
                -4,
                "read-only mode and the client did not allow it",
            ));
        }
        let session_id = match hello.session_id {
            0 if read_only => RO_SESSION,
            0 => RW_SESSION,
            id => id,
        };
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.try_send(Ok(message(pb::server_message::Message::Connect(
            pb::ConnectResponse {
                session_id,
                password: vec![session_id as u8; 16].into(),
                timeout_ms: hello.timeout_ms,
                zxid: 1,
                read_only,
            },
        ))));
        let mut kill = self.kill.subscribe();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = kill.recv() => {
                        let _ = tx.send(Err(Status::unavailable("scripted loss"))).await;
                        return;
                    }
                    m = inbound.message() => m,
                };
                let Ok(Some(pb::ClientMessage {
                    message: Some(pb::client_message::Message::Request(r)),
                })) = msg
                else {
                    return;
                };
                let (error, result) = match r.op {
                    Some(Op::Ping(_)) => (0, Some(R::Ping(pb::PingResponse {}))),
                    Some(Op::Create(_)) if read_only => (-119, None),
                    Some(Op::Create(c)) => (
                        0,
                        Some(R::Create(pb::CreateResponse {
                            path: c.path,
                            stat: Some(pb::Stat::default()),
                        })),
                    ),
                    _ => (-6, None),
                };
                let answer = pb::Response {
                    xid: r.xid,
                    zxid: 1,
                    error,
                    error_message: String::new(),
                    result,
                };
                let reply = message(pb::server_message::Message::Response(answer));
                if tx.send(Ok(reply)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn start(mode: u8) -> (Scripted, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scripted = Scripted {
        mode: Arc::new(AtomicU8::new(mode)),
        connects: Arc::default(),
        kill: broadcast::Sender::new(4),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(PaddockServer::new(scripted.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (scripted, addr)
}

fn opts() -> ClientOptions {
    ClientOptions::default()
        .session_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .seed(1)
        .can_be_read_only(true)
}

async fn state_becomes(c: &Client, want: SessionState) {
    let mut rx = c.state_watch();
    tokio::time::timeout(WAIT, rx.wait_for(|s| *s == want))
        .await
        .unwrap_or_else(|_| panic!("state still {:?}, not {want:?}", c.state()))
        .expect("state channel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_read_only_moves_to_a_read_write_server_as_a_new_session() {
    let (ro, ro_addr) = start(READ_ONLY).await;
    let (rw, rw_addr) = start(DOWN).await;
    let c = Client::connect(&format!("{ro_addr},{rw_addr}"), opts())
        .await
        .expect("connect");
    assert_eq!(c.state(), SessionState::ConnectedReadOnly);
    assert!(c.is_read_only());
    assert_eq!(c.session_id().0, RO_SESSION);
    assert!(ro.connects.lock().unwrap()[0].read_only, "the flag is sent");
    let e = c
        .create("/x", b"".to_vec(), CreateMode::Persistent)
        .await
        .expect_err("read-only");
    assert_eq!(e.code(), ErrorCode::NotReadOnly);

    // A read-write server appears: the client finds it by itself and moves there.
    rw.mode.store(READ_WRITE, Ordering::SeqCst);
    state_becomes(&c, SessionState::Connected).await;
    assert!(!c.is_read_only());
    assert_eq!(c.server(), rw_addr.to_string());
    // Never seen read-write before: a new session there, asked for with id 0.
    assert_eq!(c.session_id().0, RW_SESSION);
    let probe = rw
        .connects
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a connect");
    assert_eq!(probe.session_id, 0);
    assert!(
        !probe.read_only,
        "the probe looks for a read-write server only"
    );
    c.create("/x", b"".to_vec(), CreateMode::Persistent)
        .await
        .expect("write after the move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_session_goes_read_only_and_back_keeping_its_id() {
    let (_ro, ro_addr) = start(READ_ONLY).await;
    let (rw, rw_addr) = start(READ_WRITE).await;
    // Wherever the shuffle sends it first, the client ends on the read-write server.
    let c = Client::connect(&format!("{rw_addr},{ro_addr}"), opts())
        .await
        .expect("connect");
    state_becomes(&c, SessionState::Connected).await;
    let id2 = c.session_id();
    assert_eq!(id2.0, RW_SESSION);

    // The read-write server goes away: the session resumes read-only, same id.
    rw.mode.store(DOWN, Ordering::SeqCst);
    let _ = rw.kill.send(());
    state_becomes(&c, SessionState::ConnectedReadOnly).await;
    assert_eq!(c.session_id(), id2);
    // It comes back: the session is resumed there by id.
    rw.mode.store(READ_WRITE, Ordering::SeqCst);
    state_becomes(&c, SessionState::Connected).await;
    assert_eq!(c.session_id(), id2);
    let back = rw
        .connects
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a connect");
    assert_eq!(back.session_id, id2.0);
}
