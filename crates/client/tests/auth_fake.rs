//! ACL calls and authentication against a scripted in-process gRPC server (no Paddock server):
//! what the client puts on the wire, the re-sending of accepted AddAuths on a resumed stream, and
//! the end of the session after a failed AddAuth (client.proto "Access control").

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use paddock_client::{
    perms, Acl, Client, ClientOptions, CreateMode, Error, ErrorCode, Id, MultiOp, SessionState,
};
use paddock_proto::v1::paddock_server::{Paddock, PaddockServer};
use paddock_proto::v1::{self as pb, request::Op, response::Result as R};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

const WAIT: Duration = Duration::from_secs(10);
const SESSION: i64 = 0x0100_0000_0000_0007;

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// What the scripted server saw: per stream, the ConnectRequest and the ops in arrival order.
#[derive(Default)]
struct Seen {
    connects: Vec<pb::ConnectRequest>,
    /// (stream number from 0, op).
    ops: Vec<(usize, Op)>,
}

/// A Paddock server that answers from a script: every AddAuth with scheme "digest" is accepted,
/// any other scheme fails the session (AUTHFAILED); WhoAmI lists `ip:127.0.0.1` and the digest
/// credentials (as given, not hashed: this is a fake); creates, ACL reads and writes echo.
#[derive(Clone)]
struct Scripted {
    seen: Arc<Mutex<Seen>>,
    /// Ends every open stream with UNAVAILABLE (no paddock-error-code): connection loss.
    kill: broadcast::Sender<()>,
}

type Out = Pin<Box<dyn Stream<Item = Result<pb::ServerMessage, Status>> + Send>>;

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
            return Err(Status::invalid_argument(
                "the first message must be a connect",
            ));
        };
        let (tx, rx) = mpsc::channel(64);
        let stream_no = {
            let mut seen = self.seen.lock().unwrap();
            seen.connects.push(hello.clone());
            seen.connects.len() - 1
        };
        let connected = pb::ConnectResponse {
            session_id: SESSION,
            password: vec![9; 16].into(),
            timeout_ms: hello.timeout_ms,
            zxid: 0,
            read_only: false,
        };
        let _ = tx.try_send(Ok(server_message(pb::server_message::Message::Connect(
            connected,
        ))));
        let this = self.clone();
        let kill = self.kill.subscribe();
        tokio::spawn(async move { this.serve(stream_no, inbound, tx, kill).await });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn server_message(m: pb::server_message::Message) -> pb::ServerMessage {
    pb::ServerMessage { message: Some(m) }
}

fn answer(xid: i64, error: i32, result: Option<R>) -> pb::ServerMessage {
    server_message(pb::server_message::Message::Response(pb::Response {
        xid,
        zxid: 1,
        error,
        error_message: String::new(),
        result,
    }))
}

fn stat(aversion: i32) -> pb::Stat {
    pb::Stat {
        aversion,
        ..Default::default()
    }
}

fn closed(error: i32) -> pb::ServerMessage {
    server_message(pb::server_message::Message::SessionClosed(
        pb::SessionClosed {
            error,
            message: "scripted".into(),
        },
    ))
}

