//! One bench session's loop, whatever the protocol ([`session_loop`], used by paddock-bench and
//! paddock-bench-zk), its send schedule under `--rate` ([`Pacer`]), and the run's figures from
//! all sessions ([`merge`]).
//!
//! The total rate is split evenly over the sessions; session i of n sends every n / rate
//! seconds, starting i / n of an interval after the start, so the sessions' sends interleave
//! instead of arriving together. A session that falls behind (its requests in flight at
//! --pipeline, or a slow answer) sends the overdue requests as soon as it can: the schedule does
//! not slip, so the rate over the run stays the one asked for whenever the server keeps up.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::args::Config;
use crate::session::SessionError;
use crate::stats::{LostSession, Recorder};
use crate::workload::OpKind;

/// One session's schedule.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    /// The schedule of session `index` of `sessions` sharing `rate` requests per second in all
    /// (positive, as `Args::validate` checks), starting at `start`.
    pub fn new(rate: f64, sessions: usize, index: usize, start: Instant) -> Pacer {
        let sessions = sessions.max(1) as f64;
        let interval = Duration::from_secs_f64(sessions / rate);
        let phase = interval.mul_f64((index as f64 % sessions) / sessions);
        Pacer {
            interval,
            next: start + phase,
        }
    }

    /// When the next request is due.
    pub fn next_at(&self) -> Instant {
        self.next
    }

    /// Whether the next request is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// The next request was sent: move to the one after.
    pub fn advance(&mut self) {
        self.next += self.interval;
    }
}

/// What a session loop does after [`wait`].
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// A request in flight was answered.
    Answer(T),
    /// The next scheduled send is due.
    Send,
    /// Nothing in flight and nothing scheduled: the loop is over.
    Done,
}

/// Waits for the next answer of `in_flight`, or until `next_send` (the schedule's next send when
/// the session may send one; `None` in a closed loop or while the session is at its limit).
pub async fn wait<F: Future>(
    in_flight: &mut FuturesUnordered<F>,
    next_send: Option<Instant>,
) -> Next<F::Output> {
    let answer = |a: Option<F::Output>| a.map_or(Next::Done, Next::Answer);
    match next_send.map(tokio::time::Instant::from_std) {
        Some(at) if in_flight.is_empty() => {
            tokio::time::sleep_until(at).await;
            Next::Send
        }
        Some(at) => tokio::select! {
            a = in_flight.next() => answer(a),
            () = tokio::time::sleep_until(at) => Next::Send,
        },
        None => answer(in_flight.next().await),
    }
}

/// How one request ended, as a session loop counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answered {
    Ok,
    /// A ZooKeeper error answer (NoNode, BadVersion, ...): counted, the session goes on.
    Failed(i32),
    /// The session is unusable: this request and every one in flight are lost with it.
    Lost(SessionError),
}

/// What a session loop measured.
#[derive(Debug)]
pub struct LoopEnd {
    pub recorder: Recorder,
    /// When its last answer arrived.
    pub finished: Instant,
    pub lost: Option<SessionError>,
}

/// One bench session's loop, whatever the protocol: keeps up to `pipeline` requests made by
/// `send` in flight (on `pacer`'s schedule under `--rate`, else as fast as answers come) while
/// `more(sent)` holds, records every answer into `recorder` (made before the run started), and
/// stops early when the session is lost.
/// `on_answer(answer, still_in_flight)` sees every answer first (progress counters).
pub async fn session_loop<Fut>(
    start: Instant,
    mut recorder: Recorder,
    pipeline: usize,
    mut pacer: Option<Pacer>,
    mut more: impl FnMut(u64) -> bool,
    mut send: impl FnMut() -> Fut,
    mut on_answer: impl FnMut(&Answered, u64),
) -> LoopEnd
where
    Fut: Future<Output = (OpKind, Instant, Answered)>,
{
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0u64;
    let mut finished = start;
    let mut lost = None;
    loop {
        while in_flight.len() < pipeline
            && more(sent)
            && pacer.as_ref().is_none_or(|p| p.due(Instant::now()))
        {
            in_flight.push(send());
            sent += 1;
            if let Some(p) = pacer.as_mut() {
                p.advance();
            }
        }
        // Open loop: wake for the next scheduled send as well as for answers.
        let next_send = pacer
            .as_ref()
            .filter(|_| in_flight.len() < pipeline && more(sent))
            .map(Pacer::next_at);
        let (kind, at, answered) = match wait(&mut in_flight, next_send).await {
            Next::Answer(a) => a,
            Next::Send => continue,
            Next::Done => break,
        };
        let now = Instant::now();
        finished = now;
        on_answer(&answered, in_flight.len() as u64);
        match answered {
            Answered::Ok => recorder.record(kind, now - at),
            Answered::Failed(code) => recorder.error(code, 1),
            Answered::Lost(e) => {
                recorder.error(e.code, in_flight.len() as u64 + 1);
                lost = Some(e);
                break;
            }
        }
    }
    LoopEnd {
        recorder,
        finished,
        lost,
    }
}

/// The run's figures from every session's [`LoopEnd`] (with its session index): the merged
/// recorder, the time from `start` to the last answer, and the lost sessions in index order.
pub fn merge(
    cfg: &Config,
    start: Instant,
    mut ends: Vec<(usize, LoopEnd)>,
) -> (Duration, Recorder, Vec<LostSession>) {
    ends.sort_by_key(|(index, _)| *index);
    let mut recorder = Recorder::default();
    let mut lost = Vec::new();
    let mut last = start;
    for (index, end) in ends {
        recorder.merge(&end.recorder);
        last = last.max(end.finished);
        if let Some(error) = end.lost {
            lost.push(LostSession {
                index,
                server: cfg.server_of(index).to_string(),
                error,
            });
        }
    }
    (last - start, recorder, lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_share_the_rate_and_interleave() {
        let start = Instant::now();
        // 1000/s over 4 sessions: each sends every 4 ms, session i first at i ms.
        let mut p = Pacer::new(1000.0, 4, 2, start);
        assert_eq!(p.next_at(), start + Duration::from_millis(2));
        assert!(!p.due(start + Duration::from_millis(1)));
        assert!(p.due(start + Duration::from_millis(2)));
        p.advance();
        assert_eq!(p.next_at(), start + Duration::from_millis(6));
        let first = Pacer::new(1000.0, 4, 0, start);
        assert_eq!(first.next_at(), start);
    }

    #[tokio::test]
    async fn wait_returns_answers_then_the_due_send_then_done() {
        let mut in_flight = FuturesUnordered::new();
        in_flight.push(async { 7 });
        let soon = Instant::now() + Duration::from_millis(2);
        assert_eq!(wait(&mut in_flight, Some(soon)).await, Next::Answer(7));
        assert_eq!(wait(&mut in_flight, Some(soon)).await, Next::Send);
        assert_eq!(wait(&mut in_flight, None).await, Next::<i32>::Done);
    }

    #[test]
    fn the_schedule_does_not_slip_when_late() {
        let start = Instant::now();
        let mut p = Pacer::new(100.0, 1, 0, start);
        // Three intervals late: three sends are due at once, then the schedule resumes.
        let late = start + Duration::from_millis(25);
        let mut sent = 0;
        while p.due(late) {
            p.advance();
            sent += 1;
        }
        assert_eq!(sent, 3);
        assert_eq!(p.next_at(), start + Duration::from_millis(30));
    }
}
