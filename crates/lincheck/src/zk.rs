//! A model of one znode under ZooKeeper's operations, for checking histories of Paddock clients:
//! reads after `sync`, unconditional and versioned `setData` (compare-and-set), `create` and
//! `delete`. The history is partitioned by path (operations on different znodes are
//! independent), so each znode is checked alone.

use crate::{Model, Operation};

/// A znode's state: absent, or present with its data and data version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Absent,
    Present { data: u64, version: i32 },
}

/// What a client asked, on `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `sync(path)` then `getData(path)` on the same session.
    Read { path: String },
    /// `setData(path, data, version)`; `version` -1 is unconditional.
    Set {
        path: String,
        data: u64,
        version: i32,
    },
    /// `create(path, data)` (persistent).
    Create { path: String, data: u64 },
    /// `delete(path, version)`; `version` -1 is unconditional.
    Delete { path: String, version: i32 },
}

impl Input {
    pub fn path(&self) -> &str {
        match self {
            Input::Read { path }
            | Input::Set { path, .. }
            | Input::Create { path, .. }
            | Input::Delete { path, .. } => path,
        }
    }
}

/// What the client was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A read's answer: the data and version, or `None` for NoNode.
    Read(Option<(u64, i32)>),
    /// A setData that succeeded: the new version.
    Set {
        version: i32,
    },
    /// A create or delete that succeeded.
    Done,
    NoNode,
    NodeExists,
    BadVersion,
}

/// The model (stateless: the state is [`State`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Znode;

impl Znode {
    /// What `input` does to `state` in ZooKeeper: the new state and the answer.
    pub fn apply(state: &State, input: &Input) -> (State, Output) {
        match (input, state) {
            (Input::Read { .. }, State::Absent) => (State::Absent, Output::Read(None)),
            (Input::Read { .. }, State::Present { data, version }) => {
                (state.clone(), Output::Read(Some((*data, *version))))
            }
            (Input::Set { .. }, State::Absent) => (State::Absent, Output::NoNode),
            (
                Input::Set {
                    data,
                    version: want,
                    ..
                },
                State::Present { version, .. },
            ) => {
                if *want != -1 && want != version {
                    (state.clone(), Output::BadVersion)
                } else {
                    let version = version.wrapping_add(1);
                    (
                        State::Present {
                            data: *data,
                            version,
                        },
                        Output::Set { version },
                    )
                }
            }
            (Input::Create { data, .. }, State::Absent) => (
                State::Present {
                    data: *data,
                    version: 0,
                },
                Output::Done,
            ),
            (Input::Create { .. }, State::Present { .. }) => (state.clone(), Output::NodeExists),
            (Input::Delete { .. }, State::Absent) => (State::Absent, Output::NoNode),
            (Input::Delete { version: want, .. }, State::Present { version, .. }) => {
                if *want != -1 && want != version {
                    (state.clone(), Output::BadVersion)
                } else {
                    (State::Absent, Output::Done)
                }
            }
        }
    }
}

impl Model for Znode {
    type State = State;
    type Input = Input;
    type Output = Output;

    fn init(&self) -> State {
        State::Absent
    }

    fn step(&self, state: &State, input: &Input, output: Option<&Output>) -> Option<State> {
        let (next, answer) = Znode::apply(state, input);
        match output {
            None => Some(next),
            Some(seen) if *seen == answer => Some(next),
            Some(_) => None,
        }
    }

    fn partition(&self, ops: &[Operation<Input, Output>]) -> Vec<Vec<usize>> {
        let mut parts: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for (i, op) in ops.iter().enumerate() {
            parts.entry(op.input.path()).or_default().push(i);
        }
        parts.into_values().collect()
    }
}
