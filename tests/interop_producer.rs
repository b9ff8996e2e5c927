//! Interop with the real Node BullMQ (6.7.0 and 5.81.5): jobs added by either side read back
//! identically by the other, our jobs processed by Node workers, our events decoded by Node.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use bullmq::{Backoff, Deduplication, JobOptions, KeepJobs};
use common::node::{node, NODE_PACKAGES};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn node_added_jobs_read_back_identically() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-node-add").await;
        let ts = 1_700_000_000_000u64;
        let jobs = json!([
            {"name": "plain", "data": {"a": [1, 2, {"b": "ü/x"}]}},
            {"name": "full", "data": {"n": 1}, "opts": {
                "attempts": 3, "backoff": {"type": "exponential", "delay": 1000, "jitter": 0.5},
                "removeOnComplete": {"age": 3600, "count": 10}, "removeOnFail": 5, "keepLogs": 10,
                "stackTraceLimit": 3, "priority": 7, "timestamp": ts, "jobId": "custom-1"}},
            {"name": "delayed", "data": {}, "opts": {"delay": 60000, "lifo": true, "backoff": 250}},
            {"name": "dedup", "data": {}, "opts": {"deduplication": {"id": "d1", "ttl": 5000}, "removeOnComplete": true}},
        ]);
        let added = node(pkg, q.name(), json!({"cmd": "add", "jobs": jobs})).await;
        let ids: Vec<String> =
            added["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();

        let plain = q.get_job(&ids[0]).await.unwrap().unwrap();
        assert_eq!(plain.name, "plain");
        assert_eq!(plain.data, json!({"a": [1, 2, {"b": "ü/x"}]}));
        assert_eq!(plain.opts.attempts, Some(0), "{pkg}: Node always stores attempts");

        let full = q.get_job("custom-1").await.unwrap().unwrap();
        assert_eq!(full.priority, 7);
        assert_eq!(full.timestamp, ts);
        let o = &full.opts;
        assert_eq!(o.attempts, Some(3));
        assert_eq!(o.backoff, Some(Backoff::exponential(Duration::from_secs(1)).with_jitter(0.5)));
        assert_eq!(
            o.remove_on_complete,
            Some(KeepJobs::Options { age: Some(Duration::from_secs(3600)), count: Some(10), limit: None })
        );
        assert_eq!(o.remove_on_fail, Some(KeepJobs::Count(5)));
        assert_eq!(o.keep_logs, Some(10), "{pkg}: kl read back as keep_logs");
        assert_eq!(o.stack_trace_limit, Some(3));
        assert_eq!(o.job_id.as_deref(), Some("custom-1"));

        let delayed = q.get_job(&ids[2]).await.unwrap().unwrap();
        assert_eq!(delayed.delay, 60_000);
        assert!(delayed.opts.lifo);
        assert_eq!(
            delayed.opts.backoff,
            Some(Backoff::fixed(Duration::from_millis(250))),
            "{pkg}: a bare number is fixed"
        );

        let dedup = q.get_job(&ids[3]).await.unwrap().unwrap();
        assert_eq!(dedup.deduplication_id.as_deref(), Some("d1"));
        assert_eq!(dedup.opts.deduplication, Some(Deduplication::throttle("d1", Duration::from_secs(5))));
        assert_eq!(dedup.opts.remove_on_complete, Some(KeepJobs::Bool(true)));
    }
}

