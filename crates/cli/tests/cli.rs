//! The built `paddock-cli` binary against an in-process server: a scripted one-shot session,
//! `watch` in the background, and the interactive shell fed on stdin.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use paddock_types::ServerId;
use support::{normalize, unused_port, wait, Server, BIN};

#[test]
fn one_shot_scripted_session() {
    let s = Server::start();
    let ok = |words: &str, expected: &str| {
        let (code, out, err) = s.run(words);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (0, expected, ""),
            "{words}"
        );
    };
    let fails = |words: &str, expected_err: &str| {
        let (code, out, err) = s.run(words);
        assert_eq!(code, 1, "{words}: {out} {err}");
        assert_eq!(err, format!("{expected_err}\n"), "{words}");
    };

    ok("create /a data", "Created /a\n");
    ok("create -s /a/n-", "Created /a/n-0000000000\n");
    fails("create /a x", "Node already exists: /a");
    fails("create /nope/x", "Node does not exist: /nope/x");
    // An ephemeral, gone when that invocation's session ends (cversion: 3 child changes).
    ok("create -e /a/eph", "Created /a/eph\n");
    ok("ls /", "[a, zookeeper]\n");
    ok("ls /a", "[n-0000000000]\n");
    ok("get /a", "data\n");
    fails("set -v 5 /a x", "version No is not valid : /a");
    let (code, out, err) = s.run("stat /a");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        normalize(&out),
        "cZxid = *\nctime = *\nmZxid = *\nmtime = *\npZxid = *\ncversion = 3\n\
         dataVersion = 0\naclVersion = 0\nephemeralOwner = 0x0\ndataLength = 4\nnumChildren = 1\n"
    );
    let (code, out, _) = s.run("get -s /a");
    assert_eq!(code, 0);
    assert!(out.starts_with("data\ncZxid = 0x"), "{out}");
    assert!(out.ends_with("dataLength = 4\nnumChildren = 1\n"), "{out}");
    let (code, out, _) = s.run("set -s /a data2");
    assert_eq!(code, 0);
    assert!(out.contains("\ndataVersion = 1\n"), "{out}");
    ok("set -v 1 /a data3", "");
    let (_, out, _) = s.run("ls -s /a");
    assert!(out.starts_with("[n-0000000000]\ncZxid = "), "{out}");
    ok(
        "create /a/n-0000000000/deep x",
        "Created /a/n-0000000000/deep\n",
    );
    ok("ls -R /a", "/a\n/a/n-0000000000\n/a/n-0000000000/deep\n");
    ok("sync /a", "Sync is OK\n");
    fails("delete /a", "Node not empty: /a");
    fails(
        "delete -v 7 /a/n-0000000000/deep",
        "version No is not valid : /a/n-0000000000/deep",
    );
    ok("deleteall /a", "");
    fails("get /a", "Node does not exist: /a");
    fails("stat /a", "Node does not exist: /a");
    fails("deleteall /a", "Node does not exist: /a");
    ok("ls /", "[zookeeper]\n");

    // No data is ZooKeeper's null: `get` prints "null" (zkCli), dataLength 0; data set later
    // replaces it.
    ok("create /null", "Created /null\n");
    ok("get /null", "null\n");
    let (_, out, _) = s.run("stat /null");
    assert!(out.contains("dataLength = 0\n"), "{out}");
    ok("set /null x", "");
    ok("get /null", "x\n");
    ok("delete /null", "");

    // Malformed commands: usage on stderr, exit 1 (as zkCli), no connection needed.
    let (code, out, err) = s.run("ls");
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "ls [-s] [-w] [-R] path\n")
    );
    let (code, _, err) = s.run("set -x /a b");
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "Unrecognized option: -x\nset [-s] [-v version] path data\n"
        )
    );
    let (code, _, err) = s.run("get a");
    assert_eq!(
        (code, err.as_str()),
        (1, "Path must start with / character\n")
    );
    let (code, _, err) = s.run("bogus");
    assert_eq!(code, 127, "zkCli 3.8's exit status for an unknown command");
    assert!(err.starts_with("Unknown command: bogus\n"), "{err}");

    // No server there.
    let mut c = Command::new(BIN);
    c.args(["-server", "127.0.0.1:1", "ls", "/"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (code, _, err) = wait(c.spawn().unwrap());
    assert_eq!(code, 1);
    assert!(err.starts_with("Unable to connect to 127.0.0.1:1"), "{err}");
}

#[test]
fn watch_waits_for_the_next_event() {
    let s = Server::start();
    let mut c = s.cmd();
    c.args(["watch", "-t", "15", "/w"]);
    let mut child = c.spawn().unwrap();
    // Wait until the watch is set ("Watching /w" on stderr), then fire it from another invocation.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line, "Watching /w\n");
    let (code, out, _) = s.run("create /w x");
    assert_eq!((code, out.as_str()), (0, "Created /w\n"));
    let (code, out, _) = wait(child);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "WatchedEvent state:SyncConnected type:NodeCreated path:/w\n"
        )
    );

    // On an existing node: the data change; and a timeout is an error.
    let mut child = s.cmd().args(["watch", "/w"]).spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(s.run("set /w y").0, 0);
    let (code, out, _) = wait(child);
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "WatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n"
        )
    );
    let (code, out, err) = s.run("watch -t 0.2 /w");
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "Watching /w\nTimed out waiting for an event on /w\n")
    );
}

