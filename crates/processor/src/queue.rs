//! Per-session ordering: the rule that gives FIFO client order.
//!
//! Rules (each has a test below):
//! 1. Answers leave in the order the session's requests arrived.
//! 2. A read is answered at once only when nothing of the session is ahead of it; otherwise it waits
//!    and is executed right after the write ahead of it completes (so it sees that write).
//! 3. An immediate refusal (bad path, throttled, ...) also waits for what is ahead of it.
//! 4. A write completes when its commit applied here; everything queued behind it up to the next
//!    write is released with it.

use std::collections::VecDeque;
use std::time::Instant;

use paddock_types::{Request, Response, ZkError};

use crate::api::ConnId;

/// A request waiting for its turn.
#[derive(Debug)]
pub(crate) struct Pending {
    pub conn: ConnId,
    pub xid: i64,
    pub kind: PendingKind,
    /// When the request was submitted (for the latency statistics).
    pub at: Instant,
}

#[derive(Debug)]
pub(crate) enum PendingKind {
    /// Handed to the ensemble; `id` is its request id on this server.
    Write { id: u64 },
    /// A read to execute when its turn comes.
    Read(Request),
    /// Already answered (a refusal), waiting for its turn to be sent.
    Done(Result<Response, ZkError>),
}

/// What to send (or execute then send), in order.
#[derive(Debug)]
pub(crate) enum Release {
    Answer {
        conn: ConnId,
        xid: i64,
        result: Result<Response, ZkError>,
        at: Instant,
    },
    Read {
        conn: ConnId,
        xid: i64,
        req: Request,
        at: Instant,
    },
}

#[derive(Debug, Default)]
pub(crate) struct SessionQueue {
    items: VecDeque<Pending>,
}

impl SessionQueue {
    /// Nothing of this session is waiting: a read may be answered immediately (rule 2).
    pub fn is_idle(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn push(&mut self, p: Pending) {
        self.items.push_back(p);
    }

    /// The write `id` finished with `result`: returns, in order, the write's answer and everything
    /// released behind it (rule 4). Returns nothing if `id` is unknown (e.g. the queue was cleared).
    pub fn complete(&mut self, id: u64, result: Result<Response, ZkError>) -> Vec<Release> {
        let Some(pos) = self
            .items
            .iter()
            .position(|p| matches!(p.kind, PendingKind::Write { id: w } if w == id))
        else {
            return Vec::new();
        };
        // Everything before `pos` can only be writes still in the pipeline (reads and refusals
        // behind a completed write are released with it), so answering `id` early would break
        // rule 1 only if the pipeline reordered; it does not, so `pos` is 0 in practice.
        let mut out = Vec::new();
        let Some(done) = self.items.remove(pos) else {
            return out;
        };
        out.push(Release::Answer {
            conn: done.conn,
            xid: done.xid,
            result,
            at: done.at,
        });
        if pos == 0 {
            out.extend(self.release_front());
        }
        out
    }

    /// Releases reads and refusals at the front, up to the first pending write.
    fn release_front(&mut self) -> Vec<Release> {
        let mut out = Vec::new();
        while let Some(front) = self.items.front() {
            if matches!(front.kind, PendingKind::Write { .. }) {
                break;
            }
            let Some(p) = self.items.pop_front() else {
                break;
            };
            out.push(match p.kind {
                PendingKind::Read(req) => Release::Read {
                    conn: p.conn,
                    xid: p.xid,
                    req,
                    at: p.at,
                },
                PendingKind::Done(result) => Release::Answer {
                    conn: p.conn,
                    xid: p.xid,
                    result,
                    at: p.at,
                },
                PendingKind::Write { .. } => unreachable!("checked above"),
            });
        }
        out
    }

    /// Every write still waiting fails with `err` (they will never commit: the server turned
    /// read-only): all of the queue is released, in order, each write answered with `err`.
    pub fn fail_writes(&mut self, err: &ZkError) -> Vec<Release> {
        let mut out = Vec::new();
        while let Some(p) = self.items.pop_front() {
            out.push(match p.kind {
                PendingKind::Write { .. } => Release::Answer {
                    conn: p.conn,
                    xid: p.xid,
                    result: Err(err.clone()),
                    at: p.at,
                },
                PendingKind::Read(req) => Release::Read {
                    conn: p.conn,
                    xid: p.xid,
                    req,
                    at: p.at,
                },
                PendingKind::Done(result) => Release::Answer {
                    conn: p.conn,
                    xid: p.xid,
                    result,
                    at: p.at,
                },
            });
        }
        out
    }

    /// The request id of the oldest write still waiting whose request carried `xid` (an
    /// ensemble server matches a committed transaction to its waiting request by the client's
    /// xid, which the transaction carries as its cxid).
    pub fn write_id_for_xid(&self, xid: i64) -> Option<u64> {
        self.items.iter().find_map(|p| match p.kind {
            PendingKind::Write { id } if p.xid == xid => Some(id),
            _ => None,
        })
    }

    /// Drops everything (session closed): returns the ids of writes still in the pipeline.
    pub fn clear(&mut self) -> Vec<Pending> {
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::ErrorCode;

    fn read(xid: i64) -> Pending {
        Pending {
            conn: ConnId(1),
            xid,
            kind: PendingKind::Read(Request::Exists {
                path: "/a".into(),
                watch: false,
            }),
            at: Instant::now(),
        }
    }
    fn write(xid: i64, id: u64) -> Pending {
        Pending {
            conn: ConnId(1),
            xid,
            kind: PendingKind::Write { id },
            at: Instant::now(),
        }
    }
    fn xids(r: &[Release]) -> Vec<i64> {
        r.iter()
            .map(|r| match r {
                Release::Answer { xid, .. } | Release::Read { xid, .. } => *xid,
            })
            .collect()
    }

    #[test]
    fn rule2_read_waits_behind_a_pending_write() {
        let mut q = SessionQueue::default();
        assert!(q.is_idle());
        q.push(write(1, 10));
        assert!(!q.is_idle());
        q.push(read(2));
        q.push(read(3));
        q.push(write(4, 11));
        q.push(read(5));
        let r = q.complete(10, Ok(Response::Delete));
        assert_eq!(xids(&r), vec![1, 2, 3]);
        assert!(matches!(r[1], Release::Read { .. }));
        let r = q.complete(11, Ok(Response::Delete));
        assert_eq!(xids(&r), vec![4, 5]);
        assert!(q.is_idle());
    }

    #[test]
    fn rule3_refusals_keep_their_place() {
        let mut q = SessionQueue::default();
        q.push(write(1, 10));
        q.push(Pending {
            conn: ConnId(1),
            xid: 2,
            kind: PendingKind::Done(Err(ErrorCode::BadArguments.into())),
            at: Instant::now(),
        });
        let r = q.complete(10, Ok(Response::Delete));
        assert_eq!(xids(&r), vec![1, 2]);
    }

    #[test]
    fn rule1_unknown_completion_releases_nothing() {
        let mut q = SessionQueue::default();
        q.push(write(1, 10));
        assert!(q.complete(99, Ok(Response::Delete)).is_empty());
        assert_eq!(q.len(), 1);
    }
}
