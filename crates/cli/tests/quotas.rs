//! zkCli 3.9's `setquota`, `listquota` and `delquota` in the built `paddock-cli` against an
//! in-process server: the nodes they keep under /zookeeper/quota, their output and error texts,
//! and the server enforcing a hard limit they set.

mod support;

use support::Server;

fn ok(s: &Server, words: &str) -> String {
    let (code, out, err) = s.run(words);
    assert_eq!((code, err.as_str()), (0, ""), "{words}: {out}");
    out
}

#[test]
fn setquota_listquota_delquota_as_zkcli() {
    let s = Server::start();
    ok(&s, "create /app x");
    ok(&s, "create /app/a hello");
    assert_eq!(ok(&s, "setquota -N 3 /app"), "");
    assert_eq!(
        s.run("listquota /app"),
        (
            0,
            "Output quota for /app count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3\n\
             Output stat for /app count=2,bytes=6\n"
                .into(),
            "absolute path is /zookeeper/quota/app/zookeeper_limits\n".into()
        )
    );
    // The nodes are the ordinary ones zkCli reads.
    assert_eq!(
        ok(&s, "get /zookeeper/quota/app/zookeeper_stats"),
        "count=2,bytes=6\n"
    );
    // The hard limit holds: a third node fits, a fourth does not.
    ok(&s, "create /app/b");
    assert_eq!(
        s.run("create /app/c"),
        (
            1,
            String::new(),
            "KeeperErrorCode = Quota has exceeded for /app/c\n".into()
        )
    );
    // A second limit merges into the first; one below the usage warns (on stdout).
    assert_eq!(
        ok(&s, "setquota -b 5 /app"),
        "[Warning]: the bytes quota you create is less than the existing bytes:6\n"
    );
    assert_eq!(
        s.run("listquota /app").1,
        "Output quota for /app count=-1,bytes=5=;byteHardLimit=-1;countHardLimit=3\n\
         Output stat for /app count=3,bytes=6\n"
    );
    // delquota with a flag resets that limit only.
    ok(&s, "delquota -N /app");
    ok(&s, "create /app/c");
    assert_eq!(
        s.run("listquota /app").1,
        "Output quota for /app count=-1,bytes=5=;byteHardLimit=-1;countHardLimit=-1\n\
         Output stat for /app count=4,bytes=6\n"
    );
    // Nested quotas are refused either way.
    assert_eq!(
        s.run("setquota -n 10 /app/a"),
        (
            1,
            String::new(),
            "/app/a has a parent /app which has a quota\n".into()
        )
    );
    // delquota without a flag removes the quota nodes and their empty parents.
    ok(&s, "delquota /app");
    assert_eq!(ok(&s, "ls /zookeeper/quota"), "[]\n");
    assert_eq!(
        s.run("listquota /app"),
        (
            0,
            String::new(),
            "absolute path is /zookeeper/quota/app/zookeeper_limits\nquota for /app does not exist.\n"
                .into()
        )
    );
    assert_eq!(ok(&s, "delquota /app"), "Quota does not exist for /app\n");

    ok(&s, "setquota -n 10 /app/a");
    assert_eq!(
        s.run("setquota -n 10 /app"),
        (
            1,
            String::new(),
            "/app has a child /app/a which has a quota\n".into()
        )
    );
}

#[test]
fn setquota_refuses_bad_values_and_paths_as_zkcli() {
    let s = Server::start();
    ok(&s, "create /app");
    for (words, err) in [
        (
            "setquota -n 0 /app",
            "the num quota must be greater than zero",
        ),
        (
            "setquota -N -1 /app",
            "the num quota must be greater than zero",
        ),
        (
            "setquota -b -1 /app",
            "the bytes quota must be greater than or equal to zero",
        ),
        (
            "setquota -B x /app",
            "NumberFormatException happens when parsing the option value",
        ),
        (
            "setquota -n 3000000000 /app",
            "NumberFormatException happens when parsing the option value",
        ),
        (
            "setquota -n 1 /zookeeper/quota/x",
            "cannot set a quota under the path: /zookeeper/quota",
        ),
    ] {
        assert_eq!(
            s.run(words),
            (0, String::new(), format!("{err}\n")),
            "{words}"
        );
    }
    assert_eq!(
        s.run("setquota -n 1 /missing"),
        (1, String::new(), "/missing does not exist.\n".into())
    );
    assert_eq!(
        s.run("setquota /app"),
        (
            1,
            String::new(),
            "Missing required option: [-n num soft quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]\n\
             setquota -n|-b|-N|-B val path\n"
                .into()
        )
    );
    assert_eq!(
        s.run("setquota -n 1 -b 2 /app"),
        (
            1,
            String::new(),
            "The option 'b' was specified but an option from this group has already been selected: 'n'\n\
             setquota -n|-b|-N|-B val path\n"
                .into()
        )
    );
    assert_eq!(
        s.run("delquota"),
        (1, String::new(), "delquota [-n|-b|-N|-B] path\n".into())
    );
    assert_eq!(ok(&s, "ls /zookeeper/quota"), "[]\n");
}
