//! ZooKeeper's path rules (`PathUtils.validatePath`), with the same messages.

use crate::error::ZkError;

/// The system subtree; clients may read it but not change it.
pub const SYSTEM_ROOT: &str = "/zookeeper";
/// ZooKeeper's config node.
pub const CONFIG_NODE: &str = "/zookeeper/config";
/// ZooKeeper's quota node.
pub const QUOTA_NODE: &str = "/zookeeper/quota";

/// Checks a path as ZooKeeper does: absolute, `/`-separated, no empty, `.` or `..` components, no
/// trailing `/` (unless `sequential`, where the server appends the counter), no NUL and none of the
/// control / private-use characters ZooKeeper refuses. The error is `BadArguments` naming the rule and
/// the position.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), ZkError> {
    if sequential {
        // ZooKeeper validates `path + "1"` for sequential creates.
        let mut p = String::with_capacity(path.len() + 1);
        p.push_str(path);
        p.push('1');
        return validate(&p);
    }
    validate(path)
}

fn validate(path: &str) -> Result<(), ZkError> {
    let bad = |why: String| {
        Err(ZkError::bad_arguments(format!(
            "Invalid path string \"{path}\" caused by {why}"
        )))
    };
    if path.is_empty() {
        return bad("path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return bad("path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return bad("path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    let mut last = '/';
    for i in 1..chars.len() {
        let c = chars[i];
        let reason = if c == '\u{0}' {
            Some("null character not allowed")
        } else if c == '/' && last == '/' {
            Some("empty node name specified")
        } else if c == '.' && last == '.' {
            let prev2 = chars[i - 2];
            let next_is_end = i + 1 == chars.len() || chars[i + 1] == '/';
            if prev2 == '/' && next_is_end {
                Some("relative paths not allowed")
            } else {
                None
            }
        } else if c == '.' && last == '/' && (i + 1 == chars.len() || chars[i + 1] == '/') {
            Some("relative paths not allowed")
        } else if ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
        {
            Some("invalid character")
        } else {
            None
        };
        if let Some(r) = reason {
            return bad(format!("{r} @{i}"));
        }
        last = c;
    }
    Ok(())
}

/// The parent of a valid, non-root path (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a valid, non-root path (`/a/b` -> `b`).
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// True for `/zookeeper` and everything under it.
pub fn is_system(path: &str) -> bool {
    path == SYSTEM_ROOT || path.starts_with("/zookeeper/")
}

/// True for the nodes strictly under `/zookeeper/quota`: clients write quotas there (as zkCli's
/// `setquota` does), so they are the one writable part of the system subtree.
pub fn is_under_quota_node(path: &str) -> bool {
    path.strip_prefix(QUOTA_NODE)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
}

/// True for the paths no client may create, delete or set data on: the root and `/zookeeper/**`,
/// except the quota nodes under `/zookeeper/quota`.
pub fn is_read_only(path: &str) -> bool {
    path == "/" || (is_system(path) && !is_under_quota_node(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn ok(p: &str) {
        assert!(validate_path(p, false).is_ok(), "{p:?} should be valid");
    }
    fn err(p: &str) {
        let e = validate_path(p, false).expect_err(p);
        assert_eq!(e.code, ErrorCode::BadArguments, "{p:?}");
    }

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..a",
            "/a..",
            "/.a/b.",
            "/zookeeper",
            "/ünïcödé",
            "/a b",
        ] {
            ok(p);
        }
    }

    #[test]
    fn refuses_what_zookeeper_refuses() {
        for p in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/.",
            "/a/../b",
            "/a/./b",
            "/a\u{0}b",
            "/a\u{1}",
            "/a\u{7f}",
            "/a\u{e000}",
            "/a\u{fff5}",
        ] {
            err(p);
        }
    }

    #[test]
    fn sequential_allows_trailing_slash() {
        assert!(validate_path("/a/", true).is_ok());
        assert!(validate_path("/a/b-", true).is_ok());
        assert!(validate_path("/a//", true).is_err());
    }

    #[test]
    fn error_names_the_rule_and_position() {
        let e = validate_path("/a//b", false).unwrap_err();
        assert!(
            e.message.contains("empty node name specified @3"),
            "{}",
            e.message
        );
    }

    #[test]
    fn parent_and_basename() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(basename("/a/b/c"), "c");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_system("/zookeeper/config"));
        assert!(!is_system("/zookeeperx"));
        assert!(is_read_only("/zookeeper/quota") && is_read_only("/zookeeper/config"));
        assert!(is_read_only("/") && is_read_only("/zookeeper/quotax/a"));
        assert!(!is_read_only("/zookeeper/quota/a") && !is_read_only("/a"));
    }
}
