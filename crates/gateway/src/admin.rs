//! `paddock.v1.Admin`: ZooKeeper's four-letter words over gRPC (see `proto/paddock/v1/admin.proto`).
//!
//! The server is reached through [`AdminSource`] (the node implements it), and every command's
//! text is built here by pure functions, byte for byte what ZooKeeper prints, so scripts written
//! for `echo srvr | nc` keep working on `paddock-cli srvr`. Commands not in the whitelist
//! (`4lw.commands.whitelist`, default `srvr`; `*` allows all) are refused with PERMISSION_DENIED.
//!
//! The source is synchronous and may take time (`cons` and `mntr` walk every session under its
//! lock), so each call asks it on tokio's blocking pool: it never stalls a runtime worker that
//! drives session streams, and the timeout layer around this service (`layers::unary`) can end
//! a call that takes too long.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use paddock_api::{ConnectionInfo, SessionDump, Status};
use paddock_proto::v1::admin_server::Admin;
use paddock_proto::v1::{
    CommandRequest, CommandResponse, GetStatusRequest, SaveSnapshotRequest, ServerStatus,
};
use paddock_types::{SessionId, Zxid};
use tonic::{Request, Response};

use crate::backup::{Backup, BackupCaller, BackupRefused, ChunkStream, Running};

/// ZooKeeper's text while the server does not serve.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// Every command this service knows.
pub const COMMANDS: &[&str] = &[
    "ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc", "wchp", "envi", "isro", "srst",
    "crst", "dirs", "dump", "hash", "gtmk", "stmk",
];

/// ZooKeeper's trace mask at start (`ZooTrace`: client requests, server packets, sessions,
/// warnings), what `gtmk` answers until `stmk` sets another.
pub const DEFAULT_TRACE_MASK: u64 = 0b1_0011_0010;

/// The server's role (ZooKeeper's `Mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Leader,
    Follower,
    Observer,
    /// An ensemble server that is electing or syncing (not serving clients).
    Looking,
    /// Serving reads only: its txn log cannot take writes now (a full disk, an I/O error);
    /// writes resume by themselves once it can. ZooKeeper's spelling for a read-only server.
    ReadOnly,
}

impl Mode {
    /// ZooKeeper's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::Looking => "looking",
            Mode::ReadOnly => "read-only",
        }
    }
}

/// What the node reports about itself. Ensemble fields are `None` on a standalone server.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub mode: Mode,
    pub server_id: u64,
    pub epoch: Option<u64>,
    pub leader_id: Option<u64>,
    pub synced_followers: Option<u32>,
    /// A leader's proposal sizes in bytes, `[last, min, max]` (`None` before its first
    /// proposal, and on any other server).
    pub proposal_sizes: Option<[u64; 3]>,
    /// Open file descriptors of the server process and their limit (`None` where unknown).
    pub file_descriptors: Option<(u64, u64)>,
    /// Milliseconds since the server started (`zk_uptime`).
    pub uptime_ms: u64,
    /// Voting members of the ensemble (`zk_quorum_size`; `None` on a standalone server).
    pub quorum_size: Option<u64>,
    /// The processor's counters (`serving` included).
    pub processor: Status,
}

/// The server as the admin service sees it.
pub trait AdminSource: Send + Sync + 'static {
    /// Status now.
    fn status(&self) -> NodeStatus;
    /// Attached client connections.
    fn connections(&self) -> Vec<ConnectionInfo>;
    /// Every watch as (session, path), sorted (`wchc`, `wchp`).
    fn watches(&self) -> Vec<(SessionId, String)>;
    /// Zeroes the request counters and latency (`srst`).
    fn reset_server_stats(&self);
    /// Zeroes each connection's counters (`crst`).
    fn reset_connection_stats(&self);
    /// Bytes on disk under the data dir and the txn-log dir (`dirs`).
    fn dir_sizes(&self) -> (u64, u64);
    /// A consistent copy of the tree for `SaveSnapshot`, if `caller` may have it (see
    /// `crate::backup`). Blocking. By default no backups (UNIMPLEMENTED).
    fn backup(&self, _caller: &BackupCaller) -> Result<Backup, BackupRefused> {
        Err(BackupRefused::Unsupported)
    }
    /// The open sessions with their expiry and ephemerals (`dump`).
    fn sessions(&self) -> Vec<SessionDump> {
        Vec::new()
    }
    /// The tree's digest now and the zxid it covers (`hash`; Paddock keeps no digest history,
    /// so this is the one entry ZooKeeper's digest log would end with). `None`: unknown.
    fn digest(&self) -> Option<(Zxid, u64)> {
        None
    }
}

