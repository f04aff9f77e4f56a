//! A session resumed with the watches its client still holds (ZooKeeper's SetWatches), through
//! the `Backend` seam of a standalone server over in-memory storage.
//!
//! Rules checked (client.proto, ConnectRequest.data_watches / exist_watches / child_watches):
//! the listed watches are set again; those whose node changed after `last_zxid_seen` fire at once
//! instead, as the first messages of the new connection, in list order; a watch fires once.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use paddock_processor::{
    Backend, ConnectRequest, Connected, Processor, ProcessorConfig, SessionEvent, SetWatches,
};
use paddock_types::{CreateMode, EventType, Request, Response, WatchedEvent, ZkError, Zxid};

const WAIT: Duration = Duration::from_secs(10);

fn start() -> Arc<Processor> {
    let cfg = ProcessorConfig {
        tick_ms: 20,
        min_session_timeout_ms: 40,
        max_session_timeout_ms: 10_000,
        ..ProcessorConfig::default()
    };
    support::fresh(cfg).0
}

fn connect_req(resume: Option<&Connected>, last: Zxid, set_watches: SetWatches) -> ConnectRequest {
    ConnectRequest {
        conn_ids: Vec::new(),
        resume: resume.map(|c| (c.session, c.password)),
        timeout_ms: 10_000,
        last_zxid_seen: last,
        peer: "test".into(),
        set_watches,
        read_only: false,
    }
}

async fn next(c: &mut Connected) -> SessionEvent {
    tokio::time::timeout(WAIT, c.events.recv())
        .await
        .expect("an event in time")
        .expect("channel open")
}

/// Submits `req` and returns its answer; panics on any other event in between.
async fn call(
    s: &Processor,
    c: &mut Connected,
    xid: i64,
    req: Request,
) -> Result<Response, ZkError> {
    s.submit(c.session, c.conn, xid, req);
    match next(c).await {
        SessionEvent::Response { xid: x, result, .. } => {
            assert_eq!(x, xid);
            result
        }
        other => panic!("expected the answer to xid {xid}, got {other:?}"),
    }
}

fn create(path: &str) -> Request {
    Request::Create {
        acl: paddock_types::Acl::open(),
        path: path.into(),
        data: Bytes::new().into(),
        mode: CreateMode::Persistent,
    }
}

fn set_data(path: &str, data: &str) -> Request {
    Request::SetData {
        path: path.into(),
        data: Bytes::from(data.to_string()).into(),
        version: -1,
    }
}

fn watch_event(ev: SessionEvent) -> (EventType, String) {
    match ev {
        SessionEvent::Watch(WatchedEvent {
            event_type, path, ..
        }) => (event_type, path),
        other => panic!("expected a watch event, got {other:?}"),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

/// The watches were set on another server (this one never saw them): on resume, changes missed
/// meanwhile fire first, the unchanged watches are set and fire on the next change, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_sets_listed_watches_and_fires_missed_changes_first() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    let client = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    for (xid, p) in ["/d", "/u", "/c", "/gone"].iter().enumerate() {
        call(&server, &mut writer, xid as i64 + 1, create(p))
            .await
            .unwrap();
    }
    let seen = server.status().last_zxid;
    server.detach(client.session, client.conn);
    // While the client is away:
    call(&server, &mut writer, 10, set_data("/d", "x"))
        .await
        .unwrap();
    call(&server, &mut writer, 11, create("/c/kid"))
        .await
        .unwrap();
    call(
        &server,
        &mut writer,
        12,
        Request::Delete {
            path: "/gone".into(),
            version: -1,
        },
    )
    .await
    .unwrap();
    call(&server, &mut writer, 13, create("/new"))
        .await
        .unwrap();

    let watches = SetWatches {
        data: strings(&["/d", "/u", "/gone"]),
        exist: strings(&["/new", "/later"]),
        child: strings(&["/c", "/u"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(Some(&client), seen, watches))
        .await
        .unwrap();
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(watch_event(next(&mut c).await));
    }
    assert_eq!(
        first,
        vec![
            (EventType::NodeDataChanged, "/d".to_string()),
            (EventType::NodeDeleted, "/gone".to_string()),
            (EventType::NodeCreated, "/new".to_string()),
            (EventType::NodeChildrenChanged, "/c".to_string()),
        ]
    );
    // Nothing else queued: the next thing is the answer to a request.
    call(&server, &mut c, 1, Request::Ping).await.unwrap();

    // The unchanged watches are set: each fires once on the next change.
    call(&server, &mut writer, 20, set_data("/u", "y"))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeDataChanged, "/u".to_string())
    );
    call(&server, &mut writer, 21, create("/later"))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeCreated, "/later".to_string())
    );
    call(&server, &mut writer, 22, create("/u/kid"))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeChildrenChanged, "/u".to_string())
    );
    // Fired watches are gone: another change of /d, /u, /c reaches nobody.
    call(&server, &mut writer, 23, set_data("/d", "z"))
        .await
        .unwrap();
    call(&server, &mut writer, 24, set_data("/u", "z"))
        .await
        .unwrap();
    call(&server, &mut writer, 25, create("/c/kid2"))
        .await
        .unwrap();
    call(&server, &mut c, 2, Request::Ping).await.unwrap();
    assert_eq!(server.status().watch_count, 0);
    server.shutdown().await;
}

