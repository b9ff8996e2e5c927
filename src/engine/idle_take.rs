//! The idle worker tree's fetch: the marker wait and the take after it, pipelined on the
//! blocking connection. Redis runs the pipelined moveToActive in the same turn of its event loop
//! that serves the marker, so the job is taken and on its way back before the client would even
//! have heard of the marker: the round trip between the two is saved (docs/BENCH.md: the
//! latency workload's p50 fell by about a quarter).
//!
//! The price is that the take is sent before anyone knows whether it will be wanted: a worker
//! paused or closed meanwhile may receive a job. The fetcher hands such a job straight back to
//! wait, and `close` first unblocks a take in flight (`CLIENT UNBLOCK`, then the take runs at
//! once and finds the queue as it is) and waits for it. A take is never abandoned with its reply
//! unread: a job it took would sit locked, unowned, until its lock expired.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::fetch::marker_wait;
use super::wait_deadline::wait_deadline_ms;
use super::Engine;
use crate::connection::BlockingConn;
use crate::error::{Error, Result};
use crate::scripts::{FetchReply, MoveToActive};

/// How long one `CLIENT UNBLOCK` may take.
const UNBLOCK_TIMEOUT: Duration = Duration::from_millis(500);

/// Counts an idle take in flight, from before its wait until the job it took was delivered or
/// handed back (see [`Engine::idle_take_started`]).
pub(crate) struct IdleTake(Arc<Engine>);

impl Drop for IdleTake {
    fn drop(&mut self) {
        self.0.idle_takes.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Engine {
    /// The blocking connection, opened (its `CLIENT ID` read) when there is none.
    pub(crate) async fn blocking_conn<'g>(&self, guard: &'g mut Option<BlockingConn>) -> Result<&'g mut BlockingConn> {
        if guard.is_none() {
            *guard = Some(BlockingConn::open(&self.opts.connection.redis, Some(&self.client_name())).await?);
        }
        Ok(guard.as_mut().expect("connection just set"))
    }

    /// Whether [`block_and_take`](Self::block_and_take) may be used: it pipelines an FCALL, so
    /// only once the scripts run as functions.
    pub(crate) fn can_block_and_take(&self) -> bool {
        crate::scripts::functions_loaded()
    }

