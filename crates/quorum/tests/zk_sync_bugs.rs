//! ZooKeeper's known synchronisation bugs, replayed as named regression scenarios on the
//! in-memory harness (`paddock_quorum::sim`): one test per JIRA issue, driving the same
//! interleaving of crashes, messages and durability notices, and asserting the property
//! ZooKeeper broke. Each test's doc comment gives the JIRA, the interleaving step by step and
//! the Paddock rule that prevents it; `docs/testing.md` has the table and the mutation that
//! makes each test fail. Then one scenario found here rather than in ZooKeeper's JIRA (a TRUNC
//! below a learner's snapshot) and a seeded sweep that generalises them all.
//!
//! Harness vocabulary: `crash(id)` loses a server's in-flight messages and every log entry not
//! yet reported durable (its epoch files were written synchronously and survive);
//! `stall_log(id)` keeps a server's log fsyncs from returning (its epoch files are still
//! written); `deliver(from, to)` / `persist(id)` deliver one chosen message / durability notice
//! now; a server told to truncate below its snapshot stops (`stopped`) until `wipe(id)`;
//! `elect(id)` stands for a finished Fast Leader Election (every other server starts
//! following `id`), and [`fle_winner`] picks the server FLE would pick, by (currentEpoch, last
//! logged zxid, id).

use bytes::Bytes;
use paddock_quorum::sim::{Sim, Storage};
use paddock_quorum::{Command, PeerMessage, Reason, ZabConfig};
use paddock_types::{Epoch, ServerId, Zxid};
use std::collections::BTreeMap;

fn z(e: u32, c: u32) -> Zxid {
    Zxid::new(Epoch(e), c)
}

fn config() -> ZabConfig {
    ZabConfig {
        sync_limit_ticks: 4,
        init_limit_ticks: 10,
        committed_log_capacity: 500,
    }
}

/// Epoch `e`'s zxids `from..=to`.
fn run_of(e: u32, from: u32, to: u32) -> Vec<Zxid> {
    (from..=to).map(|c| z(e, c)).collect()
}

/// Durable storage with both epochs at `epoch` and `zxids` logged (payload: the zxid).
fn storage(epoch: u32, zxids: &[Zxid]) -> Storage {
    Storage {
        accepted_epoch: Epoch(epoch),
        current_epoch: Epoch(epoch),
        log: zxids
            .iter()
            .map(|z| (*z, Bytes::copy_from_slice(&z.to_be_bytes())))
            .collect(),
        ..Storage::default()
    }
}

fn node(sim: &Sim, id: u64) -> &Storage {
    &sim.nodes[&ServerId(id)].storage
}

fn applied(sim: &Sim, id: u64) -> Vec<Zxid> {
    node(sim, id).applied.clone()
}

fn logged(sim: &Sim, id: u64) -> Vec<Zxid> {
    node(sim, id).log.keys().copied().collect()
}

/// The log entries of `id` that are durable (what a crash now would keep).
fn durable(sim: &Sim, id: u64) -> Vec<Zxid> {
    let s = node(sim, id);
    s.log
        .keys()
        .copied()
        .filter(|z| !s.unsynced.contains(z))
        .collect()
}

fn serving(sim: &Sim, id: u64) -> bool {
    sim.nodes[&ServerId(id)].serving
}

/// The server Fast Leader Election elects among `candidates`: the greatest
/// (currentEpoch, last logged zxid, id) (`paddock_election::Vote`'s order).
fn fle_winner(sim: &Sim, candidates: &[u64]) -> u64 {
    candidates
        .iter()
        .map(|id| {
            let s = node(sim, *id);
            (s.current_epoch, s.last_zxid(), *id)
        })
        .max()
        .expect("candidates given")
        .2
}

/// Elects `leader` while the servers in `down` stay down (they are crashed again at once, so
/// they take no part in the new epoch's discovery), and runs until idle.
fn elect_without(sim: &mut Sim, leader: u64, down: &[u64]) {
    sim.elect(leader);
    for id in down {
        sim.crash(*id);
    }
    sim.run(100_000);
    assert!(serving(sim, leader), "{leader} leads: {:?}", sim.events);
}

