//! A job as stored in its hash (PROTOCOL.md §4): a plain record, decoded without panicking (a
//! field that does not decode is an [`Error::CorruptJob`] naming the job and the field). It
//! holds no connection: what can be done with a job goes through a [`Queue`](crate::Queue),
//! a [`JobContext`](crate::JobContext) inside a processor, or an
//! [`ActiveJob`](crate::worker::ActiveJob) in manual processing.

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::options::{JobOptions, ParentFailurePolicy};
use crate::error::{Error, Result};
use crate::keys::QueueKeys;

/// The parent link of a child job (the hash's `parent` JSON).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct ParentRef {
    /// The parent's id.
    pub id: String,
    /// The parent's qualified queue name, `prefix:name`.
    pub queue_key: String,
    /// What this child's final failure does to the parent, if anything.
    pub failure_policy: Option<ParentFailurePolicy>,
}

/// One job, with every field BullMQ keeps.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Job {
    /// The job id.
    pub id: String,
    /// The job name.
    pub name: String,
    /// The payload, as JSON.
    pub data: Value,
    /// The options it was added with (decoded from the stored short names).
    pub opts: JobOptions,
    /// The last reported progress (a number or an object); `0` by default.
    pub progress: Value,
    /// Attempts made (`atm`, or the legacy `attemptsMade`).
    pub attempts_made: u64,
    /// Attempts started (`ats`).
    pub attempts_started: u64,
    /// How many times the job was recovered as stalled (`stc`).
    pub stalled_counter: u64,
    /// Creation time, ms since the epoch.
    pub timestamp: u64,
    /// The delay last applied, in ms (relative to when it was applied).
    pub delay: u64,
    /// Priority (0 = none).
    pub priority: u32,
    /// When the job last started, ms since the epoch.
    pub processed_on: Option<u64>,
    /// When the job finished, ms since the epoch.
    pub finished_on: Option<u64>,
    /// The return value of a completed job.
    pub returnvalue: Option<Value>,
    /// The reason of the last failure.
    pub failed_reason: Option<String>,
    /// Stack traces of failed attempts, oldest first.
    pub stacktrace: Vec<String>,
    /// The name of the worker that processed it (`pb`).
    pub processed_by: Option<String>,
    /// The parent's job key, for a child.
    pub parent_key: Option<String>,
    /// The parent link, for a child.
    pub parent: Option<ParentRef>,
    /// The job scheduler that produced it (`rjk`).
    pub repeat_job_key: Option<String>,
    /// The deduplication id (`deid`).
    pub deduplication_id: Option<String>,
    /// A failure recorded for the next worker to apply (`defa`): the job must fail at once.
    pub deferred_failure: Option<String>,
    /// Fields this crate does not model, as stored.
    pub extra: HashMap<String, String>,
    /// The queue it belongs to.
    queue: Arc<QueueKeys>,
    /// The values of its children as read with the take (`cv`), by child key, as stored (JSON
    /// texts): a parent released by its children gets them with itself.
    children_values: Option<HashMap<String, String>>,
    /// `atm` as stored (0 when absent) if the hash, when read, had no parent link, no
    /// deduplication id and no legacy `attemptsMade`: finishing such a job needs nothing read
    /// back from its hash (neither link is ever added later).
    plain_atm: Option<u64>,
}

fn num(job_id: &str, field: &'static str, v: &str) -> Result<u64> {
    // Node reads these with parseInt: an integer prefix counts, the rest is ignored.
    let t = v.trim();
    let end = t.find(|c: char| !c.is_ascii_digit() && c != '-').unwrap_or(t.len());
    let head = &t[..end];
    if head.is_empty() {
        if let Ok(f) = t.parse::<f64>() {
            if f.is_finite() && f >= 0.0 {
                return Ok(f as u64);
            }
        }
        return Err(Error::CorruptJob { job_id: job_id.into(), field, message: format!("not a number: {v:?}") });
    }
    head.parse::<i64>().map(|n| n.max(0) as u64).map_err(|e| Error::CorruptJob {
        job_id: job_id.into(),
        field,
        message: e.to_string(),
    })
}

fn json(job_id: &str, field: &'static str, v: &str) -> Result<Value> {
    serde_json::from_str(v).map_err(|e| Error::CorruptJob { job_id: job_id.into(), field, message: e.to_string() })
}