    /// Waits on the marker (up to the drain delay, or until the next delayed job is due at
    /// `delay_until`, 0: none) and takes the next job under `token` as soon as Redis serves the
    /// wait, in one pipeline. `None`: nothing was taken and Redis lost the function library
    /// meanwhile; fetch the usual way (which loads it again).
    pub(crate) async fn block_and_take(&self, token: &str, delay_until: u64) -> Result<Option<FetchReply>> {
        let block_ms = self.marker_block_ms(delay_until);
        let keys = self.queue.keys();
        // The take runs when the wait ends, so it reads the time there (now 0).
        let mut pipe = redis::pipe();
        pipe.add_command(marker_wait(&keys.key("marker"), block_ms));
        pipe.add_command(MoveToActive { fetch: &self.fetch_args(token, 0) }.command(keys));
        // Errors come back as values: the wait's (UNBLOCKED) must not hide the take's reply.
        pipe.ignore_errors();
        let (mut conn, id) = {
            let mut guard = self.blocking.lock().await;
            let b = self.blocking_conn(&mut guard).await?;
            (b.conn.clone(), b.id)
        };
        self.waiting_on(id, true);
        let call = pipe.query_async::<Vec<redis::Value>>(&mut conn);
        let outcome = self.within_wait_deadline(block_ms, self.wake_when_due(delay_until, block_ms, id, call)).await;
        self.waiting_on(id, false);
        self.marker_woke.notify_waiters();
        let replies = match outcome {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                self.reset_blocking().await;
                return Err(Error::redis("moveToActive", None, e));
            }
            None => {
                self.reset_blocking().await;
                return Err(Error::Connection {
                    operation: "moveToActive",
                    message: format!("no answer to the marker wait within {} ms", wait_deadline_ms(block_ms)),
                });
            }
        };
        let mut replies = replies.into_iter();
        let (Some(wait), Some(take)) = (replies.next(), replies.next()) else {
            return Err(Error::unexpected("moveToActive", None, "a pipeline reply missing".to_owned()));
        };
        let taken = match take.extract_error() {
            Ok(v) => MoveToActive::decode(v)?,
            Err(e) if crate::scripts::function_missing(&e) => return Ok(None),
            Err(e) => return Err(Error::redis("moveToActive", None, e)),
        };
        match (wait.extract_error(), taken) {
            // A wait that fails at once (the marker key of another type, say) would otherwise
            // make the worker spin on empty takes: fail like the plain wait does. A job taken
            // all the same is delivered first; the next wait meets the error again.
            (Err(e), FetchReply::Empty { .. }) => Err(Error::redis("BZPOPMIN", None, e)),
            (_, taken) => Ok(Some(taken)),
        }
    }

    /// Runs a marker wait `call` of connection `id` blocking `block_ms`, ending it ourselves
    /// (`CLIENT UNBLOCK`, as a timeout: the take behind it runs) when the next delayed job comes
    /// due at `due_ms` (0: none). Redis fires a blocking timeout only on its next cron tick, up to
    /// 100 ms late at the default `hz 10`: every job delayed to a time (scheduler iterations
    /// above all) would start that late on an idle worker.
    async fn wake_when_due<F: std::future::Future>(&self, due_ms: u64, block_ms: u64, id: u64, call: F) -> F::Output {
        let wait_ms = due_ms.saturating_sub(crate::clock::now_ms());
        if due_ms == 0 || wait_ms > block_ms {
            return call.await;
        }
        tokio::pin!(call);
        tokio::select! {
            biased;
            r = &mut call => return r,
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
        }
        if let Ok(client) = self.queue.client() {
            let mut unblock = redis::cmd("CLIENT");
            unblock.arg("UNBLOCK").arg(id);
            // Refused (an ACL without CLIENT) or unanswered: the wait ends by its own timeout.
            let _ = tokio::time::timeout(UNBLOCK_TIMEOUT, unblock.query_async::<i64>(&mut client.conn())).await;
        }
        call.await
    }

    /// Counts an idle take as in flight until the guard drops: held by the caller of
    /// [`block_and_take`](Self::block_and_take) until it has delivered or handed back the job.
    pub(crate) fn idle_take_started(self: &Arc<Self>) -> IdleTake {
        self.idle_takes.fetch_add(1, Ordering::SeqCst);
        IdleTake(self.clone())
    }

    fn waiting_on(&self, id: u64, waiting: bool) {
        if let Ok(mut ids) = self.waiting_on.lock() {
            match ids.iter().position(|i| *i == id) {
                Some(at) if !waiting => {
                    ids.swap_remove(at);
                }
                None if waiting => ids.push(id),
                _ => {}
            }
        }
    }

    /// Idle takes in flight on the blocking connection.
    pub(crate) fn idle_takes_in_flight(&self) -> u64 {
        self.idle_takes.load(Ordering::SeqCst)
    }

    /// Ends the marker waits of the idle takes in flight now (`CLIENT UNBLOCK`): their takes
    /// then run at once. For pause and close, which must not leave a take pending for the drain
    /// delay.
    pub(crate) async fn unblock_idle_take(&self) {
        let ids = self.waiting_on.lock().map(|ids| ids.clone()).unwrap_or_default();
        if ids.is_empty() {
            return;
        }
        let Ok(client) = self.queue.client() else { return };
        let mut conn = client.conn();
        for id in ids {
            // Refused (an ACL without CLIENT) or unanswered (Redis gone): the wait ends by its
            // own timeout instead. Bounded, so that a close never waits on it long.
            let mut unblock = redis::cmd("CLIENT");
            unblock.arg("UNBLOCK").arg(id);
            let _ = tokio::time::timeout(UNBLOCK_TIMEOUT, unblock.query_async::<i64>(&mut conn)).await;
        }
    }

    /// Unblocks idle takes in flight until none is left, for at most `limit`.
    pub(crate) async fn end_idle_takes(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.idle_takes_in_flight() > 0 && Instant::now() < deadline {
            self.unblock_idle_take().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
