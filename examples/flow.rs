//! Flows: a parent job that runs once its children (in two queues) have run, reading what they
//! returned; one child fails under `ignore dependency`, so the parent goes on and sees the
//! failure. Then the flow is read back with each job's state. Run it with
//! `cargo run --example flow`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::{
    processor, Connection, FlowJob, FlowProducer, JobError, JobOptions, JobOutcome, ParentFailurePolicy, Queue,
    QueueOptions, Worker, WorkerEvent, WorkerOptions,
};
use serde_json::json;

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let (renders, uploads) = (format!("renders-{}", std::process::id()), format!("uploads-{}", std::process::id()));

    let flows = FlowProducer::new(connection.clone()).await?;
    let tree = flows
        .add(FlowJob::new("assemble", &renders).data(json!({"movie": "demo"})).children(vec![
            FlowJob::new("render", &renders).data(json!({"scene": 1})),
            FlowJob::new("render", &renders).data(json!({"scene": 2})),
            FlowJob::new("upload", &uploads)
                .data(json!({"to": "cdn"}))
                .opts(JobOptions::default().parent_failure(ParentFailurePolicy::IgnoreDependency)),
        ]))
        .await?;
    println!("added flow {} with {} children", tree.job.id, tree.children.len());

    let work = processor(|job, ctx| async move {
        match job.name.as_str() {
            "render" => Ok(JobOutcome::Completed(json!({"frames": 24 * job.data["scene"].as_i64().unwrap_or(0)}))),
            "upload" => Err(JobError::unrecoverable("cdn unreachable")),
            _ => {
                // The parent: its children's results, by child key.
                let values = ctx.get_children_values(&job).await.map_err(|e| JobError::new(e.to_string()))?;
                Ok(JobOutcome::Completed(json!({"scenes": values.len()})))
            }
        }
    });
    let (w1, mut events) = Worker::spawn(&renders, work.clone(), WorkerOptions::new(connection.clone())).await?;
    let (w2, _uploads_events) = Worker::spawn(&uploads, work, WorkerOptions::new(connection.clone())).await?;
    loop {
        match events.recv().await {
            Some(WorkerEvent::JobCompleted { id, returnvalue }) => {
                println!("completed {id}: {returnvalue}");
                if id == tree.job.id {
                    break;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    w1.close(Duration::from_secs(5)).await;
    w2.close(Duration::from_secs(5)).await;

    let queue = Queue::new(&renders, QueueOptions::new(connection.clone())).await?;
    println!("ignored failures: {:?}", queue.get_ignored_children_failures(&tree.job.id).await?);
    if let Some(read) = flows.get_flow(&renders, &tree.job.id, 10, 20).await? {
        println!("{} is {:?}", read.job.id, read.state);
        for child in &read.children {
            println!("  {} ({}) is {:?}", child.job.id, child.job.name, child.state);
        }
    }
    queue.obliterate(true).await?;
    Queue::new(&uploads, QueueOptions::new(connection)).await?.obliterate(true).await?;
    Ok(())
}
