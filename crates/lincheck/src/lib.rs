//! A linearizability checker for histories of client operations (issue 18, item 2).
//!
//! A history is a list of [`Operation`]s: what a client asked ([`Model::Input`]), what it was
//! told ([`Model::Output`]), and when it called and when the answer came back (any monotonic
//! clock, e.g. nanoseconds since the test started). An operation whose answer never came (a
//! timeout, a lost connection) has `ret = None`: it may have taken effect at any time after its
//! call, or not at all. The history is linearizable if some total order of the operations that
//! respects real time (an operation that returned before another was called comes first)
//! explains every answer by running the sequential [`Model`].
//!
//! The search is Wing & Gong's, with Lowe's memoisation of (set of linearized operations, model
//! state), as in Porcupine, and P-compositionality: [`Model::partition`] splits the history into
//! independent parts (one per znode for [`zk::Znode`]), each checked alone. Checking is
//! NP-complete in general; every part gets a budget of search steps, and running out of it is
//! [`Verdict::Unknown`], never a silent pass.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

pub mod lock;
pub mod zk;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after `input` ran on `state` and answered `output`, or `None` if the model
    /// cannot answer `output` from `state`. `output` is `None` for an operation whose answer
    /// was never seen: it ran with whatever answer the model gives.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Independent parts of the history (their operations never touch each other's state):
    /// the indexes of `ops` in each part. Default: one part.
    fn partition(&self, ops: &[Operation<Self::Input, Self::Output>]) -> Vec<Vec<usize>> {
        vec![(0..ops.len()).collect()]
    }
}

/// One client operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation<I, O> {
    /// Who ran it (for reports only).
    pub client: usize,
    pub input: I,
    /// `None`: no answer was seen (the operation may or may not have taken effect).
    pub output: Option<O>,
    /// When it was called.
    pub call: u64,
    /// When the answer came back; `None` with `output = None`.
    pub ret: Option<u64>,
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// A part of the history that no order explains: its operations (indexes into the history).
    Violation {
        part: Vec<usize>,
    },
    /// The search budget ran out on a part before deciding it.
    Unknown {
        part: Vec<usize>,
    },
}

/// Default search budget per part (steps of the search, each a model step or a backtrack).
pub const DEFAULT_BUDGET: u64 = 5_000_000;

/// Checks `history` against `model` with [`DEFAULT_BUDGET`].
pub fn check<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> Verdict {
    check_with_budget(model, history, DEFAULT_BUDGET)
}

/// Checks `history` against `model`, giving each part at most `budget` search steps.
pub fn check_with_budget<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: u64,
) -> Verdict {
    let mut unknown = None;
    for part in model.partition(history) {
        let ops: Vec<&Operation<M::Input, M::Output>> = part.iter().map(|&i| &history[i]).collect();
        match check_part(model, &ops, budget) {
            Some(true) => {}
            Some(false) => return Verdict::Violation { part },
            None => {
                unknown.get_or_insert(part);
            }
        }
    }
    match unknown {
        Some(part) => Verdict::Unknown { part },
        None => Verdict::Linearizable,
    }
}

/// A call or return event in the time-ordered list the search walks.
#[derive(Clone, Copy, Debug)]
struct Event {
    op: usize,
    is_call: bool,
    /// For a call: the index of its return event in `events` (operations without an answer
    /// return after everything).
    partner: usize,
}

/// A doubly linked list over `events` (index `n` is the head sentinel).
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl List {
    fn new(n: usize) -> List {
        let head = n;
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { head } else { i - 1 }).collect();
        if n > 0 {
            next[n - 1] = END;
        }
        next.push(if n == 0 { END } else { 0 });
        prev.push(END);
        List { next, prev, head }
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }

    /// Takes event `i` out (it stays linkable back by [`List::unlift`]).
    fn lift(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = n;
        if n != END {
            self.prev[n] = p;
        }
    }

    /// Puts event `i` back where it was (the reverse of the matching `lift`, in LIFO order).
    fn unlift(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = i;
        if n != END {
            self.prev[n] = i;
        }
    }
}

const END: usize = usize::MAX;

/// A set of operations, as bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// `Some(true)` linearizable, `Some(false)` not, `None` out of budget.
fn check_part<M: Model>(
    model: &M,
    ops: &[&Operation<M::Input, M::Output>],
    budget: u64,
) -> Option<bool> {
    // Events in time order; at equal times calls come first (the operations overlap).
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, true, i));
        order.push((op.ret.unwrap_or(u64::MAX), false, i));
    }
    order.sort_by_key(|&(t, is_call, i)| (t, !is_call, i));
    let mut ret_at = vec![0; ops.len()];
    for (at, &(_, is_call, op)) in order.iter().enumerate() {
        if !is_call {
            ret_at[op] = at;
        }
    }
    let events: Vec<Event> = order
        .iter()
        .map(|&(_, is_call, op)| Event {
            op,
            is_call,
            partner: ret_at[op],
        })
        .collect();

    let mut list = List::new(events.len());
    let mut linearized = Bits::new(ops.len());
    let mut cache: HashSet<(Bits, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut at = list.first();
    let mut steps = 0u64;
    while at != END {
        steps += 1;
        if steps > budget {
            return None;
        }
        let ev = events[at];
        if ev.is_call {
            let op = ops[ev.op];
            let next = model.step(&state, &op.input, op.output.as_ref());
            let mut moved = false;
            if let Some(next) = next {
                let mut bits = linearized.clone();
                bits.set(ev.op);
                if cache.insert((bits.clone(), next.clone())) {
                    stack.push((at, state));
                    state = next;
                    linearized = bits;
                    list.lift(at);
                    list.lift(ev.partner);
                    at = list.first();
                    moved = true;
                }
            }
            if !moved {
                at = list.next[at];
            }
        } else {
            // A return reached with its call not linearized: undo the last choice.
            let Some((call_at, prev)) = stack.pop() else {
                return Some(false);
            };
            let ev = events[call_at];
            state = prev;
            linearized.clear(ev.op);
            list.unlift(ev.partner);
            list.unlift(call_at);
            at = list.next[call_at];
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests;
