//! Faults inside the worker tree itself: a panic injected into each child role, a meltdown
//! escalating to the user's supervisor, a deleted lock (job re-run once), corrupt job data and
//! a Redis outage longer than the restart intensity would survive without waiting. Each prints
//! one line of figures.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::supervisor::RestartIntensity;
use bullmq::{processor, CancelReason, JobOptions, JobOutcome, Worker, WorkerEvent, WorkerOptions};
use common::*;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

fn opts(q: &bullmq::Queue) -> WorkerOptions {
    worker_opts(q)
        .drain_delay(Duration::from_millis(300))
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(400))
}

/// Counts executions per job id.
fn counting(sleep_ms: u64) -> (bullmq::Processor, Arc<Mutex<HashMap<String, u32>>>) {
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = runs.clone();
    let p = processor(move |job, _ctx| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap().entry(job.id.clone()).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
            Ok(JobOutcome::Completed(json!("ok")))
        }
    });
    (p, runs)
}

#[tokio::test]
async fn a_panic_in_each_child_role_restarts_only_that_child() {
    let q = queue("wf-panic").await;
    let n = 12u64;
    add_numbered(&q, "j", n).await;
    let (p, runs) = counting(300);
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).concurrency(3)).await.unwrap();
    // A job actor first: temporary, so not restarted; its job is recovered by the stalled
    // check. The victim is the first job to start, so it is still running when the panic
    // arrives (it runs 300 ms).
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    let WorkerEvent::JobActive { id: victim } = e else { unreachable!() };
    w.inject_panic(&format!("job:{victim}")).await;
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::Error { .. })).await;
    assert!(matches!(&e, WorkerEvent::Error { message } if message.contains(&victim)), "{e:?}");
    // Then each permanent child, while jobs run.
    let mut failures: HashMap<String, u32> = HashMap::new();
    for role in ["fetcher", "acker", "lock-renewer", "stalled-checker"] {
        eventually("a job is running", Duration::from_secs(10), || async { !w.active_jobs().is_empty() }).await;
        w.inject_panic(role).await;
        let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildFailed { .. })).await;
        let WorkerEvent::ChildFailed { child, reason } = e else { unreachable!() };
        assert_eq!(child, role, "only the child that panicked fails");
        assert!(reason.contains("injected panic"), "{reason}");
        *failures.entry(child).or_default() += 1;
        let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildRestarted { .. })).await;
        assert!(matches!(e, WorkerEvent::ChildRestarted { ref child, .. } if child == role), "{e:?}");
    }
    let mut stalled = Vec::new();
    let started = Instant::now();
    while q.get_completed_count().await.unwrap() < n {
        assert!(started.elapsed() < Duration::from_secs(20), "all jobs complete");
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            match e {
                WorkerEvent::JobStalled { id } => stalled.push(id),
                WorkerEvent::ChildFailed { child, .. } => *failures.entry(child).or_default() += 1,
                _ => {}
            }
        }
    }
    w.close(Duration::from_secs(2)).await;
    assert_eq!(stalled, vec![victim.clone()], "the panicked job actor's job is recovered as stalled");
    assert!(failures.values().all(|c| *c == 1), "one failure per injected panic: {failures:?}");
    let runs = runs.lock().unwrap().clone();
    for (id, count) in &runs {
        let expected = if *id == victim { 2 } else { 1 };
        assert_eq!(*count, expected, "job {id} runs");
        let atm: String = cmd(&["HGET", &k(&q, id), "atm"]).await;
        assert_eq!(atm, "1", "job {id} finished once");
    }
    println!(
        "panic-per-role: jobs={n} completed={n} lost=0 child_restarts={} job_actor_panics=1 recovered_as_stalled={} sibling_jobs_rerun=0",
        failures.len(),
        stalled.len()
    );
}

/// A user's supervisor: forwards the supervision events of its children.
struct UserSupervisor;

impl Actor for UserSupervisor {
    type Msg = ();
    type State = UnboundedSender<String>;
    type Arguments = UnboundedSender<String>;

