//! Builds the validated configuration from defaults, an optional zoo.cfg, and flags.

use std::path::Path;

use anyhow::{bail, Context};
use paddock_types::{Config, ServerId};

use crate::args::Args;

/// The configuration the node runs with, and the warnings met while reading it.
#[derive(Debug, Clone)]
pub struct Effective {
    pub config: Config,
    pub myid: ServerId,
    pub warnings: Vec<String>,
}

/// Reads `args.config` (if any), applies the flags, validates. Errors name the key at fault.
pub fn load(args: &Args) -> anyhow::Result<Effective> {
    let (config, warnings) = load_config(args)?;
    let myid = match args.myid {
        Some(id) => ServerId(id),
        None => read_myid(&config.data_dir)?,
    };
    if myid.0 > 255 {
        bail!("myid {} is out of range: server ids are 1..=255", myid.0);
    }
    if config.servers.len() > 1 && !config.servers.contains_key(&myid) {
        let ids: Vec<String> = config.servers.keys().map(|id| id.0.to_string()).collect();
        bail!(
            "myid {} is not one of the configured servers (server.{}): set --myid \
             (PADDOCK_MY_ID) or write the id into {}",
            myid.0,
            ids.join(", server."),
            config.data_dir.join("myid").display()
        );
    }
    Ok(Effective {
        config,
        myid,
        warnings,
    })
}

/// The validated configuration of `args` without this server's id: what the offline tools
/// need (`dataDir`, `dataLogDir`), which do not care which member's directory they read.
pub fn load_config(args: &Args) -> anyhow::Result<(Config, Vec<String>)> {
    let (mut config, mut warnings) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            Config::parse(&text).with_context(|| format!("in config file {}", path.display()))?
        }
        None => (Config::default(), Vec::new()),
    };
    if let Some(list) = &args.set_list {
        for kv in list.split(';').map(str::trim).filter(|kv| !kv.is_empty()) {
            apply_pair(&mut config, &mut warnings, "PADDOCK_SET (--set-list)", kv)?;
        }
    }
    for kv in &args.set {
        apply_pair(&mut config, &mut warnings, "--set", kv)?;
    }
    if let Some(list) = args.servers.as_deref().filter(|l| !l.trim().is_empty()) {
        let lines = server_lines(list).map_err(|e| anyhow::anyhow!("{SERVERS_ORIGIN}: {e}"))?;
        if !config.servers.is_empty() {
            warnings.push(format!(
                "{SERVERS_ORIGIN} replaces the server.N lines of the config file"
            ));
        }
        config.servers.clear();
        for (k, v) in &lines {
            apply(&mut config, &mut warnings, SERVERS_ORIGIN, k, v)?;
        }
    }
    let flags: [(&str, &str, Option<String>); 13] = [
        (
            "--data-dir",
            "dataDir",
            args.data_dir.as_ref().map(|d| d.to_string_lossy().into()),
        ),
        (
            "--grpc-port",
            "grpcPort",
            args.grpc_port.map(|p| p.to_string()),
        ),
        ("--grpc-address", "grpcAddress", args.grpc_address.clone()),
        (
            "--client-port",
            "clientPort",
            args.client_port.map(|p| p.to_string()),
        ),
        (
            "--tick-time",
            "tickTime",
            args.tick_time.map(|t| t.to_string()),
        ),
        (
            "--init-limit",
            "initLimit",
            args.init_limit.map(|t| t.to_string()),
        ),
        (
            "--sync-limit",
            "syncLimit",
            args.sync_limit.map(|t| t.to_string()),
        ),
        (
            "--metrics-port",
            "metricsProvider.httpPort",
            args.metrics_port.map(|p| p.to_string()),
        ),
        (
            "--admin-port",
            "admin.serverPort",
            args.admin_port.map(|p| p.to_string()),
        ),
        (
            "--worker-threads",
            "workerThreads",
            args.worker_threads.map(|n| n.to_string()),
        ),
        (
            "--tls-key-store",
            "ssl.keyStore.location",
            args.tls_key_store.as_ref().map(|p| p.display().to_string()),
        ),
        (
            "--tls-trust-store",
            "ssl.trustStore.location",
            args.tls_trust_store
                .as_ref()
                .map(|p| p.display().to_string()),
        ),
        (
            "--tls-client-auth",
            "ssl.clientAuth",
            args.tls_client_auth.clone(),
        ),
    ];
    for (flag, key, value) in flags {
        if let Some(v) = value {
            apply(&mut config, &mut warnings, flag, key, &v)?;
        }
    }
    config.validate()?;
    Ok((config, warnings))
}

