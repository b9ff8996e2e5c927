//! Options of [`QueueEvents`](crate::QueueEvents), with BullMQ's names and defaults.

use std::time::Duration;

use crate::connection::Connection;

/// How a [`QueueEvents`](crate::QueueEvents) reads its queue's events stream.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct QueueEventsOptions {
    /// Where the queue lives. The reader opens its own blocking connection, named
    /// `prefix:<base64(queue)>:qe` like Node's (PROTOCOL.md §2.5). Default `127.0.0.1:6379`,
    /// prefix `bull`.
    pub connection: Connection,
    /// Start reading as soon as [`QueueEvents::new`](crate::QueueEvents::new) returns.
    /// Default `true`; with `false`, call [`run`](crate::QueueEvents::run) or start it under
    /// a supervisor of yours ([`child_spec`](crate::QueueEvents::child_spec)).
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
            connection: Connection::default(),
            autorun: true,
            last_event_id: None,
            blocking_timeout: Duration::from_millis(10_000),
        }
    }
}

impl QueueEventsOptions {
    /// Defaults, on `connection`.
    pub fn new(connection: Connection) -> Self {
        QueueEventsOptions { connection, ..Default::default() }
    }
    /// Builder: where the queue lives.
    pub fn connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }
    /// Builder: start reading at once (default) or not.
    pub fn autorun(mut self, autorun: bool) -> Self {
        self.autorun = autorun;
        self
    }
    /// Builder: the stream entry id to read after (`"0"`: the whole stream).
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }
    /// Builder: how long one `XREAD BLOCK` waits.
    pub fn blocking_timeout(mut self, timeout: Duration) -> Self {
        self.blocking_timeout = timeout;
        self
    }
}
