//! Scripts of the processing side: fetch, finish, delay, retry, push-back, locks, stalled check.

use std::collections::HashMap;

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, RedisResult, Value};

use super::{msgpack, script_def, ScriptDef};

script_def!(MOVE_TO_ACTIVE, "moveToActive-1");
script_def!(MOVE_TO_FINISHED, "moveToFinished-1");
script_def!(FINISH_MANY, "finishMany-1");
script_def!(MOVE_TO_DELAYED, "moveToDelayed-1");
script_def!(RETRY_JOB, "retryJob-1");
script_def!(MOVE_JOB_FROM_ACTIVE_TO_WAIT, "moveJobFromActiveToWait-1");
script_def!(MOVE_TO_WAITING_CHILDREN, "moveToWaitingChildren-1");
script_def!(EXTEND_LOCKS, "extendLocks-1");
script_def!(MOVE_STALLED_JOBS_TO_WAIT, "moveStalledJobsToWait-1");

/// Every script of this module.
pub(crate) static SCRIPTS: &[&ScriptDef] = &[
    &MOVE_TO_ACTIVE,
    &MOVE_TO_FINISHED,
    &FINISH_MANY,
    &MOVE_TO_DELAYED,
    &RETRY_JOB,
    &MOVE_JOB_FROM_ACTIVE_TO_WAIT,
    &MOVE_TO_WAITING_CHILDREN,
    &EXTEND_LOCKS,
    &MOVE_STALLED_JOBS_TO_WAIT,
];

/// What a worker sends with every fetch (and every finish that may fetch the next job).
#[derive(Debug, Clone)]
pub(crate) struct FetchOpts<'a> {
    /// The client's clock (ms); 0: the script reads the server's (for a take sent before it runs).
    pub(crate) now: u64,
    pub(crate) token: &'a str,
    pub(crate) lock_duration: u64,
    /// The worker's rate limiter `(max, duration ms)`.
    pub(crate) limiter: Option<(u64, u64)>,
    pub(crate) name: &'a str,
}

impl FetchOpts<'_> {
    fn push(&self, inv: &mut super::Invocation) {
        if self.now == 0 {
            inv.arg("");
        } else {
            inv.arg(self.now);
        }
        inv.arg(self.token).arg(self.lock_duration);
        match self.limiter {
            Some((max, duration)) => inv.arg(max).arg(duration),
            None => inv.arg("").arg(""),
        };
        inv.arg(self.name);
    }
}

/// The answer of a fetch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FetchReply {
    /// A job, now active and locked.
    Job { id: String, hash: HashMap<String, String> },
    /// A job, now active and locked, whose hash cannot even be read as text (a field that is
    /// not UTF-8, written by another client): to be failed at pickup like any corrupt job,
    /// without failing the other jobs of its call.
    Unreadable { id: String, message: String },
    /// The rate limiter is exhausted for this many ms.
    RateLimited(u64),
    /// Nothing to do; the next delayed job is due at this ms (0: none). `blocked` is not
    /// distinguished from "empty": both mean "wait for the marker".
    Empty { delay_until: u64 },
}

/// A taken job's flat hash as text, or why it is not.
fn taken_job(id: String, flat: Vec<Vec<u8>>) -> FetchReply {
    let mut text = Vec::with_capacity(flat.len());
    for (i, bytes) in flat.into_iter().enumerate() {
        match String::from_utf8(bytes) {
            Ok(s) => text.push(s),
            Err(e) => {
                let what = if i % 2 == 0 { "a field name" } else { "the value of" };
                let field = if i % 2 == 0 { String::new() } else { format!(" `{}`", text[i - 1]) };
                let message = format!("{what}{field} is not UTF-8 ({e})");
                return FetchReply::Unreadable { id, message };
            }
        }
    }
    FetchReply::Job { id, hash: crate::job::pairs_to_map(text) }
}

fn decode_fetch(v: Vec<Value>) -> RedisResult<FetchReply> {
    let mut it = v.into_iter();
    let (hash, id, ttl, delay) = (it.next(), it.next(), it.next(), it.next());
    if let (Some(Value::Array(flat)), Some(id)) = (hash, id) {
        let id = String::from_redis_value(id)?;
        let flat: Vec<Vec<u8>> = flat.into_iter().map(Vec::<u8>::from_redis_value).collect::<Result<_, _>>()?;
        return Ok(taken_job(id, flat));
    }
    let num = |v: Option<Value>| -> RedisResult<i64> { Ok(v.map(i64::from_redis_value).transpose()?.unwrap_or(0)) };
    let ttl = num(ttl)?;
    if ttl > 0 {
        return Ok(FetchReply::RateLimited(ttl as u64));
    }
    Ok(FetchReply::Empty { delay_until: num(delay)?.max(0) as u64 })
}

/// The answer of a finish, delay or retry that may have fetched the next job.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FinishReply {
    /// A negative script code (-1 .. -9), or 0 for done.
    Code(i64),
    /// Done, and this is what the fetch-next found.
    Next(FetchReply),
}

