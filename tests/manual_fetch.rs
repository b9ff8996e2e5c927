//! Manual processing, fetch side: the Redis state moveToActive leaves (PROTOCOL.md §12.2, §9).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bullmq::worker::{GetNextJobOptions, RateLimiter};
use bullmq::{JobOptions, WorkerOptions};
use common::*;
use serde_json::json;

/// A take wakes the other idle workers only while a job is still ready for them: the last job
/// taken leaves no marker behind, so no blocked worker runs an empty fetch for it.
#[tokio::test]
async fn a_take_wakes_others_only_while_jobs_remain() {
    let q = queue("mf-wake").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("p", json!({}), JobOptions::default().priority(2)).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    let mut left = Vec::new();
    for tok in ["t1", "t2"] {
        cmd::<i64>(&["DEL", &k(&q, "marker")]).await;
        assert!(w.get_next_job(tok, now_only()).await.unwrap().is_some());
        let marker: Vec<String> = cmd(&["ZRANGE", &k(&q, "marker"), "0", "-1"]).await;
        left.push(marker);
    }
    assert_eq!(left[0], vec!["0"], "the prioritized job is still ready: others are woken");
    assert!(left[1].is_empty(), "nothing left to take: no wake-up, got {:?}", left[1]);
}

#[tokio::test]
async fn fetch_locks_and_stamps_the_job() {
    let q = queue("mf-lock").await;
    q.add("a", json!({"x": 1}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default().name("w1").lock_duration(Duration::from_millis(5000))).await;
    let job = w.get_next_job("tok-1", now_only()).await.unwrap().expect("a job");
    assert_eq!(job.id, "1");
    assert_eq!(job.token(), "tok-1");
    assert_eq!(job.attempts_started, 1);
    assert_eq!(job.processed_by.as_deref(), Some("w1"));
    let lock: String = cmd(&["GET", &k(&q, "1:lock")]).await;
    assert_eq!(lock, "tok-1");
    let ttl: i64 = cmd(&["PTTL", &k(&q, "1:lock")]).await;
    assert!(ttl > 4000 && ttl <= 5000, "{ttl}");
    let active: Vec<String> = cmd(&["LRANGE", &k(&q, "active"), "0", "-1"]).await;
    assert_eq!(active, vec!["1"]);
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["ats"], "1");
    assert_eq!(h["pb"], "w1");
    assert!(h["processedOn"].parse::<u64>().unwrap() > 0);
    let marker: Vec<String> = cmd(&["ZRANGE", &k(&q, "marker"), "0", "-1"]).await;
    assert_eq!(marker, vec!["0"], "the add's marker is left for the other workers");
    let ev = events(&q).await;
    let active_ev = ev.iter().find(|e| e.0 == "active").unwrap();
    assert_eq!(active_ev.1["jobId"], "1");
    assert_eq!(active_ev.1["prev"], "waiting");
    assert!(w.get_next_job("tok-2", now_only()).await.unwrap().is_none());
}

#[tokio::test]
async fn fetch_order_wait_before_prioritized_and_lifo() {
    let q = queue("mf-order").await;
    q.add("p5", json!({}), JobOptions::default().priority(5)).await.unwrap(); // 1
    q.add("p1", json!({}), JobOptions::default().priority(1)).await.unwrap(); // 2
    q.add("f1", json!({}), JobOptions::default()).await.unwrap(); // 3
    q.add("f2", json!({}), JobOptions::default()).await.unwrap(); // 4
    q.add("l", json!({}), JobOptions::default().lifo(true)).await.unwrap(); // 5
    let w = worker_for(&q, WorkerOptions::default()).await;
    let mut order = Vec::new();
    while let Some(j) = w.get_next_job(&format!("t{}", order.len()), now_only()).await.unwrap() {
        order.push(j.name.clone());
    }
    assert_eq!(order, vec!["l", "f1", "f2", "p1", "p5"]);
    let pc: i64 = cmd(&["EXISTS", &k(&q, "pc")]).await;
    assert_eq!(pc, 0, "the priority counter is dropped once prioritized is empty");
}

#[tokio::test]
async fn due_delayed_jobs_are_promoted_at_fetch() {
    let q = queue("mf-delay").await;
    q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(300))).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    assert!(w.get_next_job("t0", now_only()).await.unwrap().is_none());
    let t0 = Instant::now();
    let job = w
        .get_next_job("t1", GetNextJobOptions::wait(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the delayed job after its delay");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert_eq!(job.delay, 0, "promotion resets the delay field");
    let ev = events(&q).await;
    assert!(ev.iter().any(|e| e.0 == "waiting" && e.1.get("prev").map(String::as_str) == Some("delayed")));
}

#[tokio::test]
async fn blocking_fetch_wakes_on_add_from_another_connection() {
    let q = queue("mf-block").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    let q2 = q.clone();
    let adder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        q2.add("late", json!({}), JobOptions::default()).await.unwrap();
    });
    let t0 = Instant::now();
    let job = w.get_next_job("t", GetNextJobOptions::wait(Duration::from_secs(4))).await.unwrap();
    assert_eq!(job.unwrap().name, "late");
    assert!(t0.elapsed() < Duration::from_secs(3), "woken by the marker, not by the timeout");
    adder.await.unwrap();
    // The worker's blocking connection is named as Node names its workers' connections.
    let clients: String = cmd(&["CLIENT", "LIST"]).await;
    let b64 = b64(q.name());
    assert!(clients.contains(&format!("name=bull:{b64} ")), "{clients}");
}

