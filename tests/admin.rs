//! Queue administration, getters and job operations: the Redis state and events each leaves.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::{Deduplication, JobError, JobOptions, JobState, WorkerOptions};
use common::*;
use serde_json::json;

async fn add(q: &bullmq::Queue, n: usize) {
    for i in 0..n {
        q.add("j", json!({"i": i}), JobOptions::default()).await.unwrap();
    }
}

#[tokio::test]
async fn pause_and_resume() {
    let q = queue("adm-pause").await;
    add(&q, 1).await;
    q.pause().await.unwrap();
    assert!(q.is_paused().await.unwrap());
    let marker: i64 = cmd(&["EXISTS", &k(&q, "marker")]).await;
    assert_eq!(marker, 0);
    add(&q, 1).await;
    let marker: i64 = cmd(&["EXISTS", &k(&q, "marker")]).await;
    assert_eq!(marker, 0, "no wake-up while paused");
    let w = worker_for(&q, WorkerOptions::default()).await;
    assert!(w.get_next_job("t", now_only()).await.unwrap().is_none());
    q.resume().await.unwrap();
    assert!(!q.is_paused().await.unwrap());
    let marker: Vec<String> = cmd(&["ZRANGE", &k(&q, "marker"), "0", "-1"]).await;
    assert_eq!(marker, vec!["0"]);
    let names: Vec<String> =
        events(&q).await.into_iter().map(|e| e.0).filter(|e| e == "paused" || e == "resumed").collect();
    assert_eq!(names, vec!["paused", "resumed"]);
    assert!(w.get_next_job("t", now_only()).await.unwrap().is_some());
}

#[tokio::test]
async fn resume_merges_a_legacy_paused_list() {
    let q = queue("adm-legacy").await;
    add(&q, 1).await; // id 1 in wait
                      // A 5.x producer left jobs in `paused` (newest at the head).
    for id in ["old1", "old2"] {
        raw_job(&q, id, "legacy").await;
        cmd::<()>(&["LPUSH", &k(&q, "paused"), id]).await;
    }
    assert_eq!(q.get_job_state("old1").await.unwrap(), JobState::Waiting, "legacy paused counts as waiting");
    q.pause().await.unwrap();
    q.resume().await.unwrap();
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["1", "old2", "old1"], "legacy jobs are served first, oldest first");
    let legacy: i64 = cmd(&["EXISTS", &k(&q, "paused")]).await;
    assert_eq!(legacy, 0);
}

#[tokio::test]
async fn drain_keeps_delayed_unless_asked() {
    let q = queue("adm-drain").await;
    add(&q, 2).await;
    q.add("p", json!({}), JobOptions::default().priority(3)).await.unwrap();
    q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(60_000))).await.unwrap();
    assert_eq!(q.drain(false).await.unwrap(), 3);
    let n: i64 = cmd(&["EXISTS", &k(&q, "1"), &k(&q, "2"), &k(&q, "3"), &k(&q, "wait"), &k(&q, "prioritized")]).await;
    assert_eq!(n, 0);
    assert_eq!(q.get_delayed_count().await.unwrap(), 1);
    assert_eq!(q.drain(true).await.unwrap(), 1);
    let n: i64 = cmd(&["EXISTS", &k(&q, "4"), &k(&q, "delayed")]).await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn obliterate_requires_force_with_active_jobs() {
    let q = queue("adm-obl").await;
    add(&q, 3).await;
    q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(60_000))).await.unwrap();
    let w = worker_for(&q, WorkerOptions::default()).await;
    let job = w.get_next_job("t", now_only()).await.unwrap().unwrap();
    let err = q.obliterate(false).await.unwrap_err();
    assert!(matches!(err, bullmq::Error::InvalidOption { .. }), "{err}");
    q.obliterate(true).await.unwrap();
    let pattern = format!("{}*", k(&q, ""));
    let left: Vec<String> = cmd(&["KEYS", &pattern]).await;
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = job;
}

