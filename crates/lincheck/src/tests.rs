use proptest::prelude::*;

use super::*;
use crate::zk::{Input, Output, Znode};

fn op(
    client: usize,
    input: Input,
    output: Option<Output>,
    call: u64,
    ret: Option<u64>,
) -> Operation<Input, Output> {
    Operation {
        client,
        input,
        output,
        call,
        ret,
    }
}

fn read(p: &str) -> Input {
    Input::Read { path: p.into() }
}
fn set(p: &str, data: u64, version: i32) -> Input {
    Input::Set {
        path: p.into(),
        data,
        version,
    }
}
fn create(p: &str, data: u64) -> Input {
    Input::Create {
        path: p.into(),
        data,
    }
}

#[test]
fn a_read_after_a_completed_write_must_see_it() {
    let ok = vec![
        op(0, create("/a", 1), Some(Output::Done), 0, Some(10)),
        op(
            1,
            read("/a"),
            Some(Output::Read(Some((1, 0)))),
            20,
            Some(30),
        ),
    ];
    assert_eq!(check(&Znode, &ok), Verdict::Linearizable);
    let stale = vec![
        op(0, create("/a", 1), Some(Output::Done), 0, Some(10)),
        op(1, read("/a"), Some(Output::Read(None)), 20, Some(30)),
    ];
    assert_eq!(
        check(&Znode, &stale),
        Verdict::Violation { part: vec![0, 1] }
    );
}

#[test]
fn a_read_overlapping_a_write_may_see_either_state_but_not_go_back() {
    for seen in [None, Some((1, 0))] {
        let h = vec![
            op(0, create("/a", 1), Some(Output::Done), 0, Some(100)),
            op(1, read("/a"), Some(Output::Read(seen)), 10, Some(20)),
        ];
        assert_eq!(check(&Znode, &h), Verdict::Linearizable, "{seen:?}");
    }
    // Two sequential reads during the write: new, then old again, is not linearizable.
    let h = vec![
        op(0, create("/a", 1), Some(Output::Done), 0, Some(100)),
        op(
            1,
            read("/a"),
            Some(Output::Read(Some((1, 0)))),
            10,
            Some(20),
        ),
        op(1, read("/a"), Some(Output::Read(None)), 30, Some(40)),
    ];
    assert!(matches!(check(&Znode, &h), Verdict::Violation { .. }));
}

#[test]
fn two_compare_and_sets_on_one_version_cannot_both_succeed() {
    let base = op(0, create("/a", 1), Some(Output::Done), 0, Some(1));
    let h = vec![
        base.clone(),
        op(
            1,
            set("/a", 2, 0),
            Some(Output::Set { version: 1 }),
            10,
            Some(50),
        ),
        op(
            2,
            set("/a", 3, 0),
            Some(Output::Set { version: 1 }),
            20,
            Some(60),
        ),
    ];
    assert!(matches!(check(&Znode, &h), Verdict::Violation { .. }));
    let h = vec![
        base,
        op(
            1,
            set("/a", 2, 0),
            Some(Output::Set { version: 1 }),
            10,
            Some(50),
        ),
        op(2, set("/a", 3, 0), Some(Output::BadVersion), 20, Some(60)),
        op(
            3,
            read("/a"),
            Some(Output::Read(Some((2, 1)))),
            70,
            Some(80),
        ),
    ];
    assert_eq!(check(&Znode, &h), Verdict::Linearizable);
}

#[test]
fn an_unanswered_write_may_take_effect_later_or_never_but_not_before_its_call() {
    let lost = op(0, set("/a", 9, -1), None, 50, None);
    let base = op(1, create("/a", 1), Some(Output::Done), 0, Some(10));
    // Seen long after (it took effect after the client gave up).
    let h = vec![
        base.clone(),
        lost.clone(),
        op(
            2,
            read("/a"),
            Some(Output::Read(Some((9, 1)))),
            1_000,
            Some(1_010),
        ),
    ];
    assert_eq!(check(&Znode, &h), Verdict::Linearizable);
    // Never seen: it may never have happened.
    let h = vec![
        base.clone(),
        lost.clone(),
        op(
            2,
            read("/a"),
            Some(Output::Read(Some((1, 0)))),
            1_000,
            Some(1_010),
        ),
    ];
    assert_eq!(check(&Znode, &h), Verdict::Linearizable);
    // Seen before it was sent: impossible.
    let h = vec![
        base,
        lost,
        op(
            2,
            read("/a"),
            Some(Output::Read(Some((9, 1)))),
            20,
            Some(30),
        ),
    ];
    assert!(matches!(check(&Znode, &h), Verdict::Violation { .. }));
}

