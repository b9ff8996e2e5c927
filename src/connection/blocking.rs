//! A dedicated blocking connection: no response timeout (the block is the wait; callers bound
//! each call with their own deadline), named as Node names its connections so that
//! `Queue.getWorkers()` on either side counts it, and its `CLIENT ID` kept for `CLIENT UNBLOCK`.

use redis::aio::MultiplexedConnection;

use super::options::ConnectionOptions;
use crate::error::{Error, Result};

/// A blocking connection and its `CLIENT ID`.
pub(crate) struct BlockingConn {
    pub(crate) conn: MultiplexedConnection,
    pub(crate) id: u64,
}

impl BlockingConn {
    /// Opens one named `client_name`, reading its `CLIENT ID`.
    pub(crate) async fn open(options: &ConnectionOptions, client_name: Option<&str>) -> Result<BlockingConn> {
        let mut conn = options.connect_blocking(client_name).await?;
        let id: u64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("CLIENT ID", None, e))?;
        Ok(BlockingConn { conn, id })
    }
}
