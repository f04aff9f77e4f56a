//! The parser against zkCli's syntax: every command, the ACL argument, malformed input.

use super::*;
use paddock_client::perms;

fn p(line: &str) -> Result<Option<Command>, ParseError> {
    parse_line(line)
}

#[test]
fn splits_words_with_quotes() {
    assert_eq!(split_words("  ls   /a  "), vec!["ls", "/a"]);
    assert_eq!(
        split_words(r#"create /a "hello world" 'x y'"#),
        vec!["create", "/a", "hello world", "x y"]
    );
    assert_eq!(
        split_words("set /a \"unterminated"),
        vec!["set", "/a", "unterminated"]
    );
    assert!(split_words("   ").is_empty());
}

#[test]
fn parses_every_command() {
    assert_eq!(p("").unwrap(), None);
    assert_eq!(
        p("ls -s -w -R /a").unwrap().unwrap(),
        Command::Ls {
            path: "/a".into(),
            stat: true,
            watch: true,
            recursive: true
        }
    );
    assert_eq!(
        p("ls -sR /").unwrap().unwrap(),
        Command::Ls {
            path: "/".into(),
            stat: true,
            watch: false,
            recursive: true
        }
    );
    assert_eq!(
        p("get -s /a").unwrap().unwrap(),
        Command::Get {
            path: "/a".into(),
            stat: true,
            watch: false
        }
    );
    assert_eq!(
        p("stat -w /a").unwrap().unwrap(),
        Command::Stat {
            path: "/a".into(),
            watch: true
        }
    );
    assert_eq!(
        p("create -s -e /a/n- data").unwrap().unwrap(),
        Command::Create {
            path: "/a/n-".into(),
            data: Some("data".into()),
            acl: None,
            sequential: true,
            ephemeral: true,
            container: false,
            ttl: None
        }
    );
    assert_eq!(
        p("create /a").unwrap().unwrap(),
        Command::Create {
            path: "/a".into(),
            data: None,
            acl: None,
            sequential: false,
            ephemeral: false,
            container: false,
            ttl: None
        }
    );
    assert_eq!(
        p("set -s -v 5 /a x").unwrap().unwrap(),
        Command::Set {
            path: "/a".into(),
            data: "x".into(),
            stat: true,
            version: Some(5)
        }
    );
    assert_eq!(
        p("set /a -1").unwrap().unwrap(),
        Command::Set {
            path: "/a".into(),
            data: "-1".into(),
            stat: false,
            version: None
        }
    );
    assert_eq!(
        p("delete -v 0 /a").unwrap().unwrap(),
        Command::Delete {
            path: "/a".into(),
            version: Some(0)
        }
    );
    assert_eq!(
        p("deleteall /a").unwrap().unwrap(),
        Command::DeleteAll { path: "/a".into() }
    );
    assert_eq!(
        p("sync /").unwrap().unwrap(),
        Command::Sync { path: "/".into() }
    );
    assert_eq!(
        p("watch -t 1.5 /w").unwrap().unwrap(),
        Command::Watch {
            path: "/w".into(),
            timeout: Some(Duration::from_millis(1500))
        }
    );
    assert_eq!(p("help").unwrap().unwrap(), Command::Help);
    assert_eq!(p("quit").unwrap().unwrap(), Command::Quit);
    assert_eq!(p("close").unwrap().unwrap(), Command::Quit);
}

#[test]
fn malformed_commands_give_usage() {
    let e = p("ls").unwrap_err();
    assert_eq!(e.to_string(), "ls [-s] [-w] [-R] path");
    let e = p("ls -x /a").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unrecognized option: -x\nls [-s] [-w] [-R] path"
    );
    let e = p("set /a").unwrap_err();
    assert_eq!(e.to_string(), "set [-s] [-v version] path data");
    let e = p("set -v /a").unwrap_err();
    assert_eq!(e.to_string(), "set [-s] [-v version] path data");
    let e = p("set -v abc /a x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "version must be an integer: abc\nset [-s] [-v version] path data"
    );
    let e = p("delete -v").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Missing argument for option: v\ndelete [-v version] path"
    );
    let e = p("create /a b world:anyone:r extra").unwrap_err();
    assert_eq!(
        e.to_string(),
        "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"
    );
    let e = p("frobnicate /a").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("Unknown command: frobnicate\nZooKeeper -server"));
    assert_eq!(
        p("get a").unwrap_err().to_string(),
        "Path must start with / character"
    );
    assert_eq!(
        p("get /a/").unwrap_err().to_string(),
        "Path must not end with / character"
    );
    assert!(p("create -s /a/").is_ok());
    assert_eq!(
        p("get /a//b").unwrap_err().to_string(),
        "empty node name specified @3"
    );
    assert_eq!(
        p("get /a/../b").unwrap_err().to_string(),
        "relative paths not allowed @4"
    );
    assert_eq!(
        p("get /a/./b").unwrap_err().to_string(),
        "relative paths not allowed @3"
    );
    assert!(p("get /a/..b").is_ok());
    assert!(p("watch -t -1 /w").is_err());
    assert!(p("watch -t nan /w").is_err());
    assert!(p("help me").is_err());
}

