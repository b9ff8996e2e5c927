//! The main example: spawn a supervised worker tree from `main`, add jobs, report progress,
//! cancel one running job by sending its job actor a `Cancel` message, print the lifecycle
//! events, and shut down gracefully. Run it with `cargo run --example main`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::{
    processor, CancelReason, Connection, JobError, JobMsg, JobOptions, JobOutcome, Queue, QueueOptions, Worker,
    WorkerEvent, WorkerOptions,
};
use serde_json::json;

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let name = format!("example-{}", std::process::id());

    // The processor: a few steps with progress; it checks its cancellation token between steps.
    let work = processor(|mut job, ctx| async move {
        let steps = job.data["steps"].as_u64().unwrap_or(3);
        for step in 1..=steps {
            tokio::select! {
                _ = ctx.cancel.cancelled() => return Err(JobError::new("stopped between steps")),
                _ = tokio::time::sleep(Duration::from_millis(150)) => {}
            }
            ctx.progress(&mut job, json!({"step": step, "of": steps})).await?;
        }
        Ok(JobOutcome::Completed(json!({"steps": steps})))
    });

    // Spawn the tree from main: worker -> lock-renewer, stalled-checker, acker, fetcher, and one
    // actor per running job.
    let opts = WorkerOptions::new(connection.clone()).concurrency(2).name("example");
    let (worker, mut events) = Worker::spawn(&name, work, opts).await?;

    let queue = Queue::new(&name, QueueOptions::new(connection)).await?;
    queue.add("short", json!({"steps": 2}), JobOptions::default()).await?;
    let long = queue.add("long", json!({"steps": 40}), JobOptions::default()).await?;
    queue.add("medium", json!({"steps": 4}), JobOptions::default()).await?;

    let mut finished = 0;
    while finished < 3 {
        let Some(event) = events.recv().await else { break };
        println!("{event}");
        match &event {
            WorkerEvent::JobActive { id } if *id == long.id => {
                // Let it run a little, then cancel it through its actor.
                let actor = worker.job_actor(id).expect("the long job is running");
                let id = id.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    println!("sending Cancel to the actor of job {id}");
                    let _ = actor.send_message(JobMsg::Cancel { reason: CancelReason::User("demo".into()) });
                });
            }
            WorkerEvent::JobCompleted { .. } | WorkerEvent::JobFailed { .. } | WorkerEvent::JobCancelled { .. } => {
                finished += 1
            }
            _ => {}
        }
    }

    let orphans = worker.close(Duration::from_secs(5)).await;
    while let Ok(event) = events.try_recv() {
        println!("{event}");
    }
    let counts = queue.get_counts().await?;
    let mut counts: Vec<String> = counts.iter().filter(|(_, n)| **n > 0).map(|(s, n)| format!("{s} {n}")).collect();
    counts.sort();
    println!("closed with {} orphans; jobs: {}", orphans.len(), counts.join(", "));
    queue.obliterate(true).await?;
    Ok(())
}
