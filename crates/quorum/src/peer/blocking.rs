//! Where the peer's blocking storage work runs, so that the role loop never fsyncs or reads a
//! file on a runtime thread: epoch writes, truncations, snapshot installation and
//! serialisation, reading the log back (catch-up, a leader's history, a rebuild), the
//! recovery of a failed log. (Log appends and syncs have a thread of their own: the log
//! writer.) The loop awaits the work: what depends on it — an epoch or a log being durable —
//! is only sent after it returned.
//!
//! [`WriterMode::Thread`] (servers): tokio's blocking pool. [`WriterMode::Inline`]
//! (deterministic simulations on a paused clock): the work runs in place, on the one runtime
//! thread, so the interleaving of a seed is the same on every run (work on another thread would
//! finish at a moment the scheduler does not control).

use super::WriterMode;

/// Runs blocking work as [`WriterMode`] says. Copy: a future awaiting it holds no borrow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Blocking(pub WriterMode);

/// Blocking work that did not come back (it panicked, or the runtime is shutting down).
#[derive(Debug)]
pub(crate) struct Lost(pub String);

impl Blocking {
    /// Runs `f` off the runtime's threads (or in place, inline) and returns its result.
    pub(crate) async fn run<R, F>(self, f: F) -> Result<R, Lost>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        match self.0 {
            WriterMode::Inline => Ok(f()),
            WriterMode::Thread => tokio::task::spawn_blocking(f)
                .await
                .map_err(|e| Lost(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inline_work_runs_on_the_calling_thread_and_pooled_work_elsewhere() {
        let here = std::thread::current().id();
        let inline = Blocking(WriterMode::Inline);
        let pooled = Blocking(WriterMode::Thread);
        let ran_inline = inline.run(|| std::thread::current().id()).await;
        let ran_pooled = pooled.run(|| std::thread::current().id()).await;
        assert_eq!(ran_inline.ok(), Some(here));
        assert!(ran_pooled.is_ok_and(|id| id != here));
    }

    #[tokio::test]
    async fn work_that_panics_is_lost_not_fatal_to_the_caller() {
        let r = Blocking(WriterMode::Thread)
            .run(|| panic!("a bug in the state machine"))
            .await;
        let lost: Result<(), Lost> = r;
        assert!(lost.is_err());
    }
}
