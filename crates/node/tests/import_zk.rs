//! `paddock import-zk` against a real Apache ZooKeeper 3.8 (Debian's `zookeeper` package): a
//! standalone ZooKeeper in a tempdir takes writes of every kind (persistent with data and
//! several setData, sequential, ephemeral kept open, an ephemeral of a closed session, digest
//! and read-only ACLs, a container, a TTL node, a multi, deletes) across a kill -9 and restart,
//! with `snapCount=100` so several snapshots and logs appear. Then ZooKeeper is killed, its
//! data dir imported, and every node's path, data, Stat and ACL compared with what ZooKeeper
//! served: through the storage/datatree APIs, then through a real `paddock` server on the
//! imported dir, where the still-open ZooKeeper session resumes with its password.
//!
//! Skipped (passes, saying so) when /usr/share/zookeeper is not installed.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_storage::{DataDir, EpochStore, SnapshotStore};
use paddock_types::{Acl, Id, NodeKind, SessionId, Stat};
use support::zookeeper::{zookeeper_installed, ZooKeeper};
use support::*;
use zookeeper_client as zk;

/// The ZooKeeper session kept open: its ephemerals must survive the import.
const KEPT_SESSION_TIMEOUT: Duration = Duration::from_secs(30);

async fn connect(addr: &str, auth: bool) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut c = zk::Client::connector().with_session_timeout(KEPT_SESSION_TIMEOUT);
        if auth {
            c = c.with_auth("digest", b"bob:secret");
        }
        match tokio::time::timeout(Duration::from_secs(10), c.connect(addr)).await {
            Ok(Ok(client)) => return client,
            other if Instant::now() > deadline => panic!("cannot connect to ZooKeeper: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Retries `op` while the client reconnects (after the restart).
async fn retry<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), op()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(e)) if Instant::now() > deadline => panic!("{what}: {e:?}"),
            Err(_) if Instant::now() > deadline => panic!("{what}: timed out"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn perms(p: zk::Permission) -> i32 {
    [
        (zk::Permission::READ, 1),
        (zk::Permission::WRITE, 2),
        (zk::Permission::CREATE, 4),
        (zk::Permission::DELETE, 8),
        (zk::Permission::ADMIN, 16),
    ]
    .iter()
    .filter(|(bit, _)| p.has(*bit))
    .map(|(_, v)| v)
    .sum()
}

fn stat(s: &zk::Stat) -> Stat {
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

fn pb_stat(s: &paddock_proto::v1::Stat) -> Stat {
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

/// ZooKeeper's served Stat with the `ephemeralOwner` Paddock keeps: ZooKeeper shows clients 0
/// for containers and TTL nodes, Paddock keeps (and shows) ZooKeeper's markers for them.
fn served_as_kept(path: &str, zk: &Stat, paddock: &Stat) -> Stat {
    let expected = match path {
        "/c" => NodeKind::Container,
        "/ttl" => NodeKind::Ttl { ttl_ms: 3_600_000 },
        _ => return *zk,
    };
    assert_eq!(zk.ephemeral_owner, 0, "{path}: ZooKeeper shows no owner");
    assert_eq!(
        NodeKind::from_owner(paddock.ephemeral_owner),
        expected,
        "{path} kind"
    );
    Stat {
        ephemeral_owner: paddock.ephemeral_owner,
        ..*zk
    }
}

type Served = BTreeMap<String, (Vec<u8>, Stat, Vec<Acl>)>;

/// Every node ZooKeeper serves, but `/zookeeper` and `/zookeeper/config` (Paddock's own).
async fn read_all(c: &zk::Client) -> Served {
    let mut out = BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(path) = stack.pop() {
        let (children, _) = c.get_children(&path).await.expect("children");
        for name in children {
            stack.push(if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            });
        }
        if path == "/zookeeper" || path == "/zookeeper/config" {
            continue;
        }
        let (data, s) = c.get_data(&path).await.expect("data");
        let (acl, _) = c.get_acl(&path).await.expect("acl");
        let acl = acl
            .iter()
            .map(|a| Acl::new(perms(a.permission()), Id::new(a.scheme(), a.id())))
            .collect();
        out.insert(path, (data, stat(&s), acl));
    }
    out
}

/// The writes: every kind of node and change, a ZooKeeper restart in the middle.
async fn write_through(server: &mut ZooKeeper, addr: &str) -> zk::Client {
    use zk::{Acls, CreateMode};
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let a = connect(addr, true).await;
    a.create("/app", b"v0", &open).await.expect("create /app");
    for i in 1..=5 {
        a.set_data("/app", format!("v{i}").as_bytes(), None)
            .await
            .expect("setData");
    }
    let seq = CreateMode::PersistentSequential.with_acls(Acls::anyone_all());
    for _ in 0..3 {
        a.create("/app/seq-", b"s", &seq).await.expect("sequential");
    }
    a.delete("/app/seq-0000000000", None).await.expect("delete");
    let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
    let eph_seq = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    a.create("/eph", b"kept", &eph).await.expect("ephemeral");
    a.create("/app/lock-", b"owner", &eph_seq)
        .await
        .expect("eph seq");
    {
        let b = connect(addr, false).await;
        b.create("/app/b-eph", b"", &eph)
            .await
            .expect("b's ephemeral");
    } // b's session closes: its ephemeral goes
    retry("b's ephemeral goes", || async {
        match a.check_stat("/app/b-eph").await? {
            None => Ok(()),
            Some(_) => Err(zk::Error::NodeExists),
        }
    })
    .await;
    let secure = CreateMode::Persistent.with_acls(Acls::creator_all());
    a.create("/secure", b"top secret", &secure)
        .await
        .expect("secure");
    let ro = CreateMode::Persistent.with_acls(Acls::anyone_read());
    a.create("/ro", b"read only", &ro).await.expect("ro");
    let container = CreateMode::Container.with_acls(Acls::anyone_all());
    a.create("/c", b"", &container).await.expect("container");
    a.create("/c/x", b"x", &open)
        .await
        .expect("container child");
    let ttl = CreateMode::Persistent
        .with_acls(Acls::anyone_all())
        .with_ttl(Duration::from_secs(3600));
    a.create("/ttl", b"t", &ttl).await.expect("ttl");
    let mut m = a.new_multi_writer();
    m.add_create("/m1", b"m", &open).expect("op");
    m.add_set_data("/app", b"multi", None).expect("op");
    m.add_delete("/app/seq-0000000001", None).expect("op");
    m.commit().await.expect("multi");
    let mut failed = a.new_multi_writer();
    failed.add_create("/nope", b"", &open).expect("op");
    failed.add_delete("/missing", None).expect("op");
    assert!(failed.commit().await.is_err(), "a failing multi fails");
    a.create("/bulk", b"", &open).await.expect("bulk");
    for i in 0..150 {
        a.create(&format!("/bulk/n{i}"), b"bulk", &open)
            .await
            .expect("bulk create");
    }
    for i in (0..150).step_by(3) {
        a.set_data(&format!("/bulk/n{i}"), b"changed", None)
            .await
            .expect("bulk set");
    }

    server.restart(); // kill -9 and start again on the same data dir
    retry("ZooKeeper back", || a.get_data("/app")).await;

    for i in 150..300 {
        let path = format!("/bulk/n{i}");
        retry("bulk create", || async {
            match a.create(&path, b"after", &open).await {
                Err(zk::Error::NodeExists) => Ok(()),
                other => other.map(|_| ()),
            }
        })
        .await;
    }
    for i in 0..20 {
        a.delete(&format!("/bulk/n{i}"), None)
            .await
            .expect("delete");
    }
    a.set_acl("/m1", &Acls::anyone_read(), Some(0))
        .await
        .expect("setAcl");
    a.set_data("/app", b"after restart", None)
        .await
        .expect("setData");
    a
}

fn count_files(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_what_a_real_zookeeper_served() {
    if !zookeeper_installed() {
        println!(
            "skipped: install Debian's zookeeper package (apt-get install zookeeper) to run the \
             ZooKeeper import test"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let zk_data = dir.path().join("zk-data");
    let port = free_ports(1)[0];
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             snapCount=100\npreAllocSize=64\nadmin.enableServer=false\n\
             extendedTypesEnabled=true\nautopurge.purgeInterval=0\n",
            zk_data.display()
        ),
    )
    .expect("zoo.cfg");
    let log = dir.path().join("zookeeper.out");
    let mut server = ZooKeeper::start(&cfg, &log);
    let addr = format!("127.0.0.1:{port}");

    let kept = write_through(&mut server, &addr).await;
    let served = read_all(&kept).await;
    let kept_id = kept.session_id().0;
    let kept_timeout = kept.session_timeout();
    server.kill(); // before the client goes: its session stays open in ZooKeeper's files
    drop(kept);

    let v2 = zk_data.join("version-2");
    assert!(count_files(&v2, "snapshot.") >= 2, "several snapshots");
    assert!(count_files(&v2, "log.") >= 2, "several logs");

    let pd = dir.path().join("paddock");
    let out = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .arg("import-zk")
        .arg("--from")
        .arg(&zk_data)
        .arg("--data-dir")
        .arg(&pd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run paddock import-zk");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed: {stdout}\n{stderr}");
    println!("{stdout}");
    assert!(stdout.contains("Imported"), "{stdout}");

    // 1. Through storage + datatree: every node, Stat and ACL; the kept session.
    let last_zxid = {
        let (data, report) = DataDir::open(&pd).expect("open the imported dir");
        let (zxid, mut reader) = data
            .snapshots()
            .open_latest()
            .expect("snapshots")
            .expect("a snapshot");
        let tree = DataTree::read_snapshot(&mut reader).expect("read");
        assert_eq!(report.last_zxid, zxid);
        assert_eq!(data.epochs().current_epoch(), zxid.epoch());
        assert_eq!(data.epochs().accepted_epoch(), zxid.epoch());
        let max_zxid = served.values().map(|(_, s, _)| s.mzxid.max(s.pzxid)).max();
        assert_eq!(
            Some(zxid.0 as i64),
            max_zxid,
            "the last zxid is ZooKeeper's"
        );
        // Every ZooKeeper node, plus Paddock's /zookeeper and /zookeeper/config.
        assert_eq!(tree.node_count(), served.len() + 2);
        for (path, (bytes, st, acl)) in &served {
            let (d, s) = tree
                .get_data(path, None)
                .unwrap_or_else(|e| panic!("{path}: {e:?}"));
            assert_eq!(&d[..], &bytes[..], "{path} data");
            assert_eq!(&s, &served_as_kept(path, st, &s), "{path} stat");
            let (a, _) = tree
                .get_acl(path, SessionId(1), &[Id::super_user()])
                .expect("acl");
            assert_eq!(&a, acl, "{path} acl");
        }
        let info = tree.session(SessionId(kept_id)).expect("the kept session");
        assert_eq!(i64::from(info.timeout_ms), kept_timeout.as_millis() as i64);
        let mut owned = tree.ephemerals(SessionId(kept_id));
        owned.sort();
        assert_eq!(owned.len(), 2, "{owned:?}");
        assert!(owned.contains(&"/eph".to_string()));
        assert!(tree.exists("/app/b-eph", None).is_none());
        assert_eq!(tree.sessions().len(), 1, "only the kept session is open");
        zxid.0 as i64
    };

    // 2. Through a real paddock server on the imported dir.
    let paddock = Paddock::spawn(&pd, &[]).await;
    let password = Bytes::copy_from_slice(&paddock_zkimport::zookeeper_password(kept_id));
    let mut resumed = Session::connect(paddock.addr, resume(kept_id, password))
        .await
        .expect("ZooKeeper's session resumes on Paddock");
    resumed.call(op::add_auth("digest", "bob:secret")).await;
    for (path, (bytes, st, _)) in &served {
        let (d, s) = resumed.data(path).await;
        let s = pb_stat(&s);
        assert_eq!(&d[..], &bytes[..], "{path} data (served)");
        assert_eq!(&s, &served_as_kept(path, st, &s), "{path} stat (served)");
    }
    let (_, eph) = resumed.data("/eph").await;
    assert_eq!(eph.ephemeral_owner, kept_id);
    // Paddock continues numbering after ZooKeeper.
    let r = resumed
        .create(
            "/after-import",
            b"",
            paddock_proto::v1::CreateMode::Persistent,
        )
        .await;
    ok(&r);
    assert!(r.zxid > last_zxid, "{} after {last_zxid}", r.zxid);
}
