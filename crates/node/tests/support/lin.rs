//! The linearizability workload and the checks shared by `linearizable.rs` (leader SIGKILL /
//! SIGSTOP) and `partitions.rs` (network partitions), issue 18:
//!
//! - [`run_client`]: one client's seeded random operations on [`PATHS`] (`sync`+`getData`,
//!   unconditional and versioned `setData`, `create`, `delete`), each recorded with its call
//!   and answer times; [`check_linearizable`] runs `paddock-lincheck` on the history.
//! - [`final_reads`]: after the faults, `sync`+`getData` of every path through every server,
//!   added to the history: each server must end in a state that every acknowledged write
//!   explains (a lost acknowledged write or a divergent server fails the check).
//! - [`run_ledger`] / [`Ledger::check`]: unique creates, each acknowledged one must exist on
//!   every server at the end, and nothing never attempted may.
//! - [`LeaderWatch`]: polls every server's status during the run; at most one server may serve
//!   as leader in any epoch.
//! - [`converged_digests`]: once the servers have applied the same zxid, their trees' digests
//!   must be equal.
//! - [`WatchLog`] and [`order`]: every change to a watched znode fires exactly one event, in
//!   order, before any answer that shows the change.

pub mod order;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use paddock_client::{
    AddWatchMode, Client, ClientOptions, CreateMode, Error, EventType, SessionState, WatchedEvent,
};
use paddock_lincheck::zk::{Input, Output, Znode};
use paddock_lincheck::{check, Operation, Verdict};
use paddock_proto::v1 as pb;
use paddock_types::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

use super::{log_tails, try_channel, try_status, LocalEnsemble};

/// Clients of the workload.
/// The zoo.cfg lines of the fault tests' ensembles: a 100 ms tick (elections and syncLimit in
/// tenths of a second) and session timeouts up to 30 s.
pub const FAST_ENSEMBLE: [&str; 4] = [
    "tickTime=100",
    "initLimit=10",
    "syncLimit=5",
    "maxSessionTimeout=30000",
];

pub const CLIENTS: usize = 4;
/// The znodes the workload works on (one checker part each).
pub const PATHS: [&str; 3] = ["/lin0", "/lin1", "/lin2"];
const STATUS_LIMIT: Duration = Duration::from_secs(2);

pub type History = Arc<Mutex<Vec<Operation<Input, Output>>>>;

