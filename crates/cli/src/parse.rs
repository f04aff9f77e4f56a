//! Command-line parsing, as zkCli (ZooKeeper 3.8's `ZooKeeperMain`) does it: a line is split into
//! words (whitespace-separated, `"..."` / `'...'` quoting), the first word is the command, options
//! (`-s`, `-w`, `-v 3`, also bundled as `-sw`) come before the positional arguments.
//! ACL arguments (`create`'s fourth word, `setAcl`'s acl) are parsed here too, so a malformed one
//! refuses the command before anything is sent.
//! Pure: no I/O, never panics on any input.

use std::fmt;
use std::time::Duration;

use paddock_client::{parse_perms, Acl, AddWatchMode, Id, WatcherType};

/// One parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Ls {
        path: String,
        stat: bool,
        watch: bool,
        recursive: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Stat {
        path: String,
        watch: bool,
    },
    /// `reconfig ...`: change the ensemble's membership (zkCli's `ReconfigCommand`; see
    /// [`crate::reconfig`]).
    Reconfig(crate::reconfig::Reconfig),
    /// `config [-c] [-w] [-s]`: the ensemble's configuration (zkCli 3.9's `GetConfigCommand`);
    /// `-c` prints only the version and the client addresses (the connection string form).
    Config {
        client_form: bool,
        watch: bool,
        stat: bool,
    },
    Create {
        path: String,
        data: Option<String>,
        /// The node's ACL; `None`: zkCli's default, `world:anyone:cdrwa`.
        acl: Option<Vec<Acl>>,
        sequential: bool,
        ephemeral: bool,
        /// `-c`: a container (deleted by the server once its last child is).
        container: bool,
        /// `-t ttl`: a TTL node (ms; checked as zkCli does: 1..=0xFFFFFFFFFF).
        ttl: Option<i64>,
    },
    Set {
        path: String,
        data: String,
        stat: bool,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
    },
    Sync {
        path: String,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    /// `-R`: the node and all its descendants (zkCli's `ZKUtil.visitSubTreeDFS`); `stat` is then
    /// ignored, as in zkCli.
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        stat: bool,
        version: Option<i32>,
        recursive: bool,
    },
    /// `addauth scheme [auth]` (zkCli sends no credentials when `auth` is missing).
    AddAuth {
        scheme: String,
        auth: Option<String>,
    },
    WhoAmI,
    /// `getEphemerals [path]`: the session's ephemerals under a path prefix (all without one,
    /// as zkCli).
    GetEphemerals {
        path: Option<String>,
    },
    /// `getAllChildrenNumber path`: how many nodes lie below `path`.
    GetAllChildrenNumber {
        path: String,
    },
    /// Waits for the next event on `path` (data/exists watch), prints it and returns.
    Watch {
        path: String,
        timeout: Option<Duration>,
    },
    /// `addWatch [-m mode] path`: a persistent watch (zkCli's default mode is
    /// PERSISTENT_RECURSIVE); its events are printed as they come.
    AddWatch {
        path: String,
        mode: AddWatchMode,
    },
    /// `removewatches path [-c|-d|-a] [-l]`: removes the session's child (`-c`), data (`-d`) or
    /// all (`-a`, the default) watches on `path`; `-l` removes them locally even without a
    /// server connection.
    RemoveWatches {
        path: String,
        kind: WatcherType,
        local: bool,
    },
    /// `history`: the last eleven commands with their numbers (zkCli's, this one included).
    History,
    /// `redo cmdno`: runs command number `cmdno` of this shell again. The number is kept as
    /// typed (it may be negative); the shell checks it against its history.
    Redo {
        cmdno: i32,
    },
    /// `printwatches on|off` (`Some`: whether the shell prints watch and session events;
    /// anything but `on` is off, as in zkCli) or `printwatches` (`None`: print the setting).
    PrintWatches {
        on: Option<bool>,
    },
    /// `setquota -n|-b|-N|-B val path` (the value is checked when run, as zkCli does).
    SetQuota {
        flag: QuotaFlag,
        value: String,
        path: String,
    },
    /// `listquota path`.
    ListQuota {
        path: String,
    },
    /// `delquota [-n|-b|-N|-B] path`: one limit, or (no flag) the whole quota.
    DelQuota {
        flag: Option<QuotaFlag>,
        path: String,
    },
    Help,
    Quit,
}

