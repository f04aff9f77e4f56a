//! `paddock-certs`: makes a CA and server/client certificates as PEM files for Paddock's TLS
//! (see `paddock-certs --help` and docs/security.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use paddock_certs::Ca;

/// Makes a certificate authority and the certificates of an ensemble's servers and clients, as
/// PEM files: `ca.pem` (the trust store: ssl.trustStore.location), and for each name
/// `<name>.pem` (its key store: private key + certificate, ssl.keyStore.location), `<name>.crt`
/// and `<name>.key`. Existing files of the same names are replaced; keys are owner-only.
///
/// Example (the compose TLS ensemble): paddock-certs --out deploy/certs
/// --server paddock1 --server paddock2 --server paddock3 --client client --client admin
#[derive(Parser, Debug)]
#[command(name = "paddock-certs", version, about)]
struct Args {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "certs")]
    out: PathBuf,
    /// A server: NAME, valid for the host NAME, localhost and 127.0.0.1 (repeatable).
    #[arg(long = "server", value_name = "NAME")]
    servers: Vec<String>,
    /// A client certificate with subject CN=NAME,O=Paddock (its x509 ACL id; repeatable).
    #[arg(long = "client", value_name = "NAME")]
    clients: Vec<String>,
    /// The CA's name.
    #[arg(long, value_name = "NAME", default_value = "Paddock CA")]
    ca_name: String,
}

fn run(args: &Args) -> anyhow::Result<()> {
    let ca = Ca::new(&args.ca_name)?;
    println!("{}", ca.write(&args.out)?.display());
    for name in &args.servers {
        let leaf = ca.server(name, &[name, "localhost", "127.0.0.1"])?;
        println!("{}", leaf.write(&args.out, name)?.display());
    }
    for name in &args.clients {
        let leaf = ca.client(name)?;
        println!("{}", leaf.write(&args.out, name)?.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paddock-certs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
