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
    let (mut config, mut warnings) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            Config::parse(&text).with_context(|| format!("in config file {}", path.display()))?
        }
        None => (Config::default(), Vec::new()),
    };
    let mut set = |k: &str, v: &str| -> anyhow::Result<()> {
        if let Some(w) = config.set(k, v)? {
            warnings.push(format!("--set {k}: {w}"));
        }
        Ok(())
    };
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--set {kv:?}: expected KEY=VALUE");
        };
        set(k.trim(), v.trim())?;
    }
    if let Some(d) = &args.data_dir {
        set("dataDir", &d.to_string_lossy())?;
    }
    if let Some(p) = args.grpc_port {
        set("grpcPort", &p.to_string())?;
    }
    if let Some(a) = &args.grpc_address {
        set("grpcAddress", a)?;
    }
    config.validate()?;
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
            "myid {} is not one of the configured servers (server.{}): set --myid or write the id \
             into {}",
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
