//! Runs a parsed [`Command`] against a session, writing zkCli's output into a buffer.
//! The access-control commands (`getAcl`, `setAcl`, `addauth`, `whoami`) are in [`acl`].

mod acl;
mod quota;

use std::io::Write;

use std::pin::Pin;

use futures::stream::{self, Stream};
use paddock_client::{
    Client, CreateMode, Data, Error, ErrorCode, PersistentWatch, Watch, WatchedEvent,
};

use crate::format;
use crate::parse::{help_text, Command};
use crate::shell::Shell;

/// The events of the watches a command set: one for a one-shot watch, many for a persistent
/// one. The interactive shell prints them as they come.
pub type Events = Pin<Box<dyn Stream<Item = Result<WatchedEvent, Error>> + Send>>;

fn once(w: Watch) -> Events {
    Box::pin(stream::once(w))
}

fn persistent(w: PersistentWatch) -> Events {
    Box::pin(stream::unfold(w, |mut w| async move {
        w.next().await.map(|e| (e, w))
    }))
}

/// What the shell does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// Done (exit status 0), with this text for stderr: what zkCli prints with `err.println`
    /// without failing (e.g. `listquota`'s `absolute path is ...`).
    Note(String),
    Quit,
}

/// Runs `cmd` in `shell` (whose history `history` and `redo` use, and whose `printwatches`
/// switch they set). Its output (zkCli's stdout text) is appended to `out`, watches it set are
/// pushed to `watches` (the interactive shell prints their events), and a failure is returned as
/// the text zkCli prints on stderr.
pub async fn exec(
    client: &Client,
    shell: &mut Shell,
    cmd: Command,
    out: &mut String,
    watches: &mut Vec<Events>,
) -> Result<Outcome, String> {
    match cmd {
        Command::Ls {
            path,
            stat,
            watch,
            recursive,
        } => {
            if recursive {
                ls_recursive(client, &path, out).await?;
            } else {
                let (children, st) = if watch {
                    let (c, s, w) = client.get_children_w(&path).await.map_err(e(&path))?;
                    watches.push(once(w));
                    (c, s)
                } else {
                    client.get_children(&path).await.map_err(e(&path))?
                };
                out.push_str(&format::children(children));
                out.push('\n');
                if stat {
                    out.push_str(&format::stat(&st));
                }
            }
        }
        Command::Get { path, stat, watch } => {
            let (data, st) = if watch {
                let (d, s, w) = client.get_data_w(&path).await.map_err(e(&path))?;
                watches.push(once(w));
                (d, s)
            } else {
                client.get_data(&path).await.map_err(e(&path))?
            };
            // zkCli prints a node's null data (created with no data) as "null".
            if data.is_null() {
                out.push_str("null");
            } else {
                out.push_str(&format::data(&data));
            }
            out.push('\n');
            if stat {
                out.push_str(&format::stat(&st));
            }
        }
        Command::Config {
            client_form,
            watch,
            stat,
        } => {
            let e = e("/zookeeper/config");
            let (data, st) = if watch {
                let (d, s, w) = client.get_config_w().await.map_err(&e)?;
                watches.push(once(w));
                (d, s)
            } else {
                client.get_config().await.map_err(&e)?
            };
            let text = format::data(&data);
            if client_form {
                out.push_str(&format::client_config(&text));
            } else {
                out.push_str(&text);
            }
            out.push('\n');
            if stat {
                out.push_str(&format::stat(&st));
            }
        }
        Command::Stat { path, watch } => {
            let st = if watch {
                let (s, w) = client.exists_w(&path).await.map_err(e(&path))?;
                watches.push(once(w));
                s
            } else {
                client.exists(&path).await.map_err(e(&path))?
            };
            match st {
                Some(st) => out.push_str(&format::stat(&st)),
                None => return Err(format!("Node does not exist: {path}")),
            }
        }
        Command::Create {
            path,
            data,
            acl,
            sequential,
            ephemeral,
            container,
            ttl,
        } => {
            // zkCli's CreateCommand: the flag combinations were checked when parsing.
            let mode = match (sequential, ephemeral, container, ttl) {
                (true, true, _, _) => CreateMode::EphemeralSequential,
                (false, true, _, _) => CreateMode::Ephemeral,
                (true, false, _, Some(ttl_ms)) => {
                    CreateMode::PersistentSequentialWithTtl { ttl_ms }
                }
                (true, false, _, None) => CreateMode::PersistentSequential,
                (false, false, true, _) => CreateMode::Container,
                (false, false, false, Some(ttl_ms)) => CreateMode::PersistentWithTtl { ttl_ms },
                (false, false, false, None) => CreateMode::Persistent,
            };
            // No data argument is ZooKeeper's null data, as zkCli's `create /p`.
            let data = data.map_or(Data::NULL, Data::from);
            let created = match acl {
                Some(acl) => client.create_with_acl(&path, data, mode, acl).await,
                None => client.create(&path, data, mode).await,
            }
            .map_err(|err| match err.code() {
                // zkCli's CreateCommand prints the exception's own message first.
                ErrorCode::InvalidAcl => format!(
                    "{}\n{}",
                    format::keeper_exception(&err, &path),
                    format::error(&err, &path)
                ),
                _ => format::error(&err, &path),
            })?;
            out.push_str(&format!("Created {created}\n"));
        }
        Command::Set {
            path,
            data,
            stat,
            version,
        } => {
            let st = client
                .set_data(&path, data, version.unwrap_or(-1))
                .await
                .map_err(e(&path))?;
            if stat {
                out.push_str(&format::stat(&st));
            }
        }
        Command::Delete { path, version } => {
            client
                .delete(&path, version.unwrap_or(-1))
                .await
                .map_err(e(&path))?;
        }
        Command::DeleteAll { path } => delete_all(client, &path).await?,
        Command::Sync { path } => {
            client.sync(&path).await.map_err(e(&path))?;
            out.push_str("Sync is OK\n");
        }
        Command::Watch { path, timeout } => {
            let (_, w) = client.exists_w(&path).await.map_err(e(&path))?;
            // Tell a script the watch is set (stderr, so stdout is only the event).
            eprintln!("Watching {path}");
            let _ = std::io::stderr().flush();
            let wait = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, w).await.ok(),
                    None => Some(w.await),
                }
            };
            let ev = tokio::select! {
                ev = wait => ev,
                _ = tokio::signal::ctrl_c() => return Err("Interrupted".to_string()),
            };
            match ev {
                Some(Ok(ev)) => {
                    out.push_str(&format::event(&ev));
                    out.push('\n');
                }
                Some(Err(err)) => return Err(format::error(&err, &path)),
                None => return Err(format!("Timed out waiting for an event on {path}")),
            }
        }
        Command::GetAcl { path, stat } => acl::get_acl(client, &path, stat, out).await?,
        Command::SetAcl {
            path,
            acl,
            stat,
            version,
            recursive,
        } => {
            let version = version.unwrap_or(-1);
            if recursive {
                acl::set_acl_recursive(client, &path, &acl, version, out).await?;
            } else {
                acl::set_acl(client, &path, acl, version, stat, out).await?;
            }
        }
        Command::AddAuth { scheme, auth } => acl::add_auth(client, &scheme, auth).await?,
        Command::WhoAmI => acl::who_am_i(client, out).await?,
        Command::Reconfig(r) => crate::reconfig::exec(client, r, out).await?,
        Command::GetEphemerals { path } => {
            // zkCli without a path asks for every ephemeral of the session.
            let prefix = path.as_deref().unwrap_or("/");
            let paths = client.get_ephemerals(prefix).await.map_err(e(prefix))?;
            out.push_str(&format::java_list(&paths));
            out.push('\n');
        }
        Command::GetAllChildrenNumber { path } => {
            let n = client
                .get_all_children_number(&path)
                .await
                .map_err(e(&path))?;
            out.push_str(&format!("{n}\n"));
        }
        Command::SetQuota { flag, value, path } => {
            if let Some(note) = quota::set_quota(client, flag, &value, &path, out).await? {
                return Ok(Outcome::Note(note));
            }
        }
        Command::ListQuota { path } => {
            if let Some(note) = quota::list_quota(client, &path, out).await? {
                return Ok(Outcome::Note(note));
            }
        }
        Command::DelQuota { flag, path } => {
            if let Some(note) = quota::del_quota(client, flag, &path, out).await? {
                return Ok(Outcome::Note(note));
            }
        }
        Command::AddWatch { path, mode } => {
            let w = client.add_watch(&path, mode).await.map_err(e(&path))?;
            watches.push(persistent(w));
        }
        Command::RemoveWatches { path, kind, local } => client
            .remove_watches(&path, kind, local)
            .await
            .map_err(e(&path))?,
        Command::History => out.push_str(&shell.history_text()),
        Command::Redo { cmdno } => {
            // The replayed command is never a redo, so this recurses once at most.
            let cmd = shell.redo(cmdno)?;
            return Box::pin(exec(client, shell, cmd, out, watches)).await;
        }
        Command::PrintWatches { on: None } => {
            let on = if shell.print_watches() { "on" } else { "off" };
            out.push_str(&format!("printwatches is {on}\n"));
        }
        Command::PrintWatches { on: Some(on) } => shell.set_print_watches(on),
        Command::Help => out.push_str(&help_text()),
        Command::Quit => return Ok(Outcome::Quit),
    }
    Ok(Outcome::Continue)
}