/// Where `server_lines` input comes from, as error messages name it.
const SERVERS_ORIGIN: &str = "PADDOCK_SERVERS (--servers)";

/// Applies one `KEY=VALUE` pair given by `origin` (a flag or variable name, for messages).
fn apply_pair(
    config: &mut Config,
    warnings: &mut Vec<String>,
    origin: &str,
    kv: &str,
) -> anyhow::Result<()> {
    let Some((k, v)) = kv.split_once('=') else {
        bail!("{origin} {kv:?}: expected KEY=VALUE");
    };
    apply(config, warnings, origin, k.trim(), v.trim())
}

fn apply(
    config: &mut Config,
    warnings: &mut Vec<String>,
    origin: &str,
    key: &str,
    value: &str,
) -> anyhow::Result<()> {
    if let Some(w) = config
        .set(key, value)
        .with_context(|| format!("in {origin}"))?
    {
        warnings.push(format!("{origin} {key}: {w}"));
    }
    Ok(())
}

/// Turns `1=a:2888:3888,2=b:2888:3888` (commas or whitespace between entries, an optional
/// `server.` prefix on each) into `("server.1", "a:2888:3888")` pairs, refusing duplicate ids.
/// The values are checked later by `Config::set`, like zoo.cfg's own lines.
fn server_lines(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for entry in list.split(|c: char| c == ',' || c.is_whitespace()) {
        if entry.is_empty() {
            continue;
        }
        let bare = entry.strip_prefix("server.").unwrap_or(entry);
        let Some((id, addr)) = bare.split_once('=') else {
            return Err(format!(
                "{entry:?}: expected N=host:quorumPort:electionPort"
            ));
        };
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{entry:?}: the server id before '=' must be a number"
            ));
        }
        let key = format!("server.{id}");
        if lines.iter().any(|(k, _)| *k == key) {
            return Err(format!("server id {id} is listed twice"));
        }
        lines.push((key, addr.to_string()));
    }
    if lines.is_empty() {
        return Err(format!("no servers in {list:?}"));
    }
    Ok(lines)
}