/// A `u64` from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The index of a serving leader among `among`, waiting up to `limit`; `None` if there is none
/// by then.
pub async fn serving_leader(e: &LocalEnsemble, among: &[usize], limit: Duration) -> Option<usize> {
    let deadline = Instant::now() + limit;
    loop {
        for &i in among {
            if let Ok(st) = e.peers[i].status(STATUS_LIMIT).await {
                if st.serving && st.mode == "leader" {
                    return Some(i);
                }
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The index of the serving leader (30 s at most, else the test fails with the logs).
pub async fn leader(e: &LocalEnsemble, alive: &[usize]) -> usize {
    match serving_leader(e, alive, Duration::from_secs(30)).await {
        Some(i) => i,
        None => panic!("no serving leader\n{}", log_tails(&e.peers, 20)),
    }
}

/// What an error tells about an operation: a definite answer, or `None` (unknown outcome).
pub fn definite(e: &Error) -> Option<Output> {
    match e.code() {
        ErrorCode::NoNode => Some(Output::NoNode),
        ErrorCode::NodeExists => Some(Output::NodeExists),
        ErrorCode::BadVersion => Some(Output::BadVersion),
        _ => None,
    }
}

/// The number a workload value holds (`u64::MAX` for anything else).
pub fn data_of(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A client of the workload: its own session on `connect` (one server pins it there). A
/// server that is between roles refuses sessions for a moment: retried for 20 s.
pub async fn connect(connect: &str, seed: u64) -> Client {
    connect_with(connect, seed, SESSION_TIMEOUT).await
}

/// The session timeout of the workload's sessions: longer than any fault of these tests.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// [`connect`] with another session timeout.
pub async fn connect_with(connect: &str, seed: u64, session_timeout: Duration) -> Client {
    let opts = ClientOptions {
        session_timeout,
        seed: Some(seed),
        ..ClientOptions::default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Client::connect(connect, opts.clone()).await {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("connect {connect}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect {connect}: {e}"),
        }
    }
}

fn nanos_since(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

fn record(history: &History, op: Operation<Input, Output>) {
    history.lock().unwrap_or_else(|e| e.into_inner()).push(op);
}

/// `sync` + `getData` of `path`: the answer, or `None` if there was none.
async fn read(client: &Client, path: &str) -> Option<Output> {
    let r = match client.sync(path).await {
        Ok(()) => client.get_data(path).await,
        Err(e) => Err(e),
    };
    match r {
        Ok((data, stat)) => Some(Output::Read(Some((data_of(&data), stat.version)))),
        Err(e) => match definite(&e) {
            Some(Output::NoNode) => Some(Output::Read(None)),
            _ => None,
        },
    }
}

/// The clients' loops ([`run_client`]) running for `secs` from [`Workload::start`], every
/// operation recorded in one history.
pub struct Workload {
    pub history: History,
    pub start: Instant,
    pub until: Instant,
    clients: Vec<Client>,
    tasks: Vec<JoinHandle<()>>,
    watches: Option<WatchLog>,
    /// The wire sessions ([`order`]) on the watching server, until [`Workload::finish_loops`].
    wire_tasks: Vec<JoinHandle<order::Trace>>,
    /// What they recorded, after it.
    wire: Vec<order::Trace>,
    /// The watching server was restarted or its sessions moved: events may be missing.
    watcher_lost: AtomicBool,
}

/// The history's client ids of the wire sessions (after the workload's and `final_reads`').
const WIRE_CLIENTS: [usize; 2] = [20, 21];

impl Workload {
    /// Each client first creates its ephemeral `/lin-sessions/<id>` (see
    /// [`Workload::check_sessions_and_close`]), then runs its loop; a session on the server
    /// `watcher` records every event of a persistent recursive watch on `/` meanwhile
    /// ([`WatchLog`]), and two more sessions there read and write with watches over the wire,
    /// recording the order of events and answers ([`order`]; their writes join the history).
    pub async fn start(clients: Vec<Client>, watcher: &str, seed: u64, secs: u64) -> Workload {
        Workload::start_with(clients, watcher, seed, secs, SESSION_TIMEOUT).await
    }

    /// [`Workload::start`] with the watching sessions' timeout.
    pub async fn start_with(
        clients: Vec<Client>,
        watcher: &str,
        seed: u64,
        secs: u64,
        watcher_timeout: Duration,
    ) -> Workload {
        let watcher_addr: SocketAddr = watcher
            .parse()
            .unwrap_or_else(|_| panic!("the watching sessions need one server, not {watcher}"));
        let watches = Some(WatchLog::start(watcher, seed, watcher_timeout).await);
        match clients[0]
            .create(SESSIONS, Vec::new(), CreateMode::Persistent)
            .await
        {
            Ok(_)
            | Err(Error::Zk {
                code: ErrorCode::NodeExists,
                ..
            }) => {}
            Err(e) => panic!("create {SESSIONS}: {e}"),
        }
        for (id, c) in clients.iter().enumerate() {
            c.create(&own_ephemeral(id), Vec::new(), CreateMode::Ephemeral)
                .await
                .unwrap_or_else(|e| panic!("client {id}'s ephemeral: {e}"));
        }
        let history: History = Arc::default();
        let start = Instant::now();
        let until = start + Duration::from_secs(secs);
        let tasks = clients
            .iter()
            .cloned()
            .enumerate()
            .map(|(id, c)| tokio::spawn(run_client(id, c, seed, start, until, history.clone())))
            .collect();
        let wire_tasks = [order::Mode::Persistent, order::Mode::OneShot]
            .into_iter()
            .zip(WIRE_CLIENTS)
            .map(|(mode, id)| {
                let history = history.clone();
                tokio::spawn(order::run(
                    mode,
                    watcher_addr,
                    watcher_timeout,
                    id,
                    seed,
                    start,
                    until,
                    history,
                ))
            })
            .collect();
        Workload {
            history,
            start,
            until,
            clients,
            tasks,
            watches,
            wire_tasks,
            wire: Vec::new(),
            watcher_lost: AtomicBool::new(false),
        }
    }

    /// The watching sessions' server was restarted: the events of their persistent watches
    /// fired meanwhile may be gone, so they are checked for order only.
    pub fn watcher_lost_its_server(&self) {
        self.watcher_lost.store(true, Ordering::Relaxed);
        if let Some(w) = &self.watches {
            w.dropped.store(true, Ordering::Relaxed);
        }
    }

    /// What the wire sessions recorded (after [`Workload::finish_loops`]).
    pub fn wire_traces(&self) -> &[order::Trace] {
        &self.wire
    }

    /// Whether [`Workload::watcher_lost_its_server`] was called.
    pub fn watcher_is_lost(&self) -> bool {
        self.watcher_lost.load(Ordering::Relaxed)
    }

    /// Waits for every client's loop to end.
    pub async fn finish_loops(&mut self) {
        for t in self.tasks.drain(..) {
            t.await.expect("client task");
        }
        for t in self.wire_tasks.drain(..) {
            self.wire.push(t.await.expect("wire session task"));
        }
    }

    /// The wire sessions' traces against the rules of [`order::check`], and the one-shot
    /// watches' events against the persistent watch's when both are whole.
    fn check_wire(&self, seed: u64) {
        let exact = !self.watcher_lost.load(Ordering::Relaxed);
        for t in &self.wire {
            let events = t
                .seen
                .iter()
                .filter(|m| matches!(m, order::Seen::Event { .. }))
                .count();
            let answers = t
                .seen
                .iter()
                .filter(|m| matches!(m, order::Seen::Answer { .. }))
                .count();
            let resumes = t.resumes();
            if let Err(why) = order::check(t.mode, &t.seen, exact) {
                panic!(
                    "seed {seed}: {:?} wire session: {why}\nreplay with PADDOCK_LIN_SEED={seed}",
                    t.mode
                );
            }
            eprintln!(
                "seed {seed}: {:?} wire session: {events} events and {answers} answers in order, {resumes} resumes{}{}",
                t.mode,
                if exact { ", checked exactly" } else { "" },
                if t.expired { "; it expired" } else { "" }
            );
        }
        if let [p, o] = &self.wire[..] {
            if exact && !p.expired && !o.expired {
                match order::cross_check(&o.seen, &p.seen) {
                    Ok(n) => eprintln!(
                        "seed {seed}: {n} one-shot watch events were each the first change after their registration"
                    ),
                    Err(why) => panic!("seed {seed}: one-shot watches: {why}"),
                }
            }
        }
    }

    /// After [`Workload::finish_loops`], with every server of `addrs` serving: checks that an
    /// ephemeral lives exactly as long as its session, then closes the clients. A client whose
    /// session still answers finds its own ephemeral; one whose session expired (its server cut
    /// off for longer than the timeout) has none on any server; once a client has closed its
    /// session, no server has its ephemeral.
    pub async fn check_sessions_and_close(&mut self, addrs: &[SocketAddr], seed: u64) {
        for (id, c) in self.clients.iter().enumerate() {
            let path = own_ephemeral(id);
            match c.exists(&path).await {
                Ok(Some(stat)) => assert_eq!(
                    stat.ephemeral_owner,
                    c.session_id().0,
                    "seed {seed}: {path} belongs to client {id}'s session"
                ),
                Ok(None) => panic!(
                    "seed {seed}: client {id}'s session is alive without its ephemeral {path}"
                ),
                // The client says so itself (Error::SessionExpired) once the server told it.
                Err(e) if e.code() == ErrorCode::SessionExpired => {
                    eprintln!("seed {seed}: client {id}'s session expired");
                    ephemerals_gone(addrs, &[path], seed).await;
                }
                // Not definite (a connection lost just now): nothing to check.
                Err(e) => eprintln!("seed {seed}: client {id}: exists {path}: {e}"),
            }
        }
        if let Some(w) = self.watches.take() {
            w.check_and_close(seed).await;
        }
        self.check_wire(seed);
        let mut closed = Vec::new();
        for (id, c) in self.clients.drain(..).enumerate() {
            if c.close().await.is_ok() {
                closed.push(own_ephemeral(id));
            }
        }
        ephemerals_gone(addrs, &closed, seed).await;
    }

    /// The operations recorded so far.
    pub fn take_history(&self) -> Vec<Operation<Input, Output>> {
        std::mem::take(&mut *self.history.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A session holding a persistent recursive watch on `/` during the workload, recording the
/// events of [`PATHS`] and whether the session ever moved to another server.
pub struct WatchLog {
    client: Client,
    events: Arc<Mutex<Vec<WatchedEvent>>>,
    dropped: Arc<AtomicBool>,
    tasks: [JoinHandle<()>; 2],
}

impl WatchLog {
    async fn start(connect_string: &str, seed: u64, timeout: Duration) -> WatchLog {
        let client = connect_with(connect_string, seed.wrapping_add(200), timeout).await;
        let dropped = Arc::new(AtomicBool::new(false));
        let mut states = client.state_events();
        let flag = dropped.clone();
        // A connect string of more than one server counts as moving on every reconnect.
        let (home, me) = (connect_string.to_string(), client.clone());
        let states_task = tokio::spawn(async move {
            // Back on the same server, the session gets what fired while it was away; on
            // another one, persistent watches' events of that time are lost (ZooKeeper's too).
            while let Ok(state) = states.recv().await {
                if (state == SessionState::Connected && me.server() != home) || state.is_terminal()
                {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        });
        let mut watch = client
            .add_watch("/", AddWatchMode::PersistentRecursive)
            .await
            .expect("addWatch /");
        let events: Arc<Mutex<Vec<WatchedEvent>>> = Arc::default();
        let log = events.clone();
        let events_task = tokio::spawn(async move {
            while let Some(Ok(ev)) = watch.next().await {
                if PATHS.contains(&ev.path.as_str()) {
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(ev);
                }
            }
        });
        WatchLog {
            client,
            events,
            dropped,
            tasks: [states_task, events_task],
        }
    }

    /// Every change fires exactly one event, in order: the events' zxids only grow (one
    /// change per transaction here), each path's events alternate created, data changed*,
    /// deleted; and when the watching session never moved to another server (one that moves
    /// loses the events of persistent watches fired meanwhile, as ZooKeeper's), each path's
    /// events since its last creation are exactly its final state: as many data changes as
    /// its version, the creation at its czxid, the last event at its mzxid.
    async fn check_and_close(self, seed: u64) {
        // The answers to these reads come after the events of every change they show.
        let mut finals = Vec::new();
        let mut read_ok = true;
        for path in PATHS {
            match self.client.sync(path).await {
                Ok(()) => {}
                Err(_) => read_ok = false,
            }
            match self.client.exists(path).await {
                Ok(stat) => finals.push(stat),
                Err(_) => read_ok = false,
            }
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        let _ = self.client.close().await;
        for t in self.tasks {
            t.abort();
        }
        let events = std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()));
        for pair in events.windows(2) {
            assert!(
                pair[0].zxid < pair[1].zxid,
                "seed {seed}: watch events out of order or repeated: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
        for path in PATHS {
            let mine: Vec<&WatchedEvent> = events.iter().filter(|e| e.path == path).collect();
            let mut exists = None;
            for (i, e) in mine.iter().enumerate() {
                let ok = matches!(
                    (exists, e.event_type),
                    (None | Some(false), EventType::NodeCreated)
                        | (
                            None | Some(true),
                            EventType::NodeDataChanged | EventType::NodeDeleted
                        )
                );
                assert!(
                    ok || dropped,
                    "seed {seed}: {path}: {:?} cannot follow the events before it: {:?}",
                    e.event_type,
                    &mine[i.saturating_sub(4)..=i]
                );
                exists = Some(e.event_type != EventType::NodeDeleted);
            }
        }
        if dropped || !read_ok {
            eprintln!(
                "seed {seed}: the watching session moved to another server or lost its own: {} events checked for order only",
                events.len()
            );
            return;
        }
        for (path, stat) in PATHS.iter().zip(finals) {
            let mine: Vec<&WatchedEvent> = events.iter().filter(|e| e.path == *path).collect();
            let since = mine
                .iter()
                .rposition(|e| e.event_type == EventType::NodeCreated);
            match stat {
                None => assert!(
                    mine.last()
                        .is_none_or(|e| e.event_type == EventType::NodeDeleted),
                    "seed {seed}: {path} is gone but its last event is not NodeDeleted: {:?}",
                    mine.last()
                ),
                Some(stat) => {
                    let since = since.unwrap_or_else(|| {
                        panic!(
                            "seed {seed}: {path} exists but no NodeCreated was seen ({} events)",
                            mine.len()
                        )
                    });
                    let changes = mine[since..]
                        .iter()
                        .filter(|e| e.event_type == EventType::NodeDataChanged)
                        .count();
                    assert_eq!(
                        changes as i64,
                        i64::from(stat.version),
                        "seed {seed}: {path}: one NodeDataChanged per version since {:?}",
                        mine[since]
                    );
                    assert_eq!(
                        mine[since].zxid.0 as i64, stat.czxid,
                        "seed {seed}: {path} czxid"
                    );
                    let last = mine.last().map(|e| e.zxid.0 as i64);
                    assert_eq!(
                        last,
                        Some(stat.mzxid),
                        "seed {seed}: {path}: last event at mzxid"
                    );
                }
            }
        }
        eprintln!("seed {seed}: {} watch events checked exactly", events.len());
    }
}

/// The parent of the workload clients' ephemerals.
pub const SESSIONS: &str = "/lin-sessions";

/// Workload client `id`'s ephemeral.
pub fn own_ephemeral(id: usize) -> String {
    format!("{SESSIONS}/{id}")
}

/// None of `paths` exists on any server of `addrs` (each read after a `sync` through a
/// session of that server alone).
async fn ephemerals_gone(addrs: &[SocketAddr], paths: &[String], seed: u64) {
    for addr in addrs {
        let c = connect(&addr.to_string(), seed).await;
        c.sync(SESSIONS).await.expect("sync");
        for path in paths {
            assert_eq!(
                c.exists(path).await.expect("exists"),
                None,
                "seed {seed}: {path} outlived its session on {addr}"
            );
        }
        let _ = c.close().await;
    }
}

/// One client's loop until `until`: random operations, each recorded.
pub async fn run_client(
    id: usize,
    client: Client,
    seed: u64,
    start: Instant,
    until: Instant,
    history: History,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut counter = 0u64;
    while Instant::now() < until {
        let path = PATHS[rng.random_range(0..PATHS.len())];
        counter += 1;
        let value = (id as u64 + 1) * 1_000_000 + counter;
        let version = if rng.random_bool(0.5) {
            -1
        } else {
            rng.random_range(0..4)
        };
        let input = match rng.random_range(0..10) {
            0..=3 => Input::Read { path: path.into() },
            4..=6 => Input::Set {
                path: path.into(),
                data: value,
                version,
            },
            7..=8 => Input::Create {
                path: path.into(),
                data: value,
            },
            _ => Input::Delete {
                path: path.into(),
                version,
            },
        };
        let call = nanos_since(start);
        let output: Option<Output> = match &input {
            Input::Read { path } => match read(&client, path).await {
                Some(out) => Some(out),
                // A read without an answer changed nothing: left out of the history.
                None => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Input::Set {
                path,
                data,
                version,
            } => match client
                .set_data(path, data.to_string().into_bytes(), *version)
                .await
            {
                Ok(stat) => Some(Output::Set {
                    version: stat.version,
                }),
                Err(e) => definite(&e),
            },
            Input::Create { path, data } => match client
                .create(path, data.to_string().into_bytes(), CreateMode::Persistent)
                .await
            {
                Ok(_) => Some(Output::Done),
                Err(e) => definite(&e),
            },
            Input::Delete { path, version } => match client.delete(path, *version).await {
                Ok(()) => Some(Output::Done),
                Err(e) => definite(&e),
            },
        };
        let ret = output.as_ref().map(|_| nanos_since(start));
        record(
            &history,
            Operation {
                client: id,
                input,
                output,
                call,
                ret,
            },
        );
        if ret.is_none() {
            // The connection is gone: let the client find another server before going on.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `sync`+`getData` of every path through each server `addrs[i]` (a client pinned to it),
/// added to `history` as client `CLIENTS + i`: every server must end in a state the history
/// explains. Panics if a server does not answer (they must all serve by now).
pub async fn final_reads(addrs: &[SocketAddr], seed: u64, start: Instant, history: &History) {
    for (i, addr) in addrs.iter().enumerate() {
        let client = connect(&addr.to_string(), seed).await;
        for path in PATHS {
            let call = nanos_since(start);
            let output = read(&client, path)
                .await
                .unwrap_or_else(|| panic!("server.{} does not answer a read of {path}", i + 1));
            let ret = nanos_since(start);
            record(
                history,
                Operation {
                    client: CLIENTS + i,
                    input: Input::Read { path: path.into() },
                    output: Some(output),
                    call,
                    ret: Some(ret),
                },
            );
        }
        let _ = client.close().await;
    }
}

/// Checks the history; panics with the seed and the part no order explains.
pub fn check_linearizable(seed: u64, label: &str, history: &[Operation<Input, Output>]) {
    let answered = history.iter().filter(|o| o.output.is_some()).count();
    let writes_ok = history
        .iter()
        .filter(|o| matches!(o.output, Some(Output::Set { .. } | Output::Done)))
        .count();
    eprintln!(
        "seed {seed}, {label}: {} operations ({answered} answered, {writes_ok} successful writes)",
        history.len()
    );
    assert!(
        writes_ok > 20,
        "the load did too little to check: {writes_ok} writes"
    );
    match check(&Znode, history) {
        Verdict::Linearizable => {}
        Verdict::Violation { part } => {
            let ops: Vec<_> = part.iter().map(|&i| &history[i]).collect();
            panic!(
                "seed {seed}, {label}: not linearizable ({} operations on {}); replay with PADDOCK_LIN_SEED={seed}\n{ops:#?}",
                ops.len(),
                ops[0].input.path()
            );
        }
        Verdict::Unknown { part } => panic!(
            "seed {seed}, {label}: the checker ran out of budget on {} operations of {}",
            part.len(),
            history[part[0]].input.path()
        ),
    }
}

/// The parent of the ledger's znodes.
pub const LEDGER: &str = "/ledger";

/// What [`run_ledger`] did: the creates acknowledged, and every name it tried.
#[derive(Debug, Default)]
pub struct Ledger {
    pub acked: BTreeSet<String>,
    pub attempted: BTreeSet<String>,
}

/// Creates `/ledger/w-<k>` for k = 0, 1, ... through `client` until `until`, each name once;
/// `/ledger` must exist.
pub async fn run_ledger(client: Client, until: Instant) -> Ledger {
    let mut ledger = Ledger::default();
    let mut k = 0u64;
    while Instant::now() < until {
        let name = format!("w-{k:06}");
        k += 1;
        ledger.attempted.insert(name.clone());
        match client
            .create(
                &format!("{LEDGER}/{name}"),
                Vec::new(),
                CreateMode::Persistent,
            )
            .await
        {
            Ok(_) => {
                ledger.acked.insert(name);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let _ = client.close().await;
    ledger
}

impl Ledger {
    /// Every acknowledged create exists on every server (read after a `sync`), and nothing
    /// that was never attempted does.
    pub async fn check(&self, addrs: &[SocketAddr], seed: u64) {
        for (i, addr) in addrs.iter().enumerate() {
            let client = connect(&addr.to_string(), seed).await;
            client.sync(LEDGER).await.expect("sync the ledger");
            let (children, _) = client.get_children(LEDGER).await.expect("read the ledger");
            let _ = client.close().await;
            let present: BTreeSet<String> = children.into_iter().collect();
            let lost: Vec<_> = self.acked.difference(&present).collect();
            assert!(
                lost.is_empty(),
                "seed {seed}: server.{} lost {} acknowledged creates: {lost:?}",
                i + 1,
                lost.len()
            );
            let invented: Vec<_> = present.difference(&self.attempted).collect();
            assert!(
                invented.is_empty(),
                "seed {seed}: server.{} holds creates never issued: {invented:?}",
                i + 1
            );
        }
    }
}

/// Polls every server's status while a test runs, recording which servers served as leader in
/// which epoch.
pub struct LeaderWatch {
    task: JoinHandle<()>,
    seen: Arc<Mutex<BTreeMap<u64, BTreeSet<u64>>>>,
}

impl LeaderWatch {
    /// Starts polling `addrs` every 20 ms.
    pub fn start(addrs: Vec<SocketAddr>) -> LeaderWatch {
        let seen: Arc<Mutex<BTreeMap<u64, BTreeSet<u64>>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let polls = addrs
                    .iter()
                    .map(|a| try_status(*a, Duration::from_millis(500)));
                for st in futures::future::join_all(polls).await.into_iter().flatten() {
                    if st.serving && st.mode == "leader" {
                        if let Some(epoch) = st.epoch {
                            record
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .entry(epoch)
                                .or_default()
                                .insert(st.server_id);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        LeaderWatch { task, seen }
    }

    /// Stops polling; panics if two servers served as leader in one epoch. Returns the epochs
    /// with their leader.
    pub fn finish(self, seed: u64) -> BTreeMap<u64, u64> {
        self.task.abort();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (epoch, leaders) in &seen {
            assert!(
                leaders.len() == 1,
                "seed {seed}: servers {leaders:?} all served as leader in epoch {epoch}"
            );
        }
        seen.into_iter()
            .filter_map(|(e, l)| Some((e, *l.iter().next()?)))
            .collect()
    }
}

impl Drop for LeaderWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The zxid and tree digest of `addr`'s current state (`Admin/SaveSnapshot`'s first chunk).
async fn snapshot_info(addr: SocketAddr) -> Result<pb::SnapshotInfo, String> {
    let channel = try_channel(addr, STATUS_LIMIT).await?;
    let mut admin = pb::admin_client::AdminClient::new(channel);
    let call = async {
        let mut stream = admin
            .save_snapshot(pb::SaveSnapshotRequest::default())
            .await
            .map_err(|s| format!("SaveSnapshot {addr}: {s}"))?
            .into_inner();
        match stream.next().await {
            Some(Ok(chunk)) => chunk
                .info
                .ok_or_else(|| format!("SaveSnapshot {addr}: no info in the first chunk")),
            Some(Err(s)) => Err(format!("SaveSnapshot {addr}: {s}")),
            None => Err(format!("SaveSnapshot {addr}: empty stream")),
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(r) => r,
        Err(_) => Err(format!("SaveSnapshot {addr}: timed out")),
    }
}

/// Waits (30 s at most) until every server serves and all have applied the same last zxid,
/// then compares their trees' digests at that zxid: they must be equal. Returns the zxid.
pub async fn converged_digests(e: &LocalEnsemble, seed: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        let mut infos = Vec::new();
        for p in &e.peers {
            match snapshot_info(p.addr).await {
                Ok(i) => infos.push(i),
                Err(err) => {
                    last = err;
                    break;
                }
            }
        }
        if infos.len() == e.peers.len() {
            let zxid = infos[0].zxid;
            if infos.iter().all(|i| i.zxid == zxid) {
                let digests: Vec<u64> = infos.iter().map(|i| i.digest).collect();
                assert!(
                    digests.iter().all(|d| *d == digests[0]),
                    "seed {seed}: the servers' trees differ at zxid {zxid:#x}: digests {digests:x?}\n{}",
                    log_tails(&e.peers, 30)
                );
                return zxid;
            }
            last = format!(
                "zxids differ: {:x?}",
                infos.iter().map(|i| i.zxid).collect::<Vec<_>>()
            );
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the servers did not reach one zxid within 30 s: {last}\n{}",
            log_tails(&e.peers, 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
