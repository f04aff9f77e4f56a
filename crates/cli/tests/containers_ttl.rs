//! zkCli 3.9's `create -c` and `create -t ttl` in the built `paddock-cli` against an in-process
//! server whose sweeper runs every 50 ms: the nodes are made, their Stat shows ZooKeeper's
//! markers, the server deletes them, and a server without `extendedTypesEnabled` refuses TTLs.

mod support;

use std::time::{Duration, Instant};

use support::Server;

/// Polls `stat path` until the node is gone (bounded).
fn gone(s: &Server, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, err) = s.run(&format!("stat {path}"));
        if err == format!("Node does not exist: {path}\n") {
            return;
        }
        assert!(Instant::now() < deadline, "{path} is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn create_c_and_create_t_as_zkcli() {
    let s = Server::start_with(|c| {
        c.container_check_interval_ms = 50;
        c.extended_types_enabled = true;
    });
    assert_eq!(
        s.run("create -c /c"),
        (0, "Created /c\n".into(), String::new())
    );
    let (_, out, _) = s.run("stat /c");
    assert!(
        out.contains("ephemeralOwner = 0x8000000000000000\n"),
        "{out}"
    );
    assert_eq!(s.run("create /c/x").0, 0);
    assert_eq!(s.run("delete /c/x").0, 0);
    gone(&s, "/c");

    assert_eq!(
        s.run("create -t 200 /t data"),
        (0, "Created /t\n".into(), String::new())
    );
    let (_, out, _) = s.run("stat /t");
    assert!(
        out.contains("ephemeralOwner = 0xff000000000000c8\n"),
        "{out}"
    );
    assert_eq!(
        s.run("create -s -t 200 /t-"),
        // Two creates under / before it (/c, /t; /c's deletion does not count, as ZooKeeper).
        (0, "Created /t-0000000002\n".into(), String::new())
    );
    gone(&s, "/t");
    gone(&s, "/t-0000000003");
}

#[test]
fn bad_create_flags_and_ttls_are_refused_as_zkcli() {
    let s = Server::start();
    for (line, message) in [
        (
            "create -c -e /c",
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ),
        ("create -t ten /t", "-t argument must be a long value"),
        (
            "create -e -t 10 /t",
            "TTLs cannot be used with Ephemeral znodes",
        ),
        (
            "create -c -t 10 /t",
            "TTLs cannot be used with Container znodes",
        ),
        (
            "create -t 0 /t",
            "ttl must be positive and cannot be larger than: 1099511627775",
        ),
    ] {
        let (code, out, err) = s.run(line);
        assert_ne!(code, 0, "{line}");
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("", &*format!("{message}\n")),
            "{line}"
        );
    }
    // Without extendedTypesEnabled the server answers Unimplemented.
    let (code, out, err) = s.run("create -t 100 /t");
    assert_ne!(code, 0);
    assert_eq!(out, "");
    assert_eq!(err, "KeeperErrorCode = Unimplemented for /t\n");
}
