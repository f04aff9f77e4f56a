//! The send schedule of one session under `--rate` (open loop).
//!
//! The total rate is split evenly over the sessions; session i of n sends every n / rate
//! seconds, starting i / n of an interval after the start, so the sessions' sends interleave
//! instead of arriving together. A session that falls behind (its requests in flight at
//! --pipeline, or a slow answer) sends the overdue requests as soon as it can: the schedule does
//! not slip, so the rate over the run stays the one asked for whenever the server keeps up.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

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
