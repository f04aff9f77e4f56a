//! ZooKeeper 3.9's `getEphemerals` and `getAllChildrenNumber` through the client against an
//! in-process server: sessions see only their own ephemerals, the prefix is a plain string
//! prefix, counts include every level, and getAllChildrenNumber needs READ on the node.

mod support;

use paddock_client::{digest, perms, Acl, CreateMode, Error, ErrorCode, Id};
use support::*;

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ephemerals_lists_only_the_callers_nodes_sorted() {
    let node = TestNode::start().await;
    let (a, b) = (node.client().await, node.client().await);
    a.create("/app", "", CreateMode::Persistent).await.unwrap();
    for p in ["/app/z", "/app/a", "/apple"] {
        a.create(p, "", CreateMode::Ephemeral).await.unwrap();
    }
    b.create("/app/b", "", CreateMode::Ephemeral).await.unwrap();
    assert_eq!(
        a.get_ephemerals("/").await.unwrap(),
        vec!["/app/a", "/app/z", "/apple"]
    );
    assert_eq!(
        a.get_ephemerals("/app").await.unwrap(),
        vec!["/app/a", "/app/z", "/apple"],
        "a plain string prefix, as ZooKeeper"
    );
    assert_eq!(a.get_ephemerals("/app/z").await.unwrap(), vec!["/app/z"]);
    assert!(a.get_ephemerals("/none").await.unwrap().is_empty());
    assert_eq!(b.get_ephemerals("/").await.unwrap(), vec!["/app/b"]);
    for bad in ["", "app", "/app/"] {
        assert_eq!(code(a.get_ephemerals(bad).await), ErrorCode::BadArguments);
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_children_number_counts_descendants_and_needs_read() {
    let node = TestNode::start().await;
    let c = node.client().await;
    for p in ["/t", "/t/a", "/t/a/b", "/t/c", "/t-x"] {
        c.create(p, "", CreateMode::Persistent).await.unwrap();
    }
    assert_eq!(c.get_all_children_number("/t").await.unwrap(), 3);
    assert_eq!(c.get_all_children_number("/t/a/b").await.unwrap(), 0);
    // Every node but the root: /t.., /t-x and /zookeeper with its 2 children.
    assert_eq!(c.get_all_children_number("/").await.unwrap(), 5 + 3);
    assert_eq!(
        code(c.get_all_children_number("/missing").await),
        ErrorCode::NoNode
    );
    assert_eq!(
        code(c.get_all_children_number("t").await),
        ErrorCode::BadArguments
    );

    // READ on the node itself, as ZooKeeper's FinalRequestProcessor checks.
    let bob = Id::new("digest", digest("bob:pw").expect("user:password"));
    c.create_with_acl(
        "/secret",
        "",
        CreateMode::Persistent,
        vec![Acl::new(perms::ALL, bob)],
    )
    .await
    .unwrap();
    assert_eq!(
        code(c.get_all_children_number("/secret").await),
        ErrorCode::NoAuth
    );
    c.add_auth("digest", "bob:pw").await.unwrap();
    c.create("/secret/x", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(c.get_all_children_number("/secret").await.unwrap(), 1);
    c.close().await.unwrap();
}