#[tokio::test]
async fn blocking_fetch_times_out_with_none() {
    let q = queue("mf-timeout").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    let t0 = Instant::now();
    let r = w.get_next_job("t", GetNextJobOptions::wait(Duration::from_millis(400))).await.unwrap();
    assert!(r.is_none());
    assert!(t0.elapsed() >= Duration::from_millis(350) && t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn paused_and_maxed_queues_hand_out_nothing() {
    let q = queue("mf-paused").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    cmd::<()>(&["HSET", &k(&q, "meta"), "paused", "1"]).await;
    assert!(w.get_next_job("t", now_only()).await.unwrap().is_none());
    cmd::<()>(&["HDEL", &k(&q, "meta"), "paused"]).await;
    cmd::<()>(&["HSET", &k(&q, "meta"), "concurrency", "1"]).await;
    assert!(w.get_next_job("t1", now_only()).await.unwrap().is_some());
    assert!(w.get_next_job("t2", now_only()).await.unwrap().is_none(), "global concurrency 1 is used up");
    let wait: i64 = cmd(&["LLEN", &k(&q, "wait")]).await;
    assert_eq!(wait, 1);
}

#[tokio::test]
async fn rate_limiter_counts_and_reports_ttl() {
    let q = queue("mf-limit").await;
    for i in 0..3 {
        q.add("r", json!({"i": i}), JobOptions::default()).await.unwrap();
    }
    let w = worker_for(&q, WorkerOptions::default().limiter(RateLimiter::new(2, Duration::from_millis(10_000)))).await;
    assert!(w.get_next_job("a", now_only()).await.unwrap().is_some());
    assert!(w.get_next_job("b", now_only()).await.unwrap().is_some());
    let used: String = cmd(&["GET", &k(&q, "limiter")]).await;
    assert_eq!(used, "2");
    assert!(w.get_next_job("c", now_only()).await.unwrap().is_none());
    let ttl = w.rate_limit_ttl();
    assert!(ttl > Duration::from_millis(5000) && ttl <= Duration::from_millis(10_000), "{ttl:?}");
    // The queue's global max wins over the worker's.
    let q2 = queue("mf-glimit").await;
    q2.add("r", json!({}), JobOptions::default()).await.unwrap();
    q2.add("r", json!({}), JobOptions::default()).await.unwrap();
    cmd::<()>(&["HSET", &k(&q2, "meta"), "max", "1", "duration", "5000"]).await;
    let w2 = worker_for(&q2, WorkerOptions::default()).await;
    assert!(w2.get_next_job("a", now_only()).await.unwrap().is_some());
    assert!(w2.get_next_job("b", now_only()).await.unwrap().is_none());
    assert!(w2.rate_limit_ttl() > Duration::ZERO);
}

#[tokio::test]
async fn corrupt_job_is_failed_at_once_with_a_reason_naming_the_field() {
    let q = queue("mf-corrupt").await;
    q.add("ok", json!({}), JobOptions::default()).await.unwrap();
    cmd::<()>(&["HSET", &k(&q, "1"), "data", "{oops"]).await;
    q.add("next", json!({}), JobOptions::default()).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    match w.get_next_job("t", now_only()).await {
        Err(bullmq::Error::CorruptJob { job_id, field, .. }) => {
            assert_eq!((job_id.as_str(), field), ("1", "data"))
        }
        other => panic!("expected CorruptJob, got {other:?}"),
    }
    let reason: String = cmd(&["HGET", &k(&q, "1"), "failedReason"]).await;
    assert!(reason.contains("data"), "{reason}");
    let failed: Vec<String> = cmd(&["ZRANGE", &k(&q, "failed"), "0", "-1"]).await;
    assert_eq!(failed, vec!["1"]);
    // The worker keeps going.
    assert_eq!(w.get_next_job("t2", now_only()).await.unwrap().unwrap().name, "next");
}

#[tokio::test]
async fn invalid_worker_options_are_refused() {
    for opts in [
        WorkerOptions::default().concurrency(0),
        WorkerOptions::default().lock_duration(Duration::ZERO),
        WorkerOptions::default().limiter(RateLimiter::new(0, Duration::from_millis(10))),
        WorkerOptions::default().lock_renew_time(Duration::from_millis(50_000)),
    ] {
        let r = bullmq::ManualWorker::new("x", opts.connection(conn())).await;
        assert!(matches!(r, Err(bullmq::Error::InvalidOption { .. })));
    }
    let q = queue("mf-token").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    assert!(matches!(w.get_next_job("", now_only()).await, Err(bullmq::Error::InvalidOption { .. })));
}
