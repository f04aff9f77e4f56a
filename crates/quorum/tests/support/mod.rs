//! Helpers shared by the conversation tests.
#![allow(dead_code)]

use bytes::Bytes;
use paddock_quorum::{Command, Membership, PeerMessage, ZabConfig};
use paddock_types::{Epoch, ServerId, Zxid};

pub fn s(id: u64) -> ServerId {
    ServerId(id)
}

pub fn z(epoch: u32, counter: u32) -> Zxid {
    Zxid::new(Epoch(epoch), counter)
}

pub fn members(n: u64) -> Membership {
    Membership::new((1..=n).map(ServerId), []).expect("voters")
}

pub fn config() -> ZabConfig {
    ZabConfig {
        sync_limit_ticks: 2,
        init_limit_ticks: 3,
        committed_log_capacity: 500,
    }
}

/// A command as the wire sees it: durable acks unwrapped so tests can compare them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Cmd(Command),
    /// A `SendAck` (only ever built after durability).
    Ack(ServerId, PeerMessage),
}

pub fn outs(commands: Vec<Command>) -> Vec<Out> {
    commands
        .into_iter()
        .map(|c| match c {
            Command::SendAck { to, ack } => Out::Ack(to, ack.into_message()),
            other => Out::Cmd(other),
        })
        .collect()
}

pub fn send(to: u64, msg: PeerMessage) -> Out {
    Out::Cmd(Command::Send {
        to: ServerId(to),
        msg,
    })
}

pub fn ack(to: u64, msg: PeerMessage) -> Out {
    Out::Ack(ServerId(to), msg)
}

pub fn cmd(c: Command) -> Out {
    Out::Cmd(c)
}

/// The snapshot format of the tests' toy state machines: per applied entry its zxid, the payload
/// length and the payload.
pub fn encode_entries(entries: &[(Zxid, Bytes)]) -> Bytes {
    let mut out = Vec::new();
    for (z, d) in entries {
        out.extend_from_slice(&z.to_be_bytes());
        out.extend_from_slice(&(d.len() as u32).to_be_bytes());
        out.extend_from_slice(d);
    }
    out.into()
}

/// Reads what [`encode_entries`] wrote.
pub fn decode_entries(data: &[u8]) -> Vec<(Zxid, Bytes)> {
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let z = Zxid::from_be_bytes(rest[..8].try_into().unwrap());
        let len = u32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        entries.push((z, Bytes::copy_from_slice(&rest[12..12 + len])));
        rest = &rest[12 + len..];
    }
    entries
}