/// Which quota limit a `setquota` / `delquota` flag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaFlag {
    /// `-n`: soft node count.
    Count,
    /// `-b`: soft bytes.
    Bytes,
    /// `-N`: hard node count.
    CountHard,
    /// `-B`: hard bytes.
    BytesHard,
}

/// The quota flags in zkCli's option-group order, with commons-cli's descriptions.
const QUOTA_FLAGS: [(char, QuotaFlag, &str); 4] = [
    ('n', QuotaFlag::Count, "num soft quota"),
    ('b', QuotaFlag::Bytes, "bytes soft quota"),
    ('N', QuotaFlag::CountHard, "num hard quota"),
    ('B', QuotaFlag::BytesHard, "bytes hard quota"),
];

/// The one quota flag given (commons-cli's option group: at most one; `required` for setquota).
fn quota_flag(cmd: &str, o: &Opts, required: bool) -> Result<Option<QuotaFlag>, ParseError> {
    let given: Vec<char> = o
        .flags
        .iter()
        .copied()
        .chain(o.values.iter().map(|(c, _)| *c))
        .filter(|c| "nbNB".contains(*c))
        .collect();
    if let [first, second, ..] = given[..] {
        return Err(ParseError::with(
            cmd,
            format!(
                "The option '{second}' was specified but an option from this group has already been selected: '{first}'"
            ),
        ));
    }
    let flag = given
        .first()
        .and_then(|c| QUOTA_FLAGS.iter().find(|(f, _, _)| f == c))
        .map(|(_, q, _)| *q);
    if flag.is_none() && required {
        let names: Vec<String> = QUOTA_FLAGS
            .iter()
            .map(|(c, _, d)| format!("-{c} {d}"))
            .collect();
        return Err(ParseError::with(
            cmd,
            format!("Missing required option: [{}]", names.join(", ")),
        ));
    }
    Ok(flag)
}

/// Every command's usage line, as zkCli prints them, in zkCli's order (its `usage()` sorts the
/// command names as Java's `String.compareTo` does: by UTF-16 unit, so `getAcl` after `get`).
/// `watch` and `help` are Paddock's own.
pub const USAGES: &[(&str, &str)] = &[
    (
        "addWatch",
        "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "addauth scheme auth"),
    ("close", "close"),
    ("config", "config [-c] [-w] [-s]"),
    ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path"),
    ("delquota", "delquota [-n|-b|-N|-B] path"),
    ("get", "get [-s] [-w] path"),
    ("getAcl", "getAcl [-s] path"),
    ("getAllChildrenNumber", "getAllChildrenNumber path"),
    ("getEphemerals", "getEphemerals path"),
    ("help", "help"),
    ("history", "history"),
    ("listquota", "listquota path"),
    ("ls", "ls [-s] [-w] [-R] path"),
    ("printwatches", "printwatches on|off"),
    ("quit", "quit"),
    ("reconfig", crate::reconfig::USAGE),
    ("redo", "redo cmdno"),
    ("removewatches", "removewatches path [-c|-d|-a] [-l]"),
    ("set", "set [-s] [-v version] path data"),
    ("setAcl", "setAcl [-s] [-v version] [-R] path acl"),
    ("setquota", "setquota -n|-b|-N|-B val path"),
    ("stat", "stat [-w] path"),
    ("sync", "sync path"),
    ("watch", "watch [-t seconds] path"),
    ("whoami", "whoami"),
];

/// The usage line of `cmd` (empty for an unknown command).
pub fn usage_of(cmd: &str) -> &'static str {
    USAGES
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, u)| *u)
        .unwrap_or("")
}