/// Fixed facts the admin service reports.
#[derive(Clone, Debug, Default)]
pub struct AdminOptions {
    /// `4lw.commands.whitelist`: enabled words; `*` enables every word.
    pub whitelist: Vec<String>,
    /// `conf` lines, in order (`key`, `value`).
    pub conf: Vec<(String, String)>,
    /// Lines `conf` prints after those, as they are: an ensemble server's `membership: ` block.
    pub conf_tail: Vec<String>,
    /// `envi` lines, in order (`key`, `value`).
    pub environment: Vec<(String, String)>,
    /// The text after `Zookeeper version: `.
    pub version: String,
}

impl AdminOptions {
    /// Is `word` enabled?
    pub fn allows(&self, word: &str) -> bool {
        self.whitelist.iter().any(|w| w == "*" || w == word)
    }
}

/// The tonic service. Cheap to clone: clones share the source and the options.
#[derive(Clone)]
pub struct AdminService {
    source: Arc<dyn AdminSource>,
    opts: Arc<AdminOptions>,
    /// Set while a backup streams (one at a time).
    backup_running: Arc<AtomicBool>,
    /// The x509 super user's subject (the gateway's `x509_super_user`), for backup callers.
    x509_super_user: Option<String>,
    /// ZooKeeper's trace mask (`gtmk` / `stmk`): held for tools that set and read it; Paddock's
    /// logging is steered by `RUST_LOG`, not by this mask.
    trace_mask: Arc<AtomicU64>,
}

impl AdminService {
    pub fn new(source: Arc<dyn AdminSource>, opts: AdminOptions) -> AdminService {
        AdminService {
            source,
            opts: Arc::new(opts),
            backup_running: Arc::new(AtomicBool::new(false)),
            x509_super_user: None,
            trace_mask: Arc::new(AtomicU64::new(DEFAULT_TRACE_MASK)),
        }
    }

    /// The subject whose client certificate makes a backup caller the super user (set by
    /// `Gateway::with_admin` from its options).
    pub fn with_x509_super_user(mut self, subject: Option<String>) -> AdminService {
        self.x509_super_user = subject;
        self
    }

    /// The server the commands read (for the HTTP admin API, which answers the same commands
    /// as JSON).
    pub fn source(&self) -> &Arc<dyn AdminSource> {
        &self.source
    }

    /// The fixed facts (`conf`, `envi`, version, whitelist).
    pub fn options(&self) -> &AdminOptions {
        &self.opts
    }

    /// The trace mask (`gtmk`).
    pub fn trace_mask(&self) -> u64 {
        self.trace_mask.load(Ordering::Relaxed)
    }

    /// Sets the trace mask (`stmk`); returns it.
    pub fn set_trace_mask(&self, mask: u64) -> u64 {
        self.trace_mask.store(mask, Ordering::Relaxed);
        mask
    }

