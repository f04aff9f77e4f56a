//! Client options and the connect string.

use std::time::Duration;

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use crate::error::Error;
use crate::pool::SharedConnections;
use crate::tls::TlsOptions;

/// How a [`crate::Client`] connects and how long it waits.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The session timeout asked for; the server clamps it into its
    /// [minSessionTimeout, maxSessionTimeout] and the negotiated value is used from then on
    /// ([`crate::Client::session_timeout`]).
    pub session_timeout: Duration,
    /// The deadline of every call, from the moment it is made: past it the call fails with
    /// [`Error::Timeout`] (the request may still be executed by the server).
    pub request_timeout: Duration,
    /// How long one connection attempt (TCP + HTTP/2 + handshake) to one server may take.
    pub connect_timeout: Duration,
    /// Seed of the shuffle of the connect string's servers; `None` = random.
    pub seed: Option<u64>,
    /// Largest message accepted from or sent to the server, bytes (large data / getChildren).
    pub max_message_size: usize,
    /// TLS for every server of the connect string (`https://`), or `None`: plaintext. The
    /// files it names are read by [`crate::Client::connect`].
    pub tls: Option<TlsOptions>,
    /// Accept read-only sessions (ZooKeeper's `canBeReadOnly`): a server in read-only mode (cut
    /// off from its quorum, `readonlymode.enabled`) then takes the session instead of refusing
    /// it. While connected read-only the state is [`crate::SessionState::ConnectedReadOnly`],
    /// writes fail with NotReadOnly, and the client looks for a read-write server in the
    /// background (every 100 ms at first, backing off to 60 s) and moves there. Default false.
    pub can_be_read_only: bool,
    /// Follow the ensemble's configuration: the client watches `/zookeeper/config` and, whenever
    /// a reconfiguration changes it, makes the servers' client addresses (the `;host:port` of
    /// each `server.N` line; a wildcard host is replaced by the line's own host) its server list
    /// ([`crate::Client::update_server_list`]), so servers added later are used and removed ones
    /// left. Lines without a client address are skipped; a configuration without any changes
    /// nothing. Costs one getConfig and one data watch per session. Default false.
    pub follow_config: bool,
    /// Connections shared with the other sessions given a clone of the same handle (gRPC
    /// streams multiplexed on one HTTP/2 connection per server, see [`SharedConnections`]), or
    /// `None`: this session opens its own connection to each server it talks to. Default `None`.
    pub shared_connections: Option<SharedConnections>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            session_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            seed: None,
            max_message_size: 64 << 20,
            tls: None,
            can_be_read_only: false,
            follow_config: false,
            shared_connections: None,
        }
    }
}

impl ClientOptions {
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// Accepts read-only sessions (see [`ClientOptions::can_be_read_only`]).
    pub fn can_be_read_only(mut self, yes: bool) -> Self {
        self.can_be_read_only = yes;
        self
    }
    /// Follows `/zookeeper/config` (see [`ClientOptions::follow_config`]).
    pub fn follow_config(mut self, yes: bool) -> Self {
        self.follow_config = yes;
        self
    }
    /// Shares connections with the other sessions using `pool` (see
    /// [`ClientOptions::shared_connections`]).
    pub fn shared_connections(mut self, pool: SharedConnections) -> Self {
        self.shared_connections = Some(pool);
        self
    }
    /// Connects over TLS (see [`TlsOptions`]).
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// Parses `host:port[,host:port...]` (whitespace around entries allowed) into addresses.
pub fn parse_connect_string(s: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for entry in s.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "empty server in connect string {s:?}"
            )));
        }
        let Some((host, port)) = entry.rsplit_once(':') else {
            return Err(Error::InvalidArgument(format!(
                "server {entry:?} is not host:port"
            )));
        };
        let host_ok = !host.is_empty()
            && !host.contains('/')
            && !host.contains(char::is_whitespace)
            && (host.starts_with('[') == host.ends_with(']'));
        if !host_ok {
            return Err(Error::InvalidArgument(format!("bad host in {entry:?}")));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(Error::InvalidArgument(format!("bad port in {entry:?}"))),
        }
        out.push(entry.to_string());
    }
    Ok(out)
}

