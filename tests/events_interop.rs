//! Our QueueEvents and Node's read the same stream the same way: every event type our
//! operations write decodes identically in Node's QueueEvents (6.7.0 and 5.81.5), and what Node's
//! operations write decodes in ours as in Node's. Progress and logs cross both ways; metrics read
//! the same; the events cap is honoured by both writers and `trim_events` trims like Node's.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bullmq::{
    processor, Deduplication, JobError, JobOptions, JobOutcome, KeepJobs, MetricsOptions, MetricsType, Queue,
    QueueEvent, QueueEvents, QueueEventsOptions, QueueOptions, Worker, WorkerEvent, WorkerOptions,
};
use common::node::{node_script, NODE_PACKAGES};
use common::*;
use serde_json::{json, Value};

/// The whole stream as our QueueEvents decodes it.
async fn ours(q: &Queue, expect: usize) -> Vec<QueueEvent> {
    let o = QueueEventsOptions {
        connection: conn_opts(),
        last_event_id: Some("0-0".into()),
        blocking_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let qe = QueueEvents::new(q.name(), o).await.unwrap();
    let mut sub = qe.subscribe();
    let mut out = Vec::new();
    while out.len() < expect {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
            Ok(Some(e)) => out.push(e),
            _ => panic!("our QueueEvents read {} of {expect}: {out:?}", out.len()),
        }
    }
    qe.close().await;
    out
}

/// The whole stream as Node's QueueEvents decodes it, by entry id.
async fn theirs(pkg: &str, q: &Queue, expect: usize) -> HashMap<String, Value> {
    let r = node_script("interop.mjs", pkg, q.name(), json!({"cmd": "events", "expect": expect})).await;
    let evs = r["events"].as_array().unwrap();
    assert_eq!(evs.len(), expect, "{pkg}: Node's QueueEvents read the whole stream");
    evs.iter().map(|e| (e["id"].as_str().unwrap().to_owned(), e.clone())).collect()
}

async fn stream_len(q: &Queue) -> usize {
    cmd::<usize>(&["XLEN", &k(q, "events")]).await
}

/// Asserts that every event decodes the same on both sides; returns the event names seen.
fn compare(pkg: &str, ours: &[QueueEvent], theirs: &HashMap<String, Value>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for e in ours {
        let n = theirs.get(e.id()).unwrap_or_else(|| panic!("{pkg}: Node did not emit {e:?}"));
        assert_eq!(n["event"], e.name(), "{pkg}: {e:?} vs {n}");
        names.insert(e.name().to_owned());
        if let Some(job) = e.job_id() {
            assert_eq!(n["jobId"], job, "{pkg}: {e:?} vs {n}");
        }
        match e {
            QueueEvent::Progress { data, .. } => assert_eq!(&n["data"], data, "{pkg}"),
            QueueEvent::Completed { returnvalue, prev, .. } => {
                assert_eq!(&n["returnvalue"], returnvalue, "{pkg}");
                assert_eq!(n["prev"].as_str(), prev.as_deref(), "{pkg}");
            }
            QueueEvent::Failed { failed_reason, .. } => assert_eq!(n["failedReason"], failed_reason.as_str(), "{pkg}"),
            QueueEvent::Delayed { delay, .. } => assert_eq!(n["delay"], *delay, "{pkg}"),
            QueueEvent::Removed { prev, .. } => assert_eq!(n["prev"].as_str(), prev.as_deref(), "{pkg}"),
            QueueEvent::Waiting { prev, .. } | QueueEvent::Active { prev, .. } => {
                assert_eq!(n["prev"].as_str(), prev.as_deref(), "{pkg}: {e:?}")
            }
            QueueEvent::Deduplicated { deduplication_id, deduplicated_job_id, .. } => {
                assert_eq!(n["deduplicationId"], deduplication_id.as_str(), "{pkg}");
                assert_eq!(n["deduplicatedJobId"], deduplicated_job_id.as_str(), "{pkg}");
            }
            QueueEvent::RetriesExhausted { attempts_made, .. } => {
                assert_eq!(n["attemptsMade"], attempts_made.to_string(), "{pkg}")
            }
            QueueEvent::Cleaned { count, .. } => assert_eq!(n["count"], count.to_string(), "{pkg}"),
            QueueEvent::Other { event, .. } => panic!("{pkg}: undecoded {event}: {e:?}"),
            _ => {}
        }
    }
    names
}

fn tree_opts(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        connection: conn_opts(),
        concurrency,
        drain_delay: Duration::from_millis(200),
        lock_duration: 1000,
        stalled_interval: 300,
        metrics: Some(MetricsOptions { max_data_points: 60 }),
        ..Default::default()
    }
}

