//! Manual processing, finish side: completion, failure with retries and backoff, retention,
//! fetch-next, metrics, locks (PROTOCOL.md §12.3-12.8, §18, §19).

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bullmq::worker::{FailOutcome, GetNextJobOptions, MetricsOptions};
use bullmq::{Backoff, Deduplication, JobError, JobOptions, KeepJobs, WorkerOptions};
use common::*;
use serde_json::json;

#[tokio::test]
async fn completion_stores_result_and_emits_events() {
    let q = queue("mfin-done").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    let next = job.move_to_completed(json!({"ok": 1}), true).await.unwrap();
    assert!(next.is_none());
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["returnvalue"], r#"{"ok":1}"#);
    assert_eq!(h["atm"], "1");
    let finished: u64 = h["finishedOn"].parse().unwrap();
    let score: f64 = cmd(&["ZSCORE", &k(&q, "completed"), "1"]).await;
    assert_eq!(score as u64, finished);
    let lock: i64 = cmd(&["EXISTS", &k(&q, "1:lock"), &k(&q, "active")]).await;
    assert_eq!(lock, 0);
    let ev = events(&q).await;
    let c = ev.iter().find(|e| e.0 == "completed").unwrap();
    assert_eq!(c.1["returnvalue"], r#"{"ok":1}"#);
    assert_eq!(c.1["prev"], "active");
    assert_eq!(ev.last().unwrap().0, "drained");
    // A unit return value is stored as JSON null.
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    let job = w.get_next_job("t2", now_only()).await.unwrap().unwrap();
    job.move_to_completed((), false).await.unwrap();
    let rv: String = cmd(&["HGET", &k(&q, &job.id), "returnvalue"]).await;
    assert_eq!(rv, "null");
}

#[tokio::test]
async fn fetch_next_in_the_same_call_reuses_the_token() {
    let q = queue("mfin-next").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    let a = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    let b = a.move_to_completed("x", true).await.unwrap().expect("next job");
    assert_eq!(b.name, "b");
    assert_eq!(b.token(), "t");
    let lock: String = cmd(&["GET", &format!("{}:lock", k(&q, &b.id))]).await;
    assert_eq!(lock, "t");
    assert!(b.move_to_completed(1, true).await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_or_missing_lock_is_refused_with_nodes_messages() {
    let q = queue("mfin-lock").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    let job = w.get_next_job("mine", now_only()).await.unwrap().unwrap();
    // Another worker took the lock over: the job's own token no longer matches.
    cmd::<()>(&["SET", &k(&q, "1:lock"), "theirs"]).await;
    let err = job.move_to_completed(1, false).await.unwrap_err();
    assert_eq!(err.script_code(), Some(bullmq::ScriptErrorCode::JobLockMismatch));
    assert_eq!(err.to_string(), "Lock mismatch for job 1. Cmd moveToFinished from active");
    let lock: String = cmd(&["GET", &k(&q, "1:lock")]).await;
    assert_eq!(lock, "theirs", "the other lock is left alone");
    cmd::<()>(&["DEL", &k(&q, "1:lock")]).await;
    let err = job.move_to_completed(1, false).await.unwrap_err();
    assert_eq!(err.to_string(), "Missing lock for job 1. moveToFinished");
    assert!(err.is_lock_lost());
    let active: Vec<String> = cmd(&["LRANGE", &k(&q, "active"), "0", "-1"]).await;
    assert_eq!(active, vec!["1"], "nothing moved");
}

#[tokio::test]
async fn retention_true_count_and_age() {
    let q = queue("mfin-keep").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    let j = q.add("rm", json!({}), JobOptions::default().remove_on_complete(KeepJobs::Bool(true))).await.unwrap();
    let f = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    f.move_to_completed(1, false).await.unwrap();
    let n: i64 = cmd(&["EXISTS", &k(&q, &j.id), &k(&q, "completed")]).await;
    assert_eq!(n, 0, "removed at once");

    for i in 0..4 {
        q.add("keep2", json!({"i": i}), JobOptions::default().remove_on_complete(KeepJobs::Count(2))).await.unwrap();
        let f = w.get_next_job(&format!("c{i}"), now_only()).await.unwrap().unwrap();
        f.move_to_completed(i, false).await.unwrap();
    }
    let kept: Vec<String> = cmd(&["ZRANGE", &k(&q, "completed"), "0", "-1"]).await;
    assert_eq!(kept, vec!["4", "5"], "the newest two");
    let gone: i64 = cmd(&["EXISTS", &k(&q, "2"), &k(&q, "3")]).await;
    assert_eq!(gone, 0);

    // Age: an old completed job is trimmed by the next finish.
    cmd::<()>(&["ZADD", &k(&q, "completed"), "1000", "ancient"]).await;
    cmd::<()>(&["HSET", &k(&q, "ancient"), "name", "x"]).await;
    q.add(
        "age",
        json!({}),
        JobOptions::default().remove_on_complete(KeepJobs::Options {
            age: Some(Duration::from_secs(60)),
            count: None,
            limit: None,
        }),
    )
    .await
    .unwrap();
    let f = w.get_next_job("a", now_only()).await.unwrap().unwrap();
    f.move_to_completed(1, false).await.unwrap();
    let n: i64 = cmd(&["EXISTS", &k(&q, "ancient")]).await;
    assert_eq!(n, 0);
    let s: Option<f64> = cmd(&["ZSCORE", &k(&q, "completed"), "ancient"]).await;
    assert!(s.is_none());
}

#[tokio::test]
async fn failure_with_attempts_and_backoff_then_final() {
    let q = queue("mfin-retry").await;
    let opts = JobOptions::default()
        .attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(200)))
        .stack_trace_limit(2);
    q.add("r", json!({}), opts).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;

    let job = w.get_next_job("t1", now_only()).await.unwrap().unwrap();
    let before = now();
    match job.move_to_failed(&JobError::new("boom 1").with_stack("stack 1"), false).await.unwrap() {
        FailOutcome::Retried { delay } => assert_eq!(delay, Duration::from_millis(200)),
        other => panic!("{other:?}"),
    }
    let score: f64 = cmd(&["ZSCORE", &k(&q, "delayed"), "1"]).await;
    let due = score as u64 / 4096;
    assert!(due >= before + 200 && due <= now() + 200);
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["atm"], "1");
    assert_eq!(h["failedReason"], "boom 1");
    assert_eq!(h["delay"], "200");
    assert_eq!(h["stacktrace"], r#"["stack 1"]"#);
    let ev = events(&q).await;
    let d = ev.iter().rev().find(|e| e.0 == "delayed").unwrap();
    assert_eq!(d.1["delay"].parse::<u64>().unwrap(), due, "absolute due time");
    assert!(!ev.iter().any(|e| e.0 == "failed"), "retries emit no failed event");

    // Second attempt: exponential doubles.
    let job = w.get_next_job("t2", GetNextJobOptions::wait(Duration::from_secs(3))).await.unwrap().unwrap();
    assert_eq!(job.attempts_made, 1);
    match job.move_to_failed(&JobError::new("boom 2").with_stack("stack 2"), false).await.unwrap() {
        FailOutcome::Retried { delay } => assert_eq!(delay, Duration::from_millis(400)),
        other => panic!("{other:?}"),
    }
    let job = w.get_next_job("t3", GetNextJobOptions::wait(Duration::from_secs(3))).await.unwrap().unwrap();
    match job.move_to_failed(&JobError::new("boom 3").with_stack("stack 3"), false).await.unwrap() {
        FailOutcome::Failed { next } => assert!(next.is_none()),
        other => panic!("{other:?}"),
    }
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["atm"], "3");
    assert_eq!(h["failedReason"], "boom 3");
    assert_eq!(h["stacktrace"], r#"["stack 2","stack 3"]"#, "kept to stack_trace_limit");
    let failed: Vec<String> = cmd(&["ZRANGE", &k(&q, "failed"), "0", "-1"]).await;
    assert_eq!(failed, vec!["1"]);
    let ev = events(&q).await;
    let f = ev.iter().find(|e| e.0 == "failed").unwrap();
    assert_eq!(f.1["failedReason"], "boom 3");
    let r = ev.iter().find(|e| e.0 == "retries-exhausted").unwrap();
    assert_eq!(r.1["attemptsMade"], "3");
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test]
async fn immediate_retry_unrecoverable_and_unknown_backoff() {
    let q = queue("mfin-imm").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    q.add("r", json!({}), JobOptions::default().attempts(5)).await.unwrap();
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    assert!(matches!(
        job.move_to_failed(&JobError::new("x"), false).await.unwrap(),
        FailOutcome::Retried { delay } if delay == Duration::ZERO
    ));
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["1"]);
    assert!(events(&q).await.iter().any(|e| e.0 == "waiting" && e.1.get("prev").map(String::as_str) == Some("active")));

    let job = w.get_next_job("t2", now_only()).await.unwrap().unwrap();
    assert!(matches!(
        job.move_to_failed(&JobError::unrecoverable("fatal"), false).await.unwrap(),
        FailOutcome::Failed { .. }
    ));
    assert!(!events(&q).await.iter().any(|e| e.0 == "retries-exhausted"), "attempts were left");

    q.add("c", json!({}), JobOptions::default().attempts(3).backoff(Backoff::custom("mine"))).await.unwrap();
    let job = w.get_next_job("t3", now_only()).await.unwrap().unwrap();
    assert!(matches!(job.move_to_failed(&JobError::new("y"), false).await.unwrap(), FailOutcome::Failed { .. }));
    let reason: String = cmd(&["HGET", &k(&q, &job.id), "failedReason"]).await;
    assert_eq!(reason, "Unknown backoff strategy mine");
}

