//! Crash tests with the real `paddock` binary (DESIGN.md §1 durability, §7 storage, §10 layer 3;
//! issue 2 "Tests": SIGKILL while clients write, recovery from snapshot + log, corrupted tail).

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::CreateMode::Persistent;
use support::*;

/// Writer sessions in the SIGKILL test.
const WRITERS: usize = 4;
/// Requests each writer keeps in flight, so several unacknowledged writes exist at the kill.
const WINDOW: usize = 8;

/// One write of a writer; its index in the writer's sequence is `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    /// create c{n} with data "w{w}c{n}".
    Create(usize),
    /// multi: create m{n}a, create m{n}b, setData k = "{n}".
    Multi(usize),
    /// setData k = "{n}".
    Set(usize),
}

fn write_for(n: usize) -> Write {
    match n % 4 {
        0 | 1 => Write::Create(n),
        2 => Write::Multi(n),
        _ => Write::Set(n),
    }
}

fn dir(w: usize) -> String {
    format!("/crash/w{w}")
}

fn create_data(w: usize, n: usize) -> String {
    format!("w{w}c{n}")
}

fn to_op(w: usize, write: Write) -> pb::request::Op {
    let d = dir(w);
    match write {
        Write::Create(n) => op::create(
            &format!("{d}/c{n:06}"),
            create_data(w, n).as_bytes(),
            Persistent,
        ),
        Write::Multi(n) => op::multi(vec![
            op::m::create(&format!("{d}/m{n:06}a"), b"a", Persistent),
            op::m::create(&format!("{d}/m{n:06}b"), b"b", Persistent),
            op::m::set_data(&format!("{d}/k"), n.to_string().as_bytes(), -1),
        ]),
        Write::Set(n) => op::set_data(&format!("{d}/k"), n.to_string().as_bytes(), -1),
    }
}

/// What one writer sent, and how many of its writes (a prefix, answers being in order) were
/// acknowledged.
#[derive(Debug)]
struct WriterLog {
    w: usize,
    sent: Vec<Write>,
    acked: usize,
}

