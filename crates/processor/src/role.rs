//! [`ServingRole`]: what a server does for clients, as the quorum peer's role dictates it
//! (the switches are in `serving.rs`).

/// What a server is doing, as far as clients are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingRole {
    /// Electing or syncing: sessions are refused and connections dropped.
    NotServing,
    /// The serving leader: also expires sessions.
    Leader,
    /// A serving follower or observer.
    Learner,
    /// Reads only ([`Processor::set_read_only`]).
    ReadOnly,
}

impl ServingRole {
    pub(crate) fn to_u8(self) -> u8 {
        match self {
            ServingRole::NotServing => 0,
            ServingRole::Leader => 1,
            ServingRole::Learner => 2,
            ServingRole::ReadOnly => 3,
        }
    }

    pub(crate) fn from_u8(v: u8) -> ServingRole {
        match v {
            1 => ServingRole::Leader,
            2 => ServingRole::Learner,
            3 => ServingRole::ReadOnly,
            _ => ServingRole::NotServing,
        }
    }
}
