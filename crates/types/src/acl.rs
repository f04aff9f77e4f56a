//! Access control, ZooKeeper's model: each znode carries a list of (perms, scheme:id) entries, and
//! a request passes when one entry granting the permission it needs matches one of the caller's
//! authenticated ids.
//!
//! ```text
//!  scheme  id                                   who matches
//!  world   anyone                               everybody
//!  auth    (any; expanded at create/setACL)     every authenticated id of the creating session
//!  digest  user:base64(sha1("user:password"))   a session that ran addauth digest user:password
//!  ip      address or CIDR (IPv4, IPv6)         connections from a matching address
//!  x509    the certificate subject              connections presenting that client certificate
//!  super   (an id, never in a node's ACL)       passes every check (superDigest / x509 superUser)
//! ```
//!
//! ```
//! use paddock_types::acl::{allows, digest, perms, Acl, Id};
//! // The digest ZooKeeper's documentation gives for super:test.
//! assert_eq!(digest("super:test").unwrap(), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
//! let acl = vec![Acl::new(perms::READ, Id::new("ip", "10.0.0.0/8"))];
//! assert!(allows(&acl, perms::READ, &[Id::new("ip", "10.1.2.3")]));
//! assert!(!allows(&acl, perms::WRITE, &[Id::new("ip", "10.1.2.3")]));
//! ```

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::error::{ErrorCode, ZkError};

/// ZooKeeper's `ZooDefs.Perms` bit values.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// An identity: `scheme:id`, e.g. `digest:alice:Zm9v...`, `ip:10.0.0.0/8`, `world:anyone`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

impl Id {
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Id {
        Id::new("world", "anyone")
    }

    /// The super user's id (`super:`), which passes every check. Never stored in a node's ACL.
    pub fn super_user() -> Id {
        Id::new("super", "")
    }

    /// The `ip` id of a connection from `addr` (IPv4-mapped IPv6 addresses as IPv4).
    pub fn ip(addr: IpAddr) -> Id {
        let addr = match addr {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        Id::new("ip", addr.to_string())
    }

    pub fn is_super(&self) -> bool {
        self.scheme == "super"
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// One ACL entry: the permissions `id` is granted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, id: Id) -> Acl {
        Acl { perms, id }
    }

    /// ZooKeeper's `OPEN_ACL_UNSAFE`: `world:anyone:cdrwa`, the default of every client.
    pub fn open() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, Id::anyone())]
    }

    /// ZooKeeper's `READ_ACL_UNSAFE`: `world:anyone:r`.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::READ, Id::anyone())]
    }

    /// ZooKeeper's `CREATOR_ALL_ACL`: `auth::cdrwa` (every id the creator authenticated).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, Id::new("auth", ""))]
    }
}

impl fmt::Display for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, perms_string(self.perms))
    }
}

/// True for exactly `world:anyone:cdrwa` (what every node has unless a client says otherwise).
pub fn is_open(acl: &[Acl]) -> bool {
    matches!(acl, [a] if a.perms == perms::ALL && a.id.scheme == "world" && a.id.id == "anyone")
}

/// Permissions as zkCli prints and reads them: a subset of `cdrwa`, in that order.
pub fn perms_string(p: i32) -> String {
    [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p & bit != 0)
    .map(|(_, c)| *c)
    .collect()
}

/// Parses zkCli's permission letters (`crdwa` in any order; empty = none). `None` on any other
/// character.
pub fn parse_perms(s: &str) -> Option<i32> {
    s.chars().try_fold(0, |acc, c| {
        let bit = match c.to_ascii_lowercase() {
            'r' => perms::READ,
            'w' => perms::WRITE,
            'c' => perms::CREATE,
            'd' => perms::DELETE,
            'a' => perms::ADMIN,
            _ => return None,
        };
        Some(acc | bit)
    })
}

