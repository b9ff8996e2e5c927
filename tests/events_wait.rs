//! `QueueEvents::wait_until_finished` (finished before the call, after it, failed, timed out; the
//! finish is simulated by writing the Redis state and the event by hand, as a worker would)
//! and `Queue::get_metrics` against hand-written metrics keys.

mod common;

use std::time::Duration;

use bullmq::queue::{Metrics, MetricsMeta, MetricsType};
use bullmq::{Error, Job, JobOptions, Queue, QueueEvents, QueueEventsOptions};
use common::*;
use serde_json::json;

async fn watch(q: &Queue) -> QueueEvents {
    QueueEvents::new(q.name(), QueueEventsOptions::new(conn()).blocking_timeout(Duration::from_millis(300)))
        .await
        .unwrap()
}

/// Waits until a waiter has subscribed (it checks the job's state right after; either way
/// the finish written next is seen, by that check or through the subscription).
async fn subscribed(qe: &QueueEvents) {
    let qe = qe.clone();
    eventually("waiter subscribed", Duration::from_secs(5), move || {
        let qe = qe.clone();
        async move { qe.subscriber_count() == 1 }
    })
    .await;
}

/// What moveToFinished leaves for a completed job: out of `wait`, in `completed`, the return
/// value in the hash, then the event.
async fn complete(q: &Queue, job: &Job, returnvalue: &str) {
    let now = "1700000000000";
    let _: i64 = cmd(&["LREM", &k(q, "wait"), "0", &job.id]).await;
    let _: i64 = cmd(&["ZADD", &k(q, "completed"), now, &job.id]).await;
    let _: i64 = cmd(&["HSET", &k(q, &job.id), "returnvalue", returnvalue, "finishedOn", now]).await;
    let _: String = cmd(&[
        "XADD",
        &k(q, "events"),
        "*",
        "event",
        "completed",
        "jobId",
        &job.id,
        "returnvalue",
        returnvalue,
        "prev",
        "active",
    ])
    .await;
}

async fn fail(q: &Queue, job: &Job, reason: &str) {
    let now = "1700000000000";
    let _: i64 = cmd(&["LREM", &k(q, "wait"), "0", &job.id]).await;
    let _: i64 = cmd(&["ZADD", &k(q, "failed"), now, &job.id]).await;
    let _: i64 = cmd(&["HSET", &k(q, &job.id), "failedReason", reason, "finishedOn", now]).await;
    let _: String = cmd(&[
        "XADD",
        &k(q, "events"),
        "*",
        "event",
        "failed",
        "jobId",
        &job.id,
        "failedReason",
        reason,
        "prev",
        "active",
    ])
    .await;
}

