//! Keeps a connection's answers in request order when its gateway answers some requests itself
//! (both gateways, gRPC and ZooKeeper's protocol, use it).
//!
//! Rules (DESIGN §1, FIFO client order):
//! 1. Answers leave in the order the requests arrived, whoever produced them.
//! 2. A request the gateway answers itself (it could not be decoded) waits behind every earlier
//!    request still at the backend; it is never sent ahead of them.
//! 3. The backend answers its requests in submission order, so its next answer is for the oldest
//!    request it holds.
//! 4. Watch events and the end of the session are not requests: they do not pass through here.
//!
//! The number of requests held here is the stream's in-flight count, which the gateway bounds.

use std::collections::VecDeque;

/// One request waiting for its answer to leave.
#[derive(Debug)]
enum Slot<T> {
    /// Submitted to the backend; its answer will come from there.
    Backend { xid: i64 },
    /// Answered by the gateway; the answer waits for its turn.
    Local(T),
}

/// The ordering of one stream's answers. Pure: no IO, tested alone.
#[derive(Debug)]
pub struct ReplyOrder<T> {
    /// Unanswered requests, oldest first. Invariant: the front is never `Local` (a local answer
    /// at the front is released at once).
    queue: VecDeque<Slot<T>>,
}

impl<T> Default for ReplyOrder<T> {
    fn default() -> ReplyOrder<T> {
        ReplyOrder::new()
    }
}

impl<T> ReplyOrder<T> {
    pub fn new() -> ReplyOrder<T> {
        ReplyOrder {
            queue: VecDeque::new(),
        }
    }

    /// Requests whose answers have not left yet.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// A request went to the backend.
    pub fn submitted(&mut self, xid: i64) {
        self.queue.push_back(Slot::Backend { xid });
    }

    /// The gateway answered a request itself; returns the answers that may leave now, in order.
    pub fn answered_locally(&mut self, answer: T) -> Vec<T> {
        self.queue.push_back(Slot::Local(answer));
        self.release_locals()
    }

    /// The backend answered `xid`; returns the answers that may leave now, in order (that answer,
    /// then any local answers that were waiting behind it). An answer the gateway did not expect
    /// (or for another xid) still leaves: the backend's order is the truth, and the mismatch is
    /// logged.
    pub fn backend_answered(&mut self, xid: i64, answer: T) -> Vec<T> {
        match self.queue.pop_front() {
            Some(Slot::Backend { xid: expected }) if expected != xid => {
                tracing::warn!(expected, got = xid, "backend answered out of order");
            }
            Some(Slot::Backend { .. }) => {}
            Some(Slot::Local(_)) => unreachable_local_front(),
            None => tracing::warn!(xid, "backend answered a request that is not in flight"),
        }
        let mut out = vec![answer];
        out.extend(self.release_locals());
        out
    }

    /// The session ended: every request still at the backend will never be answered by it. Returns
    /// an answer for each of them, made by `answer(xid)`, interleaved in order with the local
    /// answers waiting behind them. Afterwards nothing is in flight.
    pub fn abandon(&mut self, answer: impl Fn(i64) -> T) -> Vec<T> {
        self.queue
            .drain(..)
            .map(|slot| match slot {
                Slot::Backend { xid } => answer(xid),
                Slot::Local(a) => a,
            })
            .collect()
    }

    fn release_locals(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while matches!(self.queue.front(), Some(Slot::Local(_))) {
            if let Some(Slot::Local(answer)) = self.queue.pop_front() {
                out.push(answer);
            }
        }
        out
    }
}

#[cfg(test)]
mod abandon_tests {
    use super::*;

    #[test]
    fn abandoned_requests_are_answered_in_order_with_waiting_local_answers() {
        let mut o: ReplyOrder<String> = ReplyOrder::new();
        o.submitted(1);
        o.submitted(2);
        assert!(o.answered_locally("local-3".to_string()).is_empty());
        o.submitted(4);
        let out = o.abandon(|xid| format!("gone-{xid}"));
        assert_eq!(out, vec!["gone-1", "gone-2", "local-3", "gone-4"]);
        assert_eq!(o.in_flight(), 0);
    }
}

#[cold]
fn unreachable_local_front() {
    // `release_locals` runs after every push, so a local answer never stays at the front.
    debug_assert!(false, "a local answer was left at the front of the queue");
    tracing::error!("reply order invariant broken: local answer at the front");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_answer_with_nothing_pending_leaves_at_once() {
        let mut o = ReplyOrder::new();
        assert_eq!(o.answered_locally("bad 1"), vec!["bad 1"]);
        assert_eq!(o.in_flight(), 0);
    }

    /// Rule 2: a gateway answer never overtakes an earlier backend request.
    #[test]
    fn local_answer_waits_behind_earlier_backend_requests() {
        let mut o = ReplyOrder::new();
        o.submitted(1);
        o.submitted(2);
        assert!(o.answered_locally("bad 3").is_empty());
        o.submitted(4);
        assert!(o.answered_locally("bad 5").is_empty());
        assert_eq!(o.in_flight(), 5);
        assert_eq!(o.backend_answered(1, "ok 1"), vec!["ok 1"]);
        assert_eq!(o.backend_answered(2, "ok 2"), vec!["ok 2", "bad 3"]);
        assert_eq!(o.backend_answered(4, "ok 4"), vec!["ok 4", "bad 5"]);
        assert_eq!(o.in_flight(), 0);
    }

    #[test]
    fn unexpected_backend_answers_still_leave() {
        let mut o = ReplyOrder::new();
        assert_eq!(o.backend_answered(9, "stray"), vec!["stray"]);
        o.submitted(1);
        assert_eq!(o.backend_answered(2, "mismatch"), vec!["mismatch"]);
        assert_eq!(o.in_flight(), 0);
    }
}
