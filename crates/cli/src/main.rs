//! `paddock-cli`: a zkCli-compatible shell for Paddock.
//!
//! ```text
//! paddock-cli [-server host:port[,host:port...]] [-timeout ms]            interactive shell
//!   (also -connect-timeout ms: how long to try one server before the next; default 5 s;
//!   -r: accept a read-only session from a server cut off from its quorum, as zkCli's -r)
//! paddock-cli [-server host:port[,host:port...]] [-timeout ms] CMD ARGS   one command, then exit
//! paddock-cli [-server host:port] health [service]                       grpc.health.v1 check
//! paddock-cli [-server host:port] backup FILE [-auth user:password]       a verified backup
//! ```
//!
//! Against a server with TLS on its gRPC port, every form takes `-tls-ca FILE` and, when the
//! server wants a client certificate, `-tls-cert FILE` (and `-tls-key FILE`), also from
//! `PADDOCK_CLI_TLS_*` variables or zkCli's `-Dzookeeper.ssl.*` properties: see [`tls`].
//!
//! One-shot mode exits as zkCli 3.8 does (measured): 0 on success, 1 when the command failed
//! (zkCli's error text on stderr) or is malformed (a bad option, argument or path: the message
//! and the command's usage on stderr), 127 for an unknown command; 2 for a bad option of
//! paddock-cli itself (`-server`, TLS). The interactive shell has line editing and
//! history (rustyline) on a terminal; with stdin not a terminal it reads commands line by line
//! without a prompt (for scripts and tests). Its commands are numbered as in zkCli (the prompt's
//! `[zk: host(CONNECTED) N]`), for `history` and `redo`: see [`shell`].

mod admin;
mod backup;
mod exec;
mod format;
mod parse;
mod reconfig;
mod shell;
mod tls;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use paddock_client::{Client, ClientOptions};

use exec::exec;
use shell::Shell;
use tls::TlsArgs;

const DEFAULT_SERVER: &str = "127.0.0.1:7181";

const USAGE: &str = "usage: paddock-cli [-server host:port[,host:port...]] [-timeout ms] [-connect-timeout ms] [-r] [TLS] [cmd args...]\n\
    \x20 (default server 127.0.0.1:7181; without cmd: interactive shell; `paddock-cli help` lists the commands;\n\
    \x20 -connect-timeout: how long to try one server before the next, default 5000;\n\
    \x20 -r: accept a read-only session from a server in read-only mode, as zkCli's -r)\n\
    \x20 TLS (a server started with --tls-key-store): -tls-ca FILE (the CA that signed the server's certificate),\n\
    \x20   -tls-cert FILE (client certificate, with its key in the same PEM or in -tls-key FILE),\n\
    \x20   -tls-server-name NAME (default: the host of -server); or PADDOCK_CLI_TLS_CA / _CERT / _KEY / _SERVER_NAME,\n\
    \x20   or zkCli's -Dzookeeper.ssl.trustStore.location=FILE -Dzookeeper.ssl.keyStore.location=FILE\n\
    \x20 paddock-cli [-server host:port] health [service]   grpc.health.v1 check: prints SERVING or\n\
    \x20   NOT_SERVING, exits 0 only for SERVING\n\
    \x20 paddock-cli [-server host:port] backup FILE [-auth user:password]   a verified backup of the server's\n\
    \x20   tree into FILE (restore it with `paddock restore --from FILE`)\n\
    \x20 paddock-cli [-server host:port] ruok|srvr|stat|mntr|conf|cons|wchs|envi|isro|dump|hash|gtmk|stmk MASK   admin words";

/// The process's own arguments (before the command words).
#[derive(Debug, PartialEq, Eq)]
struct Args {
    server: String,
    session_timeout: Option<Duration>,
    /// How long to try one server (connect + handshake) before the next (client default 5 s).
    connect_timeout: Option<Duration>,
    /// `-r`: accept a read-only session (zkCli's `-r`, ZooKeeper's canBeReadOnly).
    read_only: bool,
    /// The TLS flags (the `PADDOCK_CLI_TLS_*` variables are merged in later).
    tls: TlsArgs,
    command: Vec<String>,
}

