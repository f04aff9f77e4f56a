//! `reconfig`: zkCli's `ReconfigCommand` (ZooKeeper 3.5+) — change the ensemble's membership.
//!
//! ```text
//! reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]
//! ```
//!
//! As zkCli: `-add` / `-remove` (incremental) or `-members` / `-file` (a whole new membership),
//! never both; `-v` is the configuration version the change is meant for, in hex as
//! `/zookeeper/config` shows it (`version=100000000`); the values are lower-cased; the answer is
//! printed as `Committed new configuration:` then the new configuration's text, then with `-s`
//! its Stat. `-file` reads a dynamic configuration file (`server.N=...` lines; `version=` and
//! comments ignored) when the command runs. Parsing is pure; [`exec`] does the I/O.

use std::fmt::Write as _;

use paddock_client::{Client, Error, ErrorCode};
use paddock_types::dynamic::{split_servers, DynamicConfig};

use crate::format;
use crate::parse::{usage_of, ParseError};

/// zkCli's usage line.
pub const USAGE: &str = "reconfig [-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]";

/// A parsed `reconfig` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconfig {
    /// `-s`: print the new configuration's Stat too.
    pub stat: bool,
    /// `-v` (hex), or -1: any version.
    pub from_version: i64,
    pub change: Change,
}

/// What the command asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `-add` / `-remove`.
    Incremental {
        joining: Vec<String>,
        leaving: Vec<u64>,
    },
    /// `-members`: the whole new membership.
    Members(Vec<String>),
    /// `-file`: the whole new membership, read from a dynamic configuration file.
    File(String),
}

fn usage_error(message: Option<String>) -> ParseError {
    ParseError {
        message,
        usage: Some(usage_of("reconfig").to_string()),
        unknown_command: false,
    }
}

fn bare(message: impl Into<String>) -> ParseError {
    ParseError {
        message: Some(message.into()),
        usage: None,
        unknown_command: false,
    }
}

/// Parses `reconfig`'s arguments (the words after the command name). A value may be given
/// more than once (`-add a -add b` is `-add a,b`).
pub fn parse(args: &[String]) -> Result<Reconfig, ParseError> {
    let (mut stat, mut version, mut file, mut members) = (false, None, None, Vec::new());
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    let mut words = args.iter();
    while let Some(w) = words.next() {
        let mut value = |name: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| usage_error(Some(format!("Missing argument for option: {name}"))))
        };
        match w.as_str() {
            "-s" => stat = true,
            "-v" => version = Some(value("v")?),
            "-file" => file = Some(value("file")?),
            "-members" => members.push(value("members")?.to_lowercase()),
            "-add" => add.push(value("add")?.to_lowercase()),
            "-remove" => remove.push(value("remove")?.to_lowercase()),
            other if other.starts_with('-') => {
                return Err(usage_error(Some(format!("Unrecognized option: {other}"))))
            }
            _ => return Err(usage_error(None)),
        }
    }
    let whole = file.is_some() || !members.is_empty();
    if !whole && add.is_empty() && remove.is_empty() {
        return Err(usage_error(None));
    }
    let from_version = match version {
        None => -1,
        Some(v) => i64::from_str_radix(&v, 16)
            .map_err(|_| bare("-v must be followed by a long (configuration version)"))?,
    };
    if whole && (!add.is_empty() || !remove.is_empty()) {
        return Err(bare(
            "Can't use -file or -members together with -add or -remove (mixing incremental and \
             non-incremental modes is not allowed)",
        ));
    }
    if file.is_some() && !members.is_empty() {
        return Err(bare(
            "Can't use -file and -members together (conflicting non-incremental modes)",
        ));
    }
    let change = match file {
        Some(path) => Change::File(path),
        None if whole => Change::Members(members.iter().flat_map(|m| split_servers(m)).collect()),
        None => Change::Incremental {
            joining: add.iter().flat_map(|a| split_servers(a)).collect(),
            leaving: remove
                .iter()
                .flat_map(|r| split_servers(r))
                .map(|id| {
                    id.parse::<u64>()
                        .map_err(|_| bare(format!("-remove: {id} is not a server id")))
                })
                .collect::<Result<_, _>>()?,
        },
    };
    Ok(Reconfig {
        stat,
        from_version,
        change,
    })
}

/// The server lines of a dynamic configuration file's text (zkCli's `-file`): its `server.N`
/// lines, checked and in id order; its version ignored (the new configuration gets its own).
pub fn members_of_file(path: &str, text: &str) -> Result<Vec<String>, String> {
    let config = DynamicConfig::parse(text).map_err(|e| format!("Error processing {path}: {e}"))?;
    if config.servers.is_empty() {
        return Err(format!("Error processing {path}: no server.N lines"));
    }
    Ok(config
        .servers
        .values()
        .map(|s| format!("server.{}={}", s.id.0, s.config_line()))
        .collect())
}

/// Runs the command: the reconfig, then zkCli's output.
pub async fn exec(client: &Client, cmd: Reconfig, out: &mut String) -> Result<(), String> {
    let (joining, leaving, members) = match cmd.change {
        Change::Incremental { joining, leaving } => (joining, leaving, Vec::new()),
        Change::Members(m) => (Vec::new(), Vec::new(), m),
        Change::File(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("Error processing {path}: {e}"))?;
            (Vec::new(), Vec::new(), members_of_file(&path, &text)?)
        }
    };
    let (data, stat) = client
        .reconfig(joining, leaving, members, cmd.from_version)
        .await
        .map_err(|e| error(&e))?;
    let _ = writeln!(out, "Committed new configuration:\n{}", format::data(&data));
    if cmd.stat {
        out.push_str(&format::stat(&stat));
    }
    Ok(())
}

