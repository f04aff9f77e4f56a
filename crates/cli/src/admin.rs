//! ZooKeeper's four-letter words (`paddock-cli -server host:port srvr`): one call to
//! `paddock.v1.Admin/RunCommand`, whose output is printed unchanged (ZooKeeper's exact text).

use std::process::ExitCode;
use std::time::Duration;

use paddock_proto::v1::admin_client::AdminClient;
use paddock_proto::v1::CommandRequest;

/// The admin words the CLI runs without opening a session.
pub const WORDS: &[&str] = &[
    "ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "envi", "isro",
];

const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `word` against the first server of `servers`; prints the text, or the refusal on stderr.
pub fn run(servers: &str, word: &str) -> ExitCode {
    let server = servers
        .split(',')
        .next()
        .unwrap_or(servers)
        .trim()
        .to_string();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let url = if server.contains("://") {
            server.clone()
        } else {
            format!("http://{server}")
        };
        let endpoint = tonic::transport::Endpoint::from_shared(url)
            .map_err(|e| format!("bad server address {server}: {e}"))?
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("Unable to connect to {server}: {e}"))?;
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