fn e(path: &str) -> impl Fn(Error) -> String + '_ {
    move |err| format::error(&err, path)
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// `ls -R`: every path of the subtree, depth first, children sorted, one per line.
async fn ls_recursive(client: &Client, root: &str, out: &mut String) -> Result<(), String> {
    let mut stack = vec![root.to_string()];
    while let Some(path) = stack.pop() {
        let mut children = match client.get_children(&path).await {
            Ok((c, _)) => c,
            // Deleted meanwhile: skip it (but not the root).
            Err(err) if err.code() == ErrorCode::NoNode && path != root => continue,
            Err(err) => return Err(format::error(&err, &path)),
        };
        out.push_str(&path);
        out.push('\n');
        children.sort();
        for c in children.iter().rev() {
            stack.push(child_path(&path, c));
        }
    }
    Ok(())
}

/// `deleteall`: deletes the subtree, children first.
async fn delete_all(client: &Client, root: &str) -> Result<(), String> {
    // Collect the subtree breadth first, then delete it deepest first.
    let mut all = vec![root.to_string()];
    let mut i = 0;
    while i < all.len() {
        let path = all[i].clone();
        i += 1;
        match client.get_children(&path).await {
            Ok((children, _)) => {
                all.extend(children.iter().map(|c| child_path(&path, c)));
            }
            Err(err) if err.code() == ErrorCode::NoNode && path != root => {}
            Err(err) => return Err(format::error(&err, &path)),
        }
    }
    for path in all.iter().rev() {
        if path == "/" || path == "/zookeeper" || path.starts_with("/zookeeper/") {
            continue; // the root and the system nodes cannot be deleted
        }
        match client.delete(path, -1).await {
            Ok(()) => {}
            Err(err) if err.code() == ErrorCode::NoNode && path != root => {}
            Err(err) => return Err(format::error(&err, path)),
        }
    }
    Ok(())
}