fn read_myid(data_dir: &Path) -> anyhow::Result<ServerId> {
    let path = data_dir.join("myid");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id: u64 = text.trim().parse().with_context(|| {
                format!(
                    "{}: myid must be a number, found {:?}",
                    path.display(),
                    text.trim()
                )
            })?;
            Ok(ServerId(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ServerId(0)),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use paddock_types::ServerId;

    use super::*;

    fn load_from(argv: &[&str]) -> anyhow::Result<Effective> {
        let args = Args::try_parse_from(std::iter::once("paddock").chain(argv.iter().copied()))
            .expect("the test's flags parse");
        load(&args)
    }

    fn error_of(argv: &[&str]) -> String {
        format!("{:#}", load_from(argv).expect_err("the flags are refused"))
    }

    #[test]
    fn every_container_variable_is_bound_to_its_flag() {
        let cmd = Args::command();
        let env_of = |id: &str| {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap_or_else(|| panic!("no argument {id}"));
            arg.get_env().map(|e| e.to_string_lossy().into_owned())
        };
        for (id, var) in [
            ("config", "PADDOCK_CONFIG"),
            ("data_dir", "PADDOCK_DATA_DIR"),
            ("grpc_port", "PADDOCK_GRPC_PORT"),
            ("client_port", "PADDOCK_CLIENT_PORT"),
            ("grpc_address", "PADDOCK_GRPC_ADDRESS"),
            ("myid", "PADDOCK_MY_ID"),
            ("servers", "PADDOCK_SERVERS"),
            ("tick_time", "PADDOCK_TICK_TIME"),
            ("init_limit", "PADDOCK_INIT_LIMIT"),
            ("sync_limit", "PADDOCK_SYNC_LIMIT"),
            ("metrics_port", "PADDOCK_METRICS_PORT"),
            ("admin_port", "PADDOCK_ADMIN_PORT"),
            ("worker_threads", "PADDOCK_WORKER_THREADS"),
            ("tls_key_store", "PADDOCK_TLS_KEY_STORE"),
            ("tls_trust_store", "PADDOCK_TLS_TRUST_STORE"),
            ("tls_client_auth", "PADDOCK_TLS_CLIENT_AUTH"),
            ("set_list", "PADDOCK_SET"),
        ] {
            assert_eq!(env_of(id).as_deref(), Some(var), "{id}");
        }
    }

    #[test]
    fn servers_list_becomes_server_lines() {
        let eff = load_from(&[
            "--myid",
            "2",
            "--servers",
            "1=paddock1:2888:3888, 2=paddock2:2888:3888,server.3=paddock3:2888:3888:observer",
        ])
        .expect("a valid ensemble");
        assert_eq!(eff.myid, ServerId(2));
        let hosts: Vec<(u64, &str, bool)> = eff
            .config
            .servers
            .values()
            .map(|s| (s.id.0, s.host.as_str(), s.observer))
            .collect();
        assert_eq!(
            hosts,
            [
                (1, "paddock1", false),
                (2, "paddock2", false),
                (3, "paddock3", true)
            ]
        );
    }

    #[test]
    fn servers_list_replaces_the_files_servers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(&cfg, "server.1=old1:1:2\nserver.9=old9:1:2\n").expect("write zoo.cfg");
        let eff = load_from(&[
            "--config",
            cfg.to_str().expect("utf-8 path"),
            "--myid",
            "1",
            "--servers",
            "1=new1:2888:3888 2=new2:2888:3888",
        ])
        .expect("valid");
        let ids: Vec<u64> = eff.config.servers.keys().map(|id| id.0).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(eff.config.servers[&ServerId(1)].host, "new1");
        assert!(eff.warnings.iter().any(|w| w.contains("PADDOCK_SERVERS")));
    }

    #[test]
    fn bad_servers_lists_are_refused_naming_the_variable() {
        for (list, why) in [
            ("1=a:2888:3888,1=b:2888:3888", "listed twice"),
            ("a:2888:3888", "expected N=host"),
            ("x=a:2888:3888", "must be a number"),
            ("1=a:2888", "server.1"),
            (" , ", "no servers"),
        ] {
            let e = error_of(&["--myid", "1", "--servers", list]);
            assert!(e.contains("PADDOCK_SERVERS"), "{list}: {e}");
            assert!(e.contains(why), "{list}: {e}");
        }
    }

    #[test]
    fn myid_outside_the_servers_list_names_the_variable() {
        let e = error_of(&["--myid", "4", "--servers", "1=a:1:2,2=b:1:2,3=c:1:2"]);
        assert!(e.contains("PADDOCK_MY_ID"), "{e}");
    }

    #[test]
    fn set_list_is_split_on_semicolons_and_set_flags_win() {
        let eff = load_from(&[
            "--set-list",
            "tickTime=500; syncLimit=3;;initLimit=7",
            "--set",
            "syncLimit=4",
        ])
        .expect("valid");
        assert_eq!(eff.config.tick_ms, 500);
        assert_eq!(eff.config.sync_limit_ticks, 4);
        assert_eq!(eff.config.init_limit_ticks, 7);
        let e = error_of(&["--set-list", "tickTime"]);
        assert!(e.contains("PADDOCK_SET") && e.contains("KEY=VALUE"), "{e}");
    }

    #[test]
    fn dedicated_flags_win_over_set() {
        let eff = load_from(&[
            "--set-list",
            "tickTime=500;metricsProvider.httpPort=1",
            "--tick-time",
            "250",
            "--init-limit",
            "3",
            "--sync-limit",
            "2",
            "--metrics-port",
            "7000",
        ])
        .expect("valid");
        assert_eq!(eff.config.tick_ms, 250);
        assert_eq!(eff.config.init_limit_ticks, 3);
        assert_eq!(eff.config.sync_limit_ticks, 2);
        assert_eq!(eff.config.metrics_port, Some(7000));
    }

    #[test]
    fn admin_port_flag_sets_admin_server_port_and_zero_turns_it_off() {
        let eff = load_from(&["--set", "admin.serverPort=9000"]).expect("valid");
        assert_eq!(eff.config.admin_port, Some(9000));
        let eff =
            load_from(&["--set", "admin.serverPort=9000", "--admin-port", "9100"]).expect("valid");
        assert_eq!(eff.config.admin_port, Some(9100));
        let eff = load_from(&["--admin-port", "0"]).expect("valid");
        assert_eq!(eff.config.admin_port, None);
        let eff = load_from(&[]).expect("valid");
        assert_eq!(eff.config.admin_port, Some(8080), "ZooKeeper's default");
        assert!(eff.config.admin_enabled);
    }
}
