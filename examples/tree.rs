//! A supervision tree of your own, built from `main` the way an Elixir application lists its
//! children: one one_for_one supervisor holding two workers (two queues) and a `QueueEvents`.
//! It processes a few jobs on each queue, waits for one through the events, prints the
//! supervisor's and the workers' lifecycle events, and stops the tree. Run it with
//! `cargo run --example tree`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::supervisor::{RestartIntensity, Strategy, Supervisor, SupervisorOptions};
use bullmq::{
    processor, Connection, JobOptions, JobOutcome, Queue, QueueEvents, QueueEventsOptions, QueueOptions, Worker,
    WorkerEvent, WorkerOptions,
};
use serde_json::json;

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let (emails, reports) = (format!("emails-{}", std::process::id()), format!("reports-{}", std::process::id()));

    let send = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(json!({"sent_to": job.data["to"]}))) });
    let render = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(json!({"pages": job.data["n"]}))) });
    let email_worker = Worker::new(&emails, send, WorkerOptions::new(connection.clone()).concurrency(4)).await?;
    let report_worker = Worker::new(&reports, render, WorkerOptions::new(connection.clone())).await?;
    let events = QueueEvents::new(&emails, QueueEventsOptions::new(connection.clone()).autorun(false)).await?;

    // The tree: a worker that melts down is restarted by this supervisor, within its intensity.
    let children = vec![email_worker.child_spec(), report_worker.child_spec(), events.child_spec()];
    let opts = SupervisorOptions::default().intensity(RestartIntensity::new(3, Duration::from_secs(30)));
    let (app, mut tree_events) = Supervisor::spawn("app", Strategy::OneForOne, children, opts).await?;
    let mut email_events = email_worker.subscribe();

    let email_queue = Queue::new(&emails, QueueOptions::new(connection.clone())).await?;
    let report_queue = Queue::new(&reports, QueueOptions::new(connection)).await?;
    let first = email_queue.add("welcome", json!({"to": "ada@example.com"}), JobOptions::default()).await?;
    email_queue.add("digest", json!({"to": "grace@example.com"}), JobOptions::default()).await?;
    report_queue.add("monthly", json!({"n": 12}), JobOptions::default()).await?;

    let result = events.wait_until_finished(&first, Duration::from_secs(10)).await?;
    println!("job {} of {emails} returned {result}", first.id);
    let mut completed = 0;
    while completed < 2 {
        match tokio::time::timeout(Duration::from_secs(10), email_events.recv()).await {
            Ok(Some(e @ WorkerEvent::JobCompleted { .. })) => {
                completed += 1;
                println!("{emails}: {e}");
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    while let Ok(e) = tree_events.try_recv() {
        println!("{e}");
    }
    for worker in [&email_worker, &report_worker] {
        worker.close(Duration::from_secs(5)).await;
    }
    events.close().await;
    app.stop(Some(Duration::from_secs(10))).await;
    while let Ok(e) = tree_events.try_recv() {
        println!("{e}");
    }
    email_queue.obliterate(true).await?;
    report_queue.obliterate(true).await?;
    Ok(())
}
