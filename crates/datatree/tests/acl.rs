//! ACL rules at apply (writes) and in the read checks, as ZooKeeper's: a table of each op x each
//! permission, multi, sequential and ephemeral creates, `auth` expansion, the super user, ip ids,
//! setACL versions, getACL redaction, and ACLs/auth ids through snapshots.

mod common;

use bytes::Bytes;
use common::*;
use paddock_datatree::DataTree;
use paddock_types::acl::{digest, perms};
use paddock_types::{
    Acl, CreateMode, ErrorCode, Id, MultiOp, Response, SessionId, Txn, TxnHeader, TxnOp, Zxid,
};

const ALICE: i64 = 1;
const OTHER: i64 = 2;

fn alice() -> Id {
    Id::new("digest", digest("alice:secret").expect("has a colon"))
}

fn acl(p: i32, id: Id) -> Vec<Acl> {
    vec![Acl::new(p, id)]
}

fn create_acl(path: &str, acl: Vec<Acl>) -> TxnOp {
    TxnOp::Create {
        path: path.into(),
        data: Bytes::from_static(b"d").into(),
        mode: CreateMode::Persistent,
        acl,
    }
}

fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> TxnOp {
    TxnOp::SetAcl {
        path: path.into(),
        acl,
        version,
    }
}

fn add_auth(ids: Vec<Id>) -> TxnOp {
    TxnOp::AddAuth { ids }
}

/// Two sessions; ALICE authenticated as alice; `/p` owned by alice with `p` granted to everyone
/// (and everything to alice); `/p/c` open, for delete tests.
fn setup(granted_to_anyone: i32) -> Harness {
    let mut h = Harness::new();
    h.open(ALICE);
    h.open(OTHER);
    assert_eq!(h.code(ALICE, add_auth(vec![alice()])), ErrorCode::Ok);
    let list = vec![
        Acl::new(perms::ALL, alice()),
        Acl::new(granted_to_anyone, Id::anyone()),
    ];
    assert_eq!(h.code(ALICE, create_acl("/p", list)), ErrorCode::Ok);
    assert_eq!(
        h.code(ALICE, create("/p/c", "x", CreateMode::Persistent)),
        ErrorCode::Ok
    );
    h
}

fn read_code(h: &Harness, session: i64, perm: i32, path: &str) -> ErrorCode {
    match h.tree.access(path, perm, SessionId(session), &[]) {
        Ok(()) => ErrorCode::Ok,
        Err(e) => e.code,
    }
}

/// Each op needs one permission: with every other one it is NOAUTH, with it OK; the owner
/// (all permissions) always passes.
#[test]
fn each_op_needs_exactly_its_permission() {
    type Op = fn() -> TxnOp;
    let writes: [(&str, i32, Op); 5] = [
        ("create", perms::CREATE, || {
            create("/p/new", "", CreateMode::Persistent)
        }),
        ("delete", perms::DELETE, || delete("/p/c", -1)),
        ("setData", perms::WRITE, || set_data("/p", "v", -1)),
        ("setACL", perms::ADMIN, || set_acl("/p", Acl::open(), -1)),
        ("multi check", perms::READ, || {
            TxnOp::Multi(vec![m_check("/p", -1)])
        }),
    ];
    let all = [
        perms::READ,
        perms::WRITE,
        perms::CREATE,
        perms::DELETE,
        perms::ADMIN,
    ];
    for (name, needed, op) in writes {
        for granted in all {
            let mut h = setup(granted);
            let want = if granted == needed {
                ErrorCode::Ok
            } else {
                ErrorCode::NoAuth
            };
            let got = match h.apply(OTHER, op()).result {
                Ok(r) => r.multi_failure().unwrap_or(ErrorCode::Ok),
                Err(e) => e.code,
            };
            assert_eq!(
                got,
                want,
                "{name} with only {} granted",
                perms::READ.max(granted)
            );
            // The owner passes whatever everybody else gets.
            let mut h = setup(granted);
            let owner = match h.apply(ALICE, op()).result {
                Ok(r) => r.multi_failure().unwrap_or(ErrorCode::Ok),
                Err(e) => e.code,
            };
            assert_eq!(owner, ErrorCode::Ok, "{name} by the owner");
        }
    }
    // Reads: getData / getChildren need READ; getACL READ or ADMIN; exists nothing.
    for granted in all {
        let h = setup(granted);
        let want = if granted == perms::READ {
            ErrorCode::Ok
        } else {
            ErrorCode::NoAuth
        };
        assert_eq!(
            read_code(&h, OTHER, perms::READ, "/p"),
            want,
            "read with {granted}"
        );
        let acl_read = h.tree.get_acl("/p", SessionId(OTHER), &[]).map(|_| ());
        let want = if granted & (perms::READ | perms::ADMIN) != 0 {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        };
        assert_eq!(acl_read.map_err(|e| e.code), want, "getACL with {granted}");
        assert!(h.tree.exists("/p", None).is_some());
        assert_eq!(read_code(&h, ALICE, perms::READ, "/p"), ErrorCode::Ok);
    }
    // A missing node is NONODE before any ACL question.
    let h = setup(0);
    assert_eq!(
        read_code(&h, OTHER, perms::READ, "/nope"),
        ErrorCode::NoNode
    );
}

