//! The container / TTL sweeper's bookkeeping (ZooKeeper's `ContainerManager`), as data: which
//! of the tree's candidates to submit in one sweep. Driven by the serving leader only, every
//! `znode.container.checkIntervalMs` (`expiry.rs`: `Shared::plan_sweep`; `Processor::sweeper`
//! submits the plan in chunks spread over the interval); the candidates come from the data
//! tree's container and TTL indexes (`DataTree::sweep_candidates`), which are replicated
//! state, so a new leader's first sweep finds what the old one left.
//!
//! Rules:
//! - a sweep submits at most `budget` deletions (`maxPerMinute` spread over the sweeps of a
//!   minute);
//! - a node already submitted is not submitted again while its delete may still be in flight
//!   (`RESUBMIT_AFTER_MS`), so one candidate makes one transaction; should that one be lost
//!   (a role change before it committed), the node is submitted again later;
//! - leaving the leader role forgets everything in flight (`clear`): the next leader decides.

use std::collections::HashMap;

use paddock_datatree::Reapable;

/// How long a submitted deletion is taken to be in flight (ms on the processor's clock).
pub(crate) const RESUBMIT_AFTER_MS: u64 = 30_000;

/// Deletions submitted and not yet seen applied.
#[derive(Debug, Default)]
pub(crate) struct Sweeper {
    /// Path -> (the node's czxid, when it was submitted).
    in_flight: HashMap<String, (i64, u64)>,
}

impl Sweeper {
    /// Candidates to ask the tree for: the budget plus those in flight, which may come back.
    pub(crate) fn wanted(&self, budget: usize) -> usize {
        budget.saturating_add(self.in_flight.len())
    }

    /// From the tree's current `candidates`, those to submit now (at most `budget`), recorded
    /// as in flight. Entries no longer among the candidates were applied (or the node
    /// changed) and are forgotten.
    pub(crate) fn plan(
        &mut self,
        candidates: Vec<Reapable>,
        budget: usize,
        now_ms: u64,
    ) -> Vec<Reapable> {
        self.in_flight.retain(|path, (czxid, _)| {
            candidates
                .iter()
                .any(|c| &c.path == path && c.czxid == *czxid)
        });
        let mut out = Vec::new();
        for c in candidates {
            if out.len() >= budget {
                break;
            }
            if let Some((_, at)) = self.in_flight.get(&c.path) {
                if now_ms.saturating_sub(*at) < RESUBMIT_AFTER_MS {
                    continue;
                }
            }
            self.in_flight.insert(c.path.clone(), (c.czxid, now_ms));
            out.push(c);
        }
        out
    }

    /// A submission failed (not serving): it is not in flight.
    pub(crate) fn forget(&mut self, path: &str) {
        self.in_flight.remove(path);
    }

    /// The role changed: nothing this server submitted is known to be in flight.
    pub(crate) fn clear(&mut self) {
        self.in_flight.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, czxid: i64) -> Reapable {
        Reapable {
            path: path.into(),
            czxid,
            version: 0,
            cversion: 2,
        }
    }

    #[test]
    fn a_candidate_is_submitted_once_while_in_flight() {
        let mut s = Sweeper::default();
        assert_eq!(s.plan(vec![node("/a", 1)], 10, 0), vec![node("/a", 1)]);
        assert!(s.plan(vec![node("/a", 1)], 10, 100).is_empty());
        assert_eq!(s.wanted(10), 11);
        // Applied: gone from the candidates, forgotten.
        assert!(s.plan(vec![], 10, 200).is_empty());
        assert_eq!(s.wanted(10), 10);
    }

    #[test]
    fn a_lost_submission_is_retried_after_a_while_and_a_recreated_node_at_once() {
        let mut s = Sweeper::default();
        s.plan(vec![node("/a", 1)], 10, 0);
        assert!(s
            .plan(vec![node("/a", 1)], 10, RESUBMIT_AFTER_MS - 1)
            .is_empty());
        assert_eq!(s.plan(vec![node("/a", 1)], 10, RESUBMIT_AFTER_MS).len(), 1);
        // Same path, another node (deleted and created again): a new candidate.
        assert_eq!(
            s.plan(vec![node("/a", 9)], 10, RESUBMIT_AFTER_MS + 1),
            vec![node("/a", 9)]
        );
        s.clear();
        assert_eq!(
            s.plan(vec![node("/a", 9)], 10, RESUBMIT_AFTER_MS + 2).len(),
            1
        );
    }

    #[test]
    fn the_budget_bounds_a_sweep() {
        let mut s = Sweeper::default();
        let all: Vec<_> = (0..5).map(|i| node(&format!("/n{i}"), i)).collect();
        assert_eq!(s.plan(all.clone(), 2, 0).len(), 2);
        // The two in flight are skipped; the next two go.
        let next = s.plan(all, 2, 1);
        assert_eq!(next, vec![node("/n2", 2), node("/n3", 3)]);
    }
}