#[tokio::test]
async fn node_queue_events_decode_what_we_write() {
    let q = queue("ei-ours").await;
    // Adds: plain, delayed, prioritized, duplicated custom id, deduplicated.
    q.add("plain", json!({"n": 1}), JobOptions::default()).await.unwrap();
    q.add("later", json!({}), JobOptions::default().delay(100)).await.unwrap();
    q.add("prio", json!({}), JobOptions { priority: Some(2), ..Default::default() }).await.unwrap();
    q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    let dedup = JobOptions::default().deduplication(Deduplication::simple("d1"));
    q.add("dedup", json!({}), dedup.clone()).await.unwrap();
    q.add("dedup", json!({}), dedup).await.unwrap();
    let flaky = JobOptions { attempts: Some(2), ..Default::default() }.backoff(bullmq::Backoff::fixed(50));
    q.add("flaky", json!({}), flaky).await.unwrap();
    q.add("fatal", json!({}), JobOptions::default()).await.unwrap();
    let stall = q.add("stall", json!({}), JobOptions::default()).await.unwrap();
    let parent = q.add("parent", json!({}), JobOptions::default()).await.unwrap();

    // Our worker tree: progress (number and object), completions, a retry with backoff, an
    // unrecoverable failure, a stalled job (its lock deleted mid-run), a parent waiting for a
    // child.
    let qc = q.clone();
    let p = processor(move |mut job, ctx| {
        let q = qc.clone();
        async move {
            let err = |e: bullmq::Error| JobError::new(e.to_string());
            ctx.progress(&mut job, 42).await.map_err(err)?;
            ctx.progress(&mut job, json!({"step": "two", "of": 2})).await.map_err(err)?;
            match job.name.as_str() {
                "flaky" if job.attempts_made == 0 => Err(JobError::new("flaky once")),
                "fatal" => Err(JobError::unrecoverable("fatal for good")),
                "stall" if job.attempts_started == 1 => {
                    ctx.cancel.cancelled().await;
                    Ok(JobOutcome::Completed(json!("never stored")))
                }
                "parent" if job.attempts_started == 1 => {
                    let link = bullmq::ParentOptions { id: job.id.clone(), queue: q.qualified_name() };
                    q.add("child", json!({}), JobOptions { parent: Some(link), ..Default::default() })
                        .await
                        .map_err(err)?;
                    Ok(JobOutcome::WaitingChildren)
                }
                _ => Ok(JobOutcome::Completed(json!({"by": "rust", "name": job.name}))),
            }
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, tree_opts(3)).await.unwrap();
    let stall_id = stall.id.as_str();
    eventually("the stall job runs", Duration::from_secs(10), || async {
        w.active_jobs().contains(&stall_id.to_owned())
    })
    .await;
    cmd::<()>(&["DEL", &k(&q, &format!("{stall_id}:lock"))]).await;
    let mut completed = 0;
    // plain, later, prio, custom, dedup, flaky (2nd run), stall (2nd run), child, parent.
    while completed < 9 {
        match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.unwrap().unwrap() {
            WorkerEvent::JobCompleted { .. } => completed += 1,
            WorkerEvent::Error { message } => panic!("{message}"),
            _ => {}
        }
    }
    w.close(Duration::from_secs(2)).await;
    assert_eq!(q.get_job_state(&parent.id).await.unwrap(), bullmq::JobState::Completed);
    // Admin: pause, resume, remove, clean.
    q.pause().await.unwrap();
    q.resume().await.unwrap();
    q.remove_job("1", false).await.unwrap();
    let cleaned = q.clean(0, 10, bullmq::JobState::Failed).await.unwrap();
    assert_eq!(cleaned.len(), 1);

    let n = stream_len(&q).await;
    let our_events = ours(&q, n).await;
    for pkg in NODE_PACKAGES {
        let names = compare(pkg, &our_events, &theirs(pkg, &q, n).await);
        for expected in [
            "added",
            "waiting",
            "active",
            "progress",
            "completed",
            "failed",
            "delayed",
            "stalled",
            "removed",
            "drained",
            "paused",
            "resumed",
            "duplicated",
            "deduplicated",
            "retries-exhausted",
            "waiting-children",
            "cleaned",
        ] {
            assert!(names.contains(expected), "{pkg}: no {expected} event written: {names:?}");
        }
        println!("events ours->node {pkg}: entries={n} types={} identical=true", names.len());
    }
}

#[tokio::test]
async fn our_queue_events_decode_what_node_writes() {
    for pkg in NODE_PACKAGES {
        let q = queue("ei-node").await;
        let r = node_script("interop.mjs", pkg, q.name(), json!({"cmd": "scenario", "metrics": 60})).await;
        let n = stream_len(&q).await;
        let our_events = ours(&q, n).await;
        let names = compare(pkg, &our_events, &theirs(pkg, &q, n).await);
        for expected in ["added", "progress", "completed", "failed", "delayed", "removed", "cleaned", "duplicated"] {
            assert!(names.contains(expected), "{pkg}: {names:?}");
        }
        // Node's progress (a number, then an object) reads back the same in our events.
        let progress: Vec<&Value> = our_events
            .iter()
            .filter_map(|e| match e {
                QueueEvent::Progress { data, .. } => Some(data),
                _ => None,
            })
            .collect();
        assert!(progress.contains(&&json!(50)) && progress.contains(&&json!({"step": "two", "of": 2})), "{pkg}");
        // Node's log lines, read by us.
        let prio = r["ids"]["prio"].as_str().unwrap();
        let (logs, count) = q.get_job_logs(prio, 0, -1, true).await.unwrap();
        assert_eq!(logs, vec!["node log for prio".to_owned()], "{pkg}");
        assert_eq!(count, 1);
        // Node's metrics (its worker recorded them), read by us as Node reads them.
        for kind in [MetricsType::Completed, MetricsType::Failed] {
            let mine = q.get_metrics(kind, 0, -1).await.unwrap();
            let t = if kind == MetricsType::Completed { "completed" } else { "failed" };
            let m =
                node_script("interop.mjs", pkg, q.name(), json!({"cmd": "metrics", "type": t, "start": 0, "end": -1}))
                    .await;
            assert_eq!(m["metrics"]["meta"]["count"], mine.meta.count, "{pkg} {t}");
            assert_eq!(m["metrics"]["count"], mine.count, "{pkg} {t}");
            let data: Vec<u64> = serde_json::from_value(m["metrics"]["data"].clone()).unwrap();
            assert_eq!(data, mine.data, "{pkg} {t}");
        }
        println!("events node->ours {pkg}: entries={n} types={} identical=true logs=1 metrics=identical", names.len());
    }
}

#[tokio::test]
async fn our_logs_and_metrics_read_by_node() {
    for pkg in NODE_PACKAGES {
        let q = queue("ei-logs").await;
        q.add("ok", json!({}), JobOptions::default()).await.unwrap();
        q.add("bad", json!({}), JobOptions::default()).await.unwrap();
        let p = processor(|job, ctx| async move {
            ctx.log(&job, &format!("rust log for {}", job.name)).await.map_err(|e| JobError::new(e.to_string()))?;
            match job.name.as_str() {
                "ok" => Ok(JobOutcome::Completed(json!(1))),
                _ => Err(JobError::new("bad")),
            }
        });
        let (w, _rx) = Worker::spawn(q.name(), p, tree_opts(1)).await.unwrap();
        eventually("both finished", Duration::from_secs(10), || async {
            q.get_completed_count().await.unwrap() + q.get_failed_count().await.unwrap() == 2
        })
        .await;
        w.close(Duration::from_secs(1)).await;
        let l = node_script("interop.mjs", pkg, q.name(), json!({"cmd": "logs", "id": "1"})).await;
        assert_eq!(l["logs"], json!(["rust log for ok"]), "{pkg}");
        assert_eq!(l["count"], 1);
        for (kind, t) in [(MetricsType::Completed, "completed"), (MetricsType::Failed, "failed")] {
            let mine = q.get_metrics(kind, 0, -1).await.unwrap();
            let m =
                node_script("interop.mjs", pkg, q.name(), json!({"cmd": "metrics", "type": t, "start": 0, "end": -1}))
                    .await;
            assert_eq!(m["metrics"]["meta"]["count"], 1, "{pkg} {t}");
            assert_eq!(m["metrics"]["meta"]["count"], mine.meta.count, "{pkg} {t}");
            let data: Vec<u64> = serde_json::from_value(m["metrics"]["data"].clone()).unwrap();
            assert_eq!(data, mine.data, "{pkg} {t}");
        }
        println!("logs+metrics ours->node {pkg}: logs=1 completed=1 failed=1 identical=true");
    }
}

#[tokio::test]
async fn the_events_cap_is_honoured_by_both_writers_and_trim_events_trims() {
    let cap = 200u64;
    let q = Queue::new(
        &qname("ei-cap"),
        QueueOptions { connection: conn_opts(), max_len_events: cap, ..Default::default() },
    )
    .await
    .unwrap();
    let meta: String = cmd(&["HGET", &k(&q, "meta"), "opts.maxLenEvents"]).await;
    assert_eq!(meta, cap.to_string(), "stored where Node reads it");
    for i in 0..1500 {
        q.add("r", json!({"i": i}), JobOptions::default().remove_on_complete(KeepJobs::Bool(true))).await.unwrap();
    }
    // `MAXLEN ~` trims whole stream nodes (100 entries by default), so allow one node more.
    let ours_len = stream_len(&q).await as u64;
    assert!(ours_len <= cap + 100, "our adds keep the stream near the cap: {ours_len}");
    // Node's adds on the same queue honour the cap too (Node reads it from meta per add).
    let r = node_script("interop.mjs", "bullmq", q.name(), json!({"cmd": "addMany", "add": 800, "maxLenEvents": cap}))
        .await;
    assert_eq!(r["added"], 800);
    let node_len = stream_len(&q).await as u64;
    assert!(node_len <= cap + 100, "Node's adds keep the stream near the cap: {node_len}");
    // A lower cap applied now.
    let trimmed = q.trim_events(50).await.unwrap();
    let after = stream_len(&q).await as u64;
    assert!(trimmed > 0 && after <= 150, "trimmed={trimmed} after={after}");
    println!("events-cap: cap={cap} ours_len={ours_len} node_len={node_len} trim_events(50)={trimmed} after={after}");
}
