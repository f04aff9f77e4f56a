//! The records a peer logged and has not applied yet, so that an `Apply(zxid)` finds its data
//! without reading the log back. Records arrive in zxid order within a role (a leader proposes
//! in order, a learner logs its leader's stream in order), so it is a queue, not a map: no
//! allocation per record, and an apply pops from the front.
//!
//! The driver clears it when the log is read back (a role starts from "all applied"), cut
//! (`Truncate`: [`RecordCache::truncate_after`]) or replaced (a snapshot), and drops what a
//! group of applies consumed ([`RecordCache::drop_through`]).

use bytes::Bytes;
use paddock_types::Zxid;
use std::collections::VecDeque;

/// Logged records not applied yet, in zxid order.
#[derive(Debug, Default)]
pub(crate) struct RecordCache(VecDeque<(Zxid, Bytes)>);

impl RecordCache {
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Keeps `data` as the record `zxid` (replacing an older copy of the same zxid).
    pub(crate) fn insert(&mut self, zxid: Zxid, data: Bytes) {
        match self.0.back() {
            Some((last, _)) if *last >= zxid => {
                // Out of order (never in practice): keep the queue sorted.
                match self.0.binary_search_by_key(&zxid, |(z, _)| *z) {
                    Ok(i) => self.0[i].1 = data,
                    Err(i) => self.0.insert(i, (zxid, data)),
                }
            }
            _ => self.0.push_back((zxid, data)),
        }
    }

    /// The record `zxid`, taken out (with every older one, applied already or never to be).
    pub(crate) fn remove(&mut self, zxid: &Zxid) -> Option<Bytes> {
        while let Some((z, _)) = self.0.front() {
            if z > zxid {
                return None;
            }
            let (z, data) = self.0.pop_front()?;
            if z == *zxid {
                return Some(data);
            }
        }
        None
    }

    /// Forgets the records up to and including `zxid`.
    pub(crate) fn drop_through(&mut self, zxid: Zxid) {
        while self.0.front().is_some_and(|(z, _)| *z <= zxid) {
            self.0.pop_front();
        }
    }

    /// Forgets the records above `zxid`.
    pub(crate) fn truncate_after(&mut self, zxid: Zxid) {
        while self.0.back().is_some_and(|(z, _)| *z > zxid) {
            self.0.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(zxids: &[u64]) -> RecordCache {
        let mut c = RecordCache::default();
        for z in zxids {
            c.insert(Zxid(*z), data(*z));
        }
        c
    }

    fn data(z: u64) -> Bytes {
        Bytes::from(z.to_string())
    }

    fn zxids(c: &RecordCache) -> Vec<u64> {
        c.0.iter().map(|(z, _)| z.0).collect()
    }

    #[test]
    fn records_stay_in_zxid_order_whatever_the_insertion_order() {
        // (inserted, kept)
        let cases: &[(&[u64], &[u64])] = &[
            (&[1, 2, 3], &[1, 2, 3]),
            (&[3, 1, 2], &[1, 2, 3]),
            (&[1, 3, 2, 3], &[1, 2, 3]),
            (&[], &[]),
        ];
        for (inserted, kept) in cases {
            assert_eq!(zxids(&cache(inserted)), *kept, "inserted {inserted:?}");
        }
    }

    #[test]
    fn a_reinserted_zxid_replaces_its_data() {
        let mut c = cache(&[1, 2]);
        c.insert(Zxid(1), Bytes::from_static(b"new"));
        assert_eq!(c.remove(&Zxid(1)), Some(Bytes::from_static(b"new")));
    }

    #[test]
    fn remove_takes_the_record_and_every_older_one() {
        // (cached, removed, found, left)
        let cases: &[(&[u64], u64, bool, &[u64])] = &[
            (&[1, 2, 3], 1, true, &[2, 3]),
            (&[1, 2, 3], 2, true, &[3]),
            (&[1, 3], 2, false, &[3]),
            (&[2, 3], 1, false, &[2, 3]),
            (&[1, 2], 5, false, &[]),
        ];
        for (cached, removed, found, left) in cases {
            let mut c = cache(cached);
            let got = c.remove(&Zxid(*removed));
            assert_eq!(
                got,
                found.then(|| data(*removed)),
                "{cached:?} remove {removed}"
            );
            assert_eq!(zxids(&c), *left, "{cached:?} remove {removed}");
        }
    }

    #[test]
    fn drop_through_and_truncate_after_cut_either_end() {
        let mut c = cache(&[1, 2, 3, 4, 5]);
        c.drop_through(Zxid(2));
        assert_eq!(zxids(&c), [3, 4, 5]);
        c.truncate_after(Zxid(4));
        assert_eq!(zxids(&c), [3, 4]);
        c.truncate_after(Zxid(9));
        c.drop_through(Zxid(0));
        assert_eq!(zxids(&c), [3, 4]);
        c.clear();
        assert_eq!(zxids(&c), Vec::<u64>::new());
    }
}
