//! The reader actor: one dedicated blocking connection, `XREAD BLOCK` in a loop, each batch
//! handed to the subscribers in stream order. It holds nothing worth keeping: on any anomaly
//! (connection error, client-side deadline passed, LOADING / READONLY / UNBLOCKED or any other
//! error reply) it fails, and its supervisor starts a new one with a fresh connection, which
//! resumes after the last id recorded in [`Shared`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;

use super::event::QueueEvent;
use super::shared::Shared;
use crate::connection::ConnectionOptions;

/// Entries fetched per `XREAD` at most: bounds one reply's size when replaying a long stream.
const BATCH: usize = 1000;

/// Margin of the client-side deadline over the server-side block.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

pub(crate) struct Reader {
    pub(crate) shared: Arc<Shared>,
    pub(crate) connection: ConnectionOptions,
    pub(crate) blocking_timeout: Duration,
}

pub(crate) enum ReaderMsg {
    Read,
}

pub(crate) struct ReaderState {
    conn: MultiplexedConnection,
}

impl Actor for Reader {
    type Msg = ReaderMsg;
    type State = ReaderState;
    type Arguments = ();

    async fn pre_start(&self, myself: ActorRef<ReaderMsg>, _: ()) -> Result<ReaderState, ActorProcessingErr> {
        let mut conn = self.connection.connect_blocking(Some(&self.shared.client_name)).await?;
        if self.shared.last_id().is_none() {
            // Node's `$`, resolved once: later restarts continue from here instead of jumping
            // to whatever is newest when they reconnect.
            let last = stream_last_id(&mut conn, &self.shared.stream_key).await?;
            self.shared.init_last_id(last);
        }
        let n = self.shared.connects.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            tracing::info!(stream = %self.shared.stream_key, reconnects = n, "queue events reader reconnected");
        }
        if !self.shared.cancel.is_cancelled() {
            myself.send_message(ReaderMsg::Read)?;
        }
        Ok(ReaderState { conn })
    }

    async fn handle(
        &self,
        myself: ActorRef<ReaderMsg>,
        _: ReaderMsg,
        state: &mut ReaderState,
    ) -> Result<(), ActorProcessingErr> {
        // One turn of the runtime before reading again: whatever else is ready runs first (often
        // the very work that writes the next events, such as a worker in this process finishing
        // the job whose `active` event was just read), so a read finds several entries more
        // often instead of one each (docs/BENCH.md). The read goes out a little later, after
        // the work that was ready; that work is what writes the next event, so nothing is read
        // later for it.
        tokio::task::yield_now().await;
        let after = self.shared.last_id().unwrap_or_else(|| "0-0".into());
        let block_ms = self.blocking_timeout.as_millis().max(1) as u64;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(BATCH).arg("BLOCK").arg(block_ms).arg("STREAMS").arg(&self.shared.stream_key).arg(&after);
        let read = cmd.query_async::<Option<StreamReadReply>>(&mut state.conn);
        let reply = tokio::select! {
            // close(): stop reading; the supervisor then stops this actor for good.
            _ = self.shared.cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(self.blocking_timeout + DEADLINE_MARGIN, read) => r,
        };
        let reply = match reply {
            Err(_) => {
                tracing::warn!(stream = %self.shared.stream_key, "XREAD passed its deadline; reconnecting");
                return Err("XREAD deadline passed".into());
            }
            Ok(Err(e)) => {
                tracing::warn!(stream = %self.shared.stream_key, error = %e, "XREAD failed; reconnecting");
                return Err(e.into());
            }
            Ok(Ok(r)) => r,
        };
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let fields: HashMap<String, String> = entry.map.into_iter().map(|(k, v)| (k, value_text(v))).collect();
                self.shared.dispatch(QueueEvent::decode(entry.id, fields));
            }
        }
        if !self.shared.cancel.is_cancelled() {
            myself.send_message(ReaderMsg::Read)?;
        }
        Ok(())
    }
}

/// A field value as text; bytes that are not UTF-8 are replaced rather than refused, so one
/// odd entry cannot wedge the reader in a restart loop.
fn value_text(v: redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Double(d) => d.to_string(),
        other => redis::from_redis_value::<String>(other).unwrap_or_default(),
    }
}

/// The id of the newest entry, or `0-0` for an empty or missing stream (anything written later
/// is then newer).
async fn stream_last_id(conn: &mut MultiplexedConnection, key: &str) -> redis::RedisResult<String> {
    let reply: redis::streams::StreamRangeReply =
        redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).query_async(conn).await?;
    Ok(reply.ids.into_iter().next().map(|e| e.id).unwrap_or_else(|| "0-0".into()))
}
