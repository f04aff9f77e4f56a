//! The checkers run over every simulated history, once the ensemble is healed and settled.
//! Each returns the violations it found (empty: the rule held).
//!
//! - `linearizable`: the clients' `sync`+`getData`, `setData` (with and without a version),
//!   `create` and `delete` on the keys, plus a final read of every key through every server,
//!   are linearizable (`paddock_lincheck::zk::Znode`, partitioned by key). This is also "no
//!   acknowledged write lost" and "no write never sent" for the keys: the final reads must be
//!   explained by the acknowledged writes and the unknown ones only.
//! - `sequential`: every acknowledged sequential create is in the final tree with the token its
//!   client wrote; every node under `/seq` holds a token some client sent, once.
//! - `ephemerals`: an ephemeral lives exactly as long as its session: after the settle (and
//!   longer than a session timeout), the nodes under `/eph` are exactly the acknowledged
//!   ephemerals of the sessions the clients still hold (those with an unknown create may or
//!   may not be there), each owned by its session.
//! - `one_leader_per_epoch`: no two servers served as leader in one epoch, and serving
//!   followers of an epoch all followed its leader.
//! - `trees_equal`: every server applied the same last zxid and its tree has the same digest.
//! - the watch rules are judged by the clients as events arrive (`client.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use paddock_lincheck::zk::{Input, Output, Znode};
use paddock_lincheck::{check_with_budget, Operation, Verdict};

use super::client::{History, SessionRec};
use super::cluster::Leadership;

/// Search steps per key before the linearizability check gives up (`Unknown` fails the seed
/// too: a history too large to decide is a bug in the simulator's sizing).
const LIN_BUDGET: u64 = 2_000_000;

pub fn linearizable(ops: &[Operation<Input, Output>]) -> Vec<String> {
    match check_with_budget(&Znode, ops, LIN_BUDGET) {
        Verdict::Linearizable => Vec::new(),
        Verdict::Violation { part } => {
            let mut lines = vec![format!(
                "not linearizable: no order explains these {} operations on {}:",
                part.len(),
                ops[part[0]].input.path()
            )];
            for i in part.iter().take(60) {
                let op = &ops[*i];
                lines.push(format!(
                    "      client {} [{} .. {}] {:?} -> {:?}",
                    op.client,
                    op.call / 1_000_000,
                    op.ret.map_or("?".into(), |r| (r / 1_000_000).to_string()),
                    op.input,
                    op.output
                ));
            }
            vec![lines.join("\n")]
        }
        Verdict::Unknown { part } => vec![format!(
            "linearizability undecided within {LIN_BUDGET} steps on {} ({} operations)",
            ops[part[0]].input.path(),
            part.len()
        )],
    }
}

/// `final_seq`: the children of `/seq` and their tokens, as one server holds them.
pub fn sequential(h: &History, final_seq: &BTreeMap<String, u64>) -> Vec<String> {
    let mut errors = Vec::new();
    for (path, token) in &h.seq_acked {
        match final_seq.get(path) {
            Some(t) if t == token => {}
            Some(t) => errors.push(format!(
                "acknowledged {path} with token {token:x} holds {t:x}"
            )),
            None => errors.push(format!("acknowledged {path} (token {token:x}) is lost")),
        }
    }
    let mut seen = HashSet::new();
    for (path, token) in final_seq {
        if !h.seq_sent.contains(token) {
            errors.push(format!("{path} holds {token:x}, which no client sent"));
        }
        if !seen.insert(*token) {
            errors.push(format!(
                "token {token:x} was created twice (again at {path})"
            ));
        }
    }
    errors
}

/// `final_eph`: the nodes under `/eph` (full paths) and their owner sessions.
pub fn ephemerals(sessions: &[SessionRec], final_eph: &HashMap<String, i64>) -> Vec<String> {
    let mut errors = Vec::new();
    let by_path: HashMap<&str, &SessionRec> =
        sessions.iter().map(|s| (s.ephemeral.as_str(), s)).collect();
    for (path, owner) in final_eph {
        match by_path.get(path.as_str()) {
            None => errors.push(format!("{path} was never created by a client session")),
            Some(s) if s.id.0 != *owner => errors.push(format!(
                "{path} is owned by session {owner:x}, not its creator {}",
                s.id
            )),
            Some(s) if s.end.is_some() => errors.push(format!(
                "{path} outlived its session {} (ended: {:?})",
                s.id, s.end
            )),
            Some(_) => {}
        }
    }
    for s in sessions {
        if s.end.is_none()
            && s.ephemeral_acked == Some(true)
            && !final_eph.contains_key(&s.ephemeral)
        {
            errors.push(format!(
                "{} of the live session {} (client {}) is gone",
                s.ephemeral, s.id, s.client
            ));
        }
    }
    errors
}

pub fn one_leader_per_epoch(l: &Leadership) -> Vec<String> {
    let mut errors = Vec::new();
    for (epoch, leaders) in &l.leaders {
        if leaders.len() > 1 {
            errors.push(format!("epoch {epoch}: {leaders:?} all served as leader"));
        }
    }
    for (epoch, followed) in &l.followed {
        let leaders = l.leaders.get(epoch).cloned().unwrap_or_default();
        if followed.len() > 1 || (!leaders.is_empty() && !followed.is_subset(&leaders)) {
            errors.push(format!(
                "epoch {epoch}: followers served under {followed:?}, leaders {leaders:?}"
            ));
        }
    }
    errors
}

/// `digests`: (server, last applied zxid, tree digest).
pub fn trees_equal(digests: &[(u64, paddock_types::Zxid, u64)]) -> Vec<String> {
    let Some(first) = digests.first() else {
        return Vec::new();
    };
    digests
        .iter()
        .filter(|d| (d.1, d.2) != (first.1, first.2))
        .map(|d| {
            format!(
                "server {} is at {} digest {:x}; server {} at {} digest {:x}",
                d.0, d.1, d.2, first.0, first.1, first.2
            )
        })
        .collect()
}
