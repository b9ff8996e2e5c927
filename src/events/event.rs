//! The typed events of a queue's stream (PROTOCOL.md §10.1), decoded as Node's `QueueEvents`
//! decodes them (§10.3): `progress.data` and `completed.returnvalue` are JSON, `delayed.delay`
//! is a number, everything else stays a string. Decoding never fails: an unknown event name
//! (a custom event), a missing field or a field that does not decode gives
//! [`QueueEvent::Other`] with the raw fields, so nothing read from the stream is ever dropped.

use std::collections::HashMap;

use serde_json::Value;

/// One entry of the events stream. Every variant carries `id`, the stream entry id
/// (`<ms>-<seq>`), which orders events and can be given back as
/// [`last_event_id`](crate::QueueEventsOptions::last_event_id) to replay from there.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum QueueEvent {
    /// `added`: a job was created.
    Added {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The job's name.
        name: String,
    },
    /// `waiting`: a job entered the waiting (or prioritized) state.
    Waiting {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The state it came from (`active`, `delayed`, `waiting-children`, ...); `None` for an add.
        prev: Option<String>,
    },
    /// `active`: a worker took the job.
    Active {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The state it came from (`waiting`).
        prev: Option<String>,
    },
    /// `progress`: the job reported progress.
    Progress {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The progress, decoded from its JSON text (a number or an object).
        data: Value,
    },
    /// `completed`: the job finished successfully.
    Completed {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The return value, decoded from its JSON text.
        returnvalue: Value,
        /// The state it came from (`active`).
        prev: Option<String>,
    },
    /// `failed`: the job failed for good (retries emit `delayed` or `waiting` instead).
    Failed {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The error message, raw text.
        failed_reason: String,
        /// The state it came from (`active`).
        prev: Option<String>,
    },
    /// `delayed`: the job was (re)scheduled for later.
    Delayed {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// When it becomes due: an **absolute** time, ms since the epoch.
        delay: u64,
    },
    /// `stalled`: the stalled check put the job back in `wait`.
    Stalled {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
    },
    /// `removed`: the job was deleted.
    Removed {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The state it was removed from (`completed`, `delayed`, ..., or `unknown`).
        prev: Option<String>,
    },
    /// `drained`: nothing left to process (wait, active and prioritized are empty).
    Drained {
        /// Stream entry id.
        id: String,
    },
    /// `paused`: the queue was paused.
    Paused {
        /// Stream entry id.
        id: String,
    },
    /// `resumed`: the queue was resumed.
    Resumed {
        /// Stream entry id.
        id: String,
    },
    /// `duplicated`: an add named a custom id that already exists; nothing was added.
    Duplicated {
        /// Stream entry id.
        id: String,
        /// The existing job.
        job_id: String,
    },
    /// `deduplicated`: an add was absorbed by a deduplication key (PROTOCOL.md §16.3).
    Deduplicated {
        /// Stream entry id.
        id: String,
        /// The kept owner; in `replace` (debounce) mode, the **new** job.
        job_id: String,
        /// The deduplication id.
        deduplication_id: String,
        /// The id the rejected add would have had; in `replace` mode, the removed old job.
        deduplicated_job_id: String,
    },
    /// `retries-exhausted`: the job's last allowed attempt failed.
    RetriesExhausted {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// Attempts made.
        attempts_made: u64,
    },
    /// `waiting-children`: the job waits for its children.
    WaitingChildren {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The state it came from (`active`), `None` when added that way.
        prev: Option<String>,
    },
    /// `cleaned`: one clean call removed `count` jobs.
    Cleaned {
        /// Stream entry id.
        id: String,
        /// How many jobs were removed.
        count: u64,
    },
    /// `debounced` (written by BullMQ 5.x only, before each `deduplicated`).
    Debounced {
        /// Stream entry id.
        id: String,
        /// The job.
        job_id: String,
        /// The debounce (deduplication) id.
        debounce_id: String,
    },
    /// Any other entry: a custom event, or a known event whose fields are missing or do not
    /// decode. Kept raw so that nothing is lost.
    Other {
        /// Stream entry id.
        id: String,
        /// The `event` field (empty when the entry has none).
        event: String,
        /// Every field except `event`, as stored.
        fields: HashMap<String, String>,
    },
}

