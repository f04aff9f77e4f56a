//! The simulated network and disks' instrumentation: the trace of one run, the network weather
//! (delays on ZAB streams; loss, duplication, delay and so reordering of election
//! notifications), all drawn from the run's seed, and a txn log that records its writes.
//!
//! ZAB streams stay FIFO and lossless while connected (they are TCP streams in the server): a
//! delay holds a server's next incoming event, so a stream's messages keep their order while
//! different streams interleave differently. A "loss" on a stream is a cut, which closes it.
//! Election notifications are best effort (FLE resends), so they may be dropped, duplicated and
//! delayed independently, which reorders them.

use bytes::Bytes;
use paddock_election::{ElectionTransport, Notification};
use paddock_quorum::peer::election_net::MemElectionTransport;
use paddock_quorum::sim::Rng;
use paddock_quorum::transport::mem::MemPeerTransport;
use paddock_quorum::transport::{PeerEvent, PeerTransport, TransportError};
use paddock_quorum::PeerMessage;
use paddock_storage::mem::MemTxnLog;
use paddock_storage::{StorageError, TxnLog};
use paddock_types::{ServerId, Zxid};
use std::fmt::{Debug, Display};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Longest rendering of one message in the trace (snapshots carry a whole tree).
const MESSAGE_CHARS_MAX: usize = 96;

/// The events of one run, stamped with virtual time; `None` inside when not traced (then
/// recording costs nothing). Cloning shares it.
#[derive(Clone)]
pub struct Trace {
    start: Instant,
    events: Option<Arc<Mutex<Vec<String>>>>,
}

impl Trace {
    pub fn new(on: bool) -> Trace {
        Trace {
            start: Instant::now(),
            events: on.then(Arc::default),
        }
    }

    pub fn on(&self) -> bool {
        self.events.is_some()
    }

    /// `who` (a server id; 0 for the schedule, 100+k for client k) did or saw `what`.
    pub fn record(&self, who: u64, what: impl Display) {
        if let Some(events) = &self.events {
            let at = self.start.elapsed().as_micros();
            let line = format!("{at:>10}us n{who} {what}");
            events.lock().expect("trace lock").push(line);
        }
    }

    pub fn events(&self) -> Vec<String> {
        self.events
            .as_ref()
            .map(|e| e.lock().expect("trace lock").clone())
            .unwrap_or_default()
    }
}

/// `None` if equal; otherwise where two traces part, with context.
pub fn first_difference(a: &[String], b: &[String]) -> Option<String> {
    let k = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if k == a.len() && k == b.len() {
        return None;
    }
    let context = |t: &[String]| t[k.saturating_sub(5)..(k + 5).min(t.len())].join("\n    ");
    Some(format!(
        "the traces part at event {k} of {} / {}:\n  first run:\n    {}\n  second run:\n    {}",
        a.len(),
        b.len(),
        context(a),
        context(b)
    ))
}

pub fn brief(what: &impl Debug) -> String {
    let mut s = format!("{what:?}");
    if s.len() > MESSAGE_CHARS_MAX {
        let mut end = MESSAGE_CHARS_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// The network's weather now (set by the schedule's `Weather` steps) and the random source
/// of its effects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Weather {
    /// Largest delay of an event arriving on a server's ZAB endpoint, ms.
    pub stream_delay_ms_max: u64,
    /// Chance (percent) that an election notification is lost.
    pub vote_loss_pct: u64,
    /// Chance (percent) that one is delivered twice.
    pub vote_dup_pct: u64,
    /// Largest delay of a notification, ms (independent per notification: they reorder).
    pub vote_delay_ms_max: u64,
}

/// The weather shared by every endpoint, with the seeded generator of its effects.
pub struct NetFaults {
    state: Mutex<(Weather, Rng)>,
}

impl NetFaults {
    pub fn new(seed: u64) -> Arc<NetFaults> {
        Arc::new(NetFaults {
            state: Mutex::new((Weather::default(), Rng::new(seed ^ 0x6e65_7477))),
        })
    }

    pub fn set(&self, w: Weather) {
        self.lock().0 = w;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Weather, Rng)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn below(rng: &mut Rng, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            rng.below(n as usize) as u64
        }
    }

    fn stream_delay(&self) -> Duration {
        let mut g = self.lock();
        let max = g.0.stream_delay_ms_max;
        // Most events arrive at once; some wait.
        if max == 0 || Self::below(&mut g.1, 4) != 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(Self::below(&mut g.1, max + 1))
    }

    /// The delays of the copies of one notification (none: lost).
    fn vote_fate(&self) -> Vec<Duration> {
        let mut g = self.lock();
        let w = g.0;
        if Self::below(&mut g.1, 100) < w.vote_loss_pct {
            return Vec::new();
        }
        let copies = if Self::below(&mut g.1, 100) < w.vote_dup_pct {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| Duration::from_millis(Self::below(&mut g.1, w.vote_delay_ms_max + 1)))
            .collect()
    }
}

/// A server's ZAB endpoint under the weather, traced.
pub struct SimPeer {
    pub inner: MemPeerTransport,
    pub me: u64,
    pub faults: Arc<NetFaults>,
    pub trace: Trace,
    /// An event taken from the network and held until its delay passed. Kept across a
    /// cancelled `recv` (the driver selects over it), so nothing is lost or reordered.
    pub held: tokio::sync::Mutex<Option<(Instant, PeerEvent)>>,
}

impl SimPeer {
    pub fn new(inner: MemPeerTransport, me: u64, faults: Arc<NetFaults>, trace: Trace) -> Self {
        SimPeer {
            inner,
            me,
            faults,
            trace,
            held: tokio::sync::Mutex::new(None),
        }
    }
}

