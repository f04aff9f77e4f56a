//! The access-control commands of the built `paddock-cli` against an in-process server, as
//! zkCli prints them: `addauth`, `create` with an ACL, `getAcl` (refused to another session),
//! `setAcl` (also `-v`, `-s`, `-R`), `whoami`, and a refused `addauth` ending the session.
//! Authentication belongs to a session, so the authenticated steps run in interactive shells
//! fed on stdin; the one-shot runs are sessions without credentials.

mod support;

use paddock_types::acl::digest;
use support::{normalize, Server};

/// The shell's output before the first command.
fn banner(s: &Server) -> String {
    format!(
        "Connecting to {}\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n",
        s.addr
    )
}

/// Runs a one-shot command and checks (exit code, stdout, stderr).
fn expect(s: &Server, words: &str, code: i32, out: &str, err: &str) {
    assert_eq!(
        s.run(words),
        (code, out.to_string(), err.to_string()),
        "{words}"
    );
}

#[test]
fn acl_commands_as_zkcli() {
    let s = Server::start();
    let bob = digest("bob:secret").expect("has a colon");
    let bob_all = format!("digest:{bob}:cdrwa");

    // bob authenticates, sees himself, and makes a subtree only he may touch at the top, with
    // one node below he may read but not administer.
    let (code, out, err) = s.shell(&format!(
        "addauth digest bob:secret\n\
         whoami\n\
         create /secure data {bob_all}\n\
         create /secure/child x\n\
         create /secure/child/deep y\n\
         create /secure/child/other z world:anyone:r\n\
         getAcl /secure\n\
         getAcl /secure/child\n\
         quit\n"
    ));
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert_eq!(
        out,
        format!(
            "{}Auth scheme: User\nip: 127.0.0.1\ndigest: bob\n\
             Created /secure\nCreated /secure/child\nCreated /secure/child/deep\n\
             Created /secure/child/other\n\
             'digest,'{bob}\n: cdrwa\n\
             'world,'anyone\n: cdrwa\n",
            banner(&s)
        )
    );

    // Another session, without credentials: refused everywhere under bob's ACL.
    let refused = "Insufficient permission : /secure\n";
    expect(&s, "getAcl /secure", 1, "", refused);
    expect(&s, "get /secure", 1, "", refused);
    expect(&s, "ls /secure", 1, "", refused);
    expect(&s, "setAcl /secure world:anyone:cdrwa", 1, "", refused);
    expect(
        &s,
        "create /secure/x",
        1,
        "",
        "Insufficient permission : /secure/x\n",
    );
    expect(&s, "whoami", 0, "Auth scheme: User\nip: 127.0.0.1\n", "");
    expect(
        &s,
        "getAcl /secure/child",
        0,
        "'world,'anyone\n: cdrwa\n",
        "",
    );
    // A malformed ACL is refused before connecting (exit 1, as zkCli's usage errors), with
    // zkCli's AclParser words.
    expect(
        &s,
        "setAcl /secure world:anyone",
        1,
        "",
        "world:anyone does not have the form scheme:id:perm\n",
    );
    expect(
        &s,
        "create /bad x world:anyone:rz",
        1,
        "",
        "Unknown perm type: z\n",
    );
    // An addauth in a one-shot session is forgotten with it.
    expect(&s, "addauth digest bob:secret", 0, "", "");
    expect(&s, "getAcl /secure", 1, "", refused);

    // bob again, in a new session: setAcl -R opens the subtree for reading. The node he may not
    // administer is reported and the walk goes on; -v and -s as zkCli; an ACL the server
    // refuses as zkCli's create reports it.
    let shared = format!("{bob_all},world:anyone:r");
    let (code, out, err) = s.shell(&format!(
        "setAcl -R /secure {shared}\n\
         addauth digest bob:secret\n\
         setAcl -R /secure {shared}\n\
         getAcl /secure/child/deep\n\
         setAcl -v 5 /secure world:anyone:r\n\
         getAcl -s /secure/child\n\
         setAcl -s -v 1 /secure/child {bob_all}\n\
         create /bad x world:nobody:r\n\
         quit\n"
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "Insufficient permission : /secure\n\
         version No is not valid : /secure\n\
         KeeperErrorCode = InvalidACL for /bad\nAcl is not valid : /bad\n"
    );
    let stat = |acl_version: i32| {
        format!(
            "cZxid = *\nctime = *\nmZxid = *\nmtime = *\npZxid = *\ncversion = 2\n\
             dataVersion = 0\naclVersion = {acl_version}\nephemeralOwner = 0x0\ndataLength = 1\n\
             numChildren = 2\n"
        )
    };
    assert_eq!(
        normalize(&out),
        format!(
            "{}KeeperErrorCode = NoAuth for /secure/child/other\n\
             'digest,'{bob}\n: cdrwa\n'world,'anyone\n: r\n\
             'digest,'{bob}\n: cdrwa\n'world,'anyone\n: r\n{}{}",
            banner(&s),
            stat(1),
            stat(2)
        )
    );

    // Readable by everybody now, still writable only by bob; without ADMIN the digest's hash
    // is not shown.
    expect(
        &s,
        "getAcl /secure/child/deep",
        0,
        "'digest,'bob:x\n: cdrwa\n'world,'anyone\n: r\n",
        "",
    );
    expect(&s, "get /secure/child/deep", 0, "y\n", "");
    expect(
        &s,
        "set /secure/child/deep z",
        1,
        "",
        "Insufficient permission : /secure/child/deep\n",
    );
    // -R on a missing node fails as zkCli's does (it reads the root first).
    expect(
        &s,
        "setAcl -R /nope world:anyone:r",
        1,
        "",
        "Node does not exist: /nope\n",
    );
}

/// A refused addauth ends the session (ZooKeeper's AUTHFAILED): the shell says so, prints the
/// session's AuthFailed event as it prints an expiry, and later commands fail.
#[test]
fn refused_addauth_ends_the_session() {
    let s = Server::start();
    let (code, out, err) = s.shell("addauth digest nocolon\nls /\nwhoami\ncreate /x\nquit\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "{}\nWATCHER::\n\nWatchedEvent state:AuthFailed type:None path:null\n",
            banner(&s)
        )
    );
    assert_eq!(
        err,
        "Authentication failed: the server refused addauth digest and closed the session \
         (KeeperErrorCode = AuthFailed); quit and reconnect\n\
         KeeperErrorCode = AuthFailed for /\n\
         KeeperErrorCode = AuthFailed\n\
         KeeperErrorCode = AuthFailed for /x\n"
    );
    // Nothing was created, and the server is fine for the next session.
    expect(&s, "ls /", 0, "[zookeeper]\n", "");

    // One-shot: the same message, exit 1.
    let (code, out, err) = s.run("addauth nosuchscheme x");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("Authentication failed: the server refused addauth nosuchscheme"),
        "{err}"
    );
}