#[tokio::test]
async fn remove_job_emits_removed_and_respects_locks() {
    let q = queue("adm-remove").await;
    add(&q, 2).await;
    let job = q.get_job("1").await.unwrap().unwrap();
    q.add_job_log(&job.id, "a line", job.opts.keep_logs).await.unwrap();
    assert!(q.remove_job("1", false).await.unwrap());
    let n: i64 = cmd(&["EXISTS", &k(&q, "1"), &k(&q, "1:logs")]).await;
    assert_eq!(n, 0);
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["2"]);
    let ev = events(&q).await;
    let r = ev.iter().find(|e| e.0 == "removed").unwrap();
    assert_eq!((r.1["jobId"].as_str(), r.1["prev"].as_str()), ("1", "wait"));
    cmd::<()>(&["SET", &k(&q, "2:lock"), "someone"]).await;
    assert!(!q.remove_job("2", false).await.unwrap(), "a locked job stays");
    let n: i64 = cmd(&["EXISTS", &k(&q, "2")]).await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn remove_parent_with_children_and_child_releases_parent() {
    let q = queue("adm-tree").await;
    let parent = waiting_parent(&q, "P").await;
    q.add("c1", json!({}), JobOptions::default().parent(parent.clone())).await.unwrap();
    q.add("c2", json!({}), JobOptions::default().parent(parent)).await.unwrap();
    // Removing one child leaves the parent waiting; removing the last releases it.
    assert!(q.remove_job("1", false).await.unwrap());
    assert_eq!(q.get_job_state("P").await.unwrap(), JobState::WaitingChildren);
    assert!(q.remove_job("2", false).await.unwrap());
    assert_eq!(q.get_job_state("P").await.unwrap(), JobState::Waiting);
    // A parent removed with its children takes them along.
    let parent = waiting_parent(&q, "Q").await;
    let c = q.add("c3", json!({}), JobOptions::default().parent(parent)).await.unwrap();
    assert!(q.remove_job("Q", true).await.unwrap());
    let n: i64 = cmd(&["EXISTS", &k(&q, "Q"), &k(&q, &c.id), &k(&q, "Q:dependencies")]).await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn clean_by_state_grace_and_limit() {
    let q = queue("adm-clean").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    add(&q, 3).await;
    for i in 0..3 {
        let j = w.get_next_job(&format!("t{i}"), now_only()).await.unwrap().unwrap();
        j.move_to_completed(i, false).await.unwrap();
    }
    assert!(
        q.clean(Duration::from_millis(60_000), 0, JobState::Completed).await.unwrap().is_empty(),
        "all younger than the grace"
    );
    let removed = q.clean(Duration::ZERO, 2, JobState::Completed).await.unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(q.get_completed_count().await.unwrap(), 1);
    let ev = events(&q).await;
    let c: Vec<_> = ev.iter().filter(|e| e.0 == "cleaned").collect();
    assert_eq!(c.last().unwrap().1["count"], "2");
    add(&q, 2).await;
    let removed = q.clean(Duration::ZERO, 0, JobState::Waiting).await.unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(q.get_waiting_count().await.unwrap(), 0);
}

#[tokio::test]
async fn retry_jobs_and_job_retry() {
    let q = queue("adm-retry").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    add(&q, 3).await;
    for i in 0..3 {
        let j = w.get_next_job(&format!("t{i}"), now_only()).await.unwrap().unwrap();
        j.move_to_failed(&JobError::new("x"), false).await.unwrap();
    }
    let one = q.get_job("1").await.unwrap().unwrap();
    q.retry_job(&one, JobState::Failed, true, false).await.unwrap();
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert!(!h.contains_key("failedReason") && !h.contains_key("finishedOn") && !h.contains_key("atm"));
    assert_eq!(q.get_job_state("1").await.unwrap(), JobState::Waiting);
    assert!(q.retry_job(&one, JobState::Failed, false, false).await.is_err(), "no longer failed");
    q.retry_jobs(JobState::Failed, 1, None).await.unwrap();
    assert_eq!(q.get_failed_count().await.unwrap(), 0);
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait.len(), 3);
    assert!(events(&q).await.iter().any(|e| e.0 == "waiting" && e.1.get("prev").map(String::as_str) == Some("failed")));
}

#[tokio::test]
async fn promote_change_delay_and_priority() {
    let q = queue("adm-move").await;
    let d = q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(60_000))).await.unwrap();
    q.change_job_delay(&d.id, Duration::from_millis(120_000)).await.unwrap();
    let score: f64 = cmd(&["ZSCORE", &k(&q, "delayed"), &d.id]).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!((score as u64 / 4096).abs_diff(now + 120_000) < 1000);
    let delay: String = cmd(&["HGET", &k(&q, &d.id), "delay"]).await;
    assert_eq!(delay, "120000");
    q.promote_job(&d.id).await.unwrap();
    assert_eq!(q.get_job_state(&d.id).await.unwrap(), JobState::Waiting);
    assert!(events(&q)
        .await
        .iter()
        .any(|e| e.0 == "waiting" && e.1.get("prev").map(String::as_str) == Some("delayed")));
    assert!(q.promote_job(&d.id).await.is_err(), "not delayed any more");
    q.change_job_priority(&d.id, 7, false).await.unwrap();
    assert_eq!(q.get_job_state(&d.id).await.unwrap(), JobState::Prioritized);
    let counts = q.get_counts_per_priority(&[0, 7]).await.unwrap();
    assert_eq!((counts[&0], counts[&7]), (0, 1));
    q.promote_jobs(100).await.unwrap();
}

