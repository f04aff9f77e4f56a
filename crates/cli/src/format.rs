//! Output formatting as zkCli prints it. Pure: no I/O, deterministic.

use paddock_client::{perms_string, Acl, Error, ErrorCode, Id, KeeperState, Stat, WatchedEvent};

/// zkCli's stat block (`StatPrinter`), one `name = value` line each, ending with a newline.
/// Times as Java's `Date.toString()` in UTC.
pub fn stat(s: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\ncversion = {}\n\
         dataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\ndataLength = {}\n\
         numChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children,
    )
}

/// Java's `Date.toString()` (`EEE MMM dd HH:mm:ss zzz yyyy`) of `ms` since the epoch, in UTC:
/// `Sun Nov 22 01:13:50 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    paddock_types::clock::java_date(ms)
}

/// `ls` output: the children sorted, as Java prints a list: `[a, b, c]`.
pub fn children(mut names: Vec<String>) -> String {
    names.sort();
    format!("[{}]", names.join(", "))
}

/// A list as Java's `List.toString` prints it, in the given order: `[/a, /b]`, `[]` (zkCli's
/// `getEphemerals` output).
pub fn java_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `getAcl` output: per entry the jute `Id` record as Java's `toString` writes it (CSV:
/// `'scheme,'id` and a newline), then `: perms` (`cdrwa` letters, in that order).
///
/// ```text
/// 'world,'anyone
/// : cdrwa
/// ```
pub fn acl(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| {
            format!(
                "{},{}\n: {}\n",
                csv_string(&a.id.scheme),
                csv_string(&a.id.id),
                perms_string(a.perms)
            )
        })
        .collect()
}

/// Jute's `Utils.toCSVString`: a leading `'`, and `%XX` for the characters CSV output reserves.
fn csv_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// `whoami` output (zkCli's `WhoAmICommand`): a header, then `scheme: user` per id, where the
/// user is what the server's provider calls it: for `digest` the name before the `:` (not the
/// hash), for the other schemes the id itself (`ip: 127.0.0.1`).
pub fn who_am_i(ids: &[Id]) -> String {
    let mut out = String::from("Auth scheme: User\n");
    for id in ids {
        let user = match id.scheme.as_str() {
            "digest" => id.id.split(':').next().unwrap_or_default(),
            _ => id.id.as_str(),
        };
        out.push_str(&format!("{}: {user}\n", id.scheme));
    }
    out
}

/// Node data as zkCli prints it (bytes as UTF-8, invalid sequences replaced).
pub fn data(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `config -c`: ZooKeeper's `ConfigUtils.getClientConfigStr`: the `version` value, a space, then
/// each `server.N` line's client address (`host:port`) joined by commas, in the order of the
/// lines (ZooKeeper iterates a `Properties` table; for an ordered text that is id order). A line
/// without a client address still takes its comma, as there; a standalone server's empty
/// configuration gives a single space.
pub fn client_config(text: &str) -> String {
    let mut version = "";
    let mut addrs: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "version" {
            version = value;
        }
        if !key.starts_with("server.") {
            continue;
        }
        let client = match value.split_once(';') {
            None => String::new(),
            Some((_, c)) => match c.trim().rsplit_once(':') {
                Some((host, port)) => format!("{host}:{port}"),
                None => format!("0.0.0.0:{}", c.trim()),
            },
        };
        addrs.push(client);
    }
    format!("{version} {}", addrs.join(","))
}

/// `WatchedEvent state:SyncConnected type:NodeDataChanged path:/x` (ZooKeeper 3.8's
/// `WatchedEvent.toString()`; a session event has no path: `path:null`).
pub fn event(e: &WatchedEvent) -> String {
    let path = if e.path.is_empty() {
        "null"
    } else {
        e.path.as_str()
    };
    format!(
        "WatchedEvent state:{} type:{} path:{}",
        keeper_state(e.state),
        e.event_type.name(),
        path
    )
}

/// The `WATCHER::` block zkCli prints for an event (each message is printed after a blank line).
pub fn watcher_block(e: &WatchedEvent) -> String {
    format!("\nWATCHER::\n\n{}\n", event(e))
}

/// KeeperState's Java name.
pub fn keeper_state(s: KeeperState) -> &'static str {
    match s {
        KeeperState::Disconnected => "Disconnected",
        KeeperState::SyncConnected => "SyncConnected",
        KeeperState::Closed => "Closed",
        KeeperState::Expired => "Expired",
        KeeperState::AuthFailed => "AuthFailed",
        KeeperState::ConnectedReadOnly => "ConnectedReadOnly",
    }
}

