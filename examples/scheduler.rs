//! Job schedulers: one on a fixed interval, one on a cron pattern in a time zone; a supervised
//! worker produces each next iteration as it takes one (as a Node BullMQ 6.7 worker does), and
//! the schedulers are listed and removed at the end. Run it with
//! `cargo run --example scheduler`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::{
    processor, Connection, JobOptions, JobOutcome, JobScheduler, JobTemplate, Queue, QueueOptions, RepeatOptions,
    Worker, WorkerEvent, WorkerOptions,
};
use serde_json::json;

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let name = format!("scheduler-example-{}", std::process::id());
    let queue = Queue::new(&name, QueueOptions::new(connection.clone())).await?;
    let schedulers = JobScheduler::new(&queue);

    // Every 400 ms, at most 5 times.
    let first = schedulers
        .upsert(
            "heartbeat",
            RepeatOptions::every(Duration::from_millis(400)).limit(5),
            JobTemplate::named("beat").data(json!({"source": "example"})),
        )
        .await?;
    println!("heartbeat: first iteration {} (delay {} ms)", first.id, first.delay);
    // Every second, on the second, read in Berlin time (seconds are the optional sixth field).
    let cron = schedulers
        .upsert(
            "report",
            RepeatOptions::pattern("* * * * * *").tz("Europe/Berlin"),
            JobTemplate::named("report").opts(JobOptions::default().attempts(3)),
        )
        .await?;
    println!("report: first iteration {} (delay {} ms)", cron.id, cron.delay);
    // An invalid pattern is refused before anything is written.
    if let Err(e) = schedulers.upsert("broken", RepeatOptions::pattern("0 0 15W * *"), JobTemplate::default()).await {
        println!("refused: {e}");
    }

    let work = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(json!({"ran": job.name}))) });
    let (worker, mut events) = Worker::spawn(&name, work, WorkerOptions::new(connection)).await?;
    let mut done = 0;
    while done < 8 {
        match events.recv().await {
            Some(WorkerEvent::JobCompleted { id, .. }) => {
                done += 1;
                println!("completed {id}");
            }
            Some(_) => {}
            None => break,
        }
    }
    worker.close(Duration::from_secs(5)).await;

    for s in schedulers.list().await? {
        println!(
            "scheduler {}: {} iterations so far, next slot {:?}, every {:?}, pattern {:?}",
            s.key,
            s.iteration_count.unwrap_or(0),
            s.next,
            s.every,
            s.pattern
        );
    }
    schedulers.remove("heartbeat").await?;
    schedulers.remove("report").await?;
    queue.obliterate(true).await?;
    Ok(())
}