/// Resumed on the SAME server: the watch fired while the client was away is replayed, and listing
/// it again does not deliver the change a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_the_same_server_delivers_a_missed_event_once() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    let mut client = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    call(&server, &mut writer, 1, create("/d")).await.unwrap();
    call(&server, &mut writer, 2, create("/same"))
        .await
        .unwrap();
    let watch = |path: &str| Request::GetData {
        path: path.into(),
        watch: true,
    };
    call(&server, &mut client, 1, watch("/d")).await.unwrap();
    call(&server, &mut client, 2, watch("/same")).await.unwrap();
    let seen = server.status().last_zxid;
    server.detach(client.session, client.conn);
    call(&server, &mut writer, 3, set_data("/d", "x"))
        .await
        .unwrap();

    let watches = SetWatches {
        data: strings(&["/d", "/same"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(Some(&client), seen, watches))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeDataChanged, "/d".to_string())
    );
    call(&server, &mut c, 3, Request::Ping).await.unwrap();
    // /same is registered once (already set here, listed again): one event on its change.
    assert_eq!(server.status().watch_count, 1);
    call(&server, &mut writer, 4, set_data("/same", "y"))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeDataChanged, "/same".to_string())
    );
    call(&server, &mut c, 4, Request::Ping).await.unwrap();
    server.shutdown().await;
}

/// A new session may carry lists too (harmless): they are set like on a resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_with_watch_lists_sets_them() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    call(&server, &mut writer, 1, create("/n")).await.unwrap();
    let seen = server.status().last_zxid;
    let watches = SetWatches {
        data: strings(&["/n"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(None, seen, watches))
        .await
        .unwrap();
    call(&server, &mut writer, 2, set_data("/n", "v"))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeDataChanged, "/n".to_string())
    );
    server.shutdown().await;
}

/// Resumed on the SAME server, listing watches that fired here while the client was away and
/// whose nodes changed again afterwards: each watch was spent by its first change (a one-shot
/// watch fires once), so the resume delivers that one event and neither fires the watch again
/// for the later state nor sets it again. Found by the wire order checks of the partition
/// tests (crates/node/tests/support/lin/order.rs): a data watch delivered NodeDeleted and then,
/// the node having been created again, NodeDataChanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_fired_while_away_is_spent_even_if_its_node_changed_again() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    let mut client = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    call(&server, &mut writer, 1, create("/d")).await.unwrap();
    call(
        &server,
        &mut client,
        1,
        Request::GetData {
            path: "/d".into(),
            watch: true,
        },
    )
    .await
    .unwrap();
    call(
        &server,
        &mut client,
        2,
        Request::Exists {
            path: "/e".into(),
            watch: true,
        },
    )
    .await
    .unwrap();
    let seen = server.status().last_zxid;
    server.detach(client.session, client.conn);
    let delete = |path: &str| Request::Delete {
        path: path.into(),
        version: -1,
    };
    // /d deleted (its data watch fires) and created again; /e created (its exist watch fires)
    // and deleted again.
    call(&server, &mut writer, 2, delete("/d")).await.unwrap();
    call(&server, &mut writer, 3, create("/d")).await.unwrap();
    call(&server, &mut writer, 4, create("/e")).await.unwrap();
    call(&server, &mut writer, 5, delete("/e")).await.unwrap();

    let watches = SetWatches {
        data: strings(&["/d"]),
        exist: strings(&["/e"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(Some(&client), seen, watches))
        .await
        .unwrap();
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeDeleted, "/d".to_string())
    );
    assert_eq!(
        watch_event(next(&mut c).await),
        (EventType::NodeCreated, "/e".to_string())
    );
    // Nothing more: the next message is the ping's answer, and no watch is left.
    call(&server, &mut c, 3, Request::Ping).await.unwrap();
    assert_eq!(server.status().watch_count, 0);
    call(&server, &mut writer, 6, set_data("/d", "x"))
        .await
        .unwrap();
    call(&server, &mut writer, 7, create("/e")).await.unwrap();
    call(&server, &mut c, 4, Request::Ping).await.unwrap();
    server.shutdown().await;
}