/// zkCli's argument style: `-server X` (also `--server X`, `--server=X`), `-timeout ms`; the first
/// other word starts the command.
fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        server: DEFAULT_SERVER.to_string(),
        session_timeout: None,
        connect_timeout: None,
        read_only: false,
        tls: TlsArgs::default(),
        command: Vec::new(),
    };
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (a, None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            *i += 1;
            argv.get(*i)
                .cloned()
                .ok_or_else(|| format!("missing value for {name}\n{USAGE}"))
        };
        match name {
            "-server" | "--server" => args.server = value(&mut i)?,
            "-timeout" | "--timeout" => {
                let v = value(&mut i)?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("-timeout must be milliseconds: {v}\n{USAGE}"))?;
                args.session_timeout = Some(Duration::from_millis(ms));
            }
            "-connect-timeout" | "--connect-timeout" => {
                let v = value(&mut i)?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("-connect-timeout must be milliseconds: {v}\n{USAGE}"))?;
                args.connect_timeout = Some(Duration::from_millis(ms));
            }
            "-r" | "--readonly" => args.read_only = true,
            "-tls-ca" | "--tls-ca" => args.tls.ca = Some(value(&mut i)?.into()),
            "-tls-cert" | "--tls-cert" => args.tls.cert = Some(value(&mut i)?.into()),
            "-tls-key" | "--tls-key" => args.tls.key = Some(value(&mut i)?.into()),
            "-tls-server-name" | "--tls-server-name" => {
                args.tls.server_name = Some(value(&mut i)?);
            }
            d if d.starts_with("-D") && d.len() > 2 => args
                .tls
                .system_property(&d[2..])
                .map_err(|e| format!("{e}\n{USAGE}"))?,
            "-h" | "--help" | "-help" => return Err(USAGE.to_string()),
            _ => {
                args.command = argv[i..].to_vec();
                break;
            }
        }
        i += 1;
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    for property in &args.tls.ignored {
        eprintln!("warning: {property} is not used by paddock-cli; ignored");
    }
    let tls = match args
        .tls
        .clone()
        .with_env(|name| std::env::var(name).ok())
        .options()
    {
        Ok(tls) => tls,
        Err(msg) => {
            eprintln!("{msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // A four-letter word alone needs no session: one admin call, then exit. (`stat PATH` stays
    // zkCli's stat.)
    if let [word] = args.command.as_slice() {
        if admin::WORDS.contains(&word.as_str()) {
            return admin::run(&args.server, word, tls.as_ref());
        }
    }
    // `stmk MASK`: sets the trace mask (decimal or 0x hex), as ZooKeeper's word.
    if let [word, mask] = args.command.as_slice() {
        if word == "stmk" {
            return admin::run(&args.server, &format!("stmk {mask}"), tls.as_ref());
        }
    }
    // `backup FILE [-auth user:password]`: a verified backup of the server, no session.
    if let Some((word, rest)) = args.command.split_first() {
        if word == backup::WORD {
            return backup::run(&args.server, rest, tls.as_ref());
        }
    }
    // `health [service]`: one grpc.health.v1 check, no session (for container health checks).
    match args.command.as_slice() {
        [h] if h == "health" => return admin::health(&args.server, "", tls.as_ref()),
        [h, service] if h == "health" => return admin::health(&args.server, service, tls.as_ref()),
        _ => {}
    }
    // A malformed one-shot command is refused before connecting.
    let one_shot = if args.command.is_empty() {
        None
    } else {
        match parse::parse_words(&args.command) {
            Ok(cmd) => Some(cmd),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(e.exit_code());
            }
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async move {
        let mut opts = ClientOptions {
            tls,
            ..ClientOptions::default()
        };
        if let Some(t) = args.session_timeout {
            opts = opts.session_timeout(t);
        }
        if let Some(t) = args.connect_timeout {
            opts = opts.connect_timeout(t);
        }
        opts = opts.can_be_read_only(args.read_only);
        if one_shot.is_none() {
            println!("Connecting to {}", args.server);
        }
        let client = match Client::connect(&args.server, opts).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("Unable to connect to {}: {e}", args.server);
                return 1;
            }
        };
        let code = match one_shot {
            Some(cmd) => run_one(&client, &args.command, cmd).await,
            None => shell::interactive(&client, &args.server).await,
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        code
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code)
}

/// One command given on the command line: a shell whose history holds just that command.
async fn run_one(client: &Client, words: &[String], cmd: parse::Command) -> u8 {
    let mut shell = Shell::one_shot(&words.join(" "));
    let mut out = String::new();
    let mut watches = Vec::new();
    let r = exec(client, &mut shell, cmd, &mut out, &mut watches).await;
    print!("{out}");
    let _ = std::io::stdout().flush();
    match r {
        Ok(exec::Outcome::Note(note)) => {
            eprintln!("{note}");
            0
        }
        Ok(_) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn process_args() {
        assert_eq!(
            parse_args(&a("")).unwrap(),
            Args {
                server: DEFAULT_SERVER.into(),
                session_timeout: None,
                connect_timeout: None,
                read_only: false,
                tls: TlsArgs::default(),
                command: vec![]
            }
        );
        assert_eq!(
            parse_args(&a("-server h:1,h:2 ls /")).unwrap(),
            Args {
                server: "h:1,h:2".into(),
                session_timeout: None,
                connect_timeout: None,
                read_only: false,
                tls: TlsArgs::default(),
                command: a("ls /")
            }
        );
        assert_eq!(parse_args(&a("--server h:1")).unwrap().server, "h:1");
        assert_eq!(parse_args(&a("--server=h:3 get /a")).unwrap().server, "h:3");
        let t = parse_args(&a("-timeout 5000 -server h:1 create -s /a")).unwrap();
        assert_eq!(t.session_timeout, Some(Duration::from_secs(5)));
        assert_eq!(t.command, a("create -s /a"));
        // Options of the command are not the process's.
        assert_eq!(parse_args(&a("ls -s /")).unwrap().command, a("ls -s /"));
        assert!(parse_args(&a("-server")).is_err());
        assert!(parse_args(&a("-timeout x")).is_err());
        let c = parse_args(&a("-connect-timeout 800 ls /")).unwrap();
        assert_eq!(c.connect_timeout, Some(Duration::from_millis(800)));
        assert!(parse_args(&a("-connect-timeout")).is_err());
        let r = parse_args(&a("-r -server h:1 get /a")).unwrap();
        assert!(r.read_only);
        assert_eq!(r.command, a("get /a"));
        assert!(parse_args(&a("--help")).is_err());
    }

    #[test]
    fn tls_flags() {
        let t = parse_args(&a(
            "-tls-ca ca.pem --tls-cert me.crt --tls-key=me.key -tls-server-name paddock1 ls /",
        ))
        .unwrap();
        assert_eq!(
            t.tls,
            TlsArgs {
                ca: Some("ca.pem".into()),
                cert: Some("me.crt".into()),
                key: Some("me.key".into()),
                server_name: Some("paddock1".into()),
                ..TlsArgs::default()
            }
        );
        assert_eq!(t.command, a("ls /"));
        let z = parse_args(&a(
            "-Dzookeeper.client.secure=true -Dzookeeper.ssl.trustStore.location=/c/ca.pem \
             -Dzookeeper.ssl.keyStore.location=/c/me.pem -server h:1 health",
        ))
        .unwrap();
        assert_eq!(z.tls.ca, Some("/c/ca.pem".into()));
        assert_eq!(z.tls.cert, Some("/c/me.pem".into()));
        assert_eq!(z.command, a("health"));
        assert!(parse_args(&a("-tls-ca")).is_err());
        assert!(parse_args(&a("-Dzookeeper.ssl.keyStore.type=JKS ls /")).is_err());
    }
}