#[tokio::test]
async fn custom_backoff_strategy_hook() {
    let q = queue("mfin-custom").await;
    let hook: bullmq::job::BackoffStrategy = std::sync::Arc::new(|attempt, kind, _err, _job| {
        assert_eq!(kind, "linear");
        Some(Duration::from_millis(attempt * 1000))
    });
    let w = worker_for(&q, WorkerOptions::default().backoff_strategy(hook)).await;
    q.add("c", json!({}), JobOptions::default().attempts(3).backoff(Backoff::custom("linear"))).await.unwrap();
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    assert!(matches!(
        job.move_to_failed(&JobError::new("y"), false).await.unwrap(),
        FailOutcome::Retried { delay } if delay == Duration::from_millis(1000)
    ));
}

#[tokio::test]
async fn move_to_wait_and_move_to_delayed_do_not_count_attempts() {
    let q = queue("mfin-wait").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    let a = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    cmd::<()>(&["SET", &k(&q, "limiter"), "9007199254740991", "PX", "5000"]).await;
    let ttl = a.move_to_wait().await.unwrap();
    assert!(ttl > Duration::from_millis(4000) && ttl <= Duration::from_millis(5000), "{ttl:?}");
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["2", "1"], "back at the served end (RPUSH)");
    let atm: Option<String> = cmd(&["HGET", &k(&q, "1"), "atm"]).await;
    assert!(atm.is_none());
    cmd::<()>(&["DEL", &k(&q, "limiter")]).await;

    let a = w.get_next_job("t2", now_only()).await.unwrap().unwrap();
    assert_eq!(a.id, "1");
    let due = now() + 60_000;
    a.move_to_delayed(UNIX_EPOCH + Duration::from_millis(due)).await.unwrap();
    let score: f64 = cmd(&["ZSCORE", &k(&q, "delayed"), "1"]).await;
    assert!((score as u64 / 4096).abs_diff(due) < 50);
    let atm: Option<String> = cmd(&["HGET", &k(&q, "1"), "atm"]).await;
    assert!(atm.is_none());
    let marker: f64 = cmd(&["ZSCORE", &k(&q, "marker"), "1"]).await;
    assert!((marker as u64).abs_diff(due) < 50);
}

