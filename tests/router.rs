//! Topic routing (the Bedrock job queue's model) through the public API: exact and pattern
//! topics, typed payloads, unknown topics discarded, each return value as Redis and Node see it,
//! per-topic defaults, and timeouts (one job, a topic's, and 1,000 jobs that overrun).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bullmq::{
    Backoff, CancelReason, Handled, JobError, JobOptions, JobState, Router, TopicDefaults, Worker, WorkerEvent,
};
use common::node::node;
use common::*;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct SendEmail {
    to: String,
}

fn router() -> Router {
    Router::new()
        .typed("email:send", TopicDefaults::new().attempts(3), |p: SendEmail, meta, _ctx| async move {
            Ok(Handled::OkWith(json!({"sent_to": p.to, "topic": meta.topic, "attempt": meta.attempt})))
        })
        .route("email:*", |job, meta, _ctx| async move {
            Ok(Handled::OkWith(json!({"pattern": true, "topic": meta.topic, "id": job.id, "tenant": meta.tenant})))
        })
        .route("flaky", |_job, meta, _ctx| async move {
            if meta.attempt == 1 {
                return Err(JobError::new("first attempt fails"));
            }
            Ok(Handled::Ok)
        })
        .route("snooze", |job, _meta, _ctx| async move {
            if job.attempts_started == 1 {
                return Ok(Handled::Snooze(Duration::from_millis(200)));
            }
            Ok(Handled::OkWith(json!({"started": job.attempts_started, "made": job.attempts_made})))
        })
        .route("discard", |_job, _meta, _ctx| async move { Ok(Handled::Discard("not worth it".into())) })
}

