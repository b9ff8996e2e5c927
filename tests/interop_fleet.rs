//! Mixed fleets: a Node BullMQ worker and our worker tree on one queue (each job completes
//! exactly once, and Node's QueueEvents decodes what our tree wrote), and our tree finishing
//! jobs a Node producer added with retries and backoff.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bullmq::{processor, BulkJob, JobError, JobOptions, JobOutcome, Queue, QueueOptions, Worker, WorkerOptions};
use common::node::{node, NODE_PACKAGES};
use common::*;
use serde_json::json;

fn tree_opts() -> WorkerOptions {
    WorkerOptions::new(conn()).concurrency(4).name("rust").drain_delay(Duration::from_millis(200))
}

#[tokio::test]
async fn node_and_rust_workers_share_a_queue() {
    for pkg in NODE_PACKAGES {
        let q = Queue::new(&qname("io-fleet"), QueueOptions::new(conn()).max_len_events(100_000)).await.unwrap();
        let n = 2000u64;
        let jobs: Vec<BulkJob> =
            (0..n).map(|i| BulkJob::new("j", json!({"i": i}), JobOptions::default()).unwrap()).collect();
        for chunk in jobs.chunks(500) {
            q.add_bulk(chunk.to_vec()).await.unwrap();
        }
        let p = processor(|_job, _ctx| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(JobOutcome::Completed(json!("rust")))
        });
        // Node starts first (its process takes a moment to boot), then ours joins.
        let name = q.name().to_owned();
        let node_side = tokio::spawn(async move {
            let args = json!({"cmd": "work", "expect": n, "concurrency": 4, "delayMs": 2, "returnValue": "node", "timeoutMs": 6000});
            node(pkg, &name, args).await
        });
        eventually("the Node worker took jobs", Duration::from_secs(10), || async {
            q.get_completed_count().await.unwrap() + q.get_active_count().await.unwrap() > 0
        })
        .await;
        let (w, _events) = Worker::spawn(q.name(), p, tree_opts()).await.unwrap();
        let by_node = node_side.await.unwrap();
        eventually("every job completed", Duration::from_secs(30), || async {
            q.get_completed_count().await.unwrap() == n
        })
        .await;
        w.close(Duration::from_secs(2)).await;
        let done = q.get_completed(0, -1).await.unwrap();
        let mut by: HashMap<String, u64> = HashMap::new();
        let mut returned: HashMap<String, String> = HashMap::new();
        for j in &done {
            assert_eq!(j.attempts_made, 1, "{pkg}: job {} finished once", j.id);
            let who = j.returnvalue.as_ref().and_then(|v| v.as_str()).unwrap_or("?").to_owned();
            *by.entry(who.clone()).or_default() += 1;
            returned.insert(j.id.clone(), who);
        }
        let node_count = by_node["finished"].as_array().unwrap().len() as u64;
        let (rust_count, node_stored) = (by.get("rust").copied().unwrap_or(0), by.get("node").copied().unwrap_or(0));
        assert_eq!(node_stored, node_count, "{pkg}");
        assert!(rust_count > 0 && node_count > 0, "{pkg}: both workers took jobs: {by:?}");
        assert_eq!(by.values().sum::<u64>(), n);

        // Node's QueueEvents reads the whole stream: one `completed` per job, with the return
        // value of whichever worker ran it (ours decoded by Node as JSON like its own).
        let r = node(pkg, q.name(), json!({"cmd": "events", "names": ["completed"], "expect": n, "timeoutMs": 15000}))
            .await;
        let evs = r["events"].as_array().unwrap();
        let mut seen = HashSet::new();
        for e in evs {
            let id = e["jobId"].as_str().unwrap().to_owned();
            assert_eq!(e["returnvalue"].as_str(), returned.get(&id).map(String::as_str), "{pkg}: job {id}");
            assert!(seen.insert(id), "{pkg}: one completed event per job");
        }
        assert_eq!(seen.len() as u64, n, "{pkg}: Node saw every completion");
        println!(
            "fleet {pkg}: jobs={n} rust={rust_count} node={node_count} duplicates=0 lost=0 node_queue_events_completed={}",
            seen.len()
        );
    }
}

#[tokio::test]
async fn our_tree_finishes_node_jobs_with_retries_and_backoff() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-tree-retry").await;
        let jobs = json!([
            {"name": "flaky", "data": {"fails": 2}, "opts": {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}},
            {"name": "fixed", "data": {"fails": 1}, "opts": {"attempts": 2, "backoff": {"type": "fixed", "delay": 150}}},
            {"name": "doomed", "data": {"fails": 9}, "opts": {"attempts": 2, "backoff": 50}},
            {"name": "fine", "data": {"fails": 0}},
        ]);
        node(pkg, q.name(), json!({"cmd": "add", "jobs": jobs})).await;
        let p = processor(|job, _ctx| async move {
            if job.attempts_made < job.data["fails"].as_u64().unwrap_or(0) {
                return Err(JobError::new(format!("attempt {} of {}", job.attempts_made + 1, job.name)));
            }
            Ok(JobOutcome::Completed(json!({"name": job.name, "attempts": job.attempts_made + 1})))
        });
        let (w, _events) = Worker::spawn(q.name(), p, tree_opts()).await.unwrap();
        eventually("all finished", Duration::from_secs(15), || async {
            q.get_completed_count().await.unwrap() == 3 && q.get_failed_count().await.unwrap() == 1
        })
        .await;
        w.close(Duration::from_secs(2)).await;
        let r = node(pkg, q.name(), json!({"cmd": "read", "ids": ["1", "2", "3", "4"]})).await;
        let jobs = r["jobs"].as_array().unwrap();
        assert_eq!(jobs[0]["returnvalue"], json!({"name": "flaky", "attempts": 3}), "{pkg}");
        assert_eq!(jobs[0]["attemptsMade"], 3);
        assert_eq!(jobs[0]["stacktrace"].as_array().unwrap().len(), 2, "{pkg}: one stack entry per failure");
        assert_eq!(jobs[1]["attemptsMade"], 2);
        assert_eq!(jobs[2]["failedReason"], "attempt 2 of doomed");
        assert_eq!(jobs[2]["attemptsMade"], 2);
        assert_eq!(jobs[3]["processedBy"], "rust");
        // The exponential backoff waited 100 then 200 ms between the attempts.
        let flaky_span = jobs[0]["finishedOn"].as_u64().unwrap() - jobs[0]["timestamp"].as_u64().unwrap();
        assert!(flaky_span >= 300, "{pkg}: backoff honoured ({flaky_span} ms)");
        let names = ["failed", "retries-exhausted", "delayed", "completed"];
        let r = node(pkg, q.name(), json!({"cmd": "events", "names": names, "expect": 9, "timeoutMs": 5000})).await;
        let evs = r["events"].as_array().unwrap();
        let count = |n: &str| evs.iter().filter(|e| e["event"] == n).count();
        assert_eq!(count("completed"), 3, "{pkg}: {evs:?}");
        assert_eq!(count("failed"), 1);
        assert_eq!(count("retries-exhausted"), 1);
        assert_eq!(count("delayed"), 4, "{pkg}: one per retry with backoff");
        println!("tree-consumes-node {pkg}: jobs=4 completed=3 failed=1 retries=4 flaky_span_ms={flaky_span}");
    }
}
