//! The `flow_add` and `flow_process` workloads (bench/RUST_CLIENT.md): F = N / 11 flows of a
//! parent and 10 children, all in the bench queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bullmq::{processor, Connection, FlowJob, FlowProducer, JobOutcome, Worker, WorkerEvent, WorkerOptions};
use serde_json::{json, Value};

/// Flow `i`: a parent `{"i": i}` and ten children `{"i": i, "c": c}`.
fn flow(queue: &str, i: usize) -> FlowJob {
    FlowJob::new("parent", queue)
        .data(json!({ "i": i }))
        .children((0..10).map(|c| FlowJob::new("child", queue).data(json!({ "i": i, "c": c }))).collect())
}

pub(crate) async fn producer(connection: Connection) -> FlowProducer {
    FlowProducer::new(connection).await.expect("flow producer")
}

/// `flow_add`, measured: `inflight` lanes adding flows one `add` each.
pub(crate) async fn add(fp: &FlowProducer, queue: &str, flows: usize, inflight: usize) -> Value {
    let next = Arc::new(AtomicUsize::new(0));
    let lanes: Vec<_> = (0..inflight.min(flows))
        .map(|_| {
            let (fp, next, queue) = (fp.clone(), next.clone(), queue.to_owned());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= flows {
                        break;
                    }
                    fp.add(flow(&queue, i)).await.expect("flow add");
                }
            })
        })
        .collect();
    for l in lanes {
        l.await.expect("lane");
    }
    json!({ "jobs": flows * 11, "flows": flows })
}

/// `flow_process` setup: the flows added 100 per call, and the worker (not running yet).
pub(crate) async fn process_setup(
    fp: &FlowProducer,
    connection: Connection,
    queue: &str,
    flows: usize,
    concurrency: usize,
) -> (Worker, tokio::sync::mpsc::UnboundedReceiver<WorkerEvent>) {
    let mut i = 0;
    while i < flows {
        let end = (i + 100).min(flows);
        fp.add_bulk((i..end).map(|k| flow(queue, k)).collect()).await.expect("flow add_bulk");
        i = end;
    }
    let work = processor(|job, ctx| async move {
        if job.name == "parent" {
            let values = ctx.get_children_values(&job).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
            return Ok(JobOutcome::Completed(json!(values.len())));
        }
        Ok(JobOutcome::Completed(json!({ "i": job.data["i"] })))
    });
    let opts = WorkerOptions::new(connection).concurrency(concurrency).autorun(false);
    Worker::spawn(queue, work, opts).await.expect("worker tree")
}

/// `flow_process`, measured: until the F-th parent completes (the completions whose value is a
/// number).
pub(crate) async fn process(
    worker: Worker,
    mut events: tokio::sync::mpsc::UnboundedReceiver<WorkerEvent>,
    flows: usize,
    t0: Instant,
) -> Value {
    worker.resume();
    let (mut parents, mut completed) = (0, 0);
    while parents < flows {
        match events.recv().await {
            Some(WorkerEvent::JobCompleted { returnvalue, .. }) => {
                completed += 1;
                if returnvalue.is_number() {
                    parents += 1;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    worker.close_force().await;
    json!({ "elapsed_override": elapsed, "jobs": flows * 11, "flows": flows, "completed": completed })
}
