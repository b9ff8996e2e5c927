//! Topic routing, ported from the Bedrock job queue's quick start: a router with two topics
//! (`email:send` with a typed payload, `report:*` by pattern), jobs for two tenants of a fair
//! group (one queue each, served round-robin by one worker), a snooze and a discard, and a
//! topic timeout. Run it with
//! `cargo run --example topics`.
//!
//! Redis: `REDIS_URL`, else 127.0.0.1:6379, else a private redis-server started here.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use bullmq::{
    Connection, FairOptions, FairQueue, Handled, JobOptions, QueueOptions, Router, TopicDefaults, Worker, WorkerEvent,
    WorkerOptions,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct SendEmail {
    to: String,
    subject: String,
}

#[tokio::main]
async fn main() -> bullmq::Result<()> {
    let redis = support::find_or_start_redis();
    let connection = Connection::from_url(&redis.url);
    let pid = std::process::id();

    // Bedrock's `workers: %{"email:send" => SendEmail, "report:*" => Reports}`.
    let router = Router::new()
        .typed(
            "email:send",
            TopicDefaults::new().attempts(3).timeout(Duration::from_secs(5)),
            |email: SendEmail, meta, _ctx| async move {
                if email.to.ends_with("@invalid") {
                    return Ok(Handled::Discard(format!("bad address {}", email.to)));
                }
                println!("[{}] sending {:?} to {} (attempt {})", meta.tenant, email.subject, email.to, meta.attempt);
                Ok(Handled::OkWith(json!({"sent": true})))
            },
        )
        .route("report:*", |job, meta, _ctx| async move {
            // Not ready on the first try: come back in 300 ms (a snooze uses no attempt).
            if job.attempts_started == 1 {
                println!("[{}] {} not ready, snoozing", meta.tenant, meta.topic);
                return Ok(Handled::Snooze(Duration::from_millis(300)));
            }
            Ok(Handled::OkWith(json!({"rows": 42})))
        });

    // Two tenants of one fair group, a queue each (`mail-<pid>.acme`, `mail-<pid>.globex`).
    let group = FairQueue::new(&format!("mail-{pid}"), QueueOptions::new(connection.clone())).await?;
    for tenant in ["acme", "globex"] {
        let queue = group.tenant(tenant).await?;
        let to = format!("ops@{tenant}.com");
        router.enqueue(&queue, "email:send", json!({"to": to, "subject": "hi"}), JobOptions::default()).await?;
        router
            .enqueue(&queue, "email:send", json!({"to": "x@invalid", "subject": "oops"}), JobOptions::default())
            .await?;
        router.enqueue(&queue, "report:daily", json!({}), JobOptions::default()).await?;
        router.enqueue(&queue, "sms:send", json!({}), JobOptions::default()).await?;
        // no handler
    }
    // One worker for the group: it takes from the tenants in turn.
    let opts = WorkerOptions::new(connection.clone());
    let (worker, mut events) =
        Worker::spawn_fair(group.group(), router.processor(), opts, FairOptions::default()).await?;
    let mut finished = 0;
    while finished < 8 {
        match events.recv().await {
            Some(WorkerEvent::JobCompleted { id, returnvalue }) => {
                finished += 1;
                println!("job {id} completed: {returnvalue}");
            }
            Some(WorkerEvent::JobFailed { id, reason, retry: false }) => {
                finished += 1;
                println!("job {id} discarded: {reason}");
            }
            Some(_) => {}
            None => break,
        }
    }
    worker.close(Duration::from_secs(5)).await;
    for tenant in ["acme", "globex"] {
        group.tenant(tenant).await?.obliterate(true).await?;
    }
    Ok(())
}
