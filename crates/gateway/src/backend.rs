//! The server as the gateway sees it: the `paddock-api` crate, re-exported.
//!
//! The gateway talks to the server ONLY through [`Backend`]; tests plug in a fake.

pub use paddock_api::{Backend, ConnId, ConnectRequest, Connected, SessionEvent, SetWatches};
