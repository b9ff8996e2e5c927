//! The producer and administration facade: [`Queue`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

mod admin;
mod coalesce;
mod dependencies;
mod getters;
mod jobs;
mod metrics;
mod schedulers;
mod transaction;

pub use crate::schedulers::{JobSchedulerRecord, JobTemplate, LegacyRepeatableJob, RepeatOptions};
pub use dependencies::{Dependencies, DependenciesQuery, DependencyCounts};
pub use metrics::{Metrics, MetricsMeta, MetricsType};
pub use schedulers::JobScheduler;
pub use transaction::{Transaction, TransactionReply};

use crate::clock::now_ms;
use crate::connection::{Client, Connection};
use crate::error::{Error, Result};
use crate::job::{epoch_ms, ms, pairs_to_map, BulkJob, Job, JobOptions};
use crate::keys::QueueKeys;
use crate::scripts::{AddJobs, AddReply, NewJob};

/// The version string written to the queue's `meta` hash (informational; Node writes
/// `bullmq:<version>` there).
const META_VERSION: &str = concat!("bullmq-ractor:", env!("CARGO_PKG_VERSION"));

/// Options of a [`Queue`], with BullMQ's defaults.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Where the queue lives. Default `127.0.0.1:6379`, prefix `bull`.
    pub connection: Connection,
    /// Options merged under every added job's own options. Default none.
    pub default_job_options: JobOptions,
    /// Approximate cap of the events stream (`streams.events.maxLen`). Default 10000.
    pub max_len_events: u64,
    /// Do not write `meta` (`opts.maxLenEvents`, `version`) at start. Default false.
    pub skip_meta_update: bool,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            connection: Connection::default(),
            default_job_options: JobOptions::default(),
            max_len_events: 10_000,
            skip_meta_update: false,
        }
    }
}

impl QueueOptions {
    /// Defaults, on `connection`.
    pub fn new(connection: Connection) -> Self {
        QueueOptions { connection, ..Default::default() }
    }
    /// Builder: where the queue lives.
    pub fn connection(mut self, connection: Connection) -> Self {
        self.connection = connection;
        self
    }
    /// Builder: options merged under every added job's own.
    pub fn default_job_options(mut self, opts: JobOptions) -> Self {
        self.default_job_options = opts;
        self
    }
    /// Builder: approximate cap of the events stream.
    pub fn max_len_events(mut self, n: u64) -> Self {
        self.max_len_events = n;
        self
    }
    /// Builder: do not write `meta` at start.
    pub fn skip_meta_update(mut self, skip: bool) -> Self {
        self.skip_meta_update = skip;
        self
    }
}

/// A handle on one queue: add jobs, read them, act on them by id, administer the queue. Cheap
/// to clone; clones share one multiplexed connection.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    client: Client,
    /// Started by the first single add: a handle that never adds (a tenant queue's handle made
    /// for a processor's progress or logs) runs no task.
    adder: OnceLock<coalesce::Coalescer>,
    opts: QueueOptions,
    closed: AtomicBool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name()).field("prefix", &self.prefix()).finish()
    }
}

impl Queue {
    /// Connects, loads the scripts and (unless `skip_meta_update`) records the events cap and
    /// version in `meta`, as a Node `Queue` does.
    pub async fn new(name: &str, opts: QueueOptions) -> Result<Queue> {
        opts.default_job_options.validate()?;
        let client = Client::connect(&opts.connection, name).await?;
        crate::scripts::load_all(&client).await?;
        if !opts.skip_meta_update {
            redis::cmd("HSET")
                .arg(client.keys().key("meta"))
                .arg("opts.maxLenEvents")
                .arg(opts.max_len_events)
                .arg("version")
                .arg(META_VERSION)
                .query_async::<()>(&mut client.conn())
                .await
                .map_err(|e| Error::redis("queue init", None, e))?;
        }
        Ok(Queue::over(client, opts))
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.keys().name
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.keys().prefix
    }

