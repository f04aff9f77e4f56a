//! The order of a session's calls where it is easiest to break: across a reconnect (calls
//! queued while disconnected, then calls made while the session resumes and after) and around
//! a close (a call made after `close` fails with Closed). A call made after another is sent
//! after it, whichever way the client sends it.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use paddock_client::{CreateMode, Error, SessionState, Stat};
use support::*;

type Call<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Polls `f` once (a call is submitted on its first poll) and keeps it for later.
async fn issue<'a, T>(calls: &mut Vec<Call<'a, T>>, mut f: Call<'a, T>) {
    let done = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await;
    assert!(done.is_pending(), "a call answered on its first poll");
    calls.push(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_keep_their_order_across_a_reconnect() {
    let node = TestNode::start().await;
    let proxy = Proxy::start(node.addr).await;
    let c = connect(&proxy.addr.to_string(), opts()).await;
    c.create("/o", "", CreateMode::Persistent).await.unwrap();
    let mut states = c.state_events();
    proxy.set_mode(Mode::Refuse);
    proxy.kill_connections();
    expect_state(&mut states, SessionState::Disconnected).await;

    // Queued while disconnected...
    let mut calls: Vec<Call<'_, Stat>> = Vec::new();
    for i in 0..50 {
        issue(&mut calls, Box::pin(c.set_data("/o", format!("{i}"), -1))).await;
    }
    // ...then more while the session resumes (through the session task until it opens the
    // direct path, straight on the stream after)...
    proxy.set_mode(Mode::Forward);
    within("resume", async {
        while c.state() != SessionState::Connected {
            let i = calls.len();
            issue(&mut calls, Box::pin(c.set_data("/o", format!("{i}"), -1))).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    // ...and after.
    for _ in 0..50 {
        let i = calls.len();
        issue(&mut calls, Box::pin(c.set_data("/o", format!("{i}"), -1))).await;
        tokio::task::yield_now().await;
    }
    // The n-th setData made is the n-th the server applied.
    let n = calls.len();
    for (i, call) in calls.into_iter().enumerate() {
        let stat = within("a queued call", call).await.unwrap();
        assert_eq!(stat.version, i as i32 + 1, "call {i} of {n}");
    }
    let (data, _) = c.get_data("/o").await.unwrap();
    assert_eq!(data, format!("{}", n - 1).as_bytes());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_after_close_fails_with_closed() {
    let node = TestNode::start().await;
    let c = node.client().await;
    c.create("/c", "", CreateMode::Persistent).await.unwrap();
    let mut before: Vec<Call<'_, Stat>> = Vec::new();
    issue(&mut before, Box::pin(c.set_data("/c", "x", -1))).await;
    let mut close: Vec<Call<'_, ()>> = Vec::new();
    issue(&mut close, Box::pin(c.close())).await;
    let mut after: Vec<Call<'_, Stat>> = Vec::new();
    issue(&mut after, Box::pin(c.set_data("/c", "y", -1))).await;
    for call in before {
        within("the call before close", call).await.unwrap();
    }
    for call in close {
        within("close", call).await.unwrap();
    }
    for call in after {
        match within("the call after close", call).await {
            Err(Error::Closed) => {}
            other => panic!("a call after close: {other:?}"),
        }
    }
    assert_eq!(c.state(), SessionState::Closed);
    let other = node.client().await;
    assert_eq!(other.get_data("/c").await.unwrap().0, "x".as_bytes());
    other.close().await.unwrap();
}
