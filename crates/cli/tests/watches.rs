//! zkCli 3.9's `addWatch [-m mode] path` and `removewatches path [-c|-d|-a] [-l]` in the built
//! `paddock-cli` against an in-process server: persistent events printed as zkCli's watcher
//! prints them, every time; the removal event; zkCli's error text when there is no watch.

mod support;

use support::Server;

fn watcher(t: &str, path: &str) -> String {
    format!("\nWATCHER::\n\nWatchedEvent state:SyncConnected type:{t} path:{path}\n")
}

#[test]
fn add_watch_and_remove_watches_as_zkcli() {
    let s = Server::start();
    let (code, out, err) = s.shell(
        "addWatch -m PERSISTENT /w\n\
         create /w x\n\
         set /w y\n\
         set /w z\n\
         addWatch /t\n\
         create /t\n\
         create /t/a\n\
         set /t/a 1\n\
         removewatches /w\n\
         removewatches /w\n\
         set /w again\n\
         removewatches /t -a -l\n\
         create /t/b\n\
         addWatch -m sometimes /t\n\
         quit\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let expected = [
        format!("Connecting to {}\n", s.addr),
        watcher("None", "null"),
        "Created /w\n".into(),
        watcher("NodeCreated", "/w"),
        watcher("NodeDataChanged", "/w"),
        watcher("NodeDataChanged", "/w"),
        "Created /t\n".into(),
        watcher("NodeCreated", "/t"),
        "Created /t/a\n".into(),
        watcher("NodeCreated", "/t/a"),
        watcher("NodeDataChanged", "/t/a"),
        watcher("PersistentWatchRemoved", "/w"),
        watcher("PersistentWatchRemoved", "/t"),
        "Created /t/b\n".into(),
    ]
    .concat();
    assert_eq!(out, expected);
    assert_eq!(
        err,
        "KeeperErrorCode = No such watcher for /w\n\
         Unsupported mode: sometimes (PERSISTENT or PERSISTENT_RECURSIVE)\n\
         addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - \
         default is PERSISTENT_RECURSIVE\n"
    );
}