#[tokio::test]
async fn completed_before_the_call() {
    let q = queue("wait-before").await;
    let job = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let qe = watch(&q).await;
    // Finished before the QueueEvents even started: only the state check can see it.
    let _: i64 = cmd(&["ZADD", &k(&q, "completed"), "1", &job.id]).await;
    let _: i64 = cmd(&["HSET", &k(&q, &job.id), "returnvalue", r#"{"sum":42}"#]).await;
    let v = qe.wait_until_finished(&job, Duration::from_secs(2)).await.unwrap();
    assert_eq!(v, json!({"sum": 42}));
    qe.close().await;
}

#[tokio::test]
async fn completed_after_the_call() {
    let q = queue("wait-after").await;
    let job = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let other = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let qe = watch(&q).await;
    let waiter = {
        let (job, qe) = (job.clone(), qe.clone());
        tokio::spawn(async move { qe.wait_until_finished(&job, Duration::from_secs(5)).await })
    };
    subscribed(&qe).await;
    assert!(!waiter.is_finished());
    complete(&q, &other, "\"not mine\"").await;
    complete(&q, &job, "[1,\"two\",null]").await;
    let v = waiter.await.unwrap().unwrap();
    assert_eq!(v, json!([1, "two", null]), "the value of this job, not the other one");

    // A return value that is not JSON (a foreign writer): handed over as text.
    let odd = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let waiter = {
        let (odd, qe) = (odd.clone(), qe.clone());
        tokio::spawn(async move { qe.wait_until_finished(&odd, Duration::from_secs(5)).await })
    };
    subscribed(&qe).await;
    complete(&q, &odd, "plain text").await;
    assert_eq!(waiter.await.unwrap().unwrap(), json!("plain text"));
    qe.close().await;
}

#[tokio::test]
async fn failed_before_and_after_the_call() {
    let q = queue("wait-failed").await;
    let qe = watch(&q).await;
    let early = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    fail(&q, &early, "early boom").await;
    match qe.wait_until_finished(&early, Duration::from_secs(2)).await {
        Err(Error::JobFailed { job_id, reason }) => {
            assert_eq!((job_id.as_str(), reason.as_str()), (early.id.as_str(), "early boom"))
        }
        other => panic!("{other:?}"),
    }
    let late = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let waiter = {
        let (late, qe) = (late.clone(), qe.clone());
        tokio::spawn(async move { qe.wait_until_finished(&late, Duration::from_secs(5)).await })
    };
    subscribed(&qe).await;
    fail(&q, &late, "Error: late boom {not json").await;
    match waiter.await.unwrap() {
        Err(Error::JobFailed { job_id, reason }) => {
            assert_eq!(job_id, late.id);
            assert_eq!(reason, "Error: late boom {not json");
        }
        other => panic!("{other:?}"),
    }
    qe.close().await;
}

#[tokio::test]
async fn timeout_missing_closed_and_wrong_queue() {
    let q = queue("wait-timeout").await;
    let qe = watch(&q).await;
    let job = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let started = std::time::Instant::now();
    match qe.wait_until_finished(&job, Duration::from_millis(300)).await {
        Err(Error::Timeout { operation, job_id, after }) => {
            assert_eq!(operation, "waitUntilFinished");
            assert_eq!(job_id.as_deref(), Some(job.id.as_str()));
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    // A job still unfinished: its state is untouched by waiting.
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec![job.id.clone()]);

    // Removed (or never added): not found at once, as in Node.
    let gone = q.add("j", json!({}), JobOptions::default()).await.unwrap();
    let _: i64 = cmd(&["DEL", &k(&q, &gone.id)]).await;
    let _: i64 = cmd(&["LREM", &k(&q, "wait"), "0", &gone.id]).await;
    match qe.wait_until_finished(&gone, Duration::from_secs(5)).await {
        Err(Error::JobNotFound { operation, job_id }) => {
            assert_eq!((operation, job_id.as_str()), ("waitUntilFinished", gone.id.as_str()))
        }
        other => panic!("{other:?}"),
    }

    let other = queue("wait-other").await;
    let other_qe = watch(&other).await;
    assert!(matches!(
        other_qe.wait_until_finished(&job, Duration::from_secs(1)).await,
        Err(Error::InvalidOption { option: "events", .. })
    ));
    other_qe.close().await;

    let idle = QueueEvents::new(q.name(), QueueEventsOptions::new(conn()).autorun(false)).await.unwrap();
    assert!(matches!(
        idle.wait_until_finished(&job, Duration::from_secs(1)).await,
        Err(Error::InvalidOption { option: "events", .. })
    ));

    // Closing the QueueEvents ends a pending wait instead of leaving it hanging.
    let waiter = {
        let (job, qe) = (job.clone(), qe.clone());
        tokio::spawn(async move { qe.wait_until_finished(&job, Duration::from_secs(10)).await })
    };
    subscribed(&qe).await;
    qe.close().await;
    assert!(matches!(waiter.await.unwrap(), Err(Error::Closed(_))));
}

#[tokio::test]
async fn get_metrics_reads_hash_range_and_length() {
    let q = queue("metrics").await;
    let _: i64 =
        cmd(&["HSET", &k(&q, "metrics:completed"), "count", "57", "prevTS", "1700000040000", "prevCount", "50"]).await;
    // LPUSH order: the newest minute ends up at the head.
    let _: i64 = cmd(&["RPUSH", &k(&q, "metrics:completed:data"), "7", "0", "0", "12", "5"]).await;
    let m = q.get_metrics(MetricsType::Completed, 0, -1).await.unwrap();
    assert_eq!(
        m,
        Metrics {
            meta: MetricsMeta { count: 57, prev_ts: 1_700_000_040_000, prev_count: 50 },
            data: vec![7, 0, 0, 12, 5],
            count: 5,
        }
    );
    let m = q.get_metrics(MetricsType::Completed, 1, 2).await.unwrap();
    assert_eq!((m.data, m.count), (vec![0, 0], 5));
    let m = q.get_metrics(MetricsType::Completed, -2, -1).await.unwrap();
    assert_eq!(m.data, vec![12, 5]);
    // Nothing recorded for failed jobs: all zero, nothing written.
    let m = q.get_metrics(MetricsType::Failed, 0, -1).await.unwrap();
    assert_eq!(m, Metrics::default());
    let exists: i64 = cmd(&["EXISTS", &k(&q, "metrics:failed"), &k(&q, "metrics:failed:data")]).await;
    assert_eq!(exists, 0);
}
