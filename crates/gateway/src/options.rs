//! The gateway's limits and timeouts, each a named value (units last in names).

use std::time::Duration;

use paddock_types::Config;

use crate::GatewayError;

/// How the gateway serves. Plain data with sensible defaults; check it with
/// [`GatewayOptions::validate`] (done by [`crate::Gateway::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Largest `ClientMessage` accepted, bytes; larger ones end the stream with OUT_OF_RANGE
    /// before they are buffered further. Default 4 MiB: 1 MiB of znode data (`jute.maxbuffer`)
    /// with room for a multi of several writes and the envelope.
    pub max_message_bytes: usize,
    /// Open session streams per client IP (`maxClientCnxns`); 0 = unlimited. Extra streams are
    /// refused with RESOURCE_EXHAUSTED.
    pub max_connections_per_ip: u32,
    /// Requests of one stream read and not yet answered. At the limit the gateway stops reading
    /// the stream (HTTP/2 flow control then pushes back on the client) instead of failing
    /// requests. Same meaning as `maxInflightPerSession`.
    pub max_in_flight_per_stream: usize,
    /// Messages waiting to be taken by tonic for one client. While this many wait, the gateway
    /// reads no more of that client's requests (the response stream is only polled while the
    /// client reads, so a client that does not read stops the reading anyway).
    pub outbound_buffer_messages: usize,
    /// How long a new stream may take to send its ConnectRequest.
    pub handshake_timeout_ms: u64,
    /// How long an admin call or a health check may take before it ends with DEADLINE_EXCEEDED
    /// (`paddock-error-code` OperationTimeout). Not for session streams: ZooKeeper's requests
    /// have no server-side deadline, the client's session timeout covers them.
    pub unary_timeout_ms: u64,
    /// Admin calls (and, counted apart, health checks) running at once; one more is answered at
    /// once with RESOURCE_EXHAUSTED (`paddock-error-code` Throttled) instead of queued.
    pub max_unary_calls_in_flight: usize,
    /// HTTP/2 PING interval on idle connections, to find dead peers; 0 = off.
    pub http2_keepalive_interval_ms: u64,
    /// How long to wait for a PING ack before closing the connection.
    pub http2_keepalive_timeout_ms: u64,
    /// TCP keepalive idle time on accepted sockets; 0 = off.
    pub tcp_keepalive_ms: u64,
    /// Concurrent HTTP/2 streams per TCP connection: a client with a connection per session
    /// needs one, clients multiplexing sessions on shared connections (the Rust client's
    /// `SharedConnections`, at most 100 sessions per connection by default) one per session.
    /// A stream past the limit waits in the client until another ends.
    pub max_concurrent_streams_per_connection: u32,
    /// After shutdown is signalled, how long `serve` waits for connections to finish (session
    /// streams end at once; a health `Watch` never does) before returning anyway.
    pub shutdown_grace_ms: u64,
    /// TLS on the port (`None`: plaintext HTTP/2).
    pub tls: Option<paddock_tls::TlsOptions>,
    /// The subject of the client certificate that makes a connection the super user
    /// (`zookeeper.X509AuthenticationProvider.superUser`).
    pub x509_super_user: Option<String>,
    /// Threads that serve the port, each a single-threaded event loop that accepts connections
    /// from the port and serves the ones it accepted, so a connection's requests and answers
    /// never hop between threads (`servingThreads`). 0 = connections are served by the runtime
    /// `serve` runs on (the default).
    pub serving_threads: usize,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            max_message_bytes: 4 * 1024 * 1024,
            max_connections_per_ip: 60,
            max_in_flight_per_stream: 1000,
            outbound_buffer_messages: 256,
            handshake_timeout_ms: 10_000,
            unary_timeout_ms: 10_000,
            max_unary_calls_in_flight: 32,
            http2_keepalive_interval_ms: 30_000,
            http2_keepalive_timeout_ms: 10_000,
            tcp_keepalive_ms: 60_000,
            max_concurrent_streams_per_connection: 256,
            shutdown_grace_ms: 5_000,
            serving_threads: 0,
            tls: None,
            x509_super_user: None,
        }
    }
}

