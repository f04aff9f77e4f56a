//! The history format round-trips, and the checker finds the anomalies the chaos runs look for
//! in histories edited to hold them (a stale read, a lost acknowledged write, a value never
//! written).

use paddock_lincheck::zk::{Input, Output};

use super::check::{check_default, Counts, Finding};
use super::history::{self, Op};

const MS: u64 = 1_000_000;

fn op(client: usize, input: Input, output: Option<Output>, call_ms: u64, ret_ms: u64) -> Op {
    Op {
        client,
        ret: output.as_ref().map(|_| ret_ms * MS),
        input,
        output,
        call: call_ms * MS,
    }
}

fn read(path: &str) -> Input {
    Input::Read { path: path.into() }
}

/// Client 0 creates /a = 1, client 1 sets it to 2 (CAS on version 0), client 2 reads it after
/// the set returned, and a final read: linearizable as recorded.
fn good() -> Vec<Op> {
    vec![
        op(
            0,
            Input::Create {
                path: "/a".into(),
                data: 1,
            },
            Some(Output::Done),
            0,
            2,
        ),
        op(
            1,
            Input::Set {
                path: "/a".into(),
                data: 2,
                version: 0,
            },
            Some(Output::Set { version: 1 }),
            3,
            5,
        ),
        op(2, read("/a"), Some(Output::Read(Some((2, 1)))), 6, 8),
        op(
            0,
            Input::Delete {
                path: "/b".into(),
                version: -1,
            },
            None,
            7,
            0,
        ),
        op(3, read("/a"), Some(Output::Read(Some((2, 1)))), 9, 10),
    ]
}

#[test]
fn history_lines_round_trip() {
    let ops = good();
    let mut buf = Vec::new();
    for o in &ops {
        history::write_line(&mut buf, o).expect("write");
    }
    let text = String::from_utf8(buf).expect("utf8");
    assert!(
        text.contains(r#""op":"set","path":"/a","data":2,"version":0,"out":{"set":1}"#),
        "{text}"
    );
    assert_eq!(history::read(text.as_bytes()).expect("read"), ops);
}

#[test]
fn bad_lines_are_errors_not_panics() {
    for bad in [
        "{",
        r#"{"client":0,"op":"set","path":"/a","out":null,"call":1,"ret":null}"#,
        r#"{"client":0,"op":"read","path":"/a","out":{"read":null},"call":1,"ret":null}"#,
        r#"{"client":0,"op":"read","path":"/a","out":{"read":null},"call":5,"ret":1}"#,
    ] {
        assert!(history::read(bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn a_correct_history_passes() {
    let ops = good();
    assert_eq!(check_default(&ops), Finding::Linearizable);
    let c = Counts::of(&ops);
    assert_eq!(
        (c.ops, c.reads, c.cas_ok, c.creates_ok, c.unknown, c.paths),
        (5, 2, 1, 1, 1, 2)
    );
}

#[test]
fn a_stale_read_is_an_anomaly() {
    // The read after the set returned sees the value before it (what a follower that skipped
    // the sync could answer).
    let mut ops = good();
    ops[2].output = Some(Output::Read(Some((1, 0))));
    match check_default(&ops) {
        Finding::Violation { path, ops } => {
            assert_eq!(path, "/a");
            assert_eq!(ops.len(), 4);
        }
        other => panic!("{other:?}"),
    }
    // Overlapping the set instead, the same answer is fine.
    ops[2].call = 4 * MS;
    assert_eq!(check_default(&ops), Finding::Linearizable);
}

#[test]
fn a_lost_acknowledged_write_is_an_anomaly() {
    // The final read shows the znode as if the acknowledged CAS never happened.
    let mut ops = good();
    ops.remove(2);
    ops[3].output = Some(Output::Read(Some((1, 0))));
    assert!(matches!(check_default(&ops), Finding::Violation { .. }));
}

#[test]
fn a_value_never_written_is_an_anomaly() {
    let mut ops = good();
    ops[4].output = Some(Output::Read(Some((7, 1))));
    let f = check_default(&ops);
    assert!(matches!(f, Finding::Violation { .. }), "{f:?}");
    assert!(f.describe().starts_with("ANOMALY"), "{}", f.describe());
}

#[test]
fn an_unanswered_write_may_have_happened() {
    // A set without an answer explains a later read of its value, and so does its absence.
    let mut ops = good();
    ops.push(op(
        1,
        Input::Set {
            path: "/a".into(),
            data: 9,
            version: -1,
        },
        None,
        11,
        0,
    ));
    ops.push(op(2, read("/a"), Some(Output::Read(Some((9, 2)))), 20, 21));
    assert_eq!(check_default(&ops), Finding::Linearizable);
    ops.last_mut().expect("op").output = Some(Output::Read(Some((2, 1))));
    assert_eq!(check_default(&ops), Finding::Linearizable);
}
