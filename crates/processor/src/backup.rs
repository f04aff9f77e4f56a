//! A consistent copy of the tree for a backup (`paddock snapshot save`, the admin service's
//! `SaveSnapshot`), behind ZooKeeper's rule for its snapshot command: the caller must hold
//! every permission (cdrwa) on `/`.

use paddock_datatree::TreeSnapshot;
use paddock_types::acl::{perms, Id};
use paddock_types::{ErrorCode, SessionId, ZkError};

use crate::processor::Processor;

impl Processor {
    /// An O(1) frozen copy of the tree at the last applied zxid, if the caller may have it:
    /// `conn_ids` (what its connection proves: `ip:`, `x509:`, `super:` for the x509 super
    /// user) plus, with `digest` credentials (`user:password`), `digest:user:<hash>` and the
    /// super user's id when they match `superDigest`, must be granted ALL on `/` (an open root
    /// grants it to anyone, as in ZooKeeper). `AuthFailed` for malformed credentials, `NoAuth`
    /// when refused.
    pub fn tree_snapshot_for(
        &self,
        conn_ids: &[Id],
        digest: Option<&str>,
    ) -> Result<TreeSnapshot, ZkError> {
        let mut ids = conn_ids.to_vec();
        if let Some(credentials) = digest {
            ids.extend(crate::auth::authenticate(
                &self.shared.cfg,
                conn_ids,
                "digest",
                credentials.as_bytes(),
            )?);
        }
        let tree = self.shared.read_tree();
        // Each bit on its own: `access` passes when any one bit of its argument is granted
        // (ZooKeeper's CVE-2025-58457 was that mistake in its snapshot command's check).
        for perm in [
            perms::READ,
            perms::WRITE,
            perms::CREATE,
            perms::DELETE,
            perms::ADMIN,
        ] {
            tree.access("/", perm, SessionId(0), &ids).map_err(|_| {
                ZkError::new(
                    ErrorCode::NoAuth,
                    "a backup needs every permission (cdrwa) on /: authenticate as the super \
                     user, or as an id the root's ACL grants all of them",
                )
            })?;
        }
        Ok(tree.snapshot())
    }
}
