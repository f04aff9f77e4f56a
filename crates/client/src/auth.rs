//! The credentials a session authenticated with, replayed on every resumed stream.
//!
//! ZooKeeper clients keep every `addAuthInfo` and send them again, first, each time they
//! reconnect. Paddock's server keeps the ids with the session anyway (client.proto "Access
//! control"), so replaying is belt and braces: it keeps a resumed session's ids right even on a
//! server that somehow lost them, and adding an id the session already has changes nothing.
//!
//! Rules:
//! - only AddAuths the server ANSWERED OK are remembered (one that failed ended the session; one
//!   whose answer was lost with the connection is not known to have worked: the caller saw
//!   ConnectionLoss and may call again);
//! - each credential once, in the order first accepted; replayed in that order, before anything
//!   else on the new stream (before the calls queued while disconnected).

use paddock_proto::v1::{self as pb, request::Op};

/// The AddAuths accepted so far, in order, without duplicates.
#[derive(Debug, Default)]
pub(crate) struct Auths {
    accepted: Vec<pb::AddAuthRequest>,
}

impl Auths {
    /// Records an AddAuth the server answered OK (again: ignored).
    pub fn remember(&mut self, auth: pb::AddAuthRequest) {
        if !self.accepted.contains(&auth) {
            self.accepted.push(auth);
        }
    }

    /// The requests to send first on a resumed stream, in the order they were first accepted.
    pub fn replay(&self) -> impl Iterator<Item = Op> + '_ {
        self.accepted.iter().cloned().map(Op::AddAuth)
    }
}

/// The credentials of an AddAuth request, to remember if it succeeds; `None` for other ops.
pub(crate) fn of(op: &Op) -> Option<pb::AddAuthRequest> {
    match op {
        Op::AddAuth(a) => Some(a.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(user_password: &'static str) -> pb::AddAuthRequest {
        pb::AddAuthRequest {
            scheme: "digest".into(),
            auth: user_password.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn replays_each_accepted_credential_once_in_order() {
        let mut auths = Auths::default();
        assert_eq!(auths.replay().count(), 0, "a new session replays nothing");
        auths.remember(digest("bob:pw"));
        auths.remember(digest("alice:pw"));
        auths.remember(digest("bob:pw"));
        let replayed: Vec<Op> = auths.replay().collect();
        assert_eq!(
            replayed,
            vec![
                Op::AddAuth(digest("bob:pw")),
                Op::AddAuth(digest("alice:pw"))
            ]
        );
    }

    #[test]
    fn only_add_auth_requests_are_candidates() {
        assert_eq!(of(&Op::AddAuth(digest("a:b"))), Some(digest("a:b")));
        assert_eq!(of(&Op::Ping(pb::PingRequest {})), None);
        assert_eq!(of(&Op::WhoAmI(pb::WhoAmIRequest {})), None);
    }
}
