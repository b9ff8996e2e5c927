//! Manual processing: add jobs to a queue, process them by hand with a `ManualWorker` (the
//! engine the supervised worker tree is built on), retry a failing one with backoff, and print
//! what happens. Run it with `cargo run --example manual`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::worker::{FailOutcome, GetNextJobOptions};
use bullmq::{Backoff, Connection, JobError, JobOptions, JobState, ManualWorker, Queue, QueueOptions, WorkerOptions};
use serde_json::json;

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let name = format!("example-{}", std::process::id());

    let queue = Queue::new(&name, QueueOptions::new(connection.clone())).await?;
    queue.add("email", json!({"to": "ada@example.com"}), JobOptions::default()).await?;
    queue.add("report", json!({"month": 11}), JobOptions::default().priority(1)).await?;
    let flaky = JobOptions::default().attempts(3).backoff(Backoff::exponential(Duration::from_millis(100)));
    queue.add("flaky", json!({"url": "https://example.com"}), flaky).await?;
    queue.add("later", json!({}), JobOptions::default().delay(Duration::from_millis(300))).await?;
    println!("added 4 jobs to {name}: {:?}", queue.get_counts().await?);

    let worker = ManualWorker::new(&name, WorkerOptions::new(connection).name("example")).await?;
    worker.start_stalled_check_timer();

    let mut done = 0;
    let mut n = 0;
    while done < 4 {
        n += 1;
        let token = format!("example-token-{n}");
        let Some(job) = worker.get_next_job(&token, GetNextJobOptions::wait(Duration::from_secs(2))).await? else {
            continue;
        };
        println!("active    {} {:<7} attempt {} data {}", job.id, job.name, job.attempts_made + 1, job.data);
        if job.name == "flaky" && job.attempts_made < 2 {
            match job.move_to_failed(&JobError::new("upstream timed out"), false).await? {
                FailOutcome::Retried { delay } => println!("retrying {} in {delay:?}", job.id),
                FailOutcome::Failed { .. } => println!("failed    {}", job.id),
            }
            continue;
        }
        job.log(&format!("processed by {}", job.token())).await?;
        job.move_to_completed(json!({"ok": true, "job": job.name}), false).await?;
        println!("completed {} {}", job.id, job.name);
        done += 1;
    }

    let counts = queue.get_counts().await?;
    println!("completed: {}, waiting: {}", counts[&JobState::Completed], counts[&JobState::Waiting]);
    worker.close().await;
    queue.obliterate(true).await?;
    Ok(())
}
