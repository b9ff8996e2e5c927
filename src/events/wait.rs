//! [`QueueEvents::wait_until_finished`]: the result of a job, as its events say.

use std::time::Duration;

use serde_json::Value;

use super::event::QueueEvent;
use super::queue_events::QueueEvents;
use crate::error::{Error, Result};
use crate::job::Job;

/// What Redis says about a job at one instant.
enum Finished {
    Completed(Value),
    Failed(String),
    /// Neither finished nor existing: removed (or never added).
    Missing,
    No,
}

impl QueueEvents {
    /// Waits until `job` completes (returning its return value) or fails (returning
    /// [`Error::JobFailed`] with the failed reason), at most `timeout`
    /// ([`Error::Timeout`] then).
    ///
    /// It is correct whenever the job finishes, even before this call: it subscribes first and
    /// only then checks, atomically, whether the job is already in `completed` or `failed`. A
    /// finish after that check is an event the subscription is bound to see, because this
    /// `QueueEvents` was running before the subscription started. The check and the
    /// subscription race: whichever answers first decides, so a job that finishes within a
    /// round trip of its add does not also wait for the check's reply. This `QueueEvents` must
    /// watch the job's queue and be running (Node's `job.waitUntilFinished(queueEvents)`).
    ///
    /// A job whose hash no longer exists and that is in neither set is
    /// [`Error::JobNotFound`] at once, as in Node. So a job added with `remove_on_complete:
    /// true` that finished just before this call reports not found rather than its value,
    /// unless its event had not reached `events` yet.
    pub async fn wait_until_finished(&self, job: &Job, timeout: Duration) -> Result<Value> {
        let events = self;
        if events.keys() != job.queue_keys().as_ref() {
            return Err(Error::invalid(
                "events",
                format!(
                    "QueueEvents watches {}, the job belongs to {}",
                    events.keys().qualified(),
                    job.queue_qualified_name()
                ),
            ));
        }
        if events.is_closed() {
            return Err(Error::Closed("queue events"));
        }
        if !events.is_running() {
            // Not reading yet: a finish before its later `run` (from `$`) would never be seen.
            return Err(Error::invalid("events", "not running; call run() first"));
        }
        let mut sub = events.subscribe();
        let outcome = tokio::time::timeout(timeout, async {
            // A finish seen as an event needs no answer from the check (see above).
            let check = events.finished_state(&job.id);
            tokio::pin!(check);
            let mut checked = false;
            loop {
                tokio::select! {
                    biased;
                    e = sub.recv() => match e {
                        Some(e) => {
                            if let Some(result) = result_in(&job.id, e) {
                                return result;
                            }
                        }
                        None => return Err(Error::Closed("queue events")),
                    },
                    state = &mut check, if !checked => {
                        checked = true;
                        match state? {
                            Finished::Completed(v) => return Ok(v),
                            Finished::Failed(reason) => return Err(failed(&job.id, reason)),
                            Finished::Missing => {
                                return Err(Error::JobNotFound {
                                    operation: "waitUntilFinished",
                                    job_id: job.id.clone(),
                                })
                            }
                            Finished::No => {}
                        }
                    }
                }
            }
        })
        .await;
        outcome.unwrap_or_else(|_| {
            Err(Error::Timeout { operation: "waitUntilFinished", job_id: Some(job.id.clone()), after: timeout })
        })
    }

    /// One MULTI: membership in `completed` and `failed`, the two result fields and whether
    /// the hash exists, so the answer describes a single instant.
    async fn finished_state(&self, id: &str) -> Result<Finished> {
        let keys = self.keys();
        let mut conn = self.client().await?.conn();
        type Reply = (Option<f64>, Option<f64>, Vec<Option<String>>, bool);
        let (done, failed, fields, exists): Reply = redis::pipe()
            .atomic()
            .cmd("ZSCORE")
            .arg(keys.key("completed"))
            .arg(id)
            .cmd("ZSCORE")
            .arg(keys.key("failed"))
            .arg(id)
            .cmd("HMGET")
            .arg(keys.job(id))
            .arg("returnvalue")
            .arg("failedReason")
            .cmd("EXISTS")
            .arg(keys.job(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("waitUntilFinished", Some(id), e))?;
        let mut fields = fields.into_iter();
        let (rv, reason) = (fields.next().flatten(), fields.next().flatten());
        Ok(if done.is_some() {
            // Decoded defensively, as Node reads returnvalue.
            let v = rv.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))).unwrap_or(Value::Null);
            Finished::Completed(v)
        } else if failed.is_some() {
            Finished::Failed(reason.unwrap_or_default())
        } else if !exists {
            Finished::Missing
        } else {
            Finished::No
        })
    }
}

/// The job's result if `e` is the completion or failure of job `id`.
fn result_in(id: &str, e: QueueEvent) -> Option<Result<Value>> {
    if e.job_id() != Some(id) {
        return None;
    }
    match e {
        QueueEvent::Completed { returnvalue, .. } => Some(Ok(returnvalue)),
        QueueEvent::Failed { failed_reason, .. } => Some(Err(failed(id, failed_reason))),
        // A return value that is not JSON (written by a foreign client): Node would only log;
        // hand it over as text rather than wait forever.
        QueueEvent::Other { event, mut fields, .. } if event == "completed" => {
            Some(Ok(Value::String(fields.remove("returnvalue").unwrap_or_default())))
        }
        QueueEvent::Other { event, mut fields, .. } if event == "failed" => {
            Some(Err(failed(id, fields.remove("failedReason").unwrap_or_default())))
        }
        _ => None,
    }
}

fn failed(id: &str, reason: String) -> Error {
    Error::JobFailed { job_id: id.to_owned(), reason }
}
