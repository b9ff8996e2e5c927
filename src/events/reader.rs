//! The reader actor: one dedicated blocking connection, `XREAD BLOCK` in a loop (a task bound
//! to the actor), each batch handed to the subscribers in stream order. It holds nothing worth keeping: on any anomaly
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
use crate::supervisor::TaskGuard;

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
    /// The read loop failed: fail the actor (its supervisor starts a fresh one).
    Failed(String),
}

impl Actor for Reader {
    type Msg = ReaderMsg;
    type State = TaskGuard;
    type Arguments = ();

    /// Connects and fixes the start point before the actor counts as started (so `run` returns
    /// reading), then reads in a task bound to the actor: a stop does not wait for a blocking
    /// read to end.
    async fn pre_start(&self, myself: ActorRef<ReaderMsg>, _: ()) -> Result<TaskGuard, ActorProcessingErr> {
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
        let (shared, blocking_timeout) = (self.shared.clone(), self.blocking_timeout);
        let task = tokio::spawn(async move {
            if let Err(e) = read_loop(&shared, conn, blocking_timeout).await {
                let _ = myself.send_message(ReaderMsg::Failed(e));
            }
        });
        Ok(TaskGuard::new(task.abort_handle()))
    }

    async fn post_stop(&self, _: ActorRef<ReaderMsg>, task: &mut TaskGuard) -> Result<(), ActorProcessingErr> {
        task.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<ReaderMsg>,
        msg: ReaderMsg,
        _: &mut TaskGuard,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReaderMsg::Failed(e) => Err(e.into()),
        }
    }
}

/// Reads the stream until `close()` (then `Ok`) or an anomaly (its description).
async fn read_loop(shared: &Shared, mut conn: MultiplexedConnection, blocking_timeout: Duration) -> Result<(), String> {
    let block_ms = blocking_timeout.as_millis().max(1) as u64;
    while !shared.cancel.is_cancelled() {
        // One turn of the runtime before reading again: whatever else is ready runs first (often
        // the very work that writes the next events, such as a worker in this process finishing
        // the job whose `active` event was just read), so a read finds several entries more
        // often instead of one each (docs/BENCH.md). The read goes out a little later, after
        // the work that was ready; that work is what writes the next event, so nothing is read
        // later for it.
        tokio::task::yield_now().await;
        let after = shared.last_id().unwrap_or_else(|| "0-0".into());
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(BATCH).arg("BLOCK").arg(block_ms).arg("STREAMS").arg(&shared.stream_key).arg(&after);
        let read = cmd.query_async::<Option<StreamReadReply>>(&mut conn);
        let reply = tokio::select! {
            // close(): stop reading; the supervisor then stops this actor for good.
            _ = shared.cancel.cancelled() => return Ok(()),
            r = tokio::time::timeout(blocking_timeout + DEADLINE_MARGIN, read) => r,
        };
        let reply = match reply {
            Err(_) => {
                tracing::warn!(stream = %shared.stream_key, "XREAD passed its deadline; reconnecting");
                return Err("XREAD deadline passed".into());
            }
            Ok(Err(e)) => {
                tracing::warn!(stream = %shared.stream_key, error = %e, "XREAD failed; reconnecting");
                return Err(e.to_string());
            }
            Ok(Ok(r)) => r,
        };
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                let fields: HashMap<String, String> = entry.map.into_iter().map(|(k, v)| (k, value_text(v))).collect();
                shared.dispatch(QueueEvent::decode(entry.id, fields));
            }
        }
    }
    Ok(())
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
