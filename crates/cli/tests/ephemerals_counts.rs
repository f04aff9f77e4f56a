//! zkCli 3.9's `getEphemerals` and `getAllChildrenNumber` in the built `paddock-cli` against an
//! in-process server: Java's list and int output, the session's own ephemerals only, and
//! zkCli's error texts.

mod support;

use support::Server;

fn banner(s: &Server) -> String {
    format!(
        "Connecting to {}\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n",
        s.addr
    )
}

#[test]
fn get_ephemerals_and_get_all_children_number_as_zkcli() {
    let s = Server::start();
    let (code, out, err) = s.shell(
        "create /app\n\
         create -e /app/b\n\
         create -e /app/a\n\
         create -e /apple\n\
         create /app/p\n\
         create /app/p/q\n\
         getEphemerals\n\
         getEphemerals /app/\n\
         getEphemerals /app\n\
         getEphemerals /app/a\n\
         getEphemerals /none\n\
         getAllChildrenNumber /app\n\
         getAllChildrenNumber /app/p/q\n\
         getAllChildrenNumber /\n\
         getAllChildrenNumber /missing\n\
         quit\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out,
        format!(
            "{}Created /app\nCreated /app/b\nCreated /app/a\nCreated /apple\nCreated /app/p\n\
             Created /app/p/q\n\
             [/app/a, /app/b, /apple]\n\
             [/app/a, /app/b, /apple]\n\
             [/app/a]\n\
             []\n\
             4\n\
             0\n\
             9\n",
            banner(&s)
        )
    );
    assert_eq!(
        err,
        "Path must not end with / character\nNode does not exist: /missing\n"
    );

    // Another session owns none of them.
    assert_eq!(s.run("getEphemerals /"), (0, "[]\n".into(), String::new()));
    assert_eq!(
        s.run("getAllChildrenNumber /app"),
        (0, "2\n".into(), String::new())
    );
    assert_eq!(
        s.run("getAllChildrenNumber"),
        (1, String::new(), "getAllChildrenNumber path\n".into())
    );
}
