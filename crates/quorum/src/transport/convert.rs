//! [`PeerMessage`] <-> `paddock.v1.PeerFrame` (proto/paddock/v1/quorum.proto), one variant to
//! one frame kind. The hello frame is not a `PeerMessage`: [`hello`] builds it and
//! [`from_frame`] refuses it.

use crate::messages::PeerMessage;
use paddock_proto::v1::peer_frame::{self, Kind};
use paddock_proto::v1::PeerFrame;
use paddock_types::{Epoch, ServerId, SessionId, Zxid};
use thiserror::Error;

/// A frame that is not a valid [`PeerMessage`].
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConvertError {
    /// The frame carries no `kind` (garbage, or a kind from a newer protocol).
    #[error("frame without a kind")]
    Empty,
    /// A hello after the first frame.
    #[error("unexpected hello after the first frame")]
    UnexpectedHello,
    /// A refusal after the first frame (it only ever answers a first frame).
    #[error("unexpected refusal after the first frame")]
    UnexpectedRefusal,
    /// A batch inside a batch.
    #[error("a batch frame may not contain another batch")]
    UnexpectedBatch,
}

/// The first frame of a stream: `me` speaking `protocol_version`.
pub fn hello(me: ServerId, protocol_version: u32, server_list: &str) -> PeerFrame {
    PeerFrame {
        kind: Some(Kind::Hello(peer_frame::Hello {
            server_id: me.0,
            protocol_version,
            server_list: server_list.to_string(),
        })),
    }
}

/// Frames carrying `messages` in order: consecutive messages share a batch frame until it holds
/// about `max_batch_bytes` (a single message travels as itself, however large), so a DIFF of
/// big transactions does not become one giant frame.
pub fn to_batch_frames(messages: Vec<PeerMessage>, max_batch_bytes: usize) -> Vec<PeerFrame> {
    let mut out = Vec::new();
    let mut group: Vec<PeerFrame> = Vec::new();
    let mut size = 0;
    let close = |group: &mut Vec<PeerFrame>, out: &mut Vec<PeerFrame>| match group.len() {
        0 => {}
        1 => out.append(group),
        _ => out.push(PeerFrame {
            kind: Some(Kind::Batch(peer_frame::Batch {
                frames: std::mem::take(group),
            })),
        }),
    };
    for m in messages {
        let len = approx_len(&m);
        let frame = to_frame(m);
        if !group.is_empty() && size + len > max_batch_bytes {
            close(&mut group, &mut out);
            size = 0;
        }
        size += len;
        group.push(frame);
    }
    close(&mut group, &mut out);
    out
}

/// About how many bytes `m` takes on the wire (its payload plus a small fixed overhead).
fn approx_len(m: &PeerMessage) -> usize {
    const OVERHEAD: usize = 32;
    OVERHEAD
        + match m {
            PeerMessage::Snap { data, .. }
            | PeerMessage::Txn { data, .. }
            | PeerMessage::Proposal { data, .. }
            | PeerMessage::Inform { data, .. }
            | PeerMessage::Forward { data } => data.len(),
            PeerMessage::Touch { sessions } => sessions.len() * 10,
            _ => 0,
        }
}

/// The messages of a frame: one, or every message of a batch, in order.
pub fn from_frame_batch(frame: PeerFrame) -> Result<Vec<PeerMessage>, ConvertError> {
    match frame.kind {
        Some(Kind::Batch(b)) => b.frames.into_iter().map(from_frame).collect(),
        _ => from_frame(frame).map(|m| vec![m]),
    }
}