#[test]
fn interactive_shell_on_stdin() {
    let s = Server::start();
    let mut c = s.cmd();
    c.stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let script = "\
create /i hello
ls /

get -w /i
set /i world
get -s /x
frobnicate
ls
create -e /i/e
ls -R /i
quit
get /i
";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let (code, out, err) = wait(child);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "Connecting to {}\n\
             \nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n\
             Created /i\n\
             [i, zookeeper]\n\
             hello\n\
             \nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/i\n\
             Created /i/e\n\
             /i\n/i/e\n",
            s.addr
        )
    );
    assert!(
        err.starts_with("Node does not exist: /x\nUnknown command: frobnicate\n"),
        "{err}"
    );
    assert!(err.ends_with("\nls [-s] [-w] [-R] path\n"), "{err}");
    // The ephemeral went with the shell's session; `get /i` after quit never ran.
    let (code, out, _) = s.run("ls /i");
    assert_eq!((code, out.as_str()), (0, "[]\n"));
    assert_eq!(s.run("get /i").1, "world\n");
}

/// `paddock-cli srvr` prints ZooKeeper's srvr block: the same line names, in the same order, one
/// `Name: value` each; words outside the whitelist (default `srvr` only) are refused.
#[test]
fn srvr_prints_zookeepers_block() {
    let server = Server::start();
    let (code, out, err) = server.run("create /admin x");
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = server.run("srvr");
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.split_once(": ").expect("`Name: value`").0)
        .collect();
    // ZooKeeper 3.5+ srvr (StatCommand + ServerStats.toString).
    let zookeeper = [
        "Zookeeper version",
        "Latency min/avg/max",
        "Received",
        "Sent",
        "Connections",
        "Outstanding",
        "Zxid",
        "Mode",
        "Node count",
    ];
    assert_eq!(names, zookeeper, "{out}");
    assert!(out.contains("\nMode: standalone\n"), "{out}");
    assert!(out.contains("\nZxid: 0x"), "{out}");

    let (code, out, err) = server.run("mntr");
    assert_eq!(code, 1, "not whitelisted: {out}");
    assert!(err.contains("whitelist"), "{err}");
}

/// `paddock-cli health` asks grpc.health.v1: SERVING (exit 0) from a standalone server;
/// NOT_SERVING (exit 1) from an ensemble server without a quorum (its two peers never start);
/// exit 1 with a message for an unknown service and for a server that does not answer.
#[test]
fn health_reports_serving_status() {
    let s = Server::start();
    let (code, out, err) = s.run("health");
    assert_eq!((code, out.as_str()), (0, "SERVING\n"), "{err}");
    let (code, out, err) = s.run("health paddock.v1.Paddock");
    assert_eq!((code, out.as_str()), (0, "SERVING\n"), "{err}");
    let (code, out, err) = s.run("health no.such.Service");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("health: "), "{err}");

    // One server of three, alone: it is looking for a leader, so not serving.
    let alone = Server::start_with(|c| {
        for id in 1..=3u64 {
            c.servers.insert(
                ServerId(id),
                paddock_types::ServerSpec {
                    id: ServerId(id),
                    host: "127.0.0.1".into(),
                    quorum_port: unused_port(),
                    election_port: unused_port(),
                    observer: false,
                    client_addr: None,
                },
            );
        }
    });
    let (code, out, err) = alone.run("health");
    assert_eq!((code, out.as_str()), (1, "NOT_SERVING\n"), "{err}");

    let port = unused_port();
    let (code, out, err) = Server::run_at(&format!("127.0.0.1:{port}"), "health");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("Unable to connect"), "{err}");
    // The admin words say why they could not connect, not just "transport error".
    let (code, out, err) = Server::run_at(&format!("127.0.0.1:{port}"), "srvr");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("refused"), "{err}");
    let (code, out, err) = Server::run_at("127.0.0.1:", "srvr");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("bad port"), "{err}");
}