/// Proposes `n` transactions at `leader` and runs until idle.
fn write(sim: &mut Sim, leader: u64, n: usize) -> Vec<Zxid> {
    let out = (0..n)
        .map(|_| sim.propose(leader).expect("leader serving"))
        .collect();
    sim.run(100_000);
    out
}

/// No hole: each logged zxid directly follows the one before (the first one the snapshot).
fn assert_no_hole(sim: &Sim, id: u64) {
    let s = node(sim, id);
    let mut prev = s.snap_zxid;
    for z in s.log.keys().copied().filter(|z| *z > s.snap_zxid) {
        assert!(
            z.follows(prev),
            "server {id}: hole in the log between {prev} and {z}: {:?}",
            logged(sim, id)
        );
        prev = z;
    }
}

/// Whether `msg` of server `from` to `to` is in flight.
fn in_flight(sim: &Sim, from: u64, to: u64, want: impl Fn(&PeerMessage) -> bool) -> bool {
    sim.links
        .get(&(ServerId(from), ServerId(to)))
        .is_some_and(|q| q.iter().any(want))
}

/// Server `id`'s snapshot (if any) is a point of `history` and its log holds exactly the rest
/// of `history`, without a hole.
fn assert_log_is(sim: &Sim, id: u64, history: &[Zxid], ctx: &str) {
    let snap = node(sim, id).snap_zxid;
    assert!(
        snap == Zxid::ZERO || history.contains(&snap),
        "{ctx}: server {id}'s snapshot {snap} is not in the history"
    );
    let rest: Vec<Zxid> = history.iter().copied().filter(|z| *z > snap).collect();
    assert_eq!(logged(sim, id), rest, "{ctx}: server {id}'s log");
    assert_no_hole(sim, id);
}

/// Every server in `ids` serves, and their logs and trees equal `history`, without holes.
fn assert_converged(sim: &Sim, ids: &[u64], history: &[Zxid]) {
    for id in ids {
        assert!(serving(sim, *id), "server {id} serves: {:?}", sim.events);
        assert_eq!(applied(sim, *id), history, "server {id}'s tree");
        assert_log_is(sim, *id, history, "");
    }
}

/// **ZOOKEEPER-2845** — "Data inconsistency issue due to retain database in leader election"
/// (fixed in 3.4.12). ZooKeeper kept its in-memory database across an election and registered
/// with the leader with that database's last *processed* zxid, while its log could hold a txn
/// it had never processed; the leader saw nothing to truncate.
///
/// Interleaving (A, B followers, C leader; all hold T0):
/// 1. C logs T1 and makes it durable; its PROPOSAL never reaches A and B (they restart).
/// 2. A and B form a quorum without C (here: B leads epoch 2) and write more.
/// 3. C rejoins as a follower reporting T0 (its database), gets a DIFF, keeps T1 in its log.
/// 4. C restarts, replays its log and now holds T1, which nobody else has.
///
/// Paddock rule: a role starts from "all applied" — the tree caught up with the log (the
/// driver's `catch_up`, the harness's `Storage::reload`) — and a learner registers with the last
/// zxid of its *log* (`Follower::new(.., last_zxid)`, the driver's `last_zxid()`), so the leader
/// sees T1 and sends TRUNC (here TRUNC+DIFF) below it.
#[test]
fn zookeeper_2845_an_uncommitted_txn_kept_by_a_rejoining_server_is_truncated() {
    let mut sim = Sim::new(2845, config(), &[1, 2, 3], BTreeMap::new());
    let (a, b, c) = (1, 2, 3);
    sim.elect(c);
    sim.run(10_000);
    // T0 = (1,3), everywhere.
    let mut history = write(&mut sim, c, 3);
    // 1. C logs T1; A and B restart before its PROPOSAL reaches them; T1 becomes durable on C.
    let t1 = sim.propose(c).expect("C leads");
    sim.crash(a);
    sim.crash(b);
    sim.run(10_000);
    assert_eq!(
        durable(&sim, c).last(),
        Some(&t1),
        "T1 is durable on C only"
    );
    assert!(!applied(&sim, c).contains(&t1), "T1 was never committed");
    // 2. A and B elect B (C, still leading its lost quorum, takes no part) and write in epoch 2.
    elect_without(&mut sim, b, &[c]);
    history.extend(write(&mut sim, b, 2));
    // 3. C rejoins B.
    sim.start_follower(c, b);
    sim.run(10_000);
    assert!(
        !logged(&sim, c).contains(&t1),
        "TRUNC removed T1 from C's log"
    );
    history.extend(write(&mut sim, b, 2));
    assert_converged(&sim, &[a, b, c], &history);
    // 4. C restarts and replays its log: T1 does not come back.
    sim.crash(c);
    sim.start_follower(c, b);
    sim.run(10_000);
    history.extend(write(&mut sim, b, 1));
    assert_converged(&sim, &[a, b, c], &history);
}

