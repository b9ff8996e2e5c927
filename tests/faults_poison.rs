//! A poison job: its processor aborts the process. A supervisor (this test) restarts the worker
//! process each time it dies. The jobs that ran beside the poison job when it first killed the
//! process stall once, then run alone and complete; the poison job runs alone, kills the process
//! again, and is failed with a reason naming it the likely cause. Only the poison job fails.
//!
//! The worker runs in a child process: this test binary re-executes itself with
//! `POISON_QUEUE` set, and `poison_worker_process` then runs a worker until it dies.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use bullmq::{processor, JobOptions, JobOutcome, JobState, Worker, WorkerOptions};
use common::*;
use serde_json::json;

/// Not a test on its own: the worker process the test supervises.
#[tokio::test]
async fn poison_worker_process() {
    let Ok(queue) = std::env::var("POISON_QUEUE") else { return };
    let p = processor(|job, _ctx| async move {
        if job.name == "poison" {
            // Long enough for the jobs taken with it to be running.
            tokio::time::sleep(Duration::from_millis(300)).await;
            std::process::abort();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(JobOutcome::Completed(json!("innocent")))
    });
    let opts = WorkerOptions::new(conn())
        .concurrency(4)
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(300))
        .drain_delay(Duration::from_millis(200));
    let (_w, _events) = Worker::spawn(&queue, p, opts).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn spawn_worker(queue: &str) -> Child {
    spawn_test_process("poison_worker_process", &[("POISON_QUEUE", queue)])
}

#[tokio::test]
async fn only_the_poison_job_fails() {
    let q = queue("poison").await;
    let innocents = 7;
    // The poison job first, so the first take brings it with three innocents.
    q.add("poison", json!({}), JobOptions::default().job_id("poison")).await.unwrap();
    for i in 0..innocents {
        q.add("innocent", json!({ "i": i }), JobOptions::default().job_id(format!("i{i}"))).await.unwrap();
    }
    let started = Instant::now();
    let mut child = spawn_worker(q.name());
    let mut restarts = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let completed = q.get_completed_count().await.unwrap();
        let failed = q.get_failed_count().await.unwrap();
        if completed + failed == innocents + 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not settled: completed={completed} failed={failed} restarts={restarts}");
        if child.try_wait().unwrap().is_some() {
            // The supervisor's part: the process died, start it again.
            restarts += 1;
            assert!(restarts <= 6, "the worker keeps dying");
            child = spawn_worker(q.name());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let failed = q.get_jobs(&[JobState::Failed], 0, -1, true).await.unwrap();
    let failed_ids: Vec<&str> = failed.iter().map(|j| j.id.as_str()).collect();
    let reason = failed.first().map(|j| j.failed_reason.clone().unwrap_or_default()).unwrap_or_default();
    let mut stalled_innocents = 0;
    for i in 0..innocents {
        let stc: Option<String> = cmd(&["HGET", &k(&q, &format!("i{i}")), "stc"]).await;
        stalled_innocents += usize::from(stc.is_some_and(|s| s != "0"));
    }
    let poison_stc: String = cmd(&["HGET", &k(&q, "poison"), "stc"]).await;
    println!(
        "poison: jobs={} restarts={restarts} failed={failed_ids:?} completed={} innocents_stalled_once={stalled_innocents} poison_stalled={poison_stc} took_ms={} reason={reason:?}",
        innocents + 1,
        q.get_completed_count().await.unwrap(),
        started.elapsed().as_millis()
    );
    assert_eq!(failed_ids, vec!["poison"], "only the poison job fails");
    assert_eq!(q.get_completed_count().await.unwrap(), innocents);
    assert!(reason.contains("likely cause"), "the reason names it: {reason}");
    assert!(stalled_innocents >= 1, "some innocents ran beside it the first time");
}
