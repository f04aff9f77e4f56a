//! Fuzz target of the peer messages: `PeerFrame` bytes as another server (or anything that
//! reached the quorum port) sends them, through prost and `convert::from_frame_batch`. Nothing
//! may panic or allocate from a length field, and whatever decodes must travel back unchanged.
//! The payloads the messages carry (txn records, snapshots) have their own targets in
//! `paddock-types` and `paddock-datatree`. `PADDOCK_FUZZ_CASES` / `PADDOCK_FUZZ_SEED` (see
//! `paddock-fuzz`); `make fuzz` runs them long.

use bytes::Bytes;
use paddock_fuzz::{bounded_by_input, config, input, TrackingAlloc};
use paddock_proto::v1::peer_frame::{self, Kind};
use paddock_proto::v1::PeerFrame;
use paddock_quorum::transport::convert::{
    from_frame, from_frame_batch, hello, to_batch_frames, to_frame,
};
use paddock_quorum::PeerMessage;
use paddock_types::{Epoch, ServerId, SessionId, Zxid};
use proptest::prelude::*;
use prost::Message;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// One message of every kind.
fn messages() -> Vec<PeerMessage> {
    let z = Zxid(0x4_0000_0012);
    let data = || Bytes::from_static(b"\x09\x02\x03txn-bytes");
    vec![
        PeerMessage::FollowerInfo {
            accepted_epoch: Epoch(4),
            last_zxid: z,
            protocol_version: 2,
            snapshot_zxid: z,
        },
        PeerMessage::ObserverInfo {
            accepted_epoch: Epoch(4),
            last_zxid: z,
            protocol_version: 2,
            snapshot_zxid: z,
        },
        PeerMessage::LeaderInfo {
            new_epoch: Epoch(5),
            protocol_version: 2,
        },
        PeerMessage::AckEpoch {
            current_epoch: Epoch(4),
            last_zxid: z,
        },
        PeerMessage::Diff { last_zxid: z },
        PeerMessage::Trunc { zxid: z },
        PeerMessage::Snap {
            zxid: z,
            data: data(),
        },
        PeerMessage::Txn {
            zxid: z,
            data: data(),
        },
        PeerMessage::NewLeader {
            zxid: Zxid(0x5_0000_0000),
        },
        PeerMessage::AckNewLeader {
            zxid: Zxid(0x5_0000_0000),
        },
        PeerMessage::UpToDate,
        PeerMessage::Proposal {
            zxid: z,
            data: data(),
        },
        PeerMessage::Ack { zxid: z },
        PeerMessage::Commit { zxid: z },
        PeerMessage::Inform {
            zxid: z,
            data: data(),
        },
        PeerMessage::Ping,
        PeerMessage::PingReply,
        PeerMessage::Forward { data: data() },
        PeerMessage::Touch {
            sessions: vec![SessionId(1), SessionId(0x100_0000_0002)],
        },
    ]
}

/// Every message as a frame of its own, a batch of all of them, a hello, and a batch holding
/// a batch and a hello (which a peer must refuse).
fn frames() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = messages()
        .into_iter()
        .map(|m| to_frame(m).encode_to_vec())
        .collect();
    out.extend(
        to_batch_frames(messages(), usize::MAX)
            .into_iter()
            .map(|f| f.encode_to_vec()),
    );
    let hello = hello(ServerId(3), 2, "server.1=a:2888:3888\nserver.3=c:2888:3888");
    out.push(hello.encode_to_vec());
    let batch = |frames| PeerFrame {
        kind: Some(Kind::Batch(peer_frame::Batch { frames })),
    };
    let inner = batch(vec![to_frame(PeerMessage::Ping)]);
    out.push(
        batch(vec![
            to_frame(PeerMessage::Ack { zxid: Zxid(1) }),
            inner,
            hello,
        ])
        .encode_to_vec(),
    );
    out
}

/// Decodes `bytes` as the transport does; every message decoded must encode to a frame that
/// decodes to it again.
fn exercise(bytes: &[u8]) {
    let Ok(frame) = bounded_by_input(bytes.len(), || PeerFrame::decode(bytes)) else {
        return;
    };
    if let Ok(batch) = bounded_by_input(bytes.len(), || from_frame_batch(frame)) {
        for m in batch {
            let wire = to_frame(m.clone()).encode_to_vec();
            let back = PeerFrame::decode(wire.as_slice()).expect("our own frame decodes");
            assert_eq!(from_frame(back), Ok(m));
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn peer_frames_never_panic(bytes in input(frames())) {
        exercise(&bytes);
    }
}

#[test]
fn every_message_survives_its_frame() {
    for m in messages() {
        let bytes = to_frame(m.clone()).encode_to_vec();
        let frame = PeerFrame::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(from_frame_batch(frame), Ok(vec![m]));
    }
    let batch = to_batch_frames(messages(), usize::MAX);
    assert_eq!(batch.len(), 1, "one batch frame");
    assert_eq!(from_frame_batch(batch[0].clone()), Ok(messages()));
}
