//! A checker for histories of a lock recipe (issue 18, item 2: "no two holders of a lock recipe
//! overlap beyond the session timeout").
//!
//! A history is the list of [`Hold`]s the clients saw: who held the lock, from when its acquire
//! returned to when it stopped acting as the holder, and why it stopped. Time is any monotonic
//! clock shared by the clients (e.g. nanoseconds since the test started).
//!
//! What a correct recipe on a correct server guarantees:
//! - a hold that ended with a release overlaps no other hold: the next holder is woken by the
//!   deletion of the released node, which happens after the release began;
//! - a hold that ended because its session was lost (the holder's connection went silent and it
//!   stopped trusting the lock, [`HoldEnd::Lost`]) may overlap the next holder's by at most the
//!   session timeout: the server hands the lock on only after it expires the session, and the
//!   client gives its connection up within the session timeout of last hearing from it.

use std::fmt;

/// How a hold ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldEnd {
    /// The holder released the lock (deleted its node) while connected.
    Released,
    /// The holder's session was lost while it held the lock (disconnected or expired).
    Lost,
}

/// One holder's tenure, as it saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The holder (a client and lock value; two holds of one holder never overlap).
    pub holder: u64,
    /// When its acquire returned.
    pub start: u64,
    /// When it stopped acting as the holder.
    pub end: u64,
    /// Why.
    pub how: HoldEnd,
}

/// Two holds that overlap more than the rules allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The earlier hold.
    pub first: Hold,
    /// The later one.
    pub second: Hold,
    /// For how long both held.
    pub overlap: u64,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "holder {} ({}..{}, {:?}) and holder {} ({}..{}, {:?}) both held the lock for {}",
            self.first.holder,
            self.first.start,
            self.first.end,
            self.first.how,
            self.second.holder,
            self.second.start,
            self.second.end,
            self.second.how,
            self.overlap
        )
    }
}

/// What a history showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockReport {
    /// Holds checked.
    pub holds: usize,
    /// Holds that ended with the session lost.
    pub lost: usize,
    /// The longest overlap of a lost hold with a later holder's (0 when none overlapped).
    pub max_lost_overlap: u64,
}

/// Checks `holds` against the rules of the module docs, with `session_timeout` as the bound
/// on a lost hold's overlap. Returns the first violation found (in start order).
pub fn check_holds(holds: &[Hold], session_timeout: u64) -> Result<LockReport, Overlap> {
    let mut sorted: Vec<&Hold> = holds.iter().collect();
    sorted.sort_by_key(|h| (h.start, h.end, h.holder));
    let mut report = LockReport {
        holds: holds.len(),
        lost: holds.iter().filter(|h| h.how == HoldEnd::Lost).count(),
        max_lost_overlap: 0,
    };
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            if b.start >= a.end {
                // Sorted by start: every later hold starts after `a` ended too.
                break;
            }
            let overlap = a.end.min(b.end) - b.start;
            let allowed = if a.holder == b.holder {
                0
            } else if a.how == HoldEnd::Lost {
                session_timeout
            } else {
                0
            };
            if overlap > allowed {
                return Err(Overlap {
                    first: (*a).clone(),
                    second: (*b).clone(),
                    overlap,
                });
            }
            report.max_lost_overlap = report.max_lost_overlap.max(overlap);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(holder: u64, start: u64, end: u64, how: HoldEnd) -> Hold {
        Hold {
            holder,
            start,
            end,
            how,
        }
    }

    #[test]
    fn holds_one_after_another_pass() {
        let holds = [
            hold(1, 0, 10, HoldEnd::Released),
            hold(2, 10, 20, HoldEnd::Released),
            hold(1, 25, 30, HoldEnd::Lost),
            hold(3, 31, 40, HoldEnd::Released),
        ];
        let report = check_holds(&holds, 100).unwrap();
        assert_eq!(report.holds, 4);
        assert_eq!(report.lost, 1);
        assert_eq!(report.max_lost_overlap, 0);
    }

    #[test]
    fn a_released_hold_overlapping_another_fails() {
        let holds = [
            hold(2, 5, 20, HoldEnd::Released),
            hold(1, 0, 10, HoldEnd::Released),
        ];
        let err = check_holds(&holds, 100).unwrap_err();
        assert_eq!(err.first.holder, 1);
        assert_eq!(err.second.holder, 2);
        assert_eq!(err.overlap, 5);
        assert!(err.to_string().contains("both held the lock for 5"));
    }

    #[test]
    fn a_lost_hold_may_overlap_the_next_by_the_session_timeout_only() {
        let within = [
            hold(1, 0, 50, HoldEnd::Lost),
            hold(2, 20, 60, HoldEnd::Released),
        ];
        assert_eq!(check_holds(&within, 30).unwrap().max_lost_overlap, 30);
        let beyond = [
            hold(1, 0, 51, HoldEnd::Lost),
            hold(2, 20, 60, HoldEnd::Released),
        ];
        assert_eq!(check_holds(&beyond, 30).unwrap_err().overlap, 31);
    }

    #[test]
    fn a_hold_inside_a_lost_one_counts_its_whole_length() {
        let holds = [
            hold(1, 0, 100, HoldEnd::Lost),
            hold(2, 10, 20, HoldEnd::Released),
            hold(3, 30, 45, HoldEnd::Released),
        ];
        assert_eq!(check_holds(&holds, 15).unwrap().max_lost_overlap, 15);
        assert!(check_holds(&holds, 14).is_err());
    }

    #[test]
    fn one_holder_overlapping_itself_fails() {
        let holds = [
            hold(1, 0, 10, HoldEnd::Lost),
            hold(1, 5, 20, HoldEnd::Released),
        ];
        assert!(check_holds(&holds, 100).is_err());
    }
}
