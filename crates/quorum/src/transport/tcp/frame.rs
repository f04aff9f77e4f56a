//! The quorum port's framing: a 4-byte big-endian length N, then N bytes of one prost-encoded
//! `PeerFrame` (proto/paddock/v1/quorum.proto).
//!
//! Rules:
//! - a length above the decoder's limit fails before anything is allocated for it (a hostile
//!   length costs nothing); below it, the buffer grows with the bytes that actually arrive, a
//!   bounded step at a time, not with the length announced;
//! - a frame whose bytes do not decode as a `PeerFrame` fails the stream;
//! - [`encode`] refuses a frame above the limit (the receiver would refuse it anyway).

use bytes::{Buf, BufMut, BytesMut};
use paddock_proto::v1::PeerFrame;
use prost::Message;
use thiserror::Error;
use tokio_util::codec::Decoder;

/// Bytes of the length prefix.
const HEADER_BYTES: usize = 4;

/// The most a decoder reserves at once for a frame still arriving.
const RESERVE_STEP_BYTES: usize = 64 << 10;

/// Why a stream's frames cannot be read or written.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The length prefix is above the limit.
    #[error("a frame of {len} bytes is above the limit of {max} bytes")]
    TooLarge {
        /// The length announced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame's bytes are not a `PeerFrame`.
    #[error("a frame that does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Decodes length-prefixed `PeerFrame`s (for `tokio_util::codec::FramedRead`), refusing frames
/// above `max_frame_bytes`.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    /// The largest frame body accepted, in bytes.
    pub max_frame_bytes: usize,
}

impl Decoder for FrameCodec {
    type Item = PeerFrame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<PeerFrame>, FrameError> {
        let Some(header) = src.get(..HEADER_BYTES) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        let total = HEADER_BYTES + len;
        if src.len() < total {
            // Room for more of it, a step at a time: memory follows what arrives.
            src.reserve((total - src.len()).min(RESERVE_STEP_BYTES));
            return Ok(None);
        }
        src.advance(HEADER_BYTES);
        let body = src.split_to(len).freeze();
        Ok(Some(PeerFrame::decode(body)?))
    }
}

/// Appends `frame`, length-prefixed, to `buf`.
pub fn encode(
    frame: &PeerFrame,
    max_frame_bytes: usize,
    buf: &mut BytesMut,
) -> Result<(), FrameError> {
    let len = frame.encoded_len();
    if len > max_frame_bytes || u32::try_from(len).is_err() {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_bytes,
        });
    }
    buf.reserve(HEADER_BYTES + len);
    buf.put_u32(len as u32);
    // Cannot fail: `buf` has room for `len` bytes (and grows besides).
    frame
        .encode(buf)
        .map_err(|e| FrameError::Io(std::io::Error::other(format!("encoding a frame: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::v1::peer_frame::{Kind, Ping, Proposal};

    fn codec(max: usize) -> FrameCodec {
        FrameCodec {
            max_frame_bytes: max,
        }
    }

    fn proposal(n: usize) -> PeerFrame {
        PeerFrame {
            kind: Some(Kind::Proposal(Proposal {
                zxid: 7,
                data: vec![1u8; n].into(),
            })),
        }
    }

    #[test]
    fn frames_round_trip_whatever_the_split_of_the_bytes() {
        let frames = vec![
            proposal(10),
            PeerFrame {
                kind: Some(Kind::Ping(Ping {})),
            },
            PeerFrame { kind: None },
            proposal(100_000),
        ];
        let mut wire = BytesMut::new();
        for f in &frames {
            encode(f, 1 << 20, &mut wire).unwrap();
        }
        // Fed 1, 7 or all bytes at a time, the decoder gives the same frames.
        for step in [1, 7, wire.len()] {
            let mut c = codec(1 << 20);
            let mut src = BytesMut::new();
            let mut out = Vec::new();
            for chunk in wire.chunks(step) {
                src.extend_from_slice(chunk);
                while let Some(f) = c.decode(&mut src).unwrap() {
                    out.push(f);
                }
            }
            assert_eq!(out, frames, "step {step}");
            assert!(src.is_empty());
        }
    }

    #[test]
    fn a_length_above_the_limit_fails_before_any_allocation() {
        let mut src = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 0, 0][..]);
        let before = src.capacity();
        match codec(1 << 30).decode(&mut src) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!((len, max), (u32::MAX as usize, 1 << 30))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(src.capacity(), before);
        // Below the limit, a claimed length reserves a bounded step, not the whole claim.
        let mut src = BytesMut::from(&(1u32 << 29).to_be_bytes()[..]);
        assert!(codec(1 << 30).decode(&mut src).unwrap().is_none());
        assert!(
            src.capacity() <= HEADER_BYTES + RESERVE_STEP_BYTES + 64,
            "{}",
            src.capacity()
        );
    }

    #[test]
    fn garbage_bytes_fail_to_decode() {
        let mut src = BytesMut::from(&[0, 0, 0, 3, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            codec(1024).decode(&mut src),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn an_oversized_frame_is_not_encoded() {
        let mut buf = BytesMut::new();
        assert!(matches!(
            encode(&proposal(2000), 1000, &mut buf),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(buf.is_empty());
    }
}
