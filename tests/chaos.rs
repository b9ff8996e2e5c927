//! The chaos run: worker processes SIGKILLed at random while they work through a queue. At the
//! end nothing is lost and every extra execution of a job is explained by a `stalled` event of
//! that job in the queue's stream. CI runs 1,000 jobs; `BULLMQ_CHAOS_FULL=1` runs 5,000.
//!
//! Workers run in child processes (this test binary re-executed with `CHAOS_QUEUE` set), so a
//! kill is a real process death: no cleanup, locks left to expire.

mod common;

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use bullmq::{processor, BulkJob, JobOptions, JobOutcome, Queue, QueueOptions, Worker, WorkerOptions};
use common::*;
use serde_json::json;

/// Not a test on its own: the body of a chaos worker process.
#[tokio::test]
async fn chaos_child_process() {
    let Ok(queue) = std::env::var("CHAOS_QUEUE") else { return };
    let client = redis::Client::open(redis().url.as_str()).unwrap();
    let log = client.get_multiplexed_async_connection().await.unwrap();
    let exec_key = format!("chaos:{queue}:exec");
    let p = processor(move |job, _ctx| {
        let (mut log, exec_key) = (log.clone(), exec_key.clone());
        async move {
            // Record the execution before doing the work, so a kill mid-job still counts it.
            let _: () = redis::cmd("RPUSH").arg(&exec_key).arg(&job.id).query_async(&mut log).await.unwrap();
            // Half the jobs are instant, so the workers also fetch ahead (prefetch) when killed.
            if fastrand::bool() {
                tokio::time::sleep(Duration::from_millis(fastrand::u64(10..50))).await;
            }
            Ok(JobOutcome::Completed(json!(std::process::id())))
        }
    });
    let opts = WorkerOptions::new(conn())
        .concurrency(4)
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(400))
        .max_stalled_count(1000)
        .drain_delay(Duration::from_millis(200));
    let (_w, _events) = Worker::spawn(&queue, p, opts).await.unwrap();
    tokio::time::sleep(Duration::from_secs(600)).await;
}

fn spawn_child(queue: &str) -> Child {
    spawn_test_process("chaos_child_process", &[("CHAOS_QUEUE", queue)])
}

#[tokio::test]
async fn random_worker_kills_lose_nothing() {
    let full = std::env::var("BULLMQ_CHAOS_FULL").is_ok_and(|v| v == "1");
    let n: u64 = if full { 5000 } else { 1000 };
    let name = qname("chaos");
    // Keep every event: the stalled events are the evidence for re-executions.
    let q = Queue::new(&name, QueueOptions::new(conn()).max_len_events(1_000_000)).await.unwrap();
    let jobs: Vec<BulkJob> =
        (0..n).map(|i| BulkJob::new("c", json!({"i": i}), JobOptions::default()).unwrap()).collect();
    for chunk in jobs.chunks(1000) {
        q.add_bulk(chunk.to_vec()).await.unwrap();
    }
    let mut children: Vec<Child> = (0..3).map(|_| spawn_child(&name)).collect();
    let started = Instant::now();
    let mut kills = 0u32;
    let limit = Duration::from_secs(if full { 600 } else { 120 });
    loop {
        let done = q.get_completed_count().await.unwrap();
        if done >= n {
            break;
        }
        assert!(started.elapsed() < limit, "stuck at {done}/{n} completed after {kills} kills");
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..400))).await;
        // Kill one worker at random (only while there is work left) and start a replacement.
        if q.get_completed_count().await.unwrap() < n {
            let victim = fastrand::usize(0..children.len());
            let mut c = children.swap_remove(victim);
            c.kill().unwrap();
            c.wait().unwrap();
            kills += 1;
            children.push(spawn_child(&name));
        }
    }
    let elapsed = started.elapsed();
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Executions per job, as recorded by the processors.
    let execs: Vec<String> = cmd(&["LRANGE", &format!("chaos:{name}:exec"), "0", "-1"]).await;
    let mut runs: HashMap<String, u64> = HashMap::new();
    for id in execs {
        *runs.entry(id).or_default() += 1;
    }
    // Stalled events per job, from the queue's own stream.
    let mut stalled: HashMap<String, u64> = HashMap::new();
    for (event, fields) in events(&q).await {
        if event == "stalled" {
            *stalled.entry(fields["jobId"].clone()).or_default() += 1;
        }
    }
    let completed = q.get_completed_count().await.unwrap();
    let failed = q.get_failed_count().await.unwrap();
    let lost = n - completed;
    let extra: u64 = runs.values().map(|c| c - 1).sum();
    let mut unexplained = Vec::new();
    for (id, count) in &runs {
        if count - 1 > stalled.get(id).copied().unwrap_or(0) {
            unexplained.push((id.clone(), *count));
        }
    }
    let completed_ids: Vec<String> = cmd(&["ZRANGE", &k(&q, "completed"), "0", "-1"]).await;
    for id in completed_ids.iter().take(200) {
        let atm: String = cmd(&["HGET", &k(&q, id), "atm"]).await;
        assert_eq!(atm, "1", "job {id} was finished once");
    }
    println!(
        "chaos: jobs={n} kills={kills} elapsed_ms={} lost={lost} failed={failed} executions={} extra_executions={extra} stalled_events={} unexplained={}",
        elapsed.as_millis(),
        runs.values().sum::<u64>(),
        stalled.values().sum::<u64>(),
        unexplained.len()
    );
    assert_eq!(lost, 0);
    assert_eq!(failed, 0);
    assert_eq!(runs.len() as u64, n, "every job ran");
    assert!(unexplained.is_empty(), "extra executions without a stalled event: {unexplained:?}");
}