/// The full help text (zkCli's `usage()`).
pub fn help_text() -> String {
    let mut s = String::from("ZooKeeper -server host:port cmd args\n");
    for (_, u) in USAGES {
        s.push('\t');
        s.push_str(u);
        s.push('\n');
    }
    s
}

/// A malformed command: an optional message (e.g. `Unrecognized option: -x`) and the usage line
/// of the command (or the whole help for an unknown command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: Option<String>,
    pub usage: Option<String>,
    /// The command does not exist. zkCli 3.8 (measured) exits 127 for it and 1 for every
    /// other malformed command (a bad option, a missing argument, an invalid path).
    pub unknown_command: bool,
}

impl ParseError {
    fn usage(cmd: &str) -> ParseError {
        ParseError {
            message: None,
            usage: Some(usage_of(cmd).to_string()),
            unknown_command: false,
        }
    }
    fn with(cmd: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            message: Some(message.into()),
            usage: Some(usage_of(cmd).to_string()),
            unknown_command: false,
        }
    }
    fn message(message: impl Into<String>) -> ParseError {
        ParseError {
            message: Some(message.into()),
            usage: None,
            unknown_command: false,
        }
    }

    fn path(message: impl Into<String>) -> ParseError {
        ParseError::message(message)
    }

    /// The exit status of a one-shot command refused by the parser: 1 for a bad path (as
    /// zkCli), 2 for a usage error or a malformed argument.
    pub fn exit_code(&self) -> u8 {
        if self.unknown_command {
            127
        } else {
            1
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, &self.usage) {
            (Some(m), Some(u)) => write!(f, "{m}\n{u}"),
            (Some(m), None) => write!(f, "{m}"),
            (None, Some(u)) => write!(f, "{u}"),
            (None, None) => Ok(()),
        }
    }
}

/// Splits a line into words as zkCli does: runs of non-whitespace, or `"..."` / `'...'` (quotes
/// removed; an unterminated quote runs to the end of the line).
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            for c in chars.by_ref() {
                if c == first {
                    break;
                }
                word.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// Parses one line of the shell. `Ok(None)` for an empty line.
pub fn parse_line(line: &str) -> Result<Option<Command>, ParseError> {
    let words = split_words(line);
    if words.is_empty() {
        return Ok(None);
    }
    parse_words(&words).map(Some)
}

/// The options of one command: which boolean flags and which flags taking a value it knows.
struct Opts {
    flags: Vec<char>,
    values: Vec<(char, String)>,
    positional: Vec<String>,
}

fn split_opts(
    cmd: &str,
    args: &[String],
    bool_flags: &str,
    value_flags: &str,
) -> Result<Opts, ParseError> {
    let mut o = Opts {
        flags: Vec::new(),
        values: Vec::new(),
        positional: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        // Options come first; anything after the first positional argument is positional
        // (so data such as "-1" works as the last word of `set`).
        if !o.positional.is_empty() || !a.starts_with('-') || a.len() < 2 {
            o.positional.push(a.clone());
            continue;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        if letters.len() == 1 && value_flags.contains(letters[0]) {
            let Some(v) = args.get(i) else {
                return Err(ParseError::with(
                    cmd,
                    format!("Missing argument for option: {}", letters[0]),
                ));
            };
            i += 1;
            o.values.push((letters[0], v.clone()));
        } else if letters.iter().all(|c| bool_flags.contains(*c)) {
            o.flags.extend(letters);
        } else {
            return Err(ParseError::with(cmd, format!("Unrecognized option: {a}")));
        }
    }
    Ok(o)
}

impl Opts {
    fn has(&self, c: char) -> bool {
        self.flags.contains(&c)
    }
    fn value(&self, c: char) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_str())
    }
}

