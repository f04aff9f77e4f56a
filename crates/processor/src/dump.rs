//! ZooKeeper's `dump` (the open sessions, when each expires, their ephemeral znodes) and
//! `hash` (the digest with its zxid).

use std::collections::HashMap;

use crate::api::SessionDump;
use crate::processor::Processor;

impl Processor {
    /// Every session of the replicated state, sorted by id, with its expiry where this server
    /// tracks it (sessions attached here; the leader's expiry decides) and its ephemerals; and
    /// this server's local sessions (`local: true`; an upgrading one is listed once, as local).
    pub fn session_dump(&self) -> Vec<SessionDump> {
        let sh = &self.shared;
        let tick = u64::from(sh.cfg.tick_ms);
        // Sessions before the tree, as `status` takes them: one lock order everywhere.
        let all = sh.sessions.all();
        let expiry: HashMap<_, _> = all.iter().map(|s| (s.id, s.expires_at_ms(tick))).collect();
        let local: HashMap<_, _> = all
            .iter()
            .filter(|s| s.is_local())
            .map(|s| (s.id, s.timeout_ms()))
            .collect();
        let (now, wall) = (sh.now_ms(), sh.wall_ms());
        let tree = sh.read_tree();
        let mut out: Vec<SessionDump> = tree
            .sessions()
            .into_iter()
            .filter(|(id, _)| !local.contains_key(id))
            .map(|(id, info)| SessionDump {
                local: false,
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
        out.extend(local.iter().map(|(id, timeout_ms)| {
            SessionDump {
                session: *id,
                timeout_ms: *timeout_ms,
                expires_at_ms: expiry
                    .get(id)
                    .map(|at| wall.saturating_add(at.saturating_sub(now))),
                ephemerals: Vec::new(),
                local: true,
            }
        }));
        out.sort_by_key(|d| d.session.0);
        out
    }

    /// The tree's digest and the last zxid it covers, read together (`hash`).
    pub fn digest_with_zxid(&self) -> (paddock_types::Zxid, u64) {
        let tree = self.shared.read_tree();
        (tree.last_zxid(), tree.digest())
    }
}
