//! Processors that block their threads (`std::thread::sleep` for 3 s with a 1 s lock), in two
//! workers with runtimes of their own (two threads each, concurrency 4: every runtime thread
//! taken): lock renewal and the stalled check run on the maintenance thread, so no lock expires
//! under a running job, no job runs twice and none stalls. Once with a plain `processor` that
//! blocks (what a user may write by mistake), once with `blocking_processor` (the way the README
//! gives). Each test prints one line of figures.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::{blocking_processor, processor, JobOptions, JobOutcome, Processor, Queue, Worker, WorkerEvent};
use common::*;
use serde_json::json;

const JOBS: usize = 8;
const WORK: Duration = Duration::from_secs(3);

type Runs = Arc<Mutex<HashMap<String, u32>>>;

/// What one worker saw.
#[derive(Default, Debug)]
struct Seen {
    completed: usize,
    lock_lost: usize,
    stalled: usize,
    failed: usize,
}

/// Runs one worker on a runtime of its own (two threads) until the queue has `JOBS` completed.
fn run_worker(name: String, processor: Processor) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let q = Queue::new(&name, bullmq::QueueOptions::new(conn())).await.unwrap();
            let opts = worker_opts(&q)
                .concurrency(4)
                .lock_duration(Duration::from_secs(1))
                .stalled_interval(Duration::from_secs(1))
                .drain_delay(Duration::from_millis(200));
            let (w, mut rx) = Worker::spawn(&name, processor, opts).await.unwrap();
            eventually("every job completed", Duration::from_secs(60), || async {
                q.get_completed_count().await.unwrap_or(0) == JOBS as u64
            })
            .await;
            w.close(Duration::from_secs(5)).await;
            let mut seen = Seen::default();
            while let Ok(e) = rx.try_recv() {
                match e {
                    WorkerEvent::JobCompleted { .. } => seen.completed += 1,
                    WorkerEvent::LockLost { .. } => seen.lock_lost += 1,
                    WorkerEvent::JobStalled { .. } => seen.stalled += 1,
                    WorkerEvent::JobFailed { .. } => seen.failed += 1,
                    _ => {}
                }
            }
            seen
        })
    })
}

/// Adds the jobs, runs two workers built by `make`, checks and prints the figures.
fn probe(tag: &str, make: impl Fn(Runs) -> Processor) {
    let name = qname(tag);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let q = rt.block_on(Queue::new(&name, bullmq::QueueOptions::new(conn()))).unwrap();
    for i in 0..JOBS {
        rt.block_on(q.add("block", json!({ "i": i }), JobOptions::default().job_id(format!("b{i}")))).unwrap();
    }
    let runs: Runs = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..2).map(|_| run_worker(name.clone(), make(runs.clone()))).collect();
    let seen: Vec<Seen> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let took = started.elapsed();
    let runs = runs.lock().unwrap().clone();
    let executions: u32 = runs.values().sum();
    let failed = rt.block_on(q.get_failed_count()).unwrap();
    let sum = |f: fn(&Seen) -> usize| seen.iter().map(f).sum::<usize>();
    println!(
        "{tag}: jobs={JOBS} executions={executions} duplicates={} completed={} failed={failed} stalled={} lock_lost={} workers=2 concurrency=4 runtime_threads=2 lock_s=1 block_s=3 took_s={:.1}",
        executions as usize - runs.len(),
        sum(|s| s.completed),
        sum(|s| s.stalled),
        sum(|s| s.lock_lost),
        took.as_secs_f64()
    );
    assert_eq!((runs.len(), executions as usize), (JOBS, JOBS), "each job ran once: {runs:?}");
    assert_eq!(sum(|s| s.completed), JOBS);
    assert_eq!((failed, sum(|s| s.stalled), sum(|s| s.lock_lost), sum(|s| s.failed)), (0, 0, 0, 0));
}

fn count(runs: &Runs, id: &str) {
    *runs.lock().unwrap().entry(id.to_owned()).or_default() += 1;
}

/// A plain processor that blocks: every runtime thread of both workers is taken for 3 s at a
/// time, longer than the lock; the locks still hold.
#[test]
fn a_processor_that_blocks_its_thread_keeps_its_locks() {
    probe("blocking-plain", |runs| {
        processor(move |job, _ctx| {
            let runs = runs.clone();
            async move {
                count(&runs, &job.id);
                std::thread::sleep(WORK);
                Ok(JobOutcome::Completed(json!(1)))
            }
        })
    });
}

/// The same work as a `blocking_processor`: run on the blocking pool, the runtime threads stay
/// free.
#[test]
fn a_blocking_processor_runs_off_the_runtime() {
    probe("blocking-kind", |runs| {
        blocking_processor(move |job, _ctx| {
            count(&runs, &job.id);
            std::thread::sleep(WORK);
            Ok(JobOutcome::Completed(json!(1)))
        })
    });
}