/// `create`'s `-c` / `-t` checks, in zkCli 3.9's order and words (CreateCommand.exec).
fn create_ttl(o: &Opts) -> Result<Option<i64>, ParseError> {
    let (e, s, c) = (o.has('e'), o.has('s'), o.has('c'));
    if c && (e || s) {
        return Err(ParseError::message(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.",
        ));
    }
    let Some(text) = o.value('t') else {
        return Ok(None);
    };
    let ttl: i64 = text
        .parse()
        .map_err(|_| ParseError::message("-t argument must be a long value"))?;
    if e {
        return Err(ParseError::message(
            "TTLs cannot be used with Ephemeral znodes",
        ));
    }
    if c {
        return Err(ParseError::message(
            "TTLs cannot be used with Container znodes",
        ));
    }
    if ttl <= 0 || ttl > paddock_client::node_kind::MAX_TTL_MS {
        return Err(ParseError::message(format!(
            "ttl must be positive and cannot be larger than: {}",
            paddock_client::node_kind::MAX_TTL_MS
        )));
    }
    Ok(Some(ttl))
}

fn version_arg(cmd: &str, o: &Opts) -> Result<Option<i32>, ParseError> {
    match o.value('v') {
        None => Ok(None),
        Some(v) => v
            .parse::<i32>()
            .map(Some)
            .map_err(|_| ParseError::with(cmd, format!("version must be an integer: {v}"))),
    }
}

