//! The soak: a producer adding jobs at a steady rate for the whole run, worker processes
//! SIGKILLed at random (a supervisor, this test, starts them again), two Redis restarts (graceful,
//! with an append-only file, so Redis keeps its data) and one BUSY spell (a 5 s script at a 1 s
//! threshold), and one long-lived worker in this process throughout, whose memory is watched.
//! At the end: nothing lost or failed, every extra execution explained by the job's stalled
//! count, and the long-lived worker's RSS flat. CI runs 20,000 jobs over 60 s;
//! `BULLMQ_SOAK_FULL=1` runs 200,000 over 10 minutes. Prints one line of figures.
//!
//! Worker processes are this test binary re-executed with `SOAK_QUEUE` set; each appends the id
//! of every job it starts to a file of its own (a kill loses nothing written), which is how
//! executions are counted.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::{processor, BulkJob, JobOptions, JobOutcome, Processor, Queue, QueueOptions, Worker, WorkerOptions};
use common::*;
use serde_json::json;

/// A processor that logs each start to `log` (one id per line), then works 0-10 ms.
fn logging_processor(log: &Path) -> Processor {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let file = Arc::new(Mutex::new(file));
    processor(move |job, _ctx| {
        let file = file.clone();
        async move {
            writeln!(file.lock().unwrap(), "{}", job.id).unwrap();
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..10))).await;
            Ok(JobOutcome::Completed(json!(1)))
        }
    })
}

fn soak_options() -> WorkerOptions {
    WorkerOptions::new(conn())
        .concurrency(8)
        .lock_duration(Duration::from_secs(2))
        .stalled_interval(Duration::from_secs(1))
        // Kills stall jobs again and again; what is checked is that none is lost.
        .max_stalled_count(1_000)
        .drain_delay(Duration::from_millis(500))
}

