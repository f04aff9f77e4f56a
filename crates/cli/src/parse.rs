//! Command-line parsing, as zkCli (ZooKeeper 3.8's `ZooKeeperMain`) does it: a line is split into
//! words (whitespace-separated, `"..."` / `'...'` quoting), the first word is the command, options
//! (`-s`, `-w`, `-v 3`, also bundled as `-sw`) come before the positional arguments.
//! Pure: no I/O, never panics on any input.

use std::fmt;
use std::time::Duration;

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
    Create {
        path: String,
        data: Option<String>,
        sequential: bool,
        ephemeral: bool,
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
    /// Waits for the next event on `path` (data/exists watch), prints it and returns.
    Watch {
        path: String,
        timeout: Option<Duration>,
    },
    Help,
    Quit,
}

/// Every command's usage line, as zkCli prints them.
pub const USAGES: &[(&str, &str)] = &[
    ("ls", "ls [-s] [-w] [-R] path"),
    ("get", "get [-s] [-w] path"),
    ("stat", "stat [-w] path"),
    ("create", "create [-s] [-e] path [data]"),
    ("set", "set [-s] [-v version] path data"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path"),
    ("sync", "sync path"),
    ("watch", "watch [-t seconds] path"),
    ("help", "help"),
    ("quit", "quit"),
    ("close", "close"),
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
}

impl ParseError {
    fn usage(cmd: &str) -> ParseError {
        ParseError {
            message: None,
            usage: Some(usage_of(cmd).to_string()),
        }
    }
    fn with(cmd: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            message: Some(message.into()),
            usage: Some(usage_of(cmd).to_string()),
        }
    }
    fn message(message: impl Into<String>) -> ParseError {
        ParseError {
            message: Some(message.into()),
            usage: None,
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
    // Each command: its flags, and how many positional words it takes (min..=max).
    let (bools, values, min, max) = match cmd {
        "ls" => ("swR", "", 1, 1),
        "get" => ("sw", "", 1, 1),
        "stat" => ("w", "", 1, 1),
        "create" => ("se", "", 1, 2),
        "set" => ("s", "v", 2, 2),
        "delete" => ("", "v", 1, 1),
        "deleteall" | "sync" => ("", "", 1, 1),
        "watch" => ("", "t", 1, 1),
        "help" | "quit" | "close" | "exit" => ("", "", 0, 0),
        _ => {
            return Err(ParseError {
                message: Some(format!("Unknown command: {cmd}")),
                usage: Some(help_text().trim_end().to_string()),
            })
        }
    };
    let o = split_opts(cmd, args, bools, values)?;
    if o.positional.len() < min || o.positional.len() > max {
        return Err(ParseError::usage(cmd));
    }
    let path = o.positional.first().cloned().unwrap_or_default();
    if min > 0 {
        let sequential = cmd == "create" && o.has('s');
        validate_path(&path, sequential).map_err(ParseError::message)?;
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
            path,
            data: o.positional.get(1).cloned(),
            sequential: o.has('s'),
            ephemeral: o.has('e'),
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
mod tests {
    use super::*;

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
                sequential: true,
                ephemeral: true
            }
        );
        assert_eq!(
            p("create /a").unwrap().unwrap(),
            Command::Create {
                path: "/a".into(),
                data: None,
                sequential: false,
                ephemeral: false
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
        let e = p("create /a b c").unwrap_err();
        assert_eq!(e.to_string(), "create [-s] [-e] path [data]");
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
            "quit",
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
}
