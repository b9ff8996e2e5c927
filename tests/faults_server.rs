//! A Redis that stays up but refuses calls for a while, under a running worker tree: full
//! (`maxmemory` with `noeviction`: every write refused with OOM) and busy (another client's long
//! script: every call refused with BUSY). The worker must neither fail a child nor drop an
//! acknowledgement: it waits, retries, and resumes by itself when Redis does. Each test has a
//! server of its own (it changes the server's configuration) and prints one line of figures.

mod common;

use std::time::{Duration, Instant};

use bullmq::{Connection, JobOptions, JobState, Queue, QueueOptions, Worker, WorkerEvent, WorkerOptions};
use common::*;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

/// A private server and a raw connection to it.
async fn own_server() -> (String, redis::aio::MultiplexedConnection) {
    let port = free_port();
    start_server(port);
    let url = format!("redis://127.0.0.1:{port}");
    let raw = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    (url, raw)
}

/// A tree whose jobs take `work` each, counting runs per job, with locks of `lock` (the stalled
/// check every half lock).
async fn tree(
    url: &str,
    name: &str,
    work: Duration,
    lock: Duration,
) -> (Worker, UnboundedReceiver<WorkerEvent>, Queue, Runs) {
    let (p, runs) = counting_processor(work, |job| job.id.clone());
    let conn = Connection::from_url(url);
    let opts = WorkerOptions::new(conn.clone())
        .concurrency(4)
        .drain_delay(Duration::from_millis(300))
        .stalled_interval(lock / 2)
        .lock_duration(lock);
    let (w, rx) = Worker::spawn(name, p, opts).await.unwrap();
    let q = Queue::new(name, QueueOptions::new(conn)).await.unwrap();
    (w, rx, q, runs)
}

async fn used_memory(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query_async(raw).await.unwrap();
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).expect("used_memory")
}

async fn add_jobs(q: &Queue, n: usize) {
    for i in 0..n {
        q.add("j", json!({ "i": i }), JobOptions::default().job_id(format!("j{i}"))).await.unwrap();
    }
}

/// What the worker reported: (restarts, meltdowns, connection lost, restored, completed, failed,
/// errors).
#[derive(Default, Debug)]
struct Seen {
    restarts: usize,
    meltdowns: usize,
    lost: usize,
    restored: usize,
    completed: usize,
    failed: usize,
    errors: Vec<String>,
    refusal: Option<String>,
}

fn drain(rx: &mut UnboundedReceiver<WorkerEvent>, seen: &mut Seen) {
    while let Ok(e) = rx.try_recv() {
        match e {
            WorkerEvent::ChildRestarted { .. } => seen.restarts += 1,
            WorkerEvent::Meltdown { .. } => seen.meltdowns += 1,
            WorkerEvent::ConnectionLost { error, .. } => {
                seen.lost += 1;
                seen.refusal.get_or_insert(error);
            }
            WorkerEvent::ConnectionRestored { .. } => seen.restored += 1,
            WorkerEvent::JobCompleted { .. } => seen.completed += 1,
            WorkerEvent::JobFailed { .. } => seen.failed += 1,
            WorkerEvent::Error { message } => seen.errors.push(message),
            _ => {}
        }
    }
}

/// Checks the end state: every job completed once in Redis, nothing left anywhere else, no child
/// failed; returns the figures line's common part.
async fn settle(q: &Queue, rx: &mut UnboundedReceiver<WorkerEvent>, seen: &mut Seen, runs: &Runs, n: usize) -> String {
    eventually("every job completed", Duration::from_secs(60), || async {
        q.get_completed_count().await.unwrap_or(0) == n as u64
    })
    .await;
    eventually("every completion reported", Duration::from_secs(10), || {
        drain(rx, seen);
        let done = seen.completed >= n;
        async move { done }
    })
    .await;
    let counts =
        q.get_job_counts(&[JobState::Active, JobState::Waiting, JobState::Delayed, JobState::Failed]).await.unwrap();
    let runs = runs.lock().unwrap().clone();
    let reruns: u32 = runs.values().map(|r| r - 1).sum();
    assert_eq!(runs.len(), n, "every job ran");
    assert!(counts.values().all(|&c| c == 0), "nothing left elsewhere: {counts:?}");
    assert_eq!((seen.restarts, seen.meltdowns, seen.failed), (0, 0, 0), "no child failed: {seen:?}");
    assert!(seen.errors.is_empty(), "no error: {:?}", seen.errors);
    assert_eq!(reruns, 0, "no job ran twice");
    format!(
        "jobs={n} completed={} lost=0 reruns={reruns} restarts=0 meltdowns=0 connection_lost={} restored={}",
        seen.completed, seen.lost, seen.restored
    )
}

