//! ZooKeeper's four-letter words (`paddock-cli -server host:port srvr`): one call to
//! `paddock.v1.Admin/RunCommand`, whose output is printed unchanged (ZooKeeper's exact text); and
//! `health`: one `grpc.health.v1.Health/Check` call.

use std::process::ExitCode;
use std::time::Duration;

use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::CommandRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The admin words the CLI runs without opening a session.
pub const WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "envi", "isro",
];

const TIMEOUT: Duration = Duration::from_secs(10);
/// The health check's limit (connect and call each): short, as container health checks run often.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// The first server of a `-server` list (`host:port,...`, checked as the session commands check
/// it), or a URL (`http://host:port`) taken as it is.
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

/// An error with its sources: tonic's transport error alone says only "transport error".
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn current_thread_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start the runtime: {e}");
            ExitCode::from(1)
        })
}

async fn connect(server: &str, limit: Duration) -> Result<tonic::transport::Channel, String> {
    let url = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    tonic::transport::Endpoint::from_shared(url)
        .map_err(|e| format!("bad server address {server}: {e}"))?
        .connect_timeout(limit)
        .timeout(limit)
        .connect()
        .await
        .map_err(|e| format!("Unable to connect to {server}: {}", with_sources(&e)))
}

/// `health [service]`: asks the first server of `servers` for its `grpc.health.v1` status of
/// `service` (`""`, the whole server, by default). Prints `SERVING`, `NOT_SERVING`, ... and exits
/// 0 only for SERVING: 1 for any other status, and 1 with the error on stderr when the server does
/// not answer within 3 s or does not know the service. An ensemble server is SERVING only while
/// it serves clients (it has a leader and is in sync); a standalone server always is. For
/// container health checks: `paddock-cli -server 127.0.0.1:7181 health`.
pub fn health(servers: &str, service: &str) -> ExitCode {
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
    let result = rt.block_on(async {
        let channel = connect(&server, HEALTH_TIMEOUT).await?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .map(|r| r.into_inner().status)
            .map_err(|s| format!("health: {}: {}", s.code(), s.message()))
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
pub fn run(servers: &str, word: &str) -> ExitCode {
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
    let result = rt.block_on(async {
        let channel = connect(&server, TIMEOUT).await?;
        AdminClient::new(channel)
            .run_command(CommandRequest {
                command: word.to_string(),
            })
            .await
            .map(|r| r.into_inner().output)
            .map_err(|s| format!("{word}: {}", s.message()))
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
