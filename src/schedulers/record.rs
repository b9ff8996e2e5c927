//! A scheduler as stored (`repeat:<id>` hash plus its slot in `repeat`), read back.

use std::collections::HashMap;
use std::time::Duration;

use super::options::JobTemplate;
use crate::error::{Error, Result};
use crate::job::JobOptions;

/// A job scheduler as stored, with Node's `getJobScheduler` fields (snake_case).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct JobSchedulerRecord {
    /// The scheduler id.
    pub key: String,
    /// The iterations' job name.
    pub name: String,
    /// The cron pattern, for a pattern scheduler.
    pub pattern: Option<String>,
    /// The interval, for an `every` scheduler.
    pub every: Option<Duration>,
    /// The slot (ms since the epoch) of the pending iteration, whose job id is
    /// `repeat:<key>:<next>`.
    pub next: Option<u64>,
    /// Iterations produced so far, the pending one included.
    pub iteration_count: Option<u64>,
    /// The most iterations it will produce.
    pub limit: Option<u64>,
    /// No iteration before this (ms since the epoch).
    pub start_date: Option<u64>,
    /// No iteration after this (ms since the epoch).
    pub end_date: Option<u64>,
    /// The pattern's time zone.
    pub tz: Option<String>,
    /// Where `every` slots fall inside the interval.
    pub offset: Option<Duration>,
    /// The iterations' data and options (`name` is above, not in the template).
    pub template: JobTemplate,
}

/// A 5.x repeatable job (`Queue.add(.., {repeat})` of BullMQ 5): listed and removable, never
/// created or iterated by this crate (BullMQ 6 dropped them too).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRepeatableJob {
    /// The repeat key (the member of `repeat`); remove it with
    /// [`Queue::remove_job_scheduler`](crate::Queue::remove_job_scheduler).
    pub key: String,
    /// The job name.
    pub name: Option<String>,
    /// Its cron pattern, if any.
    pub pattern: Option<String>,
    /// Its interval, if any.
    pub every: Option<Duration>,
    /// Its time zone, if any.
    pub tz: Option<String>,
    /// Its end date (ms), if any.
    pub end_date: Option<u64>,
    /// The slot of its next iteration (ms).
    pub next: Option<u64>,
}

/// Field `field` of scheduler `sid`'s hash as a whole number of ms (or a count).
fn number(sid: &str, h: &HashMap<String, String>, field: &'static str) -> Result<Option<u64>> {
    match h.get(field) {
        None => Ok(None),
        // Node writes numbers with Lua's formatting, which may leave a ".0" or an exponent.
        Some(s) => {
            match s.parse::<u64>().ok().or_else(|| s.parse::<f64>().ok().filter(|f| *f >= 0.0).map(|f| f as u64)) {
                Some(n) => Ok(Some(n)),
                None => Err(Error::CorruptJob {
                    job_id: format!("repeat:{sid}"),
                    field,
                    message: format!("not a number: {s:?}"),
                }),
            }
        }
    }
}

impl JobSchedulerRecord {
    /// The record of scheduler `key` from its hash and slot; `None` for a legacy repeatable
    /// entry (no `ic`).
    pub(crate) fn from_hash(key: &str, h: &HashMap<String, String>, next: Option<u64>) -> Result<Option<Self>> {
        if !h.contains_key("ic") {
            return Ok(None);
        }
        let corrupt = |field: &'static str, message: String| Error::CorruptJob {
            job_id: format!("repeat:{key}"),
            field,
            message,
        };
        let data = match h.get("data") {
            Some(d) => serde_json::from_str(d).map_err(|e| corrupt("data", e.to_string()))?,
            None => serde_json::Value::Object(Default::default()),
        };
        let opts = match h.get("opts") {
            Some(o) => {
                let v: serde_json::Value = serde_json::from_str(o).map_err(|e| corrupt("opts", e.to_string()))?;
                JobOptions::from_stored(&v).map_err(|m| corrupt("opts", m))?
            }
            None => JobOptions::default(),
        };
        Ok(Some(JobSchedulerRecord {
            key: key.to_owned(),
            name: h.get("name").cloned().unwrap_or_default(),
            pattern: h.get("pattern").cloned(),
            every: number(key, h, "every")?.map(Duration::from_millis),
            next,
            iteration_count: number(key, h, "ic")?,
            limit: number(key, h, "limit")?,
            start_date: number(key, h, "startDate")?,
            end_date: number(key, h, "endDate")?,
            tz: h.get("tz").cloned(),
            offset: number(key, h, "offset")?.map(Duration::from_millis),
            template: JobTemplate { name: None, data, opts },
        }))
    }
}

impl LegacyRepeatableJob {
    pub(crate) fn from_hash(key: &str, h: &HashMap<String, String>, next: Option<u64>) -> Self {
        LegacyRepeatableJob {
            key: key.to_owned(),
            name: h.get("name").cloned(),
            pattern: h.get("pattern").cloned(),
            every: h.get("every").and_then(|s| s.parse().ok()).map(Duration::from_millis),
            tz: h.get("tz").cloned(),
            end_date: h.get("endDate").and_then(|s| s.parse().ok()),
            next,
        }
    }
}
