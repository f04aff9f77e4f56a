//! # paddock-proto — Paddock's gRPC API, generated
//!
//! Rust code generated from `proto/paddock/v1/*.proto` at build time by protox (a pure-Rust
//! `.proto` compiler, so no `protoc` is needed on the machine) and tonic-prost-build. Nothing
//! here is written by hand; conversions to Paddock's own types live in the crates that use it
//! (the gateway), so protobuf types never leak into the server core.
//!
//! ```text
//!  proto/paddock/v1/*.proto ──build.rs (protox + tonic-prost-build)──▶ paddock_proto::v1
//!                                                                       ├─ messages (prost)
//!                                                                       ├─ paddock_client::PaddockClient
//!                                                                       └─ paddock_server::{Paddock, PaddockServer}
//!                          └──────────────── encoded descriptors ─────▶ FILE_DESCRIPTOR_SET (reflection)
//! ```
//!
//! Invariants:
//! - every `.proto` file in `proto/paddock/v1/` is compiled (a new file needs no build change as long
//!   as it stays in package `paddock.v1`; a new package needs a module here);
//! - `bytes` fields are [`prost::bytes::Bytes`], so data is not copied on the way in;
//! - [`FILE_DESCRIPTOR_SET`] describes exactly the generated code, comments included.
//!
//! ```
//! use paddock_proto::v1::{client_message, ClientMessage, ConnectRequest};
//! let hello = ClientMessage {
//!     message: Some(client_message::Message::Connect(ConnectRequest {
//!         session_id: 0,
//!         password: Default::default(),
//!         timeout_ms: 30_000,
//!         last_zxid_seen: 0,
//!         ..Default::default()
//!     })),
//! };
//! assert!(hello.message.is_some());
//! ```

/// Package `paddock.v1`: the client API (`client.proto`) and its siblings.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/paddock.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every compiled file (imports and comments included), for
/// `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/paddock_descriptor.bin"));

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn descriptor_set_names_the_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("build.rs wrote a valid descriptor set");
        let client = fds
            .file
            .iter()
            .find(|f| f.name() == "paddock/v1/client.proto")
            .expect("client.proto is compiled");
        assert_eq!(client.package(), "paddock.v1");
        assert!(client.service.iter().any(|s| s.name() == "Paddock"));
    }

    #[test]
    fn descriptor_set_names_the_admin_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET)
            .expect("build.rs wrote a valid descriptor set");
        let admin = fds
            .file
            .iter()
            .find(|f| f.name() == "paddock/v1/admin.proto")
            .expect("admin.proto is compiled (so reflection lists it)");
        assert!(admin.service.iter().any(|s| s.name() == "Admin"));
    }

    #[test]
    fn enums_carry_zookeeper_values() {
        assert_eq!(v1::CreateMode::EphemeralSequential as i32, 3);
        assert_eq!(v1::EventType::None as i32, -1);
        assert_eq!(v1::EventType::NodeChildrenChanged as i32, 4);
        assert_eq!(v1::KeeperState::Expired as i32, -112);
        assert_eq!(v1::KeeperState::SyncConnected as i32, 3);
        assert_eq!(v1::ErrorCode::NoNode as i32, -101);
        assert_eq!(v1::ErrorCode::Throttled as i32, -127);
        assert_eq!(v1::KeeperState::AuthFailed as i32, 4);
        assert_eq!(v1::ErrorCode::NoAuth as i32, -102);
        assert_eq!(v1::ErrorCode::InvalidAcl as i32, -114);
        assert_eq!(v1::ErrorCode::AuthFailed as i32, -115);
    }

    /// client.proto "Access control": `Acl.perms` carries ZooKeeper's ZooDefs.Perms bits.
    #[test]
    fn permissions_carry_zookeeper_bits() {
        use v1::Permission as P;
        assert_eq!(P::Read as i32, 1);
        assert_eq!(P::Write as i32, 2);
        assert_eq!(P::Create as i32, 4);
        assert_eq!(P::Delete as i32, 8);
        assert_eq!(P::Admin as i32, 16);
        let all = [P::Read, P::Write, P::Create, P::Delete, P::Admin]
            .iter()
            .fold(0, |acc, p| acc | *p as i32);
        assert_eq!(P::All as i32, all);
    }

    /// client.proto CreateRequest.acl: an old client's CreateRequest (no field 4) decodes with the
    /// ACL unset (= world:anyone:cdrwa), and "set but empty" survives the wire as set.
    #[test]
    fn create_acl_unset_and_empty_differ_on_the_wire() {
        let old = v1::CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec().into()),
            mode: 1,
            acl: None,
            ttl: 0,
        };
        let decoded = v1::CreateRequest::decode(old.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded.acl, None);
        let empty = v1::CreateRequest {
            acl: Some(v1::AclList::default()),
            ..old
        };
        let decoded = v1::CreateRequest::decode(empty.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(decoded.acl, Some(v1::AclList::default()));
    }
}