/// An operation's error as zkCli's `CliWrapperException` words it, for the node `path`.
pub fn error(e: &Error, path: &str) -> String {
    let code = e.code();
    match code {
        ErrorCode::NoNode => format!("Node does not exist: {path}"),
        ErrorCode::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {path}"),
        ErrorCode::NodeExists => format!("Node already exists: {path}"),
        ErrorCode::NotEmpty => format!("Node not empty: {path}"),
        ErrorCode::NotReadOnly => format!("Not a read-only call: {path}"),
        ErrorCode::InvalidAcl => format!("Acl is not valid : {path}"),
        ErrorCode::NoAuth => format!("Insufficient permission : {path}"),
        ErrorCode::BadArguments => format!("Arguments are not valid : {path}"),
        ErrorCode::BadVersion => format!("version No is not valid : {path}"),
        ErrorCode::ConnectionLoss => format!("KeeperErrorCode = ConnectionLoss for {path}"),
        ErrorCode::NoWatcher => format!("KeeperErrorCode = No such watcher for {path}"),
        ErrorCode::SessionExpired
        | ErrorCode::AuthFailed
        | ErrorCode::Unimplemented
        | ErrorCode::QuotaExceeded => keeper_exception(e, path),
        _ => format!("KeeperErrorCode = {} for {path}", code_words(e)),
    }
}

/// Java's `KeeperException.getMessage()` for a failure on `path`: `KeeperErrorCode = NoAuth for
/// /a` (zkCli prints this text where it does not reword the error, e.g. per node of `setAcl -R`).
pub fn keeper_exception(e: &Error, path: &str) -> String {
    format!("{} for {path}", session_error(e))
}

/// Java's `KeeperException.getMessage()` without a path, for calls that have none (`addauth`,
/// `whoami`): `KeeperErrorCode = ConnectionLoss`.
pub fn session_error(e: &Error) -> String {
    match java_code_message(e.code()) {
        Some(words) => format!("KeeperErrorCode = {words}"),
        None => format!("KeeperErrorCode = {}", code_words(e)),
    }
}

/// `KeeperException.getCodeMessage` for the codes an ACL command can meet.
fn java_code_message(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::ConnectionLoss => "ConnectionLoss",
        ErrorCode::OperationTimeout => "OperationTimeout",
        ErrorCode::BadArguments => "BadArguments",
        ErrorCode::NoNode => "NoNode",
        ErrorCode::NoAuth => "NoAuth",
        ErrorCode::BadVersion => "BadVersion",
        ErrorCode::InvalidAcl => "InvalidACL",
        ErrorCode::AuthFailed => "AuthFailed",
        ErrorCode::SessionExpired => "Session expired",
        ErrorCode::NoWatcher => "No such watcher",
        ErrorCode::Unimplemented => "Unimplemented",
        ErrorCode::QuotaExceeded => "Quota has exceeded",
        _ => return None,
    })
}

/// What the shell says when `addauth` is refused. ZooKeeper then ends the session (zkCli shows
/// only the `AuthFailed` watcher event); the shell says so, and that a new session is needed:
/// every later command fails with `KeeperErrorCode = AuthFailed`, as after an expiry.
pub fn auth_failed(scheme: &str) -> String {
    format!(
        "Authentication failed: the server refused addauth {scheme} and closed the session \
         (KeeperErrorCode = AuthFailed); quit and reconnect"
    )
}

