//! The server as the gateway sees it: paddock-processor's `api` module, re-exported.
//!
//! The gateway talks to the server ONLY through [`Backend`]; tests plug in a fake.

pub use paddock_processor::api::{
    Backend, ConnId, ConnectRequest, Connected, SessionEvent, SetWatches,
};
