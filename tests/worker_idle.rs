//! An idle worker tree waits on the marker with the next take pipelined behind the wait (see
//! `manual::idle_take`): a job added later is taken in the same turn of Redis that serves the
//! wait. Pause and close must not let that take run a job, nor leave one locked and unowned.

mod common;

use std::time::{Duration, Instant};

use bullmq::{processor, JobOptions, JobOutcome, JobState, Worker, WorkerEvent, WorkerOptions};
use common::*;
use serde_json::json;

fn opts() -> WorkerOptions {
    // The default drain delay (5 s): an idle take that close did not end would hold close or
    // take a job seconds later.
    WorkerOptions::new(conn())
}

fn noop() -> bullmq::Processor {
    processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(null))) })
}

#[tokio::test]
async fn an_idle_worker_picks_up_a_later_job_and_closes_at_once() {
    let q = queue("wi-close").await;
    let (w, mut rx) = Worker::spawn(q.name(), noop(), opts()).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::Drained)).await;
    let job = q.add("late", json!({}), JobOptions::default()).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if *id == job.id)).await;
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::Drained)).await;
    // Idle again, its take waiting on the marker for up to 5 s: close ends it.
    let t0 = Instant::now();
    let orphans = w.close(Duration::from_secs(1)).await;
    let took = t0.elapsed();
    assert!(orphans.is_empty());
    assert!(took < Duration::from_millis(1500), "close waited for the idle take: {took:?}");
    let after = q.add("after-close", json!({}), JobOptions::default()).await.unwrap();
    holds_for("the job added after close waits", Duration::from_millis(500), || async {
        q.get_job_state(&after.id).await.unwrap() == JobState::Waiting
    })
    .await;
    assert_eq!(q.get_active_count().await.unwrap(), 0);
    println!("idle-close: close_ms={} job_after_close=waiting active=0", took.as_millis());
}

#[tokio::test]
async fn a_paused_idle_worker_takes_nothing_until_resumed() {
    let q = queue("wi-pause").await;
    let (w, mut rx) = Worker::spawn(q.name(), noop(), opts()).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::Drained)).await;
    w.pause();
    let job = q.add("while-paused", json!({}), JobOptions::default()).await.unwrap();
    holds_for("the job waits while the worker is paused", Duration::from_millis(700), || async {
        q.get_job_state(&job.id).await.unwrap() == JobState::Waiting
    })
    .await;
    let lock: i64 = cmd(&["EXISTS", &k(&q, &format!("{}:lock", job.id))]).await;
    assert_eq!(lock, 0, "not locked by the paused worker");
    w.resume();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if *id == job.id)).await;
    w.close(Duration::from_secs(1)).await;
    println!("idle-pause: taken_while_paused=0 completed_after_resume=1");
}

/// Jobs added while the worker closes: each is either run (taken before close began) or left in
/// wait; none is left active, locked by a worker that is gone.
#[tokio::test]
async fn jobs_added_as_an_idle_worker_closes_are_run_or_left_waiting() {
    let q = queue("wi-race").await;
    let rounds = 20;
    let (mut ran, mut waiting) = (0, 0);
    for round in 0..rounds {
        let (w, mut rx) = Worker::spawn(q.name(), noop(), opts()).await.unwrap();
        wait_for(&mut rx, |e| matches!(e, WorkerEvent::Drained)).await;
        // Let the idle take reach Redis, then race an add against close.
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
        let add = q.add("race", json!({ "round": round }), JobOptions::default());
        let (job, _) = tokio::join!(add, w.close(Duration::from_secs(1)));
        let job = job.unwrap();
        match q.get_job_state(&job.id).await.unwrap() {
            JobState::Completed => ran += 1,
            JobState::Waiting => waiting += 1,
            other => panic!("job {} left {other:?} by a closed worker", job.id),
        }
        assert_eq!(q.get_active_count().await.unwrap(), 0);
        // The next round's worker starts on an empty queue.
        q.drain(false).await.unwrap();
    }
    assert_eq!(ran + waiting, rounds);
    // Jobs the idle take took as close began and handed back (an `active` event, then wait).
    let ev = events(&q).await;
    let taken = ev.iter().filter(|(e, _)| e == "active").count();
    println!(
        "idle-close-race: rounds={rounds} ran={ran} left_waiting={waiting} taken_then_handed_back={} left_active=0",
        taken - ran
    );
}

/// A marker wait that fails at once (the marker key holds a string: another client's doing)
/// fails the fetcher, as the plain wait does, instead of spinning on empty takes.
#[tokio::test]
async fn a_marker_wait_that_fails_at_once_fails_the_fetcher_instead_of_spinning() {
    let q = queue("wi-bad-marker").await;
    cmd::<()>(&["SET", &k(&q, "marker"), "not a sorted set"]).await;
    let before = command_calls("bzpopmin").await;
    let (w, mut rx) = Worker::spawn(q.name(), noop(), opts()).await.unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildFailed { .. })).await;
    assert!(matches!(&e, WorkerEvent::ChildFailed { child, .. } if child == "fetcher"), "{e:?}");
    let waits = command_calls("bzpopmin").await - before;
    w.close_force().await;
    assert!(waits <= 3, "one failed wait per fetcher life, not a loop: {waits}");
    println!("idle-bad-marker: fetcher_failed=1 waits_before_failing={waits}");
}

/// The next delayed job's due time comes back from a take that found nothing (from the idle
/// take's moveToActive, and from the finishMany of the job before it), and the worker waits
/// until then rather than for its 5 s drain delay. Both scripts take that time from their first
/// look at the delayed set when nothing was due, and `drained` is still emitted by the finish
/// that found wait and prioritized empty without looking at them again.
#[tokio::test]
async fn delayed_jobs_run_when_due_not_after_the_drain_delay() {
    let q = queue("wi-due").await;
    let (w, mut rx) = Worker::spawn(q.name(), noop(), opts()).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::Drained)).await;

    // Idle: the marker wakes the take, which finds the job not yet due.
    let t0 = Instant::now();
    let d1 = q.add("d1", json!({}), JobOptions::default().delay(Duration::from_millis(700))).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if *id == d1.id)).await;
    let idle_wait = t0.elapsed();

    // Behind a ready job: its finish takes nothing and hands back the delayed job's due time.
    let t1 = Instant::now();
    let d2 = q.add("d2", json!({}), JobOptions::default().delay(Duration::from_millis(700))).await.unwrap();
    let a = q.add("a", json!({}), JobOptions::default()).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { id, .. } if *id == d2.id)).await;
    let behind_wait = t1.elapsed();
    w.close(Duration::from_secs(1)).await;

    for (what, took) in [("idle", idle_wait), ("behind a job", behind_wait)] {
        assert!(took >= Duration::from_millis(650), "{what}: ran before its delay: {took:?}");
        assert!(took < Duration::from_millis(3000), "{what}: waited for the drain delay: {took:?}");
    }
    let ev = events(&q).await;
    let completed_a = ev.iter().position(|e| e.0 == "completed" && e.1.get("jobId") == Some(&a.id)).unwrap();
    assert!(ev[completed_a..].iter().any(|e| e.0 == "drained"), "drained after the last ready job");
    println!("delayed-due: idle_ms={} behind_job_ms={}", idle_wait.as_millis(), behind_wait.as_millis());
}