fn decode_finish(v: Value) -> RedisResult<FinishReply> {
    match v {
        Value::Array(a) => Ok(FinishReply::Next(decode_fetch(a)?)),
        other => Ok(FinishReply::Code(i64::from_redis_value(other)?)),
    }
}

fn move_to_active_call(base: &str, f: &FetchOpts<'_>) -> super::Invocation {
    let mut inv = MOVE_TO_ACTIVE.invocation();
    inv.key(base);
    f.push(&mut inv);
    inv
}

/// moveToActive as a command to pipeline (FCALL: only where scripts run as functions).
pub(crate) fn move_to_active_cmd(base: &str, f: &FetchOpts<'_>) -> redis::Cmd {
    move_to_active_call(base, f).fcall()
}

/// A moveToActive reply received in a pipeline.
pub(crate) fn decode_fetch_value(v: Value) -> RedisResult<FetchReply> {
    decode_fetch(Vec::<Value>::from_redis_value(v)?)
}

pub(crate) async fn move_to_active<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    f: &FetchOpts<'_>,
) -> RedisResult<FetchReply> {
    decode_fetch(move_to_active_call(base, f).invoke_async(conn).await?)
}

/// Arguments of moveToFinished besides the fetch options.
#[derive(Debug, Clone)]
pub(crate) struct FinishArgs<'a> {
    pub(crate) id: &'a str,
    /// `completed` or `failed`.
    pub(crate) target: &'a str,
    /// Return value JSON or failed reason.
    pub(crate) value: &'a str,
    pub(crate) fetch_next: bool,
    /// `(count, age seconds, limit)` as `KeepJobs::as_triple` gives it.
    pub(crate) keep: (i64, Option<u64>, Option<u64>),
    pub(crate) attempts: u32,
    pub(crate) metrics_max_data_points: Option<u64>,
    pub(crate) stacktrace: Option<&'a str>,
}

fn opt_arg(v: Option<u64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

pub(crate) async fn move_to_finished<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    a: &FinishArgs<'_>,
    f: &FetchOpts<'_>,
) -> RedisResult<FinishReply> {
    let mut inv = MOVE_TO_FINISHED.invocation();
    inv.key(base)
        .arg(a.id)
        .arg(a.target)
        .arg(a.value)
        .arg(if a.fetch_next { "1" } else { "0" })
        .arg(a.keep.0)
        .arg(opt_arg(a.keep.1))
        .arg(opt_arg(a.keep.2))
        .arg(a.attempts)
        .arg(opt_arg(a.metrics_max_data_points))
        .arg(a.stacktrace.unwrap_or(""));
    f.push(&mut inv);
    decode_finish(inv.invoke_async(conn).await?)
}

/// What finishMany answered: a code per finished job, the jobs taken (`id`, hash, lock token)
/// and the rate-limit ttl that stopped the takes (0 for none). (The next delayed due time it
/// also returns is not needed: the fetcher's own wait finds it.)
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ManyReply {
    pub(crate) codes: Vec<i64>,
    /// Each job taken (a `Job` or `Unreadable` reply) and its lock token.
    pub(crate) taken: Vec<(FetchReply, String)>,
    pub(crate) ttl: u64,
    /// The next delayed job's due time in ms when the takes ran dry (0: none).
    pub(crate) due: u64,
}

/// What the completions of a batch mostly share, sent once per call: retention `(count, age
/// seconds, limit)` as `KeepJobs::as_triple` gives it, attempts, metrics max data points.
pub(crate) type Profile = ((i64, Option<u64>, Option<u64>), u32, Option<u64>);

/// One completion of a batch.
#[derive(Debug, Clone)]
pub(crate) struct ManyJob<'a> {
    pub(crate) id: &'a str,
    /// The return value JSON.
    pub(crate) value: &'a str,
    pub(crate) token: &'a str,
    /// `atm + 1` when the job has no parent link nor deduplication id, else "".
    pub(crate) atm_next: &'a str,
    /// Its profile's index in `profiles`.
    pub(crate) profile: usize,
    /// When it finished: ms since the epoch with a sub-ms fraction (`<ms>.<µs>`).
    pub(crate) finished_at: &'a str,
}