#[tokio::test]
async fn progress_data_logs() {
    let q = queue("adm-prog").await;
    let j = q.add("p", json!({"a": 1}), JobOptions::default().keep_logs(2)).await.unwrap();
    q.update_job_progress(&j.id, 42).await.unwrap();
    q.update_job_progress(&j.id, json!({"pct": 50})).await.unwrap();
    let p: String = cmd(&["HGET", &k(&q, &j.id), "progress"]).await;
    assert_eq!(p, r#"{"pct":50}"#);
    let ev = events(&q).await;
    let progress: Vec<_> = ev.iter().filter(|e| e.0 == "progress").map(|e| e.1["data"].clone()).collect();
    assert_eq!(progress, vec!["42".to_string(), r#"{"pct":50}"#.to_string()]);
    q.update_job_data(&j.id, json!({"b": 2})).await.unwrap();
    assert_eq!(q.get_job(&j.id).await.unwrap().unwrap().data, json!({"b": 2}));
    for l in ["one", "two", "three"] {
        q.add_job_log(&j.id, l, j.opts.keep_logs).await.unwrap();
    }
    let (lines, count) = q.get_job_logs(&j.id, 0, -1, true).await.unwrap();
    assert_eq!((lines, count), (vec!["two".to_string(), "three".to_string()], 2));
    let ghost = q.get_job(&j.id).await.unwrap().unwrap();
    q.remove_job(&j.id, false).await.unwrap();
    let err = q.add_job_log(&ghost.id, "x", ghost.opts.keep_logs).await.unwrap_err();
    assert_eq!(err.script_code(), Some(bullmq::ScriptErrorCode::JobNotExist));
}

#[tokio::test]
async fn counts_states_and_getters() {
    let q = queue("adm-get").await;
    let w = worker_for(&q, WorkerOptions::default()).await;
    add(&q, 4).await;
    q.add("p", json!({}), JobOptions::default().priority(2)).await.unwrap();
    q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(60_000))).await.unwrap();
    let a = w.get_next_job("a", now_only()).await.unwrap().unwrap();
    let b = w.get_next_job("b", now_only()).await.unwrap().unwrap();
    let c = w.get_next_job("c", now_only()).await.unwrap().unwrap();
    b.move_to_completed(1, false).await.unwrap();
    c.move_to_failed(&JobError::new("no"), false).await.unwrap();
    let counts = q.get_counts().await.unwrap();
    assert_eq!(counts[&JobState::Active], 1);
    assert_eq!(counts[&JobState::Completed], 1);
    assert_eq!(counts[&JobState::Failed], 1);
    assert_eq!(counts[&JobState::Waiting], 1);
    assert_eq!(counts[&JobState::Prioritized], 1);
    assert_eq!(counts[&JobState::Delayed], 1);
    assert_eq!(q.get_job_state(&a.id).await.unwrap(), JobState::Active);
    assert_eq!(q.get_job_state("nope").await.unwrap(), JobState::Unknown);
    assert_eq!(q.get_completed(0, -1).await.unwrap()[0].returnvalue, Some(json!(1)));
    assert_eq!(q.get_failed(0, -1).await.unwrap()[0].failed_reason.as_deref(), Some("no"));
    let all = q.get_jobs(&[JobState::Waiting, JobState::Delayed], 0, -1, true).await.unwrap();
    assert_eq!(all.len(), 2);
    add(&q, 2).await;
    let asc: Vec<String> = q.get_waiting(0, -1).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(asc, vec!["8", "7", "4"], "newest first by default");
    let ids = q.get_ranges(&[JobState::Waiting], 0, 0, true).await.unwrap();
    assert_eq!(ids, vec!["4"], "oldest first with asc");
}

#[tokio::test]
async fn rate_limits_concurrency_and_dedup_keys() {
    let q = queue("adm-limits").await;
    q.set_global_concurrency(3).await.unwrap();
    assert_eq!(q.get_global_concurrency().await.unwrap(), Some(3));
    q.remove_global_concurrency().await.unwrap();
    assert_eq!(q.get_global_concurrency().await.unwrap(), None);
    q.set_global_rate_limit(5, Duration::from_millis(1000)).await.unwrap();
    assert_eq!(q.get_global_rate_limit().await.unwrap(), Some((5, Duration::from_millis(1000))));
    assert_eq!(q.get_rate_limit_ttl(None).await.unwrap(), 0);
    q.rate_limit(Duration::from_millis(5000)).await.unwrap();
    let ttl = q.get_rate_limit_ttl(None).await.unwrap();
    assert!(ttl > 4000 && ttl <= 5000);
    q.remove_rate_limit_key().await.unwrap();
    q.remove_global_rate_limit().await.unwrap();
    assert_eq!(q.get_rate_limit_ttl(None).await.unwrap(), -2);
    assert!(q.set_global_concurrency(0).await.is_err());

    let j = q.add("x", json!({}), JobOptions::default().deduplication(Deduplication::simple("dd"))).await.unwrap();
    assert_eq!(q.get_deduplication_job_id("dd").await.unwrap(), Some(j.id.clone()));
    let other = q.add("y", json!({}), JobOptions::default()).await.unwrap();
    assert!(!q.remove_job_deduplication_key(&other).await.unwrap());
    let j = q.get_job(&j.id).await.unwrap().unwrap();
    assert!(q.remove_job_deduplication_key(&j).await.unwrap());
    assert_eq!(q.get_deduplication_job_id("dd").await.unwrap(), None);
}