/// Writes until the server goes away, `WINDOW` requests in flight.
async fn writer(mut s: Session, w: usize, acks: Arc<AtomicUsize>) -> WriterLog {
    let mut log = WriterLog {
        w,
        sent: Vec::new(),
        acked: 0,
    };
    let mut in_flight = VecDeque::new();
    loop {
        while in_flight.len() < WINDOW {
            let write = write_for(log.sent.len());
            match s.try_send(to_op(w, write)).await {
                Ok(xid) => {
                    in_flight.push_back(xid);
                    log.sent.push(write);
                }
                Err(_) => return log,
            }
        }
        let xid = in_flight.pop_front().expect("in flight");
        match s.try_response(xid).await {
            Ok(r) => {
                assert_eq!(
                    r.error, 0,
                    "writer {w}: an acknowledged write failed: {r:?}"
                );
                log.acked += 1;
                acks.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return log,
        }
    }
}

/// Reads many nodes' data with pipelined requests; None for a missing node.
async fn read_all(s: &mut Session, paths: &[String]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(200) {
        let mut xids = Vec::with_capacity(chunk.len());
        for p in chunk {
            xids.push(s.send(op::get_data(p, false)).await);
        }
        for xid in xids {
            let r = s.response(xid).await;
            if r.error == code::NO_NODE {
                out.push(None);
            } else {
                out.push(Some(get_data_result(r).data.unwrap_or_default().to_vec()));
            }
        }
    }
    out
}

/// Checks one writer's writes after the restart: every acknowledged write is there; what
/// survived is exactly a prefix of what was sent (the log is replayed in order and only a tail
/// can be lost); a multi is there wholly or not at all; no node appears that was never written.
async fn verify_writer(s: &mut Session, log: &WriterLog) -> usize {
    let w = log.w;
    let d = dir(w);
    let (names, _) = s.children(&d).await;
    let names: BTreeSet<String> = names.into_iter().collect();

    // No phantom: every child is k or the name of a sent write.
    let mut expected_names = BTreeSet::from(["k".to_string()]);
    for write in &log.sent {
        match *write {
            Write::Create(n) => {
                expected_names.insert(format!("c{n:06}"));
            }
            Write::Multi(n) => {
                expected_names.insert(format!("m{n:06}a"));
                expected_names.insert(format!("m{n:06}b"));
            }
            Write::Set(_) => {}
        }
    }
    let phantoms: Vec<&String> = names.difference(&expected_names).collect();
    assert!(
        phantoms.is_empty(),
        "writer {w}: never-written nodes: {phantoms:?}"
    );

    // k tells which Set/Multi applied last.
    let (k, _) = s.data(&format!("{d}/k")).await;
    let k = String::from_utf8(k.to_vec()).expect("utf-8");
    let k: Option<usize> = (k != "-").then(|| k.parse().expect("k holds an index"));

    // The last surviving write.
    let mut last: Option<usize> = k;
    for write in &log.sent {
        match *write {
            Write::Create(n) => {
                if names.contains(&format!("c{n:06}")) {
                    last = last.max(Some(n));
                }
            }
            Write::Multi(n) => {
                let a = names.contains(&format!("m{n:06}a"));
                let b = names.contains(&format!("m{n:06}b"));
                assert_eq!(a, b, "writer {w}: multi {n} half-applied (a: {a}, b: {b})");
                if a {
                    last = last.max(Some(n));
                }
            }
            Write::Set(_) => {}
        }
    }
    let survived = last.map_or(0, |n| n + 1);
    assert!(
        survived >= log.acked,
        "writer {w}: {} writes acknowledged but only {survived} survived",
        log.acked
    );
    assert!(survived <= log.sent.len());

    // Prefix: every write before the last survivor survived, with the k it implies.
    let mut want_k = None;
    let mut creates = Vec::new();
    for write in &log.sent[..survived] {
        match *write {
            Write::Create(n) => {
                assert!(
                    names.contains(&format!("c{n:06}")),
                    "writer {w}: create {n} lost though later write {} survived",
                    survived - 1
                );
                creates.push(n);
            }
            Write::Multi(n) => {
                assert!(
                    names.contains(&format!("m{n:06}a")),
                    "writer {w}: multi {n} lost though later write {} survived",
                    survived - 1
                );
                want_k = Some(n);
            }
            Write::Set(n) => want_k = Some(n),
        }
    }
    assert_eq!(
        k, want_k,
        "writer {w}: k is the last setData of the surviving prefix"
    );

    // And their data.
    let paths: Vec<String> = creates.iter().map(|n| format!("{d}/c{n:06}")).collect();
    for (n, data) in creates.iter().zip(read_all(s, &paths).await) {
        assert_eq!(
            data.as_deref(),
            Some(create_data(w, *n).as_bytes()),
            "writer {w}: data of c{n}"
        );
    }
    survived
}

/// §1: "a write acknowledged to a client survives ... the loss of power on all servers". SIGKILL
/// the server while 4 sessions write (creates, multis, setData, 8 in flight each); after a
/// restart on the same data dir every acknowledged write is present with its data, each session's
/// surviving writes are a prefix of what it sent, no multi is half-applied, nothing phantom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut p = Paddock::spawn(&data, &[]).await;

    let mut setup = p.session().await;
    setup.mkdir("/crash").await;
    let acks = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        setup.mkdir(&dir(w)).await;
        setup
            .create_ok(&format!("{}/k", dir(w)), b"-", Persistent)
            .await;
        let s = p.session().await;
        tasks.push(tokio::spawn(writer(s, w, Arc::clone(&acks))));
    }
    drop(setup);

    // Kill mid-load: after some acknowledgements, at most ~1 s in.
    let started = Instant::now();
    while acks.load(Ordering::Relaxed) < 400 && started.elapsed() < Duration::from_millis(1_000) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    within("first acknowledgements", async {
        while acks.load(Ordering::Relaxed) < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    p.kill();

    let mut logs = Vec::new();
    for t in tasks {
        logs.push(within("writer ends", t).await.expect("writer task"));
    }
    let acked: usize = logs.iter().map(|l| l.acked).sum();
    let sent: usize = logs.iter().map(|l| l.sent.len()).sum();
    assert!(acked >= 20);
    assert!(
        sent > acked,
        "the kill came mid-load ({acked} acked of {sent} sent)"
    );

    let p2 = Paddock::spawn(&data, &[]).await;
    let mut s = p2.session().await;
    let mut survived = 0;
    for log in &logs {
        survived += verify_writer(&mut s, log).await;
    }
    assert!(survived >= acked);
    // The restarted server takes writes.
    s.create_ok("/crash/after", b"", Persistent).await;
    eprintln!("sigkill test: {sent} sent, {acked} acknowledged, {survived} survived");
}

fn snapshot_files(data: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("snapshots")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snapshot.") && !n.contains(".tmp") && !n.contains(".corrupt"))
        .collect();
    names.sort();
    names
}

/// §7: snapshots every ~snapCount txns, taken while writes continue; recovery = newest valid
/// snapshot + replay of the later log records. With snapCount=100, 1000 creates, SIGKILL,
/// restart: snapshots exist under <dataDir>/snapshots, recovery starts from one, all 1000 nodes
/// are there with their data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_from_snapshot_plus_log_after_sigkill() {
    const N: usize = 1000;
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut p = Paddock::spawn(&data, &["--set", "snapCount=100"]).await;
    let mut s = p.session().await;
    s.mkdir("/snap").await;
    let paths: Vec<String> = (0..N).map(|i| format!("/snap/n{i:04}")).collect();
    for chunk in paths.chunks(250) {
        let mut xids = Vec::new();
        for path in chunk {
            xids.push(s.send(op::create(path, path.as_bytes(), Persistent)).await);
        }
        for xid in xids {
            ok(&s.response(xid).await);
        }
    }
    within("a snapshot file", async {
        while snapshot_files(&data).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // A few more writes after the snapshot, for the log replay to carry.
    for i in 0..10 {
        s.create_ok(&format!("/snap/tail{i}"), b"t", Persistent)
            .await;
    }
    p.kill();
    drop(s);
    let snaps = snapshot_files(&data);
    assert!(!snaps.is_empty(), "snapshots under <dataDir>/snapshots");

    let p2 = Paddock::spawn(&data, &[]).await;
    let log = p2.log();
    let recovered = log
        .lines()
        .find(|l| l.contains("data tree rebuilt"))
        .unwrap_or_else(|| panic!("a recovery line: {log}"));
    assert!(
        recovered.contains("snapshot=Some"),
        "recovery started from a snapshot: {recovered}"
    );
    let mut s = p2.session().await;
    let (names, st) = s.children("/snap").await;
    assert_eq!(st.num_children as usize, N + 10);
    assert_eq!(names.len(), N + 10);
    for (path, data) in paths.iter().zip(read_all(&mut s, &paths).await) {
        assert_eq!(data.as_deref(), Some(path.as_bytes()), "{path}");
    }
    for i in 0..10 {
        assert!(s.stat(&format!("/snap/tail{i}")).await.is_some());
    }
}

/// §7 and issue 12: "a corrupt or torn tail is truncated and reported, never silently served";
/// a damaged data dir is never served. Write nodes, stop cleanly, corrupt the last log record's
/// checksum in the sled db: the server refuses to start (exit 3), naming the file, the zxid lost
/// and the remedy. `paddock repair --yes` keeps the verified prefix; the server then serves it,
/// in a new epoch, and a write made after the repair survives kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_synced_record_is_refused_until_repaired() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut p = Paddock::spawn(&data, &[]).await;
    let mut s = p.session().await;
    let mut last_zxid = 0;
    for i in 0..20 {
        let r = s
            .create(&format!("/c{i:02}"), format!("d{i}").as_bytes(), Persistent)
            .await;
        ok(&r);
        last_zxid = r.zxid;
    }
    drop(s);
    let status = p.terminate().await;
    assert!(status.success(), "clean stop: {status}");

    // Damage the newest record: the last segment's last bytes are its crc32 (see
    // paddock_storage::log_format).
    let corrupted = {
        let db = sled::open(data.join("txnlog")).expect("open the txn log db");
        let records = db.open_tree("txnlog").expect("records tree");
        let (key, value) = records.last().expect("read").expect("a segment");
        let newest = paddock_storage::log_format::decode(&key, &value).expect("a good segment");
        let zxid = newest.last().expect("a record").0 .0 as i64;
        let mut bad = value.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0x5a;
        records.insert(&key, bad).expect("overwrite");
        db.flush().expect("flush");
        zxid
    };
    assert_eq!(corrupted, last_zxid, "the last record is the last create");

    let data_arg = data.to_str().expect("utf-8 path");
    let zxid_text = format!("0x{corrupted:x}");
    let (status, log) = run_to_exit(&["--data-dir", data_arg, "--grpc-port", "0"]).await;
    assert_eq!(status.code(), Some(3), "refused with exit 3: {log}");
    for needle in ["damaged", "txnlog", zxid_text.as_str(), "paddock repair"] {
        assert!(log.contains(needle), "the refusal names {needle:?}: {log}");
    }
    // Refusing changed nothing: refused again; `repair --check` says the same.
    let (status, _) = run_to_exit(&["--data-dir", data_arg, "--grpc-port", "0"]).await;
    assert_eq!(status.code(), Some(3));
    let (status, log) = run_to_exit(&["repair", "--check", "--data-dir", data_arg]).await;
    assert_eq!(status.code(), Some(3), "{log}");
    let (status, log) = run_to_exit(&["repair", "--yes", "--data-dir", data_arg]).await;
    assert_eq!(status.code(), Some(0), "repaired: {log}");

    let mut p2 = Paddock::spawn(&data, &[]).await;
    let mut s = p2.session().await;
    for i in 0..19 {
        let (d, _) = s.data(&format!("/c{i:02}")).await;
        assert_eq!(&d[..], format!("d{i}").as_bytes());
    }
    assert!(
        s.stat("/c19").await.is_none(),
        "the damaged record is not served"
    );
    // New writes continue in a new epoch, so no zxid a client saw names two transactions.
    let r = s.create("/c19", b"again", Persistent).await;
    ok(&r);
    assert!(r.zxid > corrupted, "zxids move past the lost ones");
    assert!(
        (r.zxid >> 32) > (corrupted >> 32),
        "a new epoch: {:#x} after {corrupted:#x}",
        r.zxid
    );
    drop(s);
    p2.kill();
    let p3 = Paddock::spawn(&data, &[]).await;
    assert!(!p3.log().contains("damaged"), "{}", p3.log());
    let mut s = p3.session().await;
    assert_eq!(&s.data("/c19").await.0[..], b"again");
}

/// Issue 2 item 8: SIGTERM shuts down cleanly (exit 0), and the data dir can be reopened at once
/// (the lock was released). Proto "Errors"/"Closing": a server shutting down ends open streams
/// with UNAVAILABLE / ConnectionLoss (-4) — not with SessionClosed — since the session survives
/// the restart: the client resumes it, ephemerals intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_the_data_dir_reopens_at_once() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let mut p = Paddock::spawn(&data, &[]).await;
    let mut s = p.session().await;
    s.create_ok("/kept", b"yes", Persistent).await;
    s.create_ok("/eph", b"", pb::CreateMode::Ephemeral).await;
    let status = p.terminate().await;
    assert_eq!(status.code(), Some(0), "clean exit: {status}");
    let log = p.log();
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );

    let mut p2 = Paddock::spawn(&data, &[]).await;
    let mut other = p2.session().await;
    assert_eq!(&other.data("/kept").await.0[..], b"yes");
    let mut again = Session::connect(p2.addr, s.resume_request())
        .await
        .expect("the session survives a clean restart");
    assert_eq!(
        again.stat("/eph").await.map(|st| st.ephemeral_owner),
        Some(s.id)
    );

    // How the old stream ended.
    let end = s.finish().await;
    assert!(
        s.closed.is_none(),
        "shutdown must not tell the client its session ended (SessionClosed {:?}), since the \
         session lives on and was resumed above",
        s.closed
    );
    if let Err(status) = end {
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert_eq!(status_zk_code(&status), Some(code::CONNECTION_LOSS));
    }
    drop(again);
    drop(other);
    assert_eq!(p2.terminate().await.code(), Some(0));
}