/// The frame carrying `message`.
pub fn to_frame(message: PeerMessage) -> PeerFrame {
    use peer_frame as f;
    let kind = match message {
        PeerMessage::FollowerInfo {
            accepted_epoch,
            last_zxid,
            protocol_version,
            snapshot_zxid,
        } => Kind::FollowerInfo(f::FollowerInfo {
            accepted_epoch: accepted_epoch.0,
            last_zxid: last_zxid.0,
            protocol_version,
            snapshot_zxid: snapshot_zxid.0,
        }),
        PeerMessage::ObserverInfo {
            accepted_epoch,
            last_zxid,
            protocol_version,
            snapshot_zxid,
        } => Kind::ObserverInfo(f::ObserverInfo {
            accepted_epoch: accepted_epoch.0,
            last_zxid: last_zxid.0,
            protocol_version,
            snapshot_zxid: snapshot_zxid.0,
        }),
        PeerMessage::LeaderInfo {
            new_epoch,
            protocol_version,
        } => Kind::LeaderInfo(f::LeaderInfo {
            new_epoch: new_epoch.0,
            protocol_version,
        }),
        PeerMessage::AckEpoch {
            current_epoch,
            last_zxid,
        } => Kind::AckEpoch(f::AckEpoch {
            current_epoch: current_epoch.0,
            last_zxid: last_zxid.0,
        }),
        PeerMessage::Diff { last_zxid } => Kind::Diff(f::Diff {
            last_zxid: last_zxid.0,
        }),
        PeerMessage::Trunc { zxid } => Kind::Trunc(f::Trunc { zxid: zxid.0 }),
        PeerMessage::Snap { zxid, data } => Kind::Snap(f::Snap { zxid: zxid.0, data }),
        PeerMessage::Txn { zxid, data } => Kind::Txn(f::Txn { zxid: zxid.0, data }),
        PeerMessage::NewLeader { zxid } => Kind::NewLeader(f::NewLeader { zxid: zxid.0 }),
        PeerMessage::AckNewLeader { zxid } => Kind::AckNewLeader(f::AckNewLeader { zxid: zxid.0 }),
        PeerMessage::UpToDate => Kind::UpToDate(f::UpToDate {}),
        PeerMessage::Proposal { zxid, data } => Kind::Proposal(f::Proposal { zxid: zxid.0, data }),
        PeerMessage::Ack { zxid } => Kind::Ack(f::Ack { zxid: zxid.0 }),
        PeerMessage::Commit { zxid } => Kind::Commit(f::Commit { zxid: zxid.0 }),
        PeerMessage::Inform { zxid, data } => Kind::Inform(f::Inform { zxid: zxid.0, data }),
        PeerMessage::Ping => Kind::Ping(f::Ping {}),
        PeerMessage::PingReply => Kind::PingReply(f::PingReply {}),
        PeerMessage::Forward { data } => Kind::Forward(f::Forward { data }),
        PeerMessage::Touch { sessions } => Kind::Touch(f::Touch {
            sessions: sessions.into_iter().map(|s| s.0).collect(),
        }),
    };
    PeerFrame { kind: Some(kind) }
}

