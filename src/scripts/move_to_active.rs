//! `moveToActive-1`: take the next job (PROTOCOL.md §12.2).

use redis::{FromRedisValue, Value};

use super::fetch::{decode_fetch, FetchArgs, FetchReply};
use super::{script_def, Invocation};
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::keys::QueueKeys;

script_def!("moveToActive-1");

/// Takes the next ready job under `fetch.token`, promoting due delayed jobs first.
pub(crate) struct MoveToActive<'a> {
    pub(crate) fetch: &'a FetchArgs<'a>,
}

impl MoveToActive<'_> {
    fn invocation(&self, keys: &QueueKeys) -> Invocation {
        let mut inv = DEF.call(&keys.base);
        self.fetch.push(&mut inv);
        inv
    }

    pub(crate) async fn run(&self, client: &Client) -> Result<FetchReply> {
        let reply: Vec<Value> = self.invocation(client.keys()).run(client, "moveToActive", None).await?;
        decode_fetch(reply).map_err(|e| Error::redis("moveToActive", None, e))
    }

    /// The call as an FCALL command, to pipeline (only where scripts run as functions; the
    /// caller handles "Function not found").
    pub(crate) fn command(&self, keys: &QueueKeys) -> redis::Cmd {
        self.invocation(keys).fcall()
    }

    /// Decodes the reply of [`command`](Self::command) received in a pipeline.
    pub(crate) fn decode(reply: Value) -> Result<FetchReply> {
        let fields = Vec::<Value>::from_redis_value(reply).map_err(|e| Error::redis("moveToActive", None, e.into()))?;
        decode_fetch(fields).map_err(|e| Error::redis("moveToActive", None, e))
    }
}
