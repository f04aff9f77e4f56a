//! The event trace of one fault-schedule run: every protocol-relevant event, in the order the
//! (single-threaded, paused-clock) runtime produced it, stamped with virtual time — messages
//! sent (or dropped: the stream was down), events received, election notifications sent and
//! received, log appends / syncs / truncations, applies, role changes, client outcomes and the
//! schedule's steps.
//!
//! Two runs of one seed must record the same trace: the driver's `select!` is `biased`, the log
//! writer and the blocking storage work run inline (`WriterMode::Inline`), and nothing in the
//! peer draws randomness or reads the wall clock for a decision. Any source of nondeterminism
//! (an unbiased select, a random delay, a `HashMap` iterated for a decision, work on another
//! thread) shows up as a difference, and [`first_difference`] says where.

use bytes::Bytes;
use paddock_election::{ElectionTransport, Notification};
use paddock_quorum::peer::election_net::MemElectionTransport;
use paddock_quorum::transport::mem::MemPeerTransport;
use paddock_quorum::transport::{PeerEvent, PeerTransport, TransportError};
use paddock_quorum::PeerMessage;
use paddock_storage::mem::MemTxnLog;
use paddock_storage::{StorageError, TxnLog};
use paddock_types::{ServerId, Zxid};
use std::fmt::{Debug, Display};
use std::sync::{Arc, Mutex};

/// Longest rendering of one message (snapshots carry the whole state).
const MESSAGE_CHARS_MAX: usize = 96;

/// A shared, append-only list of events. Cloning shares it.
#[derive(Clone)]
pub struct Trace {
    /// Virtual time zero (the runtime's clock is paused: the stamps are deterministic).
    start: tokio::time::Instant,
    events: Arc<Mutex<Vec<String>>>,
}

impl Trace {
    /// A trace starting now (call inside the runtime whose clock stamps it).
    pub fn new() -> Trace {
        Trace {
            start: tokio::time::Instant::now(),
            events: Arc::default(),
        }
    }

    /// Records that `who` (a node id, 0 for the test itself) did or saw `what`.
    pub fn record(&self, who: u64, what: impl Display) {
        let at = self.start.elapsed().as_micros();
        let line = format!("{at:>9}us n{who} {what}");
        self.events.lock().unwrap().push(line);
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// The last `n` events.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let events = self.events.lock().unwrap();
        events[events.len().saturating_sub(n)..].to_vec()
    }
}

/// `None` if `a` and `b` are equal; otherwise where they part, with a few events of context.
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

fn brief(what: &impl Debug) -> String {
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

fn outcome<T>(r: &Result<T, TransportError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(_) => "dropped",
    }
}

/// A ZAB endpoint that records what passes through it.
pub struct TracedPeer {
    pub inner: MemPeerTransport,
    pub me: u64,
    pub trace: Option<Trace>,
}

impl TracedPeer {
    fn record(&self, what: impl Display) {
        if let Some(t) = &self.trace {
            t.record(self.me, what);
        }
    }
}

impl PeerTransport for TracedPeer {
    fn me(&self) -> ServerId {
        self.inner.me()
    }

    async fn connect(&self, to: ServerId) -> Result<(), TransportError> {
        let r = self.inner.connect(to).await;
        self.record(format_args!("connect {to}: {}", outcome(&r)));
        r
    }

    async fn send(&self, to: ServerId, message: PeerMessage) -> Result<(), TransportError> {
        let line = format!("send {to} {}", brief(&message));
        let r = self.inner.send(to, message).await;
        self.record(format_args!("{line}: {}", outcome(&r)));
        r
    }

    async fn send_batch(
        &self,
        to: ServerId,
        messages: Vec<PeerMessage>,
    ) -> Result<(), TransportError> {
        let line = if self.trace.is_some() {
            let all: Vec<String> = messages.iter().map(brief).collect();
            format!("send {to} [{}]", all.join(", "))
        } else {
            String::new()
        };
        let r = self.inner.send_batch(to, messages).await;
        self.record(format_args!("{line}: {}", outcome(&r)));
        r
    }

    async fn recv(&self) -> Option<PeerEvent> {
        let ev = self.inner.recv().await;
        if let Some(ev) = &ev {
            self.record(format_args!("recv {}", brief(ev)));
        }
        ev
    }

    async fn disconnect(&self, peer: ServerId) {
        self.record(format_args!("disconnect {peer}"));
        self.inner.disconnect(peer).await
    }
}

/// An election endpoint that records what it sends and receives.
pub struct TracedElection {
    pub inner: MemElectionTransport,
    pub me: u64,
    pub trace: Option<Trace>,
}

impl ElectionTransport for TracedElection {
    fn send(&mut self, to: ServerId, n: Notification) {
        if let Some(t) = &self.trace {
            let what = format!(
                "vote to {to}: {:?} round {} {:?}",
                n.sender_state, n.round, n.vote
            );
            t.record(self.me, what);
        }
        self.inner.send(to, n)
    }

    fn try_recv(&mut self) -> Option<(ServerId, Notification)> {
        let got = self.inner.try_recv();
        if let (Some(t), Some((from, n))) = (&self.trace, &got) {
            let what = format!(
                "vote from {from}: {:?} round {} {:?}",
                n.sender_state, n.round, n.vote
            );
            t.record(self.me, what);
        }
        got
    }
}

/// A transaction log that records its writes (the log writer's group commits, truncations,
/// snapshot resets) and passes everything to a [`MemTxnLog`].
pub struct TracedLog {
    pub inner: Arc<MemTxnLog>,
    pub me: u64,
    pub trace: Option<Trace>,
}

impl TracedLog {
    fn record(&self, what: impl Display) {
        if let Some(t) = &self.trace {
            t.record(self.me, what);
        }
    }
}

impl TxnLog for TracedLog {
    fn append(&self, records: &[(Zxid, Bytes)]) -> Result<(), StorageError> {
        let zxids: Vec<Zxid> = records.iter().map(|r| r.0).collect();
        self.record(format_args!("log append {zxids:?}"));
        self.inner.append(records)
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.record("log sync");
        self.inner.sync()
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
        self.record(format_args!("log truncate after {zxid}"));
        self.inner.truncate_after(zxid)
    }

    fn reset_after(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.record(format_args!("log reset after {zxid}"));
        self.inner.reset_after(zxid)
    }

    fn recover(&self) -> Result<(), StorageError> {
        self.inner.recover()
    }

    fn purge_through(&self, zxid: Zxid) -> Result<(), StorageError> {
        self.record(format_args!("log purge through {zxid}"));
        self.inner.purge_through(zxid)
    }
}