    /// Runs `f` on the blocking pool (see the module doc).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(AdminService) -> Result<T, tonic::Status> + Send + 'static,
    ) -> Result<T, tonic::Status> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .unwrap_or_else(|e| Err(tonic::Status::internal(format!("admin call failed: {e}"))))
    }

    /// `GetStatus`'s answer.
    fn server_status(&self) -> ServerStatus {
        let s = self.source.status();
        let p = &s.processor;
        let (min, avg, max) = p.latency_ms();
        ServerStatus {
            serving: p.serving,
            mode: s.mode.as_str().to_string(),
            server_id: s.server_id,
            last_zxid: p.last_zxid.0,
            epoch: s.epoch,
            leader_id: s.leader_id,
            synced_followers: s.synced_followers,
            latency_min_ms: min,
            latency_avg_ms: avg,
            latency_max_ms: max,
            packets_received: p.received,
            packets_sent: p.answered,
            connections: p.connections as u64,
            outstanding_requests: p.outstanding as u64,
            node_count: p.node_count as u64,
            watch_count: p.watch_count as u64,
            ephemerals_count: p.ephemerals_count as u64,
            approximate_data_size: p.approximate_data_size,
            session_count: p.session_count as u64,
            version: self.opts.version.clone(),
        }
    }

    /// Runs `word`: `Err` if unknown or not whitelisted. `stmk` takes its mask after a space
    /// (`stmk 306`; on the client port it is the 8 bytes after the word, as in ZooKeeper).
    pub fn run(&self, command: &str) -> Result<String, tonic::Status> {
        let mut parts = command.split_whitespace();
        let word = parts.next().unwrap_or("");
        let argument = parts.next();
        if !COMMANDS.contains(&word) {
            return Err(tonic::Status::invalid_argument(format!(
                "unknown admin command {word:?}; known: {}",
                COMMANDS.join(", ")
            )));
        }
        if !self.opts.allows(word) {
            return Err(tonic::Status::permission_denied(format!(
                "{word} is not executed because it is not in the whitelist \
                 (4lw.commands.whitelist={})",
                self.opts.whitelist.join(",")
            )));
        }
        let st = || self.source.status();
        Ok(match word {
            "ruok" => "imok".to_string(),
            "srvr" => srvr(&st(), &self.opts.version, None),
            "stat" => srvr(&st(), &self.opts.version, Some(&self.source.connections())),
            "mntr" => mntr(&st(), &self.opts.version),
            "conf" => conf(&st(), &self.opts.conf, &self.opts.conf_tail),
            "cons" => cons(&st(), &self.source.connections()),
            "wchs" => wchs(&st()),
            "envi" => envi(&self.opts.environment),
            "isro" => isro(&st()),
            "wchc" => watches_by(&st(), &self.source.watches(), false),
            "wchp" => watches_by(&st(), &self.source.watches(), true),
            "srst" => {
                self.source.reset_server_stats();
                "Server stats reset.\n".to_string()
            }
            "crst" => {
                self.source.reset_connection_stats();
                "Connection stats reset.\n".to_string()
            }
            "dirs" => {
                let (data, log) = self.source.dir_sizes();
                format!("datadir_size: {data}\nlogdir_size: {log}\n")
            }
            "dump" => dump(&st(), &self.source.sessions()),
            "hash" => hash(&st(), self.source.digest()),
            // A Java long, as ZooKeeper prints it.
            "gtmk" => (self.trace_mask() as i64).to_string(),
            "stmk" => {
                let mask = argument.and_then(parse_mask).ok_or_else(|| {
                    tonic::Status::invalid_argument(
                        "stmk needs the new mask: `stmk <number>` (decimal or 0x hex)",
                    )
                })?;
                (self.set_trace_mask(mask) as i64).to_string()
            }
            _ => unreachable!("checked against COMMANDS"),
        })
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    type SaveSnapshotStream = ChunkStream;

    async fn save_snapshot(
        &self,
        req: Request<SaveSnapshotRequest>,
    ) -> Result<Response<ChunkStream>, tonic::Status> {
        let certs = req.peer_certs();
        let cert = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        let peer =
            crate::session::PeerInfo::new(req.remote_addr(), cert, self.x509_super_user.as_deref());
        let digest = Some(req.into_inner().digest_auth).filter(|d| !d.is_empty());
        let caller = BackupCaller {
            conn_ids: peer.ids,
            digest,
        };
        let running = Running::take(&self.backup_running).ok_or_else(|| {
            tonic::Status::resource_exhausted("a backup of this server is already streaming")
        })?;
        let backup = self
            .blocking(move |this| this.source.backup(&caller).map_err(tonic::Status::from))
            .await?;
        Ok(Response::new(crate::backup::stream(backup, running)))
    }

    async fn get_status(
        &self,
        _req: Request<GetStatusRequest>,
    ) -> Result<Response<ServerStatus>, tonic::Status> {
        self.blocking(|this| Ok(this.server_status()))
            .await
            .map(Response::new)
    }

    async fn run_command(
        &self,
        req: Request<CommandRequest>,
    ) -> Result<Response<CommandResponse>, tonic::Status> {
        let word = req.into_inner().command;
        let output = self.blocking(move |this| this.run(word.trim())).await?;
        Ok(Response::new(CommandResponse { output }))
    }
}

