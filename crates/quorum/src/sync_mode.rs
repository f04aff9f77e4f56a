//! Choosing how to bring one learner in line with the leader (seed 002, ZooKeeper's
//! `LearnerHandler.syncFollower`). A pure function of three facts:
//!
//! - `peer_last`: the learner's last logged zxid (from ACKEPOCH / FOLLOWERINFO);
//! - `peer_snapshot`: the learner's newest stored snapshot (FOLLOWERINFO), below which it cannot
//!   roll back;
//! - `leader_last`: the leader's last zxid (its whole log is its initial history, all of it to be
//!   committed; during broadcast: the last committed zxid) — ZooKeeper's `maxCommittedLog`;
//! - `window`: the zxids of the leader's in-memory committed log, sorted ascending, ending at
//!   `leader_last` — ZooKeeper's committedLog, `window[0]` is `minCommittedLog`. Empty when the
//!   leader holds no log in memory (then only SNAP can bring a lagging learner up).
//!
//! | case | mode | then send |
//! |---|---|---|
//! | `peer_last == leader_last` | DIFF (empty) | nothing |
//! | `peer_last > leader_last` | TRUNC to `leader_last` | nothing |
//! | `min <= peer_last < leader_last`, `peer_last` in `window` | DIFF | txns `> peer_last` |
//! | `min < peer_last < leader_last`, not in `window` (the learner holds txns of an old epoch the leader never had) | TRUNC+DIFF to the greatest `window` zxid `< peer_last` | txns `> that` |
//! | `peer_last < min`, or `window` empty | SNAP | the state at `leader_last` |
//! | a TRUNC or TRUNC+DIFF (any row above) to a zxid below `peer_snapshot` | SNAP | the state at `leader_last` |
//!
//! The last row: a learner can hold a snapshot above what the ensemble committed when it
//! installed a SNAP from a leader whose epoch then never established (the SNAP is durable before
//! NEWLEADER is acknowledged, as in ZooKeeper). The next leader's history ends below it; a
//! TRUNC cannot undo a snapshot, so the learner gets the leader's whole state instead and drops
//! the snapshots above it (found by the whole-server simulator, 3 servers, seed 1000086, where
//! the learner had to stop).
//!
//! Why TRUNC to the greatest smaller zxid is safe: zxids of one epoch come from one leader, so the
//! learner's and the leader's histories agree on every zxid they share an epoch with; a learner
//! holding a zxid the leader lacks diverged only after the leader's last zxid below it.

use paddock_types::Zxid;

/// How a learner is synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Send the missing transactions.
    Diff,
    /// Roll back above this zxid; nothing to send.
    Trunc(Zxid),
    /// Roll back above this zxid, then send the transactions above it.
    TruncDiff(Zxid),
    /// Send the whole state.
    Snap,
}

/// A sync decision: the mode and, for DIFF / TRUNC+DIFF, the zxid above which the window's
/// transactions are sent (`None`: send none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPlan {
    /// The mode.
    pub mode: SyncMode,
    /// Send the window's transactions with zxid greater than this.
    pub send_after: Option<Zxid>,
}

/// Chooses the sync plan; see the module doc for the rule table.
pub fn choose(
    peer_last: Zxid,
    peer_snapshot: Zxid,
    leader_last: Zxid,
    window: &[Zxid],
) -> SyncPlan {
    let plan = choose_by_log(peer_last, leader_last, window);
    match plan.mode {
        SyncMode::Trunc(to) | SyncMode::TruncDiff(to) if to < peer_snapshot => SyncPlan {
            mode: SyncMode::Snap,
            send_after: None,
        },
        _ => plan,
    }
}