/// A small deterministic fuzz: random words from a vocabulary of commands, flags, paths and
/// junk never panic, and every error has something to print.
#[test]
fn fuzz_never_panics() {
    let vocab = [
        "ls",
        "get",
        "stat",
        "create",
        "set",
        "delete",
        "deleteall",
        "sync",
        "watch",
        "help",
        "history",
        "redo",
        "printwatches",
        "on",
        "quit",
        "getAcl",
        "setAcl",
        "addauth",
        "whoami",
        "getEphemerals",
        "getAllChildrenNumber",
        "digest",
        "world:anyone:cdrwa",
        "digest:bob:h=:r,ip:10.0.0.0/8:ca",
        "a:b",
        "a:b:x",
        ",",
        ":::",
        "-s",
        "-w",
        "-R",
        "-e",
        "-v",
        "-t",
        "-",
        "--",
        "-sw",
        "-x",
        "/",
        "/a",
        "a",
        "/a/",
        "//",
        "/.",
        "/..",
        "\"",
        "'",
        "\"a b\"",
        "5",
        "-1",
        "1e99",
        "é",
        "\u{0}",
        "\u{1}",
        "",
        " ",
        "\t",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let n = (next() % 6) as usize;
        let line: Vec<&str> = (0..n)
            .map(|_| vocab[(next() % vocab.len() as u64) as usize])
            .collect();
        let line = line.join(if next() % 2 == 0 { " " } else { "" });
        if let Err(e) = parse_line(&line) {
            assert!(!e.to_string().is_empty(), "empty error for {line:?}");
        }
    }
    // Arbitrary bytes, lossily decoded.
    for _ in 0..5_000 {
        let bytes: Vec<u8> = (0..(next() % 24)).map(|_| next() as u8).collect();
        let _ = parse_line(&String::from_utf8_lossy(&bytes));
    }
}

fn acl(list: &[(i32, &str, &str)]) -> Vec<Acl> {
    list.iter()
        .map(|(perms, scheme, id)| Acl::new(*perms, Id::new(*scheme, *id)))
        .collect()
}