    async fn pre_start(
        &self,
        _: ActorRef<()>,
        tx: UnboundedSender<String>,
    ) -> Result<UnboundedSender<String>, ActorProcessingErr> {
        Ok(tx)
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        tx: &mut UnboundedSender<String>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(_, reason) = event {
            let _ = tx.send(reason.to_string());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_meltdown_escalates_to_the_users_supervisor() {
    let q = queue("wf-melt").await;
    let (tx, mut failures) = unbounded_channel();
    let (sup, _) = Actor::spawn(None, UserSupervisor, tx).await.unwrap();
    let (p, _) = counting(1);
    let o = opts(&q).restart_intensity(RestartIntensity::new(2, Duration::from_secs(30)));
    let (w, mut rx) = Worker::spawn_linked(q.name(), p, o, sup.get_cell()).await.unwrap();
    let started = Instant::now();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildStarted { child } if child == "fetcher")).await;
    for _ in 0..2 {
        w.inject_panic("fetcher").await;
        // ChildStarted comes first, then ChildRestarted: the new fetcher is up.
        wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildRestarted { .. })).await;
    }
    w.inject_panic("fetcher").await;
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::Meltdown { .. })).await;
    assert_eq!(e, WorkerEvent::Meltdown { max_restarts: 2 }, "the 3rd failure within the window melts down");
    let reason = tokio::time::timeout(Duration::from_secs(5), failures.recv()).await.unwrap().unwrap();
    assert!(reason.contains("meltdown"), "the user's supervisor sees the worker fail: {reason}");
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::Closed { .. })).await;
    let tree = w.supervisor().expect("the worker's tree started");
    eventually("the worker's tree is gone", Duration::from_secs(5), || async {
        tree.cell().get_status() == ractor::ActorStatus::Stopped
    })
    .await;
    println!(
        "meltdown: max_restarts=2 failures=3 escalated=1 after_ms={} reason={reason:?}",
        started.elapsed().as_millis()
    );
    sup.stop(None);
}

#[tokio::test]
async fn a_deleted_lock_cancels_the_job_and_it_runs_again_once() {
    let q = queue("wf-lock").await;
    q.add("held", json!({}), JobOptions::default()).await.unwrap();
    let runs = Arc::new(Mutex::new(0u32));
    let seen = runs.clone();
    let p = processor(move |_job, ctx| {
        let seen = seen.clone();
        async move {
            let first = {
                let mut r = seen.lock().unwrap();
                *r += 1;
                *r == 1
            };
            if first {
                ctx.cancel.cancelled().await; // the first run holds on until it is cancelled
            }
            Ok(JobOutcome::Completed(json!("second run")))
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobActive { .. })).await;
    let t0 = Instant::now();
    cmd::<()>(&["DEL", &k(&q, "1:lock")]).await;
    // The renewer's cancel and the stalled check's recovery race; both must happen.
    let (mut cancel_after, mut stalled) = (None, false);
    wait_for(&mut rx, |e| {
        match e {
            WorkerEvent::JobCancelled { reason: CancelReason::LockLost, .. } => cancel_after = Some(t0.elapsed()),
            WorkerEvent::JobStalled { id } if id == "1" => stalled = true,
            _ => {}
        }
        matches!(e, WorkerEvent::JobCompleted { .. })
    })
    .await;
    let rerun_after = t0.elapsed();
    let cancel_after = cancel_after.expect("the first run was cancelled");
    assert!(stalled, "recovered by the stalled check");
    assert!(cancel_after <= Duration::from_millis(500 + 250), "within lock_duration/2 (+ slack): {cancel_after:?}");
    w.close(Duration::from_secs(1)).await;
    assert_eq!(*runs.lock().unwrap(), 2, "run once more, not more");
    let rv: String = cmd(&["HGET", &k(&q, "1"), "returnvalue"]).await;
    assert_eq!(rv, "\"second run\"");
    let stc: String = cmd(&["HGET", &k(&q, "1"), "stc"]).await;
    assert_eq!(stc, "1");
    println!(
        "deleted-lock: cancel_ms={} rerun_completed_ms={} executions=2 completions=1",
        cancel_after.as_millis(),
        rerun_after.as_millis()
    );
}

#[tokio::test]
async fn corrupt_job_data_fails_at_once_and_the_worker_goes_on() {
    let q = queue("wf-corrupt").await;
    raw_job(&q, "bad", "corrupt").await;
    cmd::<()>(&["HSET", &k(&q, "bad"), "data", "{not json"]).await;
    cmd::<()>(&["LPUSH", &k(&q, "wait"), "bad"]).await;
    q.add("good", json!({"fine": true}), JobOptions::default()).await.unwrap();
    let (p, runs) = counting(1);
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q)).await.unwrap();
    let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::Error { .. })).await;
    assert!(matches!(&e, WorkerEvent::Error { message } if message.contains("bad")), "{e:?}");
    eventually("the good job completed", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap() == 1
    })
    .await;
    w.close(Duration::from_secs(1)).await;
    let reason: String = cmd(&["HGET", &k(&q, "bad"), "failedReason"]).await;
    assert!(reason.contains("data"), "a clear reason: {reason}");
    assert_eq!(q.get_failed_count().await.unwrap(), 1);
    assert_eq!(runs.lock().unwrap().keys().cloned().collect::<Vec<_>>(), vec!["1".to_owned()], "never processed");
    println!("corrupt-data: failed_at_pickup=1 processed=0 good_jobs_completed=1 reason={reason:?}");
}

