//! Reaching Redis: where a queue lives ([`Connection`]: a server and a key prefix), how to
//! connect ([`ConnectionOptions`]), the shared command connection every handle of a queue uses
//! (`Client`), and dedicated blocking connections.
//!
//! Two kinds of connection, as Node BullMQ has them: one shared, multiplexed command connection
//! per handle (reconnects by itself; its response timeout must exceed the longest script, so it
//! is generous), and dedicated *blocking* connections (for `BZPOPMIN` on the marker and `XREAD
//! BLOCK`) that have no response timeout because the block itself is the wait. A blocking
//! connection is never repaired in place: on any anomaly its owner drops it and opens a fresh
//! one, which is how a supervised fetcher restarts.

mod blocking;
mod client;
mod options;

pub(crate) use blocking::BlockingConn;
pub(crate) use client::Client;
pub use options::{Connection, ConnectionOptions};
