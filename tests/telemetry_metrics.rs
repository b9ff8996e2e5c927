//! Job metrics through the `metrics` facade, with BullMQ's names and labels, seen by a
//! debugging recorder while a worker completes, retries, delays and fails jobs.
#![cfg(feature = "metrics")]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bullmq::telemetry::metric_names as names;
use bullmq::{processor, JobError, JobOptions, JobOutcome, JobState, Worker};
use common::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

/// (metric name, job name or jobs state, job state) -> value, for the labels of queue `queue`.
fn collect(snapshot: metrics_util::debugging::Snapshot, queue: &str) -> HashMap<(String, String, String), DebugValue> {
    let mut out = HashMap::new();
    for (key, _, _, value) in snapshot.into_vec() {
        let key = key.key();
        let labels: HashMap<&str, &str> = key.labels().map(|l| (l.key(), l.value())).collect();
        if labels.get("bullmq.queue.name") != Some(&queue) {
            continue;
        }
        let which = labels.get("bullmq.job.name").or(labels.get("bullmq.queue.jobs.state")).unwrap_or(&"");
        if let Some(state) = labels.get("bullmq.job.state") {
            assert!(key.name().ends_with(&state.replace('-', "_")) || key.name() == names::JOB_DURATION, "{key:?}");
        }
        let state = labels.get("bullmq.job.state").unwrap_or(&"");
        out.insert((key.name().to_owned(), which.to_string(), state.to_string()), value);
    }
    out
}

#[tokio::test]
async fn counters_and_duration_after_jobs_finish() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let q = queue("tel-metrics").await;
    q.add("ok", json!({}), JobOptions::default()).await.unwrap();
    q.add("bad", json!({}), JobOptions::default().attempts(2)).await.unwrap();
    q.add("later", json!({}), JobOptions::default()).await.unwrap();
    let delayed_once = Arc::new(AtomicBool::new(false));
    let work = processor(move |job, _ctx| {
        let delayed_once = delayed_once.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match job.name.as_str() {
                "bad" => Err(JobError::new("nope")),
                "later" if !delayed_once.swap(true, Ordering::SeqCst) => {
                    Ok(JobOutcome::Delay(Duration::from_millis(10)))
                }
                _ => Ok(JobOutcome::Completed(json!(1))),
            }
        }
    });
    let opts = worker_opts(&q).concurrency(3);
    let (w, _events) = Worker::spawn(q.name(), work, opts).await.unwrap();
    eventually("ok and later completed, bad failed", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap() == 2 && q.get_failed_count().await.unwrap() == 1
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let counts = q.record_job_counts_metric(&[JobState::Completed, JobState::Failed]).await.unwrap();
    assert_eq!(counts[&JobState::Completed], 2);

    let m = collect(snapshotter.snapshot(), q.name());
    let get = |name: &str, which: &str, state: &str| m.get(&(name.to_owned(), which.to_owned(), state.to_owned()));
    let counter = |name: &str, job: &str, state: &str| match get(name, job, state) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("counter {name} for {job}: {other:?} in {m:?}"),
    };
    assert_eq!(counter(names::JOBS_COMPLETED, "ok", "completed"), 1);
    assert_eq!(counter(names::JOBS_COMPLETED, "later", "completed"), 1);
    assert_eq!(counter(names::JOBS_DELAYED, "later", "delayed"), 1);
    assert_eq!(counter(names::JOBS_RETRIED, "bad", "retried"), 1);
    assert_eq!(counter(names::JOBS_FAILED, "bad", "failed"), 1);
    let Some(DebugValue::Histogram(ok_ms)) = get(names::JOB_DURATION, "ok", "completed") else {
        panic!("no duration for ok: {m:?}");
    };
    assert_eq!(ok_ms.len(), 1);
    assert!(ok_ms[0].0 >= 20.0 && ok_ms[0].0 < 5000.0, "duration {ok_ms:?} ms covers the 20 ms processor");
    for state in ["retried", "failed"] {
        let Some(DebugValue::Histogram(bad_ms)) = get(names::JOB_DURATION, "bad", state) else {
            panic!("no duration for bad when {state}: {m:?}");
        };
        assert_eq!(bad_ms.len(), 1, "one per move");
    }
    let gauge = |state: &str| match get(names::QUEUE_JOBS, state, "") {
        Some(DebugValue::Gauge(v)) => v.0,
        other => panic!("gauge for {state}: {other:?}"),
    };
    assert_eq!((gauge("completed"), gauge("failed")), (2.0, 1.0));
    println!(
        "metrics: completed=2 failed=1 retried=1 delayed=1 duration_ok_ms={:.0} duration_samples_bad=2 gauge_completed=2",
        ok_ms[0].0
    );
}
