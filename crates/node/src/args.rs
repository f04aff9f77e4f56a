//! Command-line flags. Every zoo.cfg key can be given as `--set key=value`; the common ones have
//! their own flags. Flags override the file.

use std::path::PathBuf;

use clap::Parser;

/// Paddock: a ZooKeeper-compatible coordination service with a gRPC client API.
///
/// With no arguments, runs a standalone server with its data in ./data and the gRPC API on port
/// 7181. `--config` reads a ZooKeeper zoo.cfg.
#[derive(Debug, Parser)]
#[command(name = "paddock", version, about, long_about)]
pub struct Args {
    /// A zoo.cfg file (ZooKeeper format: key=value lines).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory (zoo.cfg `dataDir`): txn log, snapshots, epochs, myid.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// gRPC client API port (zoo.cfg `grpcPort`); 0 picks a free port.
    #[arg(long, value_name = "PORT")]
    pub grpc_port: Option<u16>,

    /// Address the gRPC API listens on (zoo.cfg `grpcAddress`).
    #[arg(long, value_name = "ADDR")]
    pub grpc_address: Option<String>,

    /// This server's id (otherwise read from `<dataDir>/myid`, or 0 for a standalone server).
    #[arg(long, value_name = "N")]
    pub myid: Option<u64>,

    /// Any zoo.cfg key, e.g. `--set tickTime=500` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Print the effective configuration and exit.
    #[arg(long)]
    pub print_config: bool,
}
