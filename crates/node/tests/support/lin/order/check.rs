//! The rules of [`super`] (its module comment) applied to a recorded trace.

use std::collections::{BTreeMap, BTreeSet};

use paddock_proto::v1 as pb;

use super::{Kind, Mode, Seen, Shows};

/// The first message of `seen` that breaks the rules of `mode`, with the messages before it;
/// `exact`: the persistent session's events are complete (its server never lost its memory of
/// what the session missed), so every answer is checked against them.
pub fn check(mode: Mode, seen: &[Seen], exact: bool) -> Result<(), String> {
    let mut rules = Rules::new(mode, exact);
    for (i, m) in seen.iter().enumerate() {
        if let Err(why) = rules.step(m) {
            let from = i.saturating_sub(12);
            let context: Vec<String> = seen[from..=i]
                .iter()
                .enumerate()
                .map(|(k, m)| format!("  #{}: {m}", from + k))
                .collect();
            return Err(format!("{why}\n{}", context.join("\n")));
        }
    }
    Ok(())
}

/// What the checker knows after some prefix of a trace.
struct Rules<'a> {
    mode: Mode,
    exact: bool,
    /// The highest zxid answered so far.
    answered: i64,
    /// The last event's zxid.
    last_event: i64,
    /// Persistent: the zxid from which every change fires an event.
    watch_from: Option<i64>,
    /// Persistent: the events received, per path.
    events: BTreeMap<&'a str, Vec<(i64, pb::EventType)>>,
    /// Persistent: the paths some answer has shown present.
    shown: BTreeSet<&'a str>,
    /// One-shot: outstanding registrations per path (a data watch?, zxid registered at).
    outstanding: BTreeMap<&'a str, (bool, i64)>,
    /// One-shot: paths of watching reads left unanswered (the server may hold their watch).
    maybe: BTreeSet<&'a str>,
}

impl<'a> Rules<'a> {
    fn new(mode: Mode, exact: bool) -> Rules<'a> {
        Rules {
            mode,
            exact,
            answered: i64::MIN,
            last_event: i64::MIN,
            watch_from: None,
            events: BTreeMap::new(),
            shown: BTreeSet::new(),
            outstanding: BTreeMap::new(),
            maybe: BTreeSet::new(),
        }
    }

    fn step(&mut self, m: &'a Seen) -> Result<(), String> {
        match m {
            Seen::Connected { .. } => Ok(()),
            Seen::Unanswered { path, op } => {
                if watching(*op) {
                    self.maybe.insert(path);
                }
                Ok(())
            }
            Seen::Event { path, kind, zxid } => self.event(path, *kind, *zxid),
            Seen::Answer {
                path,
                op,
                zxid,
                error,
                shows,
            } => self.answer(path, *op, *zxid, *error, *shows),
        }
    }

    /// Both modes: an event comes before every answer at or after its zxid, and events come in
    /// zxid order, each once.
    fn event(&mut self, path: &'a str, kind: pb::EventType, zxid: i64) -> Result<(), String> {
        if zxid <= self.answered {
            return Err(format!(
                "an event of a change at {zxid:#x} came after an answer at {:#x}",
                self.answered
            ));
        }
        if zxid <= self.last_event {
            return Err(format!(
                "events out of order or repeated: {zxid:#x} after {:#x}",
                self.last_event
            ));
        }
        self.last_event = zxid;
        match self.mode {
            Mode::Persistent => {
                self.events.entry(path).or_default().push((zxid, kind));
                Ok(())
            }
            Mode::OneShot => self.fired(path, kind, zxid),
        }
    }

    /// One-shot: an event answers one outstanding registration, after it, of its kind.
    fn fired(&mut self, path: &'a str, kind: pb::EventType, zxid: i64) -> Result<(), String> {
        // A watch left by an unanswered read merges with any other on the path.
        let maybe_set = self.maybe.remove(path);
        let Some((data, at)) = self.outstanding.remove(path) else {
            if maybe_set {
                return Ok(());
            }
            return Err(format!(
                "an event on {path} that no outstanding watch asked for"
            ));
        };
        if zxid <= at {
            return Err(format!(
                "the event of a change at {zxid:#x} fired a watch set at {at:#x}"
            ));
        }
        let fits = match kind {
            pb::EventType::NodeDataChanged | pb::EventType::NodeDeleted => data,
            pb::EventType::NodeCreated => !data,
            _ => false,
        };
        if !fits {
            let watch = if data { "data" } else { "exist" };
            return Err(format!("{kind:?} fired a {watch} watch"));
        }
        Ok(())
    }

    fn answer(
        &mut self,
        path: &'a str,
        op: Kind,
        zxid: i64,
        error: i32,
        shows: Shows,
    ) -> Result<(), String> {
        self.answered = self.answered.max(zxid);
        if op == Kind::AddWatch && error == 0 {
            self.watch_from = Some(zxid);
            return Ok(());
        }
        match self.mode {
            Mode::Persistent => self.explained(path, zxid, shows),
            Mode::OneShot => self.registered(path, op, zxid, error, shows),
        }
    }

    /// Persistent: the events received so far explain what the answer at `zxid` shows.
    fn explained(&mut self, path: &'a str, zxid: i64, shows: Shows) -> Result<(), String> {
        let (Some(w), true) = (self.watch_from, self.exact) else {
            return Ok(());
        };
        let mine: Vec<(i64, pb::EventType)> = self
            .events
            .get(path)
            .map(|v| v.iter().copied().filter(|(z, _)| *z <= zxid).collect())
            .unwrap_or_default();
        if let Shows::Present { .. } = shows {
            self.shown.insert(path);
        }
        explains(&mine, w, shows, self.shown.contains(path)).map_err(|why| format!("{path}: {why}"))
    }

    /// One-shot: an answer showing the node changed since an outstanding registration comes
    /// after its event; a watching read's answer registers its watch.
    fn registered(
        &mut self,
        path: &'a str,
        op: Kind,
        zxid: i64,
        error: i32,
        shows: Shows,
    ) -> Result<(), String> {
        if let Some(&(data, at)) = self.outstanding.get(path) {
            let changed = match (data, shows) {
                (true, Shows::Present { mzxid, .. }) => mzxid > at,
                (true, Shows::Absent) | (false, Shows::Present { .. }) => true,
                _ => false,
            };
            if changed {
                return Err(format!(
                    "{path} changed after the watch set at {at:#x}, and its event has not come"
                ));
            }
        }
        if error == 0 {
            let data = match (op, shows) {
                (Kind::GetData { watch: true }, _)
                | (Kind::Exists { watch: true }, Shows::Present { .. }) => Some(true),
                (Kind::Exists { watch: true }, Shows::Absent) => Some(false),
                _ => None,
            };
            if let Some(data) = data {
                self.outstanding.entry(path).or_insert((data, zxid));
            }
        }
        Ok(())
    }
}