/// **ZOOKEEPER-3911** — "Data inconsistency caused by DIFF sync uncommitted log" (fixed in 2020,
/// apache/zookeeper#1445). A follower synced by DIFF acked NEWLEADER before it had written the
/// DIFF's transactions (they were logged only after UPTODATE); the leader, counting those acks,
/// started serving the history they covered.
///
/// Interleaving (leader 1 holds (1,4..6), which followers 2 and 3 lack):
/// 1. 1 leads epoch 2 and sends both followers DIFF (1,4..6) + NEWLEADER.
/// 2. The followers ack NEWLEADER before their logs hold (1,4..6); 1 serves (1,1..6).
/// 3. Every server crashes (here: right when 1 starts serving); 1 never comes back.
/// 4. 2 and 3 elect a leader without (1,4..6): transactions clients read from 1 are gone.
///
/// Paddock rule: the NEWLEADER ack is a `DurableAck` built only once currentEpoch *and*
/// everything logged during the sync are reported durable (`Follower::flush_acks`: `durable >=
/// covers`), so when the leader serves, a quorum holds the history on disk and FLE elects one
/// of them. The test first stalls both followers' log fsyncs (the leader must not serve), then
/// replays the crash at the moment of serving under 60 seeded interleavings of deliveries and
/// fsyncs.
#[test]
fn zookeeper_3911_history_a_leader_served_after_a_diff_sync_survives_a_crash_of_all() {
    let initial = || {
        BTreeMap::from([
            (1, storage(1, &run_of(1, 1, 6))),
            (2, storage(1, &run_of(1, 1, 3))),
            (3, storage(1, &run_of(1, 1, 3))),
        ])
    };
    // Followers whose log fsyncs never return: no NEWLEADER ack, the leader does not serve.
    let mut sim = Sim::new(3911, config(), &[1, 2, 3], initial());
    sim.stall_log(2);
    sim.stall_log(3);
    sim.elect(1);
    sim.run(10_000);
    assert!(!serving(&sim, 1), "no quorum of durable NEWLEADER acks yet");
    for f in [2, 3] {
        assert_eq!(logged(&sim, f), run_of(1, 1, 6), "{f} wrote the DIFF");
        assert_eq!(durable(&sim, f), run_of(1, 1, 3), "{f} did not sync it");
        assert!(!in_flight(&sim, f, 1, |m| matches!(
            m,
            PeerMessage::AckNewLeader { .. }
        )));
    }
    sim.resume_log(2);
    sim.run(10_000);
    assert!(serving(&sim, 1), "served once follower 2's log is durable");

    // Seeded: the followers' log fsyncs stall for a seeded number of steps (epoch files are
    // still written meanwhile); every server crashes the moment the leader serves.
    for seed in 0..60 {
        let mut sim = Sim::new(seed, config(), &[1, 2, 3], initial());
        sim.stall_log(2);
        sim.stall_log(3);
        sim.elect(1);
        let stall_steps = sim.rng.below(40);
        let mut steps = 0;
        while !serving(&sim, 1) {
            if steps == stall_steps {
                sim.resume_log(2);
                sim.resume_log(3);
            }
            if !sim.step() {
                assert!(steps < stall_steps, "seed {seed}: idle, leader not serving");
                steps = stall_steps;
                continue;
            }
            steps += 1;
        }
        let served = applied(&sim, 1);
        assert_eq!(served, run_of(1, 1, 6), "seed {seed}");
        for id in [1, 2, 3] {
            sim.crash(id);
        }
        let next = fle_winner(&sim, &[2, 3]);
        elect_without(&mut sim, next, &[1]);
        let other = 5 - next;
        assert!(serving(&sim, other), "seed {seed}: {:?}", sim.events);
        let mut history = served.clone();
        history.extend(write(&mut sim, next, 2));
        assert_converged(&sim, &[2, 3], &history);
    }
}

