//! Fuzz targets of the decoders `paddock-types` owns: the txn record (`Txn::decode`, what every
//! log record, DIFF and proposal holds), zoo.cfg (`Config::parse`), the dynamic configuration
//! (`DynamicConfig::parse`, `parse_server_line`, `split_servers`). None may panic, allocate from
//! an unchecked length, or accept what it cannot give back. `PADDOCK_FUZZ_CASES` /
//! `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use paddock_fuzz::{bounded_by_input, config, config_value, input, TrackingAlloc};
use paddock_types::dynamic::{parse_server_line, split_servers};
use paddock_types::{
    Acl, Config, CreateMode, Data, DynamicConfig, Id, MultiOp, SessionId, Txn, TxnHeader, TxnOp,
    Zxid, PASSWORD_LEN,
};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// One record of every `TxnOp` (null data and a multi included), as this build writes them.
fn valid_txns() -> Vec<Vec<u8>> {
    let header = TxnHeader {
        session: SessionId(0x1234_5678),
        cxid: 7,
        zxid: Zxid(0x5_0000_0009),
        time_ms: 1_700_000_000_000,
        conn_ids: vec![Id::new("ip", "10.0.0.1")],
        legacy_sequence: false,
    };
    let acl = vec![Acl::new(31, Id::new("world", "anyone"))];
    let ops = vec![
        TxnOp::CreateSession {
            timeout_ms: 30_000,
            password: [7; PASSWORD_LEN],
        },
        TxnOp::CloseSession,
        TxnOp::Create {
            path: "/app/n".into(),
            data: Data::from(b"hello".to_vec()),
            mode: CreateMode::PersistentWithTtl { ttl_ms: 500 },
            acl: acl.clone(),
        },
        TxnOp::Create {
            path: "/null".into(),
            data: Data::NULL,
            mode: CreateMode::Ephemeral,
            acl: acl.clone(),
        },
        TxnOp::Delete {
            path: "/a".into(),
            version: -1,
        },
        TxnOp::SetData {
            path: "/a".into(),
            data: Data::from(vec![0xab; 40]),
            version: 3,
        },
        TxnOp::Multi(vec![
            MultiOp::Create {
                path: "/m".into(),
                data: Data::NULL,
                mode: CreateMode::Container,
                acl: acl.clone(),
            },
            MultiOp::Check {
                path: "/m".into(),
                version: 0,
            },
            MultiOp::SetData {
                path: "/m".into(),
                data: Data::from(b"x".to_vec()),
                version: -1,
            },
            MultiOp::Delete {
                path: "/m".into(),
                version: 1,
            },
        ]),
        TxnOp::Sync { path: "/".into() },
        TxnOp::MoveSession { owner: 3 },
        TxnOp::SetAcl {
            path: "/a".into(),
            acl,
            version: 2,
        },
        TxnOp::AddAuth {
            ids: vec![Id::new("digest", "u:hash"), Id::super_user()],
        },
        TxnOp::DeleteContainer {
            path: "/c".into(),
            czxid: 9,
            version: 0,
            cversion: 4,
        },
        TxnOp::ResumeSession {
            owner: 2,
            timeout_ms: 6000,
        },
        TxnOp::Reconfig {
            joining: vec!["server.4=h:2888:3888;2181".into()],
            leaving: vec![2, 3],
            members: Vec::new(),
            from_version: -1,
            verdict: 0,
        },
    ];
    ops.into_iter()
        .map(|op| {
            Txn {
                header: header.clone(),
                op,
            }
            .encode()
        })
        .collect()
}

/// Decodes `bytes` as a record; whatever decodes must encode and decode to itself.
fn exercise_txn(bytes: &[u8]) {
    let decoded = bounded_by_input(bytes.len(), || Txn::decode(bytes));
    if let Ok(txn) = decoded {
        let again = Txn::decode(&txn.encode()).expect("a decoded record encodes decodably");
        assert_eq!(again, txn);
    }
    let _ = Txn::decode_at(bytes, Zxid(0x5_0000_0009));
}

