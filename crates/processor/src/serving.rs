//! What the server does for clients, as the quorum peer's role dictates it.
//!
//! ```text
//!  NotServing ──▶ Leader | Learner          (the peer serves: synced with / as a leader)
//!  Leader | Learner ──▶ NotServing          every connection dropped, waiting requests
//!                                           forgotten (their outcome is unknown: ConnectionLoss)
//!  Leader ──▶ ReadOnly ──▶ Leader           an ensemble of one whose txn log cannot write (a
//!                                           full disk): connections and sessions stay, reads
//!                                           are answered, writes waiting or new are answered
//!                                           NOTREADONLY (never applied: an ensemble of one
//!                                           commits nothing it could not log)
//! ```
//!
//! Read-only mode (`readonlymode.enabled`, an ensemble member cut off from its quorum) is
//! entered with `enter_read_only_mode` and left by any `set_role` (see `readonly/`).
//!
//! Becoming leader restarts every session's timeout (as ZooKeeper does when a leader takes
//! over). Only a serving leader expires sessions.

use crate::processor::Processor;
use crate::role::ServingRole;
use crate::shared::{lock, read_only};

impl Processor {
    /// The role this server serves clients in.
    pub fn serving_role(&self) -> ServingRole {
        self.shared.role()
    }

    /// Switches what the server does for clients (see the module doc). Leaving a serving role
    /// for `NotServing` (or changing leader, which the caller does through `NotServing`) drops
    /// every connection and forgets waiting requests; `ReadOnly -> Leader` (an ensemble of one
    /// whose log recovered) keeps them. Read-only mode (`readonly/`) ends here, whatever `role`.
    pub fn set_role(&self, role: ServingRole) {
        assert_ne!(
            role,
            ServingRole::ReadOnly,
            "read-only is set with set_read_only"
        );
        let sh = &self.shared;
        let old = sh.swap_role(role);
        // Read-only mode ends with any role switch: its connections are dropped and its local
        // sessions forgotten (after the swap, so that no write meets a read-only role that is
        // no longer in read-only mode).
        self.leave_read_only_mode();
        if role == ServingRole::NotServing && old != ServingRole::NotServing {
            lock(&sh.creating).clear();
            lock(&sh.resuming).clear();
            for s in sh.sessions.all() {
                let mut g = s.lock();
                g.conn = None;
                g.queue.clear();
                // A CloseSession that did not commit yet may never: the next leader decides.
                g.closing = None;
            }
        }
        if old == ServingRole::Leader && role != ServingRole::Leader {
            // What a leader heard of (its clients, its learners' reports, the touch of every
            // session when it began to lead) must not go into this server's first report as a
            // learner: the next leader would give sessions whose clients left long ago a full
            // timeout again, once per leader change. ZooKeeper's learner starts with an empty
            // touch table likewise. (Found by the whole-server simulator, 3 servers, seed
            // 1030463: an abandoned session's ephemeral outlived it past the final check.)
            sh.last_report_ms
                .store(sh.now_ms(), std::sync::atomic::Ordering::SeqCst);
        }
        if role == ServingRole::Leader && old != ServingRole::Leader {
            let now = sh.now_ms();
            for s in sh.sessions.all() {
                s.touch(now);
            }
        } else if old == ServingRole::NotServing && role != ServingRole::NotServing {
            // Local sessions were not expired while this server did not serve: their clients
            // get their timeout again to come back (a leader touches every session above).
            let now = sh.now_ms();
            for s in sh.sessions.all().iter().filter(|s| s.is_local()) {
                s.touch(now);
            }
        }
        sh.set_read_only(None);
        sh.writable.send_replace(true);
        if old != role {
            // Deletions submitted in the old role may never commit: judge them afresh.
            lock(&sh.sweeper).clear();
            tracing::info!(?old, new = ?role, "client service role changed");
        }
    }

    /// An ensemble of one whose txn log cannot take writes (a full disk, an I/O error): reads
    /// and open sessions go on; every write waiting for its commit, and every new one, is
    /// answered NOTREADONLY (an ensemble of one commits nothing it could not log itself, so
    /// none of them will ever apply); new sessions are refused the same way (creating one is a
    /// write). Ends with `set_role(Leader)` once the peer leads again.
    pub fn set_read_only(&self, why: &str) {
        let sh = &self.shared;
        sh.set_read_only(Some(why.to_string()));
        let old = sh.swap_role(ServingRole::ReadOnly);
        sh.writable.send_replace(false);
        if old == ServingRole::ReadOnly {
            return;
        }
        let err = read_only(why);
        for (_, tx) in lock(&sh.creating).drain() {
            let _ = tx.send(Err(err.clone()));
        }
        // Their waits end with ConnectionLoss; an ensemble of one does not revalidate anyway.
        lock(&sh.resuming).clear();
        for s in sh.sessions.all() {
            let mut g = s.lock();
            let released = g.queue.fail_writes(&err);
            sh.deliver(s.id, &mut g, sh.applied_zxid(), released, None);
            // An expiry or close that cannot be logged is tried again once writes resume.
            if g.closing == Some(paddock_types::ErrorCode::SessionExpired) {
                g.closing = None;
            }
        }
        tracing::warn!(
            why,
            "this server is read-only until its txn log takes writes again"
        );
    }

    /// Whether writes are taken (`false` while read-only); `changed()` on the receiver sees
    /// the switches.
    pub fn watch_writable(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shared.writable.subscribe()
    }

    /// Stops taking requests. Sessions are not closed: they survive a restart and expire if
    /// their clients do not come back. Every connection's channel is dropped without a
    /// `Closed`, so the gateway ends the streams with UNAVAILABLE and clients resume.
    pub async fn shutdown(&self) {
        let sh = &self.shared;
        sh.swap_role(crate::ServingRole::NotServing);
        for t in lock(&self.tickers).drain(..) {
            t.abort();
        }
        for s in sh.sessions.all() {
            s.lock().conn = None;
        }
        // A snapshot being written holds the storage (and the data directory's lock): let it
        // finish, so the directory can be opened again as soon as this returns (a restart in
        // the same process). Bounded: a stuck disk must not hang the shutdown forever.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while lock(&sh.snap).writing() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
