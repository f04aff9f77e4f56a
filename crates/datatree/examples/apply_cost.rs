//! What one applied setData costs the data tree: N setData txns on 1,000 keys (100-byte data),
//! no watches, timed; the best of 5 rounds is printed as ns per txn.
//!
//! ```text
//! cargo run --release -p paddock-datatree --example apply_cost [-- N]
//! ```

use std::time::Instant;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_types::{CreateMode, SessionId, Txn, TxnHeader, TxnOp, Zxid};

fn txn(zxid: u64, op: TxnOp) -> Txn {
    Txn {
        header: TxnHeader {
            session: SessionId(1),
            cxid: zxid as i64,
            zxid: Zxid(zxid),
            time_ms: 0,
            conn_ids: Vec::new(),
            legacy_sequence: false,
        },
        op,
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut tree = DataTree::new();
    let mut zxid = 0;
    let data = Bytes::from(vec![b'x'; 100]);
    tree.apply(&txn(
        {
            zxid += 1;
            zxid
        },
        TxnOp::Create {
            path: "/bench".into(),
            data: Bytes::new().into(),
            mode: CreateMode::Persistent,
            acl: paddock_types::Acl::open(),
        },
    ));
    for k in 0..1000 {
        zxid += 1;
        tree.apply(&txn(
            zxid,
            TxnOp::Create {
                path: format!("/bench/key-{k:06}"),
                data: data.clone().into(),
                mode: CreateMode::Persistent,
                acl: paddock_types::Acl::open(),
            },
        ));
    }
    let txns: Vec<Txn> = (0..n)
        .map(|i| {
            txn(
                zxid + 1 + i,
                TxnOp::SetData {
                    path: format!("/bench/key-{:06}", (i * 7919) % 1000),
                    data: data.clone().into(),
                    version: -1,
                },
            )
        })
        .collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut t = tree.clone();
        let start = Instant::now();
        for x in &txns {
            let a = t.apply(x);
            assert!(a.result.is_ok());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    println!("setData apply: {best:.0} ns per txn (best of 5 x {n})");
}
