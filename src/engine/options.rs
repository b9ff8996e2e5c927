//! Worker options, with BullMQ's names and defaults. Shared by manual processing and the
//! supervised worker.

use std::fmt;
use std::time::Duration;

use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::job::{BackoffStrategy, KeepJobs};
use crate::supervisor::RestartIntensity;

/// A fixed-window rate limit: at most `max` jobs started per `duration`, shared by every worker
/// of the queue (the counter lives in Redis).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimiter {
    /// Jobs per window.
    pub max: u64,
    /// The window (stored in ms).
    pub duration: Duration,
}

impl RateLimiter {
    /// At most `max` jobs per `duration`.
    pub fn new(max: u64, duration: Duration) -> Self {
        RateLimiter { max, duration }
    }
}

/// Per-minute metrics collection (`metrics.maxDataPoints`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Minutes of data kept (BullMQ's one week: 10080).
    pub max_data_points: u64,
}

impl MetricsOptions {
    /// Keep `max_data_points` minutes of data.
    pub fn new(max_data_points: u64) -> Self {
        MetricsOptions { max_data_points }
    }
}

/// Options of a worker (manual or supervised). Defaults are Node BullMQ's; the options that
/// are not BullMQ's say so. Build them with the methods of the same names.
#[non_exhaustive]
#[derive(Clone)]
pub struct WorkerOptions {
    /// Where the queue lives. Default `127.0.0.1:6379`, prefix `bull`.
    pub connection: Connection,
    /// Jobs processed at once by this worker. Default 1.
    pub concurrency: usize,
    /// Lock time-to-live. Default 30 s. A job whose lock expires is considered stalled.
    pub lock_duration: Duration,
    /// How often locks are renewed. Default `lock_duration / 2` (when `None`).
    pub lock_renew_time: Option<Duration>,
    /// Period of the stalled check. Default 30 s.
    pub stalled_interval: Duration,
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
    /// Fail a job at pickup once it was started more than this many times. Default none.
    pub max_started_attempts: Option<u64>,
    /// Start processing as soon as the worker is created. Default true.
    pub autorun: bool,
    /// Custom backoff strategy for job options whose backoff type is not fixed/exponential.
    pub backoff_strategy: Option<BackoffStrategy>,
    /// Jobs the worker tree may fetch ahead of its free slots while its jobs are short (not a
    /// BullMQ option). A finishing job's slot then goes at once to a job already fetched while
    /// the finish and the next fetch travel to Redis together, instead of the slot waiting a
    /// round trip, and the finishes of more jobs share one call. Only while the processor takes
    /// under 2 ms on average (a running average weighting the newest job 1/8, so a job held up a
    /// few ms does not switch it off; a job of about 16 ms or more does): a job fetched ahead is
    /// locked by this worker, so with longer jobs it would wait here while another worker could
    /// run it; then nothing is fetched ahead and the worker takes jobs exactly as Node's does.
    /// Never more than four times `concurrency`. One visible difference while it is on: a job
    /// fetched ahead may start (`active`) before the job whose slot it took is recorded as
    /// completed. 0 disables it. Default 40 (docs/BENCH.md has the measurements behind it).
    pub prefetch: usize,
    /// Restart intensity of the worker tree (not a BullMQ option; OTP's): at most this many
    /// child restarts within its window; one more is a meltdown, and the worker's own
    /// supervisor hears of it. A Redis outage or a passing refusal (out of memory, busy, a
    /// failover) costs no restart (children wait and retry), so only a child that crashes in a
    /// loop melts the tree down. Default 5 in 10 s.
    pub restart_intensity: RestartIntensity,
    /// Run a job that stalled before (its worker died or lost its lock while running it) alone
    /// (not a BullMQ option): the worker tree lets its running jobs end, runs it with nothing
    /// beside it, then goes on. A job that kills its process then takes no other job with it,
    /// and when it stalls more than `max_stalled_count` times its failure says it ran alone: the
    /// likely cause. The jobs that merely ran beside it the first time run alone once and
    /// complete. Costs concurrency only after a stall. Default true.
    pub isolate_stalled_jobs: bool,
}

