//! What the processor reports about itself: counters, the `Status` of the admin words and
//! metrics, the attached connections (`cons`), the tree's digest.

use std::sync::atomic::Ordering;

use crate::api::{ConnectionInfo, Status};
use crate::processor::Processor;
use crate::stats::Stats;

impl Processor {
    /// What the server looks like now.
    pub fn status(&self) -> Status {
        let sh = &self.shared;
        let (mut outstanding, mut connections, mut local_sessions) = (0, 0, 0);
        let sessions = sh.sessions.all();
        for s in &sessions {
            local_sessions += usize::from(s.is_local());
            let g = s.lock();
            outstanding += g.queue.len();
            connections += usize::from(g.conn.is_some());
        }
        let (latency_min_us, latency_total_us, latency_max_us, latency_count) =
            sh.stats.latency.snapshot_us();
        let tree = sh.read_tree();
        let ephemerals_count = tree
            .sessions()
            .iter()
            .map(|(id, _)| tree.ephemerals(*id).len())
            .sum();
        let watches = tree.watches_list();
        let watching_sessions = watches
            .iter()
            .map(|(w, _, _)| w.0)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let watched_paths = watches
            .iter()
            .map(|(_, p, _)| p.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        Status {
            watching_sessions,
            watched_paths,
            connections,
            ephemerals_count,
            latency_min_us,
            latency_total_us,
            latency_max_us,
            latency_count,
            serving: sh.is_serving(),
            writes_refused: sh.read_only_reason(),
            last_zxid: tree.last_zxid(),
            node_count: tree.node_count(),
            watch_count: tree.watch_count(),
            session_count: sessions.len() - local_sessions,
            local_sessions: sh.cfg.local_sessions_active().then_some(local_sessions),
            approximate_data_size: tree.approximate_data_size(),
            outstanding,
            received: sh.stats.received.load(Ordering::Relaxed),
            answered: sh.stats.answered.load(Ordering::Relaxed),
        }
    }

    /// Every attached connection, by session id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut out: Vec<ConnectionInfo> = self
            .shared
            .sessions
            .all()
            .iter()
            .filter_map(|s| {
                let g = s.lock();
                let conn = g.conn.as_ref()?;
                Some(ConnectionInfo {
                    peer: conn.peer.clone(),
                    session: s.id,
                    timeout_ms: s.timeout_ms(),
                    queued: g.queue.len(),
                    received: conn.received,
                    sent: conn.sent,
                })
            })
            .collect();
        out.sort_by_key(|c| c.session.0);
        out
    }

    /// Every watch registration as (session, path), sorted, one per session and path whatever
    /// its kinds (`wchc` / `wchp`).
    pub fn watch_list(&self) -> Vec<(paddock_types::SessionId, String)> {
        let mut out: Vec<(paddock_types::SessionId, String)> = self
            .shared
            .read_tree()
            .watches_list()
            .into_iter()
            .map(|(w, path, _)| (w, path))
            .collect();
        out.dedup();
        out
    }

    /// Zeroes the server's request counters and latency (ZooKeeper's `srst`).
    pub fn reset_server_stats(&self) {
        let st = &self.shared.stats;
        st.received.store(0, Ordering::Relaxed);
        st.answered.store(0, Ordering::Relaxed);
        st.latency.reset();
    }

    /// Zeroes every attached connection's received / sent counts (ZooKeeper's `crst`).
    pub fn reset_connection_stats(&self) {
        for s in self.shared.sessions.all() {
            if let Some(c) = s.lock().conn.as_mut() {
                c.received = 0;
                c.sent = 0;
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Digest of the tree (to compare replicas or a restart with the state before it).
    pub fn digest(&self) -> u64 {
        self.shared.read_tree().digest()
    }
}
