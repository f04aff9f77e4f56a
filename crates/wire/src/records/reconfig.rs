//! ZooKeeper's `reconfig` (op 16) record as [`Request::Reconfig`].
//!
//! The record (`zookeeper.jute`, ZooKeeper 3.5+):
//!
//! ```text
//! ReconfigRequest { ustring joiningServers; ustring leavingServers; ustring newMembers; long curConfigId }
//! ```
//!
//! Each string may be null; null and empty both mean "none". As ZooKeeper's leader reads them
//! (`PrepRequestProcessor`): `joiningServers` is a comma-separated list of server lines,
//! `leavingServers` a comma-separated list of server ids, and `newMembers` a list of server lines
//! separated by commas or newlines (zkCli's `-file` sends a whole dynamic file, `version=` line
//! included: that line is dropped, as the new configuration's version is the reconfig's zxid).
//! `curConfigId` is -1 (any) or the version the change is meant for.
//!
//! What this decoder refuses, and how:
//! - a record that is cut short, or a string that is not UTF-8: MARSHALLINGERROR (nothing of
//!   the request is known);
//! - a leaving id that is not a number: BADARGUMENTS (ZooKeeper's leader fails on it with a
//!   NumberFormatException, which it answers MARSHALLINGERROR; BADARGUMENTS says what is wrong
//!   and is what the gRPC gateway answers for bad reconfig arguments).
//!
//! Server lines are not parsed here: the server checks them (BADARGUMENTS) after it has checked
//! that it takes reconfig at all, so a server that does not answers RECONFIGDISABLED whatever
//! the lines say.

use paddock_types::dynamic::split_servers;
use paddock_types::{Request, ZkError};

use crate::jute::{JuteError, Reader};

/// Reads a `ReconfigRequest` body.
pub(super) fn decode(r: &mut Reader<'_>) -> Result<Request, ZkError> {
    let joining = ustring(r, "joiningServers").map_err(super::marshalling)?;
    let leaving = ustring(r, "leavingServers").map_err(super::marshalling)?;
    let members = ustring(r, "newMembers").map_err(super::marshalling)?;
    let from_version = r.long("curConfigId").map_err(super::marshalling)?;
    Ok(Request::Reconfig {
        joining: split_servers(&joining),
        leaving: leaving_ids(&leaving)?,
        members: member_lines(&members),
        from_version,
    })
}

/// A jute `ustring` that may be null (read as empty).
fn ustring(r: &mut Reader<'_>, field: &'static str) -> Result<String, JuteError> {
    match r.buffer_opt(field)? {
        None => Ok(String::new()),
        Some(b) => std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| JuteError::NotUtf8 { field }),
    }
}

/// `leavingServers`: ids separated by commas, blanks around them and empty entries ignored.
fn leaving_ids(list: &str) -> Result<Vec<u64>, ZkError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                ZkError::bad_arguments(format!(
                    "reconfig: leavingServers entry {s:?} is not a server id"
                ))
            })
        })
        .collect()
}

