//! Issue 12: a standalone `paddock` on a data directory whose files were damaged after a kill -9
//! either serves every acknowledged write or refuses to start (exit 3) saying what is lost and
//! what to do — never a panic, never a partial or empty tree. Each case damages a copy of one
//! data directory (written with snapshots and purges, then killed) and starts a real server on
//! it; a refused directory is then repaired with `paddock repair --yes` and must serve the
//! verified state and keep a new write across another kill -9.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_proto::v1 as pb;
use pb::CreateMode::Persistent;
use support::*;

/// Acknowledged creates under `/c` before the kill.
const N: usize = 1500;
/// Small, so that the directory holds several snapshots and a purged log.
const SNAP_COUNT: &str = "snapCount=200";

/// Damages a copy of the data directory.
type Damage = dyn Fn(&Path);

/// What a start on a damaged directory did.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It served every acknowledged write.
    Served,
    /// It refused with exit 3, naming what was lost.
    Refused,
}

/// Writes [`N`] acknowledged znodes into `data`, then `/last`, and kills the server with SIGKILL
/// right after.
async fn write_and_kill(data: &Path) {
    let mut p = Paddock::spawn(data, &["--set", SNAP_COUNT]).await;
    let mut s = p.session().await;
    s.mkdir("/c").await;
    let paths: Vec<String> = (0..N).map(|i| format!("/c/n{i:05}")).collect();
    for chunk in paths.chunks(100) {
        let mut xids = Vec::new();
        for path in chunk {
            xids.push(s.send(op::create(path, b"v", Persistent)).await);
        }
        for xid in xids {
            ok(&s.response(xid).await);
        }
    }
    // One write after whatever snapshot the last creates triggered has been taken: so the log
    // always holds an acknowledged write no snapshot has (otherwise "txnlog/ removed" could
    // lose nothing, and be rightly served).
    tokio::time::sleep(Duration::from_millis(500)).await;
    ok(&s.create("/last", b"x", Persistent).await);
    p.kill();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

fn snapshot_files(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("snapshots"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("snapshot.") && n.len() == "snapshot.".len() + 16)
    });
    v.sort();
    v
}

/// The end of what sled wrote in its (preallocated) data file.
fn written_len(db: &Path) -> u64 {
    let bytes = std::fs::read(db).expect("read db");
    bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i as u64 + 1)
}

fn flip(file: &Path, at: u64) {
    let mut bytes = std::fs::read(file).expect("read");
    let i = usize::try_from(at).expect("offset").min(bytes.len() - 1);
    bytes[i] ^= 0xff;
    std::fs::write(file, bytes).expect("write");
}

