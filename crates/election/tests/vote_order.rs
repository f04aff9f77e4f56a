//! The election order: epoch first, then zxid, then server id (seed 003's table).

use paddock_election::Vote;
use paddock_types::{Epoch, ServerId, Zxid};

fn v(epoch: u32, zxid: u64, id: u64) -> Vote {
    Vote::new(ServerId(id), Zxid(zxid), Epoch(epoch))
}

#[test]
fn higher_epoch_wins_even_with_lower_zxid_and_id() {
    assert!(v(2, 1, 1) > v(1, 100, 9));
}

#[test]
fn same_epoch_higher_zxid_wins_even_with_lower_id() {
    assert!(v(1, 9, 1) > v(1, 8, 9));
}

#[test]
fn same_epoch_and_zxid_higher_server_id_wins() {
    assert!(v(1, 8, 2) > v(1, 8, 1));
}

#[test]
fn identical_votes_are_equal() {
    assert_eq!(v(3, 4, 5).cmp(&v(3, 4, 5)), std::cmp::Ordering::Equal);
}

#[test]
fn seed_003_table_elects_server_2() {
    // EPOCH ZXID SID: (1, 8, 1), (1, 8, 2), (1, 7, 4) — servers 3 and 5 are down.
    let votes = [v(1, 8, 1), v(1, 8, 2), v(1, 7, 4)];
    assert_eq!(votes.iter().max().unwrap().leader, ServerId(2));
}

#[test]
fn zxid_order_is_epoch_then_counter() {
    let old_epoch_big_counter = Vote::new(ServerId(1), Zxid::new(Epoch(1), u32::MAX), Epoch(1));
    let new_epoch_small_counter = Vote::new(ServerId(1), Zxid::new(Epoch(2), 0), Epoch(1));
    assert!(new_epoch_small_counter > old_epoch_big_counter);
}

#[test]
fn decided_votes_match_on_leader_and_epoch_only() {
    assert!(v(1, 8, 2).same_leader_and_epoch(&v(1, 99, 2)));
    assert!(!v(1, 8, 2).same_leader_and_epoch(&v(2, 8, 2)));
    assert!(!v(1, 8, 2).same_leader_and_epoch(&v(1, 8, 3)));
}
