//! The supervised worker tree: processing, outcomes, cancellation, lock loss, child restart and
//! graceful shutdown, checked through Redis state and lifecycle events.

mod common;

use std::time::Duration;

use bullmq::{
    processor, CancelReason, JobError, JobMsg, JobOptions, JobOutcome, JobState, Worker, WorkerEvent, WorkerOptions,
};
use common::*;
use serde_json::json;

fn opts(q: &bullmq::Queue) -> WorkerOptions {
    worker_opts(q).drain_delay(Duration::from_millis(300))
}

#[tokio::test]
async fn processes_jobs_with_concurrency_and_reports_events() {
    let q = queue("w-basic").await;
    for i in 0..20 {
        q.add("sq", json!({"n": i}), JobOptions::default()).await.unwrap();
    }
    let p = processor(|mut job, ctx| async move {
        let n = job.data["n"].as_i64().unwrap_or(0);
        ctx.progress(&mut job, json!({"half": n})).await.map_err(|e| JobError::new(e.to_string()))?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(JobOutcome::Completed(json!(n * n)))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).concurrency(5)).await.unwrap();
    let mut completed = 0;
    let mut progress = 0;
    let mut starts = Vec::new();
    while completed < 20 {
        match wait_for(&mut rx, |_| true).await {
            WorkerEvent::JobCompleted { .. } => completed += 1,
            WorkerEvent::JobProgress { .. } => progress += 1,
            WorkerEvent::ChildStarted { child } => starts.push(child),
            _ => {}
        }
    }
    assert_eq!(starts, vec!["lock-renewer", "stalled-checker", "acker", "fetcher"]);
    assert_eq!(progress, 20);
    let p: String = cmd(&["HGET", &k(&q, "3"), "progress"]).await;
    assert_eq!(p, r#"{"half":2}"#);
    eventually("all completed in Redis", Duration::from_secs(5), || async {
        q.get_completed_count().await.unwrap() == 20
    })
    .await;
    let j = q.get_job("4").await.unwrap().unwrap();
    assert_eq!(j.returnvalue, Some(json!(9)));
    assert!(w.close(Duration::from_secs(2)).await.is_empty());
}

#[tokio::test]
async fn outcomes_panic_and_failures() {
    let q = queue("w-outcomes").await;
    q.add("panic", json!({}), JobOptions::default()).await.unwrap();
    q.add("fail", json!({}), JobOptions::default()).await.unwrap();
    q.add("delay", json!({}), JobOptions::default()).await.unwrap();
    q.add("wait", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|job, _ctx| async move {
        match job.name.as_str() {
            "panic" => panic!("boom in processor"),
            "fail" => Err(JobError::unrecoverable("nope")),
            "delay" if job.attempts_started == 1 => Ok(JobOutcome::Delay(Duration::from_secs(60))),
            "wait" if job.attempts_started == 1 => Ok(JobOutcome::Wait),
            _ => Ok(JobOutcome::Completed(json!(null))),
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobFailed { id, .. } if id == "1")).await;
    assert_eq!(e, WorkerEvent::JobFailed { id: "1".into(), reason: "boom in processor".into(), retry: false });
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobFailed { id, .. } if id == "2")).await;
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobMoved { id, to } if id == "3" && to == "delayed")).await;
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if id == "4")).await;
    assert_eq!(q.get_job_state("3").await.unwrap(), JobState::Delayed);
    let reason: String = cmd(&["HGET", &k(&q, "1"), "failedReason"]).await;
    assert_eq!(reason, "boom in processor");
    let atm: Option<String> = cmd(&["HGET", &k(&q, "3"), "atm"]).await;
    assert!(atm.is_none(), "a delay uses no attempt");
    w.close(Duration::from_secs(2)).await;
}

