//! The TCP PeerTransport does not allocate what a peer's length prefix claims: memory follows
//! the bytes that arrive. Alone in its test binary, so that the process's address space moves
//! only with this test.
#![cfg(feature = "tcp")]

use paddock_proto::v1::peer_frame::{Hello, Kind};
use paddock_proto::v1::PeerFrame;
use paddock_quorum::transport::tcp::{TcpPeerConfig, TcpPeerTransport};
use paddock_quorum::transport::{PeerEvent, PeerTransport};
use paddock_quorum::PROTOCOL_VERSION;
use paddock_types::ServerId;
use prost::Message;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(10);

/// The process's virtual memory size (kB): an allocation of the claimed size would show here
/// even though its pages are never touched.
fn vm_size_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status")
}

#[tokio::test]
async fn a_claimed_length_below_the_limit_is_not_allocated_up_front() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peers = HashMap::new();
    peers.insert(ServerId(1), listener.local_addr().unwrap().to_string());
    peers.insert(ServerId(2), "127.0.0.1:1".to_string());
    let config = TcpPeerConfig::new(ServerId(1), peers);
    assert_eq!(config.max_frame_bytes, 1 << 30);
    let leader = TcpPeerTransport::serve(config, listener).unwrap();

    let mut raw = TcpStream::connect(leader.local_addr()).await.unwrap();
    let hello = PeerFrame {
        kind: Some(Kind::Hello(Hello {
            server_id: 2,
            protocol_version: PROTOCOL_VERSION,
            server_list: String::new(),
        })),
    }
    .encode_to_vec();
    raw.write_all(&(hello.len() as u32).to_be_bytes())
        .await
        .unwrap();
    raw.write_all(&hello).await.unwrap();
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).await.unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    raw.read_exact(&mut answer).await.unwrap();
    let next = tokio::time::timeout(WAIT, leader.recv()).await.unwrap();
    assert_eq!(next, Some(PeerEvent::Connected(ServerId(2))));

    let before = vm_size_kb();
    // A frame claiming just under 1 GiB, of which 256 KiB arrive.
    raw.write_all(&((1u32 << 30) - 1).to_be_bytes())
        .await
        .unwrap();
    raw.write_all(&vec![0u8; 256 << 10]).await.unwrap();
    // recv reads what arrived (nothing complete: no event).
    assert!(
        tokio::time::timeout(Duration::from_millis(500), leader.recv())
            .await
            .is_err()
    );
    let grown_kb = vm_size_kb().saturating_sub(before);
    assert!(
        grown_kb < 256 << 10,
        "the address space grew by {grown_kb} kB"
    );
    // The peer going away still ends the connection.
    drop(raw);
    let next = tokio::time::timeout(WAIT, leader.recv()).await.unwrap();
    assert_eq!(next, Some(PeerEvent::Disconnected(ServerId(2))));
}