/// The [`PeerMessage`] a (non-hello) frame carries.
pub fn from_frame(frame: PeerFrame) -> Result<PeerMessage, ConvertError> {
    Ok(match frame.kind.ok_or(ConvertError::Empty)? {
        Kind::Hello(_) => return Err(ConvertError::UnexpectedHello),
        Kind::Batch(_) => return Err(ConvertError::UnexpectedBatch),
        Kind::Refusal(_) => return Err(ConvertError::UnexpectedRefusal),
        Kind::FollowerInfo(m) => PeerMessage::FollowerInfo {
            accepted_epoch: Epoch(m.accepted_epoch),
            last_zxid: Zxid(m.last_zxid),
            protocol_version: m.protocol_version,
            snapshot_zxid: Zxid(m.snapshot_zxid),
        },
        Kind::ObserverInfo(m) => PeerMessage::ObserverInfo {
            accepted_epoch: Epoch(m.accepted_epoch),
            last_zxid: Zxid(m.last_zxid),
            protocol_version: m.protocol_version,
            snapshot_zxid: Zxid(m.snapshot_zxid),
        },
        Kind::LeaderInfo(m) => PeerMessage::LeaderInfo {
            new_epoch: Epoch(m.new_epoch),
            protocol_version: m.protocol_version,
        },
        Kind::AckEpoch(m) => PeerMessage::AckEpoch {
            current_epoch: Epoch(m.current_epoch),
            last_zxid: Zxid(m.last_zxid),
        },
        Kind::Diff(m) => PeerMessage::Diff {
            last_zxid: Zxid(m.last_zxid),
        },
        Kind::Trunc(m) => PeerMessage::Trunc { zxid: Zxid(m.zxid) },
        Kind::Snap(m) => PeerMessage::Snap {
            zxid: Zxid(m.zxid),
            data: m.data,
        },
        Kind::Txn(m) => PeerMessage::Txn {
            zxid: Zxid(m.zxid),
            data: m.data,
        },
        Kind::NewLeader(m) => PeerMessage::NewLeader { zxid: Zxid(m.zxid) },
        Kind::AckNewLeader(m) => PeerMessage::AckNewLeader { zxid: Zxid(m.zxid) },
        Kind::UpToDate(_) => PeerMessage::UpToDate,
        Kind::Proposal(m) => PeerMessage::Proposal {
            zxid: Zxid(m.zxid),
            data: m.data,
        },
        Kind::Ack(m) => PeerMessage::Ack { zxid: Zxid(m.zxid) },
        Kind::Commit(m) => PeerMessage::Commit { zxid: Zxid(m.zxid) },
        Kind::Inform(m) => PeerMessage::Inform {
            zxid: Zxid(m.zxid),
            data: m.data,
        },
        Kind::Ping(_) => PeerMessage::Ping,
        Kind::PingReply(_) => PeerMessage::PingReply,
        Kind::Forward(m) => PeerMessage::Forward { data: m.data },
        Kind::Touch(m) => PeerMessage::Touch {
            sessions: m.sessions.into_iter().map(SessionId).collect(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PROTOCOL_VERSION;
    use bytes::Bytes;
    use prost::Message;

    /// Encodes and decodes through the protobuf wire format, as the network does.
    fn through_wire(frame: &PeerFrame) -> PeerFrame {
        PeerFrame::decode(frame.encode_to_vec().as_slice()).unwrap()
    }

    fn every_variant() -> Vec<PeerMessage> {
        let z = Zxid::new(Epoch(7), 42);
        let d = Bytes::from_static(b"\x00txn\xff");
        vec![
            PeerMessage::FollowerInfo {
                accepted_epoch: Epoch(3),
                last_zxid: z,
                protocol_version: PROTOCOL_VERSION,
                snapshot_zxid: Zxid::new(Epoch(6), 9),
            },
            PeerMessage::ObserverInfo {
                accepted_epoch: Epoch(u32::MAX),
                last_zxid: Zxid(u64::MAX),
                protocol_version: 9,
                snapshot_zxid: Zxid(u64::MAX),
            },
            PeerMessage::LeaderInfo {
                new_epoch: Epoch(8),
                protocol_version: PROTOCOL_VERSION,
            },
            PeerMessage::AckEpoch {
                current_epoch: Epoch(7),
                last_zxid: z,
            },
            PeerMessage::Diff { last_zxid: z },
            PeerMessage::Trunc { zxid: Zxid::ZERO },
            PeerMessage::Snap {
                zxid: z,
                data: Bytes::from(vec![1u8; 100_000]),
            },
            PeerMessage::Txn {
                zxid: z,
                data: d.clone(),
            },
            PeerMessage::NewLeader {
                zxid: Zxid::new(Epoch(8), 0),
            },
            PeerMessage::AckNewLeader {
                zxid: Zxid::new(Epoch(8), 0),
            },
            PeerMessage::UpToDate,
            PeerMessage::Proposal {
                zxid: z,
                data: d.clone(),
            },
            PeerMessage::Ack { zxid: z },
            PeerMessage::Commit { zxid: z },
            PeerMessage::Inform {
                zxid: z,
                data: Bytes::new(),
            },
            PeerMessage::Ping,
            PeerMessage::PingReply,
            PeerMessage::Forward { data: d.clone() },
            PeerMessage::Touch {
                sessions: vec![SessionId(1), SessionId(-1), SessionId(i64::MAX)],
            },
        ]
    }

    #[test]
    fn every_variant_round_trips_through_the_wire() {
        let all = every_variant();
        // One of each variant of the enum (19): a new variant must be added here.
        assert_eq!(all.len(), 19);
        let mut tags = std::collections::HashSet::new();
        for m in all {
            let frame = to_frame(m.clone());
            let wire = through_wire(&frame);
            assert_eq!(wire, frame);
            tags.insert(std::mem::discriminant(wire.kind.as_ref().unwrap()));
            assert_eq!(from_frame(wire), Ok(m));
        }
        assert_eq!(tags.len(), 19, "each variant has its own frame kind");
    }

    #[test]
    fn forward_and_touch_round_trip_even_when_empty() {
        let cases = [
            PeerMessage::Forward { data: Bytes::new() },
            PeerMessage::Forward {
                data: Bytes::from(vec![0xabu8; 70_000]),
            },
            PeerMessage::Touch { sessions: vec![] },
            PeerMessage::Touch {
                sessions: (0..1000).map(|i| SessionId(i64::MIN + i)).collect(),
            },
        ];
        for m in cases {
            let wire = through_wire(&to_frame(m.clone()));
            assert!(
                matches!(wire.kind, Some(Kind::Forward(_) | Kind::Touch(_))),
                "an empty payload still names its kind: {m:?}"
            );
            assert_eq!(from_frame(wire), Ok(m));
        }
    }

    #[test]
    fn hello_and_empty_frames_are_not_messages() {
        assert_eq!(
            from_frame(hello(ServerId(1), PROTOCOL_VERSION, "")),
            Err(ConvertError::UnexpectedHello)
        );
        assert_eq!(
            from_frame(PeerFrame { kind: None }),
            Err(ConvertError::Empty)
        );
        // Unknown fields / garbage bytes that still parse as a message decode to an empty frame.
        let garbage = PeerFrame::decode(&[0xf8u8, 0x07, 0x01][..]).unwrap();
        assert_eq!(from_frame(garbage), Err(ConvertError::Empty));
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use bytes::Bytes;

    /// Everything in one frame (no size bound).
    fn to_batch_frame(messages: Vec<PeerMessage>) -> PeerFrame {
        let mut frames = to_batch_frames(messages, usize::MAX);
        assert_eq!(frames.len(), 1);
        frames.pop().expect("one frame")
    }

    #[test]
    fn a_batch_carries_its_messages_in_order_and_one_message_travels_alone() {
        let messages: Vec<PeerMessage> = (1..=5u64)
            .map(|i| PeerMessage::Forward {
                data: Bytes::from(vec![i as u8; i as usize]),
            })
            .collect();
        let frame = to_batch_frame(messages.clone());
        assert!(matches!(frame.kind, Some(Kind::Batch(_))));
        assert_eq!(from_frame_batch(frame).expect("decodes"), messages);
        let one = to_batch_frame(vec![messages[0].clone()]);
        assert!(
            matches!(one.kind, Some(Kind::Forward(_))),
            "no batch wrapper for one"
        );
        assert_eq!(
            from_frame_batch(one).expect("decodes"),
            vec![messages[0].clone()]
        );
    }

    #[test]
    fn batches_are_split_by_size_and_keep_the_order() {
        let messages: Vec<PeerMessage> = (0..10u8)
            .map(|i| PeerMessage::Forward {
                data: Bytes::from(vec![i; 1000]),
            })
            .collect();
        let frames = to_batch_frames(messages.clone(), 2500);
        assert!(frames.len() >= 4, "{} frames", frames.len());
        let back: Vec<PeerMessage> = frames
            .into_iter()
            .flat_map(|f| from_frame_batch(f).expect("decodes"))
            .collect();
        assert_eq!(back, messages);
        // A message larger than the bound still travels, alone.
        let big = vec![PeerMessage::Forward {
            data: Bytes::from(vec![7u8; 10_000]),
        }];
        let frames = to_batch_frames(big.clone(), 2500);
        assert_eq!(frames.len(), 1);
        assert_eq!(from_frame_batch(frames[0].clone()).expect("decodes"), big);
    }

    #[test]
    fn a_batch_inside_a_batch_or_a_hello_inside_a_batch_is_refused() {
        let inner = to_batch_frame(vec![
            PeerMessage::Forward { data: Bytes::new() },
            PeerMessage::Forward { data: Bytes::new() },
        ]);
        let nested = PeerFrame {
            kind: Some(Kind::Batch(peer_frame::Batch {
                frames: vec![inner],
            })),
        };
        assert_eq!(from_frame_batch(nested), Err(ConvertError::UnexpectedBatch));
        let with_hello = PeerFrame {
            kind: Some(Kind::Batch(peer_frame::Batch {
                frames: vec![hello(ServerId(1), 1, "")],
            })),
        };
        assert_eq!(
            from_frame_batch(with_hello),
            Err(ConvertError::UnexpectedHello)
        );
    }
}
