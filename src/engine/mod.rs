//! The engine: fetch, acknowledge, extend and recover jobs under lock tokens (PROTOCOL.md
//! §9, §11, §12). One layer, two users: [`ManualWorker`] is its public face (BullMQ's "Manual
//! Job Processing"), and the supervised worker tree drives the same verbs.
//!
//! A job taken here comes with its [`Lease`]: the lock token it is held under. Every verb that
//! moves a job takes the lease; a wrong or expired one is a `ScriptError` (-2 / -6) and
//! changes nothing.

mod ack;
mod active;
mod batch;
mod fair;
mod fetch;
mod idle_take;
mod lease;
mod maintain;
pub(crate) mod maintenance;
mod options;
mod schedule;
mod wait_deadline;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use ack::FailOutcome;
pub use active::ActiveJob;
pub(crate) use batch::Completion;
pub(crate) use fair::FairGroup;
pub(crate) use fetch::Accepted;
pub use fetch::GetNextJobOptions;
pub(crate) use lease::{Lease, Taken};
pub use options::{MetricsOptions, RateLimiter, WorkerOptions};
pub(crate) use schedule::Duty;

use crate::clock::now_ms;
use crate::connection::{BlockingConn, Client};
use crate::error::{Error, Result};
use crate::fair::FairOptions;
use crate::queue::{Queue, QueueOptions};

/// The engine of one worker: its queue, options and blocking connection, and what it learnt
/// from Redis (the rate limit).
pub(crate) struct Engine {
    queue: Queue,
    opts: WorkerOptions,
    /// The dedicated blocking connection; dropped (and recreated on next use) after any error,
    /// because a connection whose blocking call failed may be in an unknown state.
    blocking: tokio::sync::Mutex<Option<BlockingConn>>,
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
    /// The connection of lock renewal and the stalled check, opened on the maintenance runtime
    /// (see `maintenance`) on first use.
    maintenance: tokio::sync::OnceCell<Client>,
    /// Whether a taken scheduler iteration produces the next one as it is taken (manual
    /// processing: the job goes to the caller), or when it starts (the tree: a job taken ahead
    /// and handed back at close or pause has produced nothing, so it leaves no extra pending
    /// iteration behind).
    schedule_at_take: bool,
    /// A worker of a fair group: its queue is the group's home queue (the group's keys), its
    /// jobs come from the tenant queues (see `fair`).
    fair: Option<FairGroup>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(h) = self.stalled_timer.lock().ok().and_then(|mut g| g.take()) {
            h.abort();
        }
    }
}

impl Engine {
    /// Connects (scripts loaded) after validating the options.
    pub(crate) async fn connect(queue_name: &str, opts: WorkerOptions, schedule_at_take: bool) -> Result<Arc<Engine>> {
        Engine::connect_with(queue_name, opts, schedule_at_take, None).await
    }

    /// Connects a worker of the fair group `group` (its home queue is named after it).
    pub(crate) async fn connect_fair(
        group: &str,
        opts: WorkerOptions,
        schedule_at_take: bool,
        fair: &FairOptions,
    ) -> Result<Arc<Engine>> {
        fair.validate()?;
        Engine::connect_with(group, opts, schedule_at_take, Some(fair)).await
    }

    async fn connect_with(
        queue_name: &str,
        opts: WorkerOptions,
        schedule_at_take: bool,
        fair: Option<&FairOptions>,
    ) -> Result<Arc<Engine>> {
        opts.validate()?;
        let queue_opts = QueueOptions::new(opts.connection.clone()).skip_meta_update(true);
        let queue = Queue::new(queue_name, queue_opts).await?;
        let fair = fair.map(|f| FairGroup::new(queue.keys(), f));
        Ok(Arc::new(Engine {
            fair,
            queue,
            opts,
            blocking: tokio::sync::Mutex::new(None),
            waiting_on: Mutex::new(Vec::new()),
            idle_takes: AtomicU64::new(0),
            marker_woke: tokio::sync::Notify::new(),
            wait_deadline: Mutex::new(None),
            rate_limited_until: AtomicU64::new(0),
            stalled_timer: Mutex::new(None),
            maintenance: tokio::sync::OnceCell::new(),
            schedule_at_take,
        }))
    }

    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    pub(crate) fn options(&self) -> &WorkerOptions {
        &self.opts
    }

    /// Milliseconds the queue's rate limiter still holds this worker back (0: free to fetch).
    pub(crate) fn rate_limit_ttl(&self) -> u64 {
        self.rate_limited_until.load(Ordering::Relaxed).saturating_sub(now_ms())
    }

    /// Holds fetching back for `ttl` ms (a rate limit learnt from Redis or asked by a processor).
    pub(crate) fn set_rate_limited(&self, ttl: u64) {
        self.rate_limited_until.fetch_max(now_ms() + ttl, Ordering::Relaxed);
    }

    /// Connection name Node's `Queue.getWorkers()` counts: `prefix:base64(queue)[:w:name]`.
    fn client_name(&self) -> String {
        let keys = self.queue.keys();
        match &self.opts.name {
            Some(n) => keys.client_name(&format!(":w:{n}")),
            None => keys.client_name(""),
        }
    }

    /// The connection lock renewal and the stalled check use: driven by the maintenance
    /// runtime, so their calls go through while processors hold every thread of the worker's.
    pub(crate) async fn maintenance_client(&self) -> Result<&Client> {
        self.queue.client()?;
        self.maintenance
            .get_or_try_init(|| {
                let (connection, name) = (self.opts.connection.clone(), self.queue.name().to_owned());
                async move { maintenance::run(async move { Client::connect(&connection, &name).await }).await? }
            })
            .await
    }

