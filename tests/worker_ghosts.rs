//! No ghost runs: a job whose hash is gone is never executed, and never comes back. Its hash
//! deleted while it runs (the finish drops the id from active with its lock), ids in wait with
//! no job behind them or a hash holding only bookkeeping fields (the take drops them and reports
//! `JobMissing`), and a queue obliterated under a running worker (it keeps working). Each test
//! prints one line of figures.

mod common;

use std::time::Duration;

use bullmq::{JobOptions, JobState, Queue, Worker, WorkerEvent};
use common::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

/// A tree (concurrency 4, short lock and stalled interval, so an id left active would come back
/// within the test) whose jobs take `work`, counting runs per job id and the name it saw.
async fn tree(q: &Queue, work: Duration) -> (Worker, UnboundedReceiver<WorkerEvent>, Runs) {
    let (p, runs) = counting_processor(work, |job| format!("{}:{}", job.id, job.name));
    let opts = worker_opts(q)
        .concurrency(4)
        .lock_duration(Duration::from_millis(600))
        .stalled_interval(Duration::from_millis(300))
        .drain_delay(Duration::from_millis(200));
    let (w, rx) = Worker::spawn(q.name(), p, opts).await.unwrap();
    (w, rx, runs)
}

fn count(rx: &mut UnboundedReceiver<WorkerEvent>, mut pred: impl FnMut(&WorkerEvent) -> bool) -> usize {
    let mut n = 0;
    while let Ok(e) = rx.try_recv() {
        n += usize::from(pred(&e));
    }
    n
}

async fn exists(q: &Queue, id: &str) -> bool {
    cmd::<i64>(&["EXISTS", &k(q, id)]).await == 1
}

async fn active_len(q: &Queue) -> i64 {
    cmd::<i64>(&["LLEN", &k(q, "active")]).await
}

/// The hash of a running job is deleted: its finish is refused ("no job"), and the id leaves
/// active with its lock at once, so no stalled check brings it back and no take runs it again
/// (before: the id stayed active, came back after the lock expired, ran with no name and no data
/// and got a hash of bookkeeping fields recreated).
#[tokio::test]
async fn a_hash_deleted_mid_run_is_not_run_again() {
    let q = queue("ghost-mid-run").await;
    let (w, mut rx, runs) = tree(&q, Duration::from_millis(400)).await;
    let id = q.add("real", json!({"x": 1}), JobOptions::default()).await.unwrap().id;
    eventually("the job runs", Duration::from_secs(5), || async { runs.lock().unwrap().len() == 1 }).await;
    cmd::<i64>(&["DEL", &k(&q, &id)]).await;
    eventually("the id leaves active", Duration::from_secs(5), || async { active_len(&q).await == 0 }).await;
    // Two lock durations and several stalled checks: a left-over id would be back and run.
    holds_for("no second run, no hash recreated", Duration::from_millis(1500), || async {
        runs.lock().unwrap().values().sum::<u32>() == 1 && !exists(&q, &id).await && active_len(&q).await == 0
    })
    .await;
    let lock = exists(&q, &format!("{id}:lock")).await;
    let stalled: i64 = cmd(&["SISMEMBER", &k(&q, "stalled"), &id]).await;
    w.close(Duration::from_secs(2)).await;
    let mut refusals = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let WorkerEvent::Error { message } = e {
            refusals.push(message);
        }
    }
    println!(
        "ghost-mid-run: runs=1 reruns=0 hash_recreated=false active_left=0 lock_left={lock} stalled_mark={stalled} finish_refused={refusals:?}"
    );
    assert!(!lock && stalled == 0, "lock and stalled mark gone with the id");
    assert_eq!(refusals.len(), 1, "the refused finish was reported");
    assert!(refusals[0].contains(&id) && !refusals[0].contains("unexpected reply"), "typed, naming the job");
}