impl Job {
    /// Its children's values as read with the take, decoded, when the take brought them.
    pub(crate) fn taken_children_values(&self) -> Option<HashMap<String, Value>> {
        self.children_values.as_ref().map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()))))
                .collect()
        })
    }

    /// Decodes the hash of job `id` of `queue`.
    pub(crate) fn from_hash(queue: &Arc<QueueKeys>, id: &str, mut h: HashMap<String, String>) -> Result<Job> {
        let mut take = |k: &str| h.remove(k);
        let name = take("name").unwrap_or_default();
        let data = match take("data") {
            Some(s) => json(id, "data", &s)?,
            None => Value::Object(Default::default()),
        };
        let opts = match take("opts") {
            Some(s) => JobOptions::from_stored(&json(id, "opts", &s)?).map_err(|message| Error::CorruptJob {
                job_id: id.into(),
                field: "opts",
                message,
            })?,
            None => JobOptions::default(),
        };
        let progress = match take("progress") {
            Some(s) => json(id, "progress", &s)?,
            None => Value::from(0),
        };
        let opt_num = |v: Option<String>, f: &'static str| v.map(|s| num(id, f, &s)).transpose();
        let legacy_atm = take("attemptsMade");
        let atm = take("atm");
        let legacy = legacy_atm.is_some();
        let attempts_made = opt_num(legacy_atm.or(atm), "atm")?.unwrap_or(0);
        let attempts_started = opt_num(take("ats"), "ats")?.unwrap_or(0);
        let stalled_counter = opt_num(take("stc"), "stc")?.unwrap_or(0);
        let timestamp = opt_num(take("timestamp"), "timestamp")?.unwrap_or(0);
        let delay = opt_num(take("delay"), "delay")?.unwrap_or(0);
        let priority = opt_num(take("priority"), "priority")?.unwrap_or(0) as u32;
        let processed_on = opt_num(take("processedOn"), "processedOn")?;
        let finished_on = opt_num(take("finishedOn"), "finishedOn")?;
        // Node parses returnvalue and stacktrace defensively; so do we.
        let returnvalue = take("returnvalue").map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)));
        let stacktrace = take("stacktrace")
            .and_then(|s| serde_json::from_str::<Vec<Value>>(&s).ok())
            .map(|v| v.into_iter().map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).collect())
            .unwrap_or_default();
        let parent = match take("parent") {
            Some(s) => Some(parent_ref(id, &s)?),
            None => None,
        };
        let parent_key = take("parentKey");
        let deduplication_id = take("deid");
        let plain = !legacy && parent_key.is_none() && parent.is_none() && deduplication_id.is_none();
        // The marker alone ("1", as stored) carries no values: only a take's reply does.
        let children_values = take("cv").and_then(|cv| serde_json::from_str(&cv).ok());
        Ok(Job {
            id: id.to_owned(),
            name,
            data,
            opts,
            progress,
            attempts_made,
            attempts_started,
            stalled_counter,
            timestamp,
            delay,
            priority,
            processed_on,
            finished_on,
            returnvalue,
            failed_reason: take("failedReason"),
            stacktrace,
            processed_by: take("pb"),
            parent_key,
            parent,
            repeat_job_key: take("rjk"),
            deduplication_id,
            deferred_failure: take("defa"),
            extra: h,
            queue: queue.clone(),
            children_values,
            plain_atm: plain.then_some(attempts_made),
        })
    }

    /// A job just added by this process, built from what was sent (no read back).
    pub(crate) fn created(
        queue: &Arc<QueueKeys>,
        id: String,
        name: String,
        data: Value,
        opts: JobOptions,
        timestamp: u64,
    ) -> Job {
        Job {
            id,
            name,
            data,
            delay: opts.delay.map(super::options::ms).unwrap_or(0),
            priority: opts.priority.unwrap_or(0),
            deduplication_id: opts.deduplication.as_ref().map(|d| d.id.clone()),
            parent_key: opts.parent.as_ref().map(|p| p.key()),
            parent: opts.parent.as_ref().map(|p| ParentRef {
                id: p.id.clone(),
                queue_key: p.queue.clone(),
                failure_policy: opts.parent_failure,
            }),
            opts,
            progress: Value::from(0),
            attempts_made: 0,
            attempts_started: 0,
            stalled_counter: 0,
            timestamp,
            processed_on: None,
            finished_on: None,
            returnvalue: None,
            failed_reason: None,
            stacktrace: Vec::new(),
            processed_by: None,
            repeat_job_key: None,
            deferred_failure: None,
            extra: HashMap::new(),
            queue: queue.clone(),
            children_values: None,
            plain_atm: None,
        }
    }

    /// The payload decoded into `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.data.clone()).map_err(|e| Error::CorruptJob {
            job_id: self.id.clone(),
            field: "data",
            message: e.to_string(),
        })
    }

    /// The return value decoded into `T` (`None` when the job has none).
    pub fn returnvalue_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.returnvalue
            .clone()
            .map(|v| {
                serde_json::from_value(v).map_err(|e| Error::CorruptJob {
                    job_id: self.id.clone(),
                    field: "returnvalue",
                    message: e.to_string(),
                })
            })
            .transpose()
    }

    /// The name of the queue the job belongs to.
    pub fn queue_name(&self) -> &str {
        &self.queue.name
    }

    /// The key prefix of its queue.
    pub fn prefix(&self) -> &str {
        &self.queue.prefix
    }

    /// `prefix:name` of its queue, the form parents and flows name queues by.
    pub fn queue_qualified_name(&self) -> String {
        self.queue.qualified()
    }

    pub(crate) fn queue_keys(&self) -> &Arc<QueueKeys> {
        &self.queue
    }

    /// `atm + 1` when finishing the job needs nothing read back from its hash (see the field).
    pub(crate) fn next_plain_atm(&self) -> Option<u64> {
        self.plain_atm.map(|n| n + 1)
    }
}

fn parent_ref(id: &str, s: &str) -> Result<ParentRef> {
    let v = json(id, "parent", s)?;
    let pid = v.get("id").map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string()));
    let qk = v.get("queueKey").and_then(Value::as_str).map(str::to_owned);
    match (pid, qk) {
        (Some(pid), Some(queue_key)) => {
            Ok(ParentRef { id: pid, queue_key, failure_policy: ParentFailurePolicy::from_flags(&v) })
        }
        _ => Err(Error::CorruptJob {
            job_id: id.into(),
            field: "parent",
            message: format!("missing id or queueKey in {s}"),
        }),
    }
}

/// Turns a flat `[field, value, field, value...]` reply into a map.
pub(crate) fn pairs_to_map(flat: Vec<String>) -> HashMap<String, String> {
    let mut m = HashMap::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        m.insert(k, v);
    }
    m
}