/// Parses the words of one command (`words[0]` is the command name).
pub fn parse_words(words: &[String]) -> Result<Command, ParseError> {
    let Some((cmd, args)) = words.split_first() else {
        return Err(ParseError::message(help_text().trim_end().to_string()));
    };
    let cmd = cmd.as_str();
    if let Some(shell_cmd) = parse_shell_command(cmd, args) {
        return shell_cmd;
    }
    if cmd == "reconfig" {
        return crate::reconfig::parse(args).map(Command::Reconfig);
    }
    // Each command: its flags, and how many positional words it takes (min..=max).
    let (bools, values, min, max) = match cmd {
        "ls" => ("swR", "", 1, 1),
        "get" => ("sw", "", 1, 1),
        "stat" => ("w", "", 1, 1),
        "config" => ("cws", "", 0, 0),
        "create" => ("sec", "t", 1, 3),
        "set" => ("s", "v", 2, 2),
        "delete" => ("", "v", 1, 1),
        "deleteall" | "sync" => ("", "", 1, 1),
        "watch" => ("", "t", 1, 1),
        "getAcl" => ("s", "", 1, 1),
        "getAllChildrenNumber" => ("", "", 1, 1),
        "setquota" => ("", "nbNB", 1, 1),
        "listquota" => ("", "", 1, 1),
        "delquota" => ("nbNB", "", 1, 1),
        "getEphemerals" => ("", "", 0, 1),
        "addWatch" => ("", "m", 1, 1),
        "removewatches" => ("cdal", "", 1, 1),
        "setAcl" => ("sR", "v", 2, 2),
        "addauth" => ("", "", 1, 2),
        "help" | "quit" | "close" | "exit" | "whoami" => ("", "", 0, 0),
        _ => {
            return Err(ParseError {
                message: Some(format!("Unknown command: {cmd}")),
                usage: Some(help_text().trim_end().to_string()),
                unknown_command: true,
            })
        }
    };
    // `removewatches` takes its options after the path (zkCli's usage line); it has no data word
    // that could look like an option, so they may come anywhere.
    let reordered: Vec<String>;
    let args = if cmd == "removewatches" {
        let (opts, rest): (Vec<&String>, Vec<&String>) =
            args.iter().partition(|a| a.starts_with('-') && a.len() > 1);
        reordered = opts.into_iter().chain(rest).cloned().collect();
        &reordered[..]
    } else {
        args
    };
    let o = split_opts(cmd, args, bools, values)?;
    if o.positional.len() < min || o.positional.len() > max {
        return Err(ParseError::usage(cmd));
    }
    let path = o.positional.first().cloned().unwrap_or_default();
    // `addauth`'s first word is a scheme; every other command's is a path.
    if !o.positional.is_empty() && cmd != "addauth" {
        let sequential = cmd == "create" && o.has('s');
        validate_path(&path, sequential).map_err(ParseError::path)?;
    }
    Ok(match cmd {
        "ls" => Command::Ls {
            path,
            stat: o.has('s'),
            watch: o.has('w'),
            recursive: o.has('R'),
        },
        "get" => Command::Get {
            path,
            stat: o.has('s'),
            watch: o.has('w'),
        },
        "stat" => Command::Stat {
            path,
            watch: o.has('w'),
        },
        "create" => Command::Create {
            ttl: create_ttl(&o)?,
            path,
            data: o.positional.get(1).cloned(),
            acl: match o.positional.get(2) {
                Some(text) => Some(parse_acl_arg(text).map_err(ParseError::message)?),
                None => None,
            },
            sequential: o.has('s'),
            ephemeral: o.has('e'),
            container: o.has('c'),
        },
        "set" => Command::Set {
            path,
            data: o.positional[1].clone(),
            stat: o.has('s'),
            version: version_arg(cmd, &o)?,
        },
        "delete" => Command::Delete {
            path,
            version: version_arg(cmd, &o)?,
        },
        "deleteall" => Command::DeleteAll { path },
        "sync" => Command::Sync { path },
        "addWatch" => Command::AddWatch {
            path,
            mode: match o.value('m') {
                None => AddWatchMode::PersistentRecursive,
                Some(m) if m.eq_ignore_ascii_case("PERSISTENT") => AddWatchMode::Persistent,
                Some(m) if m.eq_ignore_ascii_case("PERSISTENT_RECURSIVE") => {
                    AddWatchMode::PersistentRecursive
                }
                Some(m) => {
                    return Err(ParseError::with(
                        cmd,
                        format!("Unsupported mode: {m} (PERSISTENT or PERSISTENT_RECURSIVE)"),
                    ))
                }
            },
        },
        "removewatches" => Command::RemoveWatches {
            path,
            // zkCli's order: -c, else -d, else any.
            kind: if o.has('c') {
                WatcherType::Children
            } else if o.has('d') {
                WatcherType::Data
            } else {
                WatcherType::Any
            },
            local: o.has('l'),
        },
        "getAcl" => Command::GetAcl {
            path,
            stat: o.has('s'),
        },
        "setAcl" => Command::SetAcl {
            acl: parse_acl_arg(&o.positional[1]).map_err(ParseError::message)?,
            path,
            stat: o.has('s'),
            version: version_arg(cmd, &o)?,
            recursive: o.has('R'),
        },
        "addauth" => Command::AddAuth {
            scheme: path,
            auth: o.positional.get(1).cloned(),
        },
        "whoami" => Command::WhoAmI,
        "config" => Command::Config {
            client_form: o.has('c'),
            watch: o.has('w'),
            stat: o.has('s'),
        },
        "getEphemerals" => Command::GetEphemerals {
            path: o.positional.first().cloned(),
        },
        "getAllChildrenNumber" => Command::GetAllChildrenNumber { path },
        "setquota" => {
            let flag = quota_flag(cmd, &o, true)?.unwrap_or(QuotaFlag::Count);
            let letter = QUOTA_FLAGS
                .iter()
                .find(|(_, q, _)| *q == flag)
                .map_or('n', |(c, _, _)| *c);
            Command::SetQuota {
                value: o.value(letter).unwrap_or_default().to_string(),
                flag,
                path,
            }
        }
        "listquota" => Command::ListQuota { path },
        "delquota" => Command::DelQuota {
            flag: quota_flag(cmd, &o, false)?,
            path,
        },
        "watch" => {
            let timeout = match o.value('t') {
                None => None,
                Some(t) => match t.parse::<f64>() {
                    Ok(s) if (0.0..1e9).contains(&s) => Some(Duration::from_secs_f64(s)),
                    _ => {
                        return Err(ParseError::with(
                            cmd,
                            format!("timeout must be a number of seconds: {t}"),
                        ))
                    }
                },
            };
            Command::Watch { path, timeout }
        }
        "help" => Command::Help,
        _ => Command::Quit,
    })
}