const ZOO_CFG: &str = "\
# a zoo.cfg as an operator writes it
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/paddock
dataLogDir=/var/lib/paddock/log
clientPort=2181
grpcPort=7181
maxClientCnxns=60
minSessionTimeout=4000
maxSessionTimeout=40000
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
reconfigEnabled=true
extendedTypesEnabled=true
admin.serverPort=8080
znode.container.checkIntervalMs=60000
superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
ssl.clientAuth=need
unknown.key=kept as a warning
server.1=10.0.0.1:2888:3888;2181
server.2=10.0.0.2:2888:3888:participant;0.0.0.0:2181
server.3=10.0.0.3:2888:3888:observer
";

const DYNAMIC: &str = "\
server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181
server.2=h2:2889:3889;127.0.0.1:2182
server.3=h3:2888:3888:observer;2181
version=10000000a";

/// Parses zoo.cfg text and, if it parses, validates it: errors, not panics.
fn exercise_config(text: &str) {
    if let Ok((cfg, _warnings)) = bounded_by_input(text.len(), || Config::parse(text)) {
        let _ = cfg.validate();
        let _ = cfg.ensemble_config_text();
        for s in cfg.servers.values() {
            let _ = s.config_line();
        }
    }
}

/// Parses a dynamic configuration; what parses must survive its own text.
fn exercise_dynamic(text: &str) {
    if let Ok(d) = bounded_by_input(text.len(), || DynamicConfig::parse(text)) {
        let again = DynamicConfig::parse(&d.text()).expect("a parsed config re-parses");
        assert_eq!(again.text(), d.text());
    }
    for line in text.lines() {
        if let Ok(s) = parse_server_line(line) {
            let back = format!("server.{}={}", s.id.0, s.config_line());
            assert_eq!(
                parse_server_line(&back).map(|t| t.config_line()),
                Ok(s.config_line())
            );
        }
    }
    for entry in split_servers(text) {
        let _ = parse_server_line(&entry);
    }
}

/// zoo.cfg keys and the values they are tried with.
fn config_pairs() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "tickTime",
        "initLimit",
        "syncLimit",
        "dataDir",
        "clientPort",
        "grpcPort",
        "grpcAddress",
        "maxClientCnxns",
        "minSessionTimeout",
        "maxSessionTimeout",
        "jute.maxbuffer",
        "snapCount",
        "globalOutstandingLimit",
        "maxInflightPerSession",
        "workerThreads",
        "servingThreads",
        "reconfigEnabled",
        "admin.serverPort",
        "admin.serverAddress",
        "metricsProvider.httpPort",
        "ssl.clientAuth",
        "superDigest",
        "znode.container.maxPerMinute",
        "server.1",
        "server.255",
        "server.0",
        "server.99999999999999999999",
        "version",
    ]);
    proptest::collection::vec((keys, config_value()), 0..12).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn txn_records_never_panic(bytes in input(valid_txns())) {
        exercise_txn(&bytes);
    }

    #[test]
    fn zoo_cfg_never_panics(bytes in input(vec![ZOO_CFG.as_bytes().to_vec()])) {
        exercise_config(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn zoo_cfg_pairs_never_panic(text in config_pairs()) {
        exercise_config(&text);
        exercise_dynamic(&text);
    }

    #[test]
    fn dynamic_configs_never_panic(bytes in input(vec![DYNAMIC.as_bytes().to_vec()])) {
        exercise_dynamic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn the_valid_inputs_are_valid() {
    for t in valid_txns() {
        Txn::decode(&t).expect("decodes");
    }
    let (cfg, warnings) = Config::parse(ZOO_CFG).expect("parses");
    assert_eq!(cfg.servers.len(), 3);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        DynamicConfig::parse(DYNAMIC)
            .expect("parses")
            .voters()
            .count(),
        2
    );
}
