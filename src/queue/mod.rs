//! The producer and administration facade: [`Queue`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis::aio::ConnectionManager;
use serde::Serialize;

mod admin;
mod coalesce;
mod getters;

use crate::connection::ConnectionOptions;
use crate::error::{check_code, Error, Result};
use crate::job::{pairs_to_map, Job};
use crate::keys::QueueKeys;
use crate::options::JobOptions;
use crate::scripts::add::{add_jobs, AddReply, NewJob};

mod metrics;
pub use metrics::{Metrics, MetricsMeta, MetricsType};

/// The version string written to the queue's `meta` hash (informational; Node writes
/// `bullmq:<version>` there).
pub(crate) const META_VERSION: &str = concat!("bullmq-ractor:", env!("CARGO_PKG_VERSION"));

/// Options of a [`Queue`].
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// How to reach Redis.
    pub connection: ConnectionOptions,
    /// Key prefix. Default `bull`. Use a braced prefix (`{app}`) for Redis Cluster.
    pub prefix: String,
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
            connection: ConnectionOptions::default(),
            prefix: "bull".into(),
            default_job_options: JobOptions::default(),
            max_len_events: 10_000,
            skip_meta_update: false,
        }
    }
}

/// One entry of [`Queue::add_bulk`].
#[derive(Debug, Clone)]
pub struct BulkJob {
    /// Job name.
    pub name: String,
    /// Payload.
    pub data: serde_json::Value,
    /// Options.
    pub opts: JobOptions,
}

impl BulkJob {
    /// A bulk entry from any serialisable payload.
    pub fn new(name: impl Into<String>, data: impl Serialize, opts: JobOptions) -> Result<Self> {
        let data =
            serde_json::to_value(data).map_err(|source| Error::Serialize { what: "data", job_id: None, source })?;
        Ok(BulkJob { name: name.into(), data, opts })
    }
}

/// A handle on one queue: add jobs, read them, administer the queue. Cheap to clone; clones
/// share one multiplexed connection.
#[derive(Clone)]
pub struct Queue {
    pub(crate) inner: Arc<QueueInner>,
}

pub(crate) struct QueueInner {
    pub(crate) keys: QueueKeys,
    pub(crate) conn: ConnectionManager,
    adder: coalesce::Coalescer,
    pub(crate) opts: QueueOptions,
    closed: AtomicBool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.inner.keys.name).field("prefix", &self.inner.keys.prefix).finish()
    }
}