/// ZooKeeper's `DigestAuthenticationProvider.generateDigest`: `"user:password"` becomes
/// `"user:" + base64(sha1("user:password"))`. `None` without a `:`.
pub fn digest(user_password: &str) -> Option<String> {
    let (user, _) = user_password.split_once(':')?;
    let hash = Sha1::digest(user_password.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(hash);
    Some(format!("{user}:{b64}"))
}

/// Parses an `ip` ACL id: an address, or an address and a prefix length (`10.0.0.0/8`, `::1/128`).
fn ip_pattern(pattern: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.parse::<u32>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((addr, bits))
}

/// True when the connection address `addr` (an `ip` id of a session) falls in `pattern`.
fn ip_matches(pattern: &str, addr: &str) -> bool {
    let (Some((net, bits)), Ok(addr)) = (ip_pattern(pattern), addr.parse::<IpAddr>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Schemes whose ids an `auth` entry expands to (ZooKeeper's "authenticated" providers).
fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "x509")
}

fn invalid(message: String) -> ZkError {
    ZkError::new(ErrorCode::InvalidAcl, message)
}

/// ZooKeeper's `fixupACL`: checks an ACL a client sent with create or setACL and returns the list
/// to store. Empty -> `InvalidAcl`; `world` only with `anyone`; `auth` entries become one entry
/// per authenticated (`digest`, `x509`) id of the caller, `InvalidAcl` if it has none; `digest`
/// ids must be `user:hash`, `ip` ids an address or CIDR; unknown schemes and permission bits
/// outside `cdrwa` are `InvalidAcl`. Duplicates are dropped, order kept.
pub fn fixup(acl: &[Acl], caller: &[Id]) -> Result<Vec<Acl>, ZkError> {
    if acl.is_empty() {
        return Err(invalid("an ACL needs at least one entry".into()));
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let mut push = |a: Acl| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in acl {
        if a.perms & !perms::ALL != 0 || a.perms < 0 {
            return Err(invalid(format!(
                "permissions {:#x} of {} are not a subset of cdrwa",
                a.perms, a.id
            )));
        }
        let Id { scheme, id } = &a.id;
        match scheme.as_str() {
            "world" if id == "anyone" => push(a.clone()),
            "world" => {
                return Err(invalid(format!(
                    "world:{id}: the world scheme has only the id anyone"
                )))
            }
            "auth" => {
                let mut any = false;
                for c in caller.iter().filter(|c| is_authenticated_scheme(&c.scheme)) {
                    push(Acl::new(a.perms, c.clone()));
                    any = true;
                }
                if !any {
                    return Err(invalid(
                        "the auth scheme needs an authenticated id (run addauth first)".into(),
                    ));
                }
            }
            "digest" => match id.split_once(':') {
                Some((_, hash)) if !hash.is_empty() && !hash.contains(':') => push(a.clone()),
                _ => {
                    return Err(invalid(format!(
                        "digest:{id}: a digest id is user:base64(sha1(user:password))"
                    )))
                }
            },
            "ip" if ip_pattern(id).is_some() => push(a.clone()),
            "ip" => return Err(invalid(format!("ip:{id}: not an address or address/bits"))),
            "x509" if !id.is_empty() => push(a.clone()),
            "x509" => {
                return Err(invalid(
                    "x509: the id is a certificate subject, not empty".into(),
                ))
            }
            other => return Err(invalid(format!("unknown ACL scheme {other:?}"))),
        }
    }
    Ok(out)
}

/// ZooKeeper's `checkACL`: does one of `ids` get `perm` (any of its bits) from `acl`? The super
/// user always does, and so does everybody for an empty list.
pub fn allows(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    allows_any(acl, perm, ids.iter())
}

/// [`allows`] for ids that come from several places (a session's and its connection's), without
/// gathering them first.
pub fn allows_any<'a, I>(acl: &[Acl], perm: i32, ids: I) -> bool
where
    I: Iterator<Item = &'a Id> + Clone,
{
    if acl.is_empty() || ids.clone().any(Id::is_super) {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        let Id { scheme, id } = &a.id;
        match scheme.as_str() {
            "world" => id == "anyone",
            "ip" => ids
                .clone()
                .any(|c| c.scheme == "ip" && ip_matches(id, &c.id)),
            _ => ids.clone().any(|c| &c.scheme == scheme && &c.id == id),
        }
    })
}

/// What getACL shows a caller without ADMIN: digest hashes replaced by `x` (as ZooKeeper 3.6+).
pub fn redact_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| match (a.id.scheme.as_str(), a.id.id.split_once(':')) {
            ("digest", Some((user, _))) => {
                Acl::new(a.perms, Id::new("digest", format!("{user}:x")))
            }
            _ => a.clone(),
        })
        .collect()
}

