//! Queue administration: pause/resume, drain, obliterate, clean, removal, bulk retry and
//! promotion, rate limits, global concurrency, deduplication keys.

use std::time::Duration;

use super::Queue;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::job::{ms, JobState};
use crate::scripts::{
    CleanJobsInSet, Drain, GetRateLimitTtl, MoveJobsToWait, Obliterate, ObliterateStep, Pause, Promote, RemoveJob,
};

/// The largest batch one obliterate or bulk-move call handles: scripts unpack batches onto the
/// Lua stack, which holds a few thousand values.
const MAX_BATCH: u64 = 1000;

/// Node's manual rate-limit marker value (`Number.MAX_SAFE_INTEGER`).
const MANUAL_LIMIT: &str = "9007199254740991";

impl Queue {
    async fn cmd<T: redis::FromRedisValue>(&self, op: &'static str, cmd: &redis::Cmd) -> Result<T> {
        cmd.query_async(&mut self.client()?.conn()).await.map_err(|e| Error::redis(op, None, e))
    }

    /// Pauses the queue: workers stop taking jobs; adds still land in wait.
    pub async fn pause(&self) -> Result<()> {
        Pause { pause: true, emit: true }.run(self.client()?).await.map(|_| ())
    }

    /// Resumes the queue, merging a legacy 5.x `paused` list into wait first.
    pub async fn resume(&self) -> Result<()> {
        let mut first = true;
        loop {
            let left = Pause { pause: false, emit: first }.run(self.client()?).await?;
            first = false;
            if left <= 0 {
                return Ok(());
            }
        }
    }

    /// True when the queue is paused.
    pub async fn is_paused(&self) -> Result<bool> {
        self.cmd("isPaused", redis::cmd("HEXISTS").arg(self.keys().key("meta")).arg("paused")).await
    }

    /// Trims the events stream to about `max_len` entries now (Node's `trimEvents`: `XTRIM
    /// MAXLEN ~`, so Redis may keep up to one stream node more). Scripts trim it to
    /// `max_len_events` as they write; this is for a cap lowered later. Returns the entries
    /// removed.
    pub async fn trim_events(&self, max_len: u64) -> Result<u64> {
        let events = self.keys().key("events");
        self.cmd("trimEvents", redis::cmd("XTRIM").arg(events).arg("MAXLEN").arg("~").arg(max_len)).await
    }

    /// Removes every waiting job (and delayed ones with `include_delayed`), keeping the pending
    /// iterations of job schedulers. Returns how many were removed.
    pub async fn drain(&self, include_delayed: bool) -> Result<u64> {
        Drain { delayed: include_delayed }.run(self.client()?).await
    }

    /// Deletes the queue and everything in it. The queue is paused first; with active jobs it
    /// refuses unless `force`.
    pub async fn obliterate(&self, force: bool) -> Result<()> {
        self.pause().await?;
        while (Obliterate { batch: MAX_BATCH, force }).run(self.client()?).await? == ObliterateStep::More {}
        Ok(())
    }

    /// Removes a job (and its children with `remove_children`). Returns false when the job or
    /// one of its children is locked by a worker (nothing is removed then).
    pub async fn remove_job(&self, id: &str, remove_children: bool) -> Result<bool> {
        RemoveJob { id, children: remove_children }.run(self.client()?).await
    }

    /// Removes up to `limit` jobs (0: no limit) of `state` older than `grace`. Returns their ids.
    pub async fn clean(&self, grace: Duration, limit: u64, state: JobState) -> Result<Vec<String>> {
        let key = state.key().ok_or_else(|| Error::invalid("state", "cannot clean unknown jobs"))?;
        CleanJobsInSet { state: key, cutoff: now_ms().saturating_sub(ms(grace)), limit }.run(self.client()?).await
    }

    /// Moves failed or completed jobs finished before `timestamp_ms` (all of them when `None`)
    /// back to wait, `count` per call until none is left.
    pub async fn retry_jobs(&self, state: JobState, count: u64, timestamp_ms: Option<u64>) -> Result<()> {
        if !matches!(state, JobState::Failed | JobState::Completed) {
            return Err(Error::invalid("state", "retry_jobs takes failed or completed"));
        }
        let up_to = timestamp_ms.map(|t| t.to_string()).unwrap_or_else(|| "+inf".into());
        self.move_jobs_to_wait(state.as_str(), count, &up_to).await
    }

    /// Makes every delayed job ready now, `count` per call.
    pub async fn promote_jobs(&self, count: u64) -> Result<()> {
        self.move_jobs_to_wait("delayed", count, "+inf").await
    }