/// Milliseconds since the Unix epoch, as Node's `Date.now()`.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Queue {
    /// Connects, loads the scripts and (unless `skip_meta_update`) records the events cap and
    /// version in `meta`, as a Node `Queue` does.
    pub async fn new(name: &str, opts: QueueOptions) -> Result<Queue> {
        let keys = QueueKeys::new(&opts.prefix, name)?;
        opts.default_job_options.validate()?;
        let mut conn = opts.connection.connect_shared().await?;
        crate::scripts::load_all(&mut conn).await.map_err(|e| Error::redis("SCRIPT LOAD", None, e))?;
        if !opts.skip_meta_update {
            redis::cmd("HSET")
                .arg(keys.key("meta"))
                .arg("opts.maxLenEvents")
                .arg(opts.max_len_events)
                .arg("version")
                .arg(META_VERSION)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| Error::redis("queue init", None, e))?;
        }
        let adder = coalesce::Coalescer::start(conn.clone(), keys.base.clone());
        Ok(Queue { inner: Arc::new(QueueInner { keys, conn, adder, opts, closed: AtomicBool::new(false) }) })
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.inner.keys.name
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.keys.prefix
    }

    /// `prefix:name`, the form flows and parents use.
    pub fn qualified_name(&self) -> String {
        self.inner.keys.qualified()
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &QueueOptions {
        &self.inner.opts
    }

    pub(crate) fn keys(&self) -> &QueueKeys {
        &self.inner.keys
    }

    pub(crate) fn conn(&self) -> Result<ConnectionManager> {
        if self.inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed("queue"));
        }
        Ok(self.inner.conn.clone())
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
        let new = self.prepare(name, &data, &opts, now_ms())?;
        self.conn()?;
        let (custom_id, parent_key, timestamp) = (new.custom_id.clone(), new.parent_key.clone(), new.timestamp);
        let reply = self.inner.adder.add(new).await.ok_or(Error::Closed("queue"))?;
        let job_id = Some(custom_id.as_str()).filter(|s| !s.is_empty());
        let id = match reply.map_err(|e| Error::redis("addJob", job_id, e))? {
            AddReply::Id(id) => id,
            AddReply::Code(code) => {
                check_code(code, &custom_id, "addJob", &parent_key)?;
                return Err(Error::unexpected("addJob", job_id, format!("reply {code}")));
            }
        };
        let data = if data.is_null() { serde_json::Value::Object(Default::default()) } else { data };
        Ok(Job::created(id, name.to_owned(), data, opts, timestamp, self.clone()))
    }

    /// Adds many jobs in one atomic script call: every job is validated first, and if one is
    /// invalid or names a missing parent, none is added.
    pub async fn add_bulk(&self, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        crate::telemetry::traced_add_bulk(self.name(), jobs, |jobs| self.add_many(jobs)).await
    }

    async fn add_many(&self, jobs: Vec<BulkJob>) -> Result<Vec<Job>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut prepared = Vec::with_capacity(jobs.len());
        let mut merged = Vec::with_capacity(jobs.len());
        for j in &jobs {
            let opts = j.opts.merged_over(&self.inner.opts.default_job_options);
            prepared.push(self.prepare(&j.name, &j.data, &opts, now)?);
            merged.push(opts);
        }
        let mut conn = self.conn()?;
        let replies = add_jobs(&mut conn, &self.inner.keys.base, &prepared, true).await.map_err(|e| {
            Error::redis("addJob", prepared.first().map(|p| p.custom_id.as_str()).filter(|s| !s.is_empty()), e)
        })?;
        if replies.len() != jobs.len() {
            return Err(Error::unexpected(
                "addJob",
                None,
                format!("{} replies for {} jobs", replies.len(), jobs.len()),
            ));
        }
        let mut out = Vec::with_capacity(jobs.len());
        for ((reply, job), (new, opts)) in replies.into_iter().zip(jobs).zip(prepared.into_iter().zip(merged)) {
            let id = match reply {
                AddReply::Id(id) => id,
                AddReply::Code(code) => {
                    check_code(code, &new.custom_id, "addJob", &new.parent_key)?;
                    continue;
                }
            };
            out.push(Job::created(id, job.name, job.data, opts, new.timestamp, self.clone()));
        }
        Ok(out)
    }

    fn prepare(&self, name: &str, data: &serde_json::Value, opts: &JobOptions, now: u64) -> Result<NewJob> {
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
        let timestamp = opts.timestamp.unwrap_or(now);
        let (parent_key, parent_json) = match &opts.parent {
            Some(p) => {
                let mut pj = serde_json::json!({"id": p.id, "queueKey": p.queue});
                for (flag, v) in [
                    ("fpof", opts.fail_parent_on_failure),
                    ("cpof", opts.continue_parent_on_failure),
                    ("idof", opts.ignore_dependency_on_failure),
                    ("rdof", opts.remove_dependency_on_failure),
                ] {
                    if v == Some(true) {
                        pj[flag] = true.into();
                    }
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
            delay: opts.delay.unwrap_or(0),
            priority: opts.priority.unwrap_or(0),
            lifo: opts.lifo,
            dedup: opts.deduplication.as_ref().map(|d| d.to_json().to_string()).unwrap_or_default(),
            parent_key,
            parent_json,
            repeat_job_key: String::new(),
        })
    }

    /// Reads a job, or `None` when it does not exist. A job whose hash cannot be decoded is an
    /// [`Error::CorruptJob`].
    pub async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        let mut conn = self.conn()?;
        let flat: Vec<String> = redis::cmd("HGETALL")
            .arg(self.inner.keys.job(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("getJob", Some(id), e))?;
        if flat.is_empty() {
            return Ok(None);
        }
        Job::from_hash(id, pairs_to_map(flat), Some(self.clone())).map(Some)
    }

    /// Stops using this handle; later calls fail with [`Error::Closed`]. The connection closes
    /// when the last clone is dropped.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
    }
}