/// Completes a batch of jobs (each with its own lock token) and takes up to `take` next jobs,
/// locked under `<f.token>:<i>`, in one call.
pub(crate) async fn finish_many<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    profiles: &[Profile],
    jobs: &[ManyJob<'_>],
    take: usize,
    f: &FetchOpts<'_>,
) -> RedisResult<ManyReply> {
    let mut inv = FINISH_MANY.invocation();
    inv.key(base).arg(jobs.len()).arg(take);
    f.push(&mut inv);
    inv.arg(profiles.len());
    for (keep, attempts, metrics) in profiles {
        inv.arg(keep.0).arg(opt_arg(keep.1)).arg(opt_arg(keep.2)).arg(*attempts).arg(opt_arg(*metrics));
    }
    for j in jobs {
        inv.arg(j.id).arg(j.value).arg(j.token).arg(j.atm_next).arg(j.profile + 1).arg(j.finished_at);
    }
    let packed: Vec<u8> = inv.invoke_async(conn).await?;
    let bad = |why: String| redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "finishMany", why));
    let reply = match msgpack::decode(&packed).map_err(|e| bad(e.to_string()))? {
        msgpack::Value::Array(items) => items,
        other => return Err(bad(format!("not an array: {other:?}"))),
    };
    let mut it = reply.into_iter();
    let mut next = |what: &str| it.next().ok_or_else(|| bad(format!("{what} missing")));
    let ttl = next("ttl")?.as_i64().ok_or_else(|| bad("ttl not an integer".into()))?;
    let due = next("due")?.as_i64().unwrap_or(0).max(0) as u64;
    let codes = match next("codes")? {
        msgpack::Value::Array(c) => {
            c.iter().map(|v| v.as_i64().ok_or_else(|| bad(format!("code {v:?}")))).collect::<RedisResult<Vec<i64>>>()?
        }
        other => return Err(bad(format!("codes: {other:?}"))),
    };
    let mut taken = Vec::new();
    while let Some(hash) = it.next() {
        let msgpack::Value::Array(flat) = hash else { return Err(bad("a taken job's hash is not an array".into())) };
        let flat: Vec<Vec<u8>> = flat
            .into_iter()
            .map(|v| match v {
                msgpack::Value::Bytes(b) => Ok(b),
                other => Err(bad(format!("a job hash field: {other:?}"))),
            })
            .collect::<RedisResult<_>>()?;
        let id = it.next().and_then(msgpack::Value::into_string).ok_or_else(|| bad("a taken job's id".into()))?;
        taken.push((taken_job(id, flat), format!("{}:{}", f.token, taken.len() + 1)));
    }
    Ok(ManyReply { codes, taken, ttl: ttl.max(0) as u64, due })
}

/// Arguments of moveToDelayed besides the fetch options.
#[derive(Debug, Clone)]
pub(crate) struct DelayArgs<'a> {
    pub(crate) id: &'a str,
    pub(crate) delay: u64,
    pub(crate) skip_attempt: bool,
    pub(crate) failed_reason: Option<&'a str>,
    pub(crate) stacktrace: Option<&'a str>,
    pub(crate) fetch_next: bool,
}

pub(crate) async fn move_to_delayed<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    a: &DelayArgs<'_>,
    f: &FetchOpts<'_>,
) -> RedisResult<FinishReply> {
    let mut inv = MOVE_TO_DELAYED.invocation();
    inv.key(base)
        .arg(a.id)
        .arg(a.delay)
        .arg(if a.skip_attempt { "1" } else { "0" })
        .arg(a.failed_reason.unwrap_or(""))
        .arg(a.stacktrace.unwrap_or(""))
        .arg(if a.fetch_next { "1" } else { "0" });
    f.push(&mut inv);
    decode_finish(inv.invoke_async(conn).await?)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn retry_job<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    now: u64,
    token: &str,
    lifo: bool,
    failed_reason: &str,
    stacktrace: &str,
) -> RedisResult<i64> {
    RETRY_JOB
        .invocation()
        .key(base)
        .arg(id)
        .arg(now)
        .arg(token)
        .arg(if lifo { "RPUSH" } else { "LPUSH" })
        .arg(failed_reason)
        .arg(stacktrace)
        .invoke_async(conn)
        .await
}

pub(crate) async fn move_job_from_active_to_wait<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    token: &str,
) -> RedisResult<i64> {
    MOVE_JOB_FROM_ACTIVE_TO_WAIT.invocation().key(base).arg(id).arg(token).invoke_async(conn).await
}

/// 0 moved to waiting-children, 1 nothing pending, or a negative code.
pub(crate) async fn move_to_waiting_children<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    token: &str,
    now: u64,
    child_key: Option<&str>,
) -> RedisResult<i64> {
    MOVE_TO_WAITING_CHILDREN
        .invocation()
        .key(base)
        .arg(id)
        .arg(token)
        .arg(now)
        .arg(child_key.unwrap_or(""))
        .invoke_async(conn)
        .await
}

/// Renews many locks; returns the ids whose lock was not ours any more.
pub(crate) async fn extend_locks<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    duration: u64,
    jobs: &[(String, String)],
) -> RedisResult<Vec<String>> {
    let mut inv = EXTEND_LOCKS.invocation();
    inv.key(base).arg(duration);
    for (id, token) in jobs {
        inv.arg(id).arg(token);
    }
    inv.invoke_async(conn).await
}

pub(crate) async fn move_stalled_jobs_to_wait<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    max_stalled_count: u64,
    now: u64,
    stalled_interval: u64,
) -> RedisResult<Vec<String>> {
    MOVE_STALLED_JOBS_TO_WAIT
        .invocation()
        .key(base)
        .arg(max_stalled_count)
        .arg(now)
        .arg(stalled_interval)
        .invoke_async(conn)
        .await
}