impl GatewayOptions {
    /// The options a node derives from zoo.cfg: `maxClientCnxns`, `maxInflightPerSession`, and a
    /// message limit of 4x `jute.maxbuffer` (room for a multi of several full-size writes).
    pub fn from_config(cfg: &Config) -> GatewayOptions {
        let data = usize::try_from(cfg.max_data_bytes).unwrap_or(usize::MAX);
        GatewayOptions {
            max_message_bytes: data.saturating_mul(4).max(64 * 1024),
            max_connections_per_ip: cfg.max_client_cnxns,
            max_in_flight_per_stream: usize::try_from(cfg.max_inflight_per_session)
                .unwrap_or(usize::MAX)
                .max(1),
            tls: cfg.ssl_key_store.as_ref().map(|key_store| {
                let mut tls =
                    paddock_tls::TlsOptions::new(key_store.clone(), cfg.ssl_trust_store.clone());
                if let Some(auth) = cfg
                    .ssl_client_auth
                    .as_deref()
                    .and_then(paddock_tls::ClientAuth::parse)
                {
                    tls.client_auth = auth;
                }
                tls
            }),
            x509_super_user: cfg.x509_super_user.clone(),
            serving_threads: cfg.serving_threads as usize,
            ..GatewayOptions::default()
        }
    }

    /// Checks every value; the error names the option.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let invalid = |name: &'static str, reason: &str| {
            Err(GatewayError::InvalidOption {
                name,
                reason: reason.to_string(),
            })
        };
        if self.max_message_bytes < 1024 {
            return invalid("max_message_bytes", "must be at least 1024");
        }
        if self.max_in_flight_per_stream == 0 {
            return invalid("max_in_flight_per_stream", "must be at least 1");
        }
        if self.outbound_buffer_messages < 2 {
            return invalid("outbound_buffer_messages", "must be at least 2");
        }
        if self.handshake_timeout_ms == 0 {
            return invalid("handshake_timeout_ms", "must be positive");
        }
        if self.unary_timeout_ms == 0 {
            return invalid("unary_timeout_ms", "must be positive");
        }
        if self.max_unary_calls_in_flight == 0 {
            return invalid("max_unary_calls_in_flight", "must be at least 1");
        }
        if self.http2_keepalive_interval_ms > 0 && self.http2_keepalive_timeout_ms == 0 {
            return invalid(
                "http2_keepalive_timeout_ms",
                "must be positive when keepalive is on",
            );
        }
        if self.max_concurrent_streams_per_connection == 0 {
            return invalid(
                "max_concurrent_streams_per_connection",
                "must be at least 1",
            );
        }
        if self.serving_threads > 1024 {
            return invalid("serving_threads", "must be at most 1024");
        }
        Ok(())
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    pub(crate) fn unary_timeout(&self) -> Duration {
        Duration::from_millis(self.unary_timeout_ms)
    }

    pub(crate) fn http2_keepalive(&self) -> (Option<Duration>, Option<Duration>) {
        match self.http2_keepalive_interval_ms {
            0 => (None, None),
            ms => (
                Some(Duration::from_millis(ms)),
                Some(Duration::from_millis(self.http2_keepalive_timeout_ms)),
            ),
        }
    }

    pub(crate) fn tcp_keepalive(&self) -> Option<Duration> {
        (self.tcp_keepalive_ms > 0).then(|| Duration::from_millis(self.tcp_keepalive_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(GatewayOptions::default().validate().ok(), Some(()));
    }

    #[test]
    fn from_config_follows_zoo_cfg() {
        let cfg = Config {
            max_client_cnxns: 7,
            max_data_bytes: 1 << 20,
            max_inflight_per_session: 50,
            ..Config::default()
        };
        let o = GatewayOptions::from_config(&cfg);
        assert_eq!(o.max_connections_per_ip, 7);
        assert_eq!(o.max_message_bytes, 4 << 20);
        assert_eq!(o.max_in_flight_per_stream, 50);
        assert!(o.validate().is_ok());
    }

    #[test]
    fn serving_threads_follow_zoo_cfg() {
        let cfg = Config {
            serving_threads: 3,
            ..Config::default()
        };
        assert_eq!(GatewayOptions::from_config(&cfg).serving_threads, 3);
        let o = GatewayOptions {
            serving_threads: 1025,
            ..GatewayOptions::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn invalid_values_name_the_option() {
        let o = GatewayOptions {
            outbound_buffer_messages: 1,
            ..GatewayOptions::default()
        };
        let err = o.validate().expect_err("too small");
        assert!(
            err.to_string().contains("outbound_buffer_messages"),
            "{err}"
        );
    }
}
