//! zkCli 3.9's `config [-c] [-w] [-s]` in the built `paddock-cli` against an in-process
//! standalone server, whose `/zookeeper/config` is empty as ZooKeeper 3.9 standalone's: `config`
//! prints an empty line, `-c` (ConfigUtils.getClientConfigStr) a lone space, `-s` the Stat.

mod support;

use support::Server;

#[test]
fn config_as_zkcli_on_a_standalone_server() {
    let s = Server::start();
    assert_eq!(s.run("config"), (0, "\n".into(), String::new()));
    assert_eq!(s.run("config -c"), (0, " \n".into(), String::new()));
    let (code, out, err) = s.run("config -s");
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.starts_with("\ncZxid = 0x0\n"), "{out}");
    assert!(out.contains("\ndataLength = 0\n"), "{out}");
    // A watch is accepted (it fires only when the configuration changes).
    assert_eq!(s.run("config -w"), (0, "\n".into(), String::new()));
    // The node is as read-only as the rest of /zookeeper.
    let (code, _, err) = s.run("set /zookeeper/config x");
    assert_ne!(code, 0);
    assert!(!err.is_empty());
    // No path: a usage error.
    let (code, _, err) = s.run("config /x");
    assert_ne!(code, 0);
    assert!(err.contains("config [-c] [-w] [-s]"), "{err}");
}