impl QueueEvent {
    /// The stream entry id.
    pub fn id(&self) -> &str {
        use QueueEvent::*;
        match self {
            Added { id, .. }
            | Waiting { id, .. }
            | Active { id, .. }
            | Progress { id, .. }
            | Completed { id, .. }
            | Failed { id, .. }
            | Delayed { id, .. }
            | Stalled { id, .. }
            | Removed { id, .. }
            | Drained { id }
            | Paused { id }
            | Resumed { id }
            | Duplicated { id, .. }
            | Deduplicated { id, .. }
            | RetriesExhausted { id, .. }
            | WaitingChildren { id, .. }
            | Cleaned { id, .. }
            | Debounced { id, .. }
            | Other { id, .. } => id,
        }
    }

    /// The event name as written in the stream (`completed`, `retries-exhausted`, ...).
    pub fn name(&self) -> &str {
        use QueueEvent::*;
        match self {
            Added { .. } => "added",
            Waiting { .. } => "waiting",
            Active { .. } => "active",
            Progress { .. } => "progress",
            Completed { .. } => "completed",
            Failed { .. } => "failed",
            Delayed { .. } => "delayed",
            Stalled { .. } => "stalled",
            Removed { .. } => "removed",
            Drained { .. } => "drained",
            Paused { .. } => "paused",
            Resumed { .. } => "resumed",
            Duplicated { .. } => "duplicated",
            Deduplicated { .. } => "deduplicated",
            RetriesExhausted { .. } => "retries-exhausted",
            WaitingChildren { .. } => "waiting-children",
            Cleaned { .. } => "cleaned",
            Debounced { .. } => "debounced",
            Other { event, .. } => event,
        }
    }

    /// The job the event is about, if any (for a raw event, its `jobId` field).
    pub fn job_id(&self) -> Option<&str> {
        use QueueEvent::*;
        match self {
            Added { job_id, .. }
            | Waiting { job_id, .. }
            | Active { job_id, .. }
            | Progress { job_id, .. }
            | Completed { job_id, .. }
            | Failed { job_id, .. }
            | Delayed { job_id, .. }
            | Stalled { job_id, .. }
            | Removed { job_id, .. }
            | Duplicated { job_id, .. }
            | Deduplicated { job_id, .. }
            | RetriesExhausted { job_id, .. }
            | WaitingChildren { job_id, .. }
            | Debounced { job_id, .. } => Some(job_id),
            Drained { .. } | Paused { .. } | Resumed { .. } | Cleaned { .. } => None,
            Other { fields, .. } => fields.get("jobId").map(String::as_str),
        }
    }

    /// Decodes one stream entry. Never fails (see the module docs).
    pub(crate) fn decode(id: String, mut fields: HashMap<String, String>) -> QueueEvent {
        let event = fields.remove("event").unwrap_or_default();
        match typed(&id, &event, &fields) {
            Some(e) => e,
            None => QueueEvent::Other { id, event, fields },
        }
    }
}

/// One line per event, as a log would show it: `job 3 completed: {"ok":true}`.
impl std::fmt::Display for QueueEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use QueueEvent::*;
        match self {
            Added { job_id, name, .. } => write!(f, "job {job_id} added ({name})"),
            Waiting { job_id, prev: Some(p), .. } => write!(f, "job {job_id} waiting (was {p})"),
            Waiting { job_id, .. } => write!(f, "job {job_id} waiting"),
            Active { job_id, .. } => write!(f, "job {job_id} active"),
            Progress { job_id, data, .. } => write!(f, "job {job_id} progress: {data}"),
            Completed { job_id, returnvalue, .. } => write!(f, "job {job_id} completed: {returnvalue}"),
            Failed { job_id, failed_reason, .. } => write!(f, "job {job_id} failed: {failed_reason}"),
            Delayed { job_id, delay, .. } => write!(f, "job {job_id} delayed until {delay} ms"),
            Stalled { job_id, .. } => write!(f, "job {job_id} stalled"),
            Removed { job_id, .. } => write!(f, "job {job_id} removed"),
            Drained { .. } => f.write_str("queue drained"),
            Paused { .. } => f.write_str("queue paused"),
            Resumed { .. } => f.write_str("queue resumed"),
            Duplicated { job_id, .. } => write!(f, "job {job_id} duplicated"),
            Deduplicated { job_id, deduplication_id, deduplicated_job_id, .. } => {
                write!(f, "job {deduplicated_job_id} deduplicated into {job_id} ({deduplication_id})")
            }
            RetriesExhausted { job_id, attempts_made, .. } => {
                write!(f, "job {job_id} exhausted its retries after {attempts_made} attempts")
            }
            WaitingChildren { job_id, .. } => write!(f, "job {job_id} waiting for its children"),
            Cleaned { count, .. } => write!(f, "{count} jobs cleaned"),
            Debounced { job_id, debounce_id, .. } => write!(f, "job {job_id} debounced ({debounce_id})"),
            Other { event, fields, .. } => {
                write!(f, "{event}")?;
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort();
                for k in keys {
                    write!(f, " {k}={}", fields[k])?;
                }
                Ok(())
            }
        }
    }
}