/// Parses zkCli's ACL syntax: comma-separated `scheme:id:perms` (the id may hold colons, the
/// perms are after the last one), e.g. `world:anyone:cdrwa,digest:bob:abc=:r`.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, String> {
    text.split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (scheme, rest) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
            let (id, p) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("{entry:?}: expected scheme:id:perms"))?;
            let perms = parse_perms(p)
                .ok_or_else(|| format!("{entry:?}: permissions are letters of cdrwa"))?;
            Ok(Acl::new(perms, Id::new(scheme, id)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(&str, &str)]) -> Vec<Id> {
        list.iter().map(|(s, i)| Id::new(*s, *i)).collect()
    }

    #[test]
    fn digests_match_the_ones_zookeeper_computes() {
        // From ZooKeeper's admin guide (super:test) and DigestAuthenticationProvider's tests.
        assert_eq!(
            digest("super:test").unwrap(),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        assert_eq!(
            digest("user:password").unwrap(),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
        // Only the first colon splits user from password.
        assert!(digest("a:b:c").unwrap().starts_with("a:"));
        assert_eq!(digest("nocolon"), None);
    }

    #[test]
    fn ip_ids_match_addresses_and_networks() {
        let acl = |p: &str| vec![Acl::new(perms::ALL, Id::new("ip", p))];
        let from = |a: &str| ids(&[("ip", a)]);
        assert!(allows(&acl("127.0.0.1"), perms::READ, &from("127.0.0.1")));
        assert!(!allows(&acl("127.0.0.1"), perms::READ, &from("127.0.0.2")));
        assert!(allows(
            &acl("127.0.0.0/24"),
            perms::READ,
            &from("127.0.0.9")
        ));
        assert!(!allows(
            &acl("127.0.0.0/24"),
            perms::READ,
            &from("127.0.1.9")
        ));
        assert!(allows(&acl("0.0.0.0/0"), perms::READ, &from("8.8.8.8")));
        assert!(allows(&acl("::1"), perms::READ, &from("::1")));
        assert!(allows(&acl("fd00::/8"), perms::READ, &from("fd12::1")));
        assert!(!allows(&acl("fd00::/8"), perms::READ, &from("127.0.0.1")));
        assert_eq!(
            Id::ip("::ffff:10.1.2.3".parse().unwrap()),
            Id::new("ip", "10.1.2.3")
        );
    }

    #[test]
    fn checks_follow_zookeeper() {
        let acl = vec![
            Acl::new(perms::READ | perms::WRITE, Id::new("digest", "bob:h")),
            Acl::new(perms::READ, Id::anyone()),
        ];
        assert!(allows(&acl, perms::READ, &[]));
        assert!(!allows(&acl, perms::WRITE, &[]));
        assert!(allows(&acl, perms::WRITE, &ids(&[("digest", "bob:h")])));
        assert!(!allows(&acl, perms::WRITE, &ids(&[("digest", "bob:x")])));
        assert!(!allows(&acl, perms::ADMIN, &ids(&[("digest", "bob:h")])));
        assert!(allows(&acl, perms::ADMIN, &[Id::super_user()]));
        assert!(allows(&[], perms::ADMIN, &[]));
        // getACL asks for READ or ADMIN: any bit is enough.
        assert!(allows(&acl, perms::READ | perms::ADMIN, &[]));
    }

    #[test]
    fn fixup_validates_and_expands() {
        let bob = Id::new("digest", "bob:h");
        let caller = vec![Id::new("ip", "127.0.0.1"), bob.clone()];
        assert_eq!(
            fixup(&Acl::creator_all(), &caller).unwrap(),
            vec![Acl::new(perms::ALL, bob.clone())]
        );
        let code = |acl: Vec<Acl>, caller: &[Id]| fixup(&acl, caller).unwrap_err().code;
        assert_eq!(code(vec![], &caller), ErrorCode::InvalidAcl);
        assert_eq!(
            code(Acl::creator_all(), &ids(&[("ip", "1.2.3.4")])),
            ErrorCode::InvalidAcl
        );
        for bad in [
            Id::new("world", "someone"),
            Id::new("digest", "nohash"),
            Id::new("digest", "a:b:c"),
            Id::new("ip", "300.1.1.1"),
            Id::new("ip", "10.0.0.0/33"),
            Id::new("x509", ""),
            Id::new("kerberos", "x"),
        ] {
            assert_eq!(code(vec![Acl::new(1, bad)], &caller), ErrorCode::InvalidAcl);
        }
        assert_eq!(
            code(vec![Acl::new(64, Id::anyone())], &caller),
            ErrorCode::InvalidAcl
        );
        assert_eq!(
            code(vec![Acl::new(-1, Id::anyone())], &caller),
            ErrorCode::InvalidAcl
        );
        // Duplicates collapse.
        let twice = vec![Acl::new(1, Id::anyone()), Acl::new(1, Id::anyone())];
        assert_eq!(fixup(&twice, &[]).unwrap().len(), 1);
    }

    #[test]
    fn perms_and_acl_text_round_trip() {
        assert_eq!(perms_string(perms::ALL), "cdrwa");
        assert_eq!(perms_string(perms::READ | perms::ADMIN), "ra");
        assert_eq!(
            parse_perms("rwa"),
            Some(perms::READ | perms::WRITE | perms::ADMIN)
        );
        assert_eq!(parse_perms("rx"), None);
        let acl = parse_acl("world:anyone:r,digest:bob:ab+c=:cdrwa,ip:10.0.0.0/8:rw").unwrap();
        assert_eq!(acl[1], Acl::new(perms::ALL, Id::new("digest", "bob:ab+c=")));
        assert_eq!(acl[2].id.id, "10.0.0.0/8");
        assert!(parse_acl("world").is_err());
        assert!(parse_acl("world:anyone:q").is_err());
        assert_eq!(redact_digests(&acl)[1].id, Id::new("digest", "bob:x"));
        assert!(is_open(&Acl::open()));
        assert!(!is_open(&Acl::read_unsafe()));
    }
}