#[tokio::test]
async fn extend_lock_and_locks() {
    let q = queue("mfin-extend").await;
    let w = worker_for(&q, WorkerOptions::default().lock_duration(Duration::from_millis(1000))).await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    let a = w.get_next_job("ta", now_only()).await.unwrap().unwrap();
    let b = w.get_next_job("tb", now_only()).await.unwrap().unwrap();
    cmd::<()>(&["SADD", &k(&q, "stalled"), "1", "2"]).await;
    assert!(a.extend_lock(Duration::from_millis(60_000)).await.unwrap());
    let ttl: i64 = cmd(&["PTTL", &k(&q, "1:lock")]).await;
    assert!(ttl > 50_000);
    // Held by another token (as after a stall and a pickup elsewhere): not ours to extend.
    cmd::<()>(&["SET", &k(&q, "1:lock"), "wrong", "KEEPTTL"]).await;
    assert!(!a.extend_lock(Duration::from_millis(60_000)).await.unwrap());
    let lock: String = cmd(&["GET", &k(&q, "1:lock")]).await;
    assert_eq!(lock, "wrong", "the other lock is left alone");
    cmd::<()>(&["SET", &k(&q, "1:lock"), "ta", "KEEPTTL"]).await;
    let lost = w
        .extend_locks(
            &[(a.id.clone(), "ta".into()), (b.id.clone(), "tb".into()), ("ghost".into(), "x".into())],
            Duration::from_millis(30_000),
        )
        .await
        .unwrap();
    assert_eq!(lost, vec!["ghost"]);
    let stalled: Vec<String> = cmd(&["SMEMBERS", &k(&q, "stalled")]).await;
    assert!(stalled.is_empty(), "renewal takes jobs off the stalled candidates");
    // The same by handle: both renewed; one whose lock another token took is reported lost.
    cmd::<()>(&["SET", &k(&q, "2:lock"), "other", "KEEPTTL"]).await;
    let lost = w.extend_job_locks(&[&a, &b], Duration::from_millis(45_000)).await.unwrap();
    assert_eq!(lost, vec![b.id.clone()]);
    let ttl: i64 = cmd(&["PTTL", &k(&q, "1:lock")]).await;
    assert!(ttl > 40_000, "{ttl}");
}

