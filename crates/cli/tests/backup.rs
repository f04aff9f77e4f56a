//! `paddock-cli backup FILE` (issue 19 item 4: back up from the shell): the built binary
//! against an in-process server. The file it writes is a snapshot file whose tree is the
//! server's; a caller without cdrwa on `/` is refused and an existing file is left as it was;
//! the super user's `-auth` gets through.

mod support;

use paddock_datatree::DataTree;
use support::Server;

/// ZooKeeper's documented super:test digest.
const SUPER: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

#[test]
fn backup_writes_a_verified_snapshot_and_respects_the_roots_acl() {
    let s = Server::start_with(|c| c.super_digest = Some(SUPER.into()));
    for (path, data) in [("/b", "one"), ("/b/c", "two")] {
        let (code, _, err) = s.run(&format!("create {path} {data}"));
        assert_eq!(code, 0, "{err}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("b.snap");
    let file_arg = file.to_str().expect("a UTF-8 path");

    let (code, out, err) = s.run(&format!("backup {file_arg}"));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Snapshot saved at "), "{out}");
    let (_, mut reader) = paddock_storage::open_snapshot_file(&file).expect("a snapshot file");
    let tree = DataTree::read_snapshot(&mut reader).expect("a tree");
    let (data, _) = tree.get_data("/b/c", None).expect("/b/c was backed up");
    assert_eq!(&data[..], b"two");
    assert!(out.contains(&format!("zxid {}", tree.last_zxid())), "{out}");
    assert!(!dir.path().join("b.snap.part").exists());

    // Arguments: a file is needed; -auth takes user:password.
    assert_eq!(s.run("backup").0, 2);
    assert_eq!(s.run(&format!("backup {file_arg} -auth nocolon")).0, 2);

    // The root closed to an address nobody has: refused, the old backup left as it was.
    let (code, _, err) = s.run("setAcl / ip:203.0.113.9:cdrwa");
    assert_eq!(code, 0, "{err}");
    std::fs::write(&file, b"the previous backup").expect("write");
    let (code, out, err) = s.run(&format!("backup {file_arg}"));
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("cdrwa"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), b"the previous backup");
    // The super user passes every ACL check.
    let (code, out, err) = s.run(&format!("backup -auth super:test {file_arg}"));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Snapshot saved at "), "{out}");
    let (_, mut reader) = paddock_storage::open_snapshot_file(&file).expect("a snapshot file");
    DataTree::read_snapshot(&mut reader).expect("a tree");

    // Nothing listens: says why, writes nothing.
    let other = dir.path().join("none.snap");
    let port = support::unused_port();
    let (code, _, err) = Server::run_at(
        &format!("127.0.0.1:{port}"),
        &format!("backup {}", other.display()),
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");
    assert!(!other.exists());
}
