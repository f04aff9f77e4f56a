//! The ACL table: every distinct ACL list stored once, reference-counted, as ZooKeeper's
//! `ReferenceCountedACLCache`. A node holds a `u32` reference into it; reference 0 is
//! `world:anyone:cdrwa` (what nearly every node has), which is never stored or counted, so open
//! trees pay nothing. References are handed out in apply order from a counter that is part of
//! the replicated state (and of snapshots), so every replica gives a list the same number.

use std::sync::Arc;

use imbl::OrdMap;
use paddock_types::acl::{self, Acl};

/// The reference of `world:anyone:cdrwa`.
pub(crate) const OPEN: u32 = 0;

#[derive(Clone, Debug)]
struct Entry {
    acl: Arc<[Acl]>,
    refs: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct AclTable {
    by_ref: OrdMap<u32, Entry>,
    by_list: OrdMap<Arc<[Acl]>, u32>,
    /// The last reference handed out (u32: a node's record keeps it in 4 bytes).
    last: u32,
    open: Arc<[Acl]>,
}

impl Default for AclTable {
    fn default() -> AclTable {
        AclTable {
            by_ref: OrdMap::new(),
            by_list: OrdMap::new(),
            last: OPEN,
            open: Arc::from(Acl::open()),
        }
    }
}

impl AclTable {
    /// The reference for `acl`, counting one more holder.
    pub(crate) fn intern(&mut self, acl: Vec<Acl>) -> u32 {
        if acl::is_open(&acl) {
            return OPEN;
        }
        let list: Arc<[Acl]> = Arc::from(acl);
        if let Some(r) = self.by_list.get(&list).copied() {
            if let Some(e) = self.by_ref.get_mut(&r) {
                e.refs = e.refs.saturating_add(1);
            }
            return r;
        }
        // The counter only grows; after 2^32 - 1 lists it wraps and takes the next free
        // number (the table is replicated, so every replica picks the same one).
        let mut r = self.last.wrapping_add(1);
        while r == OPEN || self.by_ref.contains_key(&r) {
            r = r.wrapping_add(1);
        }
        self.last = r;
        self.by_list.insert(list.clone(), r);
        self.by_ref.insert(r, Entry { acl: list, refs: 1 });
        r
    }

    /// One holder of `r` fewer; the list goes when the last one does.
    pub(crate) fn release(&mut self, r: u32) {
        if r == OPEN {
            return;
        }
        let gone = match self.by_ref.get_mut(&r) {
            Some(e) => {
                e.refs = e.refs.saturating_sub(1);
                e.refs == 0
            }
            None => false,
        };
        if gone {
            if let Some(e) = self.by_ref.remove(&r) {
                self.by_list.remove(&e.acl);
            }
        }
    }

    /// The list behind `r` (the open list for 0). `None` only for a reference never handed out.
    pub(crate) fn get(&self, r: u32) -> Option<&Arc<[Acl]>> {
        if r == OPEN {
            return Some(&self.open);
        }
        self.by_ref.get(&r).map(|e| &e.acl)
    }

    /// Number of distinct stored lists (the open list is not stored).
    pub(crate) fn len(&self) -> usize {
        self.by_ref.len()
    }

    pub(crate) fn last(&self) -> u32 {
        self.last
    }

    /// Every stored (reference, list, holders), by reference.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, &Arc<[Acl]>, u64)> + '_ {
        self.by_ref.iter().map(|(r, e)| (*r, &e.acl, e.refs))
    }

    /// Loading a snapshot: a list under a given reference, with no holders yet (`hold` counts
    /// them as nodes arrive). False if the reference or the list is already there.
    pub(crate) fn restore(&mut self, r: u32, acl: Vec<Acl>) -> bool {
        let list: Arc<[Acl]> = Arc::from(acl);
        if r == OPEN || self.by_ref.contains_key(&r) || self.by_list.contains_key(&list) {
            return false;
        }
        self.by_list.insert(list.clone(), r);
        self.by_ref.insert(r, Entry { acl: list, refs: 0 });
        true
    }

    /// Loading a snapshot: the counter as it was.
    pub(crate) fn set_last(&mut self, last: u32) {
        self.last = last;
    }

    /// Loading a snapshot: one more node holds `r`. False for an unknown reference.
    pub(crate) fn hold(&mut self, r: u32) -> bool {
        if r == OPEN {
            return true;
        }
        match self.by_ref.get_mut(&r) {
            Some(e) => {
                e.refs = e.refs.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Loading a snapshot: true if some stored list has no holder (a corrupt snapshot).
    pub(crate) fn has_unheld(&self) -> bool {
        self.by_ref.values().any(|e| e.refs == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_types::acl::{perms, Id};

    #[test]
    fn lists_are_shared_counted_and_dropped() {
        let mut t = AclTable::default();
        assert_eq!(t.intern(Acl::open()), OPEN);
        let bob = vec![Acl::new(perms::ALL, Id::new("digest", "bob:h"))];
        let a = t.intern(bob.clone());
        let b = t.intern(bob.clone());
        assert_eq!(a, b);
        assert_eq!(t.len(), 1);
        let r = t.intern(Acl::read_unsafe());
        assert_ne!(r, a);
        t.release(a);
        assert_eq!(t.get(a).map(|l| l.to_vec()), Some(bob.clone()));
        t.release(b);
        assert!(t.get(a).is_none());
        // References are never reused: the counter only grows.
        assert!(t.intern(bob) > r);
        t.release(OPEN);
        assert_eq!(t.get(OPEN).map(|l| l.to_vec()), Some(Acl::open()));
    }
}