    /// Drops the blocking connection; the next blocking fetch opens a fresh one (what a
    /// restarted fetcher wants after any anomaly).
    pub(crate) async fn reset_blocking(&self) {
        self.blocking.lock().await.take();
    }

    /// Stops the stalled timer and releases the blocking connection.
    pub(crate) async fn close(&self) {
        self.stop_stalled_check_timer();
        self.blocking.lock().await.take();
    }
}

/// A worker without a processor: you fetch jobs and finish them (BullMQ's manual processing).
/// Cheap to clone.
///
/// ```no_run
/// use std::time::Duration;
/// use bullmq::worker::{GetNextJobOptions, ManualWorker};
/// use bullmq::{JobError, WorkerOptions};
///
/// # async fn demo() -> bullmq::Result<()> {
/// let worker = ManualWorker::new("emails", WorkerOptions::default()).await?;
/// if let Some(job) = worker.get_next_job("my-token-1", GetNextJobOptions::default()).await? {
///     match job.data.get("to") {
///         Some(_) => drop(job.move_to_completed(serde_json::json!({"sent": true}), false).await?),
///         None => drop(job.move_to_failed(&JobError::unrecoverable("no recipient"), false).await?),
///     }
/// }
/// worker.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManualWorker {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for ManualWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualWorker").field("queue", &self.engine.queue.name()).finish()
    }
}

impl ManualWorker {
    /// Connects (scripts loaded) after validating the options.
    pub async fn new(queue_name: &str, opts: WorkerOptions) -> Result<ManualWorker> {
        Ok(ManualWorker { engine: Engine::connect(queue_name, opts, true).await? })
    }

    /// A worker of the fair group `group` without a processor (see [`FairQueue`]): each
    /// fetch takes from the tenants in the group's turn order, as a fair [`Worker`] does, and
    /// the moves of an [`ActiveJob`] go to its tenant's queue. Renew the locks of its jobs with
    /// [`extend_job_locks`](Self::extend_job_locks) or [`ActiveJob::extend_lock`] (a job's id
    /// alone does not say which tenant's queue holds it).
    ///
    /// [`FairQueue`]: crate::FairQueue
    /// [`Worker`]: crate::Worker
    pub async fn fair(group: &str, opts: WorkerOptions, fair: FairOptions) -> Result<ManualWorker> {
        Ok(ManualWorker { engine: Engine::connect_fair(group, opts, true, &fair).await? })
    }

    /// The queue this worker takes jobs from (a fair group's home queue: its tenants' jobs are
    /// in their own queues).
    pub fn queue(&self) -> &Queue {
        &self.engine.queue
    }

    /// The worker's options.
    pub fn options(&self) -> &WorkerOptions {
        &self.engine.opts
    }

    /// How long the queue's rate limiter still holds this worker back (zero: free to fetch), as
    /// learnt from the last fetch.
    pub fn rate_limit_ttl(&self) -> Duration {
        Duration::from_millis(self.engine.rate_limit_ttl())
    }

    /// Fetches the next job and locks it under `token` (use a fresh unique token per fetch).
    /// Returns `None` when nothing came within the timeout, or at once when the queue is rate
    /// limited (see [`rate_limit_ttl`](Self::rate_limit_ttl)).
    ///
    /// A job another process marked for failure (`defa`, e.g. stalled too often) is failed here
    /// and the next one fetched. A job whose stored data cannot be decoded is failed at once,
    /// unrecoverably, and reported as [`Error::CorruptJob`].
    pub async fn get_next_job(&self, token: &str, opts: GetNextJobOptions) -> Result<Option<ActiveJob>> {
        if token.is_empty() {
            return Err(Error::invalid("token", "must not be empty"));
        }
        let taken = self.engine.get_next_job(token, opts).await?;
        Ok(taken.map(|t| ActiveJob::new(t, self.engine.clone())))
    }

    /// Runs the stalled check once (at most once per `stalled_interval` across all workers of
    /// the queue). Returns the ids put back to wait.
    pub async fn run_stalled_check(&self) -> Result<Vec<String>> {
        self.engine.stalled_check().await
    }

    /// Runs the stalled check now and then every `stalled_interval`, in the background, until
    /// [`stop_stalled_check_timer`](Self::stop_stalled_check_timer) or the last clone is dropped.
    pub fn start_stalled_check_timer(&self) {
        self.engine.start_stalled_check_timer();
    }

    /// Stops the background stalled check.
    pub fn stop_stalled_check_timer(&self) {
        self.engine.stop_stalled_check_timer();
    }

    /// Renews the locks of many active jobs, `(job id, token)`, in one call. Returns the ids
    /// whose lock was lost (missing or held by another token). A fair group's worker refuses
    /// it with [`Error::InvalidOption`] (ids do not name the tenant): use
    /// [`extend_job_locks`](Self::extend_job_locks).
    pub async fn extend_locks(&self, jobs: &[(String, String)], duration: Duration) -> Result<Vec<String>> {
        if self.engine.fair.is_some() {
            return Err(Error::invalid("extend_locks", "a fair group's jobs are renewed with extend_job_locks"));
        }
        self.engine.extend_locks(jobs, duration).await
    }

    /// Renews the locks of many fetched jobs, one call per queue they are in (one for a plain
    /// queue). Returns the ids whose lock was lost.
    pub async fn extend_job_locks(&self, jobs: &[&ActiveJob], duration: Duration) -> Result<Vec<String>> {
        let locks: Vec<_> = jobs.iter().map(|j| (j.queue_keys().clone(), j.id.clone(), j.token().to_owned())).collect();
        Ok(self.engine.extend_locks_of(&locks, duration).await?.into_iter().map(|(_, id)| id).collect())
    }

    /// Stops the stalled timer and releases the blocking connection.
    pub async fn close(&self) {
        self.engine.close().await;
    }
}
