//! With `BULLMQ_SCRIPTS=eval` (and on a Redis without functions) every script runs through
//! EVALSHA, with the same effects. The only test of its binary: the choice is process-wide.

mod common;

use std::time::Duration;

use bullmq::{processor, JobOutcome, Worker};
use common::*;

#[tokio::test]
async fn scripts_fall_back_to_evalsha() {
    // Set before this process calls any script; nothing else runs in this binary.
    std::env::set_var("BULLMQ_SCRIPTS", "eval");
    let q = queue("se-eval").await;
    add_numbered(&q, "a", 20).await;
    let p = processor(|job, _ctx| async move { Ok(JobOutcome::Completed(job.data["i"].clone())) });
    let o = worker_opts(&q).concurrency(4).drain_delay(Duration::from_millis(200));
    let (w, mut rx) = Worker::spawn(q.name(), p, o).await.unwrap();
    await_completions(&mut rx, 20).await;
    w.close(Duration::from_secs(2)).await;
    assert_eq!(command_calls("fcall").await, 0, "no FCALL");
    assert!(command_calls("evalsha").await > 0, "EVALSHA used");
    assert_eq!(q.get_completed_count().await.unwrap(), 20);
    let rv: String = cmd(&["HGET", &k(&q, "7"), "returnvalue"]).await;
    assert_eq!(rv, "6");
    println!("eval-fallback: jobs=20 fcall=0");
}
