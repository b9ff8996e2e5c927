//! Interop, processing side: our manual worker consumes jobs Node added, Node reads the results
//! and decodes the events our finish scripts emit; counts agree on both sides.

mod common;

use std::time::Duration;

use bullmq::worker::FailOutcome;
use bullmq::{JobError, JobState, WorkerOptions};
use common::node::{node, NODE_PACKAGES};
use common::*;
use serde_json::json;

#[tokio::test]
async fn we_process_node_jobs_with_retries_and_node_sees_the_results() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-consume").await;
        let jobs = json!([
            {"name": "ok", "data": {"n": 1}},
            {"name": "flaky", "data": {"n": 2}, "opts": {"attempts": 2, "backoff": {"type": "fixed", "delay": 200}}},
            {"name": "doomed", "data": {"n": 3}, "opts": {"attempts": 1}},
            {"name": "prio", "data": {}, "opts": {"priority": 1}},
        ]);
        node(pkg, q.name(), json!({"cmd": "add", "jobs": jobs})).await;
        let w = worker_for(&q, WorkerOptions::default().name("rusty")).await;
        let mut seen = Vec::new();
        for i in 0..10 {
            let token = format!("t{i}");
            let Some(job) = w.get_next_job(&token, block(2000)).await.unwrap() else {
                break;
            };
            seen.push(job.name.clone());
            match job.name.as_str() {
                "flaky" if job.attempts_made == 0 => {
                    assert!(matches!(
                        job.move_to_failed(&JobError::new("transient"), false).await.unwrap(),
                        FailOutcome::Retried { delay } if delay == Duration::from_millis(200)
                    ));
                }
                "doomed" => {
                    job.move_to_failed(&JobError::new("no way"), false).await.unwrap();
                }
                _ => {
                    job.move_to_completed(json!({"by": "rust", "n": job.data["n"]}), false).await.unwrap();
                }
            }
            if seen.len() == 5 {
                break;
            }
        }
        assert_eq!(seen, vec!["ok", "flaky", "doomed", "prio", "flaky"], "{pkg}");
        let r = node(pkg, q.name(), json!({"cmd": "read", "ids": ["1", "2", "3"]})).await;
        assert_eq!(r["jobs"][0]["returnvalue"], json!({"by": "rust", "n": 1}), "{pkg}");
        assert_eq!(r["jobs"][0]["processedBy"], "rusty");
        assert_eq!(r["jobs"][1]["attemptsMade"], 2);
        let stack = r["jobs"][1]["stacktrace"][0].as_str().unwrap_or_default();
        assert!(
            stack.starts_with("transient\n    at tests/interop_consumer.rs:"),
            "Node reads where it failed: {stack}"
        );
        assert_eq!(r["jobs"][2]["failedReason"], "no way");
        let c = node(pkg, q.name(), json!({"cmd": "counts", "ids": ["1", "3"]})).await;
        assert_eq!(c["counts"]["completed"], 3, "{pkg}");
        assert_eq!(c["counts"]["failed"], 1);
        assert_eq!(c["counts"]["waiting"], 0);
        assert_eq!(c["states"]["3"], "failed");
        let ours = q.get_counts().await.unwrap();
        assert_eq!(ours[&JobState::Completed], 3);
        assert_eq!(ours[&JobState::Failed], 1);

        let names = ["active", "completed", "failed", "retries-exhausted", "delayed", "drained"];
        let r = node(pkg, q.name(), json!({"cmd": "events", "names": names, "expect": 12, "timeoutMs": 5000})).await;
        let evs = r["events"].as_array().unwrap();
        let of = |n: &str| evs.iter().filter(|e| e["event"] == n).cloned().collect::<Vec<_>>();
        assert_eq!(of("active").len(), 5, "{pkg}: {evs:?}");
        assert_eq!(of("completed").len(), 3);
        assert_eq!(
            of("completed")[0]["returnvalue"],
            json!({"by": "rust", "n": 1}),
            "{pkg}: returnvalue parsed as JSON"
        );
        assert_eq!(of("failed").len(), 1, "{pkg}: a retry emits no failed event");
        assert_eq!(of("failed")[0]["failedReason"], "no way");
        assert_eq!(of("retries-exhausted")[0]["attemptsMade"], "1");
        assert_eq!(of("delayed").len(), 1);
        assert!(!of("drained").is_empty());
    }
}

#[tokio::test]
async fn node_sees_our_stalled_recovery() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-stall").await;
        node(pkg, q.name(), json!({"cmd": "add", "jobs": [{"name": "s", "data": {}}]})).await;
        let w = worker_for(&q, WorkerOptions::default().stalled_interval(Duration::from_millis(100))).await;
        w.get_next_job("dead", now_only()).await.unwrap().unwrap();
        w.run_stalled_check().await.unwrap();
        cmd::<()>(&["DEL", &k(&q, "1:lock"), &k(&q, "stalled-check")]).await;
        assert_eq!(w.run_stalled_check().await.unwrap(), vec!["1"]);
        // A Node worker picks the recovered job up and completes it.
        let r = node(pkg, q.name(), json!({"cmd": "work", "expect": 1})).await;
        assert_eq!(r["finished"][0]["state"], "completed", "{pkg}");
        let read = node(pkg, q.name(), json!({"cmd": "read", "ids": ["1"]})).await;
        assert_eq!(read["jobs"][0]["stalledCounter"], 1, "{pkg}");
        let ev =
            node(pkg, q.name(), json!({"cmd": "events", "names": ["stalled"], "expect": 1, "timeoutMs": 3000})).await;
        assert_eq!(ev["events"][0]["jobId"], "1");
    }
}