/// Not a test on its own: the body of a soak worker process.
#[tokio::test]
async fn soak_worker_process() {
    let Ok(queue) = std::env::var("SOAK_QUEUE") else { return };
    let dir = PathBuf::from(std::env::var("SOAK_DIR").unwrap());
    let log = dir.join(format!("runs-{}.log", std::process::id()));
    // Redis may be restarting as this process starts: try again, as a supervisor would.
    let w = loop {
        match Worker::spawn(&queue, logging_processor(&log), soak_options()).await {
            Ok((w, _events)) => break w,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    tokio::time::sleep(Duration::from_secs(3600)).await;
    drop(w);
}

fn spawn_worker(queue: &str, dir: &Path) -> Child {
    spawn_test_process("soak_worker_process", &[("SOAK_QUEUE", queue), ("SOAK_DIR", &dir.to_string_lossy())])
}

/// This process's resident set, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Shuts the server down gracefully (its append-only file flushed) and starts it again on the
/// same port and data.
async fn restart_redis(url: &str, port: u16, dir: &Path) {
    let mut c = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _ = redis::cmd("SHUTDOWN").query_async::<redis::Value>(&mut c).await;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start_persistent_server(port, dir);
}

/// Adds jobs `from..to` with ids `s<i>`, retrying a chunk Redis refused (down, busy, loading):
/// a retried add of an existing id adds nothing.
async fn add_range(q: &Queue, from: u64, to: u64) {
    let jobs: Vec<BulkJob> = (from..to)
        .map(|i| BulkJob::new("s", json!({ "i": i }), JobOptions::default().job_id(format!("s{i}"))).unwrap())
        .collect();
    loop {
        match q.add_bulk(jobs.clone()).await {
            Ok(_) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak() {
    if std::env::var("SOAK_QUEUE").is_ok() {
        return;
    }
    let full = std::env::var("BULLMQ_SOAK_FULL").is_ok_and(|v| v == "1");
    let (n, length, kill_every) = if full { (200_000u64, 600u64, 25u64) } else { (20_000, 60, 8) };
    let dir = std::env::temp_dir().join(format!("bullmq-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    start_persistent_server(port, &dir);
    let url = format!("redis://127.0.0.1:{port}");
    // The children and conn() find this server through REDIS_URL (read once, at first use).
    std::env::set_var("REDIS_URL", &url);
    assert_eq!(redis().url, url, "the soak runs on a server of its own");
    let name = qname("soak");
    let q = Queue::new(&name, QueueOptions::new(conn())).await.unwrap();

    // The long-lived worker, never killed, and its memory.
    let (w, _events) =
        Worker::spawn(&name, logging_processor(&dir.join("runs-main.log")), soak_options()).await.unwrap();
    let mut children: Vec<Child> = (0..3).map(|_| spawn_worker(&name, &dir)).collect();
    let started = Instant::now();
    let at = |share: f64| Duration::from_secs_f64(length as f64 * share);
    let (restart_1, restart_2, busy_at) = (at(0.3), at(0.6), at(0.8));
    let mut done = (false, false, false);
    let (mut kills, mut respawns) = (0u32, 0u32);
    let mut next_kill = Duration::from_secs(kill_every);
    let mut rss = Vec::new();
    let chunk = 200;
    let mut added = 0;
    while added < n || q.get_completed_count().await.unwrap_or(0) < n {
        let t = started.elapsed();
        assert!(
            t < Duration::from_secs(length + 180),
            "not done: {}/{n} completed",
            q.get_completed_count().await.unwrap_or(0)
        );
        // Producer: on schedule for n jobs over `length`.
        let due = ((t.as_secs_f64() / length as f64).min(1.0) * n as f64) as u64;
        while added < due.min(n) {
            let to = (added + chunk).min(n);
            add_range(&q, added, to).await;
            added = to;
        }
        if t > restart_1 && !done.0 {
            done.0 = true;
            restart_redis(&url, port, &dir).await;
        }
        if t > restart_2 && !done.1 {
            done.1 = true;
            restart_redis(&url, port, &dir).await;
        }
        if t > busy_at && !done.2 {
            done.2 = true;
            busy_spell(&url, Duration::from_secs(5)).await;
        }
        if t > next_kill && added < n {
            next_kill = t + Duration::from_secs(kill_every);
            let victim = fastrand::usize(0..children.len());
            let mut c = children.swap_remove(victim);
            c.kill().unwrap();
            c.wait().unwrap();
            kills += 1;
            children.push(spawn_worker(&name, &dir));
        }
        // The supervisor's part: a worker process that died by itself starts again.
        for c in children.iter_mut() {
            if c.try_wait().unwrap().is_some() {
                *c = spawn_worker(&name, &dir);
                respawns += 1;
            }
        }
        if rss.len() < (t.as_secs() / 5) as usize + 1 {
            rss.push(rss_kib());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    rss.push(rss_kib());
    w.close(Duration::from_secs(5)).await;
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }

    // Executions per job, from every process's log.
    let mut runs: HashMap<String, u64> = HashMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|f| f.to_string_lossy().starts_with("runs-")) {
            for id in std::fs::read_to_string(&path).unwrap().lines() {
                *runs.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    let completed = q.get_completed_count().await.unwrap();
    let failed = q.get_failed_count().await.unwrap();
    let extra: u64 = runs.values().map(|r| r - 1).sum();
    let mut unexplained = Vec::new();
    let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    for (id, r) in runs.iter().filter(|(_, r)| **r > 1) {
        let stc: Option<u64> = redis::cmd("HGET").arg(k(&q, id)).arg("stc").query_async(&mut conn).await.unwrap();
        if r - 1 > stc.unwrap_or(0) {
            unexplained.push((id.clone(), *r, stc));
        }
    }
    // The first sample is taken before any job ran; memory is judged from the second (warm).
    let warm = rss.get(1).copied().unwrap_or(rss[0]);
    let (end, max) = (*rss.last().unwrap(), *rss.iter().max().unwrap());
    println!(
        "soak: jobs={n} length_s={length} elapsed_s={:.0} completed={completed} lost={} failed={failed} executions={} extra_executions={extra} unexplained={} kills={kills} respawns={respawns} redis_restarts=2 busy_spells=1 rss_kib_start={warm} rss_kib_end={end} rss_kib_max={max}",
        elapsed.as_secs_f64(),
        n - completed - failed,
        runs.values().sum::<u64>(),
        unexplained.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((completed, failed), (n, 0), "nothing lost or failed");
    assert_eq!(runs.len() as u64, n, "every job ran");
    assert!(
        unexplained.is_empty(),
        "extra executions beyond the stalled count: {:?}",
        &unexplained[..unexplained.len().min(10)]
    );
    assert!(end < warm + warm / 2 + 16 * 1024, "the long-lived worker's memory grew: {warm} -> {end} KiB");
}
