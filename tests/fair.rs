//! Fairness across tenants (QuiCK's pointer index on Redis) through the public API: a flood
//! does not starve small tenants, caps and weights hold, a crashed worker's tenant comes back,
//! a tenant added while others drain is served, and a Node producer's jobs are found.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::{BulkJob, FairOptions, FairQueue, JobOptions, JobOutcome, QueueOptions, Worker, WorkerEvent};
use common::*;
use serde_json::json;

/// Starts of each job, in order: (tenant queue name, job id).
type Starts = Arc<Mutex<Vec<(String, String)>>>;

fn recording(work: Duration) -> (bullmq::Processor, Starts) {
    let starts: Starts = Default::default();
    let seen = starts.clone();
    let p = bullmq::processor(move |job, _ctx| {
        seen.lock().unwrap().push((job.queue_name().to_owned(), job.id.clone()));
        async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            Ok(JobOutcome::Completed(json!(1)))
        }
    });
    (p, starts)
}

async fn group(tag: &str) -> FairQueue {
    FairQueue::new(&qname(tag), QueueOptions::new(conn())).await.unwrap()
}

fn opts() -> bullmq::WorkerOptions {
    bullmq::WorkerOptions::new(conn()).concurrency(10)
}

async fn add_many(g: &FairQueue, tenant: &str, n: usize) {
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        let jobs = (0..k).map(|i| BulkJob::new("work", json!({ "i": i }), JobOptions::default()).unwrap()).collect();
        g.add_bulk(tenant, jobs).await.unwrap();
        left -= k;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_does_not_starve_small_tenants() {
    let g = group("fair-flood").await;
    let t0 = Instant::now();
    add_many(&g, "flood", 100_000).await;
    let added = t0.elapsed();
    let (p, starts) = recording(Duration::from_millis(1));
    let (worker, mut events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    let flood_q = g.tenant_queue_name("flood");
    // The flood has the worker to itself for a while.
    eventually("the flood runs", Duration::from_secs(20), || {
        let s = starts.clone();
        async move { s.lock().unwrap().len() >= 20 }
    })
    .await;
    let before = starts.lock().unwrap().len();
    for t in 0..100 {
        let jobs = (0..10).map(|i| BulkJob::new("work", json!({ "i": i }), JobOptions::default()).unwrap()).collect();
        g.add_bulk(&format!("small{t}"), jobs).await.unwrap();
    }
    let flood_starts = |s: &Starts| s.lock().unwrap().iter().filter(|(q, _)| *q == flood_q).count();
    let after_adds = flood_starts(&starts);
    let mut small_done = 0;
    let mut completed = 0u64;
    while small_done < 1000 {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap().unwrap() {
            WorkerEvent::JobCompleted { .. } => {
                completed += 1;
                small_done = starts.lock().unwrap().iter().filter(|(q, _)| *q != flood_q).count();
            }
            WorkerEvent::Error { message } => panic!("{message}"),
            _ => {}
        }
    }
    // Small tenants' jobs started; wait until they are all done (completions lag starts).
    eventually("small tenants complete", Duration::from_secs(30), || {
        let g = g.clone();
        async move {
            let mut done = 0;
            for t in 0..100 {
                done += g.tenant(&format!("small{t}")).await.unwrap().get_completed_count().await.unwrap();
            }
            done == 1000
        }
    })
    .await;
    let flood_run = flood_starts(&starts);
    let (during_adds, after) = (after_adds - before, flood_run - after_adds);
    worker.close(Duration::from_secs(10)).await;
    let flood = g.tenant("flood").await.unwrap();
    let flood_done = flood.get_completed_count().await.unwrap();
    println!(
        "fairness: flood 100000 added in {:.1} s; 100 tenants x 10 added after {before} flood starts; \
         {during_adds} flood starts while they were added, {after} more until all 1000 small jobs \
         were done: {flood_run} flood jobs run in all (< 500 wanted), {flood_done} completed; \
         {completed} completion events",
        added.as_secs_f64()
    );
    assert!(flood_run < 500, "the flood ran {flood_run} jobs before the small tenants were done");
    flood.obliterate(true).await.unwrap();
}