/// Java's `Double.toString` for the values latency takes (plain decimal, at least one digit
/// after the point).
fn java_double(v: f64) -> String {
    format!("{v:?}")
}

/// `srvr` (`clients` = None) or `stat` (with the client list).
pub fn srvr(s: &NodeStatus, version: &str, clients: Option<&[ConnectionInfo]>) -> String {
    let p = &s.processor;
    if !p.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = format!("Zookeeper version: {version}\n");
    if let Some(clients) = clients {
        out.push_str("Clients:\n");
        for c in clients {
            connection(&mut out, c, true);
            out.push('\n');
        }
        out.push('\n');
    }
    let (min, avg, max) = p.latency_ms();
    let _ = writeln!(out, "Latency min/avg/max: {min}/{}/{max}", java_double(avg));
    let _ = writeln!(out, "Received: {}", p.received);
    let _ = writeln!(out, "Sent: {}", p.answered);
    let _ = writeln!(out, "Connections: {}", p.connections);
    let _ = writeln!(out, "Outstanding: {}", p.outstanding);
    let _ = writeln!(out, "Zxid: 0x{:x}", p.last_zxid.0);
    let _ = writeln!(out, "Mode: {}", s.mode.as_str());
    let _ = writeln!(out, "Node count: {}", p.node_count);
    if s.mode == Mode::Leader {
        let [last, min, max] = proposal_sizes(s);
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// A leader's proposal sizes as ZooKeeper prints them: -1 for each before the first proposal.
fn proposal_sizes(s: &NodeStatus) -> [i128; 3] {
    s.proposal_sizes.map_or([-1; 3], |v| v.map(i128::from))
}

/// ZooKeeper's `dumpConnectionInfo`: ` /addr[1](queued=..,recved=..,sent=..[,sid=0x..,..])`:
/// requests received on the connection, answers and watch events sent on it.
fn connection(out: &mut String, c: &ConnectionInfo, brief: bool) {
    let addr = if c.peer.starts_with('/') {
        c.peer.clone()
    } else {
        format!("/{}", c.peer)
    };
    let _ = write!(
        out,
        " {addr}[1](queued={},recved={},sent={}",
        c.queued, c.received, c.sent
    );
    if !brief {
        let _ = write!(out, ",sid=0x{:x},to={}", c.session.0, c.timeout_ms);
    }
    out.push(')');
}

/// `cons`.
pub fn cons(s: &NodeStatus, clients: &[ConnectionInfo]) -> String {
    if !s.processor.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = String::new();
    for c in clients {
        connection(&mut out, c, false);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `mntr`: `zk_<key>\t<value>` lines in ZooKeeper's order.
pub fn mntr(s: &NodeStatus, version: &str) -> String {
    if !s.processor.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = String::new();
    for (k, v) in mntr_rows(s, version) {
        let _ = writeln!(out, "zk_{k}\t{v}");
    }
    out
}

/// `mntr`'s (key, value) rows without the `zk_` prefix, in ZooKeeper's order (also the HTTP
/// admin API's `monitor`).
pub fn mntr_rows(s: &NodeStatus, version: &str) -> Vec<(&'static str, String)> {
    let p = &s.processor;
    let (min, avg, max) = p.latency_ms();
    let mut rows: Vec<(&str, String)> = vec![
        ("version", version.to_string()),
        ("avg_latency", java_double(avg)),
        ("max_latency", max.to_string()),
        ("min_latency", min.to_string()),
        ("packets_received", p.received.to_string()),
        ("packets_sent", p.answered.to_string()),
        ("num_alive_connections", p.connections.to_string()),
        ("outstanding_requests", p.outstanding.to_string()),
        ("server_state", s.mode.as_str().to_string()),
        ("znode_count", p.node_count.to_string()),
        ("watch_count", p.watch_count.to_string()),
        ("ephemerals_count", p.ephemerals_count.to_string()),
        ("approximate_data_size", p.approximate_data_size.to_string()),
    ];
    if let Some((open, max)) = s.file_descriptors {
        rows.push(("open_file_descriptor_count", open.to_string()));
        rows.push(("max_file_descriptor_count", max.to_string()));
    }
    rows.push(("global_sessions", p.session_count.to_string()));
    // As ZooKeeper 3.6+: 0 when local sessions are off.
    rows.push(("local_sessions", p.local_sessions.unwrap_or(0).to_string()));
    rows.push(("uptime", s.uptime_ms.to_string()));
    if let Some(state) = peer_state(s.mode) {
        rows.push(("peer_state", state.to_string()));
    }
    if let Some(n) = s.quorum_size {
        rows.push(("quorum_size", n.to_string()));
    }
    if let Some(n) = s.synced_followers {
        rows.push(("synced_followers", n.to_string()));
    }
    if s.mode == Mode::Leader {
        let [last, min, max] = proposal_sizes(s);
        rows.push(("last_proposal_size", last.to_string()));
        rows.push(("max_proposal_size", max.to_string()));
        rows.push(("min_proposal_size", min.to_string()));
    }
    rows
}

/// `stmk`'s mask: decimal (a Java long, so negative values too) or `0x` hex.
fn parse_mask(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text
            .parse::<u64>()
            .ok()
            .or_else(|| text.parse::<i64>().ok().map(|v| v as u64)),
    }
}

/// `dump`, as ZooKeeper prints it: the session tracker (a leader's or standalone server's
/// expiry sets, `Session Sets (<sets>)/(<sessions>):`, each set `<n> expire at <date>:` then a
/// tab-indented `0x<id>` per session; a learner's `Global Sessions(<n>):` with each timeout),
/// then the ephemerals by session, then `Connections dump:` (left empty, as ZooKeeper's Netty
/// connection factory leaves it). With local sessions on, ZooKeeper's upgradeable trackers
/// first print the local sessions' sets as `Local Session Sets ...`, then the global sessions
/// prefixed `Global ` (a leader's `Global Session Sets ...`, a learner's `Global Sessions(<n>):`).
pub fn dump(s: &NodeStatus, sessions: &[SessionDump]) -> String {
    if !s.processor.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = String::from("SessionTracker dump:\n");
    let (local, global): (Vec<&SessionDump>, Vec<&SessionDump>) =
        sessions.iter().partition(|d| d.local);
    let with_local = s.processor.local_sessions.is_some();
    if with_local {
        out.push_str("Local ");
        session_sets(&mut out, &local);
    }
    if matches!(s.mode, Mode::Follower | Mode::Observer) {
        let _ = writeln!(out, "Global Sessions({}):", global.len());
        for d in &global {
            let _ = writeln!(out, "0x{:x}\t{}ms", d.session.0, d.timeout_ms);
        }
    } else {
        if with_local {
            out.push_str("Global ");
        }
        session_sets(&mut out, &global);
    }
    out.push_str("ephemeral nodes dump:\n");
    let owners: Vec<&SessionDump> = sessions
        .iter()
        .filter(|d| !d.ephemerals.is_empty())
        .collect();
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", owners.len());
    for d in owners {
        let _ = writeln!(out, "0x{:x}:", d.session.0);
        for path in &d.ephemerals {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    out
}

/// ZooKeeper's expiry-queue dump: `Session Sets (<sets>)/(<sessions>):`, then each set
/// `<n> expire at <date>:` with a tab-indented `0x<id>` per session.
fn session_sets(out: &mut String, sessions: &[&SessionDump]) {
    use std::collections::BTreeMap;
    let mut sets: BTreeMap<u64, Vec<SessionId>> = BTreeMap::new();
    for d in sessions {
        if let Some(at) = d.expires_at_ms {
            sets.entry(at).or_default().push(d.session);
        }
    }
    let tracked: usize = sets.values().map(Vec::len).sum();
    let _ = writeln!(out, "Session Sets ({})/({tracked}):", sets.len());
    for (at, ids) in &sets {
        let _ = writeln!(out, "{} expire at {}:", ids.len(), java_date(*at));
        for id in ids {
            let _ = writeln!(out, "\t0x{:x}", id.0);
        }
    }
}

/// `hash`: `<zxid hex>: <digest>` per entry of the digest log, as ZooKeeper prints it; Paddock
/// has one entry, the digest now.
pub fn hash(s: &NodeStatus, digest: Option<(Zxid, u64)>) -> String {
    if !s.processor.serving {
        return NOT_SERVING.to_string();
    }
    match digest {
        Some((zxid, digest)) => format!("{:x}: {digest}\n", zxid.0),
        None => String::new(),
    }
}

/// Java's `Date.toString()` in UTC (`Sun Dec 06 06:20:00 UTC 2026`), for `dump`'s expiry times.
pub fn java_date(ms: u64) -> String {
    paddock_types::clock::java_date(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// ZooKeeper's `zk_peer_state` of a serving ensemble server (`mntr` is only answered while
/// serving, i.e. in the broadcast phase).
fn peer_state(mode: Mode) -> Option<&'static str> {
    match mode {
        Mode::Leader => Some("leading - broadcast"),
        Mode::Follower => Some("following - broadcast"),
        Mode::Observer => Some("observing - broadcast"),
        Mode::Standalone | Mode::Looking | Mode::ReadOnly => None,
    }
}

/// `conf`: key=value lines, then the raw `tail` lines.
fn conf(s: &NodeStatus, lines: &[(String, String)], tail: &[String]) -> String {
    if !s.processor.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k}={v}");
    }
    for line in tail {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// `envi`: always answers, like ZooKeeper.
pub fn envi(lines: &[(String, String)]) -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in lines {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

/// `wchs`: `N connections watching M paths` / `Total watches:K`.
pub fn wchs(s: &NodeStatus) -> String {
    let p = &s.processor;
    if !p.serving {
        return format!("{NOT_SERVING}\n");
    }
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        p.watching_sessions, p.watched_paths, p.watch_count
    )
}

/// `wchc` (by session: `0x<session>` then a tab-indented path per line) or `wchp` (`by_path`: each
/// path then a tab-indented `0x<session>` per line), then an empty line, as ZooKeeper's
/// `WatchManager.dumpWatches` (Paddock lists data, child and persistent watches in one table).
pub fn watches_by(s: &NodeStatus, watches: &[(SessionId, String)], by_path: bool) -> String {
    use std::collections::BTreeMap;
    if !s.processor.serving {
        return format!("{NOT_SERVING}\n");
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (session, path) in watches {
        let id = format!("0x{:x}", session.0);
        let (key, item) = if by_path {
            (path.clone(), id)
        } else {
            (id, path.clone())
        };
        groups.entry(key).or_default().push(item);
    }
    let mut out = String::new();
    for (key, items) in groups {
        let _ = writeln!(out, "{key}");
        for i in items {
            let _ = writeln!(out, "\t{i}");
        }
    }
    out.push('\n');
    out
}

/// `isro`: `rw`, `ro`, or `null` when not serving (no newline, like ZooKeeper).
pub fn isro(s: &NodeStatus) -> String {
    match (s.processor.serving, s.mode) {
        (false, _) => "null",
        (true, Mode::ReadOnly) => "ro",
        (true, _) => "rw",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::{SessionId, Zxid};

    fn status(serving: bool) -> NodeStatus {
        NodeStatus {
            mode: Mode::Standalone,
            server_id: 1,
            epoch: None,
            leader_id: None,
            synced_followers: None,
            proposal_sizes: None,
            file_descriptors: Some((44, 20000)),
            uptime_ms: 731,
            quorum_size: None,
            processor: Status {
                serving,
                writes_refused: None,
                last_zxid: Zxid(0x1_0000_002a),
                node_count: 5,
                watch_count: 3,
                session_count: 1,
                local_sessions: None,
                approximate_data_size: 40,
                outstanding: 0,
                received: 12,
                answered: 11,
                connections: 1,
                ephemerals_count: 0,
                watching_sessions: 1,
                watched_paths: 2,
                latency_min_us: 200,
                latency_total_us: 6000,
                // 3.9 ms: max rounds up to 4, min (0.2 ms) down to 0.
                latency_max_us: 3900,
                latency_count: 4,
            },
        }
    }

    #[test]
    fn srvr_is_zookeepers_block() {
        assert_eq!(
            srvr(&status(true), "paddock-0.1.0", None),
            "Zookeeper version: paddock-0.1.0\nLatency min/avg/max: 0/1.5/4\nReceived: 12\n\
             Sent: 11\nConnections: 1\nOutstanding: 0\nZxid: 0x10000002a\nMode: standalone\n\
             Node count: 5\n"
        );
        assert_eq!(srvr(&status(false), "v", None), format!("{NOT_SERVING}\n"));
    }

    #[test]
    fn a_leader_adds_its_proposal_sizes() {
        let mut s = status(true);
        s.mode = Mode::Leader;
        s.synced_followers = Some(2);
        let out = srvr(&s, "v", None);
        assert!(
            out.ends_with("Mode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n"),
            "{out}"
        );
        s.proposal_sizes = Some([120, 36, 4096]);
        let out = srvr(&s, "v", None);
        assert!(
            out.ends_with("\nProposal sizes last/min/max: 120/36/4096\n"),
            "{out}"
        );
        s.quorum_size = Some(3);
        let m = mntr(&s, "v");
        assert!(
            m.ends_with(
                "zk_uptime\t731\nzk_peer_state\tleading - broadcast\nzk_quorum_size\t3\n\
                 zk_synced_followers\t2\nzk_last_proposal_size\t120\n\
                 zk_max_proposal_size\t4096\nzk_min_proposal_size\t36\n"
            ),
            "{m}"
        );
        // Not a leader: neither line.
        s.mode = Mode::Follower;
        assert!(!srvr(&s, "v", None).contains("Proposal sizes"));
        assert!(!mntr(&s, "v").contains("proposal_size"));
    }

    #[test]
    fn stat_lists_clients_like_dump_connection_info() {
        let c = ConnectionInfo {
            peer: "127.0.0.1:5000".into(),
            session: SessionId(0x10a),
            timeout_ms: 4000,
            queued: 2,
            received: 7,
            sent: 6,
        };
        let out = srvr(&status(true), "v", Some(std::slice::from_ref(&c)));
        assert!(out.starts_with(
            "Zookeeper version: v\nClients:\n /127.0.0.1:5000[1](queued=2,recved=7,sent=6)\n\n\
             Latency min/avg/max: "
        ));
        assert_eq!(
            cons(&status(true), &[c]),
            " /127.0.0.1:5000[1](queued=2,recved=7,sent=6,sid=0x10a,to=4000)\n\n"
        );
    }

    #[test]
    fn dump_lists_expiry_sets_and_ephemerals_like_zookeeper() {
        let at = 1_796_537_600_000; // Sun Dec 06 06:13:20 UTC 2026
        assert_eq!(java_date(at), "Sun Dec 06 06:13:20 UTC 2026");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        let sessions = [
            SessionDump {
                session: SessionId(0x10a),
                timeout_ms: 4000,
                expires_at_ms: Some(at),
                ephemerals: vec!["/e1".into(), "/e2".into()],
                local: false,
            },
            SessionDump {
                session: SessionId(0x10b),
                timeout_ms: 6000,
                expires_at_ms: Some(at),
                ephemerals: vec![],
                local: false,
            },
        ];
        assert_eq!(
            dump(&status(true), &sessions),
            "SessionTracker dump:\nSession Sets (1)/(2):\n\
             2 expire at Sun Dec 06 06:13:20 UTC 2026:\n\t0x10a\n\t0x10b\n\
             ephemeral nodes dump:\nSessions with Ephemerals (1):\n0x10a:\n\t/e1\n\t/e2\n\
             Connections dump:\n"
        );
        let follower = NodeStatus {
            mode: Mode::Follower,
            ..status(true)
        };
        assert!(dump(&follower, &sessions).starts_with(
            "SessionTracker dump:\nGlobal Sessions(2):\n0x10a\t4000ms\n0x10b\t6000ms\n"
        ));
        assert_eq!(dump(&status(false), &sessions), format!("{NOT_SERVING}\n"));
        assert_eq!(
            hash(&status(true), Some((Zxid(0x1_0000_002a), 77))),
            "10000002a: 77\n"
        );
    }

    #[test]
    fn dump_with_local_sessions_is_zookeepers_upgradeable_tracker_dump() {
        let at = 1_796_537_600_000; // Sun Dec 06 06:13:20 UTC 2026
        let one = |id, local, ephemerals: Vec<String>| SessionDump {
            session: SessionId(id),
            timeout_ms: 4000,
            expires_at_ms: Some(at),
            ephemerals,
            local,
        };
        let sessions = [
            one(0x10a, false, vec!["/e".into()]),
            one(0x10b, true, vec![]),
        ];
        let mut leader = status(true);
        leader.mode = Mode::Leader;
        leader.processor.local_sessions = Some(1);
        assert_eq!(
            dump(&leader, &sessions),
            "SessionTracker dump:\nLocal Session Sets (1)/(1):\n\
             1 expire at Sun Dec 06 06:13:20 UTC 2026:\n\t0x10b\n\
             Global Session Sets (1)/(1):\n\
             1 expire at Sun Dec 06 06:13:20 UTC 2026:\n\t0x10a\n\
             ephemeral nodes dump:\nSessions with Ephemerals (1):\n0x10a:\n\t/e\n\
             Connections dump:\n"
        );
        let follower = NodeStatus {
            mode: Mode::Follower,
            ..leader.clone()
        };
        assert!(dump(&follower, &sessions).starts_with(
            "SessionTracker dump:\nLocal Session Sets (1)/(1):\n\
             1 expire at Sun Dec 06 06:13:20 UTC 2026:\n\t0x10b\n\
             Global Sessions(1):\n0x10a\t4000ms\n"
        ));
        let rows = mntr_rows(&leader, "v");
        assert!(rows.contains(&("global_sessions", "1".to_string())));
        assert!(rows.contains(&("local_sessions", "1".to_string())));
    }

    #[test]
    fn trace_mask_is_zookeepers_default_until_set() {
        struct Nothing;
        impl AdminSource for Nothing {
            fn status(&self) -> NodeStatus {
                super::tests::status(true)
            }
            fn connections(&self) -> Vec<ConnectionInfo> {
                Vec::new()
            }
            fn watches(&self) -> Vec<(SessionId, String)> {
                Vec::new()
            }
            fn reset_server_stats(&self) {}
            fn reset_connection_stats(&self) {}
            fn dir_sizes(&self) -> (u64, u64) {
                (0, 0)
            }
        }
        let svc = AdminService::new(
            Arc::new(Nothing),
            AdminOptions {
                whitelist: vec!["*".into()],
                ..AdminOptions::default()
            },
        );
        assert_eq!(svc.run("gtmk").expect("gtmk"), "306");
        assert_eq!(svc.run("stmk 0x10").expect("stmk"), "16");
        assert_eq!(svc.run("gtmk").expect("gtmk"), "16");
        assert_eq!(svc.run("stmk -1").expect("stmk"), "-1");
        assert_eq!(
            svc.run("stmk").expect_err("no mask").code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(svc.run("hash").expect("hash"), "");
        assert!(svc
            .run("dump")
            .expect("dump")
            .starts_with("SessionTracker dump:\n"));
    }

    #[test]
    fn mntr_wchs_isro() {
        let m = mntr(&status(true), "v");
        assert!(m.starts_with("zk_version\tv\nzk_avg_latency\t1.5\nzk_max_latency\t4\n"));
        assert!(m.contains("zk_server_state\tstandalone\n"));
        assert_eq!(
            wchs(&status(true)),
            "1 connections watching 2 paths\nTotal watches:3\n"
        );
        assert_eq!(isro(&status(true)), "rw");
        assert_eq!(isro(&status(false)), "null");
        let read_only = NodeStatus {
            mode: Mode::ReadOnly,
            ..status(true)
        };
        assert_eq!(isro(&read_only), "ro");
        assert!(srvr(&read_only, "v", None).contains("Mode: read-only\n"));
        let opts = AdminOptions {
            whitelist: vec!["srvr".into()],
            ..AdminOptions::default()
        };
        assert!(opts.allows("srvr") && !opts.allows("mntr"));
    }
}