/// A job whose hash holds bytes that are not UTF-8 (another client wrote them) is failed at
/// pickup with a reason naming the field, and only that job: the jobs taken in the same batch
/// call start as usual, and the batch's completions are reported done.
#[tokio::test]
async fn a_job_hash_that_is_not_text_fails_alone() {
    let q = queue("wf-not-utf8").await;
    let good = 12u64;
    add_numbered(&q, "good", good).await;
    raw_job(&q, "binary", "binary").await;
    {
        let mut c = raw().await;
        redis::cmd("HSET")
            .arg(k(&q, "binary"))
            .arg("data")
            .arg(&b"{\"x\":\"\xff\xfe\"}"[..])
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }
    // Taken last, by a batch (its takes follow completions).
    cmd::<()>(&["LPUSH", &k(&q, "wait"), "binary"]).await;
    let (p, runs) = counting(0);
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).concurrency(4)).await.unwrap();
    let mut errors = Vec::new();
    let mut completed = 0;
    while completed < good || errors.is_empty() {
        match wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { .. } | WorkerEvent::Error { .. })).await {
            WorkerEvent::JobCompleted { .. } => completed += 1,
            WorkerEvent::Error { message } => errors.push(message),
            _ => {}
        }
    }
    w.close(Duration::from_secs(1)).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("binary") && errors[0].contains("not UTF-8"), "{errors:?}");
    let reason: String = cmd(&["HGET", &k(&q, "binary"), "failedReason"]).await;
    assert!(reason.contains("`data` is not UTF-8"), "a clear reason: {reason}");
    assert_eq!(q.get_completed_count().await.unwrap(), good);
    assert_eq!(q.get_failed_count().await.unwrap(), 1);
    let runs = runs.lock().unwrap();
    assert!(runs.len() as u64 == good && runs.values().all(|n| *n == 1), "each good job once: {runs:?}");
    assert!(!runs.contains_key("binary"), "never processed");
    println!("not-utf8: failed_at_pickup=1 good_completed={good} errors=1 reason={reason:?}");
}

