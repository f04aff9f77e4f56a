//! Memory footprint of a big tree: applies N creates (default 1,000,000: 1,000 parents x 1,000
//! children, ~40-byte paths, 100-byte data) and prints the process's resident set size.
//!
//! ```text
//! cargo run --release -p paddock-datatree --example mem [-- NODES [--reload] [--acl]]
//! ```
//!
//! With `--acl` every node gets the same non-default ACL (a digest user with all permissions,
//! everybody else CREATE): the ACL table stores it once, so the cost is the node's 8-byte
//! reference.
//!
//! With `--reload` it also writes a snapshot to memory, drops the tree, reads it back and reports
//! the snapshot's size and timings.

use std::time::Instant;

use bytes::Bytes;
use paddock_datatree::DataTree;
use paddock_types::{CreateMode, SessionId, Txn, TxnHeader, TxnOp, Zxid};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let reload = args.iter().any(|a| a == "--reload");
    let acl = if args.iter().any(|a| a == "--acl") {
        use paddock_types::acl::{perms, Acl, Id};
        vec![
            Acl::new(
                perms::ALL,
                Id::new("digest", "bob:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
            ),
            Acl::new(perms::CREATE, Id::anyone()),
        ]
    } else {
        paddock_types::Acl::open()
    };
    let parents = 1_000u64;
    let per_parent = nodes.div_ceil(parents);

    let start_kib = rss_kib();
    let mut tree = DataTree::new();
    let mut zxid = 0u64;
    let mut apply = |tree: &mut DataTree, path: String, data: Bytes| {
        zxid += 1;
        let txn = Txn {
            header: TxnHeader {
                conn_ids: Vec::new(),
                session: SessionId(0),
                cxid: 0,
                zxid: Zxid(zxid),
                time_ms: zxid as i64,
                legacy_sequence: false,
            },
            op: TxnOp::Create {
                acl: acl.clone(),
                path,
                data: data.into(),
                mode: CreateMode::Persistent,
            },
        };
        let applied = tree.apply(&txn);
        assert!(applied.result.is_ok(), "{:?}", applied.result);
    };
    let t = Instant::now();
    apply(&mut tree, "/paddock".into(), Bytes::new());
    let mut made = 0u64;
    'outer: for p in 0..parents {
        apply(&mut tree, format!("/paddock/service-{p:04}"), Bytes::new());
        for c in 0..per_parent {
            if made == nodes {
                break 'outer;
            }
            // 39-byte path, 100 distinct bytes of data.
            let path = format!("/paddock/service-{p:04}/member-{:010}", p * per_parent + c);
            let mut data = vec![0u8; 100];
            for (i, b) in data.iter_mut().enumerate() {
                *b = (made as usize + i) as u8;
            }
            apply(&mut tree, path, Bytes::from(data));
            made += 1;
        }
    }
    let build = t.elapsed();
    let built_kib = rss_kib();
    let tree_kib = built_kib.saturating_sub(start_kib);
    println!("nodes              {}", tree.node_count());
    println!(
        "approx data size   {:.1} MiB",
        tree.approximate_data_size() as f64 / 1048576.0
    );
    println!(
        "build              {:.2?} ({:.0} creates/s)",
        build,
        made as f64 / build.as_secs_f64()
    );
    println!("VmRSS start        {:.1} MiB", mib(start_kib));
    println!("VmRSS with tree    {:.1} MiB", mib(built_kib));
    println!(
        "tree               {:.1} MiB = {} bytes/node",
        mib(tree_kib),
        tree_kib * 1024 / tree.node_count() as u64
    );

    let t = Instant::now();
    let (children, _) = tree
        .get_children("/paddock/service-0500", None)
        .expect("exists");
    println!(
        "get_children(1000) {:.2?} ({} names)",
        t.elapsed(),
        children.len()
    );
    let t = Instant::now();
    let digest = tree.digest();
    println!("digest             {:.2?} ({digest:#018x})", t.elapsed());

    if reload {
        let t = Instant::now();
        let mut bytes = Vec::new();
        tree.snapshot().write_to(&mut bytes).expect("Vec writer");
        println!(
            "snapshot write     {:.2?} ({:.1} MiB)",
            t.elapsed(),
            bytes.len() as f64 / 1048576.0
        );
        drop(tree);
        let t = Instant::now();
        let back = DataTree::read_snapshot(&mut bytes.as_slice()).expect("reads back");
        println!("snapshot read      {:.2?}", t.elapsed());
        assert_eq!(back.digest(), digest);
        println!(
            "VmRSS reloaded     {:.1} MiB (incl. the encoded snapshot)",
            mib(rss_kib())
        );
    }
}