#[tokio::test]
async fn our_jobs_read_back_identically_by_node() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-rust-add").await;
        let opts = JobOptions::default()
            .keep_logs(10)
            .stack_trace_limit(3)
            .timestamp(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000))
            .attempts(3)
            .backoff(Backoff::exponential(Duration::from_secs(1)).with_jitter(0.5))
            .remove_on_complete(KeepJobs::Options {
                age: Some(Duration::from_secs(3600)),
                count: Some(10),
                limit: None,
            })
            .remove_on_fail(KeepJobs::Count(5))
            .priority(4)
            .job_id("mine-1");
        q.add("full", json!({"x": [1, "two", null]}), opts).await.unwrap();
        q.add(
            "d",
            json!({}),
            JobOptions::default().delay(Duration::from_secs(30)).deduplication(Deduplication::simple("dd")),
        )
        .await
        .unwrap();
        let r = node(pkg, q.name(), json!({"cmd": "read", "ids": ["mine-1", "2"]})).await;
        let full = &r["jobs"][0];
        assert_eq!(full["name"], "full");
        assert_eq!(full["data"], json!({"x": [1, "two", null]}));
        assert_eq!(full["priority"], 4);
        assert_eq!(full["timestamp"], 1_700_000_000_000u64);
        assert_eq!(full["attemptsMade"], 0);
        let o = &full["opts"];
        assert_eq!(o["attempts"], 3);
        assert_eq!(o["backoff"], json!({"type": "exponential", "delay": 1000, "jitter": 0.5}));
        assert_eq!(o["removeOnComplete"], json!({"age": 3600, "count": 10}));
        assert_eq!(o["removeOnFail"], 5);
        assert_eq!(o["keepLogs"], 10, "{pkg}: Node expands kl");
        assert_eq!(o["stackTraceLimit"], 3);
        let d = &r["jobs"][1];
        assert_eq!(d["delay"], 30_000);
        assert_eq!(d["deduplicationId"], "dd");
        assert_eq!(d["opts"]["deduplication"]["id"], "dd");
        let counts = node(pkg, q.name(), json!({"cmd": "counts", "ids": ["mine-1", "2"]})).await;
        assert_eq!(counts["states"]["mine-1"], "prioritized");
        assert_eq!(counts["states"]["2"], "delayed");
        assert_eq!(counts["counts"]["prioritized"], 1);
        assert_eq!(counts["counts"]["delayed"], 1);
    }
}

#[tokio::test]
async fn node_worker_processes_our_jobs_in_order() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-order").await;
        q.add("p5", json!({}), JobOptions::default().priority(5)).await.unwrap();
        q.add("p1", json!({}), JobOptions::default().priority(1)).await.unwrap();
        q.add("f1", json!({}), JobOptions::default()).await.unwrap();
        q.add("f2", json!({}), JobOptions::default()).await.unwrap();
        q.add("lifo", json!({}), JobOptions::default().lifo(true)).await.unwrap();
        let added_at = now();
        q.add("late", json!({}), JobOptions::default().delay(Duration::from_millis(1500))).await.unwrap();
        let r = node(pkg, q.name(), json!({"cmd": "work", "expect": 6})).await;
        let order: Vec<&str> = r["order"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(order, vec!["lifo", "f1", "f2", "p1", "p5", "late"], "{pkg}");
        let late_at = r["order"][5]["at"].as_u64().unwrap();
        assert!(late_at >= added_at + 1500, "{pkg}: the delay was honoured");
        let done = q.get_job("3").await.unwrap().unwrap();
        assert_eq!(done.returnvalue, Some(json!({"done": "3"})));
        assert_eq!(done.attempts_made, 1);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test]