/// **ZOOKEEPER-4643** — "Committed txns may be improperly truncated if follower crashes right
/// after updating currentEpoch but before persisting txns to disk" (fixed with
/// ZOOKEEPER-4394, apache/zookeeper#2152). On NEWLEADER a follower wrote currentEpoch before the synced
/// transactions were on disk. FLE compares currentEpoch first, so a crash in between left a
/// server with a newer epoch and a shorter log, which could win the election and truncate
/// committed transactions on the others.
///
/// Interleaving (epoch 1: 1 and 2 committed (1,1..4); 3 holds only (1,1..2)):
/// 1. 2 is down; 1 leads epoch 2 with 3, sends DIFF (1,3..4) + NEWLEADER.
/// 2. 3 writes currentEpoch = 2; its log fsync of (1,3..4) has not returned; it crashes.
/// 3. 1 goes down too; 2 and 3 restart. Votes: 3 = (epoch 2, (1,2)), 2 = (epoch 1, (1,4)).
/// 4. 3 wins, leads epoch 3 and sends 2 TRUNC to (1,2): committed (1,3..4) are lost.
///
/// Paddock rule: on NEWLEADER the follower asks for `PersistCurrentEpoch` only once everything
/// logged during the sync is durable (`Follower::on_persisted`), then acks; a crash before that
/// leaves currentEpoch at 1, so 2 wins the election and 3 is brought up by DIFF.
#[test]
fn zookeeper_4643_no_newer_current_epoch_over_a_log_that_lacks_the_synced_txns() {
    let committed = run_of(1, 1, 4);
    let mut sim = Sim::new(
        4643,
        config(),
        &[1, 2, 3],
        BTreeMap::from([
            (1, storage(1, &committed)),
            (2, storage(1, &committed)),
            (3, storage(1, &run_of(1, 1, 2))),
        ]),
    );
    // 1-2. 1 and 3 establish epoch 2 while 3's log fsyncs stall; then 3 crashes.
    sim.stall_log(3);
    sim.elect(1);
    sim.crash(2);
    sim.run(10_000);
    assert_eq!(logged(&sim, 3), committed, "3 wrote the DIFF (1,3..4)");
    sim.crash(3);
    sim.resume_log(3);
    assert_eq!(logged(&sim, 3), run_of(1, 1, 2), "the crash lost (1,3..4)");
    assert_eq!(
        node(&sim, 3).current_epoch,
        Epoch(1),
        "currentEpoch was not advanced over a log that lacks the synced history"
    );
    // 3-4. 1 stays down; 2 and 3 restart and elect whom FLE elects.
    sim.crash(1);
    let next = fle_winner(&sim, &[2, 3]);
    elect_without(&mut sim, next, &[1]);
    assert_eq!(next, 2, "the server holding the committed history wins");
    let mut history = committed.clone();
    history.extend(write(&mut sim, next, 2));
    assert_converged(&sim, &[2, 3], &history);
    // 1 comes back and follows.
    sim.start_follower(1, next);
    sim.run(10_000);
    history.extend(write(&mut sim, next, 1));
    assert_converged(&sim, &[1, 2, 3], &history);
}

