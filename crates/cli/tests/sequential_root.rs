//! ZooKeeper judges a sequential create by the node it makes: `create -s /` in the built
//! `paddock-cli` makes `/0000000000` (the root's cversion, 0 on a fresh server as ZooKeeper's),
//! then `/0000000001`; a plain `create /` is still refused.

mod support;

use support::Server;

#[test]
fn create_sequential_of_the_root_as_zookeeper() {
    let s = Server::start();
    assert_eq!(
        s.run("create -s /"),
        (0, "Created /0000000000\n".into(), String::new())
    );
    assert_eq!(
        s.run("create -s / x"),
        (0, "Created /0000000001\n".into(), String::new())
    );
    let (code, out, _) = s.run("ls /");
    assert_eq!(code, 0);
    assert_eq!(out, "[0000000000, 0000000001, zookeeper]\n");
    let (code, _, err) = s.run("create /");
    assert_ne!(code, 0, "the root itself stays read-only");
    assert!(!err.is_empty());
}
