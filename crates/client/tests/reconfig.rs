//! `Client::reconfig` (ZooKeeper's `ZooKeeperAdmin.reconfigure`): what it sends and how it reads
//! the answers, against a scripted in-process gRPC server (the request's fields as given, the
//! new configuration and Stat back, ZooKeeper's reconfig error codes as typed errors); and the
//! real answer of a standalone server (RECONFIGDISABLED with the default settings). The success
//! path on a real ensemble is tested with the node (crates/node/tests).

mod support;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use paddock_client::{Client, ClientOptions, Error, ErrorCode};
use paddock_proto::v1::paddock_server::{Paddock, PaddockServer};
use paddock_proto::v1::{self as pb, request::Op, response::Result as R};
use support::{within, TestNode};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

/// The configuration the scripted server answers a successful reconfig with.
const NEW_CONFIG: &str = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
                          server.4=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n\
                          version=100000007";

/// A server that answers each reconfig with the next of `answers` (an error code, 0 for
/// success) and keeps every ReconfigRequest it got.
#[derive(Clone)]
struct Scripted {
    answers: Arc<Mutex<Vec<i32>>>,
    got: Arc<Mutex<Vec<pb::ReconfigRequest>>>,
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

fn message(m: pb::server_message::Message) -> pb::ServerMessage {
    pb::ServerMessage { message: Some(m) }
}

impl Scripted {
    fn answer(&self, op: Option<Op>) -> (i32, Option<R>) {
        match op {
            Some(Op::Ping(_)) => (0, Some(R::Ping(pb::PingResponse {}))),
            Some(Op::CloseSession(_)) => (0, Some(R::CloseSession(pb::CloseSessionResponse {}))),
            Some(Op::Reconfig(r)) => {
                self.got.lock().expect("lock").push(r);
                let code = {
                    let mut answers = self.answers.lock().expect("lock");
                    if answers.is_empty() {
                        -6
                    } else {
                        answers.remove(0)
                    }
                };
                if code != 0 {
                    return (code, None);
                }
                let stat = pb::Stat {
                    mzxid: 0x1_0000_0007,
                    version: -1,
                    data_length: NEW_CONFIG.len() as i32,
                    ..pb::Stat::default()
                };
                (
                    0,
                    Some(R::Reconfig(pb::ReconfigResponse {
                        data: Bytes::from_static(NEW_CONFIG.as_bytes()),
                        stat: Some(stat),
                    })),
                )
            }
            _ => (-6, None),
        }
    }
}

#[tonic::async_trait]
impl Paddock for Scripted {
    type SessionStream = Out;

    async fn session(
        &self,
        request: Request<Streaming<pb::ClientMessage>>,
    ) -> Result<Response<Out>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound.message().await?.and_then(|m| m.message);
        let Some(pb::client_message::Message::Connect(hello)) = first else {
            return Err(Status::invalid_argument("connect first"));
        };
        let (tx, rx) = mpsc::channel(64);
        let _ = tx.try_send(Ok(message(pb::server_message::Message::Connect(
            pb::ConnectResponse {
                session_id: 0x77,
                password: vec![7u8; 16].into(),
                timeout_ms: hello.timeout_ms,
                zxid: 1,
                read_only: false,
            },
        ))));
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(pb::ClientMessage {
                message: Some(pb::client_message::Message::Request(r)),
            })) = inbound.message().await
            {
                let closing = matches!(r.op, Some(Op::CloseSession(_)));
                let (error, result) = me.answer(r.op);
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
                if closing {
                    let closed = pb::SessionClosed {
                        error: 0,
                        message: String::new(),
                    };
                    let _ = tx
                        .send(Ok(message(pb::server_message::Message::SessionClosed(
                            closed,
                        ))))
                        .await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn start(answers: Vec<i32>) -> (Scripted, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let scripted = Scripted {
        answers: Arc::new(Mutex::new(answers)),
        got: Arc::default(),
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
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The arguments reach the server as given (incremental, then a new membership with a
/// version), and the answer is the new configuration's text and Stat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_sends_its_arguments_and_returns_the_new_configuration() {
    let (server, addr) = start(vec![0, 0]).await;
    let c = within("connect", Client::connect(&addr.to_string(), opts()))
        .await
        .expect("connect");

    let add = strings(&["server.4=127.0.0.1:2889:3889;2182"]);
    let (data, stat) = within("reconfig", c.reconfig(add.clone(), vec![2, 3], vec![], -1))
        .await
        .expect("reconfig");
    assert_eq!(&data[..], NEW_CONFIG.as_bytes());
    assert_eq!((stat.mzxid, stat.version), (0x1_0000_0007, -1));
    assert_eq!(stat.data_length as usize, NEW_CONFIG.len());

    let members = strings(&["1=127.0.0.1:2888:3888;2181", "4=127.0.0.1:2889:3889;2182"]);
    within(
        "reconfig",
        c.reconfig(vec![], vec![], members.clone(), 0x1_0000_0003),
    )
    .await
    .expect("reconfig");

    let got = server.got.lock().expect("lock").clone();
    assert_eq!(
        got,
        vec![
            pb::ReconfigRequest {
                joining_servers: add,
                leaving_servers: vec![2, 3],
                new_members: vec![],
                from_config_version: -1,
            },
            pb::ReconfigRequest {
                joining_servers: vec![],
                leaving_servers: vec![],
                new_members: members,
                from_config_version: 0x1_0000_0003,
            },
        ]
    );
    c.close().await.expect("close");
}

/// ZooKeeper's reconfig errors come back as `Error::Zk` with their code, and the session
/// goes on serving after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfig_errors_are_zookeepers_codes() {
    let codes = [
        ErrorCode::ReconfigDisabled,
        ErrorCode::NewConfigNoQuorum,
        ErrorCode::ReconfigInProgress,
        ErrorCode::BadVersion,
        ErrorCode::NoAuth,
        ErrorCode::BadArguments,
    ];
    let (_server, addr) = start(codes.iter().map(|c| c.code()).collect()).await;
    let c = within("connect", Client::connect(&addr.to_string(), opts()))
        .await
        .expect("connect");
    for want in codes {
        let e = within("reconfig", c.reconfig(vec![], vec![2], vec![], -1))
            .await
            .expect_err("refused");
        assert!(
            matches!(&e, Error::Zk { code, .. } if *code == want),
            "{want:?}: {e:?}"
        );
        assert_eq!(e.code(), want);
    }
    c.close().await.expect("close");
}

/// A real standalone server with the default settings: RECONFIGDISABLED (the setting is checked
/// first, as ZooKeeper does), and the session keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_server_answers_reconfig_disabled() {
    let mut node = TestNode::start().await;
    let c = within("connect", Client::connect(&node.addr.to_string(), opts()))
        .await
        .expect("connect");
    let e = within(
        "reconfig",
        c.reconfig(
            strings(&["server.2=127.0.0.1:2888:3888;2181"]),
            vec![],
            vec![],
            -1,
        ),
    )
    .await
    .expect_err("standalone");
    assert_eq!(e.code(), ErrorCode::ReconfigDisabled, "{e:?}");
    let (config, _) = within("getConfig", c.get_config())
        .await
        .expect("getConfig");
    assert!(config.is_empty(), "standalone: {config:?}");
    c.close().await.expect("close");
    node.stop().await;
}