#[test]
fn znodes_are_checked_apart_and_the_violation_names_its_part() {
    let h = vec![
        op(0, create("/a", 1), Some(Output::Done), 0, Some(10)),
        op(0, create("/b", 2), Some(Output::Done), 0, Some(10)),
        op(
            1,
            read("/a"),
            Some(Output::Read(Some((1, 0)))),
            20,
            Some(30),
        ),
        op(1, read("/b"), Some(Output::Read(None)), 20, Some(30)),
    ];
    assert_eq!(check(&Znode, &h), Verdict::Violation { part: vec![1, 3] });
}

#[test]
fn an_exhausted_budget_is_unknown_not_a_pass() {
    // Many overlapping unanswered writes and a read nobody explains: the search must explore.
    let mut h = vec![op(0, create("/a", 0), Some(Output::Done), 0, Some(1))];
    for i in 0..30 {
        h.push(op(i + 1, set("/a", 100 + i as u64, -1), None, 10, None));
    }
    h.push(op(
        99,
        read("/a"),
        Some(Output::Read(Some((7, 77)))),
        20,
        Some(30),
    ));
    assert!(matches!(
        check_with_budget(&Znode, &h, 1_000),
        Verdict::Unknown { .. }
    ));
}

#[test]
fn an_empty_history_is_linearizable() {
    assert_eq!(check(&Znode, &[]), Verdict::Linearizable);
}

/// A random sequence of operations on two znodes, each given a linearization point; the
/// intervals are drawn around the points, so the history is linearizable by construction (some
/// answers are dropped, as timeouts).
fn linearizable_history() -> impl Strategy<Value = Vec<Operation<Input, Output>>> {
    let input = (0..2usize, 0..4u8, 0..5u64, -1..3i32).prop_map(|(p, kind, data, version)| {
        let path = ["/a", "/b"][p].to_string();
        match kind {
            0 => Input::Read { path },
            1 => Input::Set {
                path,
                data,
                version,
            },
            2 => Input::Create { path, data },
            _ => Input::Delete { path, version },
        }
    });
    prop::collection::vec(
        (input, 0..50u64, 0..50u64, prop::bool::weighted(0.1)),
        0..40,
    )
    .prop_map(|steps| {
        let mut states = std::collections::HashMap::new();
        let mut out = Vec::new();
        for (i, (input, before, after, lost)) in steps.into_iter().enumerate() {
            let point = 100 * (i as u64 + 1);
            let state = states
                .entry(input.path().to_string())
                .or_insert(zk::State::Absent);
            let (next, answer) = Znode::apply(state, &input);
            *state = next;
            let is_read = matches!(input, Input::Read { .. });
            out.push(Operation {
                client: i % 4,
                input,
                output: (!lost || is_read).then_some(answer),
                call: point - before,
                ret: (!lost || is_read).then_some(point + after),
            });
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn histories_linearizable_by_construction_pass(h in linearizable_history()) {
        prop_assert_eq!(check(&Znode, &h), Verdict::Linearizable);
    }

    /// Moving a completed read's answer to a value the node never held is caught.
    #[test]
    fn a_read_of_a_value_never_written_is_caught(h in linearizable_history()) {
        let mut h = h;
        let Some(i) = h.iter().position(|o| matches!(o.output, Some(Output::Read(_)))) else {
            return Ok(());
        };
        h[i].output = Some(Output::Read(Some((1_000, 0))));
        let verdict = check(&Znode, &h);
        prop_assert!(matches!(verdict, Verdict::Violation { .. }), "{:?}", verdict);
    }
}