/// A user's cancel that the processor honours (it returns an error once its token is
/// cancelled) is reported as a cancel, with its reason, not as an ordinary failure (issue 14,
/// defect 7.6: it showed up only as `JobFailed`). The job fails in Redis with `job cancelled:
/// <reason>`; what the processor said is kept in its stack trace.
#[tokio::test]
async fn cancel_through_the_job_actor() {
    let q = queue("w-cancel").await;
    q.add("long", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|_job, ctx| async move {
        ctx.cancel.cancelled().await;
        Err(JobError::new("stopped on request"))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    let actor = w.job_actor("1").expect("a running job has an actor");
    actor.send_message(JobMsg::Cancel { reason: CancelReason::User("operator".into()) }).unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobFailed { .. } | WorkerEvent::JobCancelled { .. })).await;
    assert_eq!(e, WorkerEvent::JobCancelled { id: "1".into(), reason: CancelReason::User("operator".into()) });
    assert_eq!(q.get_job_state("1").await.unwrap(), JobState::Failed);
    let job = q.get_job("1").await.unwrap().unwrap();
    assert_eq!(job.failed_reason.as_deref(), Some("job cancelled: operator"));
    assert!(job.stacktrace[0].contains("stopped on request"), "{:?}", job.stacktrace);
    assert!(!w.cancel_job("nope", "x"));
    w.close(Duration::from_secs(2)).await;
}

/// A processor returning `RateLimit(ms)` puts its job back and the worker takes nothing for that
/// window, as Node's worker waits out a `RateLimitError` (issue 14, defect 7.2: the job ran
/// again about 1 ms later). Nor does another worker of the queue that has a limiter: the window
/// is the queue's limiter key.
#[tokio::test]
async fn a_rate_limit_outcome_holds_the_worker_off_for_its_window() {
    let q = queue("w-ratelimit").await;
    q.add("limited", json!({}), JobOptions::default()).await.unwrap();
    let runs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = runs.clone();
    let p = processor(move |job, _ctx| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((job.name.clone(), std::time::Instant::now()));
            if job.name == "limited" && job.attempts_started == 1 {
                return Ok(JobOutcome::RateLimit(Duration::from_millis(300)));
            }
            Ok(JobOutcome::Completed(json!(null)))
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p.clone(), opts(&q)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobMoved { to, .. } if to == "waiting")).await;
    // Another worker that honours the limiter key, and a job for it to take if it could.
    let limited = opts(&q).limiter(bullmq::worker::RateLimiter::new(100, Duration::from_secs(1)));
    let (other, _orx) = Worker::spawn(q.name(), p, limited).await.unwrap();
    q.add("other", json!({}), JobOptions::default()).await.unwrap();
    // Either worker may run them once the window is over.
    eventually("both jobs ran", Duration::from_secs(5), || async {
        runs.lock().unwrap().len() == 3 && q.get_completed_count().await.unwrap() == 2
    })
    .await;
    let runs = runs.lock().unwrap().clone();
    let first = runs[0].1;
    for (name, at) in &runs[1..] {
        let gap = at.duration_since(first);
        assert!(gap >= Duration::from_millis(280), "{name} ran {gap:?} after the rate limit of 300 ms");
    }
    println!("rate limit 300 ms: next runs after {:?}", runs[1..].iter().map(|r| r.1 - first).collect::<Vec<_>>());
    w.close(Duration::from_secs(2)).await;
    other.close(Duration::from_secs(2)).await;
}

