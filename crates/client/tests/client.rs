//! The client library against an in-process server (and a TCP proxy for connection loss).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_client::{
    Acl, Client, ClientOptions, CreateMode, Error, ErrorCode, EventType, KeeperState, MultiOp,
    OpResult, SessionState,
};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation() {
    let node = TestNode::start().await;
    let c = node.client().await;
    assert_eq!(c.state(), SessionState::Connected);
    assert!(c.session_id().0 != 0);
    assert_eq!(c.session_timeout(), Duration::from_secs(20));

    // create in every mode
    assert_eq!(
        c.create("/a", "one", CreateMode::Persistent).await.unwrap(),
        "/a"
    );
    let seq = c
        .create("/a/s-", "", CreateMode::PersistentSequential)
        .await
        .unwrap();
    assert_eq!(seq, "/a/s-0000000000");
    let eph = c.create("/a/e", "", CreateMode::Ephemeral).await.unwrap();
    let eseq = c
        .create("/a/es-", "", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    assert_eq!(eseq, "/a/es-0000000002");
    let err = c
        .create("/a", "", CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NodeExists);
    assert!(matches!(
        err,
        Error::Zk {
            code: ErrorCode::NodeExists,
            ..
        }
    ));
    let err = c
        .create("/x/y", "", CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoNode);
    let err = c
        .create("/a/e/c", "", CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoChildrenForEphemerals);
    let err = c
        .create("bad", "", CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadArguments);

    // exists / get_data / set_data
    let stat = c.exists("/a").await.unwrap().expect("exists");
    assert_eq!(stat.num_children, 3);
    assert_eq!(c.exists("/nope").await.unwrap(), None);
    let (data, stat) = c.get_data("/a").await.unwrap();
    assert_eq!(data, Bytes::from("one"));
    assert_eq!(stat.version, 0);
    let e = c.exists(&eph).await.unwrap().unwrap();
    assert_eq!(e.ephemeral_owner, c.session_id().0);
    let stat2 = c.set_data("/a", "two", 0).await.unwrap();
    assert_eq!(stat2.version, 1);
    assert_eq!(stat2.data_length, 3);
    let err = c.set_data("/a", "three", 0).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadVersion);
    assert_eq!(
        c.get_data("/nope").await.unwrap_err().code(),
        ErrorCode::NoNode
    );

    // get_children
    let (mut kids, stat) = c.get_children("/a").await.unwrap();
    kids.sort();
    assert_eq!(kids, vec!["e", "es-0000000002", "s-0000000000"]);
    assert_eq!(stat.num_children, 3);

    // delete
    assert_eq!(
        c.delete("/a", -1).await.unwrap_err().code(),
        ErrorCode::NotEmpty
    );
    assert_eq!(
        c.delete(&seq, 5).await.unwrap_err().code(),
        ErrorCode::BadVersion
    );
    c.delete(&seq, 0).await.unwrap();
    assert_eq!(
        c.delete(&seq, -1).await.unwrap_err().code(),
        ErrorCode::NoNode
    );

    // multi: success, then a failure with per-op results
    let results = c
        .multi(vec![
            MultiOp::Create {
                path: "/m".into(),
                data: Bytes::from("m").into(),
                mode: CreateMode::Persistent,
                acl: Acl::open(),
            },
            MultiOp::Check {
                path: "/m".into(),
                version: 0,
            },
            MultiOp::SetData {
                path: "/m".into(),
                data: Bytes::from("n").into(),
                version: 0,
            },
            MultiOp::Delete {
                path: "/a/e".into(),
                version: -1,
            },
        ])
        .await
        .unwrap();
    assert!(matches!(&results[0], OpResult::Create { path, .. } if path == "/m"));
    assert_eq!(results[1], OpResult::Check);
    assert!(matches!(&results[2], OpResult::SetData { stat } if stat.version == 1));
    assert_eq!(results[3], OpResult::Delete);
    let err = c
        .multi(vec![
            MultiOp::Delete {
                path: "/m".into(),
                version: -1,
            },
            MultiOp::Check {
                path: "/nope".into(),
                version: -1,
            },
            MultiOp::Create {
                path: "/z".into(),
                data: Bytes::new().into(),
                mode: CreateMode::Persistent,
                acl: Acl::open(),
            },
        ])
        .await
        .unwrap_err();
    match err {
        Error::Multi { code, results } => {
            assert_eq!(code, ErrorCode::NoNode);
            assert_eq!(
                results,
                vec![
                    OpResult::Error(ErrorCode::Ok),
                    OpResult::Error(ErrorCode::NoNode),
                    OpResult::Error(ErrorCode::RuntimeInconsistency)
                ]
            );
        }
        other => panic!("expected Error::Multi, got {other:?}"),
    }
    assert!(
        c.exists("/m").await.unwrap().is_some(),
        "a failed multi changes nothing"
    );

    // sync
    c.sync("/a").await.unwrap();

    // close: ephemerals go, later calls fail Closed, close again is Ok
    let mut states = c.state_events();
    let other = node.client().await;
    assert!(other.exists(&eseq).await.unwrap().is_some());
    c.close().await.unwrap();
    expect_state(&mut states, SessionState::Closed).await;
    assert_eq!(c.state(), SessionState::Closed);
    assert_eq!(c.exists("/a").await.unwrap_err(), Error::Closed);
    c.close().await.unwrap();
    assert_eq!(other.exists(&eseq).await.unwrap(), None);
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_calls_from_many_tasks() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/p", "", CreateMode::Persistent).await.unwrap();
    for i in 0..100 {
        c.create(&format!("/p/{i}"), "", CreateMode::Persistent)
            .await
            .unwrap();
    }
    // 100 tasks at once, each set_data then get_data of its own node.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/p/{i}");
            let stat = c.set_data(&path, format!("value {i}"), 0).await.unwrap();
            let (data, stat2) = c.get_data(&path).await.unwrap();
            (i, stat, data, stat2)
        }));
    }
    for t in tasks {
        let (i, stat, data, stat2) = within("task", t).await.unwrap();
        assert_eq!(stat.version, 1);
        assert_eq!(data, Bytes::from(format!("value {i}")));
        assert_eq!(stat2, stat);
    }
    // Many calls in flight from one task, issued in order: answered in order (FIFO), so the
    // n-th set_data on one node sees version n.
    let futs: Vec<_> = (0..100)
        .map(|i| Box::pin(c.set_data("/p", format!("{i}"), -1)))
        .collect();
    let stats = within("pipelined set_data", in_issue_order(futs)).await;
    for (i, s) in stats.into_iter().enumerate() {
        assert_eq!(s.unwrap().version, i as i32 + 1);
    }
    // sequential creates issued in order get increasing sequence numbers, each answer to its
    // own call
    let futs: Vec<_> = (0..50)
        .map(|i| Box::pin(c.create("/p/seq-", format!("{i}"), CreateMode::PersistentSequential)))
        .collect();
    let paths = within("pipelined creates", in_issue_order(futs)).await;
    for (i, p) in paths.into_iter().enumerate() {
        let p = p.unwrap();
        assert_eq!(p, format!("/p/seq-{:010}", 100 + i));
        assert_eq!(c.get_data(&p).await.unwrap().0, Bytes::from(format!("{i}")));
    }
    let (data, _) = c.get_data("/p").await.unwrap();
    assert_eq!(data, Bytes::from("99"));
    eprintln!("pipelining: {:?}", started.elapsed());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_fire_exactly_once() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let writer = node.client().await;
    c.create("/w", "", CreateMode::Persistent).await.unwrap();

    // data watch: two registrations, one change → both resolve once; a later change is not seen
    let (_, _, w1) = c.get_data_w("/w").await.unwrap();
    let (_, w2) = c.exists_w("/w").await.unwrap();
    writer.set_data("/w", "1", -1).await.unwrap();
    let e1 = within("data watch", w1).await.unwrap();
    let e2 = within("exists watch", w2).await.unwrap();
    assert_eq!(e1.event_type, EventType::NodeDataChanged);
    assert_eq!(e1.path, "/w");
    assert_eq!(e1.state, KeeperState::SyncConnected);
    assert_eq!(e1, e2);

    // exists on a missing node → NodeCreated
    let (stat, w) = c.exists_w("/w/new").await.unwrap();
    assert_eq!(stat, None);
    writer
        .create("/w/new", "", CreateMode::Persistent)
        .await
        .unwrap();
    let e = within("created watch", w).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/w/new")
    );

    // children watch → NodeChildrenChanged on the parent; a data change does not fire it
    let (kids, _, wc) = c.get_children_w("/w").await.unwrap();
    assert_eq!(kids, vec!["new"]);
    let (_, _, wd) = c.get_data_w("/w").await.unwrap();
    writer.set_data("/w", "2", -1).await.unwrap();
    let e = within("data watch", wd).await.unwrap();
    assert_eq!(e.event_type, EventType::NodeDataChanged);
    writer
        .create("/w/b", "", CreateMode::Persistent)
        .await
        .unwrap();
    let e = within("child watch", wc).await.unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/w")
    );

    // delete fires data and child watches of the node, once each
    let (_, _, wd) = c.get_data_w("/w/b").await.unwrap();
    let (_, _, wc) = c.get_children_w("/w/b").await.unwrap();
    writer.delete("/w/b", -1).await.unwrap();
    assert_eq!(
        within("w", wd).await.unwrap().event_type,
        EventType::NodeDeleted
    );
    assert_eq!(
        within("w", wc).await.unwrap().event_type,
        EventType::NodeDeleted
    );

    // no watch is left by a failing get_data
    assert_eq!(
        c.get_data_w("/w/b").await.unwrap_err().code(),
        ErrorCode::NoNode
    );

    // a watch pending at close resolves to Closed
    let (_, _, w) = c.get_data_w("/w").await.unwrap();
    c.close().await.unwrap();
    assert_eq!(within("closed watch", w).await.unwrap_err(), Error::Closed);
    writer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_resumes_after_the_connection_drops() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    let observer = node.client().await;
    let id = c.session_id();
    c.create("/eph", "x", CreateMode::Ephemeral).await.unwrap();
    let (_, _, watch) = c.get_data_w("/eph").await.unwrap();
    let mut states = c.state_events();

    let started = Instant::now();
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    expect_state(&mut states, SessionState::Connected).await;
    eprintln!("resumed after {:?}", started.elapsed());
    assert_eq!(c.session_id(), id);

    // the session, its ephemeral and its watch survived
    let (data, stat) = c.get_data("/eph").await.unwrap();
    assert_eq!(data, Bytes::from("x"));
    assert_eq!(stat.ephemeral_owner, id.0);
    observer.set_data("/eph", "y", -1).await.unwrap();
    let e = within("watch after resume", watch).await.unwrap();
    assert_eq!(e.event_type, EventType::NodeDataChanged);

    // a call in flight when the connection drops fails with ConnectionLoss or succeeds; either
    // way the client recovers
    let slow = {
        let c = c.clone();
        tokio::spawn(async move { c.sync("/").await })
    };
    proxy.kill_connections();
    match within("call across a drop", slow).await.unwrap() {
        Ok(()) | Err(Error::ConnectionLoss) => {}
        Err(e) => panic!("unexpected {e:?}"),
    }
    within("call after the drop", async {
        loop {
            match c.exists("/eph").await {
                Ok(s) => break s,
                Err(Error::ConnectionLoss) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await
    .expect("the ephemeral is still there");
    c.close().await.unwrap();
    assert_eq!(observer.exists("/eph").await.unwrap(), None);
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_moves_to_another_server_address_and_keeps_watches() {
    let node = TestNode::start().await;
    let p1 = Proxy::start(node.addr).await;
    let p2 = Proxy::start(node.addr).await;
    let c = connect(&format!("{},{}", p1.addr, p2.addr), opts()).await;
    let observer = node.client().await;
    c.create("/mv", "", CreateMode::Persistent).await.unwrap();
    let (_, _, wd) = c.get_data_w("/mv").await.unwrap();
    let (_, _, wc) = c.get_children_w("/mv").await.unwrap();
    let first = c.server();
    let (from, to) = if first == p1.addr.to_string() {
        (&p1, &p2)
    } else {
        (&p2, &p1)
    };
    let mut states = c.state_events();
    from.set_mode(Mode::Refuse);
    from.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    expect_state(&mut states, SessionState::Connected).await;
    assert_eq!(c.server(), to.addr.to_string());
    // the watches (listed again in the resume, merged there with the ones still set) fire once
    observer.set_data("/mv", "1", -1).await.unwrap();
    observer
        .create("/mv/c", "", CreateMode::Persistent)
        .await
        .unwrap();
    assert_eq!(
        within("data watch", wd).await.unwrap().event_type,
        EventType::NodeDataChanged
    );
    assert_eq!(
        within("child watch", wc).await.unwrap().event_type,
        EventType::NodeChildrenChanged
    );
    c.close().await.unwrap();
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_surfaced() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(
        &proxy.addr.to_string(),
        opts().session_timeout(Duration::from_millis(1000)),
    )
    .await;
    assert_eq!(c.session_timeout(), Duration::from_millis(1000));
    let observer = node.client().await;
    c.create("/gone", "", CreateMode::Ephemeral).await.unwrap();
    let (_, _, watch) = c.get_data_w("/gone").await.unwrap();
    let mut states = c.state_events();

    let started = Instant::now();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;
    expect_state(&mut states, SessionState::Expired).await;
    eprintln!("expired after {:?}", started.elapsed());
    assert_eq!(c.state(), SessionState::Expired);
    assert_eq!(c.exists("/").await.unwrap_err(), Error::SessionExpired);
    assert_eq!(
        c.exists("/").await.unwrap_err().code(),
        ErrorCode::SessionExpired
    );
    assert_eq!(
        within("watch", watch).await.unwrap_err(),
        Error::SessionExpired
    );
    assert_eq!(c.close().await.unwrap_err(), Error::SessionExpired);

    // the server expires it too: the ephemeral goes
    within("ephemeral removed", async {
        while observer.exists("/gone").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // forwarding again changes nothing: no more reconnects
    proxy.set_mode(Mode::Forward);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.state(), SessionState::Expired);
    observer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_detected_and_the_session_resumed() {
    // The proxy holds every byte back: no error, no EOF. The client hears nothing for 2/3 of
    // the session timeout, drops the stream and resumes once bytes flow again.
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(
        &proxy.addr.to_string(),
        opts().session_timeout(Duration::from_millis(3000)),
    )
    .await;
    let id = c.session_id();
    c.create("/silent", "", CreateMode::Ephemeral)
        .await
        .unwrap();
    let mut states = c.state_events();
    let started = Instant::now();
    proxy.set_mode(Mode::Stall);
    expect_state(&mut states, SessionState::Disconnected).await;
    let detected = started.elapsed();
    eprintln!("silence detected after {detected:?}");
    assert!(detected >= Duration::from_millis(1500), "{detected:?}");
    proxy.set_mode(Mode::Forward);
    expect_state(&mut states, SessionState::Connected).await;
    assert_eq!(c.session_id(), id);
    assert!(c.exists("/silent").await.unwrap().is_some());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_time_out_when_the_server_stalls() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(
        &proxy.addr.to_string(),
        opts().request_timeout(Duration::from_millis(300)),
    )
    .await;
    c.create("/t", "", CreateMode::Persistent).await.unwrap();
    proxy.set_mode(Mode::Stall);
    let started = Instant::now();
    assert_eq!(c.get_data("/t").await.unwrap_err(), Error::Timeout);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(Error::Timeout.code(), ErrorCode::OperationTimeout);
    // bytes flow again: the session goes on (the late answer is discarded)
    proxy.set_mode(Mode::Forward);
    let (_, stat) = c.get_data("/t").await.unwrap();
    assert_eq!(stat.version, 0);
    assert_eq!(c.state(), SessionState::Connected);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connect_strings_and_unreachable_servers() {
    for bad in ["", "localhost", "host:notaport", "a:1,,b:2", "http://x:1"] {
        match Client::connect(bad, ClientOptions::default()).await {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{bad:?}: expected InvalidArgument, got {other:?}"),
        }
    }
    // a port nobody listens on
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let started = Instant::now();
    let err = within(
        "unreachable",
        Client::connect(
            &addr.to_string(),
            ClientOptions::default().connect_timeout(Duration::from_millis(500)),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::ConnectionLoss);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_ends_the_background_task() {
    let node = TestNode::start().await;
    let c = node.client().await;
    let mut states = c.state_watch();
    let c2 = c.clone();
    drop(c);
    c2.exists("/").await.unwrap();
    drop(c2);
    within("closed", states.wait_for(|s| *s == SessionState::Closed))
        .await
        .unwrap();
}

/// Polls each future once in order (each call is queued on its first poll), then awaits all:
/// the calls are issued in vector order.
async fn in_issue_order<F: std::future::Future + Unpin>(mut futs: Vec<F>) -> Vec<F::Output> {
    use std::task::Poll;
    let mut done: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, d) in futs.iter_mut().zip(done.iter_mut()) {
            if d.is_none() {
                if let Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                    *d = Some(v);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().map(|d| d.expect("done")).collect()
}