/// The servers in the order they are tried: shuffled with `seed` (or randomly).
pub(crate) fn shuffled(mut servers: Vec<String>, seed: Option<u64>) -> Vec<String> {
    let mut rng = match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    servers.shuffle(&mut rng);
    servers
}

/// The client addresses of a `/zookeeper/config` text, in id order: each `server.N` line's
/// `;[clientHost:]clientPort` suffix, a wildcard host (`0.0.0.0`, `::`, `[::]`) replaced by the
/// line's own host. Lines without a client address, and anything that is not a server line, are
/// skipped.
pub(crate) fn client_addresses(config: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in config.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        if !key.starts_with("server.") {
            continue;
        }
        let Some((quorum, client)) = value.split_once(';') else {
            continue;
        };
        // The line's own host: a bracketed IPv6 address keeps its brackets (and its colons).
        let quorum = quorum.trim();
        let host = match quorum.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((v6, _)) => &quorum[..v6.len() + 2],
                None => continue,
            },
            None => quorum.split(':').next().unwrap_or_default(),
        };
        let client = client.trim();
        let (chost, port) = match client.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => ("0.0.0.0", client),
        };
        if port.is_empty() || port.parse::<u16>().is_err() {
            continue;
        }
        let chost = match chost {
            "0.0.0.0" | "::" | "[::]" | "" => host,
            h => h,
        };
        if chost.is_empty() {
            continue;
        }
        out.push(format!("{chost}:{port}"));
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn client_addresses_of_a_configuration() {
        let config = "server.1=10.0.0.1:2888:3888:participant;0.0.0.0:7181\n\
                      server.2=10.0.0.2:2888:3888:participant;10.9.9.9:7182\n\
                      server.3=10.0.0.3:2888:3888:observer\n\
                      server.4=10.0.0.4:2888:3888:participant;7184\n\
                      server.5=10.0.0.5:2888:3888:participant;host:notaport\n\
                      version=100000004";
        assert_eq!(
            client_addresses(config),
            vec!["10.0.0.1:7181", "10.9.9.9:7182", "10.0.0.4:7184"]
        );
        assert!(client_addresses("").is_empty());
    }

    #[test]
    fn client_addresses_of_ipv6_lines() {
        let config = "server.1=[fe80::1]:2888:3888:participant;0.0.0.0:7181\n\
                      server.2=[fe80::2]:2888:3888:participant;[::]:7182\n\
                      server.3=[fe80::3]:2888:3888:participant;[fe80::9]:7183\n\
                      server.4=[fe80::4:2888:3888:participant;0.0.0.0:7184";
        assert_eq!(
            client_addresses(config),
            vec!["[fe80::1]:7181", "[fe80::2]:7182", "[fe80::9]:7183"]
        );
    }

    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse_connect_string("a:1, b:2").unwrap(),
            vec!["a:1".to_string(), "b:2".to_string()]
        );
        assert_eq!(
            parse_connect_string("[::1]:7181").unwrap(),
            vec!["[::1]:7181"]
        );
        for bad in [
            "",
            "a",
            "a:",
            ":1",
            "a:0",
            "a:99999",
            "a:1,,b:2",
            "a:x",
            "a b:1",
            "http://a:1",
        ] {
            assert!(
                matches!(parse_connect_string(bad), Err(Error::InvalidArgument(_))),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn shuffle_is_deterministic_with_a_seed() {
        let list: Vec<String> = (0..8).map(|i| format!("h{i}:1")).collect();
        let a = shuffled(list.clone(), Some(7));
        assert_eq!(a, shuffled(list.clone(), Some(7)));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, list);
    }
}