/// A failed job's stack trace says where it failed: the line that made the error (or the `?`
/// that converted it) and its source chain (issue 14, defect 7.4: it held only the messages).
#[tokio::test]
async fn a_failure_records_where_it_happened() {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not fetch the invoice")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let q = queue("w-stack").await;
    q.add("made", json!({}), JobOptions::default()).await.unwrap();
    q.add("converted", json!({}), JobOptions::default()).await.unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let at = lines.clone();
    let p = processor(move |job, _ctx| {
        let at = at.clone();
        async move {
            if job.name == "made" {
                at.lock().unwrap().push(line!() + 1);
                return Err(JobError::new("kaboom"));
            }
            let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out");
            at.lock().unwrap().push(line!() + 1);
            Err::<(), _>(Outer(io))?;
            Ok(JobOutcome::Completed(json!(null)))
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    for _ in 0..2 {
        wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobFailed { .. })).await;
    }
    w.close(Duration::from_secs(2)).await;
    let lines = lines.lock().unwrap().clone();
    let made = q.get_job("1").await.unwrap().unwrap();
    assert_eq!(made.failed_reason.as_deref(), Some("kaboom"));
    let stack = &made.stacktrace[0];
    assert!(stack.starts_with("kaboom\n"), "{stack}");
    assert!(stack.contains(&format!("tests/worker.rs:{}:", lines[0])), "{stack}");
    let converted = q.get_job("2").await.unwrap().unwrap();
    assert_eq!(converted.failed_reason.as_deref(), Some("could not fetch the invoice"));
    let stack = &converted.stacktrace[0];
    assert!(stack.contains(&format!("tests/worker.rs:{}:", lines[1])), "{stack}");
    assert!(stack.contains("caused by: upstream timed out"), "{stack}");
}

#[tokio::test]
async fn a_processor_ignoring_cancel_is_aborted_after_the_grace() {
    let q = queue("w-abort").await;
    q.add("stubborn", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|_job, _ctx| async move {
        tokio::time::sleep(Duration::from_secs(600)).await;
        Ok(JobOutcome::Completed(json!(1)))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    assert!(w.cancel_job("1", "too slow"));
    let mut seen = Vec::new();
    let e = wait_for(&mut rx, |e| {
        seen.push(format!("{e:?}"));
        matches!(e, WorkerEvent::JobCancelled { .. })
    })
    .await;
    assert_eq!(e, WorkerEvent::JobCancelled { id: "1".into(), reason: CancelReason::User("too slow".into()) });
    let reason: Option<String> = cmd(&["HGET", &k(&q, "1"), "failedReason"]).await;
    assert_eq!(reason.as_deref(), Some("job cancelled: too slow"), "{seen:?}");
    w.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn lost_lock_cancels_without_ack() {
    let q = queue("w-lock").await;
    q.add("held", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|_job, ctx| async move {
        ctx.cancel.cancelled().await;
        Ok(JobOutcome::Completed(json!("should not be stored")))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).lock_duration(Duration::from_millis(1000))).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    let started = std::time::Instant::now();
    cmd::<()>(&["DEL", &k(&q, "1:lock")]).await;
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::LockLost { .. })).await;
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCancelled { .. })).await;
    assert_eq!(e, WorkerEvent::JobCancelled { id: "1".into(), reason: CancelReason::LockLost });
    let observed = started.elapsed();
    assert!(observed < Duration::from_millis(1500), "seen within about lock_duration/2: {observed:?}");
    let rv: Option<String> = cmd(&["HGET", &k(&q, "1"), "returnvalue"]).await;
    assert!(rv.is_none(), "a job whose lock is lost is not acked");
    println!("lock-lost: cancel observed after {observed:?}, acked=0");
    w.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn fetcher_goes_on_after_its_connection_is_killed() {
    let q = queue("w-kill").await;
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(1))) });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).name("victim")).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildStarted { child } if child == "fetcher")).await;
    let name = format!("bull:{}:w:victim", b64(q.name()));
    eventually("the fetcher's blocking connection is up", Duration::from_secs(5), || async {
        cmd::<String>(&["CLIENT", "LIST"]).await.contains(&format!("name={name} "))
    })
    .await;
    let list: String = cmd(&["CLIENT", "LIST"]).await;
    let id = list
        .lines()
        .find(|l| l.contains(&format!("name={name} ")))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .expect("connection listed")
        .to_owned();
    cmd::<i64>(&["CLIENT", "KILL", "ID", &id]).await;
    // A lost connection is an outage, not a crash: the fetcher reports it and takes again on a
    // fresh blocking connection, without a restart.
    let mut restarts = 0;
    let mut seen = |e: &WorkerEvent| {
        restarts += usize::from(matches!(e, WorkerEvent::ChildRestarted { .. }));
        matches!(e, WorkerEvent::ConnectionRestored { child, .. } if child == "fetcher")
    };
    wait_for(&mut rx, &mut seen).await;
    q.add("after", json!({}), JobOptions::default()).await.unwrap();
    wait_for(&mut rx, |e| {
        restarts += usize::from(matches!(e, WorkerEvent::ChildRestarted { .. }));
        matches!(e, WorkerEvent::JobCompleted { .. })
    })
    .await;
    w.close(Duration::from_secs(1)).await;
    assert_eq!(restarts, 0);
}