#[test]
fn a_denied_op_changes_nothing_and_a_denied_multi_is_all_or_nothing() {
    let mut h = setup(perms::READ);
    let before = h.tree.digest();
    assert_eq!(h.code(OTHER, set_data("/p", "v", -1)), ErrorCode::NoAuth);
    assert_eq!(
        h.code(OTHER, create("/p/x", "", CreateMode::EphemeralSequential)),
        ErrorCode::NoAuth
    );
    assert_eq!(h.code(OTHER, delete("/p/c", -1)), ErrorCode::NoAuth);
    assert_eq!(h.tree.digest(), before);
    // The first op is allowed (an open node at the top), the second is not: nothing happens.
    let r = h.apply(
        OTHER,
        TxnOp::Multi(vec![
            m_create("/free", "", CreateMode::Persistent),
            m_set("/p", "v", -1),
        ]),
    );
    assert_eq!(
        r.result.map(|r| r.multi_failure()),
        Ok(Some(ErrorCode::NoAuth))
    );
    assert!(h.tree.exists("/free", None).is_none());
    // Sequential names do not move on a denied create.
    let mut h = setup(perms::CREATE);
    let (first, _) = h.create_ok(OTHER, "/p/s-", "", CreateMode::PersistentSequential);
    assert_eq!(first, "/p/s-0000000001");
    // Ephemerals: the owner's session is the creator, whatever the ACL.
    let (e, st) = h.create_ok(OTHER, "/p/e", "", CreateMode::Ephemeral);
    assert_eq!((e.as_str(), st.ephemeral_owner), ("/p/e", OTHER));
}

#[test]
fn auth_expands_to_the_creators_ids_and_needs_one() {
    let mut h = setup(perms::ALL);
    assert_eq!(
        h.code(OTHER, create_acl("/q", Acl::creator_all())),
        ErrorCode::InvalidAcl
    );
    assert_eq!(
        h.code(ALICE, create_acl("/q", Acl::creator_all())),
        ErrorCode::Ok
    );
    let (list, _) = h
        .tree
        .get_acl("/q", SessionId(ALICE), &[])
        .expect("readable");
    assert_eq!(list, acl(perms::ALL, alice()));
    // Bad lists are INVALIDACL, before anything else.
    for bad in [
        vec![],
        acl(perms::ALL, Id::new("nope", "x")),
        acl(99, Id::anyone()),
    ] {
        assert_eq!(
            h.code(ALICE, create_acl("/bad", bad.clone())),
            ErrorCode::InvalidAcl
        );
        assert_eq!(h.code(ALICE, set_acl("/q", bad, -1)), ErrorCode::InvalidAcl);
    }
    assert!(h.tree.exists("/bad", None).is_none());
}

#[test]
fn the_super_user_passes_every_check_and_ip_ids_come_from_the_connection() {
    let mut h = setup(0);
    h.open(3);
    assert_eq!(h.code(3, add_auth(vec![Id::super_user()])), ErrorCode::Ok);
    assert_eq!(h.code(3, set_data("/p", "su", -1)), ErrorCode::Ok);
    assert_eq!(read_code(&h, 3, perms::ADMIN, "/p"), ErrorCode::Ok);

    // An ip ACL is matched against the connection ids the txn header carries.
    let ip_acl = acl(perms::ALL, Id::new("ip", "10.0.0.0/8"));
    assert_eq!(h.code(ALICE, create_acl("/net", ip_acl)), ErrorCode::Ok);
    let from = |h: &mut Harness, addr: &str| {
        let mut txn = h.txn(OTHER, set_data("/net", "v", -1));
        txn.header.conn_ids = vec![Id::new("ip", addr)];
        h.tree.apply(&txn).result.map(|_| ()).map_err(|e| e.code)
    };
    assert_eq!(from(&mut h, "10.1.2.3"), Ok(()));
    assert_eq!(from(&mut h, "192.168.0.1"), Err(ErrorCode::NoAuth));
    let ids = [Id::new("ip", "10.9.9.9")];
    assert!(h
        .tree
        .access("/net", perms::READ, SessionId(OTHER), &ids)
        .is_ok());
    assert!(h
        .tree
        .access("/net", perms::READ, SessionId(OTHER), &[])
        .is_err());
}

