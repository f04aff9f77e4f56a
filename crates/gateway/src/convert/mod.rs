//! Conversions between the wire types (`paddock_proto::v1`) and Paddock's own types
//! (`paddock_types`, the backend API), in one place, one module per direction.
//!
//! - [`from_proto`]: wire -> Paddock. Fallible: the network can send anything, so every missing
//!   `oneof`, unknown enum value or malformed field becomes a [`ZkError`] with code `BadArguments`
//!   and a message naming the field. Nothing here panics.
//! - [`to_proto`]: Paddock -> wire. Total.
//!
//! Both the wire types and Paddock's types are foreign to this crate, so the standard
//! `From`/`TryFrom` cannot be implemented here (orphan rule); [`FromProto`] and [`IntoProto`] play
//! their part with the same shape. Both directions exist for every type so that round trips can be
//! tested (and so that a Rust client can reuse them).

pub mod from_proto;
pub mod to_proto;

#[cfg(test)]
mod multi_read_tests;
#[cfg(test)]
mod tests;

use paddock_types::ZkError;

/// Wire -> Paddock, like `TryFrom<P>`; errors are `BadArguments` naming what was wrong.
pub trait FromProto<P>: Sized {
    fn from_proto(p: P) -> Result<Self, ZkError>;
}

/// Paddock -> wire, like `Into<P>`.
pub trait IntoProto<P> {
    fn into_proto(self) -> P;
}

pub use from_proto::{decode_connect, decode_request, decode_server_message};
pub use to_proto::{encode_connected, encode_event, encode_request, encode_response};
