//! Reconfiguration, the processor's side. The client's server checks a `reconfig` request
//! (`checks.rs`) and submits it unvetted; the leader's quorum peer asks
//! [`Processor::vet_reconfig`] about every proposal before making it, which decides the change
//! against the configuration in force (authorisation, `-v`, the new configuration) and spells
//! it out whole; the quorum core then refuses it if another change is in flight or the new
//! voters are not a synced quorum ([`Processor::refuse_reconfig`] writes that down), or commits
//! it by both quorums. Every replica installs what was accepted as `/zookeeper/config`
//! (`datatree/src/apply.rs`), and the peers follow [`Processor::configuration`].

use bytes::Bytes;
use paddock_types::acl::Id;
use paddock_types::dynamic::ReconfigOps;
use paddock_types::path::CONFIG_NODE;
use paddock_types::txn::RECONFIG_ACCEPTED;
use paddock_types::{DynamicConfig, ErrorCode, Txn, TxnOp};

use crate::processor::Processor;

/// What the leader makes of a proposal that is a reconfiguration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vetted {
    /// Accepted: it installs `config`; propose `data` (the change spelled out whole).
    Accepted { config: DynamicConfig, data: Bytes },
    /// Refused: propose `data`, which fails with the reason's code where it is applied.
    Refused(Bytes),
}

impl Processor {
    /// The configuration `/zookeeper/config` holds since a reconfiguration installed one
    /// (`None` before any: the static configuration from zoo.cfg is in force).
    pub fn configuration(&self) -> Option<DynamicConfig> {
        let tree = self.shared.read_tree();
        let (data, _) = tree.get_data(CONFIG_NODE, None).ok()?;
        if data.is_empty() {
            return None;
        }
        let text = std::str::from_utf8(&data).ok()?;
        match DynamicConfig::parse(text) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "/zookeeper/config holds no configuration");
                None
            }
        }
    }

    /// The version of [`Processor::configuration`]: the zxid that wrote `/zookeeper/config`
    /// (0 before any reconfiguration). Cheap: asked after every batch of applies.
    pub fn configuration_version(&self) -> u64 {
        let tree = self.shared.read_tree();
        tree.exists(CONFIG_NODE, None)
            .map_or(0, |stat| stat.mzxid as u64)
    }

    /// The configuration in force: the installed one, else the static one.
    fn configuration_in_force(&self) -> DynamicConfig {
        self.configuration().unwrap_or_else(|| {
            let text = std::str::from_utf8(&self.shared.cfg.ensemble_config).unwrap_or_default();
            DynamicConfig::parse(text).unwrap_or_else(|_| DynamicConfig::new(0, []))
        })
    }

    /// Leader side: `data` vetted if it is an unvetted reconfiguration and this server has
    /// `reconfigEnabled` (otherwise `None`: proposed as it is). Refused, with ZooKeeper's
    /// codes: NOAUTH unless the caller is the super user, BADVERSION for a stale `-v`,
    /// BADARGUMENTS when the change makes no valid configuration.
    pub fn vet_reconfig(&self, data: &Bytes) -> Option<Vetted> {
        if !self.shared.cfg.reconfig_enabled {
            return None;
        }
        let txn = Txn::decode(data).ok()?;
        let TxnOp::Reconfig {
            joining,
            leaving,
            members,
            from_version,
            verdict: 0,
        } = &txn.op
        else {
            return None;
        };
        let refuse = |code: ErrorCode, why: String| {
            tracing::info!(session = %txn.header.session, code = code.name(), reason = %why, "reconfig refused");
            Some(Vetted::Refused(with_verdict(&txn, code as i32)))
        };
        let mut ids = self.shared.read_tree().session_auth(txn.header.session);
        ids.extend(txn.header.conn_ids.iter().cloned());
        if !ids.contains(&Id::super_user()) {
            return refuse(
                ErrorCode::NoAuth,
                "reconfig is for the super user (superDigest)".into(),
            );
        }
        let current = self.configuration_in_force();
        if *from_version != -1 && *from_version as u64 != current.version {
            return refuse(
                ErrorCode::BadVersion,
                format!(
                    "asked for version {from_version:x}, {:x} is in force",
                    current.version
                ),
            );
        }
        let ops = ReconfigOps {
            joining,
            leaving,
            members,
        };
        match current.reconfigure(&ops, 0) {
            Ok(config) => {
                let mut accepted = txn.clone();
                accepted.op = TxnOp::Reconfig {
                    joining: Vec::new(),
                    leaving: Vec::new(),
                    members: config
                        .servers
                        .values()
                        .map(|s| format!("server.{}={}", s.id.0, s.config_line()))
                        .collect(),
                    from_version: *from_version,
                    verdict: RECONFIG_ACCEPTED,
                };
                Some(Vetted::Accepted {
                    config,
                    data: Bytes::from(accepted.encode()),
                })
            }
            Err(e) => refuse(ErrorCode::BadArguments, e.to_string()),
        }
    }

    /// Leader side: a reconfiguration the quorum refused (`code`: NEWCONFIGNOQUORUM,
    /// RECONFIGINPROGRESS), rewritten to fail with that code where it is applied.
    pub fn refuse_reconfig(&self, data: &Bytes, code: ErrorCode) -> Option<Bytes> {
        let txn = Txn::decode(data).ok()?;
        matches!(txn.op, TxnOp::Reconfig { .. }).then(|| with_verdict(&txn, code as i32))
    }
}

fn with_verdict(txn: &Txn, verdict: i32) -> Bytes {
    let mut t = txn.clone();
    if let TxnOp::Reconfig { verdict: v, .. } = &mut t.op {
        *v = verdict;
    }
    Bytes::from(t.encode())
}
