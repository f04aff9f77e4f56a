//! ACLs and authentication end to end against an in-process server (client.proto "Access
//! control", ZooKeeper's model): which permission each operation needs, NOAUTH / INVALIDACL /
//! AUTHFAILED, digest ids, `auth:` expansion, ip ids of the connection, and auth across a resume.

mod support;

use bytes::Bytes;
use paddock_client::{
    digest, perms, Acl, Client, CreateMode, Error, ErrorCode, Id, MultiOp, SessionState,
};
use support::*;

const BOB: &str = "bob:secret";

fn bob() -> Id {
    Id::new("digest", digest(BOB).expect("user:password"))
}

/// Readable by everybody, everything for bob.
fn bob_owns_world_reads() -> Vec<Acl> {
    vec![
        Acl::new(perms::READ, Id::anyone()),
        Acl::new(perms::ALL, bob()),
    ]
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn as_bob(node: &TestNode) -> Client {
    let c = node.client().await;
    c.add_auth("digest", BOB).await.unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_without_acl_is_open_to_everybody() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/open", "", CreateMode::Persistent).await.unwrap();
    let (acl, stat) = c.get_acl("/open").await.unwrap();
    assert_eq!(acl, Acl::open());
    assert_eq!(stat.aversion, 0);
    let (acl, _) = c.get_acl("/").await.unwrap();
    assert_eq!(
        acl,
        Acl::open(),
        "the root is open until someone changes it"
    );
    c.close().await.unwrap();
}

/// create needs CREATE on the parent, delete DELETE on the parent, setData WRITE, setACL ADMIN;
/// reads need READ; getACL without ADMIN hides digest hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_acl_guards_writes_and_hides_hashes_from_non_admins() {
    let node = TestNode::start().await;
    let owner = as_bob(&node).await;
    let other = node.client().await;
    owner
        .create_with_acl("/g", "v", CreateMode::Persistent, bob_owns_world_reads())
        .await
        .unwrap();

    assert_eq!(other.get_data("/g").await.unwrap().0, Bytes::from("v"));
    assert_eq!(code(other.set_data("/g", "x", -1).await), ErrorCode::NoAuth);
    assert_eq!(
        code(other.create("/g/c", "", CreateMode::Persistent).await),
        ErrorCode::NoAuth
    );
    assert_eq!(
        code(other.set_acl("/g", Acl::open(), -1).await),
        ErrorCode::NoAuth
    );
    let (seen, _) = other.get_acl("/g").await.unwrap();
    assert_eq!(
        seen,
        vec![
            Acl::new(perms::READ, Id::anyone()),
            Acl::new(perms::ALL, Id::new("digest", "bob:x")),
        ],
        "without ADMIN the hash is hidden"
    );
    let (seen, _) = owner.get_acl("/g").await.unwrap();
    assert_eq!(seen, bob_owns_world_reads(), "with ADMIN it is shown");

    owner.set_data("/g", "w", -1).await.unwrap();
    owner
        .create("/g/c", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(code(other.delete("/g/c", -1).await), ErrorCode::NoAuth);
    assert_eq!(other.get_data("/g").await.unwrap().0, Bytes::from("w"));

    // Authenticating as bob makes the other session bob too.
    other.add_auth("digest", BOB).await.unwrap();
    other.delete("/g/c", -1).await.unwrap();
    other.set_data("/g", "z", -1).await.unwrap();
    owner.close().await.unwrap();
    other.close().await.unwrap();
}

/// getData / getChildren (and their watches) need READ; exists and sync need nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_read_but_exists_and_sync_do_not() {
    let node = TestNode::start().await;
    let owner = as_bob(&node).await;
    let other = node.client().await;
    owner
        .create_with_acl(
            "/r",
            "secret",
            CreateMode::Persistent,
            vec![Acl::new(perms::ALL, bob())],
        )
        .await
        .unwrap();
    assert_eq!(code(other.get_data("/r").await), ErrorCode::NoAuth);
    assert_eq!(code(other.get_data_w("/r").await), ErrorCode::NoAuth);
    assert_eq!(code(other.get_children("/r").await), ErrorCode::NoAuth);
    assert_eq!(code(other.get_children_w("/r").await), ErrorCode::NoAuth);
    assert_eq!(code(other.get_acl("/r").await), ErrorCode::NoAuth);
    assert!(other.exists("/r").await.unwrap().is_some());
    other.sync("/r").await.unwrap();
    // READ alone is enough for getACL (hash hidden), ADMIN alone too (hash shown).
    owner
        .set_acl(
            "/r",
            vec![
                Acl::new(perms::ALL, bob()),
                Acl::new(perms::ADMIN, Id::anyone()),
            ],
            -1,
        )
        .await
        .unwrap();
    let (seen, stat) = other.get_acl("/r").await.unwrap();
    assert_eq!(seen[0], Acl::new(perms::ALL, bob()));
    assert_eq!(stat.aversion, 1);
    owner.close().await.unwrap();
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acls_are_refused() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let create = |acl: Vec<Acl>| {
        let c = c.clone();
        async move {
            c.create_with_acl("/bad", "", CreateMode::Persistent, acl)
                .await
        }
    };
    assert_eq!(code(create(vec![]).await), ErrorCode::InvalidAcl);
    assert_eq!(
        code(create(Acl::creator_all()).await),
        ErrorCode::InvalidAcl,
        "auth: needs an authenticated id"
    );
    assert_eq!(
        code(create(vec![Acl::new(perms::ALL, Id::new("world", "someone"))]).await),
        ErrorCode::InvalidAcl
    );
    assert_eq!(
        code(create(vec![Acl::new(perms::ALL, Id::new("ip", "300.1.1.1"))]).await),
        ErrorCode::InvalidAcl
    );
    assert_eq!(c.exists("/bad").await.unwrap(), None, "nothing was created");
    c.create("/ok", "", CreateMode::Persistent).await.unwrap();
    assert_eq!(
        code(c.set_acl("/ok", vec![], -1).await),
        ErrorCode::InvalidAcl
    );
    assert_eq!(c.get_acl("/ok").await.unwrap().0, Acl::open());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creator_all_becomes_the_creators_ids() {
    let node = TestNode::start().await;
    let c = as_bob(&node).await;
    c.create_with_acl("/mine", "", CreateMode::Persistent, Acl::creator_all())
        .await
        .unwrap();
    assert_eq!(
        c.get_acl("/mine").await.unwrap().0,
        vec![Acl::new(perms::ALL, bob())]
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_acl_checks_the_acl_version() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/v", "", CreateMode::Persistent).await.unwrap();
    let stat = c.set_acl("/v", Acl::open(), 0).await.unwrap();
    assert_eq!((stat.aversion, stat.version), (1, 0));
    assert_eq!(
        code(c.set_acl("/v", Acl::open(), 0).await),
        ErrorCode::BadVersion
    );
    let stat = c.set_acl("/v", Acl::read_unsafe(), -1).await.unwrap();
    assert_eq!(stat.aversion, 2);
    // read_unsafe has no ADMIN: nobody can change the ACL any more (the ACL is checked before
    // the version, as in ZooKeeper).
    assert_eq!(
        code(c.set_acl("/v", Acl::open(), 2).await),
        ErrorCode::NoAuth
    );
    let (acl, stat) = c.get_acl("/v").await.unwrap();
    assert_eq!((acl, stat.aversion), (Acl::read_unsafe(), 2));
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_am_i_lists_the_connection_ip_and_added_ids() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let ids = c.who_am_i().await.unwrap();
    assert_eq!(ids, vec![Id::new("ip", "127.0.0.1")]);
    c.add_auth("digest", BOB).await.unwrap();
    let ids = c.who_am_i().await.unwrap();
    assert!(ids.contains(&Id::new("ip", "127.0.0.1")), "{ids:?}");
    assert!(ids.contains(&bob()), "{ids:?}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_acls_match_the_connection_address() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let other = node.client().await;
    let ip = |net: &str| vec![Acl::new(perms::ALL, Id::new("ip", net))];
    c.create_with_acl("/local", "l", CreateMode::Persistent, ip("127.0.0.1"))
        .await
        .unwrap();
    c.create_with_acl("/net", "n", CreateMode::Persistent, ip("127.0.0.0/8"))
        .await
        .unwrap();
    c.create_with_acl("/far", "f", CreateMode::Persistent, ip("10.0.0.0/8"))
        .await
        .unwrap();
    assert_eq!(other.get_data("/local").await.unwrap().0, Bytes::from("l"));
    assert_eq!(other.get_data("/net").await.unwrap().0, Bytes::from("n"));
    assert_eq!(code(other.get_data("/far").await), ErrorCode::NoAuth);
    c.close().await.unwrap();
    other.close().await.unwrap();
}

/// Every op of a multi is checked (a check op needs READ); a denied op fails the whole multi.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_checks_every_op() {
    let node = TestNode::start().await;
    let owner = as_bob(&node).await;
    let other = node.client().await;
    owner
        .create_with_acl(
            "/m",
            "",
            CreateMode::Persistent,
            vec![Acl::new(perms::ALL, bob())],
        )
        .await
        .unwrap();
    other
        .create("/free", "", CreateMode::Persistent)
        .await
        .unwrap();
    let denied = [
        MultiOp::Check {
            path: "/m".into(),
            version: -1,
        },
        MultiOp::SetData {
            path: "/m".into(),
            data: Bytes::new().into(),
            version: -1,
        },
        MultiOp::Create {
            path: "/m/c".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
            acl: Acl::open(),
        },
    ];
    for op in denied {
        let ops = vec![
            MultiOp::SetData {
                path: "/free".into(),
                data: Bytes::from("changed").into(),
                version: -1,
            },
            op.clone(),
        ];
        match other.multi(ops).await {
            Err(Error::Multi { code, .. }) => assert_eq!(code, ErrorCode::NoAuth, "{op:?}"),
            r => panic!("{op:?}: expected a NoAuth multi failure, got {r:?}"),
        }
    }
    assert_eq!(
        other.get_data("/free").await.unwrap().1.version,
        0,
        "nothing applied"
    );
    // A multi create with its own ACL.
    owner
        .multi(vec![MultiOp::Create {
            path: "/m/own".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
            acl: Acl::creator_all(),
        }])
        .await
        .unwrap();
    assert_eq!(
        owner.get_acl("/m/own").await.unwrap().0,
        vec![Acl::new(perms::ALL, bob())]
    );
    owner.close().await.unwrap();
    other.close().await.unwrap();
}

/// As ZooKeeper: a failed addauth ends the session (its ephemerals go with it) and the client
/// reports AuthFailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_add_auth_ends_the_session() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let observer = node.client().await;
    c.create("/eph", "", CreateMode::Ephemeral).await.unwrap();
    let mut states = c.state_events();
    assert_eq!(
        c.add_auth("nonsense", "x").await.unwrap_err(),
        Error::AuthFailed
    );
    expect_state(&mut states, SessionState::AuthFailed).await;
    assert_eq!(c.exists("/").await.unwrap_err(), Error::AuthFailed);
    let (_, gone) = observer.exists_w("/eph").await.unwrap();
    if observer.exists("/eph").await.unwrap().is_some() {
        within("the ephemeral is deleted", gone).await.unwrap();
    }
    assert_eq!(observer.exists("/eph").await.unwrap(), None);
    observer.close().await.unwrap();
}

/// The session keeps its ids when its connection breaks, and when it resumes on a server that
/// restarted (the client also sends its addauths again first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_survives_a_resume() {
    let mut node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    c.add_auth("digest", BOB).await.unwrap();
    c.create_with_acl(
        "/b",
        "",
        CreateMode::Persistent,
        vec![Acl::new(perms::ALL, bob())],
    )
    .await
    .unwrap();
    let mut states = c.state_events();

    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    expect_state(&mut states, SessionState::Connected).await;
    c.set_data("/b", "1", -1).await.unwrap();

    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    node.restart().await;
    proxy.retarget(node.addr);
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;
    c.set_data("/b", "2", -1).await.unwrap();
    assert!(c.who_am_i().await.unwrap().contains(&bob()));
    c.close().await.unwrap();
}
