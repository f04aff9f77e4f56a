//! The decoder against random and mutated frames: it must never panic nor allocate from a
//! length field, and whatever it accepts must be answerable (encoding an answer for it must not
//! panic either). `PADDOCK_FUZZ_CASES` / `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz`
//! runs them long.

use paddock_fuzz::{bounded_by_input, input, TrackingAlloc};
use paddock_types::{ErrorCode, Response, Zxid};
use paddock_wire::jute::Writer;
use paddock_wire::records::{self, op, Connect};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Well-formed request frames (without their length prefix) of the ops ZooKeeper clients send.
fn valid_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut push = |xid: i32, opcode: i32, body: &dyn Fn(&mut Writer)| {
        let mut w = Writer::new();
        w.int(xid).int(opcode);
        body(&mut w);
        frames.push(w.into_bytes().to_vec());
    };
    let acl = |w: &mut Writer| {
        w.int(1).int(31).string("world").string("anyone");
    };
    push(1, op::CREATE, &|w| {
        w.string("/a").buffer(b"data");
        acl(w);
        w.int(0);
    });
    push(2, op::CREATE_TTL, &|w| {
        w.string("/t").buffer(b"");
        acl(w);
        w.int(5).long(1000);
    });
    push(3, op::GET_DATA, &|w| {
        w.string("/a").bool(true);
    });
    push(4, op::SET_DATA, &|w| {
        w.string("/a").buffer(b"x").int(-1);
    });
    push(5, op::MULTI, &|w| {
        w.int(op::CREATE)
            .bool(false)
            .int(-1)
            .string("/m")
            .buffer(b"");
        acl(w);
        w.int(0);
        w.int(op::CHECK).bool(false).int(-1).string("/m").int(0);
        w.int(-1).bool(true).int(-1);
    });
    push(6, op::MULTI_READ, &|w| {
        w.int(op::GET_DATA)
            .bool(false)
            .int(-1)
            .string("/m")
            .bool(false);
        w.int(-1).bool(true).int(-1);
    });
    push(-8, op::SET_WATCHES2, &|w| {
        w.long(5);
        for _ in 0..5 {
            w.int(1).string("/w");
        }
    });
    push(-4, op::AUTH, &|w| {
        w.int(0).string("digest").buffer(b"u:p");
    });
    push(7, op::SET_ACL, &|w| {
        w.string("/a");
        acl(w);
        w.int(0);
    });
    push(8, op::ADD_WATCH, &|w| {
        w.string("/a").int(1);
    });
    push(9, op::RECONFIG, &|w| {
        w.string("server.4=127.0.0.1:2888:3888;2181")
            .string("2,3")
            .int(-1)
            .long(-1);
    });
    frames
}

/// Decodes `frame` and, if it decodes, encodes an answer for it: neither may panic.
fn exercise(frame: &[u8]) {
    if let Ok(d) = bounded_by_input(frame.len(), || records::decode_request(frame)) {
        let result = d
            .request
            .as_ref()
            .map(|_| Response::Ping)
            .map_err(Clone::clone);
        let _ = records::answer(d.xid, Zxid(1), &d.shape, &result);
    }
    let _ = bounded_by_input(frame.len(), || Connect::decode(frame));
}

#[test]
fn valid_frames_decode() {
    for f in valid_frames() {
        let d = records::decode_request(&f).expect("header");
        assert!(d.request.is_ok(), "{:?}: {:?}", d.op, d.request);
    }
}

#[test]
fn a_truncated_frame_is_a_marshalling_error_not_a_panic() {
    for f in valid_frames() {
        for cut in 8..f.len() {
            let d = records::decode_request(&f[..cut]).expect("the header is whole");
            if let Err(e) = &d.request {
                assert!(
                    matches!(
                        e.code,
                        ErrorCode::MarshallingError | ErrorCode::BadArguments
                    ),
                    "{e}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(paddock_fuzz::config(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(&bytes);
    }

    #[test]
    fn random_bodies_of_every_op_never_panic(
        opcode in prop_oneof![Just(-11), Just(-10), -1i32..23, 100i32..108],
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut f = Vec::new();
        f.extend_from_slice(&1i32.to_be_bytes());
        f.extend_from_slice(&opcode.to_be_bytes());
        f.extend_from_slice(&body);
        exercise(&f);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        which in 0usize..10,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let frames = valid_frames();
        let mut f = frames[which % frames.len()].clone();
        for (at, byte) in flips {
            let i = at % f.len();
            f[i] = byte;
        }
        exercise(&f);
    }

    #[test]
    fn edited_valid_frames_never_panic(frame in input(valid_frames())) {
        exercise(&frame);
    }

    #[test]
    fn huge_lengths_inside_records_allocate_nothing(len in any::<i32>()) {
        let mut w = Writer::new();
        w.int(1).int(op::SET_WATCHES).long(0).int(len);
        exercise(&w.into_bytes());
    }
}