fn code_words(e: &Error) -> String {
    match e {
        Error::Zk { message, .. } if !message.is_empty() => format!("{} ({message})", e.code()),
        _ => e.code().to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// ConfigUtils.getClientConfigStr: version, a space, client addresses joined by commas;
    /// a server without one still takes its comma; nothing at all gives a lone space.
    #[test]
    fn client_config_is_zookeepers_connection_string_form() {
        let text = "server.1=a:1:2:participant;127.0.0.1:7181\n\
                    server.2=b:1:2:observer;7182\n\
                    server.3=c:1:2:participant\n\
                    version=100000000";
        assert_eq!(
            client_config(text),
            "100000000 127.0.0.1:7181,0.0.0.0:7182,"
        );
        assert_eq!(client_config(""), " ");
    }

    use super::*;
    use paddock_client::{EventType, Zxid};

    #[test]
    fn stat_block() {
        let s = Stat {
            czxid: 0x2,
            mzxid: 0x1f,
            ctime: 1_795_310_030_123,
            mtime: 1_795_310_031_000,
            version: 3,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0x1000_0000_0000_00ab,
            data_length: 4,
            num_children: 1,
            pzxid: 0x3,
        };
        assert_eq!(
            stat(&s),
            "cZxid = 0x2\n\
             ctime = Sun Nov 22 01:13:50 UTC 2026\n\
             mZxid = 0x1f\n\
             mtime = Sun Nov 22 01:13:51 UTC 2026\n\
             pZxid = 0x3\n\
             cversion = 1\n\
             dataVersion = 3\n\
             aclVersion = 0\n\
             ephemeralOwner = 0x10000000000000ab\n\
             dataLength = 4\n\
             numChildren = 1\n"
        );
        let neg = Stat {
            ephemeral_owner: -1,
            ..s
        };
        assert!(stat(&neg).contains("ephemeralOwner = 0xffffffffffffffff\n"));
    }

    #[test]
    fn lists_data_events() {
        assert_eq!(children(vec![]), "[]");
        assert_eq!(
            children(vec!["zookeeper".into(), "b".into(), "a".into()]),
            "[a, b, zookeeper]"
        );
        assert_eq!(data(b"hi \xff"), "hi \u{fffd}");
        let e = WatchedEvent {
            event_type: EventType::NodeDataChanged,
            state: KeeperState::SyncConnected,
            path: "/x".into(),
            zxid: Zxid(7),
        };
        assert_eq!(
            watcher_block(&e),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/x\n"
        );
        let none = WatchedEvent {
            event_type: EventType::None,
            state: KeeperState::Disconnected,
            path: String::new(),
            zxid: Zxid(0),
        };
        assert_eq!(
            event(&none),
            "WatchedEvent state:Disconnected type:None path:null"
        );
    }

    #[test]
    fn errors_as_zkcli() {
        let zk = |code| Error::Zk {
            code,
            message: String::new(),
        };
        assert_eq!(
            error(&zk(ErrorCode::NoNode), "/x"),
            "Node does not exist: /x"
        );
        assert_eq!(
            error(&zk(ErrorCode::NodeExists), "/x"),
            "Node already exists: /x"
        );
        assert_eq!(
            error(&zk(ErrorCode::BadVersion), "/x"),
            "version No is not valid : /x"
        );
        assert_eq!(error(&zk(ErrorCode::NotEmpty), "/x"), "Node not empty: /x");
        assert_eq!(
            error(&zk(ErrorCode::NoChildrenForEphemerals), "/x"),
            "Ephemerals cannot have children: /x"
        );
        assert_eq!(
            error(&zk(ErrorCode::BadArguments), "/x"),
            "Arguments are not valid : /x"
        );
        assert_eq!(
            error(&Error::ConnectionLoss, "/x"),
            "KeeperErrorCode = ConnectionLoss for /x"
        );
    }

    /// GetAclCommand prints `ACL.getId()` (jute's CSV `toString`, ending in a newline) + ": " +
    /// the permission letters; the digest id keeps its `user:hash` form.
    #[test]
    fn get_acl_output() {
        let acl = vec![
            Acl::new(31, Id::anyone()),
            Acl::new(
                1 | 16,
                Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            ),
            Acl::new(0, Id::new("ip", "10.0.0.0/8")),
        ];
        assert_eq!(
            super::acl(&acl),
            "'world,'anyone\n: cdrwa\n\
             'digest,'bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=\n: ra\n\
             'ip,'10.0.0.0/8\n: \n"
        );
        assert_eq!(super::acl(&[]), "");
        // Jute's CSV escapes.
        let odd = [Acl::new(2, Id::new("x509", "CN=a,O=b}%\n"))];
        assert_eq!(super::acl(&odd), "'x509,'CN=a%2CO=b%7D%25%0A\n: w\n");
    }

    /// WhoAmICommand: a header, then `scheme: user`; the server's digest provider names the
    /// user only (`digest: bob`), other schemes the id.
    #[test]
    fn who_am_i_output() {
        assert_eq!(who_am_i(&[]), "Auth scheme: User\n");
        let ids = [
            Id::new("ip", "127.0.0.1"),
            Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            Id::new("super", ""),
        ];
        assert_eq!(
            who_am_i(&ids),
            "Auth scheme: User\nip: 127.0.0.1\ndigest: bob\nsuper: \n"
        );
    }

    /// CliWrapperException's words for the ACL codes, and Java's KeeperException messages.
    #[test]
    fn acl_errors_as_zkcli() {
        let zk = |code| Error::Zk {
            code,
            message: "detail".into(),
        };
        assert_eq!(
            error(&zk(ErrorCode::NoAuth), "/x"),
            "Insufficient permission : /x"
        );
        assert_eq!(
            error(&zk(ErrorCode::InvalidAcl), "/x"),
            "Acl is not valid : /x"
        );
        assert_eq!(
            error(&Error::AuthFailed, "/x"),
            "KeeperErrorCode = AuthFailed for /x"
        );
        assert_eq!(
            error(&Error::SessionExpired, "/x"),
            "KeeperErrorCode = Session expired for /x"
        );
        assert_eq!(
            keeper_exception(&zk(ErrorCode::NoAuth), "/a/b"),
            "KeeperErrorCode = NoAuth for /a/b"
        );
        assert_eq!(
            keeper_exception(&zk(ErrorCode::BadVersion), "/a"),
            "KeeperErrorCode = BadVersion for /a"
        );
        assert_eq!(
            keeper_exception(&zk(ErrorCode::InvalidAcl), "/a"),
            "KeeperErrorCode = InvalidACL for /a"
        );
        assert_eq!(
            session_error(&Error::ConnectionLoss),
            "KeeperErrorCode = ConnectionLoss"
        );
        assert_eq!(
            session_error(&Error::AuthFailed),
            "KeeperErrorCode = AuthFailed"
        );
        assert!(auth_failed("digest").starts_with(
            "Authentication failed: the server refused addauth digest and closed the session"
        ));
        assert_eq!(keeper_state(KeeperState::AuthFailed), "AuthFailed");
    }
}