async fn node_worker_retries_our_jobs_with_backoff_and_applies_retention() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-retry").await;
        let opts = JobOptions::default()
            .attempts(3)
            .backoff(Backoff::fixed(Duration::from_millis(200)))
            .remove_on_fail(KeepJobs::Count(1));
        q.add("r", json!({}), opts.clone()).await.unwrap();
        q.add("gone", json!({}), JobOptions::default().remove_on_complete(KeepJobs::Bool(true))).await.unwrap();
        let r = node(pkg, q.name(), json!({"cmd": "work", "expect": 2, "failTimes": 2, "failOnly": ["r"]})).await;
        let attempts: Vec<u64> = r["order"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["id"] == "1")
            .map(|o| o["attemptsMade"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, vec![0, 1, 2], "{pkg}");
        let job = q.get_job("1").await.unwrap().unwrap();
        assert_eq!(job.attempts_made, 3);
        assert_eq!(job.stacktrace.len(), 2);
        assert!(q.get_job("2").await.unwrap().is_none(), "{pkg}: removed on complete: {r}");
        let delayed = events(&q).await.into_iter().filter(|e| e.0 == "delayed").count();
        assert_eq!(delayed, 2, "{pkg}: two retries with backoff");

        // Unrecoverable failure and retention by count on fail.
        let q = queue("io-fail").await;
        for _ in 0..2 {
            q.add("f", json!({}), opts.clone()).await.unwrap();
        }
        node(pkg, q.name(), json!({"cmd": "work", "expect": 2, "failTimes": 9, "unrecoverable": true})).await;
        let failed: Vec<String> = cmd(&["ZRANGE", &k(&q, "failed"), "0", "-1"]).await;
        assert_eq!(failed, vec!["2"], "{pkg}: remove_on_fail keeps the newest one");
        assert!(!events(&q).await.iter().any(|e| e.0 == "retries-exhausted"), "{pkg}: attempts were left");
    }
}

#[tokio::test]
async fn dedup_modes_process_one_job_in_node() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-dedup").await;
        let a =
            q.add("s", json!({"v": 1}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
        let b =
            q.add("s", json!({"v": 2}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
        assert_eq!(a.id, b.id);
        let de = Deduplication::debounce("d", Duration::from_secs(10));
        q.add("d", json!({"v": 1}), JobOptions::default().delay(Duration::from_millis(300)).deduplication(de.clone()))
            .await
            .unwrap();
        let last = q
            .add("d", json!({"v": 2}), JobOptions::default().delay(Duration::from_millis(300)).deduplication(de))
            .await
            .unwrap();
        let r = node(pkg, q.name(), json!({"cmd": "work", "expect": 2})).await;
        let ids: Vec<&str> = r["order"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![a.id.as_str(), last.id.as_str()], "{pkg}");
        // The simple key was released when the owner completed.
        assert_eq!(q.get_deduplication_job_id("s").await.unwrap(), None, "{pkg}");
    }
}

#[tokio::test]
async fn node_queue_events_decode_our_events() {
    for pkg in NODE_PACKAGES {
        let q = queue("io-events").await;
        q.add("a", json!({}), JobOptions::default()).await.unwrap();
        q.add("a", json!({}), JobOptions::default().job_id("x1")).await.unwrap();
        q.add("a", json!({}), JobOptions::default().job_id("x1")).await.unwrap();
        let d = q.add("late", json!({}), JobOptions::default().delay(Duration::from_secs(60))).await.unwrap();
        q.add("s", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
        q.add("s", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
        let p = q.get_job("1").await.unwrap().unwrap();
        q.update_job_progress(&p.id, json!({"pct": 5})).await.unwrap();
        q.remove_job("1", false).await.unwrap();
        let names = ["added", "waiting", "delayed", "duplicated", "deduplicated", "progress", "removed"];
        let r = node(pkg, q.name(), json!({"cmd": "events", "names": names, "expect": 12})).await;
        let evs = r["events"].as_array().unwrap();
        let find = |name: &str| evs.iter().filter(|e| e["event"] == name).cloned().collect::<Vec<Value>>();
        assert_eq!(find("added").len(), 4, "{pkg}: {evs:?}");
        assert_eq!(evs.len(), 12, "{pkg}: {evs:?}");
        assert_eq!(find("added")[0]["name"], "a");
        assert_eq!(find("duplicated")[0]["jobId"], "x1");
        let delayed = &find("delayed")[0];
        assert_eq!(delayed["jobId"], d.id.as_str());
        assert!(delayed["delay"].as_u64().unwrap() > now(), "{pkg}: absolute due time, decoded as a number");
        let dd = &find("deduplicated")[0];
        assert_eq!(dd["deduplicationId"], "s");
        assert_eq!(find("progress")[0]["data"], json!({"pct": 5}), "{pkg}: progress data parsed as JSON");
        assert_eq!(find("removed")[0]["prev"], "wait");
    }
}