#[tokio::test]
async fn graceful_close_lists_orphans_and_starts_nothing_new() {
    let q = queue("w-close").await;
    q.add("slow", json!({}), JobOptions::default()).await.unwrap();
    q.add("never", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|_job, ctx| async move {
        ctx.cancel.cancelled().await;
        Ok(JobOutcome::Completed(json!(1)))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    let orphans = w.close(Duration::from_millis(200)).await;
    assert_eq!(orphans, vec!["1"]);
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::Closed { .. })).await;
    assert_eq!(e, WorkerEvent::Closed { orphans: vec!["1".into()] });
    assert_eq!(q.get_job_state("1").await.unwrap(), JobState::Active, "left for the stalled check");
    assert_eq!(q.get_job_state("2").await.unwrap(), JobState::Waiting, "nothing started after close");
    println!("close: orphans=1 started_after_close=0");
}

#[tokio::test]
async fn waiting_for_children_then_running_again() {
    let q = queue("w-children").await;
    q.add("parent", json!({}), JobOptions::default()).await.unwrap();
    let queue_for_children = q.clone();
    let p = processor(move |job, ctx| {
        let q = queue_for_children.clone();
        async move {
            match job.name.as_str() {
                "parent" if job.attempts_started == 1 => {
                    let parent = bullmq::ParentOptions::new(job.id.clone(), q.qualified_name());
                    let o = JobOptions::default().parent(parent);
                    q.add("child", json!({}), o).await.map_err(|e| JobError::new(e.to_string()))?;
                    ctx.log(&job, "children added").await.map_err(|e| JobError::new(e.to_string()))?;
                    Ok(JobOutcome::WaitingChildren)
                }
                "parent" => Ok(JobOutcome::Completed(json!("children done"))),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(JobOutcome::Completed(json!("child")))
                }
            }
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).concurrency(2)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobMoved { id, to } if id == "1" && to == "waiting-children")).await;
    assert_eq!(q.get_job_state("1").await.unwrap(), JobState::WaitingChildren);
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if id == "1")).await;
    w.close(Duration::from_secs(1)).await;
    let rv: String = cmd(&["HGET", &k(&q, "1"), "returnvalue"]).await;
    assert_eq!(rv, "\"children done\"");
    let atm: String = cmd(&["HGET", &k(&q, "1"), "atm"]).await;
    assert_eq!(atm, "1", "waiting for children used no attempt");
    let logs: Vec<String> = cmd(&["LRANGE", &k(&q, "1:logs"), "0", "-1"]).await;
    assert_eq!(logs, vec!["children added"]);
    let evs = events(&q).await;
    assert!(evs.iter().any(|(e, f)| e == "waiting-children" && f["jobId"] == "1" && f["prev"] == "active"));
}

