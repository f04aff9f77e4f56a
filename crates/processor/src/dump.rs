//! ZooKeeper's `dump` (the open sessions, when each expires, their ephemeral znodes) and
//! `hash` (the digest with its zxid).

use std::collections::HashMap;

use crate::api::SessionDump;
use crate::processor::Processor;

impl Processor {
    /// Every session of the replicated state, sorted by id, with its expiry where this server
    /// tracks it (sessions attached here; the leader's expiry decides) and its ephemerals.
    pub fn session_dump(&self) -> Vec<SessionDump> {
        let sh = &self.shared;
        let tick = u64::from(sh.cfg.tick_ms);
        // Sessions before the tree, as `status` takes them: one lock order everywhere.
        let expiry: HashMap<_, _> = sh
            .sessions
            .all()
            .iter()
            .map(|s| (s.id, s.expires_at_ms(tick)))
            .collect();
        let (now, wall) = (sh.now_ms(), sh.wall_ms());
        let tree = sh.read_tree();
        let mut out: Vec<SessionDump> = tree
            .sessions()
            .into_iter()
            .map(|(id, info)| SessionDump {
                session: id,
                timeout_ms: info.timeout_ms,
                expires_at_ms: expiry
                    .get(&id)
                    .map(|at| wall.saturating_add(at.saturating_sub(now))),
                ephemerals: {
                    let mut paths = tree.ephemerals(id);
                    paths.sort();
                    paths
                },
            })
            .collect();
        out.sort_by_key(|d| d.session.0);
        out
    }

    /// The tree's digest and the last zxid it covers, read together (`hash`).
    pub fn digest_with_zxid(&self) -> (paddock_types::Zxid, u64) {
        let tree = self.shared.read_tree();
        (tree.last_zxid(), tree.digest())
    }
}