/// A persistent watch's client resumes on the same server having seen none of a node's last
/// three changes: deleted (delivered to the old connection, unconfirmed), then created and
/// deleted again while it was away. It gets all three, in order, each once: the second
/// deletion is another change than the first, not a repeat of it (found by
/// `node/tests/client_partitions.rs` in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_persistent_watch_gets_a_node_deleted_twice_as_two_events() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    let mut client = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    call(&server, &mut writer, 1, create("/a")).await.unwrap();
    call(
        &server,
        &mut client,
        1,
        Request::AddWatch {
            path: "/".into(),
            mode: paddock_types::AddWatchMode::PersistentRecursive,
        },
    )
    .await
    .unwrap();
    let seen = server.status().last_zxid;
    let delete = |xid| {
        (
            xid,
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
        )
    };
    let (x, d) = delete(2);
    call(&server, &mut writer, x, d).await.unwrap();
    assert_eq!(
        watch_event(next(&mut client).await),
        (EventType::NodeDeleted, "/a".to_string())
    );
    server.detach(client.session, client.conn);
    call(&server, &mut writer, 3, create("/a")).await.unwrap();
    let (x, d) = delete(4);
    call(&server, &mut writer, x, d).await.unwrap();

    let watches = SetWatches {
        persistent_recursive: strings(&["/"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(Some(&client), seen, watches))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(watch_event(next(&mut c).await));
    }
    assert_eq!(
        got,
        vec![
            (EventType::NodeDeleted, "/a".to_string()),
            (EventType::NodeCreated, "/a".to_string()),
            (EventType::NodeDeleted, "/a".to_string()),
        ]
    );
    call(&server, &mut c, 5, Request::Ping).await.unwrap();
    server.shutdown().await;
}

/// More changes than a session keeps for a resume fire while its client is cut off but still
/// attached (a network cut the server has not noticed): on resume on the same server the
/// persistent watch gets every one, in zxid order, once — the session's recent events and the
/// tree's replay of what came before them, merged (found by `node/tests/client_partitions.rs`
/// in CI: the replay was deduplicated by path and type, which dropped earlier changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_persistent_watch_gets_every_change_even_beyond_the_sessions_recent_events() {
    let server = start();
    let mut writer = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    let mut client = server
        .connect(connect_req(None, Zxid::ZERO, SetWatches::default()))
        .await
        .unwrap();
    call(&server, &mut writer, 1, create("/a")).await.unwrap();
    call(
        &server,
        &mut client,
        1,
        Request::AddWatch {
            path: "/".into(),
            mode: paddock_types::AddWatchMode::PersistentRecursive,
        },
    )
    .await
    .unwrap();
    let seen = server.status().last_zxid;
    const CHANGES: usize = 300;
    for i in 0..CHANGES {
        call(
            &server,
            &mut writer,
            2 + i as i64,
            set_data("/a", &i.to_string()),
        )
        .await
        .unwrap();
    }
    // The old connection got them all; its client read none (the cut).
    let watches = SetWatches {
        persistent_recursive: strings(&["/"]),
        ..SetWatches::default()
    };
    let mut c = server
        .connect(connect_req(Some(&client), seen, watches))
        .await
        .unwrap();
    let mut zxids = Vec::new();
    for _ in 0..CHANGES {
        match next(&mut c).await {
            SessionEvent::Watch(w) => {
                assert_eq!(
                    (w.event_type, w.path.as_str()),
                    (EventType::NodeDataChanged, "/a")
                );
                zxids.push(w.zxid);
            }
            other => panic!("expected a watch event, got {other:?}"),
        }
    }
    assert!(
        zxids.windows(2).all(|p| p[0] < p[1]),
        "in zxid order, once each"
    );
    call(&server, &mut c, 9_999, Request::Ping).await.unwrap();
    server.shutdown().await;
}
