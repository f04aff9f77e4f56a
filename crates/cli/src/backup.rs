//! `paddock-cli [-server host:port] [TLS] backup FILE [-auth user:password]`: a backup of a
//! running server into FILE from the shell, without a session: the same transfer and checks as
//! `paddock snapshot save` (`paddock_client::backup`): the snapshot streamed over
//! `paddock.v1.Admin/SaveSnapshot`, written to `FILE.part`, verified (checksum, tree, the zxid
//! and digest the server announced), then renamed to FILE. Restore it with
//! `paddock restore --from FILE`.
//!
//! The caller needs every permission on `/`: always so while the root's ACL is open; otherwise
//! `-auth user:password` (the `digest` scheme, e.g. the super user; also from
//! `PADDOCK_SNAPSHOT_AUTH`, to keep it out of the shell history) or a TLS client certificate.
//! Exits 0 when the backup is saved, 1 when it is not (why on stderr), 2 for bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use paddock_client::backup::{self, SaveOptions};
use paddock_client::TlsOptions;

/// The command word.
pub const WORD: &str = "backup";
/// `backup`'s usage line.
pub const USAGE: &str = "backup FILE [-auth user:password]";

/// `FILE [-auth user:password]` (also `--auth`, `--auth=...`); `env_auth` is the
/// `PADDOCK_SNAPSHOT_AUTH` variable, used when no `-auth` is given.
fn parse(words: &[String], env_auth: Option<String>) -> Result<(PathBuf, Option<String>), String> {
    let mut file = None;
    let mut auth = None;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "-auth" | "--auth" => {
                i += 1;
                auth = Some(words.get(i).ok_or("-auth needs user:password")?.clone());
            }
            _ if w.starts_with("--auth=") => auth = Some(w["--auth=".len()..].to_string()),
            _ if w.starts_with('-') => return Err(format!("unknown option {w}")),
            _ if file.is_none() => file = Some(PathBuf::from(w)),
            _ => return Err(format!("unexpected argument {w}")),
        }
        i += 1;
    }
    let file = file.ok_or("the backup file is missing")?;
    let auth = auth.or(env_auth).filter(|a| !a.is_empty());
    if auth.as_deref().is_some_and(|a| !a.contains(':')) {
        return Err("-auth takes user:password".into());
    }
    Ok((file, auth))
}

/// Runs `backup` with `words` (after the command word) against `server`.
pub fn run(server: &str, words: &[String], tls: Option<&TlsOptions>) -> ExitCode {
    let env_auth = std::env::var("PADDOCK_SNAPSHOT_AUTH").ok();
    let (file, digest_auth) = match parse(words, env_auth) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    // The first server of a `-server` list.
    let server = server
        .split(',')
        .next()
        .unwrap_or(server)
        .trim()
        .to_string();
    let opts = SaveOptions {
        file,
        server,
        tls: tls.cloned(),
        digest_auth,
    };
    let rt = match crate::admin::current_thread_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(backup::save(&opts)) {
        Ok(saved) => {
            println!("{}", backup::describe(&saved, &opts));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backup: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&w("b.snap"), None), Ok(("b.snap".into(), None)));
        assert_eq!(
            parse(&w("-auth super:pw b.snap"), None),
            Ok(("b.snap".into(), Some("super:pw".into())))
        );
        assert_eq!(
            parse(&w("b.snap --auth=u:p"), Some("env:x".into())),
            Ok(("b.snap".into(), Some("u:p".into())))
        );
        assert_eq!(
            parse(&w("b.snap"), Some("env:x".into())),
            Ok(("b.snap".into(), Some("env:x".into())))
        );
        assert!(parse(&w(""), None).is_err());
        assert!(parse(&w("a b"), None).is_err());
        assert!(parse(&w("b.snap -auth"), None).is_err());
        assert!(parse(&w("b.snap -auth nocolon"), None).is_err());
        assert!(parse(&w("b.snap -x"), None).is_err());
    }
}
