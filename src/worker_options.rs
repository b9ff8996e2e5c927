//! Worker options, with BullMQ's names and defaults. Shared by manual processing and the
//! supervised worker.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::ConnectionOptions;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::manual::JobError;
use crate::options::KeepJobs;

/// A fixed-window rate limit: at most `max` jobs started per `duration` ms, shared by every
/// worker of the queue (the counter lives in Redis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiter {
    /// Jobs per window.
    pub max: u64,
    /// Window length in ms.
    pub duration: u64,
}

/// Per-minute metrics collection (`metrics.maxDataPoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Minutes of data kept (BullMQ's one week: 10080).
    pub max_data_points: u64,
}

/// A custom backoff strategy: `(attempts_made, backoff type, error, job)` to the delay in ms
/// before the next attempt, `None` to use no delay, `Some(-1)` to stop retrying.
pub type BackoffStrategy = Arc<dyn Fn(u64, &str, &JobError, &Job) -> Option<i64> + Send + Sync>;

/// Options of a worker. Defaults are Node BullMQ's.
#[derive(Clone)]
pub struct WorkerOptions {
    /// How to reach Redis.
    pub connection: ConnectionOptions,
    /// Key prefix. Default `bull`.
    pub prefix: String,
    /// Jobs processed at once by this worker. Default 1.
    pub concurrency: usize,
    /// Lock time-to-live in ms. Default 30000. A job whose lock expires is considered stalled.
    pub lock_duration: u64,
    /// How often locks are renewed, in ms. Default `lock_duration / 2` (when `None`).
    pub lock_renew_time: Option<u64>,
    /// Period of the stalled check, in ms. Default 30000.
    pub stalled_interval: u64,
    /// Recoveries allowed before a stalled job is failed. Default 1.
    pub max_stalled_count: u64,
    /// Longest wait for a job when the queue is idle. Default 5 s.
    pub drain_delay: Duration,
    /// Rate limiter. Default none.
    pub limiter: Option<RateLimiter>,
    /// Retention of completed jobs when the job itself does not say. Default: keep.
    pub remove_on_complete: Option<KeepJobs>,
    /// Retention of failed jobs when the job itself does not say. Default: keep.
    pub remove_on_fail: Option<KeepJobs>,
    /// Record per-minute metrics. Default off.
    pub metrics: Option<MetricsOptions>,
    /// Worker name, stored in `pb` of the jobs it processes and in its connection name.
    /// Default none.
    pub name: Option<String>,
    /// Do not run the stalled check from this worker. Default false.
    pub skip_stalled_check: bool,
    /// Back-off after an unexpected Redis error in the fetch loop, in ms. Default 15000.
    pub run_retry_delay: u64,
    /// Fail a job at pickup once it was started more than this many times. Default none.
    pub max_started_attempts: Option<u64>,
    /// Start processing as soon as the worker is created. Default true.
    pub autorun: bool,
    /// Custom backoff strategy for job options whose backoff type is not fixed/exponential.
    pub backoff_strategy: Option<BackoffStrategy>,
    /// Jobs the worker tree may fetch ahead of its free slots while its jobs are short (not a
    /// BullMQ option). A finishing job's slot then goes at once to a job already fetched, while
    /// the finish and the next fetch travel to Redis together, instead of the slot waiting a
    /// round trip; and the finishes of more jobs share one call. Only while the processor takes
    /// under 2 ms on average (a running average weighting the newest job 1/8, so a job held up a
    /// few ms does not switch it off; a job of about 16 ms or more does): a prefetched job is
    /// locked by this worker, so with longer jobs it would wait here while another worker could
    /// run it; then none is fetched ahead and the worker behaves exactly like Node's. Never more
    /// than four times `concurrency`. One visible difference while it is on: a job fetched ahead
    /// may start (`active`) before the job whose slot it took is recorded as completed. 0
    /// disables it. Default 40 (measured on the bench, process
    /// with no-op jobs: at concurrency 1, 0 -> ~7k jobs/s, 1 -> ~9k, 2 -> ~13k; at concurrency
    /// 10, 2 -> 1.58x Node, 10 -> 1.82x; with slots parked for any call's jobs, 10 -> 20: Redis
    /// instructions per job 166.7k -> 162.2k, batches of 15 jobs instead of 10; with the cap
    /// raised from twice to four times the concurrency and the default from 20 to 40,
    /// interleaved on a quiet host: concurrency 1 ~8.0k -> ~11.5k jobs/s, 10 ~23k -> ~27k,
    /// 100 ~29k -> ~31k, Redis commands per job at concurrency 10 7.9 -> 7.5).
    pub prefetch: usize,
    /// Restart intensity of the worker tree (not a BullMQ option; OTP's): at most this many
    /// child restarts within [`max_restarts_within`](Self::max_restarts_within). One more is a
    /// meltdown: the worker fails and its own supervisor hears of it. A Redis outage costs one
    /// restart (children wait for Redis before failing), so only a child that crashes in a loop
    /// melts the tree down. Default 5.
    pub max_restarts: u32,
    /// The window of [`max_restarts`](Self::max_restarts). Default 10 s.
    pub max_restarts_within: Duration,
}

impl fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("prefix", &self.prefix)
            .field("concurrency", &self.concurrency)
            .field("lock_duration", &self.lock_duration)
            .field("stalled_interval", &self.stalled_interval)
            .field("max_stalled_count", &self.max_stalled_count)
            .field("limiter", &self.limiter)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            connection: ConnectionOptions::default(),
            prefix: "bull".into(),
            concurrency: 1,
            lock_duration: 30_000,
            lock_renew_time: None,
            stalled_interval: 30_000,
            max_stalled_count: 1,
            drain_delay: Duration::from_secs(5),
            limiter: None,
            remove_on_complete: None,
            remove_on_fail: None,
            metrics: None,
            name: None,
            skip_stalled_check: false,
            run_retry_delay: 15_000,
            max_started_attempts: None,
            autorun: true,
            backoff_strategy: None,
            prefetch: 40,
            max_restarts: 5,
            max_restarts_within: Duration::from_secs(10),
        }
    }
}

impl WorkerOptions {
    /// The effective renewal period.
    pub fn lock_renew_time(&self) -> u64 {
        self.lock_renew_time.unwrap_or(self.lock_duration / 2)
    }

    /// Checks the options; nothing is started when this fails.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        if self.lock_duration == 0 {
            return Err(Error::invalid("lock_duration", "must be positive"));
        }
        if let Some(r) = self.lock_renew_time {
            if r == 0 || r >= self.lock_duration {
                return Err(Error::invalid("lock_renew_time", "must be positive and below lock_duration"));
            }
        }
        if self.stalled_interval == 0 {
            return Err(Error::invalid("stalled_interval", "must be positive"));
        }
        if let Some(l) = self.limiter {
            if l.max == 0 || l.duration == 0 {
                return Err(Error::invalid("limiter", "max and duration must be positive"));
            }
        }
        if let Some(m) = self.metrics {
            if m.max_data_points == 0 {
                return Err(Error::invalid("metrics", "max_data_points must be positive"));
            }
        }
        if self.max_restarts_within.is_zero() {
            return Err(Error::invalid("max_restarts_within", "must be positive"));
        }
        if self.drain_delay.is_zero() {
            return Err(Error::invalid("drain_delay", "must be positive"));
        }
        Ok(())
    }
}
