//! Differential test: the same seeded random sequence of operations, through the same client
//! library (the `zookeeper-client` crate, speaking ZooKeeper's protocol), against a real Apache
//! ZooKeeper 3.8 (Debian's package, started here) and against Paddock's `clientPort`. Every
//! result must match: the value or the error code, every Stat field (zxids compared by their
//! order among the zxids each system showed, not by value; times not at all), children lists,
//! multi results, and the watch events each step fired.
//!
//! `PADDOCK_DIFF_SEEDS` (default 60) sequences of `PADDOCK_DIFF_OPS` (default 40) operations;
//! `make diff-zk` runs thousands. Skipped (passes, saying so) without Debian's zookeeper package.
//! A failing seed prints itself: rerun with `PADDOCK_DIFF_SEED_START=<seed> PADDOCK_DIFF_SEEDS=1`.
//!
//! Sequential creates go anywhere, deletes included: the suffixes must match (ZooKeeper numbers a
//! sequential child by the creates ever made under its parent, not by the cversion it shows).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::pin::Pin;
use support::zookeeper::{zookeeper_installed, ZooKeeper};
use support::*;
use zookeeper_client as zk;

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One system's answer to one step, zxids still raw.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Err(String),
    Stat(Option<RawStat>),
    Data(Vec<u8>, RawStat),
    Children(Vec<String>, Option<RawStat>),
    Created(String, RawStat),
    Done,
    /// Per op: what it was and its Stat, if it has one.
    Multi(Vec<(String, Option<RawStat>)>),
}

/// A Stat with the owner made relative (0, or "the test's own session") and times dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RawStat {
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
    own_ephemeral: bool,
    other_owner: bool,
    data_length: i32,
    num_children: i32,
}

fn raw(s: &zk::Stat, me: i64) -> RawStat {
    RawStat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        pzxid: s.pzxid,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        own_ephemeral: s.ephemeral_owner == me,
        other_owner: s.ephemeral_owner != 0 && s.ephemeral_owner != me,
        data_length: s.data_length,
        num_children: s.num_children,
    }
}

fn err(e: &zk::Error) -> Outcome {
    Outcome::Err(format!("{e:?}"))
}

