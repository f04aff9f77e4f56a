//! ACLs and authentication end to end over gRPC on an in-process server: digest ACLs, `ip` ids
//! from the real peer address, the super user from `superDigest`, bad input (malformed ACLs,
//! unknown schemes, bad credentials), a failed addauth ending the session, ACLs after a restart,
//! and `paddock digest`.

mod support;

use paddock_proto::v1 as pb;
use pb::CreateMode::{Ephemeral, Persistent};
use support::*;

/// ZooKeeper's documented super:test digest.
const SUPER: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
const ALL: i32 = 31;
const READ: i32 = 1;

fn ids_of(r: pb::Response) -> Vec<String> {
    who_am_i_result(r)
        .ids
        .into_iter()
        .map(|i| format!("{}:{}", i.scheme, i.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_ip_and_super_over_grpc() {
    let node = TestNode::start_with(|c| c.super_digest = Some(SUPER.into())).await;
    let mut alice = node.session().await;
    let mut eve = node.session().await;
    ok(&alice.call(op::add_auth("digest", "alice:secret")).await);
    let digest = paddock_types::acl::digest("alice:secret").expect("colon");
    let r = alice
        .call(op::create_acl(
            "/a",
            b"x",
            Persistent,
            vec![op::acl(ALL, "auth", "")],
        ))
        .await;
    ok(&r);
    expect_err(&eve.call(op::get_data("/a", true)).await, code::NO_AUTH);
    expect_err(&eve.call(op::set_data("/a", b"y", -1)).await, code::NO_AUTH);
    // getACL as stored, and what a stranger sees: nothing (no READ, no ADMIN).
    let acl = get_acl_result(alice.call(op::get_acl("/a")).await);
    assert_eq!(acl.acl, vec![op::acl(ALL, "digest", &digest)]);
    expect_err(&eve.call(op::get_acl("/a")).await, code::NO_AUTH);
    // The connection's ip id is the real peer address.
    assert_eq!(
        ids_of(alice.call(op::who_am_i()).await),
        vec!["ip:127.0.0.1".to_string(), format!("digest:{digest}")]
    );
    let r = alice
        .call(op::create_acl(
            "/lo",
            b"",
            Persistent,
            vec![op::acl(ALL, "ip", "127.0.0.0/8")],
        ))
        .await;
    ok(&r);
    ok(&eve.call(op::set_data("/lo", b"mine", -1)).await);
    let r = alice
        .call(op::create_acl(
            "/far",
            b"",
            Persistent,
            vec![op::acl(ALL, "ip", "10.0.0.0/8")],
        ))
        .await;
    ok(&r);
    expect_err(&eve.call(op::get_data("/far", false)).await, code::NO_AUTH);
    // The super user passes everything.
    ok(&eve.call(op::add_auth("digest", "super:test")).await);
    ok(&eve.call(op::get_data("/far", false)).await);
    ok(&eve
        .call(op::set_acl("/a", vec![op::acl(READ, "world", "anyone")], 0))
        .await);
    assert_eq!(eve.stat("/a").await.map(|s| s.aversion), Some(1));
    // The root can be locked down too, and a multi is checked op by op.
    let r = eve
        .call(op::set_acl("/", vec![op::acl(READ, "world", "anyone")], -1))
        .await;
    ok(&r);
    let mut bob = node.session().await;
    expect_err(&bob.create("/top", b"", Persistent).await, code::NO_AUTH);
    let r = bob
        .call(op::multi(vec![
            op::m::check("/a", -1),
            op::m::create("/top", b"", Persistent),
        ]))
        .await;
    assert_eq!(multi_error_codes(&r), vec![code::OK, code::NO_AUTH]);
    assert!(eve.stat("/top").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_acls_and_credentials_get_clear_errors_and_nothing_else_breaks() {
    let node = TestNode::start().await;
    let mut s = node.session().await;
    for bad in [
        vec![],
        vec![op::acl(ALL, "kerberos", "x")],
        vec![op::acl(ALL, "world", "everyone")],
        vec![op::acl(ALL, "digest", "no-hash")],
        vec![op::acl(ALL, "ip", "300.0.0.1")],
        vec![op::acl(64, "world", "anyone")],
        vec![op::acl(ALL, "auth", "")],
    ] {
        let r = s
            .call(op::create_acl("/bad", b"", Persistent, bad.clone()))
            .await;
        expect_err(&r, code::INVALID_ACL);
    }
    assert!(s.stat("/bad").await.is_none());
    // An entry without an id is a malformed message, not a crash.
    let r = s
        .call(op::create_acl(
            "/bad",
            b"",
            Persistent,
            vec![pb::Acl { perms: 1, id: None }],
        ))
        .await;
    assert_ne!(r.error, code::OK);
    ok(&s.ping().await);

    // A failed addauth: AUTHFAILED, then the session ends and its ephemeral goes.
    let mut doomed = node.session().await;
    ok(&doomed.create("/eph", b"", Ephemeral).await);
    let r = doomed.call(op::add_auth("digest", "no-colon")).await;
    expect_err(&r, code::AUTH_FAILED);
    let end = doomed.finish().await;
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(
        doomed.closed.as_ref().map(|c| c.error),
        Some(code::AUTH_FAILED)
    );
    let resumed = Session::connect(node.addr, doomed.resume_request()).await;
    assert!(resumed.is_err(), "an ended session cannot be resumed");
    let mut s2 = node.session().await;
    ok(&s2.call(op::sync("/")).await);
    assert!(s2.stat("/eph").await.is_none());
    let mut unknown = node.session().await;
    expect_err(
        &unknown.call(op::add_auth("kerberos", "x")).await,
        code::AUTH_FAILED,
    );
    // The others carry on.
    ok(&s.create("/fine", b"", Persistent).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_and_authenticated_sessions_survive_a_restart() {
    let mut node = TestNode::start_with(|c| c.snap_count = 20).await;
    let mut s = node.session().await;
    ok(&s.call(op::add_auth("digest", "alice:secret")).await);
    let owned = vec![op::acl(ALL, "auth", "")];
    // Enough writes for a snapshot, then more in the log after it.
    for i in 0..40 {
        ok(&s
            .call(op::create_acl(
                &format!("/n{i}"),
                b"",
                Persistent,
                owned.clone(),
            ))
            .await);
    }
    let resume = s.resume_request();
    drop(s);
    node.stop().await;
    let node = TestNode::start_on(node.dir.clone(), node.config.clone()).await;
    let mut eve = node.session().await;
    for i in [0, 39] {
        expect_err(
            &eve.call(op::get_data(&format!("/n{i}"), false)).await,
            code::NO_AUTH,
        );
    }
    // The session comes back authenticated.
    let mut s = Session::connect(node.addr, resume).await.expect("resumes");
    ok(&s.call(op::set_data("/n39", b"still mine", -1)).await);
    let acl = get_acl_result(s.call(op::get_acl("/n0")).await);
    assert_eq!(
        acl.acl[0].id.as_ref().map(|i| i.scheme.as_str()),
        Some("digest")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paddock_digest_prints_zookeepers_digest() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["digest", "super:test"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), SUPER);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["digest", "nocolon"])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("user:password"));
}