/// A refused reconfig as zkCli prints it: ZooKeeperAdmin throws the code's KeeperException with
/// an empty path, which `CliWrapperException` rewords for some codes ("Insufficient permission
/// : ") and otherwise prints as `KeeperErrorCode = <code message>`.
pub fn error(e: &Error) -> String {
    match e.code() {
        ErrorCode::ReconfigDisabled => "KeeperErrorCode = Reconfig is disabled".into(),
        ErrorCode::NewConfigNoQuorum => "KeeperErrorCode = NewConfigNoQuorum".into(),
        ErrorCode::ReconfigInProgress => "KeeperErrorCode = ReconfigInProgress".into(),
        ErrorCode::NoAuth | ErrorCode::BadArguments | ErrorCode::BadVersion => format::error(e, ""),
        _ => format::session_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn ok(line: &str) -> Reconfig {
        parse(&words(line)).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> String {
        parse(&words(line)).expect_err(line).to_string()
    }

    #[test]
    fn incremental_changes_as_zkcli_sends_them() {
        assert_eq!(
            ok("-add server.4=Host4:2888:3888;2181,5=h5:2888:3888:observer;2181 -remove 2,3 -v 10000000A"),
            Reconfig {
                stat: false,
                from_version: 0x1_0000_000a,
                change: Change::Incremental {
                    joining: vec![
                        "server.4=host4:2888:3888;2181".into(),
                        "5=h5:2888:3888:observer;2181".into()
                    ],
                    leaving: vec![2, 3],
                },
            }
        );
        let r = ok("-s -remove 3");
        assert!(r.stat);
        assert_eq!(r.from_version, -1);
        assert_eq!(
            r.change,
            Change::Incremental {
                joining: vec![],
                leaving: vec![3]
            }
        );
        // Given twice, the lists add up.
        assert_eq!(
            ok("-remove 2 -remove 3").change,
            Change::Incremental {
                joining: vec![],
                leaving: vec![2, 3]
            }
        );
    }

    #[test]
    fn a_new_membership_from_members_or_a_file() {
        assert_eq!(
            ok("-members 1=a:1:2;3,2=b:1:2;3").change,
            Change::Members(vec!["1=a:1:2;3".into(), "2=b:1:2;3".into()])
        );
        assert_eq!(
            ok("-file /tmp/x.dyn").change,
            Change::File("/tmp/x.dyn".into())
        );
    }

    #[test]
    fn zkclis_refusals() {
        assert_eq!(err(""), USAGE);
        assert_eq!(err("-s"), USAGE);
        assert_eq!(
            err("-add"),
            format!("Missing argument for option: add\n{USAGE}")
        );
        assert_eq!(err("-x 1"), format!("Unrecognized option: -x\n{USAGE}"));
        assert_eq!(
            err("-remove 2 -v zz"),
            "-v must be followed by a long (configuration version)"
        );
        assert!(
            err("-members 1=a:1:2 -remove 2").starts_with("Can't use -file or -members together")
        );
        assert!(err("-file f -add 1=a:1:2").starts_with("Can't use -file or -members together"));
        assert_eq!(
            err("-file f -members 1=a:1:2"),
            "Can't use -file and -members together (conflicting non-incremental modes)"
        );
        assert_eq!(err("-remove 2,x"), "-remove: x is not a server id");
    }

    #[test]
    fn a_dynamic_file_gives_its_server_lines_without_its_version() {
        let text = "# written by paddock\n\
                    server.2=b:2888:3888:participant;0.0.0.0:2181\n\
                    server.1=a:2888:3888:observer;2181\n\
                    version=100000000\n";
        assert_eq!(
            members_of_file("f", text).expect("parses"),
            vec![
                "server.1=a:2888:3888:observer;0.0.0.0:2181".to_string(),
                "server.2=b:2888:3888:participant;0.0.0.0:2181".to_string(),
            ]
        );
        assert!(members_of_file("f", "version=1\n")
            .expect_err("no servers")
            .starts_with("Error processing f: "));
        assert!(members_of_file("f", "tickTime=2000\n")
            .expect_err("not dynamic")
            .starts_with("Error processing f: "));
    }

    #[test]
    fn errors_are_worded_as_zkcli() {
        let zk = |code| Error::Zk {
            code,
            message: String::new(),
        };
        assert_eq!(
            error(&zk(ErrorCode::ReconfigDisabled)),
            "KeeperErrorCode = Reconfig is disabled"
        );
        assert_eq!(
            error(&zk(ErrorCode::NewConfigNoQuorum)),
            "KeeperErrorCode = NewConfigNoQuorum"
        );
        assert_eq!(
            error(&zk(ErrorCode::ReconfigInProgress)),
            "KeeperErrorCode = ReconfigInProgress"
        );
        assert_eq!(
            error(&zk(ErrorCode::Unimplemented)),
            "KeeperErrorCode = Unimplemented"
        );
        assert_eq!(error(&zk(ErrorCode::NoAuth)), "Insufficient permission : ");
        assert_eq!(
            error(&zk(ErrorCode::BadVersion)),
            "version No is not valid : "
        );
    }
}
