//! Manual processing (BullMQ's "Manual Job Processing"): fetch a job under a lock token, then
//! complete, fail, delay or push it back yourself. The supervised worker is built on the same
//! calls.

mod batch;
mod fetch;
mod idle_take;
mod moves;
mod wait_deadline;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::queue::{now_ms, Queue, QueueOptions};
use crate::scripts::worker as sw;
use crate::worker_options::WorkerOptions;

pub(crate) use batch::Completion;
pub(crate) use fetch::Accepted;
pub use fetch::GetNextJobOptions;
pub use moves::{FailOutcome, JobError};

/// A worker without a processor: you fetch jobs and finish them. Cheap to clone.
#[derive(Clone)]
pub struct ManualWorker {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) queue: Queue,
    pub(crate) opts: WorkerOptions,
    /// The dedicated blocking connection; dropped (and recreated on next use) after any error,
    /// because a connection whose blocking call failed may be in an unknown state.
    blocking: tokio::sync::Mutex<Option<idle_take::BlockingConn>>,
    /// The `CLIENT ID`s of the connections an idle take is waiting on (see `idle_take`): more
    /// than one only while a restarted fetcher's new connection and a take started on the old
    /// one overlap.
    waiting_on: Mutex<Vec<u64>>,
    /// Idle takes in flight on the blocking connection (see `idle_take`).
    idle_takes: AtomicU64,
    /// Wakes the callers that found another caller already blocking on the marker: one
    /// connection blocks for everyone, the others wait for it instead of queueing behind it.
    marker_woke: tokio::sync::Notify,
    /// Rate limited until this ms (0: not limited).
    rate_limited_until: AtomicU64,
    /// The client-side deadline of marker waits, kept between waits (see `wait_deadline`).
    wait_deadline: Mutex<Option<wait_deadline::WaitDeadline>>,
    stalled_timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.stalled_timer.lock().ok().and_then(|mut g| g.take()) {
            h.abort();
        }
    }
}

impl std::fmt::Debug for ManualWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualWorker").field("queue", &self.inner.queue.name()).finish()
    }
}

impl ManualWorker {
    /// Connects (scripts loaded) after validating the options.
    pub async fn new(queue_name: &str, opts: WorkerOptions) -> Result<ManualWorker> {
        opts.validate()?;
        let queue = Queue::new(
            queue_name,
            QueueOptions {
                connection: opts.connection.clone(),
                prefix: opts.prefix.clone(),
                skip_meta_update: true,
                ..Default::default()
            },
        )
        .await?;
        Ok(ManualWorker {
            inner: Arc::new(Inner {
                queue,
                opts,
                blocking: tokio::sync::Mutex::new(None),
                waiting_on: Mutex::new(Vec::new()),
                idle_takes: AtomicU64::new(0),
                marker_woke: tokio::sync::Notify::new(),
                wait_deadline: Mutex::new(None),
                rate_limited_until: AtomicU64::new(0),
                stalled_timer: Mutex::new(None),
            }),
        })
    }

    /// The queue this worker takes jobs from.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// The worker's options.
    pub fn options(&self) -> &WorkerOptions {
        &self.inner.opts
    }

    /// Milliseconds the queue's rate limiter still holds this worker back (0: free to fetch),
    /// as learnt from the last fetch.
    pub fn rate_limit_ttl(&self) -> u64 {
        self.inner.rate_limited_until.load(Ordering::Relaxed).saturating_sub(now_ms())
    }

    pub(crate) fn set_rate_limited(&self, ttl: u64) {
        self.inner.rate_limited_until.store(now_ms() + ttl, Ordering::Relaxed);
    }

    /// Connection name Node's `Queue.getWorkers()` counts: `prefix:base64(queue)[:w:name]`.
    fn client_name(&self) -> String {
        let keys = self.inner.queue.keys();
        match &self.inner.opts.name {
            Some(n) => keys.client_name(&format!(":w:{n}")),
            None => keys.client_name(""),
        }
    }

    /// Runs the stalled check once (at most once per `stalled_interval` across all workers of
    /// the queue). Returns the ids put back to wait.
    pub async fn run_stalled_check(&self) -> Result<Vec<String>> {
        let mut conn = self.inner.queue.conn()?;
        let o = &self.inner.opts;
        let check = sw::move_stalled_jobs_to_wait(
            &mut conn,
            &self.inner.queue.keys().base,
            o.max_stalled_count,
            now_ms(),
            o.stalled_interval,
        );
        crate::telemetry::stalled_check(self, check).await.map_err(|e| Error::redis("moveStalledJobsToWait", None, e))
    }

    /// Runs the stalled check now and then every `stalled_interval`, in the background, until
    /// [`stop_stalled_check_timer`](Self::stop_stalled_check_timer) or the last clone is dropped.
    pub fn start_stalled_check_timer(&self) {
        let weak = Arc::downgrade(&self.inner);
        // From the end of one check to the next, plus a millisecond: the `stalled-check` key of
        // the previous check lives exactly one interval, and a check that meets it does nothing.
        let period = Duration::from_millis(self.inner.opts.stalled_interval + 1);
        let handle = tokio::spawn(async move {
            let mut first = true;
            loop {
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(period).await;
                }
                let Some(inner) = weak.upgrade() else { return };
                let w = ManualWorker { inner };
                if let Err(e) = w.run_stalled_check().await {
                    tracing::warn!(error = %e, "stalled check failed");
                }
            }
        });
        if let Ok(mut g) = self.inner.stalled_timer.lock() {
            if let Some(old) = g.replace(handle) {
                old.abort();
            }
        }
    }

    /// Stops the background stalled check.
    pub fn stop_stalled_check_timer(&self) {
        if let Some(h) = self.inner.stalled_timer.lock().ok().and_then(|mut g| g.take()) {
            h.abort();
        }
    }

    /// Renews the locks of many active jobs in one call. Returns the ids whose lock was lost
    /// (missing or held by another token).
    pub async fn extend_locks(&self, jobs: &[(String, String)], duration_ms: u64) -> Result<Vec<String>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.inner.queue.conn()?;
        let call = sw::extend_locks(&mut conn, &self.inner.queue.keys().base, duration_ms, jobs);
        crate::telemetry::traced_extend_locks(self, jobs, call).await.map_err(|e| Error::redis("extendLocks", None, e))
    }

    /// Drops the blocking connection; the next blocking fetch opens a fresh one (what a
    /// restarted fetcher wants after any anomaly).
    pub(crate) async fn reset_blocking(&self) {
        self.inner.blocking.lock().await.take();
    }

    /// Stops the stalled timer and releases the blocking connection.
    pub async fn close(&self) {
        self.stop_stalled_check_timer();
        self.inner.blocking.lock().await.take();
    }
}