#[test]
fn set_acl_checks_the_aversion_and_get_acl_hides_digests_without_admin() {
    let mut h = setup(perms::READ);
    assert_eq!(h.stat("/p").aversion, 0);
    assert_eq!(
        h.code(ALICE, set_acl("/p", Acl::read_unsafe(), 3)),
        ErrorCode::BadVersion
    );
    let list = vec![
        Acl::new(perms::ALL, alice()),
        Acl::new(perms::READ, Id::anyone()),
    ];
    match h.apply(ALICE, set_acl("/p", list.clone(), 0)).result {
        Ok(Response::SetAcl { stat }) => assert_eq!(stat.aversion, 1),
        other => panic!("setACL: {other:?}"),
    }
    // setACL changes neither data version nor mzxid.
    assert_eq!((h.stat("/p").version, h.stat("/p").aversion), (0, 1));
    let (shown, stat) = h
        .tree
        .get_acl("/p", SessionId(OTHER), &[])
        .expect("READ is enough");
    assert_eq!(stat.aversion, 1);
    assert_eq!(shown[0].id, Id::new("digest", "alice:x"));
    let (full, _) = h.tree.get_acl("/p", SessionId(ALICE), &[]).expect("admin");
    assert_eq!(full, list);
    // An unknown session cannot authenticate.
    assert_eq!(
        h.code(99, add_auth(vec![alice()])),
        ErrorCode::SessionExpired
    );
}

#[test]
fn lists_are_stored_once_and_released_with_their_nodes() {
    let mut h = setup(perms::ALL);
    let shared = acl(perms::ALL, alice());
    for i in 0..100 {
        let op = create_acl(&format!("/p/n{i}"), shared.clone());
        assert_eq!(h.code(ALICE, op), ErrorCode::Ok);
    }
    // /p's list and the shared one.
    assert_eq!(h.tree.acl_count(), 2);
    for i in 0..100 {
        assert_eq!(
            h.code(ALICE, delete(&format!("/p/n{i}"), -1)),
            ErrorCode::Ok
        );
    }
    assert_eq!(h.tree.acl_count(), 1);
    assert_eq!(h.code(ALICE, set_acl("/p", Acl::open(), -1)), ErrorCode::Ok);
    assert_eq!(h.tree.acl_count(), 0);
}

#[test]
fn acls_and_auth_ids_survive_a_snapshot() {
    let mut h = setup(perms::READ);
    let shared = acl(perms::READ | perms::WRITE, Id::new("ip", "127.0.0.1"));
    assert_eq!(
        h.code(ALICE, create_acl("/p/a", shared.clone())),
        ErrorCode::Ok
    );
    assert_eq!(h.code(ALICE, create_acl("/p/b", shared)), ErrorCode::Ok);
    let mut bytes = Vec::new();
    h.tree.snapshot().write_to(&mut bytes).expect("writes");
    let copy = DataTree::read_snapshot(&mut bytes.as_slice()).expect("reads");
    assert_eq!(copy.digest(), h.tree.digest());
    assert_eq!(copy.acl_count(), h.tree.acl_count());
    assert_eq!(copy.session_auth(SessionId(ALICE)), vec![alice()]);
    for path in ["/p", "/p/a", "/p/b", "/p/c"] {
        assert_eq!(
            copy.get_acl(path, SessionId(ALICE), &[]).map(|a| a.0),
            h.tree.get_acl(path, SessionId(ALICE), &[]).map(|a| a.0),
            "{path}"
        );
    }
    // The copy goes on like the original: same next reference, same checks.
    let mut h2 = Harness {
        tree: copy,
        next: h.next,
    };
    let op = || create_acl("/p/z", acl(perms::ALL, Id::new("ip", "10.0.0.1")));
    assert_eq!(h2.code(ALICE, op()), h.code(ALICE, op()));
    assert_eq!(h2.tree.digest(), h.tree.digest());
    assert_eq!(h2.code(OTHER, set_data("/p", "x", -1)), ErrorCode::NoAuth);
}

#[test]
fn an_acl_change_changes_the_digest() {
    let mut a = setup(perms::READ);
    let mut b = setup(perms::READ);
    assert_eq!(a.tree.digest(), b.tree.digest());
    a.code(ALICE, set_acl("/p/c", Acl::read_unsafe(), -1));
    b.code(ALICE, set_acl("/p/c", acl(perms::WRITE, Id::anyone()), -1));
    assert_ne!(a.tree.digest(), b.tree.digest());
}

/// A txn made by hand with an explicit header, for multi ops with ACLs.
#[test]
fn multi_creates_carry_their_acls() {
    let mut h = setup(perms::ALL);
    let txn = Txn {
        header: TxnHeader {
            session: SessionId(ALICE),
            cxid: 1,
            zxid: Zxid(h.next),
            time_ms: T0,
            conn_ids: Vec::new(),
            legacy_sequence: false,
        },
        op: TxnOp::Multi(vec![MultiOp::Create {
            path: "/m".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
            acl: Acl::read_unsafe(),
        }]),
    };
    h.next += 1;
    assert!(h.tree.apply(&txn).result.is_ok());
    assert_eq!(h.code(OTHER, set_data("/m", "x", -1)), ErrorCode::NoAuth);
    assert_eq!(read_code(&h, OTHER, perms::READ, "/m"), ErrorCode::Ok);
}
