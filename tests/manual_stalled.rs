//! The stalled check (PROTOCOL.md §11.3) and deferred failures (§11.6).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::{JobOptions, ParentFailurePolicy, WorkerOptions};
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_job_without_lock_is_recovered_then_failed_after_max_stalled_count() {
    let q = queue("ms-stall").await;
    let w = worker_for(&q, WorkerOptions::default().stalled_interval(Duration::from_millis(100)).max_stalled_count(1))
        .await;
    q.add("s", json!({}), JobOptions::default()).await.unwrap();
    q.add("other", json!({}), JobOptions::default()).await.unwrap();

    // First check marks the active job as a candidate.
    w.get_next_job("t1", now_only()).await.unwrap().unwrap();
    assert!(w.run_stalled_check().await.unwrap().is_empty());
    let cands: Vec<String> = cmd(&["SMEMBERS", &k(&q, "stalled")]).await;
    assert_eq!(cands, vec!["1"]);
    assert!(w.run_stalled_check().await.unwrap().is_empty(), "at most one check per interval");

    // The worker dies: its lock disappears. The next check puts the job back in front.
    cmd::<()>(&["DEL", &k(&q, "1:lock")]).await;
    cmd::<()>(&["DEL", &k(&q, "stalled-check")]).await;
    assert_eq!(w.run_stalled_check().await.unwrap(), vec!["1"]);
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["2", "1"], "RPUSH: served next");
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["stc"], "1");
    assert!(!h.contains_key("defa"));
    let ev = events(&q).await;
    assert!(ev.iter().any(|e| e.0 == "stalled" && e.1["jobId"] == "1"));
    assert!(ev
        .iter()
        .any(|e| e.0 == "waiting" && e.1["jobId"] == "1" && e.1.get("prev").map(String::as_str) == Some("active")));

    // It stalls a second time: now it carries a deferred failure.
    let again = w.get_next_job("t2", now_only()).await.unwrap().unwrap();
    assert_eq!(again.id, "1");
    cmd::<()>(&["DEL", &k(&q, "stalled-check")]).await;
    w.run_stalled_check().await.unwrap();
    cmd::<()>(&["DEL", &k(&q, "1:lock"), &k(&q, "stalled-check")]).await;
    assert_eq!(w.run_stalled_check().await.unwrap(), vec!["1"]);
    let defa: String = cmd(&["HGET", &k(&q, "1"), "defa"]).await;
    assert_eq!(defa, "job stalled more than allowable limit");

    // Whoever picks it up next fails it at once with that reason and moves on.
    let next = w.get_next_job("t3", now_only()).await.unwrap().unwrap();
    assert_eq!(next.id, "2");
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["failedReason"], "job stalled more than allowable limit");
    assert!(!h.contains_key("defa"));
    let failed: Vec<String> = cmd(&["ZRANGE", &k(&q, "failed"), "0", "-1"]).await;
    assert_eq!(failed, vec!["1"]);
    println!("stalled: recovered=1 failed_after_limit=1 lost=0");
}

#[tokio::test]
async fn renewed_locks_are_not_stalled_and_timer_runs() {
    let q = queue("ms-timer").await;
    let w = worker_for(
        &q,
        WorkerOptions::default()
            .stalled_interval(Duration::from_millis(100))
            .lock_duration(Duration::from_millis(2000)),
    )
    .await;
    q.add("s", json!({}), JobOptions::default()).await.unwrap();
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    w.start_stalled_check_timer();
    eventually("the timer marked the active job", Duration::from_secs(3), || async {
        cmd::<Vec<String>>(&["SMEMBERS", &k(&q, "stalled")]).await == vec!["1".to_string()]
    })
    .await;
    assert!(job.extend_lock(Duration::from_millis(2000)).await.unwrap());
    // With its lock alive the job stays active through further checks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let active: Vec<String> = cmd(&["LRANGE", &k(&q, "active"), "0", "-1"]).await;
    assert_eq!(active, vec!["1"]);
    w.stop_stalled_check_timer();
    job.move_to_completed(1, false).await.unwrap();
}

#[tokio::test]
async fn fail_parent_on_failure_propagates() {
    let q = queue("ms-fpof").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    let parent = waiting_parent(&q, "P").await;
    q.add("child", json!({}), JobOptions::default().parent(parent).parent_failure(ParentFailurePolicy::FailParent))
        .await
        .unwrap();
    let pj: String = cmd(&["HGET", &k(&q, "1"), "parent"]).await;
    let pj: serde_json::Value = serde_json::from_str(&pj).unwrap();
    assert_eq!(pj["fpof"], true);
    let child = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    child.move_to_failed(&bullmq::JobError::new("child broke"), false).await.unwrap();
    let unsuccessful: Vec<String> = cmd(&["ZRANGE", &k(&q, "P:unsuccessful"), "0", "-1"]).await;
    assert_eq!(unsuccessful, vec![k(&q, "1")]);
    let defa: String = cmd(&["HGET", &k(&q, "P"), "defa"]).await;
    assert_eq!(defa, format!("child {} failed", k(&q, "1")));
    // The parent is released, picked up and failed at once.
    assert!(w.get_next_job("t2", now_only()).await.unwrap().is_none());
    let reason: String = cmd(&["HGET", &k(&q, "P"), "failedReason"]).await;
    assert_eq!(reason, defa);
}