/// A read that leaves a watch.
fn watching(op: Kind) -> bool {
    matches!(
        op,
        Kind::GetData { watch: true } | Kind::Exists { watch: true }
    )
}

/// Whether the events `mine` of one node (all up to the answer's zxid, every change after `w`)
/// explain what an answer `shows`; `was_present`: an earlier answer (after `w`) showed the node.
fn explains(
    mine: &[(i64, pb::EventType)],
    w: i64,
    shows: Shows,
    was_present: bool,
) -> Result<(), String> {
    use pb::EventType as E;
    match shows {
        Shows::Nothing => Ok(()),
        Shows::Absent => match mine.last() {
            None if was_present => {
                Err("absent after an answer showed it, but no event came".into())
            }
            None | Some((_, E::NodeDeleted)) => Ok(()),
            Some(last) => Err(format!("absent, but its last event so far is {last:?}")),
        },
        Shows::Present {
            czxid,
            mzxid,
            version,
        } => {
            if mzxid <= w {
                return match mine.last() {
                    None => Ok(()),
                    Some(last) => Err(format!(
                        "unchanged since {mzxid:#x} (before the watch), but an event {last:?} came"
                    )),
                };
            }
            if mine.last().map(|(z, _)| *z) != Some(mzxid) {
                return Err(format!(
                    "modified at {mzxid:#x}, but the last event so far is {:?}",
                    mine.last()
                ));
            }
            if czxid <= w {
                return Ok(());
            }
            let Some(since) = mine
                .iter()
                .rposition(|(z, t)| *z == czxid && *t == E::NodeCreated)
            else {
                return Err(format!(
                    "created at {czxid:#x}, but no NodeCreated event at it came"
                ));
            };
            let after = &mine[since + 1..];
            let changes = after
                .iter()
                .filter(|(_, t)| *t == E::NodeDataChanged)
                .count();
            if changes != after.len() || changes as i64 != i64::from(version) {
                return Err(format!(
                    "version {version} since its creation at {czxid:#x}, but the events since are {after:?}"
                ));
            }
            Ok(())
        }
    }
}

/// The one-shot session's events against the persistent session's (both on the same server,
/// both whole): each fired watch's event is the first change of its node after the
/// registration that set it.
pub fn cross_check(oneshot: &[Seen], persistent: &[Seen]) -> Result<usize, String> {
    let mut changes: BTreeMap<&str, Vec<(i64, pb::EventType)>> = BTreeMap::new();
    let mut watched_from = None;
    for m in persistent {
        match m {
            Seen::Event { path, kind, zxid } => {
                changes.entry(path).or_default().push((*zxid, *kind))
            }
            Seen::Answer {
                op: Kind::AddWatch,
                zxid,
                ..
            } => watched_from = Some(*zxid),
            _ => {}
        }
    }
    let Some(w) = watched_from else {
        return Ok(0);
    };
    let last_seen = changes
        .values()
        .flatten()
        .map(|(z, _)| *z)
        .max()
        .unwrap_or(w);
    let mut registered: BTreeMap<&str, i64> = BTreeMap::new();
    let mut checked = 0;
    for m in oneshot {
        match m {
            Seen::Answer {
                path,
                op: Kind::GetData { watch: true } | Kind::Exists { watch: true },
                zxid,
                error: 0,
                ..
            } => {
                registered.entry(path).or_insert(*zxid);
            }
            Seen::Event { path, kind, zxid } => {
                let Some(at) = registered.remove(path.as_str()) else {
                    continue;
                };
                if at < w || *zxid > last_seen {
                    continue;
                }
                let first = changes
                    .get(path.as_str())
                    .and_then(|v| v.iter().find(|(z, _)| *z > at));
                if first != Some(&(*zxid, *kind)) {
                    return Err(format!(
                        "{path}: the watch set at {at:#x} fired {kind:?} at {zxid:#x}, but the first change after it was {first:?}"
                    ));
                }
                checked += 1;
            }
            _ => {}
        }
    }
    Ok(checked)
}