    async fn move_jobs_to_wait(&self, state: &str, count: u64, up_to: &str) -> Result<()> {
        if count == 0 {
            return Err(Error::invalid("count", "must be positive"));
        }
        while (MoveJobsToWait { state, count: count.min(MAX_BATCH), up_to }).run(self.client()?).await? {}
        Ok(())
    }

    /// Makes one delayed job ready now.
    pub async fn promote_job(&self, id: &str) -> Result<()> {
        Promote { id }.run(self.client()?).await
    }

    /// The id of the job owning a deduplication id, if any.
    pub async fn get_deduplication_job_id(&self, dedup_id: &str) -> Result<Option<String>> {
        self.cmd("getDeduplicationJobId", redis::cmd("GET").arg(self.keys().key(&format!("de:{dedup_id}")))).await
    }

    /// Deletes a deduplication key whoever owns it. Returns whether it existed.
    pub async fn remove_deduplication_key(&self, dedup_id: &str) -> Result<bool> {
        let n: i64 = self
            .cmd("removeDeduplicationKey", redis::cmd("DEL").arg(self.keys().key(&format!("de:{dedup_id}"))))
            .await?;
        Ok(n > 0)
    }

    /// Holds every rate-limited worker of the queue back for `window` (only workers that have
    /// a limiter, or a queue with a global rate limit, are affected, as in BullMQ).
    pub async fn rate_limit(&self, window: Duration) -> Result<()> {
        if ms(window) == 0 {
            return Err(Error::invalid("rate_limit", "duration must be at least 1 ms"));
        }
        let key = self.keys().key("limiter");
        self.cmd("rateLimit", redis::cmd("SET").arg(key).arg(MANUAL_LIMIT).arg("PX").arg(ms(window))).await
    }

    /// Remaining ms of the rate limit given `max_jobs` (or the queue's global max when `None`);
    /// 0 when not limited, -2 when there is no limiter key and no max anywhere.
    pub async fn get_rate_limit_ttl(&self, max_jobs: Option<u64>) -> Result<i64> {
        GetRateLimitTtl { max_jobs: max_jobs.unwrap_or(0) }.run(self.client()?).await
    }

    /// Deletes the limiter key, lifting a rate limit at once.
    pub async fn remove_rate_limit_key(&self) -> Result<()> {
        self.cmd("removeRateLimitKey", redis::cmd("DEL").arg(self.keys().key("limiter"))).await
    }

    /// At most `n` jobs of this queue active at once, across all workers.
    pub async fn set_global_concurrency(&self, n: u64) -> Result<()> {
        if n == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        self.cmd("setGlobalConcurrency", redis::cmd("HSET").arg(self.keys().key("meta")).arg("concurrency").arg(n))
            .await
    }

    /// The global concurrency, if set.
    pub async fn get_global_concurrency(&self) -> Result<Option<u64>> {
        self.cmd("getGlobalConcurrency", redis::cmd("HGET").arg(self.keys().key("meta")).arg("concurrency")).await
    }

    /// Removes the global concurrency limit.
    pub async fn remove_global_concurrency(&self) -> Result<()> {
        self.cmd("removeGlobalConcurrency", redis::cmd("HDEL").arg(self.keys().key("meta")).arg("concurrency")).await
    }

    /// At most `max` jobs started per `window`, across all workers.
    pub async fn set_global_rate_limit(&self, max: u64, window: Duration) -> Result<()> {
        if max == 0 || ms(window) == 0 {
            return Err(Error::invalid("rate limit", "max and window must be positive"));
        }
        let mut c = redis::cmd("HSET");
        c.arg(self.keys().key("meta")).arg("max").arg(max).arg("duration").arg(ms(window));
        self.cmd("setGlobalRateLimit", &c).await
    }

    /// The global rate limit `(max, window)`, if set.
    pub async fn get_global_rate_limit(&self) -> Result<Option<(u64, Duration)>> {
        let v: (Option<u64>, Option<u64>) = self
            .cmd("getGlobalRateLimit", redis::cmd("HMGET").arg(self.keys().key("meta")).arg("max").arg("duration"))
            .await?;
        Ok(match v {
            (Some(m), Some(d)) => Some((m, Duration::from_millis(d))),
            _ => None,
        })
    }

    /// Removes the global rate limit.
    pub async fn remove_global_rate_limit(&self) -> Result<()> {
        self.cmd("removeGlobalRateLimit", redis::cmd("HDEL").arg(self.keys().key("meta")).arg("max").arg("duration"))
            .await
    }
}