/// Ids with no job behind them, among real jobs in wait: none with no hash at all, some with a
/// hash of bookkeeping fields only (no name, no data). The takes (single and batched) drop each,
/// report it as `JobMissing`, write nothing for it, and run every real job once.
#[tokio::test]
async fn ghost_ids_in_wait_are_dropped_not_run() {
    let q = queue("ghost-wait").await;
    let (real, ghosts) = (60, 12);
    let mut ghost_ids = Vec::new();
    for i in 0..real {
        q.add("real", json!({ "i": i }), JobOptions::default().job_id(format!("r{i}"))).await.unwrap();
        if i % 5 == 0 {
            let g = format!("g{}", ghost_ids.len());
            if ghost_ids.len() % 2 == 1 {
                // What a recreated ghost looked like: bookkeeping fields only.
                cmd::<i64>(&["HSET", &k(&q, &g), "processedOn", "1", "ats", "1", "atm", "1"]).await;
            }
            cmd::<i64>(&["LPUSH", &k(&q, "wait"), &g]).await;
            ghost_ids.push(g);
        }
    }
    assert_eq!(ghost_ids.len(), ghosts);
    let (w, mut rx, runs) = tree(&q, Duration::from_millis(5)).await;
    eventually("every real job done", Duration::from_secs(15), || async {
        q.get_completed_count().await.unwrap() == real as u64
    })
    .await;
    let mut missing = Vec::new();
    eventually("every ghost reported", Duration::from_secs(5), || {
        while let Ok(e) = rx.try_recv() {
            if let WorkerEvent::JobMissing { id } = e {
                missing.push(id);
            }
        }
        let all = missing.len() >= ghosts;
        async move { all }
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let runs = runs.lock().unwrap().clone();
    let ghost_runs = runs.keys().filter(|k| k.starts_with('g')).count();
    let nameless = runs.keys().filter(|k| k.ends_with(':')).count();
    let mut recreated = 0;
    for (n, g) in ghost_ids.iter().enumerate() {
        // The bookkeeping-only ones are left as they were; the others must not appear.
        recreated += usize::from(n % 2 == 0 && exists(&q, g).await);
        let lock = exists(&q, &format!("{g}:lock")).await;
        assert!(!lock, "{g} left a lock");
    }
    let counts = q.get_job_counts(&[JobState::Active, JobState::Waiting]).await.unwrap();
    missing.sort();
    missing.dedup();
    println!(
        "ghosts-in-wait: real={real} completed={real} ghosts={ghosts} reported={} ghost_runs={ghost_runs} nameless_runs={nameless} hashes_recreated={recreated} active_left={} reruns={}",
        missing.len(),
        counts[&JobState::Active],
        runs.values().map(|r| r - 1).sum::<u32>()
    );
    assert_eq!((ghost_runs, nameless, recreated), (0, 0, 0));
    assert_eq!(missing.len(), ghosts, "each ghost reported once: {missing:?}");
    assert!(counts.values().all(|&c| c == 0), "{counts:?}");
    assert_eq!(runs.len(), real);
}

/// The queue is obliterated (forced) while jobs run: the running jobs' finishes are refused,
/// nothing they held comes back, and jobs added afterwards are processed by the same worker,
/// with no child restarted.
#[tokio::test]
async fn obliterate_while_running_keeps_the_worker_working() {
    let q = queue("ghost-obliterate").await;
    let (w, mut rx, runs) = tree(&q, Duration::from_millis(300)).await;
    add_numbered(&q, "before", 20).await;
    eventually("jobs running", Duration::from_secs(5), || async { active_len(&q).await == 4 }).await;
    q.obliterate(true).await.unwrap();
    let after_obliterate = runs.lock().unwrap().len();
    for i in 0..10 {
        q.add("after", json!({ "i": i }), JobOptions::default().job_id(format!("a{i}"))).await.unwrap();
    }
    eventually("the jobs added after are done", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap() == 10
    })
    .await;
    holds_for("nothing comes back", Duration::from_millis(1200), || async {
        active_len(&q).await == 0 && q.get_completed_count().await.unwrap() == 10
    })
    .await;
    w.close(Duration::from_secs(2)).await;
    let restarts = count(&mut rx, |e| matches!(e, WorkerEvent::ChildRestarted { .. } | WorkerEvent::Meltdown { .. }));
    let runs = runs.lock().unwrap().clone();
    let before_runs: u32 = runs.iter().filter(|(k, _)| k.ends_with(":before")).map(|(_, r)| r).sum();
    let after_runs: u32 = runs.iter().filter(|(k, _)| k.ends_with(":after")).map(|(_, r)| r).sum();
    // The jobs added before had ids 1..=20: none may have a hash again.
    let mut stray = Vec::new();
    for i in 1..=20 {
        if exists(&q, &i.to_string()).await {
            stray.push(i);
        }
    }
    println!(
        "obliterate-running: running_at_obliterate={after_obliterate} before_runs={before_runs} after_added=10 after_runs={after_runs} completed_after=10 restarts={restarts} stray_job_hashes={}",
        stray.len()
    );
    assert_eq!(after_runs, 10, "each later job ran once");
    assert_eq!(before_runs as usize, after_obliterate, "no obliterated job ran again");
    assert_eq!(restarts, 0);
    assert!(stray.is_empty(), "no hash recreated for an obliterated job: {stray:?}");
}
