//! The admin listener's limits: at most [`MAX_CONNECTIONS`] connections at once (the next one
//! waits in the kernel's backlog until one closes), and a connection on which nothing moves for
//! [`IDLE_TIMEOUT`] is closed (a stalled client or an idle keep-alive cannot hold a slot).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection with no bytes read or written for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A TCP listener that hands out at most [`MAX_CONNECTIONS`] connections at once.
pub struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl Limited {
    pub fn new(inner: TcpListener) -> Limited {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // The semaphore is never closed: acquiring only waits.
        let permit = loop {
            if let Ok(p) = Arc::clone(&self.permits).acquire_owned().await {
                break p;
            }
        };
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let conn = Conn {
            io,
            idle: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            _permit: permit,
        };
        (conn, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: its slot is freed when it is dropped; idle too long, its reads and
/// writes fail with `TimedOut` (hyper then closes it).
pub struct Conn {
    io: TcpStream,
    idle: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
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
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
