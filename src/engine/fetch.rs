//! Fetching: one moveToActive, or the marker wait of PROTOCOL.md §9 when the queue is idle; and
//! what a fetch reply becomes (a job to run, or a job failed at pickup).

use std::time::{Duration, Instant};

use super::lease::{Lease, Taken};
use super::schedule::Duty;
use super::Engine;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scripts::{FetchArgs, FetchReply, MoveToActive};

/// Longest single blocking call: BullMQ caps it at 10 s so reconnects are noticed.
const MAX_BLOCK: Duration = Duration::from_secs(10);

/// How [`ManualWorker::get_next_job`](super::ManualWorker::get_next_job) waits.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct GetNextJobOptions {
    /// Wait for a job (blocking on the queue's marker) instead of returning at once. Default true.
    pub block: bool,
    /// How long to wait when blocking. Default 5 s.
    pub timeout: Duration,
}

impl Default for GetNextJobOptions {
    fn default() -> Self {
        GetNextJobOptions { block: true, timeout: Duration::from_secs(5) }
    }
}

impl GetNextJobOptions {
    /// Return at once when no job is ready.
    pub fn no_wait() -> Self {
        GetNextJobOptions { block: false, ..Default::default() }
    }
    /// Wait at most `timeout` for a job.
    pub fn wait(timeout: Duration) -> Self {
        GetNextJobOptions { block: true, timeout }
    }
}

/// A fetch reply seen from the caller's side.
pub(crate) enum Accepted {
    Job(Box<Taken>),
    /// A job had to be failed at pickup (deferred failure); fetch again.
    Again,
    /// The id taken was a ghost (its job gone; see `FetchReply::Gone`), dropped: report it and
    /// fetch again.
    Gone {
        id: String,
    },
    RateLimited,
    Empty {
        delay_until: u64,
    },
}

impl Engine {
    /// What a fetch under `token` sends, `now` being the client's clock (0: the server's).
    pub(crate) fn fetch_args<'a>(&'a self, token: &'a str, now: u64) -> FetchArgs<'a> {
        let o = &self.opts;
        FetchArgs {
            now,
            token,
            lock_duration: o.lock_duration,
            limiter: o.limiter.map(|l| (l.max, l.duration)),
            name: o.name.as_deref().unwrap_or(""),
            fair: self.fair.as_ref().map_or("", |f| f.arg.as_str()),
        }
    }