    /// `prefix:name`, the form flows and parents use.
    pub fn qualified_name(&self) -> String {
        self.keys().qualified()
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &QueueOptions {
        &self.inner.opts
    }

    pub(crate) fn keys(&self) -> &Arc<QueueKeys> {
        self.inner.client.keys()
    }

    /// A handle on another queue (`keys`, same prefix) over this one's connection and options,
    /// without touching its meta: a fair group's tenant queue.
    pub(crate) fn sibling(&self, keys: Arc<QueueKeys>) -> Queue {
        Queue::over(self.inner.client.for_queue(keys), self.inner.opts.clone())
    }

    fn over(client: Client, opts: QueueOptions) -> Queue {
        Queue { inner: Arc::new(QueueInner { client, adder: OnceLock::new(), opts, closed: AtomicBool::new(false) }) }
    }

    /// The queue's client, unless the handle was closed.
    pub(crate) fn client(&self) -> Result<&Client> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed("queue"));
        }
        Ok(&self.inner.client)
    }

    /// Adds one job. Returns it with its id: a new id, the existing job's id when `job_id`
    /// names a job that exists (a duplicate: nothing is changed), or the owner's id when the
    /// add was deduplicated.
    ///
    /// Concurrent adds on one queue handle are coalesced into one script call (each job still
    /// on its own: one refused add does not affect the others).
    pub async fn add(&self, name: &str, data: impl Serialize, opts: JobOptions) -> Result<Job> {
        crate::telemetry::traced_add(self.name(), name, opts, |opts| self.add_one(name, data, opts)).await
    }

    async fn add_one(&self, name: &str, data: impl Serialize, opts: JobOptions) -> Result<Job> {
        let data =
            serde_json::to_value(data).map_err(|source| Error::Serialize { what: "data", job_id: None, source })?;
        let opts = opts.merged_over(&self.inner.opts.default_job_options);
        let new = prepare_job(name, &data, &opts, now_ms())?;
        self.client()?;
        let timestamp = new.timestamp;
        let id = match self
            .inner
            .adder
            .get_or_init(|| coalesce::Coalescer::start(self.inner.client.clone()))
            .add(new)
            .await
            .ok_or(Error::Closed("queue"))??
        {
            AddReply::Id(id) => id,
            AddReply::Refused(e) => return Err(e),
            AddReply::NotAttempted => return Err(Error::unexpected("addJob", None, "not attempted")),
        };
        let data = if data.is_null() { serde_json::Value::Object(Default::default()) } else { data };
        Ok(Job::created(self.keys(), id, name.to_owned(), data, opts, timestamp))
    }

    /// Adds many jobs in one atomic script call: every job is validated first, and if one is
    /// invalid or names a missing parent, none is added.
    pub async fn add_bulk(&self, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        crate::telemetry::traced_add_bulk(self.name(), jobs, |jobs| self.add_many(jobs)).await
    }

    async fn add_many(&self, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        self.add_many_in(self.client()?, jobs).await
    }

    /// [`add_bulk`](Self::add_bulk) to another queue (`keys`, same prefix) over this one's
    /// connection and default job options: a fair group's adds for its tenants.
    pub(crate) async fn add_bulk_to(&self, keys: Arc<QueueKeys>, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        let client = self.client()?.for_queue(keys);
        let name = client.keys().name.clone();
        crate::telemetry::traced_add_bulk(&name, jobs, |jobs| self.add_many_in(&client, jobs)).await
    }

    async fn add_many_in(&self, client: &Client, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let (prepared, merged) = self.prepare_bulk(&jobs)?;
        let replies = AddJobs { jobs: &prepared, atomic: true }.run(client).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for ((reply, job), (new, opts)) in replies.into_iter().zip(jobs).zip(prepared.into_iter().zip(merged)) {
            match reply {
                AddReply::Id(id) => out.push(Job::created(client.keys(), id, job.name, job.data, opts, new.timestamp)),
                AddReply::Refused(e) => return Err(e),
                AddReply::NotAttempted => {}
            }
        }
        Ok(out)
    }

    /// `jobs` ready for the add scripts, and each one's options over the queue's defaults.
    pub(crate) fn prepare_bulk(&self, jobs: &[BulkJob]) -> Result<(Vec<NewJob>, Vec<JobOptions>)> {
        let now = now_ms();
        let mut prepared = Vec::with_capacity(jobs.len());
        let mut merged = Vec::with_capacity(jobs.len());
        for j in jobs {
            let opts = j.opts.merged_over(&self.inner.opts.default_job_options);
            prepared.push(prepare_job(&j.name, &j.data, &opts, now)?);
            merged.push(opts);
        }
        Ok((prepared, merged))
    }

    /// Reads a job, or `None` when it does not exist. A job whose hash cannot be decoded is an
    /// [`Error::CorruptJob`].
    pub async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let flat: Vec<String> = redis::cmd("HGETALL")
            .arg(self.keys().job(id))
            .query_async(&mut self.client()?.conn())
            .await
            .map_err(|e| Error::redis("getJob", Some(id), e))?;
        if flat.is_empty() {
            return Ok(None);
        }
        Job::from_hash(self.keys(), id, pairs_to_map(flat)).map(Some)
    }

    /// Stops using this handle; later calls fail with [`Error::Closed`]. The connection closes
    /// when the last clone is dropped.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
    }
}

/// A job ready for the add scripts: options validated, data and options serialised, the parent
/// link resolved. Shared by [`Queue::add`] and flows.
pub(crate) fn prepare_job(name: &str, data: &serde_json::Value, opts: &JobOptions, now: u64) -> Result<NewJob> {
    opts.validate()?;
    // Node stores `JSON.stringify(data ?? {})`: no payload is an empty object, not `null`.
    let data_json = if data.is_null() {
        "{}".to_owned()
    } else {
        serde_json::to_string(data).map_err(|source| Error::Serialize { what: "data", job_id: None, source })?
    };
    if let Some(limit) = opts.size_limit {
        if data_json.len() as u64 > limit {
            return Err(Error::invalid(
                "size_limit",
                format!("the data of job {name:?} is {} bytes, above the limit of {limit}", data_json.len()),
            ));
        }
    }
    let timestamp = opts.timestamp.map(epoch_ms).unwrap_or(now);
    let (parent_key, parent_json) = match &opts.parent {
        Some(p) => {
            let mut pj = serde_json::json!({"id": p.id, "queueKey": p.queue});
            if let Some(policy) = opts.parent_failure {
                pj[policy.flag()] = true.into();
            }
            (p.key(), pj.to_string())
        }
        None => (String::new(), String::new()),
    };
    Ok(NewJob {
        custom_id: opts.job_id.clone().unwrap_or_default(),
        name: name.to_owned(),
        timestamp,
        data: data_json,
        opts: opts.to_stored().to_string(),
        delay: opts.delay.map(ms).unwrap_or(0),
        priority: opts.priority.unwrap_or(0),
        lifo: opts.lifo,
        dedup: opts.deduplication.as_ref().map(|d| d.to_json().to_string()).unwrap_or_default(),
        parent_key,
        parent_json,
        repeat_job_key: String::new(),
    })
}