/// The plan from the logs alone (every row of the table but the last).
fn choose_by_log(peer_last: Zxid, leader_last: Zxid, window: &[Zxid]) -> SyncPlan {
    debug_assert!(
        window.windows(2).all(|w| w[0] < w[1]),
        "window must be sorted"
    );
    debug_assert!(
        window.last().is_none_or(|z| *z <= leader_last),
        "window ends at leader_last"
    );
    let plan = |mode, send_after| SyncPlan { mode, send_after };
    if peer_last == leader_last {
        return plan(SyncMode::Diff, None);
    }
    if peer_last > leader_last {
        return plan(SyncMode::Trunc(leader_last), None);
    }
    let Some(min) = window.first() else {
        return plan(SyncMode::Snap, None);
    };
    if peer_last < *min {
        return plan(SyncMode::Snap, None);
    }
    match window.binary_search(&peer_last) {
        Ok(_) => plan(SyncMode::Diff, Some(peer_last)),
        Err(pos) => {
            // pos >= 1 because window[0] = min < peer_last.
            let common = window[pos - 1];
            plan(SyncMode::TruncDiff(common), Some(common))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::Epoch;

    fn z(e: u32, c: u32) -> Zxid {
        Zxid::new(Epoch(e), c)
    }

    /// Seed 002's cases, as a table: (name, peer_last, leader_last, window, expected plan).
    #[test]
    fn seed_002_sync_mode_table() {
        let window = [z(1, 1), z(1, 2), z(1, 3), z(2, 1), z(2, 2)];
        let cases: Vec<(&str, Zxid, Zxid, &[Zxid], SyncPlan)> = vec![
            (
                "peer == leader: empty DIFF",
                z(2, 2),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::Diff,
                    send_after: None,
                },
            ),
            (
                "peer == leader, no window: still empty DIFF",
                z(2, 2),
                z(2, 2),
                &[],
                SyncPlan {
                    mode: SyncMode::Diff,
                    send_after: None,
                },
            ),
            (
                "both empty: empty DIFF",
                Zxid::ZERO,
                Zxid::ZERO,
                &[],
                SyncPlan {
                    mode: SyncMode::Diff,
                    send_after: None,
                },
            ),
            (
                "peer inside window on leader history: DIFF",
                z(1, 2),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::Diff,
                    send_after: Some(z(1, 2)),
                },
            ),
            (
                "peer at window min: DIFF",
                z(1, 1),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::Diff,
                    send_after: Some(z(1, 1)),
                },
            ),
            (
                "peer ahead of leader (uncommitted tail): TRUNC",
                z(2, 5),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::Trunc(z(2, 2)),
                    send_after: None,
                },
            ),
            (
                "peer ahead, leader has no window: TRUNC",
                z(1, 9),
                z(1, 3),
                &[],
                SyncPlan {
                    mode: SyncMode::Trunc(z(1, 3)),
                    send_after: None,
                },
            ),
            (
                "peer holds old-epoch txns the leader never had: TRUNC+DIFF",
                z(1, 5),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::TruncDiff(z(1, 3)),
                    send_after: Some(z(1, 3)),
                },
            ),
            (
                "peer below window min: SNAP",
                z(0, 0),
                z(2, 2),
                &window,
                SyncPlan {
                    mode: SyncMode::Snap,
                    send_after: None,
                },
            ),
            (
                "peer behind, no window: SNAP",
                z(1, 1),
                z(2, 2),
                &[],
                SyncPlan {
                    mode: SyncMode::Snap,
                    send_after: None,
                },
            ),
        ];
        for (name, peer, leader, win, want) in cases {
            assert_eq!(choose(peer, Zxid::ZERO, leader, win), want, "{name}");
            // A snapshot at or below the TRUNC point (or at the learner's last zxid when
            // nothing is truncated) changes nothing.
            let snap = match want.mode {
                SyncMode::Trunc(to) | SyncMode::TruncDiff(to) => to,
                _ => peer,
            };
            assert_eq!(
                choose(peer, snap, leader, win),
                want,
                "{name}, snapshot {snap}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever the plan, the learner ends with exactly the leader's history: its kept prefix
        /// (a prefix of the leader's, by ZAB's primary order) plus what is sent.
        #[test]
        fn plan_makes_learner_history_equal_leader(
            leader_len in 0usize..20, peer_common in 0usize..20, peer_extra in 0u32..4, trim in 0usize..20,
            snap_at in 0usize..24,
        ) {
            // Leader history: epoch-1 txns. Learner: a common prefix, then txns of an epoch-0
            // leader... modelled as extra txns of epoch 1 placed after the common prefix only when
            // they are beyond the leader's end (same epoch must agree).
            let leader: Vec<Zxid> = (1..=leader_len as u32).map(|c| z(1, c)).collect();
            let common = peer_common.min(leader_len);
            let mut peer: Vec<Zxid> = leader[..common].to_vec();
            if common == leader_len {
                peer.extend((1..=peer_extra).map(|c| z(1, leader_len as u32 + c)));
            }
            let leader_last = leader.last().copied().unwrap_or(Zxid::ZERO);
            let peer_last = peer.last().copied().unwrap_or(Zxid::ZERO);
            let window = &leader[trim.min(leader_len)..];
            // The learner's newest snapshot: at one of its zxids, or none.
            let peer_snapshot = match snap_at.min(peer.len()) {
                0 => Zxid::ZERO,
                i => peer[i - 1],
            };
            let p = choose(peer_last, peer_snapshot, leader_last, window);
            let mut result = match p.mode {
                SyncMode::Diff => peer.clone(),
                SyncMode::Trunc(to) | SyncMode::TruncDiff(to) => {
                    // Never below the learner's snapshot: that cannot be rolled back.
                    proptest::prop_assert!(to >= peer_snapshot, "TRUNC to {to} below snapshot {peer_snapshot}");
                    peer.iter().copied().filter(|x| *x <= to).collect()
                }
                SyncMode::Snap => leader.clone(),
            };
            if let Some(after) = p.send_after {
                result.extend(window.iter().copied().filter(|x| *x > after));
            }
            proptest::prop_assert_eq!(result, leader);
        }
    }
}
