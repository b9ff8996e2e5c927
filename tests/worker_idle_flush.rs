//! A FUNCTION FLUSH while a worker is idle, alone in its test binary (so its own Redis): any
//! other test's script call would load the library again and hide whether the idle worker did.

mod common;

use std::time::Duration;

use bullmq::{processor, JobOptions, JobOutcome, Worker, WorkerOptions};
use common::*;
use serde_json::json;

/// An idle worker's take is pipelined behind its marker wait as an FCALL (see
/// `manual::idle_take`): when Redis lost the library meanwhile, that FCALL fails and the worker
/// takes the usual way, which loads the library again; jobs added later still run.
#[tokio::test]
async fn an_idle_worker_survives_a_function_flush_during_its_wait() {
    let q = queue("sf-idle-flush").await;
    let p = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(job.data["n"].clone())) });
    let o = WorkerOptions::new(conn()).drain_delay(Duration::from_millis(300));
    let (w, mut rx) = Worker::spawn(q.name(), p, o).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, bullmq::WorkerEvent::Drained)).await;
    cmd::<String>(&["FUNCTION", "FLUSH"]).await;
    // Nobody else calls a script here: the idle worker's wait ends (drain delay), its FCALL
    // fails, and its fallback take loads the library again.
    eventually("library loaded again by the idle worker", Duration::from_secs(5), || async {
        let v: redis::Value = cmd(&["FUNCTION", "LIST"]).await;
        format!("{v:?}").contains("bullmq_rs_")
    })
    .await;
    q.add("after-flush", json!({"n": 7}), JobOptions::default()).await.unwrap();
    await_completions(&mut rx, 1).await;
    w.close(Duration::from_secs(2)).await;
    println!("idle-function-flush: reloaded_by_idle_worker=true completed_after=1");
}
