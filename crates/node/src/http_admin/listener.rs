//! The admin listener's limits: at most [`MAX_CONNECTIONS`] connections at once (the next one
//! waits in the kernel's backlog until one closes), and a connection on which nothing moves for
//! [`IDLE_TIMEOUT`] is closed (a stalled client or an idle keep-alive cannot hold a slot).
//!
//! With `admin.forceHttps` every connection is TLS ([`Limited::https`]): each accepted socket
//! is handshaken in a task of its own (bounded by the TLS options' handshake timeout), so a
//! client that connects and sends nothing delays no one else; a failed handshake (a plain HTTP
//! client, an untrusted certificate) is logged and the socket closed. The connection's
//! [`PeerInfo`] carries the `x509` id of a verified client certificate for the commands that
//! check permissions (`snapshot`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use paddock_tls::TlsState;
use paddock_types::Id;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection with no bytes read or written for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP listener that hands out at most [`MAX_CONNECTIONS`] connections at once, plain or
/// (after their handshake) TLS.
pub struct Limited {
    addr: io::Result<SocketAddr>,
    source: Source,
}

enum Source {
    Plain {
        inner: TcpListener,
        permits: Arc<Semaphore>,
    },
    /// Handshaken connections from the accept task; it ends with this listener (the task is
    /// aborted, the certificate reload loop sees its stop sender dropped).
    Tls {
        ready: mpsc::Receiver<(Conn, SocketAddr)>,
        task: JoinHandle<()>,
        _stop_reload: watch::Sender<bool>,
    },
}

/// What a handler learns about its connection (`ConnectInfo<PeerInfo>`).
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// `x509:<subject>` of a verified client certificate, and the super user's id when that
    /// subject is `zookeeper.X509AuthenticationProvider.superUser`; empty over plain HTTP.
    pub tls_ids: Vec<Id>,
}

impl Limited {
    /// Plain HTTP.
    pub fn new(inner: TcpListener) -> Limited {
        Limited {
            addr: inner.local_addr(),
            source: Source::Plain {
                inner,
                permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            },
        }
    }

    /// HTTPS only: every connection handshakes with `tls` (reloaded when its files change);
    /// `x509_super_user` is the subject that makes a client the super user.
    pub fn https(inner: TcpListener, tls: TlsState, x509_super_user: Option<String>) -> Limited {
        let addr = inner.local_addr();
        let (stop_reload, stopped) = watch::channel(false);
        tokio::spawn(tls.clone().reload_loop(stopped));
        let (tx, ready) = mpsc::channel(MAX_CONNECTIONS);
        let task = tokio::spawn(accept_tls(inner, tls, x509_super_user, tx));
        Limited {
            addr,
            source: Source::Tls {
                ready,
                task,
                _stop_reload: stop_reload,
            },
        }
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        if let Source::Tls { task, .. } = &self.source {
            task.abort();
        }
    }
}

/// A slot, waited for (the semaphore is never closed: acquiring only waits).
async fn slot(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    loop {
        if let Ok(p) = Arc::clone(permits).acquire_owned().await {
            return p;
        }
    }
}

/// The TLS accept loop: a slot, a socket, a handshake task; ready connections go to `tx`.
async fn accept_tls(
    mut inner: TcpListener,
    tls: TlsState,
    x509_super_user: Option<String>,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let x509_super_user: Arc<Option<String>> = Arc::new(x509_super_user);
    loop {
        let permit = slot(&permits).await;
        let (tcp, addr) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut inner) => accepted,
            () = tx.closed() => return,
        };
        let acceptor = tls.acceptor_without_alpn();
        let limit = tls.handshake_timeout();
        let tx = tx.clone();
        let super_user = Arc::clone(&x509_super_user);
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(limit, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(
                        peer = %addr,
                        error = %paddock_tls::diagnose::explain_accept_error(&e, false),
                        "admin server: TLS handshake failed"
                    );
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %addr, "admin server: TLS handshake timed out");
                    return;
                }
            };
            let tls_ids = client_ids(&stream, super_user.as_deref());
            let conn = Conn::new(Io::Tls(Box::new(stream)), addr, tls_ids, permit);
            let _ = tx.send((conn, addr)).await;
        });
    }
}

/// The ids a verified client certificate proves (see [`PeerInfo::tls_ids`]).
fn client_ids(stream: &TlsStream<TcpStream>, x509_super_user: Option<&str>) -> Vec<Id> {
    let (_, session) = stream.get_ref();
    let Some(x509) = session
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| paddock_tls::x509_id(c.as_ref()))
    else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    if x509_super_user == Some(x509.id.as_str()) {
        ids.push(Id::super_user());
    }
    ids.push(x509);
    ids
}

impl axum::serve::Listener for Limited {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match &mut self.source {
            Source::Plain { inner, permits } => {
                let permit = slot(permits).await;
                let (io, addr) = axum::serve::Listener::accept(inner).await;
                (Conn::new(Io::Plain(io), addr, Vec::new(), permit), addr)
            }
            Source::Tls { ready, .. } => match ready.recv().await {
                Some(c) => c,
                // The accept task is gone (it never ends while this listener lives).
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.addr {
            Ok(a) => Ok(*a),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Limited>> for PeerInfo {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Limited>) -> PeerInfo {
        stream.io().peer.clone()
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection: its slot is freed when it is dropped; idle too long, its reads and
/// writes fail with `TimedOut` (hyper then closes it).
pub struct Conn {
    io: Io,
    peer: PeerInfo,
    idle: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    fn new(io: Io, addr: SocketAddr, tls_ids: Vec<Id>, permit: OwnedSemaphorePermit) -> Conn {
        Conn {
            io,
            peer: PeerInfo { addr, tls_ids },
            idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            _permit: permit,
        }
    }

    /// `poll` made progress: the idle clock starts again. Pending: has it run out?
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.idle.as_mut().reset(Instant::now() + IDLE_TIMEOUT);
                Poll::Ready(r)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        self.watch(cx, poll)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        };
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;
    use tokio::io::AsyncReadExt;

    async fn limited() -> (Limited, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        (Limited::new(l), addr)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_idle_timeout() {
        let (mut l, addr) = limited().await;
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (mut conn, _) = l.accept().await;
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let e = conn.read(&mut buf).await.expect_err("nothing was sent");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= IDLE_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn connections_beyond_the_limit_wait_for_a_free_slot() {
        let (mut l, addr) = limited().await;
        let mut clients = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            clients.push(TcpStream::connect(addr).await.expect("connect"));
            conns.push(l.accept().await.0);
        }
        clients.push(
            TcpStream::connect(addr)
                .await
                .expect("the kernel queues it"),
        );
        assert!(
            tokio::time::timeout(Duration::from_secs(1), l.accept())
                .await
                .is_err(),
            "no slot while {MAX_CONNECTIONS} are open"
        );
        conns.pop();
        tokio::time::timeout(Duration::from_secs(1), l.accept())
            .await
            .expect("a slot freed");
    }
}
