//! Options of [`QueueEvents`](crate::QueueEvents), with BullMQ's names and defaults.

use std::time::Duration;

use crate::connection::ConnectionOptions;

/// How a [`QueueEvents`](crate::QueueEvents) reads its queue's events stream.
#[derive(Debug, Clone)]
pub struct QueueEventsOptions {
    /// How to reach Redis. The reader opens its own blocking connection, named
    /// `prefix:<base64(queue)>:qe` like Node's (PROTOCOL.md §2.5).
    pub connection: ConnectionOptions,
    /// Key prefix. Default `bull`.
    pub prefix: String,
    /// Start reading as soon as [`QueueEvents::new`](crate::QueueEvents::new) returns.
    /// Default `true`; with `false`, call [`run`](crate::QueueEvents::run).
    pub autorun: bool,
    /// The stream entry id to read *after*. Default `None`: only events written after the
    /// reader starts (Node's `$`, resolved once at start to the stream's last id, so that a
    /// reconnect never skips what was written meanwhile). `Some("0")` replays the whole stream.
    pub last_event_id: Option<String>,
    /// How long one `XREAD BLOCK` waits for new entries. Default 10 s; must be above zero. The
    /// reader also puts a client-side deadline 2 s beyond it, so a silently dead connection is
    /// noticed and replaced.
    pub blocking_timeout: Duration,
}

impl Default for QueueEventsOptions {
    fn default() -> Self {
        QueueEventsOptions {
            connection: ConnectionOptions::default(),
            prefix: "bull".into(),
            autorun: true,
            last_event_id: None,
            blocking_timeout: Duration::from_millis(10_000),
        }
    }
}
