//! zkCli's `reconfig` in the built `paddock-cli`: its output ("Committed new configuration:",
//! the new configuration, `-s` its Stat) and the arguments it sends, against a scripted
//! in-process gRPC server; zkCli's error words and exit status 1 for the server's refusals
//! (RECONFIGDISABLED from the script and from a real standalone server); usage
//! errors and an unreadable `-file` refused before anything is sent.

mod support;

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, Stream, StreamExt};
use paddock_proto::v1::paddock_server::{Paddock, PaddockServer};
use paddock_proto::v1::{self as pb, request::Op, response::Result as R};
use support::Server;
use tonic::{Request, Response, Status, Streaming};

const NEW_CONFIG: &str = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
                          server.4=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n\
                          version=100000007";

/// Answers each reconfig with the next code of `answers` (0: the new configuration) and keeps
/// the requests.
#[derive(Clone, Default)]
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
                let mut answers = self.answers.lock().expect("lock");
                let code = if answers.is_empty() {
                    -6
                } else {
                    answers.remove(0)
                };
                if code != 0 {
                    return (code, None);
                }
                let stat = pb::Stat {
                    czxid: 0,
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
        let (tx, rx) = futures::channel::mpsc::channel(64);
        let mut tx2 = tx.clone();
        let _ = tx2.try_send(Ok(message(pb::server_message::Message::Connect(
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
            let mut tx = tx;
            while let Ok(Some(pb::ClientMessage {
                message: Some(pb::client_message::Message::Request(r)),
            })) = inbound.message().await
            {
                let closing = matches!(r.op, Some(Op::CloseSession(_)));
                let (error, result) = me.answer(r.op);
                let reply = message(pb::server_message::Message::Response(pb::Response {
                    xid: r.xid,
                    zxid: 1,
                    error,
                    error_message: String::new(),
                    result,
                }));
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
        Ok(Response::new(Box::pin(rx)))
    }
}

/// The scripted server on port 0, in its own runtime (the CLI under test is a child process).
struct Fake {
    _rt: tokio::runtime::Runtime,
    addr: String,
    script: Scripted,
}

fn fake(answers: Vec<i32>) -> Fake {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let script = Scripted {
        answers: Arc::new(Mutex::new(answers)),
        ..Scripted::default()
    };
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind port 0");
    let addr = listener.local_addr().expect("addr").to_string();
    let incoming = futures::stream::unfold(listener, |l| async move {
        let conn = l.accept().await.map(|(s, _)| s);
        Some((conn, l))
    })
    .boxed();
    let service = PaddockServer::new(script.clone());
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    Fake {
        _rt: rt,
        addr,
        script,
    }
}

#[test]
fn reconfig_prints_the_committed_configuration_as_zkcli() {
    let f = fake(vec![0, 0, 0]);
    let (code, out, err) = Server::run_at(
        &f.addr,
        "reconfig -add server.4=127.0.0.1:2889:3889;2182 -remove 2,3",
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_eq!(out, format!("Committed new configuration:\n{NEW_CONFIG}\n"));

    // -s adds the Stat; -v is hex, as /zookeeper/config shows the version.
    let (code, out, err) = Server::run_at(
        &f.addr,
        "reconfig -s -v 100000003 -members 1=127.0.0.1:2888:3888;2181,4=127.0.0.1:2889:3889;2182",
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(
        out.starts_with(&format!(
            "Committed new configuration:\n{NEW_CONFIG}\ncZxid = 0x0\n"
        )),
        "{out}"
    );
    assert!(out.contains("\nmZxid = 0x100000007\n"), "{out}");
    assert!(out.contains("\ndataVersion = -1\n"), "{out}");

    // -file: the file's server lines, its version line dropped.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("zoo.cfg.dynamic.100000003");
    std::fs::write(
        &file,
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
         server.4=127.0.0.1:2889:3889:observer;2182\n\
         version=100000003\n",
    )
    .expect("write");
    let (code, _, err) = Server::run_at(&f.addr, &format!("reconfig -file {}", file.display()));
    assert_eq!((code, err.as_str()), (0, ""));

    let got = f.script.got.lock().expect("lock").clone();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            pb::ReconfigRequest {
                joining_servers: strings(&["server.4=127.0.0.1:2889:3889;2182"]),
                leaving_servers: vec![2, 3],
                new_members: vec![],
                from_config_version: -1,
            },
            pb::ReconfigRequest {
                joining_servers: vec![],
                leaving_servers: vec![],
                new_members: strings(&["1=127.0.0.1:2888:3888;2181", "4=127.0.0.1:2889:3889;2182"]),
                from_config_version: 0x1_0000_0003,
            },
            pb::ReconfigRequest {
                joining_servers: vec![],
                leaving_servers: vec![],
                new_members: strings(&[
                    "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181",
                    "server.4=127.0.0.1:2889:3889:observer;0.0.0.0:2182",
                ]),
                from_config_version: -1,
            },
        ]
    );
}

/// The server's refusals in zkCli's words, exit 1: RECONFIGDISABLED and NEWCONFIGNOQUORUM from
/// the script, BADVERSION (reworded by zkCli), and RECONFIGDISABLED from a real standalone
/// server (reconfigEnabled is off by default, and checked first, as ZooKeeper does).
#[test]
fn refusals_exit_1_with_zkclis_words() {
    let f = fake(vec![-123, -13, -103]);
    for want in [
        "KeeperErrorCode = Reconfig is disabled\n",
        "KeeperErrorCode = NewConfigNoQuorum\n",
        "version No is not valid : \n",
    ] {
        let (code, out, err) = Server::run_at(&f.addr, "reconfig -remove 2");
        assert_eq!((code, out.as_str(), err.as_str()), (1, "", want));
    }
    let s = Server::start();
    let (code, out, err) = s.run("reconfig -remove 2");
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "KeeperErrorCode = Reconfig is disabled\n")
    );
}

/// Malformed commands are refused before anything is sent: nothing reaches the server.
#[test]
fn usage_errors_send_nothing() {
    let f = fake(vec![]);
    let usage = "reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]";
    let (code, out, err) = Server::run_at(&f.addr, "reconfig");
    assert_eq!((code, out.as_str(), err.trim_end()), (1, "", usage));
    let (code, _, err) = Server::run_at(&f.addr, "reconfig -members 1=a:1:2;3 -remove 2");
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Can't use -file or -members together with -add or -remove"),
        "{err}"
    );
    let (code, _, err) = Server::run_at(&f.addr, "reconfig -remove 2 -v xyz");
    assert_eq!(
        (code, err.as_str()),
        (1, "-v must be followed by a long (configuration version)\n")
    );
    let (code, _, err) = Server::run_at(&f.addr, "reconfig -file /nonexistent/zoo.cfg.dynamic");
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error processing /nonexistent/zoo.cfg.dynamic: "),
        "{err}"
    );
    assert!(f.script.got.lock().expect("lock").is_empty());
}
