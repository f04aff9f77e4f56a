//! Read-only mode (issue 19, `readonlymode.enabled=true`) on a real 3-server ensemble: one
//! server cut off from the quorum (the other two stopped) serves read-only sessions — reads of
//! the data written before, NOTREADONLY (-119) for writes — refuses clients that did not allow
//! read-only (over gRPC and ZooKeeper's protocol), says `ro` to `isro` and `Mode: read-only` to
//! `srvr`; once the two come back it rejoins, and its read-only clients end up read-write.
//!
//! ```text
//!   3 x paddock (tickTime=100, readonlymode.enabled) ── kill 2 and 3 ──▶ 1 LOOKING for 2 s
//!        ──▶ 1 read-only: Client{can_be_read_only} reads, writes get NOTREADONLY
//!   restart 2 and 3 ──▶ 1 follows / leads again ──▶ the clients are read-write (writes work)
//! ```
//!
//! Every wait is bounded; processes are killed and temp dirs removed when the test ends.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use paddock_client::{Client, ClientOptions, CreateMode, Error, ErrorCode, SessionState};
use paddock_proto::v1 as pb;
use support::{
    channel, ensemble_cfg, free_ports, new_session, status_zk_code, LocalEnsemble, Session,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);

fn opts(seed: u64) -> ClientOptions {
    ClientOptions {
        session_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(2),
        seed: Some(seed),
        ..ClientOptions::default()
    }
}

/// A four-letter word's output from the server at `addr` (gRPC admin service).
async fn word(addr: SocketAddr, w: &str) -> String {
    let mut c = pb::admin_client::AdminClient::new(channel(addr).await);
    c.run_command(pb::CommandRequest { command: w.into() })
        .await
        .map(|r| r.into_inner().output)
        .unwrap_or_else(|s| format!("{w} failed: {s}"))
}

/// Polls `check` every 50 ms until it holds, for `WAIT` at most.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(why) => why,
        };
        assert!(
            start.elapsed() < WAIT,
            "{what}: still {last} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET path` on the HTTP admin listener: the body.
async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8(out).expect("utf-8");
    let (_, body) = text.split_once("\r\n\r\n").expect("end of headers");
    body.to_string()
}