/// `newMembers`: server lines separated by commas or newlines; blank lines, `#` comments and
/// the `version=` line of a dynamic configuration file dropped.
fn member_lines(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| {
            l.split_once('=')
                .is_none_or(|(key, _)| key.trim() != "version")
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::Writer;
    use crate::records::{decode_request, op};
    use paddock_types::ErrorCode;

    /// A reconfig frame (header and body) as ZooKeeper's Java client writes it; `None` is a
    /// null string.
    fn frame(
        joining: Option<&str>,
        leaving: Option<&str>,
        members: Option<&str>,
        v: i64,
    ) -> Vec<u8> {
        let mut w = Writer::new();
        w.int(7).int(op::RECONFIG);
        for s in [joining, leaving, members] {
            match s {
                Some(s) => w.string(s),
                None => w.int(-1),
            };
        }
        w.long(v);
        w.into_bytes().to_vec()
    }

    fn decoded(f: &[u8]) -> Result<Request, ZkError> {
        let d = decode_request(f).expect("the header is whole");
        assert_eq!((d.xid, d.op), (7, op::RECONFIG));
        d.request
    }

    fn reconfig(joining: &[&str], leaving: &[u64], members: &[&str], v: i64) -> Request {
        Request::Reconfig {
            joining: joining.iter().map(|s| s.to_string()).collect(),
            leaving: leaving.to_vec(),
            members: members.iter().map(|s| s.to_string()).collect(),
            from_version: v,
        }
    }

    /// zkCli `reconfig -add 4=...,5=... -remove 2,3 -v 100000000`: comma lists split, blanks
    /// trimmed, the version carried as a number.
    #[test]
    fn an_incremental_change_is_split_as_zookeepers_leader_splits_it() {
        let f = frame(
            Some("server.4=d:2888:3888;2181, 5=e:2888:3888:observer;2181,"),
            Some("2, 3"),
            None,
            0x1_0000_0000,
        );
        assert_eq!(
            decoded(&f).expect("decodes"),
            reconfig(
                &["server.4=d:2888:3888;2181", "5=e:2888:3888:observer;2181"],
                &[2, 3],
                &[],
                0x1_0000_0000
            )
        );
    }

    /// zkCli `-members a,b` sends commas, `-file` a dynamic file's text (newlines, a
    /// `version=` line): both are the same membership; -1 is "any version".
    #[test]
    fn new_members_split_on_commas_and_newlines_without_the_version_line() {
        let expected = reconfig(&[], &[], &["server.1=a:1:2;3", "server.2=b:1:2;3"], -1);
        let commas = frame(None, None, Some("server.1=a:1:2;3,server.2=b:1:2;3"), -1);
        assert_eq!(decoded(&commas).expect("decodes"), expected);
        let file = frame(
            Some(""),
            Some(""),
            Some("# dynamic\nserver.1=a:1:2;3\n\nserver.2=b:1:2;3\nversion=100000003\n"),
            -1,
        );
        assert_eq!(decoded(&file).expect("decodes"), expected);
    }

    /// Null and empty strings are "none" alike; the server answers a request asking nothing
    /// (BADARGUMENTS, or RECONFIGDISABLED first), not the decoder.
    #[test]
    fn null_and_empty_strings_mean_none() {
        let none = reconfig(&[], &[], &[], -1);
        assert_eq!(
            decoded(&frame(None, None, None, -1)).expect("decodes"),
            none
        );
        assert_eq!(
            decoded(&frame(Some(""), Some(" , "), Some(""), -1)).expect("decodes"),
            none
        );
    }

    #[test]
    fn a_leaving_id_that_is_not_a_number_is_bad_arguments() {
        for bad in ["x", "1,two", "-1", "1.5"] {
            let e = decoded(&frame(None, Some(bad), None, -1)).expect_err(bad);
            assert_eq!(e.code, ErrorCode::BadArguments, "{bad}");
            assert!(e.message.contains("leavingServers"), "{}", e.message);
        }
    }

    /// Every cut of a valid record (and an empty body, ZooKeeper's EOFException) is
    /// MARSHALLINGERROR; so is a string that is not UTF-8.
    #[test]
    fn a_short_or_undecodable_record_is_a_marshalling_error() {
        let f = frame(Some("4=d:1:2;3"), Some("2"), None, -1);
        for cut in 8..f.len() {
            let e = decoded(&f[..cut]).expect_err("cut short");
            assert_eq!(e.code, ErrorCode::MarshallingError, "cut at {cut}");
        }
        let mut w = Writer::new();
        w.int(7)
            .int(op::RECONFIG)
            .buffer(&[0xff, 0xfe])
            .int(-1)
            .int(-1)
            .long(-1);
        let e = decoded(&w.into_bytes()).expect_err("not UTF-8");
        assert_eq!(e.code, ErrorCode::MarshallingError);
    }

    /// Bytes after the record mean the two sides disagree on it.
    #[test]
    fn trailing_bytes_are_a_marshalling_error() {
        let mut f = frame(None, Some("2"), None, -1);
        f.push(0);
        let e = decoded(&f).expect_err("trailing byte");
        assert_eq!(e.code, ErrorCode::MarshallingError);
    }
}