/// Memory fills up while jobs run (a ballast key grown until Redis refuses writes), stays full
/// for 10 s (`BULLMQ_FULL_HOLD_S` to change it), and is freed: the jobs that finished meanwhile
/// are acknowledged once memory is back, the fetcher takes again, and nothing is lost, re-run
/// or failed. Locks of 2 s: they are renewed while Redis is full (lock renewal may run out of
/// memory: it only refreshes a key's time), so none expires under a job whose finish waits.
#[tokio::test]
async fn a_full_redis_is_waited_out() {
    let (url, mut raw) = own_server().await;
    let name = qname("full");
    let n = 400;
    let hold = std::env::var("BULLMQ_FULL_HOLD_S").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let (w, mut rx, q, runs) = tree(&url, &name, Duration::from_millis(40), Duration::from_secs(2)).await;
    add_jobs(&q, n).await;
    eventually("a first few done", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap_or(0) >= 20
    })
    .await;
    // Fill: a limit 2 MB above what is used, then ballast until a write is refused.
    let used_now = used_memory(&mut raw).await;
    let limit = used_now + 2 * 1024 * 1024;
    let _: () =
        redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(limit).query_async(&mut raw).await.unwrap();
    let chunk = "x".repeat(64 * 1024);
    let mut ballast = 0;
    let full_at = loop {
        let r: redis::RedisResult<()> =
            redis::cmd("SET").arg(format!("ballast:{ballast}")).arg(&chunk).query_async(&mut raw).await;
        match r {
            Ok(()) => ballast += 1,
            Err(e) if e.code() == Some("OOM") => break Instant::now(),
            Err(e) => panic!("ballast: {e}"),
        }
        assert!(ballast < 10_000, "memory never filled");
    };
    // Keep it full: a ballast write refused means used memory just crossed the limit, and the
    // worker's own deletes (trimmed streams, a lock released) would let small writes through
    // again. A limit 1 MB under what is used refuses every write until the ballast goes.
    let used = used_memory(&mut raw).await;
    let _: () =
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(used - 1024 * 1024).query_async(&mut raw).await.unwrap();
    let done_when_full = q.get_completed_count().await.unwrap_or(0);
    // Hold: the worker is refused and waits; nothing it runs is dropped.
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let done_while_full = q.get_completed_count().await.unwrap_or(0) - done_when_full;
    let mut seen = Seen::default();
    let keys: Vec<String> = (0..ballast).map(|i| format!("ballast:{i}")).collect();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut raw).await.unwrap();
    let freed_at = Instant::now();
    let before = done_when_full + done_while_full;
    eventually("a completion after memory is freed", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap_or(0) > before
    })
    .await;
    let resumed_ms = freed_at.elapsed().as_millis();
    let line = settle(&q, &mut rx, &mut seen, &runs, n).await;
    w.close(Duration::from_secs(5)).await;
    println!(
        "redis-full: {line} held_s={:.1} completed_while_full={done_while_full} resumed_ms={} refusal={:?}",
        freed_at.duration_since(full_at).as_secs_f64(),
        resumed_ms,
        seen.refusal.as_deref().unwrap_or("-")
    );
    assert_eq!(done_while_full, 0, "Redis wrote nothing while full");
}

/// Another client runs a 5 s script with `busy-reply-threshold` at 1 s: for 4 s every call the
/// worker makes is refused with BUSY (and the calls sent before it began wait). The worker waits
/// it out: nothing lost, re-run or failed, no child restarted.
#[tokio::test]
async fn a_busy_redis_is_waited_out() {
    let (url, _raw) = own_server().await;
    let name = qname("busy");
    let n = 400;
    let (w, mut rx, q, runs) = tree(&url, &name, Duration::from_millis(40), Duration::from_secs(30)).await;
    add_jobs(&q, n).await;
    eventually("a first few done", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap_or(0) >= 20
    })
    .await;
    let (began, ended) = busy_spell(&url, Duration::from_secs(5)).await;
    let busy_s = ended.duration_since(began).as_secs_f64();
    let before = q.get_completed_count().await.unwrap_or(0);
    eventually("a completion after the script", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap_or(0) > before
    })
    .await;
    let resumed_ms = ended.elapsed().as_millis();
    let mut seen = Seen::default();
    let line = settle(&q, &mut rx, &mut seen, &runs, n).await;
    w.close(Duration::from_secs(5)).await;
    println!(
        "redis-busy: {line} busy_s={busy_s:.1} threshold_s=1 resumed_ms={resumed_ms} refusal={:?}",
        seen.refusal.as_deref().unwrap_or("-")
    );
    assert!(busy_s >= 4.5, "the script kept Redis busy: {busy_s}");
    assert!(seen.lost >= 1, "the refusal was reported");
}