#[tokio::test]
async fn topics_return_values_and_node_reading_them() {
    let q = queue("router").await;
    let r = router();
    let send = r.enqueue(&q, "email:send", json!({"to": "ada@example.com"}), JobOptions::default()).await.unwrap();
    assert_eq!(send.opts.attempts, Some(3), "the topic's defaults apply at enqueue");
    let bad = r.enqueue(&q, "email:send", json!({"nope": 1}), JobOptions::default()).await.unwrap();
    let other = q.add("email:bounce", json!({}), JobOptions::default()).await.unwrap();
    let flaky = q
        .add("flaky", json!({}), JobOptions::default().attempts(2).backoff(Backoff::fixed(Duration::from_millis(50))))
        .await
        .unwrap();
    let snooze = q.add("snooze", json!({}), JobOptions::default()).await.unwrap();
    let discard = q.add("discard", json!({}), JobOptions::default().attempts(5)).await.unwrap();
    let unknown = q.add("sms:send", json!({}), JobOptions::default().attempts(5)).await.unwrap();
    let (w, _rx) =
        Worker::spawn(q.name(), r.processor(), worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    let ids = [&send, &bad, &other, &flaky, &snooze, &discard, &unknown].map(|j| j.id.clone());
    eventually("every job finished", Duration::from_secs(10), || async {
        let mut done = 0;
        for id in &ids {
            if matches!(q.get_job_state(id).await.unwrap(), JobState::Completed | JobState::Failed) {
                done += 1;
            }
        }
        done == ids.len()
    })
    .await;
    w.close(Duration::from_secs(2)).await;

    let get = |id: String| {
        let q = q.clone();
        async move { q.get_job(&id).await.unwrap().unwrap() }
    };
    let s = get(send.id.clone()).await;
    assert_eq!(s.returnvalue, Some(json!({"sent_to": "ada@example.com", "topic": "email:send", "attempt": 1})));
    let b = get(bad.id.clone()).await;
    assert!(b.failed_reason.unwrap().contains("does not decode"), "a payload that does not decode is discarded");
    assert_eq!(b.attempts_made, 1, "not retried");
    let o = get(other.id.clone()).await;
    assert_eq!(o.returnvalue.unwrap()["pattern"], json!(true), "email:* caught email:bounce");
    let f = get(flaky.id.clone()).await;
    assert_eq!((f.attempts_made, q.get_job_state(&flaky.id).await.unwrap()), (2, JobState::Completed));
    let z = get(snooze.id.clone()).await;
    assert_eq!(z.returnvalue, Some(json!({"started": 2, "made": 0})), "a snooze starts again without using an attempt");
    let d = get(discard.id.clone()).await;
    assert_eq!((d.failed_reason.as_deref(), d.attempts_made), (Some("not worth it"), 1));
    let u = get(unknown.id.clone()).await;
    assert_eq!((u.failed_reason.as_deref(), u.attempts_made), (Some("no handler"), 1), "never retried");

    // Node reads ordinary BullMQ results.
    let r = node("bullmq", q.name(), json!({"cmd": "read", "ids": [send.id, discard.id, unknown.id, snooze.id]})).await;
    assert_eq!(r["jobs"][0]["returnvalue"]["sent_to"], "ada@example.com");
    assert_eq!(r["jobs"][1]["failedReason"], "not worth it");
    assert_eq!(r["jobs"][2]["failedReason"], "no handler");
    // Two starts, one attempt made: the completing one (the snooze used none).
    assert_eq!((r["jobs"][3]["attemptsStarted"].as_u64(), r["jobs"][3]["attemptsMade"].as_u64()), (Some(2), Some(1)));
}

#[tokio::test]
async fn a_job_timeout_and_a_topic_timeout() {
    let q = queue("router-timeout").await;
    let r = Router::new()
        .route_with(
            "slow-topic",
            TopicDefaults::new().timeout(Duration::from_millis(100)),
            |_job, _meta, ctx| async move {
                ctx.cancel.cancelled().await;
                Err(JobError::new("stopped"))
            },
        )
        .route("slow", |_job, _meta, ctx| async move {
            ctx.cancel.cancelled().await;
            Err(JobError::new("stopped"))
        });
    let own =
        q.add("slow", json!({}), JobOptions::default().timeout(Duration::from_millis(150)).attempts(2)).await.unwrap();
    let topic = q.add("slow-topic", json!({}), JobOptions::default()).await.unwrap();
    let (w, mut rx) = Worker::spawn(q.name(), r.processor(), worker_opts(&q).concurrency(2)).await.unwrap();
    let mut timed_out = Vec::new();
    while timed_out.len() < 3 {
        if let WorkerEvent::JobCancelled { id, reason: CancelReason::Timeout(after) } =
            wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCancelled { .. })).await
        {
            timed_out.push((id, after));
        }
    }
    eventually("both failed for good", Duration::from_secs(5), || async {
        q.get_job_state(&own.id).await.unwrap() == JobState::Failed
            && q.get_job_state(&topic.id).await.unwrap() == JobState::Failed
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    assert!(timed_out.contains(&(topic.id.clone(), Duration::from_millis(100))));
    assert_eq!(timed_out.iter().filter(|(id, _)| *id == own.id).count(), 2, "timed out, retried, timed out");
    let j = q.get_job(&own.id).await.unwrap().unwrap();
    assert_eq!((j.failed_reason.as_deref(), j.attempts_made), (Some("job timed out after 150 ms"), 2));
}

/// 1,000 jobs that overrun a 50 ms timeout (990 stop when cancelled, 10 ignore it and are
/// aborted after the grace), two attempts each: every one ends failed with the timeout reason,
/// none left active, none lost.
#[tokio::test]
async fn a_thousand_jobs_that_overrun() {
    let q = queue("router-timeouts").await;
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let r = Router::new().route("overrun", move |job, _meta, ctx| {
        let ran = r2.clone();
        async move {
            ran.fetch_add(1, Ordering::Relaxed);
            if job.data["stubborn"] == json!(true) {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            ctx.cancel.cancelled().await;
            Err(JobError::new("stopped"))
        }
    });
    let jobs: Vec<bullmq::BulkJob> = (0..1000)
        .map(|i| {
            let opts = JobOptions::default().timeout(Duration::from_millis(50)).attempts(2);
            bullmq::BulkJob::new("overrun", json!({"i": i, "stubborn": i % 100 == 0}), opts).unwrap()
        })
        .collect();
    q.add_bulk(jobs).await.unwrap();
    let start = Instant::now();
    let (w, _rx) = Worker::spawn(q.name(), r.processor(), worker_opts(&q).concurrency(100)).await.unwrap();
    eventually("all 1,000 failed", Duration::from_secs(60), || async { q.get_failed_count().await.unwrap() == 1000 })
        .await;
    let took = start.elapsed();
    w.close(Duration::from_secs(2)).await;
    assert_eq!(q.get_active_count().await.unwrap(), 0, "none left active");
    assert_eq!(q.get_completed_count().await.unwrap(), 0);
    let sample = q.get_job("500").await.unwrap().unwrap();
    assert_eq!((sample.failed_reason.as_deref(), sample.attempts_made), (Some("job timed out after 50 ms"), 2));
    let runs = ran.load(Ordering::Relaxed);
    assert_eq!(runs, 2000, "each job ran twice (one retry), none lost");
    println!(
        "timeouts: jobs=1000 timeout_ms=50 attempts=2 runs={runs} failed=1000 active=0 lost=0 stubborn=10 took_ms={}",
        took.as_millis()
    );
}