#[tokio::test]
async fn metrics_are_recorded_when_enabled() {
    let q = queue("mfin-metrics").await;
    let w = worker_for(&q, WorkerOptions::default().metrics(MetricsOptions::new(10))).await;
    for i in 0..2 {
        q.add("m", json!({}), JobOptions::default()).await.unwrap();
        let j = w.get_next_job(&format!("t{i}"), now_only()).await.unwrap().unwrap();
        j.move_to_completed(1, false).await.unwrap();
    }
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "metrics:completed")]).await;
    assert_eq!(h["count"], "2");
    assert_eq!(h["prevCount"], "0");
    // Pretend the previous point is 3 minutes old: the next finish pushes delta + 2 zeros.
    let prev = now() - 3 * 60_000;
    cmd::<()>(&["HSET", &k(&q, "metrics:completed"), "prevTS", &prev.to_string()]).await;
    q.add("m", json!({}), JobOptions::default()).await.unwrap();
    let j = w.get_next_job("t9", now_only()).await.unwrap().unwrap();
    j.move_to_completed(1, false).await.unwrap();
    let data: Vec<String> = cmd(&["LRANGE", &k(&q, "metrics:completed:data"), "0", "-1"]).await;
    assert_eq!(data, vec!["0", "0", "2"]);
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "metrics:completed")]).await;
    assert_eq!(h["prevCount"], "2");
}

#[tokio::test]
async fn dedup_key_released_and_keep_last_requeued_on_finish() {
    let q = queue("mfin-dedup").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    let de = Deduplication::simple("k").keep_last_if_active(true);
    let owner = q.add("k", json!({"v": 1}), JobOptions::default().deduplication(de.clone())).await.unwrap();
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    q.add("k", json!({"v": 2}), JobOptions::default().deduplication(de.clone())).await.unwrap();
    q.add("k", json!({"v": 3}), JobOptions::default().deduplication(de)).await.unwrap();
    job.move_to_completed(1, false).await.unwrap();
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["3"], "the last add made while the owner ran");
    let data: String = cmd(&["HGET", &k(&q, "3"), "data"]).await;
    assert_eq!(data, r#"{"v":3}"#);
    let key: String = cmd(&["GET", &k(&q, "de:k")]).await;
    assert_eq!(key, "3");
    let dn: i64 = cmd(&["EXISTS", &k(&q, "dn:k")]).await;
    assert_eq!(dn, 0);
    let counter: String = cmd(&["GET", &k(&q, "id")]).await;
    assert_eq!(counter, "4", "the re-queue consumes the counter once more");
    assert_ne!(owner.id, "3");

    // Simple mode: the key goes away when the owner finishes.
    let s = q.add("s", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    let j = w.get_next_job("t2", now_only()).await.unwrap().unwrap();
    let j = if j.id == s.id { j } else { w.get_next_job("t3", now_only()).await.unwrap().unwrap() };
    j.move_to_completed(1, false).await.unwrap();
    let n: i64 = cmd(&["EXISTS", &k(&q, "de:s")]).await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn child_completion_releases_the_parent() {
    let q = queue("mfin-parent").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    // A parent waiting for children, written as a flow producer would.
    let parent = waiting_parent(&q, "P").await;
    q.add("child", json!({}), JobOptions::default().parent(parent)).await.unwrap();
    let deps: Vec<String> = cmd(&["SMEMBERS", &k(&q, "P:dependencies")]).await;
    assert_eq!(deps, vec![k(&q, "1")]);
    let child = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    assert_eq!(child.parent.as_ref().unwrap().id, "P");
    child.move_to_completed(json!({"r": 1}), false).await.unwrap();
    let processed: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "P:processed")]).await;
    assert_eq!(processed[&k(&q, "1")], r#"{"r":1}"#);
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["P"]);
    assert!(events(&q).await.iter().any(|e| e.0 == "waiting"
        && e.1["jobId"] == "P"
        && e.1.get("prev").map(String::as_str) == Some("waiting-children")));
}
