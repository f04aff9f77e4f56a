//! Serving a client port on threads of its own (zoo.cfg `servingThreads`), shared by both
//! gateways: each thread is a current-thread tokio runtime that accepts from a handle of the
//! port's one listening socket and serves the connections it accepted, so a connection's tasks
//! never hop between threads.

use std::future::Future;
use std::io;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Starts `n` threads named `{name}-{i}`, each running `serve` on its own current-thread
/// runtime with its own handle of `listener`. A thread's receiver gets what `serve` returned,
/// or the error that kept it from running (no runtime, an unusable socket handle); a thread's
/// runtime is dropped, with every task `serve` left, before it reports. An error starting
/// thread `i` returns at once: threads already started keep running until `serve` ends.
pub fn spawn_serving_threads<F, Fut, T>(
    name: &str,
    listener: &std::net::TcpListener,
    n: usize,
    serve: F,
) -> io::Result<Vec<oneshot::Receiver<io::Result<T>>>>
where
    F: FnOnce(TcpListener) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let mut done = Vec::with_capacity(n);
    for i in 0..n {
        let handle = listener.try_clone()?;
        let serve = serve.clone();
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|rt| {
                        rt.block_on(async move {
                            let listener = TcpListener::from_std(handle)?;
                            Ok(serve(listener).await)
                        })
                    });
                let _ = tx.send(served);
            })?;
        done.push(rx);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_serves_the_port_and_reports() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let done =
            spawn_serving_threads("test-serving", &listener, 2, |l: TcpListener| async move {
                let (_conn, _) = l.accept().await.expect("accept");
                std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string()
            })
            .expect("threads start");
        drop(listener);
        let _a = std::net::TcpStream::connect(addr).expect("connect");
        let _b = std::net::TcpStream::connect(addr).expect("connect");
        let mut names: Vec<String> = done
            .into_iter()
            .map(|rx| rx.blocking_recv().expect("reported").expect("served"))
            .collect();
        names.sort();
        assert_eq!(names, ["test-serving-0", "test-serving-1"]);
    }
}
