//! [`TxnSink`]: where the processor's transactions go to be ordered and committed — the quorum
//! peer, of an ensemble of several servers or of one (a standalone server).

use bytes::Bytes;

/// The way to the ensemble.
pub trait TxnSink: Send + Sync + 'static {
    /// Queues an encoded [`paddock_types::Txn`] (header zxid 0: the leader assigns it). Fire and
    /// forget, FIFO: transactions submitted one after the other commit in that order or not at
    /// all. The outcome arrives through [`crate::Processor::apply_committed`]. `false` if the
    /// ensemble side is gone.
    fn submit(&self, txn: Bytes) -> bool;

    /// Whether the ensemble side may serve clients at this instant. A leader does only while
    /// its lease holds (it heard from a quorum of voters within syncLimit); a paused or cut-off
    /// leader says `false` here before its role loop notices anything. Asked when a session
    /// connects (new or resumed): `false` refuses it with ConnectionLoss. Default: `true`.
    fn may_serve(&self) -> bool {
        true
    }
}