/// ZooKeeper's protocol: a ConnectRequest for a new session with `readOnly` = `read_only`; the
/// ConnectResponse's frame, or `None` when the server closed the connection without one.
async fn zk_connect(addr: SocketAddr, read_only: bool) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    body.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    body.extend_from_slice(&10_000i32.to_be_bytes()); // timeOut
    body.extend_from_slice(&0i64.to_be_bytes()); // sessionId
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[0u8; 16]); // passwd
    body.push(u8::from(read_only)); // readOnly (canBeReadOnly)
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).await.expect("send ConnectRequest");
    let mut len = [0u8; 4];
    tokio::time::timeout(WAIT, s.read_exact(&mut len))
        .await
        .expect("an answer or a close in time")
        .ok()?;
    let mut reply = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut reply).await.ok()?;
    Some(reply)
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> ErrorCode {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_server_serves_read_only_sessions_until_it_rejoins() {
    // The survivor also serves ZooKeeper's protocol and the HTTP admin API (with /metrics).
    let [zk_port, admin_port] = free_ports(2)[..] else {
        unreachable!("two ports asked for")
    };
    let mut e = LocalEnsemble::start_with_args(
        3,
        |ports| {
            ensemble_cfg(
                ports,
                &[
                    "tickTime=100",
                    "initLimit=10",
                    "syncLimit=5",
                    "maxSessionTimeout=30000",
                    "readonlymode.enabled=true",
                    "4lw.commands.whitelist=*",
                ],
            )
        },
        |i| match i {
            0 => vec![
                "--client-port".into(),
                zk_port.to_string(),
                "--admin-port".into(),
                admin_port.to_string(),
            ],
            _ => Vec::new(),
        },
    )
    .await;
    let survivor = e.peers[0].addr;
    let zk_addr = SocketAddr::from(([127, 0, 0, 1], zk_port));
    let rw_answer = zk_connect(zk_addr, true).await.expect("a ConnectResponse");
    assert_eq!(
        rw_answer.last(),
        Some(&0),
        "a read-write server answers readOnly=false"
    );
    assert_eq!(word(survivor, "isro").await, "rw");

    // Written through the survivor: applied there before it answers.
    let writer = Client::connect(&survivor.to_string(), opts(1))
        .await
        .expect("connect");
    writer
        .create("/ro", b"before".to_vec(), CreateMode::Persistent)
        .await
        .expect("create");
    // A read-write session that allows read-only, attached to the survivor only.
    let kept = Client::connect(&survivor.to_string(), opts(2).can_be_read_only(true))
        .await
        .expect("connect");
    assert_eq!(kept.state(), SessionState::Connected);
    let kept_id = kept.session_id();

    // Cut the survivor off: stop the other two.
    e.peers[1].kill();
    e.peers[2].kill();
    eventually("isro on the survivor", || async {
        match word(survivor, "isro").await.as_str() {
            "ro" => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    let srvr = word(survivor, "srvr").await;
    assert!(srvr.contains("Mode: read-only"), "{srvr}");
    let status = e.peers[0].status(WAIT).await.expect("status");
    assert_eq!(status.mode, "read-only", "{status:?}");
    assert!(status.serving, "read-only mode serves: {status:?}");
    let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let isro: serde_json::Value =
        serde_json::from_str(&http_get(admin, "/commands/isro").await).expect("json");
    assert_eq!(isro["read_only"], true, "{isro}");
    let metrics = http_get(admin, "/metrics").await;
    assert!(
        metrics.contains(r#"paddock_mode_info{mode="read-only"} 1"#),
        "{metrics}"
    );

    // A client that allows read-only gets a session there (the dead servers refuse it).
    let ro = tokio::time::timeout(
        WAIT,
        Client::connect(&e.connect_string(), opts(3).can_be_read_only(true)),
    )
    .await
    .expect("connect in time")
    .expect("read-only connect");
    assert_eq!(ro.state(), SessionState::ConnectedReadOnly);
    assert!(ro.is_read_only());
    let (data, _) = ro.get_data("/ro").await.expect("read");
    assert_eq!(&data[..], b"before");
    assert_eq!(
        code(
            ro.create("/ro/x", b"".to_vec(), CreateMode::Persistent)
                .await
        ),
        ErrorCode::NotReadOnly
    );
    assert_eq!(
        code(ro.set_data("/ro", b"after".to_vec(), -1).await),
        ErrorCode::NotReadOnly
    );
    assert_eq!(code(ro.delete("/ro", -1).await), ErrorCode::NotReadOnly);

    // The session created read-write resumed read-only on the survivor, same id.
    eventually("the kept session read-only", || async {
        match kept.state() {
            SessionState::ConnectedReadOnly => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(kept.session_id(), kept_id);
    kept.get_data("/ro").await.expect("read");

    // A client that did not allow read-only is refused, as a connection loss with a reason.
    let Err(refused) = Session::connect(survivor, new_session(10_000)).await else {
        panic!("a client without read_only was given a session by a read-only server");
    };
    assert_eq!(
        status_zk_code(&refused),
        Some(ErrorCode::ConnectionLoss.code())
    );
    assert!(
        refused.message().contains("read-only"),
        "{}",
        refused.message()
    );
    // Over ZooKeeper's protocol: readOnly=true is answered readOnly=true, a client without it
    // is closed without an answer (as ZooKeeper does: it tries its next server).
    let answer = zk_connect(zk_addr, true).await.expect("a ConnectResponse");
    assert_eq!(answer.last(), Some(&1), "answered readOnly=true");
    assert_eq!(
        zk_connect(zk_addr, false).await,
        None,
        "closed without an answer"
    );
    let plain = Client::connect(&survivor.to_string(), opts(4)).await;
    assert!(
        matches!(plain, Err(Error::ConnectionLoss)),
        "{:?}",
        plain.map(|c| c.session_id())
    );

    // The two come back: the survivor rejoins, its read-only clients become read-write.
    e.peers[1] = e.peers[1].restart();
    e.peers[2] = e.peers[2].restart();
    e.wait_serving(&[0, 1, 2]).await;
    for (name, c) in [("created read-only", &ro), ("created read-write", &kept)] {
        eventually(name, || async {
            match c.state() {
                SessionState::Connected => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        assert!(!c.is_read_only());
    }
    // Seen read-write before: the same session; created read-only: a new one.
    assert_eq!(kept.session_id(), kept_id);
    let path = ro
        .create("/ro/after", b"".to_vec(), CreateMode::Persistent)
        .await
        .expect("write after rejoining");
    assert_eq!(path, "/ro/after");
    kept.set_data("/ro", b"after".to_vec(), -1)
        .await
        .expect("write after rejoining");
    assert_eq!(word(survivor, "isro").await, "rw");
}