/// **ZOOKEEPER-4646** — "Committed txns may still be lost if followers crash after replying ACK
/// of NEWLEADER but before writing txns to disk" (fixed with ZOOKEEPER-4394,
/// apache/zookeeper#2152). After the ZOOKEEPER-3911 fix the follower *queued* the transactions it had not seen
/// committed (`packetsNotCommitted`: the proposals of the sync) to its log thread and then
/// acked, without waiting for the fsync; the leader counted that ack for them.
///
/// Interleaving (1 leads, 2 follows, 3 was down and rejoins while 1 broadcasts):
/// 1. 1 and 2 commit (1,6..10) without 3; 2's log fsyncs then stall; 1 proposes P = (1,11),
///    which 2 writes but cannot ack.
/// 2. 3 rejoins and takes the whole sync — DIFF (1,6..10), NEWLEADER, PROPOSAL P — before any
///    of its fsyncs returns.
/// 3. The fsync of the DIFF returns, then 3's disk stalls with P written but not synced;
///    currentEpoch is written and 3 acks NEWLEADER. In ZooKeeper the ack also covered P: with
///    1's own ack P is committed and applied.
/// 4. All three crash; 1 never comes back; 2 and 3 elect a leader: P is gone.
///
/// Paddock rule: every follower ack is a `DurableAck` built in the handler of a `Persisted`
/// notice, and a proposal is acked only once a `Persisted::Log` covers it
/// (`Follower::flush_acks`: `zxid <= durable`), whatever else (here the NEWLEADER ack) leaves
/// in the same handler.
#[test]
fn zookeeper_4646_a_follower_acks_no_proposal_it_has_written_but_not_synced() {
    let mut sim = Sim::new(4646, config(), &[1, 2, 3], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    let mut committed = write(&mut sim, 1, 5);
    sim.crash(3);
    committed.extend(write(&mut sim, 1, 5));
    // 1. 2's fsyncs stall; P is written on 1 (durable) and 2 (not).
    sim.stall_log(2);
    let p = sim.propose(1).expect("1 leads");
    sim.run(10_000);
    assert!(logged(&sim, 2).contains(&p) && !durable(&sim, 2).contains(&p));
    // 2. 3 rejoins and takes the whole sync before any of its notices.
    sim.start_follower(3, 1);
    sim.deliver(3, 1); // FOLLOWERINFO
    sim.deliver(1, 3); // LEADERINFO: the epoch it already accepted, ACKEPOCH at once
    sim.deliver(3, 1); // ACKEPOCH: the leader sends DIFF, TXNs, NEWLEADER, PROPOSAL P
    while sim.deliver(1, 3) {}
    assert!(
        logged(&sim, 3).ends_with(&run_of(1, 6, 11)),
        "3 wrote them all"
    );
    // 3. The DIFF's fsync returns, P's does not; currentEpoch is written, NEWLEADER acked.
    for _ in 6..=10 {
        assert!(sim.persist(3));
    }
    sim.stall_log(3);
    sim.run(10_000);
    assert!(
        serving(&sim, 3),
        "3 acked NEWLEADER once the DIFF was durable"
    );
    assert!(!durable(&sim, 3).contains(&p));
    assert_eq!(
        applied(&sim, 1),
        committed,
        "nobody acked P durably: not committed"
    );
    // 4. All crash; 2 and 3 continue without 1.
    let served = applied(&sim, 1);
    for id in [1, 2, 3] {
        sim.crash(id);
    }
    sim.resume_log(2);
    sim.resume_log(3);
    let next = fle_winner(&sim, &[2, 3]);
    elect_without(&mut sim, next, &[1]);
    let mut history = served;
    history.extend(write(&mut sim, next, 2));
    assert_converged(&sim, &[2, 3], &history);
    // 1 returns; P, never committed, is truncated from its log.
    sim.start_follower(1, next);
    sim.run(10_000);
    assert!(!logged(&sim, 1).contains(&p));
    assert_converged(&sim, &[1, 2, 3], &history);
}

/// **ZOOKEEPER-4785** — "Txn loss due to race condition in Learner.syncWithLeader() during
/// DIFF sync" (fixed in 3.9.2, backported to 3.8). The follower applied the DIFF's
/// transactions to its in-memory database while their log writes were still queued; bounced
/// before the writes completed, it registered again with the last zxid of that database, so
/// the leader sent only what came after: the follower's log kept a hole and a later restart (or
/// its leadership) lost the transactions.
///
/// Interleaving (1 leads, 2 follows, 3 was down while (1,4..8) were committed):
/// 1. 3 rejoins; DIFF (1,4..8) is applied to its tree, the log fsync has not returned.
/// 2. 3 is bounced: the unsynced log entries are gone, the tree (ZooKeeper's retained
///    database) is not.
/// 3. 3 registers with (1,8) and gets an empty DIFF; new txns are logged after a hole.
/// 4. 1 goes down; 3 wins the election and leads with a log missing (1,4..8).
///
/// Paddock rule: a role starts from "all applied" rebuilt from the durable log (the driver
/// drains the log writer, then `catch_up`; a restart replays the log; the harness's
/// `Storage::reload`), and the learner registers with its log's last zxid, so 3 re-registers at
/// (1,3) and is sent (1,4..8) again. The harness also checks every log append is above the
/// last logged zxid, and the test that no log has a hole.
#[test]
fn zookeeper_4785_a_learner_bounced_mid_diff_is_resent_what_it_had_not_synced() {
    let mut sim = Sim::new(4785, config(), &[1, 2, 3], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    let mut history = write(&mut sim, 1, 3);
    sim.crash(3);
    history.extend(write(&mut sim, 1, 5));
    // 1. 3 rejoins; its log fsyncs stall during the DIFF.
    sim.stall_log(3);
    sim.start_follower(3, 1);
    sim.run(10_000);
    assert_eq!(applied(&sim, 3), history, "3 applied the DIFF");
    assert_eq!(durable(&sim, 3), run_of(1, 1, 3), "but did not sync it");
    // 2-3. 3 is bounced and registers again.
    sim.crash(3);
    sim.resume_log(3);
    sim.start_follower(3, 1);
    sim.run(10_000);
    history.extend(write(&mut sim, 1, 2));
    assert_converged(&sim, &[1, 2, 3], &history);
    // 4. 1 goes down; 2 and 3 hold the same history, and FLE's tie-break elects 3.
    sim.crash(1);
    let next = fle_winner(&sim, &[2, 3]);
    assert_eq!(next, 3);
    elect_without(&mut sim, next, &[1]);
    sim.start_follower(1, next);
    sim.run(10_000);
    history.extend(write(&mut sim, next, 2));
    assert_converged(&sim, &[1, 2, 3], &history);
}

/// **ZOOKEEPER-4925** — "Fix data loss due to propagation of discontinuous committedLog"
/// (3.9.3 only, fixed 3.9.4). A learner applied the transactions of its sync through a path
/// that skipped its in-memory `committedLog`, the window a leader DIFFs from. Once that learner
/// led, it DIFFed other stale servers from a window with a hole: they never got the missing
/// transactions.
///
/// Interleaving (5 servers; 1 leads):
/// 1. All hold A = (1,1..3). 4 and 5 are down while 1, 2, 3 commit B = (1,4..7).
/// 2. 4 rejoins and is synced by DIFF (B arrives as sync TXNs).
/// 3. 1 and 2 go down; 3, 4, 5 elect 4 (same epoch and zxid as 3, higher id).
/// 4. 5 registers at (1,3) and is DIFFed from 4's window: in ZooKeeper 3.9.3, without B.
///
/// Paddock rule: a leader's DIFF window is read from its durable log when it takes the role
/// (the driver's `enter_role`: `read_after`, the harness's `Sim::elect`: `Leader::new(history)`),
/// never kept from its learner role, and a sync TXN is logged like any other transaction
/// (`Follower::log_and_apply`); `sync_mode::choose` DIFFs only from a zxid the window holds.
#[test]
fn zookeeper_4925_a_leader_synced_by_diff_diffs_others_without_a_hole() {
    let mut sim = Sim::new(4925, config(), &[1, 2, 3, 4, 5], BTreeMap::new());
    sim.elect(1);
    sim.run(10_000);
    let mut history = write(&mut sim, 1, 3);
    // 1. B is committed by 1, 2, 3.
    sim.crash(4);
    sim.crash(5);
    history.extend(write(&mut sim, 1, 4));
    // 2. 4 rejoins by DIFF.
    sim.start_follower(4, 1);
    sim.run(10_000);
    assert_converged(&sim, &[1, 2, 3, 4], &history);
    // 3. 1 and 2 go down; FLE elects 4.
    sim.crash(1);
    sim.crash(2);
    let next = fle_winner(&sim, &[3, 4, 5]);
    assert_eq!(next, 4);
    // 4. 5 syncs from 4.
    elect_without(&mut sim, next, &[1, 2]);
    history.extend(write(&mut sim, next, 2));
    assert_converged(&sim, &[3, 4, 5], &history);
    for id in [1, 2] {
        sim.start_follower(id, next);
    }
    sim.run(10_000);
    history.extend(write(&mut sim, next, 1));
    assert_converged(&sim, &[1, 2, 3, 4, 5], &history);
}

/// **A TRUNC below a snapshot** (issue 18's "a TRUNC racing a snapshot"; found in Paddock by the
/// seeded sweep below, seeds 613 and 661 of 1000). A SNAP sync carries the leader's whole
/// initial history, committed only once the new epoch is established; the learner installs it
/// durably at once. If that epoch never is established, the learner holds a snapshot with txns
/// nobody committed, under its old currentEpoch. A server with a newer currentEpoch and without
/// those txns then wins FLE and sends it TRUNC below its snapshot, which no storage can roll back.
///
/// Interleaving (1 led epoch 2 and logged (2,1), (2,2) that nobody acked; 3 holds (1,1) with
/// currentEpoch 2; 2 is empty, currentEpoch 1):
/// 1. 1 leads epoch 3 with 2 (3 away) and SNAPs it at (2,2); 2 installs the snapshot, its
///    fsync does not return before 1 and 2 crash: 2 keeps the snapshot, currentEpoch stays 1.
/// 2. 2 and 3 restart; votes 2 = (1, (2,2)), 3 = (2, (1,1)): 3 wins and sends 2 TRUNC to (1,1).
/// 3. Before the first fix the driver rebuilt its state from the snapshot and went on: 2 served
///    (2,1) and (2,2), which the ensemble does not have, and applied epoch 4 on top (a data
///    divergence). The first fix stopped 2 instead (safe, but its data had to be removed).
///
/// Paddock rule: the learner tells the leader its snapshot's zxid in FOLLOWERINFO and the leader
/// sends a SNAP where it would TRUNC below it (`sync_mode::choose`); a driver told to truncate
/// below its snapshot all the same (by a leader that does not know the field) still stops,
/// changing nothing. `tests/peer.rs` has the same on the real driver.
#[test]
fn a_learner_with_a_snapshot_above_the_new_leaders_history_gets_a_snap_instead_of_diverging() {
    let mut one = storage(2, &[z(1, 1), z(2, 1), z(2, 2)]);
    one.accepted_epoch = Epoch(2);
    let mut sim = Sim::new(
        5094,
        config(),
        &[1, 2, 3],
        BTreeMap::from([(1, one), (2, storage(1, &[])), (3, storage(2, &[z(1, 1)]))]),
    );
    // 1. 1 SNAPs 2 in epoch 3; 2's fsync stalls; both crash.
    sim.stall_log(2);
    sim.elect(1);
    sim.crash(3);
    sim.run(10_000);
    assert_eq!(node(&sim, 2).snap_zxid, z(2, 2), "2 installed the SNAP");
    assert!(!serving(&sim, 1), "epoch 3 was not established");
    sim.crash(1);
    sim.crash(2);
    sim.resume_log(2);
    assert_eq!(node(&sim, 2).current_epoch, Epoch(1));
    // 2. 2 and 3 elect 3, whose history ends at (1,1), below 2's snapshot.
    let next = fle_winner(&sim, &[2, 3]);
    assert_eq!(next, 3);
    sim.elect(next);
    sim.crash(1);
    sim.run(10_000);
    // 3. 2 got 3's state as a SNAP, not a TRUNC it could not carry out: the two serve.
    assert!(sim.stopped.is_empty(), "{:?}", sim.events);
    assert!(serving(&sim, 2) && serving(&sim, 3), "{:?}", sim.events);
    assert_eq!(node(&sim, 2).snap_zxid, z(1, 1));
    let mut history = vec![z(1, 1)];
    history.extend(write(&mut sim, next, 2));
    assert_converged(&sim, &[2, 3], &history);
    // 1 comes back: its (2,1), (2,2) are in its log, truncated.
    sim.start_follower(1, next);
    sim.run(10_000);
    history.extend(write(&mut sim, next, 1));
    assert_converged(&sim, &[1, 2, 3], &history);
}

/// The family above, generalised: 1000 seeds of five rounds each. A round elects whom FLE would
/// elect among a random quorum (the others stay away), then runs a random mix of proposals,
/// log-fsync stalls on any server and partial runs — so the sync of the new epoch is often still
/// under way — and crashes a random set of servers at a random point (losing their unsynced log
/// entries). Checked: whenever a leader serves, it holds every txn any earlier leader had applied
/// (what clients were told); at the end, with everyone back, every server holds the same log and
/// tree, without a hole.
#[test]
fn seeded_crashes_amid_stalled_fsyncs_lose_no_applied_txn_and_leave_no_hole() {
    let (mut served_rounds, mut mid_sync_crashes, mut stops) = (0, 0, 0);
    for seed in 0..1000 {
        let mut sim = Sim::new(seed, config(), &[1, 2, 3], BTreeMap::new());
        let mut acknowledged: Vec<Zxid> = Vec::new();
        for round in 0..5 {
            let ctx = format!("seed {seed} round {round}");
            let away = [0, 1, 2, 3][sim.rng.below(4)]; // 0: nobody stays away
            let quorum: Vec<u64> = (1..=3).filter(|id| *id != away).collect();
            let leader = fle_winner(&sim, &quorum);
            sim.elect(leader);
            if away != 0 {
                sim.crash(away);
            }
            for _ in 0..sim.rng.below(24) {
                let id = 1 + sim.rng.below(3) as u64;
                match sim.rng.below(6) {
                    0 => sim.stall_log(id),
                    1 => sim.resume_log(id),
                    2 | 3 if serving(&sim, leader) => {
                        sim.propose(leader).expect("the leader serves");
                    }
                    _ => {}
                }
                let k = sim.rng.below(10);
                sim.run(k);
            }
            if serving(&sim, leader) {
                let applied = applied(&sim, leader);
                assert!(
                    applied.starts_with(&acknowledged),
                    "{ctx}: leader {leader} serves without applied txns: {applied:?} vs {acknowledged:?}"
                );
                acknowledged = applied;
                served_rounds += 1;
            }
            for id in 1..=3 {
                if sim.rng.below(2) == 1 {
                    if id != away && !serving(&sim, id) {
                        mid_sync_crashes += 1;
                    }
                    sim.crash(id);
                }
                sim.resume_log(id);
            }
        }
        let ctx = format!("seed {seed} end");
        let leader = fle_winner(&sim, &[1, 2, 3]);
        sim.stopped.clear();
        sim.elect(leader);
        sim.run(100_000);
        stops += sim
            .events
            .iter()
            .filter(|(_, c)| matches!(c, Command::GoLooking(Reason::Protocol(why)) if why.contains("below the snapshot")))
            .count();
        let history = applied(&sim, leader);
        assert!(
            history.starts_with(&acknowledged),
            "{ctx}: {history:?} vs {acknowledged:?}"
        );
        for id in 1..=3 {
            assert!(serving(&sim, id), "{ctx}: {id} serves: {:?}", sim.events);
            assert_eq!(applied(&sim, id), history, "{ctx}: server {id}'s tree");
            assert_log_is(&sim, id, &history, &ctx);
        }
    }
    eprintln!(
        "{served_rounds} of 5000 rounds served, {mid_sync_crashes} crashes before serving, \
         {stops} servers stopped by a TRUNC below their snapshot"
    );
    assert!(
        served_rounds > 2000 && mid_sync_crashes > 500,
        "the schedule exercises both"
    );
    // Seeds 613 and 661 once ended with a server stopped by a TRUNC below its snapshot; the
    // leader now sends such a learner a SNAP.
    assert_eq!(stops, 0, "servers stopped by a TRUNC below their snapshot");
}
