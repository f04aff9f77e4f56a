//! The access-control commands, as zkCli runs them: `getAcl`, `setAcl` (also `-R`), `addauth`
//! and `whoami`. `create`'s optional ACL is in the parent module with the rest of `create`.

use std::time::Duration;

use paddock_client::{Acl, Client, ErrorCode};

use super::{child_path, e};
use crate::format;

/// `getAcl [-s] path`: each entry as `'scheme,'id` / `: perms`, then the Stat with `-s`.
pub(super) async fn get_acl(
    client: &Client,
    path: &str,
    stat: bool,
    out: &mut String,
) -> Result<(), String> {
    let (acl, st) = client.get_acl(path).await.map_err(e(path))?;
    out.push_str(&format::acl(&acl));
    if stat {
        out.push_str(&format::stat(&st));
    }
    Ok(())
}

/// `setAcl [-s] [-v version] path acl` on one node; the new Stat with `-s`.
pub(super) async fn set_acl(
    client: &Client,
    path: &str,
    acl: Vec<Acl>,
    version: i32,
    stat: bool,
    out: &mut String,
) -> Result<(), String> {
    let st = client.set_acl(path, acl, version).await.map_err(e(path))?;
    if stat {
        out.push_str(&format::stat(&st));
    }
    Ok(())
}

/// `setAcl -R`: the node, then depth first each node's children (sorted) before their own
/// children, as zkCli's `ZKUtil.visitSubTreeDFS` visits them. As in zkCli:
/// - the root is read first, so a missing or unreadable root fails the command;
/// - a node that cannot be changed (NoAuth, BadVersion, deleted meanwhile) does not stop the
///   walk: its `KeeperErrorCode = ... for /path` goes to the output and the walk goes on (zkCli
///   prints it without a line end; here each gets its own line);
/// - a node deleted before its children are listed is skipped; any other failure to list
///   children ends the command.
pub(super) async fn set_acl_recursive(
    client: &Client,
    root: &str,
    acl: &[Acl],
    version: i32,
    out: &mut String,
) -> Result<(), String> {
    client.get_data(root).await.map_err(e(root))?;
    set_one(client, root, acl, version, out).await;
    // Nodes whose children are still to be visited; the top is the next in zkCli's order.
    let mut stack = vec![root.to_string()];
    while let Some(path) = stack.pop() {
        let mut names = match client.get_children(&path).await {
            Ok((names, _)) => names,
            Err(err) if err.code() == ErrorCode::NoNode => continue,
            Err(err) => return Err(format::error(&err, &path)),
        };
        names.sort();
        let children: Vec<String> = names.iter().map(|n| child_path(&path, n)).collect();
        for child in &children {
            set_one(client, child, acl, version, out).await;
        }
        stack.extend(children.into_iter().rev());
    }
    Ok(())
}

async fn set_one(client: &Client, path: &str, acl: &[Acl], version: i32, out: &mut String) {
    if let Err(err) = client.set_acl(path, acl.to_vec(), version).await {
        out.push_str(&format::keeper_exception(&err, path));
        out.push('\n');
    }
}

/// How long a refused `addauth` waits for the session's end to be reported.
const SESSION_END_WAIT: Duration = Duration::from_secs(2);

/// `addauth scheme [auth]`: silent on success. A refusal (AuthFailed) has ended the session
/// server-side; the shell says so, as it does for an expiry: the session's `AuthFailed` event
/// is printed, the prompt shows `AUTH_FAILED`, and later commands fail with `KeeperErrorCode =
/// AuthFailed`.
pub(super) async fn add_auth(
    client: &Client,
    scheme: &str,
    auth: Option<String>,
) -> Result<(), String> {
    match client.add_auth(scheme, auth.unwrap_or_default()).await {
        Ok(()) => Ok(()),
        Err(err) if err.code() == ErrorCode::AuthFailed => {
            // The refusal arrives just before the session's end: wait for the latter, so that
            // its event is printed before the next command is read (and that command fails
            // rather than racing the close).
            let mut state = client.state_watch();
            let ended = state.wait_for(|s| s.is_terminal());
            let _ = tokio::time::timeout(SESSION_END_WAIT, ended).await;
            Err(format::auth_failed(scheme))
        }
        Err(err) => Err(format::session_error(&err)),
    }
}

/// `whoami`: `Auth scheme: User`, then one `scheme: user` line per id of the session.
pub(super) async fn who_am_i(client: &Client, out: &mut String) -> Result<(), String> {
    let ids = client
        .who_am_i()
        .await
        .map_err(|err| format::session_error(&err))?;
    out.push_str(&format::who_am_i(&ids));
    Ok(())
}
