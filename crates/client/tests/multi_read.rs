//! ZooKeeper 3.9's `multiRead` through the client against an in-process server: one result per
//! op in op order, each op failing on its own (NoNode, NoAuth, BadArguments) without failing the
//! others, and every op seeing the same state.

mod support;

use bytes::Bytes;
use paddock_client::{digest, perms, Acl, CreateMode, ErrorCode, Id, ReadOp, ReadResult};
use support::*;

fn get_data(path: &str) -> ReadOp {
    ReadOp::GetData { path: path.into() }
}

fn get_children(path: &str) -> ReadOp {
    ReadOp::GetChildren { path: path.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_op_gets_its_own_result_or_error() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/m", "top", CreateMode::Persistent).await.unwrap();
    c.create("/m/a", "A", CreateMode::Persistent).await.unwrap();
    let bob = Id::new("digest", digest("bob:pw").expect("user:password"));
    c.create_with_acl(
        "/m/secret",
        "s",
        CreateMode::Persistent,
        vec![Acl::new(perms::ALL, bob)],
    )
    .await
    .unwrap();

    let results = c
        .multi_read(vec![
            get_data("/m/a"),
            get_data("/m/missing"),
            get_children("/m"),
            get_data("/m/secret"),
            get_children("m/bad/"),
            get_children("/m/a"),
        ])
        .await
        .expect("a failing op does not fail the multiRead");
    assert_eq!(results.len(), 6);
    match &results[0] {
        ReadResult::GetData { data, stat } => {
            assert_eq!(data, &Bytes::from_static(b"A"));
            assert_eq!(stat.data_length, 1);
        }
        other => panic!("getData /m/a: {other:?}"),
    }
    assert_eq!(results[1], ReadResult::Error(ErrorCode::NoNode));
    match &results[2] {
        ReadResult::GetChildren { children, stat } => {
            let mut children = children.clone();
            children.sort();
            assert_eq!(children, vec!["a", "secret"]);
            assert_eq!(stat.num_children, 2);
        }
        other => panic!("getChildren /m: {other:?}"),
    }
    assert_eq!(results[3], ReadResult::Error(ErrorCode::NoAuth));
    assert_eq!(results[4], ReadResult::Error(ErrorCode::BadArguments));
    assert!(matches!(&results[5], ReadResult::GetChildren { children, .. } if children.is_empty()));

    // With READ granted, the same op succeeds.
    c.add_auth("digest", "bob:pw").await.unwrap();
    let results = c.multi_read(vec![get_data("/m/secret")]).await.unwrap();
    assert!(
        matches!(&results[0], ReadResult::GetData { data, .. } if data == &Bytes::from_static(b"s"))
    );

    assert!(c.multi_read(vec![]).await.unwrap().is_empty());
    c.close().await.unwrap();
}

/// All ops see one state: a node's data and its parent's child list agree, whatever writes
/// another session runs at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_see_one_state_while_another_session_writes() {
    let node = TestNode::start().await;
    let (reader, writer) = (node.client().await, node.client().await);
    reader
        .create("/s", "0", CreateMode::Persistent)
        .await
        .unwrap();
    let writes = tokio::spawn(async move {
        for i in 1..=40 {
            // The child count and /s's data move together (a multi), so one state has them equal.
            writer
                .multi(vec![
                    paddock_client::MultiOp::Create {
                        path: format!("/s/c{i}"),
                        data: Bytes::new().into(),
                        mode: CreateMode::Persistent,
                        acl: Acl::open(),
                    },
                    paddock_client::MultiOp::SetData {
                        path: "/s".into(),
                        data: Bytes::from(i.to_string()).into(),
                        version: -1,
                    },
                ])
                .await
                .unwrap();
        }
        writer.close().await.unwrap();
    });
    for _ in 0..40 {
        let r = reader
            .multi_read(vec![get_data("/s"), get_children("/s"), get_data("/s")])
            .await
            .unwrap();
        let (
            ReadResult::GetData { data, stat: s1 },
            ReadResult::GetChildren { children, stat: ps },
            ReadResult::GetData { stat: s2, .. },
        ) = (&r[0], &r[1], &r[2])
        else {
            panic!("{r:?}");
        };
        let n: usize = std::str::from_utf8(data).unwrap().parse().unwrap();
        assert_eq!(n, children.len(), "data and children from one state");
        assert_eq!(s1, s2);
        assert_eq!(ps, s1, "getChildren's Stat is the same node's Stat");
    }
    writes.await.unwrap();
    reader.close().await.unwrap();
}
