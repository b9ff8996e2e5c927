//! The worker's duty (PROTOCOL.md §15.5): when it takes an iteration of a job scheduler,
//! whoever created it, it produces the next one, as a BullMQ 6.7 worker does, so mixed fleets
//! keep every schedule alive. Only the scheduler's current iteration produces (the script
//! checks), so a re-run of an old iteration or a second worker's call adds nothing.

use serde_json::Value;

use super::cron::Cron;
use super::legacy::has_legacy_shape;
use crate::clock::now_ms;
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scripts::UpdateJobScheduler;

/// What taking an iteration produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextIteration {
    /// Not a scheduler iteration.
    NotScheduled,
    /// The next iteration's job id.
    Produced(String),
    /// Nothing to produce: the limit or end date is reached, the scheduler was removed, or this
    /// is not its current iteration.
    Ended,
}

fn corrupt(job: &Job, message: impl Into<String>) -> Error {
    Error::CorruptJob { job_id: job.id.clone(), field: "opts", message: message.into() }
}

fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Produces the iteration after `job` (taken, active) when it is a scheduler's. A permanent
/// error (a legacy 5.x repeatable job, options another client wrote that cannot be read) means
/// no next iteration; transient errors are the caller's to retry.
pub(crate) async fn produce_next(client: &Client, job: &Job) -> Result<NextIteration> {
    let Some(sid) = job.repeat_job_key.as_deref() else { return Ok(NextIteration::NotScheduled) };
    if has_legacy_shape(sid) {
        let ic: bool = redis::cmd("HEXISTS")
            .arg(client.keys().key(&format!("repeat:{sid}")))
            .arg("ic")
            .query_async(&mut client.conn())
            .await
            .map_err(|e| Error::redis("updateJobScheduler", Some(&job.id), e))?;
        if !ic {
            return Err(Error::CorruptJob {
                job_id: job.id.clone(),
                field: "rjk",
                message: format!(
                    "{sid:?} is a BullMQ 5 repeatable job, which BullMQ 6 and this crate do not iterate: \
                     migrate it to a job scheduler"
                ),
            });
        }
    }
    let mut opts = job.opts.to_stored_map();
    let Some(Value::Object(mut repeat)) = opts.remove("repeat") else {
        return Err(corrupt(job, "a scheduler iteration without `repeat` options"));
    };
    let count = as_u64(repeat.get("count")).unwrap_or(0) + 1;
    if as_u64(repeat.get("limit")).is_some_and(|limit| count > limit) {
        return Ok(NextIteration::Ended);
    }
    let now = now_ms();
    let end = as_u64(repeat.get("endDate"));
    if end.is_some_and(|end| now > end) {
        return Ok(NextIteration::Ended);
    }
    let base = now.max(as_u64(opts.get("prevMillis")).unwrap_or(0));
    let every = as_u64(repeat.get("every")).filter(|e| *e > 0);
    let next_ms = match (repeat.get("pattern").and_then(Value::as_str), every) {
        (Some(pattern), _) => {
            let tz = repeat.get("tz").and_then(Value::as_str);
            let cron = Cron::parse(pattern, tz).map_err(|m| corrupt(job, format!("repeat.pattern: {m}")))?;
            let start = as_u64(repeat.get("startDate"));
            let from = start.map_or(base, |s| s.max(base));
            let start = start.map(|s| s as i64);
            match cron.next_within(from as i64, start, end.map(|e| e as i64)) {
                Some(next) => Some((next.max(0) as u64).max(base)),
                // Past the end date: the schedule is over.
                None if end.is_some() && cron.next_within(from as i64, start, None).is_some() => {
                    return Ok(NextIteration::Ended)
                }
                // cron-parser finds no next occurrence either (an impossible date it accepts, or
                // its step limit around some DST changes), and BullMQ ends such a schedule
                // without a word: say so.
                None => {
                    return Err(Error::invalid(
                        "repeat.pattern",
                        format!(
                            "scheduler {sid:?}: {pattern:?} has no next occurrence after {from} ms; the schedule ends"
                        ),
                    ))
                }
            }
        }
        (None, Some(_)) => None,
        (None, None) => return Err(corrupt(job, "`repeat` has neither `pattern` nor `every`")),
    };

    // The next options: this iteration's, with BullMQ's per-iteration fields renewed.
    repeat.insert("count".into(), count.into());
    let keep_offset = every.is_some() && as_u64(repeat.get("offset")).is_some_and(|o| o > 0);
    if !keep_offset {
        repeat.remove("offset");
    }
    opts.insert("repeat".into(), Value::Object(repeat));
    let stamp = now_ms();
    opts.insert("timestamp".into(), stamp.into());
    match next_ms {
        Some(n) => opts.insert("prevMillis".into(), n.into()),
        None => opts.remove("prevMillis"),
    };
    opts.insert("repeatJobKey".into(), sid.into());
    let opts = Value::Object(opts).to_string();
    let produced =
        UpdateJobScheduler { id: sid, next_ms, now: stamp, producer: &job.id, opts: &opts }.run(client).await?;
    Ok(produced.map_or(NextIteration::Ended, NextIteration::Produced))
}