impl fmt::Debug for WorkerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerOptions")
            .field("prefix", &self.connection.prefix)
            .field("concurrency", &self.concurrency)
            .field("lock_duration", &self.lock_duration)
            .field("stalled_interval", &self.stalled_interval)
            .field("max_stalled_count", &self.max_stalled_count)
            .field("limiter", &self.limiter)
            .field("name", &self.name)
            .field("prefetch", &self.prefetch)
            .field("isolate_stalled_jobs", &self.isolate_stalled_jobs)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            connection: Connection::default(),
            concurrency: 1,
            lock_duration: Duration::from_secs(30),
            lock_renew_time: None,
            stalled_interval: Duration::from_secs(30),
            max_stalled_count: 1,
            drain_delay: Duration::from_secs(5),
            limiter: None,
            remove_on_complete: None,
            remove_on_fail: None,
            metrics: None,
            name: None,
            skip_stalled_check: false,
            max_started_attempts: None,
            autorun: true,
            backoff_strategy: None,
            prefetch: 40,
            restart_intensity: RestartIntensity::default(),
            isolate_stalled_jobs: true,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty => $value:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, $field: $ty) -> Self {
                self.$field = $value;
                self
            }
        )*
    };
}

impl WorkerOptions {
    /// Defaults, on `connection`.
    pub fn new(connection: Connection) -> Self {
        WorkerOptions { connection, ..Default::default() }
    }

    setters! {
        /// Builder: where the queue lives.
        connection: Connection => connection;
        /// Builder: jobs processed at once.
        concurrency: usize => concurrency;
        /// Builder: lock time-to-live.
        lock_duration: Duration => lock_duration;
        /// Builder: how often locks are renewed.
        lock_renew_time: Duration => Some(lock_renew_time);
        /// Builder: period of the stalled check.
        stalled_interval: Duration => stalled_interval;
        /// Builder: recoveries allowed before a stalled job is failed.
        max_stalled_count: u64 => max_stalled_count;
        /// Builder: longest wait for a job when the queue is idle.
        drain_delay: Duration => drain_delay;
        /// Builder: rate limiter.
        limiter: RateLimiter => Some(limiter);
        /// Builder: retention of completed jobs.
        remove_on_complete: KeepJobs => Some(remove_on_complete);
        /// Builder: retention of failed jobs.
        remove_on_fail: KeepJobs => Some(remove_on_fail);
        /// Builder: per-minute metrics.
        metrics: MetricsOptions => Some(metrics);
        /// Builder: do not run the stalled check from this worker.
        skip_stalled_check: bool => skip_stalled_check;
        /// Builder: fail a job at pickup once started more than this many times.
        max_started_attempts: u64 => Some(max_started_attempts);
        /// Builder: start processing at once (default) or not.
        autorun: bool => autorun;
        /// Builder: custom backoff strategy.
        backoff_strategy: BackoffStrategy => Some(backoff_strategy);
        /// Builder: jobs fetched ahead of free slots (0: none).
        prefetch: usize => prefetch;
        /// Builder: restart intensity of the worker tree.
        restart_intensity: RestartIntensity => restart_intensity;
        /// Builder: run jobs that stalled before alone (default true).
        isolate_stalled_jobs: bool => isolate_stalled_jobs;
    }

    /// Builder: worker name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The effective renewal period.
    pub fn effective_lock_renew_time(&self) -> Duration {
        self.lock_renew_time.unwrap_or(self.lock_duration / 2)
    }

    /// Checks the options; nothing is started when this fails.
    pub fn validate(&self) -> Result<()> {
        let ms = |d: Duration| d.as_millis();
        if self.concurrency == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        if ms(self.lock_duration) == 0 {
            return Err(Error::invalid("lock_duration", "must be at least 1 ms"));
        }
        if let Some(r) = self.lock_renew_time {
            if ms(r) == 0 || r >= self.lock_duration {
                return Err(Error::invalid("lock_renew_time", "must be at least 1 ms and below lock_duration"));
            }
        }
        if ms(self.stalled_interval) == 0 {
            return Err(Error::invalid("stalled_interval", "must be at least 1 ms"));
        }
        if let Some(l) = self.limiter {
            if l.max == 0 || ms(l.duration) == 0 {
                return Err(Error::invalid("limiter", "max and duration must be positive"));
            }
        }
        if let Some(m) = self.metrics {
            if m.max_data_points == 0 {
                return Err(Error::invalid("metrics", "max_data_points must be positive"));
            }
        }
        if self.restart_intensity.within.is_zero() {
            return Err(Error::invalid("restart_intensity", "the window must be positive"));
        }
        if ms(self.drain_delay) == 0 {
            return Err(Error::invalid("drain_delay", "must be at least 1 ms"));
        }
        Ok(())
    }
}