#[test]
fn parses_acl_commands() {
    assert_eq!(
        p("getAcl /a").unwrap().unwrap(),
        Command::GetAcl {
            path: "/a".into(),
            stat: false
        }
    );
    assert_eq!(
        p("getAcl -s /").unwrap().unwrap(),
        Command::GetAcl {
            path: "/".into(),
            stat: true
        }
    );
    assert_eq!(
        p("setAcl /a world:anyone:r").unwrap().unwrap(),
        Command::SetAcl {
            path: "/a".into(),
            acl: acl(&[(perms::READ, "world", "anyone")]),
            stat: false,
            version: None,
            recursive: false
        }
    );
    assert_eq!(
        p("setAcl -s -v 3 -R /a digest:bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=:cdrwa,ip:10.0.0.0/8:rw")
            .unwrap()
            .unwrap(),
        Command::SetAcl {
            path: "/a".into(),
            acl: acl(&[
                (perms::ALL, "digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
                (perms::READ | perms::WRITE, "ip", "10.0.0.0/8"),
            ]),
            stat: true,
            version: Some(3),
            recursive: true
        }
    );
    // Bundled flags, as zkCli's PosixParser takes them.
    assert!(matches!(
        p("setAcl -sR /a auth::cdrwa").unwrap().unwrap(),
        Command::SetAcl {
            stat: true,
            recursive: true,
            ..
        }
    ));
    assert_eq!(
        p("addauth digest bob:secret").unwrap().unwrap(),
        Command::AddAuth {
            scheme: "digest".into(),
            auth: Some("bob:secret".into())
        }
    );
    // zkCli sends no credentials when they are missing; the scheme is not a path.
    assert_eq!(
        p("addauth ip").unwrap().unwrap(),
        Command::AddAuth {
            scheme: "ip".into(),
            auth: None
        }
    );
    assert_eq!(p("whoami").unwrap().unwrap(), Command::WhoAmI);
    assert_eq!(
        p("config -c -w -s").unwrap().unwrap(),
        Command::Config {
            client_form: true,
            watch: true,
            stat: true
        }
    );
    assert_eq!(
        p("config").unwrap().unwrap(),
        Command::Config {
            client_form: false,
            watch: false,
            stat: false
        }
    );
    assert!(p("config /x").is_err(), "config takes no path");
    assert_eq!(
        p("create -e /a/b x digest:bob:h=:cdrwa,world:anyone:r")
            .unwrap()
            .unwrap(),
        Command::Create {
            path: "/a/b".into(),
            data: Some("x".into()),
            acl: Some(acl(&[
                (perms::ALL, "digest", "bob:h="),
                (perms::READ, "world", "anyone")
            ])),
            sequential: false,
            ephemeral: true,
            container: false,
            ttl: None
        }
    );
    // Quoted empty data with an ACL, and an empty permission set (zkCli sends perms 0).
    assert!(matches!(
        p("create /a '' world:anyone:").unwrap().unwrap(),
        Command::Create { data: Some(d), acl: Some(a), .. }
            if d.is_empty() && a == acl(&[(0, "world", "anyone")])
    ));
}

#[test]
fn acl_text_as_zkclis_acl_parser() {
    // The id runs from the first colon to the last: digests and IPv6 addresses keep theirs.
    assert_eq!(
        parse_acl_arg("ip:::1:r").unwrap(),
        acl(&[(perms::READ, "ip", "::1")])
    );
    assert_eq!(
        parse_acl_arg("world:anyone:adwrc").unwrap(),
        acl(&[(perms::ALL, "world", "anyone")])
    );
    assert_eq!(
        parse_acl_arg("auth::cdrwa").unwrap(),
        acl(&[(perms::ALL, "auth", "")])
    );
    // zkCli's messages for what it would skip; here they refuse the argument.
    assert_eq!(
        parse_acl_arg("world:anyone").unwrap_err(),
        "world:anyone does not have the form scheme:id:perm"
    );
    assert_eq!(
        parse_acl_arg("world:anyone:r,bogus").unwrap_err(),
        "bogus does not have the form scheme:id:perm"
    );
    assert_eq!(
        parse_acl_arg("").unwrap_err(),
        " does not have the form scheme:id:perm"
    );
    assert_eq!(
        parse_acl_arg("world:anyone:rx").unwrap_err(),
        "Unknown perm type: x"
    );
    assert_eq!(
        parse_acl_arg("world:anyone:R").unwrap_err(),
        "Unknown perm type: R"
    );
    assert!(parse_acl_arg("world:anyone:r,").is_err());
}

#[test]
fn malformed_acl_commands() {
    let err = |line: &str| p(line).unwrap_err().to_string();
    assert_eq!(err("getAcl"), "getAcl [-s] path");
    assert_eq!(err("getAcl /a /b"), "getAcl [-s] path");
    assert_eq!(
        err("getAcl -v 1 /a"),
        "Unrecognized option: -v\ngetAcl [-s] path"
    );
    assert_eq!(err("getAcl a"), "Path must start with / character");
    assert_eq!(err("setAcl /a"), "setAcl [-s] [-v version] [-R] path acl");
    assert_eq!(
        err("setAcl -v x /a world:anyone:r"),
        "version must be an integer: x\nsetAcl [-s] [-v version] [-R] path acl"
    );
    assert_eq!(
        err("setAcl -x /a world:anyone:r"),
        "Unrecognized option: -x\nsetAcl [-s] [-v version] [-R] path acl"
    );
    assert_eq!(
        err("setAcl /a world:anyone"),
        "world:anyone does not have the form scheme:id:perm"
    );
    assert_eq!(
        err("setAcl /a/ world:anyone:r"),
        "Path must not end with / character"
    );
    assert_eq!(err("create /a x world:anyone:rq"), "Unknown perm type: q");
    assert_eq!(err("addauth"), "addauth scheme auth");
    assert_eq!(err("addauth digest a:b extra"), "addauth scheme auth");
    assert_eq!(err("whoami me"), "whoami");
    // Command names are case-sensitive, as in zkCli.
    assert!(err("getacl /a").starts_with("Unknown command: getacl\n"));
    assert!(err("WHOAMI").starts_with("Unknown command: WHOAMI\n"));
}

/// zkCli's `usage()` lists the commands sorted by name (Java's `String` order, which for these
/// ASCII names is byte order), each as a tab and its usage line.
#[test]
fn help_lists_commands_in_zkclis_order() {
    let names: Vec<&str> = USAGES.iter().map(|(c, _)| *c).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for (cmd, usage) in USAGES {
        assert!(usage.starts_with(cmd), "{usage}");
    }
    let help = help_text();
    assert!(help.starts_with(
        "ZooKeeper -server host:port cmd args\n\taddWatch [-m mode] path # optional mode is one \
         of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE\n\taddauth scheme auth\n"
    ));
    assert!(help.contains(
        "\tget [-s] [-w] path\n\tgetAcl [-s] path\n\tgetAllChildrenNumber path\n\
         \tgetEphemerals path\n\thelp\n"
    ));
    assert!(help
        .contains("\tset [-s] [-v version] path data\n\tsetAcl [-s] [-v version] [-R] path acl\n"));
    assert!(help.contains("\thelp\n\thistory\n\tlistquota path\n\tls [-s] [-w] [-R] path\n"));
    assert!(help.contains("\tdeleteall path\n\tdelquota [-n|-b|-N|-B] path\n\tget "));
    assert!(help.contains("path acl\n\tsetquota -n|-b|-N|-B val path\n\tstat [-w] path\n"));
    assert!(help
        .contains("\tls [-s] [-w] [-R] path\n\tprintwatches on|off\n\tquit\n\treconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]\n\tredo cmdno\n\tremovewatches path [-c|-d|-a] [-l]\n\tset "));
    assert!(help.ends_with("\twatch [-t seconds] path\n\twhoami\n"));
    assert_eq!(
        usage_of("create"),
        "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"
    );
}

/// zkCli 3.9's `getEphemerals [path]` (no path: all of the session's) and
/// `getAllChildrenNumber path`; paths are checked as zkCli's `PathUtils` does.
#[test]
fn get_ephemerals_and_get_all_children_number() {
    let err = |line: &str| p(line).unwrap_err().to_string();
    assert_eq!(
        p("getEphemerals").unwrap().unwrap(),
        Command::GetEphemerals { path: None }
    );
    assert_eq!(
        p("getEphemerals /app").unwrap().unwrap(),
        Command::GetEphemerals {
            path: Some("/app".into())
        }
    );
    assert_eq!(
        p("getAllChildrenNumber /").unwrap().unwrap(),
        Command::GetAllChildrenNumber { path: "/".into() }
    );
    assert_eq!(err("getAllChildrenNumber"), "getAllChildrenNumber path");
    assert_eq!(
        err("getAllChildrenNumber /a /b"),
        "getAllChildrenNumber path"
    );
    assert_eq!(err("getEphemerals /a /b"), "getEphemerals path");
    assert_eq!(err("getEphemerals a"), "Path must start with / character");
    assert_eq!(
        err("getAllChildrenNumber /a/"),
        "Path must not end with / character"
    );
    assert!(err("getEphemerals -x /a").starts_with("Unrecognized option: -x"));
}

/// zkCli's shell commands: `history`, `redo cmdno` (the number as Java's `Integer.decode` reads
/// it), `printwatches [on|off]` (anything but `on` is off, as in zkCli).
#[test]
fn history_redo_printwatches() {
    assert_eq!(p("history").unwrap().unwrap(), Command::History);
    assert_eq!(p("redo 3").unwrap().unwrap(), Command::Redo { cmdno: 3 });
    // A negative number parses; the shell answers it with "Command index out of range".
    assert_eq!(p("redo -1").unwrap().unwrap(), Command::Redo { cmdno: -1 });
    assert_eq!(
        p("redo 0x1f").unwrap().unwrap(),
        Command::Redo { cmdno: 31 }
    );
    assert_eq!(
        p("printwatches").unwrap().unwrap(),
        Command::PrintWatches { on: None }
    );
    assert_eq!(
        p("printwatches on").unwrap().unwrap(),
        Command::PrintWatches { on: Some(true) }
    );
    for off in ["off", "OFF", "-x", "no"] {
        assert_eq!(
            p(&format!("printwatches {off}")).unwrap().unwrap(),
            Command::PrintWatches { on: Some(false) },
            "{off}"
        );
    }
    let err = |line: &str| p(line).unwrap_err().to_string();
    assert_eq!(err("redo"), "redo cmdno");
    assert_eq!(err("redo 1 2"), "redo cmdno");
    assert_eq!(err("redo x"), "cmdno must be an integer: x\nredo cmdno");
    assert_eq!(
        err("redo 2147483648"),
        "cmdno must be an integer: 2147483648\nredo cmdno"
    );
    assert_eq!(err("history 5"), "history");
    assert_eq!(err("printwatches on off"), "printwatches on|off");
}

#[test]
fn decodes_integers_as_java() {
    for (text, value) in [
        ("0", Some(0)),
        ("12", Some(12)),
        ("+7", Some(7)),
        ("-7", Some(-7)),
        ("010", Some(8)),
        ("0x10", Some(16)),
        ("0X1f", Some(31)),
        ("#ff", Some(255)),
        ("-0x10", Some(-16)),
        ("2147483647", Some(i32::MAX)),
        ("-2147483648", Some(i32::MIN)),
        ("2147483648", None),
        ("", None),
        ("-", None),
        ("0x", None),
        ("0x-1", None),
        ("--1", None),
        ("09", None),
        ("1.5", None),
        (" 1", None),
    ] {
        assert_eq!(decode_int(text), value, "{text:?}");
    }
}

/// zkCli 3.9's `addWatch [-m mode] path` (default PERSISTENT_RECURSIVE, the mode in any case) and
/// `removewatches path [-c|-d|-a] [-l]` (-c, else -d, else any).
#[test]
fn add_watch_and_remove_watches() {
    use paddock_client::{AddWatchMode, WatcherType};
    let ok = |line: &str| p(line).unwrap().unwrap();
    assert_eq!(
        ok("addWatch /a"),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::PersistentRecursive
        }
    );
    assert_eq!(
        ok("addWatch -m persistent /a"),
        Command::AddWatch {
            path: "/a".into(),
            mode: AddWatchMode::Persistent
        }
    );
    assert_eq!(
        ok("addWatch -m PERSISTENT_RECURSIVE /"),
        Command::AddWatch {
            path: "/".into(),
            mode: AddWatchMode::PersistentRecursive
        }
    );
    let err = |line: &str| p(line).unwrap_err().to_string();
    assert!(err("addWatch -m sometimes /a").contains("Unsupported mode: sometimes"));
    assert!(err("addWatch").contains("addWatch [-m mode] path"));
    assert!(err("addWatch a").contains("Path must start with / character"));
    let rw = |line: &str| match ok(line) {
        Command::RemoveWatches { path, kind, local } => (path, kind, local),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        rw("removewatches /a"),
        ("/a".into(), WatcherType::Any, false)
    );
    assert_eq!(
        rw("removewatches /a -c"),
        ("/a".into(), WatcherType::Children, false)
    );
    assert_eq!(
        rw("removewatches -d -l /a"),
        ("/a".into(), WatcherType::Data, true)
    );
    assert_eq!(
        rw("removewatches -a /a"),
        ("/a".into(), WatcherType::Any, false)
    );
    assert!(err("removewatches -x /a").contains("Unrecognized option: -x"));
}

#[test]
fn create_container_and_ttl_flags_as_zkcli() {
    assert!(matches!(
        p("create -c /c").unwrap().unwrap(),
        Command::Create {
            container: true,
            ttl: None,
            sequential: false,
            ..
        }
    ));
    assert!(matches!(
        p("create -t 1000 -s /t- data").unwrap().unwrap(),
        Command::Create {
            container: false,
            ttl: Some(1000),
            sequential: true,
            ..
        }
    ));
    let msg = |line: &str| p(line).unwrap_err().to_string();
    assert_eq!(
        msg("create -c -s /c"),
        "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
    );
    assert_eq!(msg("create -t x /t"), "-t argument must be a long value");
    assert_eq!(
        msg("create -e -t 5 /t"),
        "TTLs cannot be used with Ephemeral znodes"
    );
    assert_eq!(
        msg("create -c -t 5 /t"),
        "TTLs cannot be used with Container znodes"
    );
    for bad in ["0", "-1", "1099511627776"] {
        assert_eq!(
            msg(&format!("create -t {bad} /t")),
            "ttl must be positive and cannot be larger than: 1099511627775"
        );
    }
}