/// Starts a server on `data` and classifies what it does; on a refusal, repairs and checks the
/// repaired directory serves and keeps a new write across kill -9.
async fn start_on_damaged(data: &Path, what: &str) -> Outcome {
    let mut cmd = paddock_command();
    cmd.arg("--data-dir").arg(data).args([
        "--grpc-port",
        "0",
        "--grpc-address",
        "127.0.0.1",
        "--set",
        SNAP_COUNT,
    ]);
    let (mut child, log) = spawn_logged(cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(!text.contains("panicked"), "{what}: a panic:\n{text}");
        if let Some(addr) = serving_addr(&text) {
            let mut s = Session::open(addr, LONG_TIMEOUT_MS).await;
            let children = s.children("/c").await.0;
            assert_eq!(
                children.len(),
                N,
                "{what}: served less than was acknowledged:\n{text}"
            );
            assert!(
                s.stat("/last").await.is_some(),
                "{what}: served without the last acknowledged write:\n{text}"
            );
            let _ = child.kill();
            let _ = child.wait();
            return Outcome::Served;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let text = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
            assert_eq!(
                status.code(),
                Some(3),
                "{what}: exit 3 when refusing:\n{text}"
            );
            assert!(text.contains("is damaged"), "{what}: {text}");
            assert!(
                text.contains("paddock repair"),
                "{what}: names the remedy: {text}"
            );
            assert!(!text.contains("panicked"), "{what}: {text}");
            repair_and_check(data, what).await;
            return Outcome::Refused;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: neither served nor refused:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn repair_and_check(data: &Path, what: &str) {
    let dir = data.to_str().expect("utf-8 path");
    let (status, log) = run_to_exit(&["repair", "--yes", "--data-dir", dir]).await;
    assert_eq!(status.code(), Some(0), "{what}: repair: {log}");
    let mut p = Paddock::spawn(data, &["--set", SNAP_COUNT]).await;
    let mut s = p.session().await;
    let kept = match s.stat("/c").await {
        Some(_) => s.children("/c").await.0.len(),
        None => 0,
    };
    assert!(kept <= N, "{what}");
    ok(&s.create("/after-repair", b"x", Persistent).await);
    drop(s);
    p.kill();
    let p = Paddock::spawn(data, &["--set", SNAP_COUNT]).await;
    let mut s = p.session().await;
    assert!(
        s.stat("/after-repair").await.is_some(),
        "{what}: a write after the repair survives kill -9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_are_served_whole_or_refused_never_partially() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pristine = tmp.path().join("pristine");
    write_and_kill(&pristine).await;
    let snaps = snapshot_files(&pristine);
    assert!(snaps.len() >= 2, "the workload made snapshots: {snaps:?}");
    let db_len = written_len(&pristine.join("txnlog").join("db"));

    let mut cases: Vec<(String, Box<Damage>)> = Vec::new();
    for cut in [1u64, 100, 4096, 65_536, 300_000] {
        cases.push((
            format!("txnlog/db cut by {cut} bytes"),
            Box::new(move |d: &Path| {
                let db = d.join("txnlog").join("db");
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&db)
                    .expect("open");
                f.set_len(written_len(&db).saturating_sub(cut))
                    .expect("truncate");
            }),
        ));
    }
    for tenth in 0..10u64 {
        cases.push((
            format!("txnlog/db byte flipped at {}%", tenth * 10 + 5),
            Box::new(move |d: &Path| {
                flip(&d.join("txnlog").join("db"), db_len * (2 * tenth + 1) / 20)
            }),
        ));
    }
    for (i, snap) in snaps.iter().enumerate() {
        let name = snap.file_name().expect("name").to_owned();
        for pct in [10u64, 50, 90] {
            let name = name.clone();
            cases.push((
                format!("snapshot {i} byte flipped at {pct}%"),
                Box::new(move |d: &Path| {
                    let f = d.join("snapshots").join(&name);
                    let len = std::fs::metadata(&f).expect("meta").len();
                    flip(&f, len * pct / 100);
                }),
            ));
        }
    }
    cases.push((
        "every snapshot corrupt".into(),
        Box::new(|d: &Path| {
            for f in snapshot_files(d) {
                flip(&f, 100);
            }
        }),
    ));
    cases.push((
        "snapshots/ removed".into(),
        Box::new(|d: &Path| std::fs::remove_dir_all(d.join("snapshots")).expect("rm")),
    ));
    cases.push((
        "txnlog/ removed".into(),
        Box::new(|d: &Path| std::fs::remove_dir_all(d.join("txnlog")).expect("rm")),
    ));

    let mut outcomes = Vec::new();
    for (i, (what, damage)) in cases.iter().enumerate() {
        let data = tmp.path().join(format!("case{i}"));
        copy_dir(&pristine, &data);
        damage(&data);
        let outcome = start_on_damaged(&data, what).await;
        outcomes.push(format!("{what}: {outcome:?}"));
        std::fs::remove_dir_all(&data).expect("clean up");
    }
    eprintln!("{}", outcomes.join("\n"));
    // The log was purged behind the snapshots: without any snapshot nothing can be served.
    for what in [
        "every snapshot corrupt",
        "snapshots/ removed",
        "txnlog/ removed",
    ] {
        assert!(
            outcomes.iter().any(|o| o == &format!("{what}: Refused")),
            "{outcomes:?}"
        );
    }
}
