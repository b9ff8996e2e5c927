//! Queue administration and job operation scripts.

use redis::aio::ConnectionLike;
use redis::RedisResult;

use super::{script_def, ScriptDef};

script_def!(PAUSE, "pause-1");
script_def!(DRAIN, "drain-1");
script_def!(OBLITERATE, "obliterate-1");
script_def!(REMOVE_JOB, "removeJob-1");
script_def!(CLEAN_JOBS_IN_SET, "cleanJobsInSet-1");
script_def!(GET_STATE, "getState-1");
script_def!(PROMOTE, "promote-1");
script_def!(MOVE_JOBS_TO_WAIT, "moveJobsToWait-1");
script_def!(REPROCESS_JOB, "reprocessJob-1");
script_def!(CHANGE_PRIORITY, "changePriority-1");
script_def!(CHANGE_DELAY, "changeDelay-1");
script_def!(UPDATE_JOB, "updateJob-1");
script_def!(GET_RATE_LIMIT_TTL, "getRateLimitTtl-1");
script_def!(REMOVE_DEDUPLICATION_KEY, "removeDeduplicationKey-1");

/// Every script of this module.
pub(crate) static SCRIPTS: &[&ScriptDef] = &[
    &PAUSE,
    &DRAIN,
    &OBLITERATE,
    &REMOVE_JOB,
    &CLEAN_JOBS_IN_SET,
    &GET_STATE,
    &PROMOTE,
    &MOVE_JOBS_TO_WAIT,
    &REPROCESS_JOB,
    &CHANGE_PRIORITY,
    &CHANGE_DELAY,
    &UPDATE_JOB,
    &GET_RATE_LIMIT_TTL,
    &REMOVE_DEDUPLICATION_KEY,
];

/// Pause (`pause = true`) or one resume step; returns the legacy entries left to move.
pub(crate) async fn pause<C: ConnectionLike>(conn: &mut C, base: &str, pause: bool, emit: bool) -> RedisResult<i64> {
    PAUSE
        .invocation()
        .key(base)
        .arg(if pause { "paused" } else { "resumed" })
        .arg(if emit { "1" } else { "0" })
        .invoke_async(conn)
        .await
}

pub(crate) async fn drain<C: ConnectionLike>(conn: &mut C, base: &str, delayed: bool) -> RedisResult<i64> {
    DRAIN.invocation().key(base).arg(if delayed { "1" } else { "0" }).invoke_async(conn).await
}

pub(crate) async fn obliterate<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    batch: u64,
    force: bool,
) -> RedisResult<i64> {
    OBLITERATE.invocation().key(base).arg(batch).arg(if force { "force" } else { "" }).invoke_async(conn).await
}

pub(crate) async fn remove_job<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    children: bool,
) -> RedisResult<i64> {
    REMOVE_JOB.invocation().key(base).arg(id).arg(if children { "1" } else { "0" }).invoke_async(conn).await
}

pub(crate) async fn clean<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    state: &str,
    cutoff: u64,
    limit: u64,
) -> RedisResult<Vec<String>> {
    CLEAN_JOBS_IN_SET.invocation().key(base).arg(state).arg(cutoff).arg(limit).invoke_async(conn).await
}

pub(crate) async fn get_state<C: ConnectionLike>(conn: &mut C, base: &str, id: &str) -> RedisResult<String> {
    GET_STATE.invocation().key(base).arg(id).invoke_async(conn).await
}

pub(crate) async fn promote<C: ConnectionLike>(conn: &mut C, base: &str, id: &str) -> RedisResult<i64> {
    PROMOTE.invocation().key(base).arg(id).invoke_async(conn).await
}

pub(crate) async fn move_jobs_to_wait<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    state: &str,
    count: u64,
    up_to: &str,
) -> RedisResult<i64> {
    MOVE_JOBS_TO_WAIT.invocation().key(base).arg(state).arg(count).arg(up_to).invoke_async(conn).await
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn reprocess_job<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    state: &str,
    reset_made: bool,
    reset_started: bool,
    lifo: bool,
) -> RedisResult<i64> {
    let flag = |b: bool| if b { "1" } else { "0" };
    REPROCESS_JOB
        .invocation()
        .key(base)
        .arg(id)
        .arg(state)
        .arg(flag(reset_made))
        .arg(flag(reset_started))
        .arg(flag(lifo))
        .invoke_async(conn)
        .await
}

pub(crate) async fn change_priority<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    priority: u32,
    lifo: bool,
) -> RedisResult<i64> {
    CHANGE_PRIORITY
        .invocation()
        .key(base)
        .arg(id)
        .arg(priority)
        .arg(if lifo { "1" } else { "0" })
        .invoke_async(conn)
        .await
}

pub(crate) async fn change_delay<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    delay: u64,
    now: u64,
) -> RedisResult<i64> {
    CHANGE_DELAY.invocation().key(base).arg(id).arg(delay).arg(now).invoke_async(conn).await
}

/// `what` is `progress`, `data` or `log`; `keep` only matters for logs.
pub(crate) async fn update_job<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    id: &str,
    what: &str,
    value: &str,
    keep: Option<u64>,
) -> RedisResult<i64> {
    UPDATE_JOB
        .invocation()
        .key(base)
        .arg(id)
        .arg(what)
        .arg(value)
        .arg(keep.map(|k| k.to_string()).unwrap_or_default())
        .invoke_async(conn)
        .await
}

pub(crate) async fn get_rate_limit_ttl<C: ConnectionLike>(conn: &mut C, base: &str, max_jobs: u64) -> RedisResult<i64> {
    GET_RATE_LIMIT_TTL.invocation().key(base).arg(max_jobs).invoke_async(conn).await
}

pub(crate) async fn remove_deduplication_key<C: ConnectionLike>(
    conn: &mut C,
    base: &str,
    dedup: &str,
    job_id: &str,
) -> RedisResult<i64> {
    REMOVE_DEDUPLICATION_KEY.invocation().key(base).arg(dedup).arg(job_id).invoke_async(conn).await
}
