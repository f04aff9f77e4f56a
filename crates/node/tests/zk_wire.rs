//! ZooKeeper's own protocol on `clientPort` (crates/wire), end to end: a real ZooKeeper client
//! library (the `zookeeper-client` crate, which speaks jute like the Java client) against an
//! in-process server, and raw frames for what no client library sends (bad input, four-letter
//! words). kazoo, zkCli.sh, the Java client, Curator and the C client are exercised by
//! `.ci/zk-clients`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::{free_ports, within, TestNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zookeeper_client as zk;

/// A standalone node with ZooKeeper's protocol on a free port, every four-letter word allowed.
async fn node() -> (TestNode, SocketAddr) {
    let port = free_ports(1)[0];
    let node = TestNode::start_with(|c| {
        c.client_port = port;
        c.four_letter_words = vec!["*".into()];
        c.extended_types_enabled = true;
    })
    .await;
    let addr = node.node().client_addr.expect("clientPort is served");
    (node, addr)
}

async fn client(addr: SocketAddr) -> zk::Client {
    within(
        "zookeeper client connects",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&addr.to_string()),
    )
    .await
    .expect("connects over ZooKeeper's protocol")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_errors_and_stat_over_zookeepers_protocol() {
    let (_node, addr) = node().await;
    let c = client(addr).await;

    let (stat, _) = c
        .create("/app", b"v0", &persistent())
        .await
        .expect("create");
    assert_eq!(
        (stat.version, stat.data_length, stat.num_children),
        (0, 2, 0)
    );
    assert_eq!(stat.czxid, stat.mzxid);
    assert!(matches!(
        c.create("/app", b"", &persistent()).await,
        Err(zk::Error::NodeExists)
    ));
    assert!(matches!(
        c.create("/missing/child", b"", &persistent()).await,
        Err(zk::Error::NoNode)
    ));

    let stat = c.set_data("/app", b"v1", Some(0)).await.expect("setData");
    assert_eq!(stat.version, 1);
    assert!(matches!(
        c.set_data("/app", b"v2", Some(0)).await,
        Err(zk::Error::BadVersion)
    ));
    let (data, stat) = c.get_data("/app").await.expect("getData");
    assert_eq!((data.as_slice(), stat.version), (&b"v1"[..], 1));
    assert!(c.check_stat("/nope").await.expect("exists").is_none());
    assert_eq!(c.check_stat("/app").await.expect("exists"), Some(stat));

    let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let (_, n1) = c.create("/app/s-", b"", &seq).await.expect("sequential");
    let (_, n2) = c.create("/app/s-", b"", &seq).await.expect("sequential");
    assert_eq!(n2.into_i64(), n1.into_i64() + 1);
    let mut children = c.list_children("/app").await.expect("getChildren");
    children.sort();
    assert_eq!(
        children,
        vec![
            format!("s-{:010}", n1.into_i64()),
            format!("s-{:010}", n2.into_i64())
        ]
    );
    let (_, parent) = c.get_children("/app").await.expect("getChildren2");
    assert_eq!(parent.num_children, 2);
    assert_eq!(c.count_descendants_number("/app").await.expect("count"), 2);

    assert!(matches!(
        c.delete("/app", None).await,
        Err(zk::Error::NotEmpty)
    ));
    assert!(matches!(
        c.delete("/nope", None).await,
        Err(zk::Error::NoNode)
    ));
    for name in c.list_children("/app").await.expect("ls") {
        c.delete(&format!("/app/{name}"), None)
            .await
            .expect("delete");
    }
    c.delete("/app", Some(1))
        .await
        .expect("delete with its version");

    // Containers and TTL nodes: ZooKeeper shows their ephemeralOwner as 0.
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    let (stat, _) = c
        .create("/box", b"", &container)
        .await
        .expect("createContainer");
    assert_eq!(stat.ephemeral_owner, 0);
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(60));
    let (stat, _) = c.create("/ttl", b"", &ttl).await.expect("createTTL");
    assert_eq!(stat.ephemeral_owner, 0);
    let seen = c.check_stat("/ttl").await.expect("exists");
    assert_eq!(seen.map(|s| s.ephemeral_owner), Some(0));
    c.sync("/").await.expect("sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemerals_belong_to_the_session_and_go_with_it() {
    let (_node, addr) = node().await;
    let owner = client(addr).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    owner.create("/e", b"", &eph).await.expect("ephemeral");
    assert!(matches!(
        owner.create("/e/child", b"", &persistent()).await,
        Err(zk::Error::NoChildrenForEphemerals)
    ));
    assert_eq!(
        owner.list_ephemerals("/").await.expect("getEphemerals"),
        vec!["/e".to_string()]
    );
    let other = client(addr).await;
    let stat = other
        .check_stat("/e")
        .await
        .expect("exists")
        .expect("there");
    assert_eq!(stat.ephemeral_owner, owner.session_id().0);
    let (_, gone) = other
        .check_and_watch_stat("/e")
        .await
        .expect("exists + watch");
    drop(owner); // closes the session
    let ev = within("the ephemeral's deletion fires", gone.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
    assert!(other.check_stat("/e").await.expect("exists").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_fire_once_and_persistent_ones_keep_firing() {
    let (_node, addr) = node().await;
    let c = client(addr).await;
    let writer = client(addr).await;
    c.create("/w", b"", &persistent()).await.expect("create");

    let (_, _, data_watch) = c.get_and_watch_data("/w").await.expect("getData + watch");
    let (_, child_watch) = c
        .list_and_watch_children("/w")
        .await
        .expect("getChildren + watch");
    let (_, exist_watch) = c
        .check_and_watch_stat("/w/new")
        .await
        .expect("exists + watch");
    let mut recursive = c
        .watch("/w", zk::AddWatchMode::PersistentRecursive)
        .await
        .expect("addWatch");

    writer.set_data("/w", b"x", None).await.expect("set");
    writer
        .create("/w/new", b"", &persistent())
        .await
        .expect("create");
    let ev = within("data watch", data_watch.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w")
    );
    let ev = within("child watch", child_watch.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    let ev = within("exist watch", exist_watch.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeCreated, "/w/new")
    );

    let ev = within("recursive 1", recursive.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w")
    );
    let ev = within("recursive 2", recursive.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeCreated, "/w/new")
    );
    writer.set_data("/w/new", b"y", None).await.expect("set");
    let ev = within("recursive 3", recursive.changed()).await;
    assert_eq!(
        (ev.event_type, ev.path.as_str()),
        (zk::EventType::NodeDataChanged, "/w/new")
    );
    drop(recursive); // removes the watch (removeWatches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_and_multi_read_with_per_op_results() {
    let (_node, addr) = node().await;
    let c = client(addr).await;
    let mut m = c.new_multi_writer();
    m.add_create("/m", b"a", &persistent()).expect("op");
    m.add_set_data("/m", b"b", Some(0)).expect("op");
    m.add_check_version("/m", 1).expect("op");
    let results = m.commit().await.expect("multi commits");
    assert!(matches!(&results[0], zk::MultiWriteResult::Create { path, .. } if path == "/m"));
    assert!(matches!(results[2], zk::MultiWriteResult::Check));

    let mut m = c.new_multi_writer();
    m.add_create("/m2", b"", &persistent()).expect("op");
    m.add_delete("/nope", None).expect("op");
    match m.commit().await {
        Err(zk::MultiWriteError::OperationFailed { index: 1, source }) => {
            assert_eq!(source, zk::Error::NoNode)
        }
        other => panic!("expected the delete to fail the multi, got {other:?}"),
    }
    assert!(
        c.check_stat("/m2").await.expect("exists").is_none(),
        "rolled back"
    );

    let mut r = c.new_multi_reader();
    r.add_get_data("/m").expect("op");
    r.add_get_children("/").expect("op");
    r.add_get_data("/nope").expect("op");
    let results = r.commit().await.expect("multiRead");
    assert!(matches!(&results[0], zk::MultiReadResult::Data { data, .. } if data == b"b"));
    assert!(
        matches!(&results[1], zk::MultiReadResult::Children { children } if children.contains(&"m".to_string()))
    );
    assert!(matches!(
        &results[2],
        zk::MultiReadResult::Error {
            err: zk::Error::NoNode
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acls_auth_and_who_am_i() {
    let (_node, addr) = node().await;
    let owner = client(addr).await;
    owner
        .auth("digest", b"alice:secret")
        .await
        .expect("addAuth");
    let users = owner.list_auth_users().await.expect("whoAmI");
    assert!(
        users
            .iter()
            .any(|u| u.scheme() == "digest" && u.user() == "alice"),
        "{users:?}"
    );
    let private = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    owner
        .create("/private", b"s", &private)
        .await
        .expect("create");
    let (acl, _) = owner.get_acl("/private").await.expect("getACL");
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].scheme(), "digest");

    let stranger = client(addr).await;
    assert!(matches!(
        stranger.get_data("/private").await,
        Err(zk::Error::NoAuth)
    ));
    let config = owner.get_config().await.expect("getConfig");
    assert!(
        config.0.is_empty(),
        "a standalone server has no ensemble config"
    );
}

/// Frames a request: length, xid, op, body.
fn frame(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&(8 + body.len() as i32).to_be_bytes());
    f.extend_from_slice(&xid.to_be_bytes());
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// Opens a raw session: sends ZooKeeper's ConnectRequest, reads the ConnectResponse, returns
/// the socket and the negotiated timeout.
async fn raw_session(addr: SocketAddr, session: i64, password: &[u8]) -> (TcpStream, i32) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    body.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    body.extend_from_slice(&10_000i32.to_be_bytes()); // timeOut
    body.extend_from_slice(&session.to_be_bytes());
    body.extend_from_slice(&(password.len() as i32).to_be_bytes());
    body.extend_from_slice(password);
    body.push(0); // readOnly
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    s.write_all(&f).await.expect("send ConnectRequest");
    let reply = read_frame(&mut s).await.expect("a ConnectResponse");
    let timeout = i32::from_be_bytes(reply[4..8].try_into().expect("4 bytes"));
    (s, timeout)
}

async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    within("a frame", s.read_exact(&mut len)).await.ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    within("a frame body", s.read_exact(&mut body)).await.ok()?;
    Some(body)
}

/// (xid, err) of a reply frame.
fn reply_header(f: &[u8]) -> (i32, i32) {
    (
        i32::from_be_bytes(f[0..4].try_into().expect("xid")),
        i32::from_be_bytes(f[12..16].try_into().expect("err")),
    )
}

/// An auth packet that fails: AUTHFAILED (-115), then the connection closes, as ZooKeeper's
/// server does; a request sent behind it is never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_auth_packet_is_answered_then_the_connection_closes() {
    let (node, addr) = node().await;
    let (mut s, _) = raw_session(addr, 0, &[0; 16]).await;
    let mut auth = Vec::new();
    auth.extend_from_slice(&0i32.to_be_bytes());
    auth.extend_from_slice(&12i32.to_be_bytes());
    auth.extend_from_slice(b"nosuchscheme");
    auth.extend_from_slice(&1i32.to_be_bytes());
    auth.push(b'x');
    s.write_all(&frame(-4, 100, &auth)).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (-4, -115)
    );
    let mut exists = Vec::new();
    exists.extend_from_slice(&1i32.to_be_bytes());
    exists.push(b'/');
    exists.push(0);
    let _ = s.write_all(&frame(5, 3, &exists)).await;
    let mut rest = Vec::new();
    let read = within("the close", s.read_to_end(&mut rest)).await;
    assert!(
        read.is_err() || rest.is_empty(),
        "nothing is answered after AUTHFAILED: {rest:?}"
    );
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_zookeepers_answers_and_harms_no_one() {
    let (node, addr) = node().await;
    let bystander = client(addr).await;
    bystander
        .create("/safe", b"", &persistent())
        .await
        .expect("create");

    let (mut s, timeout) = raw_session(addr, 0, &[0; 16]).await;
    assert!(timeout > 0);
    // An unknown op: UNIMPLEMENTED (-6), the connection stays.
    s.write_all(&frame(1, 999, b"")).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (1, -6)
    );
    // A getData whose record is cut short: MARSHALLINGERROR (-5).
    s.write_all(&frame(2, 4, &[0, 0, 0, 9, b'/']))
        .await
        .expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (2, -5)
    );
    // An invalid path: BADARGUMENTS (-8).
    let mut body = Vec::new();
    body.extend_from_slice(&3i32.to_be_bytes());
    body.extend_from_slice(b"a/b");
    body.push(0);
    s.write_all(&frame(3, 4, &body)).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (3, -8)
    );
    // reconfig without its record: MARSHALLINGERROR (-5), as ZooKeeper's EOF reading it.
    s.write_all(&frame(4, 16, b"")).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (4, -5)
    );
    // A whole ReconfigRequest{joining, leaving, members, curConfigId} (`-remove 2`, the other
    // strings null) reaches the server, whose reconfigEnabled is off: RECONFIGDISABLED (-123),
    // as ZooKeeper checks the setting first.
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.push(b'2');
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend_from_slice(&(-1i64).to_be_bytes());
    s.write_all(&frame(5, 16, &body)).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (5, -123)
    );
    // A ping still works, in order.
    s.write_all(&frame(-2, 11, b"")).await.expect("send");
    assert_eq!(
        reply_header(&read_frame(&mut s).await.expect("reply")),
        (-2, 0)
    );

    // A frame longer than jute.maxbuffer closes that connection only.
    let huge = (node.config.max_data_bytes as i32 + 4096).to_be_bytes();
    s.write_all(&huge).await.expect("send");
    assert!(read_frame(&mut s).await.is_none(), "closed");
    // A wrong password for a live session is "expired": timeout 0.
    let (_, timeout) = raw_session(addr, bystander.session_id().0, &[7; 16]).await;
    assert_eq!(timeout, 0);
    // Garbage instead of a ConnectRequest: closed, nothing else.
    let mut g = TcpStream::connect(addr).await.expect("connect");
    g.write_all(&[0, 0, 0, 3, 1, 2, 3]).await.expect("send");
    let mut buf = [0u8; 16];
    assert_eq!(within("closed", g.read(&mut buf)).await.unwrap_or(0), 0);

    assert!(bystander
        .check_stat("/safe")
        .await
        .expect("still serving")
        .is_some());
}