/// The operations, drawn from a seed; paths under the run's own root.
#[derive(Clone, Debug)]
enum Step {
    Create {
        path: String,
        data: Vec<u8>,
        mode: u8,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    Set {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Get {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
    Children {
        path: String,
        watch: bool,
    },
    Multi(Vec<MultiStep>),
    MultiRead(Vec<String>),
}

#[derive(Clone, Debug)]
enum MultiStep {
    Create(String, u8),
    Delete(String, Option<i32>),
    Set(String, Option<i32>),
    Check(String, i32),
}

fn draw(rng: &mut StdRng, root: &str, ops: usize) -> Vec<Step> {
    let names = [
        "a",
        "b",
        "c",
        "a/x",
        "a/y",
        "b/z",
        "c/q",
        "a/x/deep",
        "missing/n",
    ];
    let path = |rng: &mut StdRng| {
        let n = names[rng.random_range(0..names.len())];
        format!("{root}/{n}")
    };
    let version = |rng: &mut StdRng| match rng.random_range(0..4) {
        0 | 1 => None,
        2 => Some(0),
        _ => Some(rng.random_range(0..3)),
    };
    (0..ops)
        .map(|_| match rng.random_range(0..100) {
            0..=24 => Step::Create {
                path: path(rng),
                data: vec![b'd'; rng.random_range(0..8)],
                mode: rng.random_range(0..5),
            },
            25..=34 => Step::Delete {
                path: path(rng),
                version: version(rng),
            },
            35..=49 => Step::Set {
                path: path(rng),
                data: vec![b's'; rng.random_range(0..12)],
                version: version(rng),
            },
            50..=61 => Step::Get {
                path: path(rng),
                watch: rng.random_bool(0.3),
            },
            62..=73 => Step::Exists {
                path: path(rng),
                watch: rng.random_bool(0.3),
            },
            74..=85 => Step::Children {
                path: if rng.random_bool(0.3) {
                    root.to_string()
                } else {
                    path(rng)
                },
                watch: rng.random_bool(0.3),
            },
            86..=95 => Step::Multi(
                (0..rng.random_range(1..4))
                    .map(|_| match rng.random_range(0..4) {
                        0 => MultiStep::Create(path(rng), rng.random_range(0..5)),
                        1 => MultiStep::Delete(path(rng), version(rng)),
                        2 => MultiStep::Set(path(rng), version(rng)),
                        _ => MultiStep::Check(path(rng), rng.random_range(-1..2)),
                    })
                    .collect(),
            ),
            _ => Step::MultiRead((0..rng.random_range(1..4)).map(|_| path(rng)).collect()),
        })
        .collect()
}

fn mode_of(m: u8) -> zk::CreateMode {
    match m {
        0 => zk::CreateMode::Persistent,
        1 => zk::CreateMode::Ephemeral,
        2 => zk::CreateMode::PersistentSequential,
        3 => zk::CreateMode::EphemeralSequential,
        _ => zk::CreateMode::Container,
    }
}

/// Runs one step; sequential names are compared as they are (their suffixes must match).
async fn run_step(c: &zk::Client, step: &Step, me: i64, watches: &mut Vec<Pending>) -> Outcome {
    let mut watch_fired = |w: zk::OneshotWatcher, what: String| {
        watches.push((
            what,
            Box::pin(async move {
                let ev = w.changed().await;
                format!("{:?} {}", ev.event_type, ev.path)
            }),
        ));
    };
    match step {
        Step::Create { path, data, mode } => {
            let opts = mode_of(*mode).with_acls(zk::Acls::anyone_all());
            match c.create(path, data, &opts).await {
                Ok((stat, seq)) => {
                    let name = if matches!(*mode, 2 | 3) {
                        format!("{path}{seq}")
                    } else {
                        path.clone()
                    };
                    Outcome::Created(name, raw(&stat, me))
                }
                Err(e) => err(&e),
            }
        }
        Step::Delete { path, version } => match c.delete(path, *version).await {
            Ok(()) => Outcome::Done,
            Err(e) => err(&e),
        },
        Step::Set {
            path,
            data,
            version,
        } => match c.set_data(path, data, *version).await {
            Ok(stat) => Outcome::Stat(Some(raw(&stat, me))),
            Err(e) => err(&e),
        },
        Step::Get { path, watch: false } => match c.get_data(path).await {
            Ok((d, s)) => Outcome::Data(d, raw(&s, me)),
            Err(e) => err(&e),
        },
        Step::Get { path, watch: true } => match c.get_and_watch_data(path).await {
            Ok((d, s, w)) => {
                watch_fired(w, format!("data {path}"));
                Outcome::Data(d, raw(&s, me))
            }
            Err(e) => err(&e),
        },
        Step::Exists { path, watch: false } => match c.check_stat(path).await {
            Ok(s) => Outcome::Stat(s.map(|s| raw(&s, me))),
            Err(e) => err(&e),
        },
        Step::Exists { path, watch: true } => match c.check_and_watch_stat(path).await {
            Ok((s, w)) => {
                watch_fired(w, format!("exists {path}"));
                Outcome::Stat(s.map(|s| raw(&s, me)))
            }
            Err(e) => err(&e),
        },
        Step::Children { path, watch: false } => match c.get_children(path).await {
            Ok((mut kids, s)) => {
                kids.sort();
                Outcome::Children(kids, Some(raw(&s, me)))
            }
            Err(e) => err(&e),
        },
        Step::Children { path, watch: true } => match c.list_and_watch_children(path).await {
            Ok((mut kids, w)) => {
                watch_fired(w, format!("children {path}"));
                kids.sort();
                Outcome::Children(kids, None)
            }
            Err(e) => err(&e),
        },
        Step::Multi(ops) => {
            let mut m = c.new_multi_writer();
            let acl = zk::Acls::anyone_all();
            for op in ops {
                let added = match op {
                    MultiStep::Create(p, mode) => {
                        m.add_create(p, b"m", &mode_of(*mode).with_acls(acl))
                    }
                    MultiStep::Delete(p, v) => m.add_delete(p, *v),
                    MultiStep::Set(p, v) => m.add_set_data(p, b"mm", *v),
                    MultiStep::Check(p, v) => m.add_check_version(p, *v),
                };
                if let Err(e) = added {
                    return err(&e);
                }
            }
            match m.commit().await {
                Ok(results) => Outcome::Multi(
                    results
                        .iter()
                        .map(|r| match r {
                            // No Stat: ZooKeeper 3.8 answers a multi's create with an invalid
                            // one (-1s; ZOOKEEPER-4026), Paddock with the node's.
                            zk::MultiWriteResult::Create { path, .. } => {
                                (format!("create {path}"), None)
                            }
                            zk::MultiWriteResult::SetData { stat } => {
                                ("set".to_string(), Some(raw(stat, me)))
                            }
                            other => (format!("{other:?}"), None),
                        })
                        .collect(),
                ),
                Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                    Outcome::Err(format!("op {index}: {source:?}"))
                }
                Err(zk::MultiWriteError::RequestFailed { source }) => err(&source),
            }
        }
        Step::MultiRead(paths) => {
            let mut r = c.new_multi_reader();
            for p in paths {
                if let Err(e) = r.add_get_data(p) {
                    return err(&e);
                }
            }
            match r.commit().await {
                Ok(results) => Outcome::Multi(
                    results
                        .iter()
                        .map(|r| match r {
                            zk::MultiReadResult::Data { data, stat } => {
                                (format!("data {data:?}"), Some(raw(stat, me)))
                            }
                            other => (format!("{other:?}"), None),
                        })
                        .collect(),
                ),
                Err(e) => err(&e),
            }
        }
    }
}

/// A watch not fired yet: what set it, and its event once it fires.
type Pending = (String, Pin<Box<dyn Future<Output = String> + Send>>);

/// Every zxid a transcript shows, replaced by its rank among them (zxids are compared by order).
fn normalize(transcript: &[(Outcome, Vec<String>)]) -> String {
    let mut zxids = BTreeSet::new();
    let mut collect = |s: &RawStat| {
        zxids.insert(s.czxid);
        zxids.insert(s.mzxid);
        zxids.insert(s.pzxid);
    };
    for (o, _) in transcript {
        match o {
            Outcome::Stat(Some(s))
            | Outcome::Data(_, s)
            | Outcome::Children(_, Some(s))
            | Outcome::Created(_, s) => collect(s),
            Outcome::Multi(ops) => ops
                .iter()
                .filter_map(|(_, s)| s.as_ref())
                .for_each(&mut collect),
            _ => {}
        }
    }
    let rank: BTreeMap<i64, usize> = zxids.into_iter().enumerate().map(|(i, z)| (z, i)).collect();
    let fix = |s: &RawStat| RawStat {
        czxid: rank[&s.czxid] as i64,
        mzxid: rank[&s.mzxid] as i64,
        pzxid: rank[&s.pzxid] as i64,
        ..s.clone()
    };
    let mut out = String::new();
    for (i, (o, events)) in transcript.iter().enumerate() {
        let o = match o {
            Outcome::Stat(Some(s)) => Outcome::Stat(Some(fix(s))),
            Outcome::Data(d, s) => Outcome::Data(d.clone(), fix(s)),
            Outcome::Children(k, Some(s)) => Outcome::Children(k.clone(), Some(fix(s))),
            Outcome::Created(p, s) => Outcome::Created(p.clone(), fix(s)),
            Outcome::Multi(ops) => Outcome::Multi(
                ops.iter()
                    .map(|(what, s)| (what.clone(), s.as_ref().map(fix)))
                    .collect(),
            ),
            other => other.clone(),
        };
        let _ = writeln!(out, "{i}: {o:?} events {events:?}");
    }
    out
}

/// Runs `steps` on `c` and returns its transcript: each step's outcome and the watch events that
/// fired by the time its answer arrived (ZooKeeper's "event before the data" ordering).
async fn transcript(c: &zk::Client, steps: &[Step]) -> Vec<(Outcome, Vec<String>)> {
    let me = c.session_id().0;
    let mut pending: Vec<Pending> = Vec::new();
    let mut out = Vec::new();
    for step in steps {
        let o = run_step(c, step, me, &mut pending).await;
        // One more round trip: every event the step fired reached the client before its answer
        // (ZooKeeper's ordering), so a watch that fired is ready now.
        let _ = c.check_stat("/").await;
        let mut events = Vec::new();
        pending.retain_mut(|(what, fut)| match fut.as_mut().now_or_never() {
            Some(ev) => {
                events.push(format!("{what}: {ev}"));
                false
            }
            None => true,
        });
        events.sort();
        out.push((o, events));
    }
    out
}

async fn connect(addr: &str) -> zk::Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = zk::Client::connector().with_session_timeout(Duration::from_secs(30));
        match tokio::time::timeout(Duration::from_secs(10), c.connect(addr)).await {
            Ok(Ok(client)) => return client,
            other if Instant::now() > deadline => panic!("cannot connect to {addr}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paddock_answers_as_zookeeper_does() {
    if !zookeeper_installed() {
        println!(
            "skipped: install Debian's zookeeper package (apt-get install zookeeper) to run the \
             differential test against Apache ZooKeeper"
        );
        return;
    }
    let seeds = env_u64("PADDOCK_DIFF_SEEDS", 60);
    let first = env_u64("PADDOCK_DIFF_SEED_START", 1);
    let ops = env_u64("PADDOCK_DIFF_OPS", 40) as usize;

    let dir = tempfile::tempdir().expect("tempdir");
    let [zk_port, paddock_port] = free_ports(2)[..] else {
        unreachable!("two ports")
    };
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nextendedTypesEnabled=true\n\
             znode.container.checkIntervalMs=3600000\n",
            dir.path().join("zk-data").display()
        ),
    )
    .expect("zoo.cfg");
    let zookeeper = ZooKeeper::start(&cfg, &dir.path().join("zookeeper.out"));
    let paddock = TestNode::start_with(|c| {
        c.client_port = paddock_port;
        c.extended_types_enabled = true;
        c.container_check_interval_ms = 3_600_000;
    })
    .await;
    let zk_client = connect(&format!("127.0.0.1:{zk_port}")).await;
    let pd_client = connect(&format!("127.0.0.1:{paddock_port}")).await;

    for seed in first..first + seeds {
        let root = format!("/diff{seed}");
        for c in [&zk_client, &pd_client] {
            let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            c.create(&root, b"", &open).await.expect("the run's root");
        }
        let steps = draw(&mut StdRng::seed_from_u64(seed), &root, ops);
        let want = normalize(&transcript(&zk_client, &steps).await);
        let got = normalize(&transcript(&pd_client, &steps).await);
        if want != got {
            let first_diff = want
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "seed {seed}: Paddock differs from ZooKeeper at step {first_diff}: {:?}\n\
                 ZooKeeper:\n{want}\nPaddock:\n{got}\nrerun: PADDOCK_DIFF_SEED_START={seed} \
                 PADDOCK_DIFF_SEEDS=1 cargo test -p paddock-node --test zk_differential\n\
                 ZooKeeper's log tail:\n{}",
                steps.get(first_diff),
                zookeeper
                    .log_text()
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    drop(paddock);
}