#[tokio::test]
async fn context_updates_data_and_extends_the_lock() {
    let q = queue("w-ctx").await;
    q.add("c", json!({"step": 0}), JobOptions::default()).await.unwrap();
    let p = processor(|mut job, ctx| async move {
        ctx.update_data(&mut job, json!({"step": 1})).await.map_err(|e| JobError::new(e.to_string()))?;
        let extended =
            ctx.extend_lock(&job, Duration::from_secs(60)).await.map_err(|e| JobError::new(e.to_string()))?;
        Ok(JobOutcome::Completed(json!(extended)))
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { .. })).await;
    assert_eq!(e, WorkerEvent::JobCompleted { id: "1".into(), returnvalue: json!(true) });
    w.close(Duration::from_secs(1)).await;
    let data: String = cmd(&["HGET", &k(&q, "1"), "data"]).await;
    assert_eq!(data, r#"{"step":1}"#);
}

#[derive(Clone, Default)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl bullmq::worker::WorkerCallbacks for Recorder {
    fn on_active(&mut self, id: &str) {
        self.0.lock().unwrap().push(format!("active {id}"));
    }
    fn on_completed(&mut self, id: &str, returnvalue: &serde_json::Value) {
        self.0.lock().unwrap().push(format!("completed {id} {returnvalue}"));
    }
    fn on_failed(&mut self, id: &str, reason: &str, retry: bool) {
        self.0.lock().unwrap().push(format!("failed {id} {reason} retry={retry}"));
    }
    fn on_drained(&mut self) {
        self.0.lock().unwrap().push("drained".into());
    }
    fn on_closed(&mut self, orphans: &[String]) {
        self.0.lock().unwrap().push(format!("closed {}", orphans.len()));
    }
}

#[tokio::test]
async fn bullmq_style_callbacks() {
    let q = queue("w-callbacks").await;
    q.add("ok", json!({}), JobOptions::default()).await.unwrap();
    q.add("bad", json!({}), JobOptions::default()).await.unwrap();
    let p = processor(|job, _ctx| async move {
        match job.name.as_str() {
            "ok" => Ok(JobOutcome::Completed(json!(1))),
            _ => Err(JobError::new("no")),
        }
    });
    // Without fetching ahead, so the order is Node's: a job starts after the previous finished.
    let o = opts(&q).autorun(false).prefetch(0);
    let (w, _rx) = Worker::spawn(q.name(), p, o).await.unwrap();
    let rec = Recorder::default();
    let task = w.on(rec.clone());
    w.resume();
    eventually("drained", Duration::from_secs(10), || async { rec.0.lock().unwrap().contains(&"drained".to_owned()) })
        .await;
    w.close(Duration::from_secs(1)).await;
    task.await.unwrap();
    let calls = rec.0.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec!["active 1", "completed 1 1", "active 2", "failed 2 no retry=false", "drained", "closed 0"],
        "in order, one call per event"
    );
}

/// A worker whose last finish found the queue empty blocks on the marker without one more
/// empty fetch; a job added at any moment around that (before the finish ran, between it and
/// the block, during the block) still starts at once, never after the drain delay. The gaps
/// between adds sweep those moments. Concurrency 2, so the fetcher is blocked on the marker
/// while a job finishes: a finish that ran dry before the fetcher's wake-up must not send it
/// back to block (it does, and this fails, without the wake count in `take_ran_dry`).
#[tokio::test]
async fn an_idle_worker_starts_each_new_job_at_once() {
    let q = queue("w-idle-wake").await;
    let p = processor(|_job, _ctx| async { Ok(JobOutcome::Completed(json!(null))) });
    let o = opts(&q).concurrency(2).drain_delay(Duration::from_secs(10));
    let (w, mut rx) = Worker::spawn(q.name(), p, o).await.unwrap();
    let mut worst = Duration::ZERO;
    let rounds = 40u64;
    for i in 0..rounds {
        tokio::time::sleep(Duration::from_micros(137 * (i % 9))).await;
        let t0 = std::time::Instant::now();
        let job = q.add("one", json!({"i": i}), JobOptions::default()).await.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
                Ok(Some(WorkerEvent::JobCompleted { id, .. })) if id == job.id => break,
                Ok(Some(_)) => {}
                other => panic!("job {} not done within 3 s (drain delay 10 s): {other:?}", job.id),
            }
        }
        worst = worst.max(t0.elapsed());
    }
    assert!(worst < Duration::from_secs(2), "worst {worst:?}");
    w.close(Duration::from_secs(2)).await;
    println!("idle-wake: jobs={rounds} worst_ms={:.1}", worst.as_secs_f64() * 1000.0);
}