/// Sends a four-letter word to `addr` and reads the answer until the server closes.
async fn four_letter_word(addr: SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(word.as_bytes()).await.expect("send");
    let mut out = String::new();
    within("the answer", s.read_to_string(&mut out))
        .await
        .expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_on_the_client_port() {
    let (_node, addr) = node().await;
    let word = |w: &'static str| four_letter_word(addr, w);
    assert_eq!(word("ruok").await, "imok");
    let srvr = word("srvr").await;
    assert!(srvr.starts_with("Zookeeper version: "), "{srvr}");
    assert!(srvr.contains("Mode: standalone"), "{srvr}");
    let _c = client(addr).await;
    let cons = word("cons").await;
    assert!(
        cons.contains("127.0.0.1"),
        "the ZooKeeper-protocol connection is listed: {cons}"
    );
    assert!(word("mntr").await.contains("zk_server_state\tstandalone"));
}

/// `dump`, `hash`, `gtmk` and `stmk` (whose mask is the 8 bytes after the word, as ZooKeeper's
/// `NIOServerCnxn` reads it) in ZooKeeper's formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_hash_and_the_trace_mask_on_the_client_port() {
    let (_node, addr) = node().await;
    let owner = client(addr).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    owner.create("/dumped", b"", &eph).await.expect("ephemeral");
    let id = format!("0x{:x}", owner.session_id().0);

    let dump = four_letter_word(addr, "dump").await;
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines[0], "SessionTracker dump:", "{dump}");
    assert!(lines[1].starts_with("Session Sets ("), "{dump}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" expire at ") && l.contains(" UTC ") && l.ends_with(':')),
        "{dump}"
    );
    assert!(lines.contains(&format!("\t{id}").as_str()), "{dump}");
    assert!(
        dump.contains(&format!(
            "ephemeral nodes dump:\nSessions with Ephemerals (1):\n{id}:\n\t/dumped\n"
        )),
        "{dump}"
    );
    assert!(dump.ends_with("Connections dump:\n"), "{dump}");

    let hash = four_letter_word(addr, "hash").await;
    let (zxid, digest) = hash
        .trim_end()
        .split_once(": ")
        .unwrap_or_else(|| panic!("`zxid: digest`: {hash:?}"));
    assert!(
        u64::from_str_radix(zxid, 16).expect("hex zxid") > 0,
        "{hash}"
    );
    digest.parse::<u64>().expect("a decimal digest");

    assert_eq!(four_letter_word(addr, "gtmk").await, "306");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut stmk = b"stmk".to_vec();
    stmk.extend_from_slice(&0x1f2i64.to_be_bytes());
    s.write_all(&stmk).await.expect("send");
    let mut out = String::new();
    within("stmk's answer", s.read_to_string(&mut out))
        .await
        .expect("read");
    assert_eq!(out, "498");
    assert_eq!(four_letter_word(addr, "gtmk").await, "498");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_outside_the_whitelist_get_zookeepers_refusal() {
    let port = free_ports(1)[0];
    let node = TestNode::start_with(|c| c.client_port = port).await;
    let addr = node.node().client_addr.expect("served");
    let out = four_letter_word(addr, "stat").await;
    assert_eq!(
        out,
        "stat is not executed because it is not in the whitelist.\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_kind_of_session_whichever_protocol_opened_it() {
    let (node, addr) = node().await;
    let c = client(addr).await;
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create("/mine", b"", &eph)
        .await
        .expect("ephemeral over ZooKeeper's protocol");
    // Over gRPC: the same node, owned by the same session id.
    let mut grpc = node.session().await;
    let stat = grpc.stat("/mine").await.expect("seen over gRPC");
    assert_eq!(stat.ephemeral_owner, c.session_id().0);
    // `cons` over gRPC lists the ZooKeeper-protocol connection too.
    let mut admin =
        paddock_proto::v1::admin_client::AdminClient::new(support::channel(node.addr).await);
    let cons = within(
        "cons over gRPC",
        admin.run_command(paddock_proto::v1::CommandRequest {
            command: "cons".into(),
        }),
    )
    .await
    .expect("cons")
    .into_inner()
    .output;
    assert!(
        cons.contains(&format!("sid=0x{:x}", c.session_id().0)),
        "{cons}"
    );
}

/// The member (index) a session is attached to, from each member's `cons` on its client port.
async fn server_of(ports: &[SocketAddr], session: i64) -> Option<usize> {
    for (i, addr) in ports.iter().enumerate() {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
        else {
            continue;
        };
        if s.write_all(b"cons").await.is_err() {
            continue;
        }
        let mut out = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut out)).await;
        if out.contains(&format!("sid=0x{session:x}")) {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moves_to_another_server_with_its_ephemerals_and_watches() {
    let wire = free_ports(3);
    let mut e = support::LocalEnsemble::start_with_args(
        3,
        |ports| {
            support::ensemble_cfg(
                ports,
                &[
                    "4lw.commands.whitelist=*",
                    "tickTime=100",
                    "initLimit=10",
                    "syncLimit=5",
                    "maxSessionTimeout=30000",
                ],
            )
        },
        |i| vec!["--client-port".into(), wire[i].to_string()],
    )
    .await;
    let addrs: Vec<SocketAddr> = wire
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let hosts = addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let c = within(
        "connect to the ensemble",
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&hosts),
    )
    .await
    .expect("connects");
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    c.create("/lease", b"", &eph).await.expect("ephemeral");
    c.create("/watched", b"", &persistent())
        .await
        .expect("create");
    let (_, _, watch) = c.get_and_watch_data("/watched").await.expect("watch");

    let home = within("find the client's server", async {
        loop {
            if let Some(i) = server_of(&addrs, c.session_id().0).await {
                return i;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    e.peers[home].kill();
    let others: Vec<usize> = (0..3).filter(|&i| i != home).collect();
    e.wait_serving(&others).await;

    // Changed through another server while the client moves: its watch still fires.
    let other = client(addrs[others[0]]).await;
    within("a write after the failover", async {
        loop {
            if other.set_data("/watched", b"changed", None).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let ev = within("the watch fires after the move", watch.changed()).await;
    assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    // The session and its ephemeral survived the move.
    let stat = within("the client works again", async {
        loop {
            if let Ok(s) = c.check_stat("/lease").await {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(stat.map(|s| s.ephemeral_owner), Some(c.session_id().0));
    let now = server_of(&addrs, c.session_id().0).await;
    assert!(
        now.is_some_and(|i| i != home),
        "attached elsewhere: {now:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_listings_and_stat_resets_as_zookeeper_prints_them() {
    let (_node, addr) = node().await;
    let word = |w: &'static str| four_letter_word(addr, w);
    let c = client(addr).await;
    c.create("/a", b"", &persistent()).await.expect("create");
    let (_, _, _w) = c.get_and_watch_data("/a").await.expect("watch");
    let sid = format!("0x{:x}", c.session_id().0);
    assert_eq!(word("wchc").await, format!("{sid}\n\t/a\n\n"));
    assert_eq!(word("wchp").await, format!("/a\n\t{sid}\n\n"));
    assert_eq!(word("srst").await, "Server stats reset.\n");
    assert!(word("srvr").await.contains("Received: 0\n"));
    assert_eq!(word("crst").await, "Connection stats reset.\n");
    let dirs = word("dirs").await;
    let sizes: Vec<u64> = dirs
        .lines()
        .filter_map(|l| l.split_once(": ").and_then(|(_, n)| n.parse().ok()))
        .collect();
    assert!(dirs.starts_with("datadir_size: "), "{dirs}");
    assert!(
        sizes.len() == 2 && sizes[1] > 0,
        "the txn log takes room: {dirs}"
    );
    let dump = word("dump").await;
    assert!(dump.contains(&format!("\t{sid}\n")), "{dump}");
}

/// A TLS client config trusting `ca_pem` and presenting `client` (key + certificate PEM); ring,
/// as the server (rustls deprecated the name in favour of aws-lc's post-quantum exchange).
#[allow(deprecated)]
fn tls_client(ca_pem: &str, client: &paddock_certs::Leaf) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(client.cert_pem.as_bytes())
            .map(|c| c.expect("cert PEM"))
            .collect();
    let key = PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).expect("key PEM");
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client certificate");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_client_port_speaks_zookeepers_protocol_over_tls_with_x509_ids() {
    let pki = tempfile::tempdir().expect("temp dir");
    let ca = paddock_certs::Ca::new("test CA").expect("CA");
    let trust = ca.write(pki.path()).expect("write CA");
    let key_store = ca
        .server("paddock", &["localhost", "127.0.0.1"])
        .expect("server cert")
        .write(pki.path(), "server")
        .expect("write");
    let [plain, secure] = free_ports(2)[..] else {
        unreachable!("two ports")
    };
    let node = TestNode::start_with(|c| {
        c.client_port = plain;
        c.secure_client_port = secure;
        c.ssl_key_store = Some(key_store);
        c.ssl_trust_store = Some(trust);
        c.ssl_client_auth = Some("need".into());
    })
    .await;
    let addr = node
        .node()
        .secure_client_addr
        .expect("secureClientPort is served");

    let alice = ca.client("alice").expect("client cert");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut s = within(
        "TLS handshake",
        tls_client(ca.cert_pem(), &alice).connect(name, tcp),
    )
    .await
    .expect("handshake");
    // ConnectRequest for a new session, then whoAmI (op 107).
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&10_000i32.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[0; 16]);
    body.push(0);
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f.extend_from_slice(&frame(1, 107, b""));
    s.write_all(&f).await.expect("send");
    let mut frames = Vec::new();
    for _ in 0..2 {
        let mut len = [0u8; 4];
        within("a frame", s.read_exact(&mut len))
            .await
            .expect("length");
        let mut b = vec![0u8; i32::from_be_bytes(len) as usize];
        within("a frame body", s.read_exact(&mut b))
            .await
            .expect("body");
        frames.push(b);
    }
    let timeout = i32::from_be_bytes(frames[0][4..8].try_into().expect("4 bytes"));
    assert!(timeout > 0, "a session over TLS");
    assert_eq!(reply_header(&frames[1]), (1, 0));
    let who = String::from_utf8_lossy(&frames[1][16..]).into_owned();
    assert!(
        who.contains("x509") && who.contains("CN=alice,O=Paddock"),
        "{who:?}"
    );

    // A plaintext client on the TLS port gets nothing (its ConnectRequest is not a handshake).
    let mut raw = TcpStream::connect(addr).await.expect("connect");
    raw.write_all(&f).await.expect("send");
    let mut buf = [0u8; 64];
    let n = within("refused", raw.read(&mut buf)).await.unwrap_or(0);
    assert!(
        n == 0 || buf[0] == 0x15,
        "no ZooKeeper answer on the TLS port in plaintext"
    );
    // The plaintext port still serves.
    let c = client(node.node().client_addr.expect("clientPort")).await;
    c.sync("/")
        .await
        .expect("plaintext clientPort works beside it");
}

/// With `servingThreads=2` both client ports are served by threads of their own: sessions work
/// over gRPC and over ZooKeeper's protocol, one sees the other's write, and stopping the server
/// closes both ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_threads_serve_both_client_ports_and_close_them_at_shutdown() {
    let port = free_ports(1)[0];
    let mut node = TestNode::start_with(|c| {
        c.client_port = port;
        c.serving_threads = 2;
    })
    .await;
    let wire = node.node().client_addr.expect("clientPort is served");
    let grpc = node.addr;
    let zk = client(wire).await;
    let mut clients = Vec::new();
    for i in 0..4 {
        let path = format!("/threads-{i}");
        zk.create(&path, b"wire", &persistent())
            .await
            .expect("create over ZooKeeper's protocol");
        let mut s = node.session().await;
        let (data, _) = s.data(&path).await;
        assert_eq!(&data[..], b"wire");
        clients.push(s);
    }
    // This process is the server: its threads include two per port (Linux names them).
    let threads = thread_names();
    for prefix in ["paddock-grpc-", "paddock-zk-"] {
        let n = threads.iter().filter(|t| t.starts_with(prefix)).count();
        assert!(n >= 2, "{prefix}* threads: {threads:?}");
    }
    drop(zk);
    node.stop().await;
    for addr in [wire, grpc] {
        let refused = TcpStream::connect(addr).await;
        assert!(refused.is_err(), "{addr} still accepts after shutdown");
    }
}

/// The names of this process's threads (/proc/self/task/*/comm).
fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}
