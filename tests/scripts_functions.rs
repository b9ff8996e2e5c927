//! Scripts run as one Redis function library (FCALL) where Redis has functions: loaded at
//! connect, loaded again when Redis lost it, and versioned by its text so that two builds of
//! the crate on one Redis do not replace each other's functions.

mod common;

use std::time::Duration;

use bullmq::{processor, JobOptions, JobOutcome, Worker};
use common::*;
use serde_json::json;

#[tokio::test]
async fn scripts_run_as_functions_and_survive_a_function_flush() {
    let q = queue("sf-flush").await;
    let libs: String = {
        let v: redis::Value = cmd(&["FUNCTION", "LIST"]).await;
        format!("{v:?}")
    };
    assert!(libs.contains("bullmq_rs_"), "library loaded at connect: {libs}");
    let before = command_calls("fcall").await;
    q.add("a", json!({"n": 1}), JobOptions::default()).await.unwrap();
    // As after a restart of a Redis that keeps nothing: the next call loads the library again.
    cmd::<String>(&["FUNCTION", "FLUSH"]).await;
    q.add("b", json!({"n": 2}), JobOptions::default()).await.unwrap();
    let p = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(job.data["n"].clone())) });
    let o = worker_opts(&q).drain_delay(Duration::from_millis(200));
    let (w, mut rx) = Worker::spawn(q.name(), p, o).await.unwrap();
    await_completions(&mut rx, 2).await;
    w.close(Duration::from_secs(2)).await;
    let fcalls = command_calls("fcall").await - before;
    assert!(fcalls >= 3, "adds and the worker's calls went through FCALL: {fcalls}");
    let rv: String = cmd(&["HGET", &k(&q, "2"), "returnvalue"]).await;
    assert_eq!(rv, "2");
    println!("functions: fcalls={fcalls} reloaded_after_flush=true");
}