fn outcome<T>(r: &Result<T, TransportError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(_) => "dropped",
    }
}

impl PeerTransport for SimPeer {
    fn me(&self) -> ServerId {
        self.inner.me()
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        let r = self.inner.connect(to).await;
        self.trace
            .record(self.me, format_args!("connect {to}: {}", outcome(&r)));
        r
    }

    async fn send(&self, to: ServerId, message: PeerMessage) -> Result<(), TransportError> {
        let line = self.trace.on().then(|| brief(&message));
        let r = self.inner.send(to, message).await;
        if let Some(line) = line {
            self.trace
                .record(self.me, format_args!("send {to} {line}: {}", outcome(&r)));
        }
        r
    }

    async fn send_batch(
        &self,
        to: ServerId,
        messages: Vec<PeerMessage>,
    ) -> Result<(), TransportError> {
        let line = self
            .trace
            .on()
            .then(|| messages.iter().map(brief).collect::<Vec<_>>().join(", "));
        let r = self.inner.send_batch(to, messages).await;
        if let Some(line) = line {
            self.trace
                .record(self.me, format_args!("send {to} [{line}]: {}", outcome(&r)));
        }
        r
    }

    async fn recv(&self) -> Option<PeerEvent> {
        let mut held = self.held.lock().await;
        let at = match &*held {
            Some((at, _)) => *at,
            None => {
                let ev = self.inner.recv().await?;
                let at = Instant::now() + self.faults.stream_delay();
                *held = Some((at, ev));
                at
            }
        };
        tokio::time::sleep_until(at).await;
        let (_, ev) = held.take()?;
        if self.trace.on() {
            self.trace
                .record(self.me, format_args!("recv {}", brief(&ev)));
        }
        Some(ev)
    }

    async fn disconnect(&self, peer: ServerId) {
        self.trace
            .record(self.me, format_args!("disconnect {peer}"));
        self.inner.disconnect(peer).await
    }
}

/// A server's election endpoint under the weather, traced.
pub struct SimElection {
    pub inner: MemElectionTransport,
    pub me: u64,
    pub faults: Arc<NetFaults>,
    pub trace: Trace,
    /// Notifications arrived and waiting for their delay: (due, arrival number, from, it).
    pub pending: Vec<(Instant, u64, ServerId, Notification)>,
    pub arrivals: u64,
}

impl SimElection {
    pub fn new(inner: MemElectionTransport, me: u64, faults: Arc<NetFaults>, trace: Trace) -> Self {
        SimElection {
            inner,
            me,
            faults,
            trace,
            pending: Vec::new(),
            arrivals: 0,
        }
    }
}

impl ElectionTransport for SimElection {
    fn send(&mut self, to: ServerId, n: Notification) {
        if self.trace.on() {
            let what = format!(
                "vote to {to}: {:?} round {} {:?}",
                n.sender_state, n.round, n.vote
            );
            self.trace.record(self.me, what);
        }
        self.inner.send(to, n)
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        let now = Instant::now();
        while let Some((from, n)) = self.inner.try_recv() {
            for delay in self.faults.vote_fate() {
                self.arrivals += 1;
                self.pending.push((now + delay, self.arrivals, from, n));
            }
        }
        let k = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.0 <= now)
            .min_by_key(|(_, p)| (p.0, p.1))
            .map(|(k, _)| k)?;
        let (_, _, from, n) = self.pending.remove(k);
        if self.trace.on() {
            let what = format!(
                "vote from {from}: {:?} round {} {:?}",
                n.sender_state, n.round, n.vote
            );
            self.trace.record(self.me, what);
        }
        Some((from, n))
    }
}

/// A txn log that records its writes in the trace and passes everything to a [`MemTxnLog`]
/// (which the simulator crashes, tears and fails).
pub struct SimLog {
    pub inner: Arc<MemTxnLog>,
    pub me: u64,
    pub trace: Trace,
}

impl TxnLog for SimLog {
    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
        let r = self.inner.append(records);
        if self.trace.on() {
            let zxids: Vec<Zxid> = records.iter().map(|r| r.0).collect();
            self.trace
                .record(self.me, format_args!("log append {zxids:?}: {}", r.is_ok()));
        }
        r
    }

    fn sync(&self) -> Result<(), StorageError> {
        let r = self.inner.sync();
        self.trace
            .record(self.me, format_args!("log sync: {}", r.is_ok()));
        r
    }

    fn simulated_sync_time(&self) -> Duration {
        self.inner.simulated_sync_time()
    }

    fn last_logged_zxid(&self) -> Zxid {
        self.inner.last_logged_zxid()
    }

    fn last_durable_zxid(&self) -> Zxid {
        self.inner.last_durable_zxid()
    }

    fn first_zxid(&self) -> Option<Zxid> {
        self.inner.first_zxid()
    }

    fn read_after(&self, after: Zxid, limit: usize) -> Result<Vec<(Zxid, Bytes)>, StorageError> {
        self.inner.read_after(after, limit)
    }

    fn truncate_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.trace
            .record(self.me, format_args!("log truncate after {zxid}"));
        self.inner.truncate_after(zxid)
    }

    fn reset_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.trace
            .record(self.me, format_args!("log reset after {zxid}"));
        self.inner.reset_after(zxid)
    }

    fn recover(&self) -> Result<(), StorageError> {
        let r = self.inner.recover();
        self.trace
            .record(self.me, format_args!("log recover: {}", r.is_ok()));
        r
    }

    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.trace
            .record(self.me, format_args!("log purge through {zxid}"));
        self.inner.purge_through(zxid)
    }
}