/// Node reads `delay` with `Number()`: accept an integer or a finite non-negative float.
fn number(s: &str) -> Option<u64> {
    let t = s.trim();
    t.parse::<u64>().ok().or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
}

fn typed(id: &str, event: &str, f: &HashMap<String, String>) -> Option<QueueEvent> {
    let id = id.to_owned();
    let s = |k: &str| f.get(k).cloned();
    let job = || s("jobId");
    Some(match event {
        "added" => QueueEvent::Added { id, job_id: job()?, name: s("name").unwrap_or_default() },
        "waiting" => QueueEvent::Waiting { id, job_id: job()?, prev: s("prev") },
        "active" => QueueEvent::Active { id, job_id: job()?, prev: s("prev") },
        "progress" => QueueEvent::Progress { id, job_id: job()?, data: serde_json::from_str(f.get("data")?).ok()? },
        "completed" => QueueEvent::Completed {
            id,
            job_id: job()?,
            returnvalue: serde_json::from_str(f.get("returnvalue")?).ok()?,
            prev: s("prev"),
        },
        "failed" => QueueEvent::Failed {
            id,
            job_id: job()?,
            failed_reason: s("failedReason").unwrap_or_default(),
            prev: s("prev"),
        },
        "delayed" => QueueEvent::Delayed { id, job_id: job()?, delay: number(f.get("delay")?)? },
        "stalled" => QueueEvent::Stalled { id, job_id: job()? },
        "removed" => QueueEvent::Removed { id, job_id: job()?, prev: s("prev") },
        "drained" => QueueEvent::Drained { id },
        "paused" => QueueEvent::Paused { id },
        "resumed" => QueueEvent::Resumed { id },
        "duplicated" => QueueEvent::Duplicated { id, job_id: job()? },
        "deduplicated" => QueueEvent::Deduplicated {
            id,
            job_id: job()?,
            deduplication_id: s("deduplicationId")?,
            deduplicated_job_id: s("deduplicatedJobId")?,
        },
        "retries-exhausted" => {
            QueueEvent::RetriesExhausted { id, job_id: job()?, attempts_made: number(f.get("attemptsMade")?)? }
        }
        "waiting-children" => QueueEvent::WaitingChildren { id, job_id: job()?, prev: s("prev") },
        "cleaned" => QueueEvent::Cleaned { id, count: number(f.get("count")?)? },
        "debounced" => QueueEvent::Debounced { id, job_id: job()?, debounce_id: s("debounceId")? },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(pairs: &[(&str, &str)]) -> QueueEvent {
        let m = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        QueueEvent::decode("1-0".into(), m)
    }

    #[test]
    fn typed_and_raw() {
        assert_eq!(
            ev(&[("event", "completed"), ("jobId", "7"), ("returnvalue", "{\"a\":1}")]),
            QueueEvent::Completed { id: "1-0".into(), job_id: "7".into(), returnvalue: json!({"a": 1}), prev: None }
        );
        assert_eq!(
            ev(&[("event", "delayed"), ("jobId", "7"), ("delay", "1.7e12")]),
            QueueEvent::Delayed { id: "1-0".into(), job_id: "7".into(), delay: 1_700_000_000_000 }
        );
        let bad = ev(&[("event", "progress"), ("jobId", "7"), ("data", "{nope")]);
        assert!(matches!(&bad, QueueEvent::Other { event, fields, .. }
            if event == "progress" && fields["data"] == "{nope"));
        assert_eq!(bad.job_id(), Some("7"));
        assert_eq!(bad.name(), "progress");
        let missing = ev(&[("event", "stalled")]);
        assert!(matches!(missing, QueueEvent::Other { .. }));
        let custom = ev(&[("event", "my-event"), ("x", "1")]);
        assert_eq!(custom.name(), "my-event");
        assert_eq!(custom.job_id(), None);
    }
}
