//! Linearizability of real processes under leader faults (issue 18, item 2): 4 clients, each
//! with its own session on a 3-server ensemble, run seeded random operations on 3 znodes —
//! `sync`+`getData`, unconditional and versioned `setData`, `create`, `delete` — while the
//! leader is SIGKILLed and later restarted, or SIGSTOPped past syncLimit and later resumed. Every call and answer is recorded with its time,
//! and `paddock-lincheck` checks the history against a sequential model of a znode (one part
//! per znode). An operation whose answer never came (connection loss, timeout) may have taken
//! effect or not; the checker allows both. A lost acknowledged write, a stale read after
//! `sync`, a write applied twice (a resend after a resume) or two CAS winners on one version
//! all fail it.
//!
//! Seeded (`PADDOCK_LIN_SEED`, default 1) and bounded (`PADDOCK_LIN_SECS`, default 6 s of load).

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::lin::{check_linearizable, connect, env_u64, leader, Workload, CLIENTS};
use support::LocalEnsemble;

/// The fault injected while the clients run.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL the leader a third of the way in, restart it at two thirds.
    KillLeader,
    /// SIGSTOP the leader a third of the way in (far past syncLimit × tickTime: the others
    /// elect a new leader), SIGCONT it at two thirds: it must step down and serve nothing stale.
    PauseLeader,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_a_leader_crash_are_linearizable() {
    run(Fault::KillLeader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_under_a_paused_leader_are_linearizable() {
    run(Fault::PauseLeader).await;
}

async fn run(fault: Fault) {
    let seed = env_u64("PADDOCK_LIN_SEED", 1);
    let secs = env_u64("PADDOCK_LIN_SECS", 6).max(3);
    let mut e = LocalEnsemble::start(3, &support::lin::FAST_ENSEMBLE).await;
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        clients.push(connect(&e.connect_string(), seed.wrapping_add(id as u64)).await);
    }
    // The watching session on a follower, which stays up: its events are checked exactly.
    let watched = (leader(&e, &[0, 1, 2]).await + 1) % 3;
    let watcher = e.peers[watched].addr.to_string();
    let mut workload = Workload::start(clients, &watcher, seed, secs).await;

    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    let victim = leader(&e, &[0, 1, 2]).await;
    if victim == watched {
        workload.watcher_lost_its_server();
    }
    match fault {
        Fault::KillLeader => e.peers[victim].kill(),
        Fault::PauseLeader => e.peers[victim].stop_signal(),
    }
    eprintln!("seed {seed}: {fault:?} (server {})", victim + 1);
    tokio::time::sleep(Duration::from_secs(secs) / 3).await;
    match fault {
        Fault::KillLeader => e.peers[victim] = e.peers[victim].restart(),
        Fault::PauseLeader => e.peers[victim].cont(),
    }
    workload.finish_loops().await;
    e.wait_serving(&[0, 1, 2]).await;
    let addrs: Vec<SocketAddr> = e.peers.iter().map(|p| p.addr).collect();
    workload.check_sessions_and_close(&addrs, seed).await;
    let history = workload.take_history();
    check_linearizable(seed, &format!("{fault:?}"), &history);
}

/// The wire order checker (`support::lin::order`) on hand-written traces: what it must accept
/// and, each one change away, what it must refuse. These are the mutations the live runs are
/// checked against (an event delivered after the answer that shows its change, an event lost,
/// one repeated, one of the wrong kind).
mod order_checker {
    use paddock_proto::v1::EventType as E;

    use crate::support::lin::order::{check, cross_check, Kind, Mode, Seen, Shows};

    fn ev(path: &str, kind: E, zxid: i64) -> Seen {
        Seen::Event {
            path: path.into(),
            kind,
            zxid,
        }
    }

    fn answer(path: &str, op: Kind, zxid: i64, shows: Shows) -> Seen {
        Seen::Answer {
            path: path.into(),
            op,
            zxid,
            error: if shows == Shows::Absent && matches!(op, Kind::GetData { .. }) {
                -101
            } else {
                0
            },
            shows,
        }
    }

    fn present(czxid: i64, mzxid: i64, version: i32) -> Shows {
        Shows::Present {
            czxid,
            mzxid,
            version,
        }
    }

    const READ: Kind = Kind::GetData { watch: false };
    const READ_W: Kind = Kind::GetData { watch: true };
    const EXISTS_W: Kind = Kind::Exists { watch: true };

    /// A persistent recursive watch set at 10; /a created at 11, changed at 12 (by this
    /// session's setData), read at 13; deleted at 14.
    fn persistent() -> Vec<Seen> {
        vec![
            Seen::Connected { zxid: 9 },
            answer("/", Kind::AddWatch, 10, Shows::Nothing),
            ev("/a", E::NodeCreated, 11),
            ev("/a", E::NodeDataChanged, 12),
            answer("/a", Kind::Set, 12, present(11, 12, 1)),
            answer("/a", READ, 13, present(11, 12, 1)),
            ev("/a", E::NodeDeleted, 14),
            answer("/a", READ, 14, Shows::Absent),
        ]
    }

    #[test]
    fn events_before_the_answers_that_show_them_pass() {
        assert_eq!(check(Mode::Persistent, &persistent(), true), Ok(()));
    }

    #[test]
    fn an_event_delivered_after_the_answer_showing_its_change_fails() {
        let mut t = persistent();
        t.swap(3, 4); // the setData's answer before its own NodeDataChanged
        assert!(check(Mode::Persistent, &t, true).is_err());
        // Even when order only is checked: an event older than an answer received before it.
        assert!(check(Mode::Persistent, &t, false).is_err());
    }

    #[test]
    fn a_lost_event_fails() {
        let mut t = persistent();
        t.remove(3); // no NodeDataChanged at 12: version 1 is not explained
        assert!(check(Mode::Persistent, &t, true).is_err());
        let mut t = persistent();
        t.remove(6); // no NodeDeleted before the answer showing /a gone
        assert!(check(Mode::Persistent, &t, true).is_err());
    }

    #[test]
    fn a_repeated_event_fails() {
        let mut t = persistent();
        t.insert(4, ev("/a", E::NodeDataChanged, 12));
        assert!(check(Mode::Persistent, &t, false).is_err());
    }

    /// A data watch left at 10 on /a (mzxid 5) fires at 12; an exist watch on /b at 12 fires
    /// with /b's creation at 13.
    fn one_shot() -> Vec<Seen> {
        vec![
            Seen::Connected { zxid: 9 },
            answer("/a", READ_W, 10, present(5, 5, 0)),
            answer("/a", READ_W, 11, present(5, 5, 0)),
            ev("/a", E::NodeDataChanged, 12),
            answer("/a", READ, 12, present(5, 12, 1)),
            answer("/b", EXISTS_W, 12, Shows::Absent),
            ev("/b", E::NodeCreated, 13),
            answer("/b", READ, 13, present(13, 13, 0)),
        ]
    }

    #[test]
    fn one_shot_watches_fire_once_before_the_answers_that_show_them() {
        assert_eq!(check(Mode::OneShot, &one_shot(), true), Ok(()));
    }

    #[test]
    fn a_one_shot_event_after_the_answer_showing_its_change_fails() {
        let mut t = one_shot();
        t.swap(3, 4);
        assert!(check(Mode::OneShot, &t, true).is_err());
        let mut t = one_shot();
        t.swap(6, 7);
        assert!(check(Mode::OneShot, &t, true).is_err());
    }

    #[test]
    fn a_second_event_for_one_registration_fails() {
        let mut t = one_shot();
        t.insert(4, ev("/a", E::NodeDeleted, 12));
        assert!(check(Mode::OneShot, &t, true).is_err());
    }

    #[test]
    fn a_watching_read_left_unanswered_may_have_set_its_watch() {
        // The stream was lost before the answer to a watching read of /c: the server may hold
        // the watch, so one event on /c is no violation; a second one is.
        let mut t = one_shot();
        t.push(Seen::Unanswered {
            path: "/c".into(),
            op: READ_W,
        });
        t.push(Seen::Connected { zxid: 13 });
        t.push(ev("/c", E::NodeDataChanged, 14));
        assert_eq!(check(Mode::OneShot, &t, true), Ok(()));
        t.push(ev("/c", E::NodeDeleted, 15));
        assert!(check(Mode::OneShot, &t, true).is_err());
    }

    #[test]
    fn an_event_of_the_wrong_kind_fails() {
        let mut t = one_shot();
        t[6] = ev("/b", E::NodeDeleted, 13);
        assert!(check(Mode::OneShot, &t, true).is_err());
    }

    #[test]
    fn a_one_shot_event_must_be_the_first_change_after_its_registration() {
        // The persistent session saw /a change at 11 and 12; the watch set at 10 fired at 12.
        let p = vec![
            answer("/", Kind::AddWatch, 5, Shows::Nothing),
            ev("/a", E::NodeDataChanged, 11),
            ev("/a", E::NodeDataChanged, 12),
        ];
        let o = vec![
            answer("/a", READ_W, 10, present(5, 5, 0)),
            ev("/a", E::NodeDataChanged, 12),
        ];
        assert!(cross_check(&o, &p).is_err());
        let mut fine = p.clone();
        fine.remove(1);
        assert_eq!(cross_check(&o, &fine), Ok(1));
    }
}
