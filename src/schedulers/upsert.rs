//! `upsert_job_scheduler`: validate, compute a pattern's first slot, and write the scheduler
//! with its first (or replaced) iteration in one script call.

use serde_json::{json, Map, Value};

use super::options::{JobTemplate, RepeatOptions};
use crate::clock::now_ms;
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::job::{epoch_ms, Job, JobOptions};
use crate::scripts::AddJobScheduler;

/// The `repeat` object every iteration's options carry (BullMQ's shape: `immediately` is never
/// stored; `count` is the 1-based iteration number).
fn repeat_json(repeat: &RepeatOptions, count: u64) -> Value {
    let mut r = Map::new();
    if let Some(p) = &repeat.pattern {
        r.insert("pattern".into(), p.clone().into());
    }
    if let Some(e) = repeat.every_ms() {
        r.insert("every".into(), e.into());
    }
    if let Some(tz) = &repeat.tz {
        r.insert("tz".into(), tz.clone().into());
    }
    if let Some(l) = repeat.limit {
        r.insert("limit".into(), l.into());
    }
    if let Some(s) = repeat.start_date {
        r.insert("startDate".into(), epoch_ms(s).into());
    }
    if let Some(e) = repeat.end_date {
        r.insert("endDate".into(), epoch_ms(e).into());
    }
    if let Some(o) = repeat.offset_ms() {
        r.insert("offset".into(), o.into());
    }
    r.insert("count".into(), count.into());
    Value::Object(r)
}

/// Stored options without `attempts` when none was set: BullMQ's scheduler writes only the
/// options given, and Node reads a missing `attempts` as 0 anyway.
fn stored_without_default_attempts(opts: &JobOptions) -> Map<String, Value> {
    let mut m = opts.to_stored_map();
    if opts.attempts.is_none() {
        m.remove("attempts");
    }
    m
}

/// Creates or updates scheduler `id`. Returns its pending iteration as written, and whether
/// the upsert changed nothing (then the pending iteration is the one already stored, which the
/// caller reads back).
pub(crate) async fn upsert(
    client: &Client,
    defaults: &JobOptions,
    id: &str,
    repeat: &RepeatOptions,
    template: &JobTemplate,
) -> Result<(Job, bool)> {
    if id.is_empty() {
        return Err(Error::invalid("job_scheduler_id", "must not be empty"));
    }
    let now = now_ms();
    let cron = repeat.validate(now)?;
    template.validate()?;
    let opts = template.opts.merged_over(defaults);
    opts.validate()?;
    let name = template.name.clone().unwrap_or_else(|| id.to_owned());
    let data = if template.data.is_null() { Value::Object(Map::new()) } else { template.data.clone() };
    let data_json =
        serde_json::to_string(&data).map_err(|source| Error::Serialize { what: "data", job_id: None, source })?;

    let start = repeat.start_date.map(epoch_ms);
    let end = repeat.end_date.map(epoch_ms);
    let next_ms = match &cron {
        None => None,
        Some(_) if repeat.immediately => Some(now),
        Some(cron) => {
            let from = start.map_or(now, |s| s.max(now));
            match cron.next_within(from as i64, start.map(|s| s as i64), end.map(|e| e as i64)) {
                Some(next) => Some((next.max(0) as u64).max(now)),
                None => {
                    return Err(Error::invalid(
                        "repeat.pattern",
                        "the pattern has no occurrence between now (or start_date) and end_date",
                    ))
                }
            }
        }
    };

    let mut fields = Map::new();
    fields.insert("name".into(), name.clone().into());
    for (k, v) in [
        ("every", repeat.every_ms().map(Value::from)),
        ("pattern", repeat.pattern.clone().map(Value::from)),
        ("tz", repeat.tz.clone().map(Value::from)),
        ("startDate", start.map(Value::from)),
        ("endDate", end.map(Value::from)),
        ("limit", repeat.limit.map(Value::from)),
        ("offset", repeat.offset_ms().map(Value::from)),
    ] {
        if let Some(v) = v {
            fields.insert(k.into(), v);
        }
    }

    let template_opts = stored_without_default_attempts(&opts);
    let mut iteration = template_opts.clone();
    iteration.insert("repeat".into(), repeat_json(repeat, 1));
    iteration.insert("timestamp".into(), now.into());
    iteration.insert("repeatJobKey".into(), id.into());
    if let Some(next) = next_ms {
        iteration.insert("prevMillis".into(), next.into());
    }
    // Placeholders: the script sets both once it knows the slot.
    iteration.insert("jobId".into(), json!(""));
    iteration.insert("delay".into(), json!(0));
    let template_json = Value::Object(template_opts).to_string();
    let iteration_json = Value::Object(iteration.clone()).to_string();

    let up = AddJobScheduler {
        id,
        next_ms,
        now,
        fields: &Value::Object(fields).to_string(),
        data: &data_json,
        template_opts: &template_json,
        iteration_opts: &iteration_json,
    }
    .run(client)
    .await?;

    iteration.insert("jobId".into(), up.job_id.clone().into());
    iteration.insert("delay".into(), up.delay_ms.into());
    let opts = JobOptions::from_stored(&Value::Object(iteration))
        .map_err(|m| Error::unexpected("addJobScheduler", Some(&up.job_id), m))?;
    let mut job = Job::created(client.keys(), up.job_id, name, data, opts, now);
    job.repeat_job_key = Some(id.to_owned());
    Ok((job, up.unchanged))
}
