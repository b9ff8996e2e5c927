//! Mixed fleets: a Node BullMQ worker and our worker tree on one queue; every job completes
//! exactly once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::{processor, BulkJob, JobOptions, JobOutcome, Worker, WorkerOptions};
use common::node::{node, NODE_PACKAGES};
use common::*;
use serde_json::json;

#[tokio::test]
async fn node_and_rust_workers_share_a_queue() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-fleet").await;
        let n = 400u64;
        let jobs = (0..n).map(|i| BulkJob::new("j", json!({"i": i}), JobOptions::default()).unwrap()).collect();
        q.add_bulk(jobs).await.unwrap();
        let p = processor(|_job, _ctx| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(JobOutcome::Completed(json!("rust")))
        });
        let opts = WorkerOptions {
            connection: conn_opts(),
            concurrency: 4,
            name: Some("rust".into()),
            drain_delay: Duration::from_millis(200),
            ..Default::default()
        };
        // Node starts first (its process takes a moment to boot), then ours joins.
        let name = q.name().to_owned();
        let node_side = tokio::spawn(async move {
            let args = json!({"cmd": "work", "expect": n, "concurrency": 4, "delayMs": 5, "returnValue": "node", "timeoutMs": 5000});
            node(pkg, &name, args).await
        });
        eventually("the Node worker took jobs", Duration::from_secs(10), || async {
            q.get_completed_count().await.unwrap() + q.get_active_count().await.unwrap() > 0
        })
        .await;
        let (w, _events) = Worker::spawn(q.name(), p, opts).await.unwrap();
        let by_node = node_side.await.unwrap();
        eventually("every job completed", Duration::from_secs(20), || async {
            q.get_completed_count().await.unwrap() == n
        })
        .await;
        w.close(Duration::from_secs(2)).await;
        let done = q.get_completed(0, -1).await.unwrap();
        let mut by: HashMap<String, u64> = HashMap::new();
        for j in &done {
            assert_eq!(j.attempts_made, 1, "{pkg}: job {} finished once", j.id);
            *by.entry(j.returnvalue.as_ref().and_then(|v| v.as_str()).unwrap_or("?").to_owned()).or_default() += 1;
        }
        let node_count = by_node["finished"].as_array().unwrap().len() as u64;
        assert_eq!(by.get("node").copied().unwrap_or(0), node_count, "{pkg}");
        assert!(by.get("rust").copied().unwrap_or(0) > 0 && node_count > 0, "{pkg}: both workers took jobs: {by:?}");
        assert_eq!(by.values().sum::<u64>(), n);
        println!(
            "fleet {pkg}: jobs={n} rust={} node={node_count} duplicates=0 lost=0",
            by.get("rust").copied().unwrap_or(0)
        );
    }
}