impl Scripted {
    async fn serve(
        self,
        stream_no: usize,
        mut inbound: Streaming<pb::ClientMessage>,
        tx: mpsc::Sender<Result<pb::ServerMessage, Status>>,
        mut kill: broadcast::Receiver<()>,
    ) {
        let mut auths: Vec<Bytes> = Vec::new();
        loop {
            let msg = tokio::select! {
                _ = kill.recv() => {
                    let _ = tx.send(Err(Status::unavailable("scripted connection loss"))).await;
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
            let Some(op) = r.op else { return };
            self.seen.lock().unwrap().ops.push((stream_no, op.clone()));
            let (reply, then_close) = match op {
                Op::AddAuth(a) if a.scheme == "digest" => {
                    auths.push(a.auth);
                    (
                        answer(r.xid, 0, Some(R::AddAuth(pb::AddAuthResponse {}))),
                        None,
                    )
                }
                Op::AddAuth(_) => (answer(r.xid, -115, None), Some(closed(-115))),
                Op::WhoAmI(_) => {
                    let mut ids = vec![pb::Id {
                        scheme: "ip".into(),
                        id: "127.0.0.1".into(),
                    }];
                    ids.extend(auths.iter().map(|a| pb::Id {
                        scheme: "digest".into(),
                        id: String::from_utf8_lossy(a).into_owned(),
                    }));
                    (
                        answer(r.xid, 0, Some(R::WhoAmI(pb::WhoAmIResponse { ids }))),
                        None,
                    )
                }
                Op::Create(c) => {
                    let created = pb::CreateResponse {
                        path: c.path,
                        stat: Some(stat(0)),
                    };
                    (answer(r.xid, 0, Some(R::Create(created))), None)
                }
                Op::GetAcl(_) => {
                    let acl = vec![pb::Acl {
                        perms: 31,
                        id: Some(pb::Id {
                            scheme: "digest".into(),
                            id: "bob:x".into(),
                        }),
                    }];
                    let got = pb::GetAclResponse {
                        acl,
                        stat: Some(stat(3)),
                    };
                    (answer(r.xid, 0, Some(R::GetAcl(got))), None)
                }
                Op::SetAcl(s) => {
                    let set = pb::SetAclResponse {
                        stat: Some(stat(s.version + 1)),
                    };
                    (answer(r.xid, 0, Some(R::SetAcl(set))), None)
                }
                Op::Multi(m) => {
                    let results = m
                        .ops
                        .iter()
                        .map(|_| pb::OpResult {
                            result: Some(pb::op_result::Result::Check(pb::CheckVersionResponse {})),
                        })
                        .collect();
                    let multi = pb::MultiResponse { results };
                    (answer(r.xid, 0, Some(R::Multi(multi))), None)
                }
                Op::Exists(_) => {
                    let none = pb::ExistsResponse {
                        exists: false,
                        stat: None,
                    };
                    (answer(r.xid, 0, Some(R::Exists(none))), None)
                }
                Op::CloseSession(_) => (
                    answer(r.xid, 0, Some(R::CloseSession(pb::CloseSessionResponse {}))),
                    Some(closed(0)),
                ),
                Op::Ping(_) => (answer(r.xid, 0, Some(R::Ping(pb::PingResponse {}))), None),
                _ => (answer(r.xid, -6, None), None),
            };
            if tx.send(Ok(reply)).await.is_err() {
                return;
            }
            if let Some(end) = then_close {
                let _ = tx.send(Ok(end)).await;
                return; // the stream ends with status OK
            }
        }
    }

    fn ops_of(&self, stream_no: usize) -> Vec<Op> {
        let seen = self.seen.lock().unwrap();
        seen.ops
            .iter()
            .filter(|(s, _)| *s == stream_no)
            .map(|(_, op)| op.clone())
            .collect()
    }
}

async fn start() -> (Scripted, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scripted = Scripted {
        seen: Arc::default(),
        kill: broadcast::Sender::new(4),
    };
    let service = PaddockServer::new(scripted.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (scripted, addr)
}

async fn client(addr: SocketAddr) -> Client {
    let opts = ClientOptions::default()
        .session_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2));
    within("connect", Client::connect(&addr.to_string(), opts))
        .await
        .unwrap()
}

async fn next_state(rx: &mut broadcast::Receiver<SessionState>) -> SessionState {
    within("a state event", rx.recv()).await.unwrap()
}

fn digest_auth(user_password: &str) -> Op {
    Op::AddAuth(pb::AddAuthRequest {
        scheme: "digest".into(),
        auth: Bytes::copy_from_slice(user_password.as_bytes()),
    })
}

/// ZooKeeper clients send every accepted addauth again, first, on each reconnect: the client
/// does the same, each credential once, before the calls queued while it was disconnected.
#[tokio::test]
async fn accepted_auths_are_sent_again_first_when_the_session_resumes() {
    let (server, addr) = start().await;
    let c = client(addr).await;
    c.add_auth("digest", "bob:pw").await.unwrap();
    c.add_auth("digest", "alice:pw").await.unwrap();
    c.add_auth("digest", "bob:pw").await.unwrap();
    assert_eq!(server.ops_of(0).len(), 3);

    let mut states = c.state_events();
    server.kill.send(()).unwrap();
    assert_eq!(next_state(&mut states).await, SessionState::Disconnected);
    // Made while disconnected (or just after the resume): either way after the replay.
    let ids = within("whoAmI", c.who_am_i()).await.unwrap();
    assert_eq!(c.state(), SessionState::Connected);

    let resume = server.seen.lock().unwrap().connects[1].clone();
    assert_eq!(
        resume.session_id, SESSION,
        "the second stream resumes the session"
    );
    assert_eq!(
        server.ops_of(1)[..3],
        [
            digest_auth("bob:pw"),
            digest_auth("alice:pw"),
            Op::WhoAmI(pb::WhoAmIRequest {})
        ],
        "the auths first, once each, in order; then the queued call"
    );
    assert!(ids.contains(&Id::new("digest", "bob:pw")));
    assert!(ids.contains(&Id::new("digest", "alice:pw")));
    c.close().await.unwrap();
}

/// As ZooKeeper: a refused AddAuth ends the session. The call, the calls after it, the watches
/// and close all report AuthFailed, and the client does not try to resume.
#[tokio::test]
async fn a_failed_add_auth_ends_the_session_with_auth_failed() {
    let (server, addr) = start().await;
    let c = client(addr).await;
    let mut states = c.state_events();
    let (stat, watch) = c.exists_w("/w").await.unwrap();
    assert_eq!(stat, None);

    let err = c.add_auth("kerberos", "x").await.unwrap_err();
    assert_eq!(err, Error::AuthFailed);
    assert_eq!(err.code(), ErrorCode::AuthFailed);
    assert_eq!(next_state(&mut states).await, SessionState::AuthFailed);
    assert_eq!(c.state(), SessionState::AuthFailed);
    assert_eq!(c.state().keeper_state() as i32, 4);
    assert!(c.state().is_terminal());
    assert_eq!(within("watch", watch).await.unwrap_err(), Error::AuthFailed);
    assert_eq!(c.who_am_i().await.unwrap_err(), Error::AuthFailed);
    assert_eq!(c.close().await.unwrap_err(), Error::AuthFailed);
    assert_eq!(
        server.seen.lock().unwrap().connects.len(),
        1,
        "an auth-failed session is not resumed"
    );
}

/// client.proto CreateRequest.acl: `create` leaves the ACL unset (world:anyone:cdrwa on the
/// server), `create_with_acl` and a multi's create send theirs; get/set ACL carry ZooKeeper's
/// perms bits and the ACL version.
#[tokio::test]
async fn acl_calls_put_what_the_proto_says_on_the_wire() {
    let (server, addr) = start().await;
    let c = client(addr).await;
    let acl = vec![
        Acl::new(perms::READ, Id::anyone()),
        Acl::new(perms::ALL, Id::new("digest", "bob:hash")),
    ];
    c.create("/open", "", CreateMode::Persistent).await.unwrap();
    let made = c
        .create_with_acl("/mine", "d", CreateMode::Ephemeral, acl.clone())
        .await
        .unwrap();
    assert_eq!(made, "/mine");
    c.create_with_acl("/empty", "", CreateMode::Persistent, vec![])
        .await
        .unwrap();
    c.multi(vec![MultiOp::Create {
        path: "/m".into(),
        data: Bytes::new().into(),
        mode: CreateMode::Persistent,
        acl: Acl::creator_all(),
    }])
    .await
    .unwrap();
    let (got, stat) = c.get_acl("/mine").await.unwrap();
    assert_eq!(got, vec![Acl::new(perms::ALL, Id::new("digest", "bob:x"))]);
    assert_eq!(stat.aversion, 3);
    let stat = c.set_acl("/mine", acl.clone(), 3).await.unwrap();
    assert_eq!(stat.aversion, 4);

    let ops = server.ops_of(0);
    let create_acl = |i: usize| match &ops[i] {
        Op::Create(c) => c.acl.clone(),
        other => panic!("op {i} is not a create: {other:?}"),
    };
    assert_eq!(create_acl(0), None, "create sends no ACL: the open default");
    let wire_acl = vec![
        pb::Acl {
            perms: 1,
            id: Some(pb::Id {
                scheme: "world".into(),
                id: "anyone".into(),
            }),
        },
        pb::Acl {
            perms: 31,
            id: Some(pb::Id {
                scheme: "digest".into(),
                id: "bob:hash".into(),
            }),
        },
    ];
    assert_eq!(
        create_acl(1),
        Some(pb::AclList {
            acls: wire_acl.clone()
        })
    );
    assert_eq!(
        create_acl(2),
        Some(pb::AclList { acls: vec![] }),
        "an empty ACL is sent set, for the server to refuse"
    );
    let Op::Multi(m) = &ops[3] else {
        panic!("not a multi: {:?}", ops[3]);
    };
    let Some(pb::multi_op::Op::Create(mc)) = &m.ops[0].op else {
        panic!("not a create: {:?}", m.ops[0]);
    };
    let auth = mc.acl.as_ref().map(|l| l.acls.clone()).unwrap_or_default();
    assert_eq!(
        auth,
        vec![pb::Acl {
            perms: 31,
            id: Some(pb::Id {
                scheme: "auth".into(),
                id: String::new(),
            }),
        }]
    );
    assert_eq!(
        ops[4],
        Op::GetAcl(pb::GetAclRequest {
            path: "/mine".into()
        })
    );
    assert_eq!(
        ops[5],
        Op::SetAcl(pb::SetAclRequest {
            path: "/mine".into(),
            acl: wire_acl,
            version: 3,
        })
    );
    c.close().await.unwrap();
}
