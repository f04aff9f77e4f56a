//! ZooKeeper's four-letter words (`paddock-cli -server host:port srvr`): one call to
//! `paddock.v1.Admin/RunCommand`, whose output is printed unchanged (ZooKeeper's exact text); and
//! `health`: one `grpc.health.v1.Health/Check` call.

use std::process::ExitCode;
use std::time::Duration;

use paddock_client::{transport, ClientOptions, TlsOptions};
use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::CommandRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The admin words the CLI runs without opening a session.
pub const WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "wchc", "wchp", "envi", "isro", "srst",
    "crst", "dirs", "dump", "hash", "gtmk",
];

const TIMEOUT: Duration = Duration::from_secs(10);
/// The health check's limit (connect and call each): short, as container health checks run often.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The first server of a `-server` list (`host:port,...`, checked as the session commands check
/// it), or a URL (`http://host:port`, whose `host:port` is used: TLS follows the TLS flags).
fn first_server(servers: &str) -> Result<String, String> {
    if servers.contains("://") {
        return Ok(servers.trim().to_string());
    }
    paddock_client::parse_connect_string(servers)
        .map_err(|e| format!("Unable to connect to {servers}: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("Unable to connect to {servers}: no server given"))
}

/// A one-thread runtime for a one-shot command; `Err`: the exit code, the reason printed.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

/// The server's address (`host:port`) and the client options to reach it with: the TLS
/// options, `limit` for connecting.
struct Target {
    addr: String,
    opts: ClientOptions,
}

impl Target {
    fn new(server: &str, tls: Option<&TlsOptions>, limit: Duration) -> Target {
        let mut opts = ClientOptions::default().connect_timeout(limit);
        opts.tls = tls.cloned();
        // A URL's scheme says nothing the TLS flags do not: `http://h:p` is `h:p`.
        let addr = server
            .split_once("://")
            .map_or(server, |(_, rest)| rest)
            .trim_end_matches('/');
        Target {
            addr: addr.to_string(),
            opts,
        }
    }

    /// A channel to the server (TLS if the options say so), each call limited to `limit`.
    async fn connect(&self, limit: Duration) -> Result<tonic::transport::Channel, String> {
        let unable = |why: String| format!("Unable to connect to {}: {why}", self.addr);
        transport::endpoint(&self.addr, &self.opts)
            .map_err(|e| unable(e.to_string()))?
            .timeout(limit)
            .connect()
            .await
            .map_err(|e| unable(transport::describe_error(&self.addr, &self.opts, &e)))
    }

    /// A failed call, prefixed with `what`: the server's refusal as it gave it, or what broke
    /// the connection (and whether TLS is the likely reason).
    fn call_error(&self, what: &str, status: &tonic::Status) -> String {
        if std::error::Error::source(status).is_some() {
            format!(
                "{what}: {}",
                transport::describe_error(&self.addr, &self.opts, status)
            )
        } else {
            format!("{what}: {}: {}", status.code(), status.message())
        }
    }
}

/// `health [service]`: asks the first server of `servers` for its `grpc.health.v1` status of
/// `service` (`""`, the whole server, by default). Prints `SERVING`, `NOT_SERVING`, ... and exits
/// 0 only for SERVING: 1 for any other status, and 1 with the error on stderr when the server does
/// not answer within 3 s or does not know the service. An ensemble server is SERVING only while
/// it serves clients (it has a leader and is in sync); a standalone server always is. For
/// container health checks: `paddock-cli -server 127.0.0.1:7181 health`.
pub fn health(servers: &str, service: &str, tls: Option<&TlsOptions>) -> ExitCode {
    let server = match first_server(servers) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let rt = match current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let target = Target::new(&server, tls, HEALTH_TIMEOUT);
    let result = rt.block_on(async {
        let channel = target.connect(HEALTH_TIMEOUT).await?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map(|r| r.into_inner().status)
            .map_err(|s| target.call_error("health", &s))
    });
    match result {
        Ok(status) => {
            let name = ServingStatus::try_from(status)
                .map(|s| s.as_str_name())
                .unwrap_or("UNKNOWN");
            println!("{name}");
            if status == ServingStatus::Serving as i32 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Runs `word` against the first server of `servers`; prints the text, or the refusal on stderr.
pub fn run(servers: &str, word: &str, tls: Option<&TlsOptions>) -> ExitCode {
    let server = match first_server(servers) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let rt = match current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let target = Target::new(&server, tls, TIMEOUT);
    let result = rt.block_on(async {
        let channel = target.connect(TIMEOUT).await?;
        AdminClient::new(channel)
            .run_command(CommandRequest {
                command: word.to_string(),
            })
            .await
            .map(|r| r.into_inner().output)
            .map_err(|s| match std::error::Error::source(&s) {
                Some(_) => target.call_error(word, &s),
                None => format!("{word}: {}", s.message()),
            })
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
