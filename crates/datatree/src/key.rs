//! Map keys: a znode path re-encoded so that the ordered map keeps each node's children together.
//!
//! The key of a path is the path with its **last** `/` replaced by `\0` (NUL can never occur in a
//! valid path), and the root's key is the empty string:
//!
//! ```text
//!   /           ""
//!   /a          "\0a"
//!   /a/b        "/a\0b"
//!   /a/b/c      "/a/b\0c"
//! ```
//!
//! Byte order of keys is therefore (parent path, name) order, which gives two properties the tree
//! relies on:
//! - the children of `P` are exactly the keys starting with `P\0` (`\0` alone for the root), a
//!   contiguous range, so `get_children` is a range scan and no per-node child set is stored;
//! - a parent's key sorts before its children's keys, so iterating the map in order yields parents
//!   first (snapshots are written and reloaded in that order).
//!
//! A path and its key have the same length, except the root (`/` vs `""`).

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

/// The encoded path of a node (see the module doc). Cloning shares the string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeKey(Arc<str>);

impl NodeKey {
    /// The root's key, `""`.
    pub(crate) fn root() -> NodeKey {
        NodeKey(Arc::from(""))
    }

    /// The key for a path, or `None` for something that cannot be a node's path (not absolute,
    /// contains NUL). Does not otherwise validate the path.
    pub(crate) fn from_path(path: &str) -> Option<NodeKey> {
        encode(path).map(|s| NodeKey(Arc::from(s)))
    }

    /// Wraps an already encoded key.
    pub(crate) fn from_encoded(key: String) -> NodeKey {
        NodeKey(Arc::from(key))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The path this key encodes.
    pub(crate) fn path(&self) -> String {
        decode(&self.0)
    }

    /// Length of the path this key encodes (ZooKeeper's approximate data size counts it).
    pub(crate) fn path_len(&self) -> usize {
        self.0.len().max(1)
    }
}

impl Borrow<str> for NodeKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.path())
    }
}

/// Encodes a path as a key; `None` if it is not absolute or contains NUL.
pub(crate) fn encode(path: &str) -> Option<String> {
    if path == "/" {
        return Some(String::new());
    }
    if !path.starts_with('/') || path.contains('\0') {
        return None;
    }
    let last = path.rfind('/')?;
    let mut key = String::with_capacity(path.len());
    key.push_str(&path[..last]);
    key.push('\0');
    key.push_str(&path[last + 1..]);
    Some(key)
}

/// Decodes a key made by [`encode`]: the root, or the key with its `\0` turned back into `/`.
pub(crate) fn decode(key: &str) -> String {
    if key.is_empty() {
        "/".to_string()
    } else {
        key.replace('\0', "/")
    }
}

/// The prefix shared by the keys of `path`'s children (`"\0"` for the root, `"/a\0"` for `/a`).
pub(crate) fn children_prefix(path: &str) -> String {
    let mut prefix = String::with_capacity(path.len() + 1);
    if path != "/" {
        prefix.push_str(path);
    }
    prefix.push('\0');
    prefix
}

/// The child name in a key (the part after `\0`); empty for the root.
pub(crate) fn name_of(key: &str) -> &str {
    match key.find('\0') {
        Some(i) => &key[i + 1..],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        for p in ["/", "/a", "/a/b", "/a/b/c", "/zookeeper/quota", "/ü/ß"] {
            let k = encode(p).expect("valid path");
            assert_eq!(k.len().max(1), p.len());
            assert_eq!(decode(&k), p);
        }
        assert_eq!(encode("/a/b").as_deref(), Some("/a\0b"));
        assert_eq!(encode("/a").as_deref(), Some("\0a"));
        assert_eq!(encode(""), None);
        assert_eq!(encode("a/b"), None);
        assert_eq!(encode("/a\0b"), None);
    }

    #[test]
    fn parents_sort_before_children_and_children_are_contiguous() {
        let paths = vec![
            "/", "/a", "/a-b", "/a/b", "/a/b/c", "/a/c", "/b", "/a-b/x", "/a0",
        ];
        let mut keys: Vec<String> = paths.iter().map(|p| encode(p).expect("valid")).collect();
        keys.sort();
        let sorted: Vec<String> = keys.iter().map(|k| decode(k)).collect();
        for (i, p) in sorted.iter().enumerate() {
            if p != "/" {
                let parent = paddock_types::path::parent(p);
                let pi = sorted
                    .iter()
                    .position(|q| q == parent)
                    .expect("parent present");
                assert!(pi < i, "{parent} must come before {p}");
            }
        }
        let prefix = children_prefix("/a");
        let kids: Vec<&str> = keys
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .map(|k| name_of(k))
            .collect();
        assert_eq!(kids, vec!["b", "c"]);
        let root_kids: Vec<&str> = keys
            .iter()
            .filter(|k| k.starts_with(&children_prefix("/")))
            .map(|k| name_of(k))
            .collect();
        assert_eq!(root_kids, vec!["a", "a-b", "a0", "b"]);
    }
}