    /// See [`ManualWorker::get_next_job`](super::ManualWorker::get_next_job).
    pub(crate) async fn get_next_job(&self, token: &str, opts: super::GetNextJobOptions) -> Result<Option<Taken>> {
        let deadline = Instant::now() + opts.timeout;
        loop {
            match self.take(token).await? {
                Accepted::Job(taken) => return Ok(Some(*taken)),
                Accepted::RateLimited => return Ok(None),
                Accepted::Again => continue,
                Accepted::Gone { id } => {
                    tracing::warn!(job_id = %id, "skipped a job whose hash is gone");
                    continue;
                }
                Accepted::Empty { delay_until } => {
                    if !opts.block || !self.wait_for_marker(deadline, delay_until).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// One non-blocking fetch: a job, or why there is none. Jobs failed at pickup are skipped.
    pub(crate) async fn take(&self, token: &str) -> Result<Accepted> {
        loop {
            let client = self.queue.client()?;
            let reply = MoveToActive { fetch: &self.fetch_args(token, now_ms()) }.run(client).await?;
            match self.accept(reply, token).await? {
                Accepted::Again => continue,
                other => return Ok(other),
            }
        }
    }

    /// Turns a fetch reply into a job for the caller; applies deferred failures and fails
    /// undecodable jobs (the job is active and locked by us, so nobody else will). Those rare
    /// paths are boxed: their futures are large, and this one is part of every take's future,
    /// which tokio copies whole when it spawns it.
    pub(crate) async fn accept(&self, reply: FetchReply, token: &str) -> Result<Accepted> {
        match reply {
            FetchReply::RateLimited(ttl) => {
                self.set_rate_limited(ttl);
                Ok(Accepted::RateLimited)
            }
            FetchReply::Empty { delay_until } => Ok(Accepted::Empty { delay_until }),
            FetchReply::Gone { id } => Ok(Accepted::Gone { id }),
            FetchReply::Unreadable { id, message, queue } => {
                let e = Error::CorruptJob { job_id: id.clone(), field: "hash", message };
                let keys = match queue {
                    Some(name) => Some(self.tenant_keys(name)?),
                    None => None,
                };
                Box::pin(self.fail_corrupt(&id, keys, &Lease::new(token), &e.to_string())).await?;
                Err(e)
            }
            FetchReply::Job { id, mut hash } => {
                let lease = Lease::new(token);
                let keys = self.taken_from(&mut hash)?;
                match Job::from_hash(&keys, &id, hash) {
                    Ok(job) => {
                        if let Some(reason) = job.deferred_failure.clone() {
                            Box::pin(self.fail_at_pickup(&job, &lease, &reason)).await?;
                            return Ok(Accepted::Again);
                        }
                        if let Some(max) = self.opts.max_started_attempts {
                            if job.attempts_started > max {
                                Box::pin(self.fail_at_pickup(&job, &lease, "job started more than allowable limit"))
                                    .await?;
                                return Ok(Accepted::Again);
                            }
                        }
                        if self.schedule_at_take && job.repeat_job_key.is_some() {
                            // A failure to produce is reported inside; the job runs all the same.
                            if let Duty::HandedBack = Box::pin(self.schedule_next(&job, &lease)).await? {
                                return Ok(Accepted::Again);
                            }
                        }
                        Ok(Accepted::Job(Box::new(Taken { job, lease })))
                    }
                    Err(e) => {
                        Box::pin(self.fail_corrupt(&id, Some(keys), &lease, &e.to_string())).await?;
                        Err(e)
                    }
                }
            }
        }
    }

    /// How long one wait on the marker blocks: the drain delay, capped at [`MAX_BLOCK`] and at
    /// the next delayed job's due time `delay_until` (ms, 0: none).
    pub(super) fn marker_block_ms(&self, delay_until: u64) -> u64 {
        let block_ms = MAX_BLOCK.min(self.opts.drain_delay).as_millis() as u64;
        if delay_until > 0 {
            return block_ms.min(delay_until.saturating_sub(now_ms()).max(1));
        }
        block_ms
    }

    /// Blocks on the marker until something may be ready, the next delayed job is due, or the
    /// deadline. Returns false once the deadline has passed.
    pub(crate) async fn wait_for_marker(&self, deadline: Instant, delay_until: u64) -> Result<bool> {
        let remaining = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
        if remaining == 0 {
            return Ok(false);
        }
        let block_ms = self.marker_block_ms(delay_until).min(remaining);
        let marker = self.queue.keys().key("marker");
        let Ok(mut guard) = self.blocking.try_lock() else {
            // Someone else is blocking on the marker already: wait for its wake-up (or our own
            // timeout) and try to fetch again.
            let _ = tokio::time::timeout(Duration::from_millis(block_ms), self.marker_woke.notified()).await;
            return Ok(Instant::now() < deadline);
        };
        let conn = &mut self.blocking_conn(&mut guard).await?.conn;
        let wait = marker_wait(&marker, block_ms);
        let call = wait.query_async::<redis::Value>(conn);
        let outcome = self.within_wait_deadline(block_ms, call).await;
        self.marker_woke.notify_waiters();
        match outcome {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                *guard = None;
                return Err(Error::redis("BZPOPMIN", None, e));
            }
            None => *guard = None,
        }
        Ok(Instant::now() < deadline)
    }
}

/// `BZPOPMIN marker` for `block_ms` (Redis takes seconds, at least 1 ms).
pub(super) fn marker_wait(marker: &str, block_ms: u64) -> redis::Cmd {
    let mut cmd = redis::cmd("BZPOPMIN");
    cmd.arg(marker).arg((block_ms as f64 / 1000.0).max(0.001));
    cmd
}
