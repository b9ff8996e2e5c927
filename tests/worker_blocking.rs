//! Processors that block their threads (`std::thread::sleep` for 1.5 to 3 s with a 1 s lock), in
//! two workers with runtimes of their own (two threads each, concurrency 4: every runtime thread
//! taken): lock renewal and the stalled check run on the maintenance thread, so no lock expires
//! under a running job or a take whose reply waits unread, no job runs twice and none stalls.
//! With a plain `processor` that blocks (what a user may write by mistake), all at once and
//! staggered; with `blocking_processor` (the way the README gives); and staggered in the workers
//! of a fair group, whose jobs live in tenant queues. Each test prints one line of figures.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::{
    blocking_processor, processor, FairOptions, FairQueue, JobOptions, JobOutcome, Processor, Queue, Worker,
    WorkerEvent,
};
use common::*;
use serde_json::json;

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

/// The tenants of the fair probe's group: its jobs are spread over their queues.
const TENANTS: [&str; 2] = ["t0", "t1"];

/// The queues a probe's jobs are in: the queue `name`, or (fair) its tenants' queues.
async fn job_queues(name: &str, fair: bool) -> Vec<Queue> {
    if !fair {
        return vec![Queue::new(name, bullmq::QueueOptions::new(conn())).await.unwrap()];
    }
    let g = FairQueue::new(name, bullmq::QueueOptions::new(conn())).await.unwrap();
    let mut queues = Vec::new();
    for t in TENANTS {
        queues.push(g.tenant(t).await.unwrap());
    }
    queues
}

async fn completed(queues: &[Queue]) -> u64 {
    let mut n = 0;
    for q in queues {
        n += q.get_completed_count().await.unwrap_or(0);
    }
    n
}

/// Runs one worker (of the fair group `name` when `fair`) on a runtime of its own (two threads)
/// until `JOBS` are completed.
fn run_worker(name: String, processor: Processor, fair: bool, jobs: usize) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let queues = job_queues(&name, fair).await;
            let opts = worker_opts(&queues[0])
                .concurrency(4)
                .lock_duration(Duration::from_secs(1))
                .stalled_interval(Duration::from_secs(1))
                .drain_delay(Duration::from_millis(200));
            let (w, mut rx) = if fair {
                Worker::spawn_fair(&name, processor, opts, FairOptions::default()).await.unwrap()
            } else {
                Worker::spawn(&name, processor, opts).await.unwrap()
            };
            eventually("every job completed", Duration::from_secs(60), || async {
                completed(&queues).await == jobs as u64
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

/// Adds the jobs (to a fair group's two tenants when `fair`), runs two workers built by `make`,
/// checks and prints the figures.
fn probe(tag: &str, fair: bool, jobs: usize, make: impl Fn(Runs) -> Processor) {
    let name = qname(tag);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queues = rt.block_on(job_queues(&name, fair));
    for i in 0..jobs {
        let q = &queues[i % queues.len()];
        rt.block_on(q.add("block", json!({ "i": i }), JobOptions::default().job_id(format!("b{i}")))).unwrap();
    }
    let runs: Runs = Arc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..2).map(|_| run_worker(name.clone(), make(runs.clone()), fair, jobs)).collect();
    let seen: Vec<Seen> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let took = started.elapsed();
    let runs = runs.lock().unwrap().clone();
    let executions: u32 = runs.values().sum();
    let failed: u64 = queues.iter().map(|q| rt.block_on(q.get_failed_count()).unwrap()).sum();
    let sum = |f: fn(&Seen) -> usize| seen.iter().map(f).sum::<usize>();
    println!(
        "{tag}: jobs={jobs} executions={executions} duplicates={} completed={} failed={failed} stalled={} lock_lost={} workers=2 concurrency=4 runtime_threads=2 lock_s=1 took_s={:.1}",
        executions as usize - runs.len(),
        sum(|s| s.completed),
        sum(|s| s.stalled),
        sum(|s| s.lock_lost),
        took.as_secs_f64()
    );
    assert_eq!((runs.len(), executions as usize), (jobs, jobs), "each job ran once: {runs:?}");
    assert_eq!(sum(|s| s.completed), jobs);
    assert_eq!((failed, sum(|s| s.stalled), sum(|s| s.lock_lost), sum(|s| s.failed)), (0, 0, 0, 0));
}

fn count(runs: &Runs, id: &str) {
    *runs.lock().unwrap().entry(id.to_owned()).or_default() += 1;
}

/// How long job `i` blocks its thread in the staggered runs: 1.5, 2.2 or 2.9 s (each longer than
/// the lock). Jobs end at different times, so a worker's finish-and-take calls go out while its
/// other processors hold both runtime threads: their replies wait unread past the lock, and
/// only the renewal by token keeps the jobs they took.
fn staggered(i: u64) -> Duration {
    Duration::from_millis(1500 + (i % 3) * 700)
}

/// A plain processor that blocks for `block(i)` (job data `i`).
fn blocking_plain(runs: Runs, block: fn(u64) -> Duration) -> Processor {
    processor(move |job, _ctx| {
        let runs = runs.clone();
        async move {
            count(&runs, &job.id);
            std::thread::sleep(block(job.data["i"].as_u64().unwrap_or(0)));
            Ok(JobOutcome::Completed(json!(1)))
        }
    })
}

/// A plain processor that blocks: every runtime thread of both workers is taken for 3 s at a
/// time, longer than the lock; the locks still hold.
#[test]
fn a_processor_that_blocks_its_thread_keeps_its_locks() {
    probe("blocking-plain", false, 8, |runs| blocking_plain(runs, |_| WORK));
}

/// The same work as a `blocking_processor`: run on the blocking pool, the runtime threads stay
/// free.
#[test]
fn a_blocking_processor_runs_off_the_runtime() {
    probe("blocking-kind", false, 8, |runs| {
        blocking_processor(move |job, _ctx| {
            count(&runs, &job.id);
            std::thread::sleep(WORK);
            Ok(JobOutcome::Completed(json!(1)))
        })
    });
}

/// 24 jobs that block for `staggered` times: takes whose reply waits unread behind blocked
/// threads keep their jobs.
#[test]
fn takes_behind_blocked_threads_keep_their_locks() {
    probe("blocking-staggered", false, 24, |runs| blocking_plain(runs, staggered));
}

/// The same for a fair group's workers: their jobs live in the tenants' queues, where the lock
/// renewer renews them, and the takes whose reply is unread are found by token in the queues of
/// the group's busy tenants. (Before, only the group's home queue was searched: five runs of
/// five failed, 1 to 3 of the 24 jobs running twice or stalling until failed.)
#[test]
fn a_fair_worker_whose_processor_blocks_keeps_its_locks() {
    probe("blocking-fair", true, 24, |runs| blocking_plain(runs, staggered));
}