/// Defect (issue 14, 7.3): the stalled checker ticked every `stalled_interval` on the dot and
/// found the previous check's `stalled-check` key still alive (the tick came a moment early), so
/// about every other check did nothing. The key holds the time of the check that set it: over an
/// idle stretch, a new value must appear every interval.
#[tokio::test]
async fn the_stalled_check_runs_every_stalled_interval() {
    let q = queue("wf-cadence").await;
    let interval = 300u64;
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(null))) });
    let (w, _rx) =
        Worker::spawn(q.name(), p, opts(&q).stalled_interval(Duration::from_millis(interval))).await.unwrap();
    let mut checks: Vec<u64> = Vec::new();
    let until = Instant::now() + Duration::from_millis(10 * interval);
    while Instant::now() < until {
        let at: Option<String> = cmd(&["GET", &k(&q, "stalled-check")]).await;
        if let Some(at) = at.and_then(|a| a.parse().ok()) {
            if checks.last() != Some(&at) {
                checks.push(at);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.close(Duration::from_secs(1)).await;
    let gaps: Vec<u64> = checks.windows(2).map(|p| p[1] - p[0]).collect();
    println!("stalled check cadence: interval_ms={interval} checks={} gaps_ms={gaps:?}", checks.len());
    assert!(checks.len() >= 9, "a check every {interval} ms over {} ms: {gaps:?}", 10 * interval);
    assert!(gaps.iter().all(|g| *g < interval + interval / 2), "no check skipped: {gaps:?}");
}

/// The acker dying while it holds acknowledgements loses none of them: each goes back to its
/// queue and the restarted acker sends it. (Before, the completions of the jobs it held were
/// dropped: those jobs stayed active until the stalled check put them back, and ran twice.)
/// Thirty jobs finish at once while Redis is held up by a slow script (so the acker's calls
/// stay in flight and it holds the completions that came after them), and the acker is made
/// to panic then; every job must complete exactly once, none stall.
#[tokio::test]
async fn an_acker_crash_drops_no_acknowledgement() {
    let q = queue("wf-acker").await;
    let n = 30u64;
    add_numbered(&q, "j", n).await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (g, seen) = (gate.clone(), runs.clone());
    let p = processor(move |job, _ctx| {
        let (g, seen) = (g.clone(), seen.clone());
        async move {
            *seen.lock().unwrap().entry(job.id.clone()).or_default() += 1;
            g.notified().await;
            // In three waves, 20 ms apart: the first two fill the acker's two calls in flight,
            // the third waits in the acker for a call to end.
            let wave = job.data["i"].as_u64().unwrap_or(0) % 3;
            tokio::time::sleep(Duration::from_millis(20 * wave)).await;
            Ok(JobOutcome::Completed(json!("ok")))
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, opts(&q).concurrency(n as usize).prefetch(0)).await.unwrap();
    eventually("every job running", Duration::from_secs(10), || async { w.active_jobs().len() == n as usize }).await;
    // Redis busy for about half a second: the acker's calls wait behind the script.
    // Timed by the server's clock, from a connection with no reply timeout: a loop of a fixed
    // count ran past the async client's reply timeout on a loaded host (CI saw it time out).
    let busy = tokio::spawn(async { busy_spell(&redis().url, Duration::from_millis(500)).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    gate.notify_waiters();
    tokio::time::sleep(Duration::from_millis(100)).await;
    w.inject_panic("acker").await;
    busy.await.unwrap();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::ChildRestarted { child, .. } if child == "acker")).await;
    eventually("every job completed", Duration::from_secs(10), || async {
        q.get_completed_count().await.unwrap() == n
    })
    .await;
    let mut stalled = 0;
    while let Ok(e) = rx.try_recv() {
        if matches!(e, WorkerEvent::JobStalled { .. }) {
            stalled += 1;
        }
    }
    w.close(Duration::from_secs(2)).await;
    let runs = runs.lock().unwrap().clone();
    let rerun = runs.values().filter(|c| **c > 1).count();
    println!("acker crash: jobs={n} completed={n} rerun={rerun} stalled={stalled} lost=0");
    assert_eq!(rerun, 0, "{runs:?}");
    assert_eq!(stalled, 0);
    for i in 1..=n {
        let atm: String = cmd(&["HGET", &k(&q, &i.to_string()), "atm"]).await;
        assert_eq!(atm, "1", "job {i} finished once");
    }
}