/// The commands about the shell itself (zkCli's `history`, `redo`, `printwatches`), whose
/// arguments are not options or paths; `None` for any other command.
fn parse_shell_command(cmd: &str, args: &[String]) -> Option<Result<Command, ParseError>> {
    Some(match (cmd, args) {
        ("history", []) => Ok(Command::History),
        ("redo", [n]) => match decode_int(n) {
            Some(cmdno) => Ok(Command::Redo { cmdno }),
            None => Err(ParseError::with(
                cmd,
                format!("cmdno must be an integer: {n}"),
            )),
        },
        ("printwatches", []) => Ok(Command::PrintWatches { on: None }),
        ("printwatches", [v]) => Ok(Command::PrintWatches {
            on: Some(v == "on"),
        }),
        ("history" | "redo" | "printwatches", _) => Err(ParseError::usage(cmd)),
        _ => return None,
    })
}

/// Java's `Integer.decode`, which zkCli's `redo` uses: an optional sign, then decimal, hex after
/// `0x`, `0X` or `#`, or octal after a leading `0`; `None` unless the value fits an `i32`.
pub fn decode_int(text: &str) -> Option<i32> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(h) = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))
        .or_else(|| rest.strip_prefix('#'))
    {
        (16, h)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    // from_str_radix would take another sign after the prefix; Java does not.
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i32::try_from(value).ok()
}

/// Parses zkCli's ACL text, `scheme:id:perms[,scheme:id:perms...]`, as its `AclParser` splits it:
/// the scheme ends at the first `:`, the permissions (letters of `cdrwa`, any order, possibly
/// none) start after the last, the id is what lies between (so `digest:bob:hash=:r` works).
/// zkCli prints a malformed entry or an unknown letter on stderr and carries on without it (or
/// without that permission); here either refuses the whole argument, with zkCli's message, so
/// nothing is sent with an ACL the user did not mean.
pub fn parse_acl_arg(text: &str) -> Result<Vec<Acl>, String> {
    let mut acl = Vec::new();
    for entry in text.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            return Err(format!("{entry} does not have the form scheme:id:perm"));
        };
        if first == last {
            return Err(format!("{entry} does not have the form scheme:id:perm"));
        }
        let letters = &entry[last + 1..];
        // zkCli's letters are lower case only (parse_perms would also take upper case).
        if let Some(c) = letters.chars().find(|c| !"cdrwa".contains(*c)) {
            return Err(format!("Unknown perm type: {c}"));
        }
        let perms = parse_perms(letters).ok_or_else(|| format!("Unknown perm type: {letters}"))?;
        let id = Id::new(&entry[..first], &entry[first + 1..last]);
        acl.push(Acl::new(perms, id));
    }
    Ok(acl)
}

/// ZooKeeper's `PathUtils.validatePath`, with its messages. A sequential create's path may end
/// with `/` (the sequence number is appended).
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        let next_is_sep = chars.get(i + 1).is_none_or(|n| *n == '/');
        if c == '\0' {
            return Err(format!("null character not allowed @{i}"));
        } else if c == '/' && last == '/' {
            return Err(format!("empty node name specified @{i}"));
        } else if c == '.'
            && next_is_sep
            && (last == '/' || (last == '.' && i >= 2 && chars[i - 2] == '/'))
        {
            return Err(format!("relative paths not allowed @{i}"));
        } else if ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
        {
            return Err(format!("invalid character @{i}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
