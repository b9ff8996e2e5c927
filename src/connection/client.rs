//! The shared command connection of a queue, with the queue's keys: what every layer above
//! talks to Redis through.

use std::sync::Arc;

use redis::aio::ConnectionManager;

use super::options::Connection;
use crate::error::Result;
use crate::keys::QueueKeys;

/// One queue on one shared, auto-reconnecting connection. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Client {
    conn: ConnectionManager,
    keys: Arc<QueueKeys>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("queue", &self.keys.qualified()).finish()
    }
}

impl Client {
    /// Checks the queue name and prefix, then connects.
    pub(crate) async fn connect(connection: &Connection, queue: &str) -> Result<Client> {
        let keys = Arc::new(QueueKeys::new(&connection.prefix, queue)?);
        let conn = connection.redis.connect_shared().await?;
        Ok(Client { conn, keys })
    }

    /// A handle on the connection for one call (multiplexed: clones share it).
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub(crate) fn keys(&self) -> &Arc<QueueKeys> {
        &self.keys
    }

    /// Another queue on the same connection (a fair group's tenant queue).
    pub(crate) fn for_queue(&self, keys: Arc<QueueKeys>) -> Client {
        Client { conn: self.conn.clone(), keys }
    }
}
