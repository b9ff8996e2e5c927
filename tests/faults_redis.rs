//! Redis-side faults under a running worker tree: SCRIPT FLUSH, every connection killed, and a
//! Redis restart on the same port. The worker must resume by itself and lose no job that was
//! added successfully. Each test prints one line of figures.

mod common;

use std::time::{Duration, Instant};

use bullmq::supervisor::RestartIntensity;
use bullmq::{processor, Connection, JobOptions, JobOutcome, Queue, QueueOptions, Worker, WorkerEvent, WorkerOptions};
use common::proxy::Proxy;
use common::*;
use serde_json::json;

async fn tree(url: &str, queue: &str) -> (Worker, Queue) {
    let conn = Connection::from_url(url);
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(1))) });
    let opts = WorkerOptions::new(conn.clone())
        .concurrency(4)
        .drain_delay(Duration::from_millis(200))
        .stalled_interval(Duration::from_millis(500))
        .lock_duration(Duration::from_millis(2000));
    let (w, _events) = Worker::spawn(queue, p, opts).await.unwrap();
    let q = Queue::new(queue, QueueOptions::new(conn)).await.unwrap();
    (w, q)
}

/// Adds `n` jobs, retrying an add that failed because its connection was cut (the add may not
/// have happened; a retried add with a custom id cannot create a second job).
async fn add_n(q: &Queue, tag: &str, n: usize) {
    for i in 0..n {
        let opts = JobOptions::default().job_id(format!("{tag}-{i}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(e) = q.add("j", json!({"i": i}), opts.clone()).await {
            assert!(Instant::now() < deadline, "add kept failing: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn completed(q: &Queue) -> u64 {
    q.get_completed_count().await.unwrap_or(0)
}

#[tokio::test]
async fn script_flush_is_survived() {
    let name = qname("fault-flush");
    let (w, q) = tree(&redis().url, &name).await;
    add_n(&q, "a", 10).await;
    eventually("first batch", Duration::from_secs(10), || async { completed(&q).await == 10 }).await;
    cmd::<()>(&["SCRIPT", "FLUSH"]).await;
    add_n(&q, "b", 10).await;
    eventually("after SCRIPT FLUSH", Duration::from_secs(10), || async { completed(&q).await == 20 }).await;
    w.close(Duration::from_secs(2)).await;
    println!("script-flush: added=20 completed=20 lost=0");
}

#[tokio::test]
async fn killing_every_connection_is_survived() {
    let port = free_port();
    start_server(port);
    let url = format!("redis://127.0.0.1:{port}");
    let (w, q) = tree(&url, "fault-kill-all").await;
    add_n(&q, "a", 10).await;
    eventually("first batch", Duration::from_secs(10), || async { completed(&q).await == 10 }).await;
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut c)
        .await
        .unwrap();
    let t0 = Instant::now();
    add_n(&q, "b", 10).await;
    eventually("after CLIENT KILL", Duration::from_secs(15), || async { completed(&q).await == 20 }).await;
    w.close(Duration::from_secs(2)).await;
    println!(
        "client-kill: connections_killed={killed} added=20 completed=20 lost=0 resume_ms={}",
        t0.elapsed().as_millis()
    );
}

#[tokio::test]
async fn a_redis_restart_on_the_same_port_is_survived() {
    let port = free_port();
    start_server(port);
    let url = format!("redis://127.0.0.1:{port}");
    let (w, q) = tree(&url, "fault-restart").await;
    add_n(&q, "a", 5).await;
    eventually("before the restart", Duration::from_secs(10), || async { completed(&q).await == 5 }).await;
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query_async::<redis::Value>(&mut c).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    start_server(port);
    let t0 = Instant::now();
    // The server came back empty (no persistence): what counts is that jobs added now run.
    add_n(&q, "b", 10).await;
    eventually("after the restart", Duration::from_secs(20), || async { completed(&q).await == 10 }).await;
    w.close(Duration::from_secs(2)).await;
    println!("redis-restart: added_after=10 completed=10 lost=0 resume_ms={}", t0.elapsed().as_millis());
}

/// A 3 s outage with a restart intensity of 2: without waiting for Redis the fetcher would fail
/// every few ms and melt the tree down; instead each child waits and tries again: no restart.
#[tokio::test]
async fn a_long_outage_costs_no_restart() {
    let port = free_port();
    start_server(port);
    let url = format!("redis://127.0.0.1:{port}");
    let conn = Connection::from_url(&url);
    let name = qname("fault-outage");
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(1))) });
    let opts = WorkerOptions::new(conn.clone())
        .concurrency(2)
        .drain_delay(Duration::from_millis(200))
        .stalled_interval(Duration::from_millis(300))
        .lock_duration(Duration::from_millis(1000))
        .restart_intensity(RestartIntensity::new(2, Duration::from_secs(10)));
    let (w, mut events) = Worker::spawn(&name, p, opts).await.unwrap();
    let q = Queue::new(&name, QueueOptions::new(conn)).await.unwrap();
    add_n(&q, "a", 5).await;
    eventually("before the outage", Duration::from_secs(10), || async { completed(&q).await == 5 }).await;
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query_async::<redis::Value>(&mut c).await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    start_server(port);
    add_n(&q, "b", 10).await;
    eventually("after the outage", Duration::from_secs(20), || async { completed(&q).await == 10 }).await;
    let resumed = down.elapsed();
    w.close(Duration::from_secs(2)).await;
    let (mut lost, mut restored, mut restarts, mut meltdowns) = (0, 0, 0, 0);
    while let Ok(e) = events.try_recv() {
        match e {
            bullmq::WorkerEvent::ConnectionLost { .. } => lost += 1,
            bullmq::WorkerEvent::ConnectionRestored { .. } => restored += 1,
            bullmq::WorkerEvent::ChildRestarted { .. } => restarts += 1,
            bullmq::WorkerEvent::Meltdown { .. } => meltdowns += 1,
            _ => {}
        }
    }
    assert_eq!(meltdowns, 0);
    assert_eq!(restarts, 0, "an outage is not a crash");
    assert!(lost >= 1 && restored >= 1, "lost={lost} restored={restored}");
    println!(
        "redis-outage: down_ms=3000 restarts={restarts} meltdowns=0 connection_lost={lost} restored={restored} added_after=10 completed=10 resumed_after_ms={}",
        resumed.as_millis()
    );
}

/// A marker wait whose connection goes silent (no reply, no error) ends at the client-side
/// deadline, the block (the drain delay here) plus 1 s; the fetcher reports the outage, takes
/// again on a fresh connection and the worker goes on, with no restart. The deadline timer is kept from one idle take to the next
/// and pushed later each time, so this also checks that a reused timer neither fires at an old
/// deadline (a restart while the worker is merely idle) nor fails to fire.
#[tokio::test]
async fn a_silent_marker_wait_ends_at_its_deadline() {
    let proxy = Proxy::start(redis().port).await;
    let name = qname("fault-silent-wait");
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(1))) });
    let opts =
        WorkerOptions::new(Connection::from_url(proxy.url())).concurrency(1).drain_delay(Duration::from_millis(300));
    let (w, mut rx) = Worker::spawn(&name, p, opts).await.unwrap();
    let q = Queue::new(&name, QueueOptions::new(conn())).await.unwrap();
    let fetcher_restarted =
        |e: &WorkerEvent| matches!(e, WorkerEvent::ChildRestarted { child, .. } if child == "fetcher");
    // A wait that outlived its deadline is a connection that went silent: the fetcher reports
    // it, drops that connection and takes again on a fresh one, without a restart.
    let fetcher_lost = |e: &WorkerEvent| matches!(e, WorkerEvent::ConnectionLost { child, .. } if child == "fetcher");
    add_n(&q, "a", 3).await;
    eventually("first jobs", Duration::from_secs(10), || async { completed(&q).await == 3 }).await;
    // Idle for several times the deadline: takes end at the block time and the timer is reused.
    let mut restarts_idle = 0;
    holds_for("no fetcher restart while idle", Duration::from_millis(2500), || {
        while let Ok(e) = rx.try_recv() {
            restarts_idle += usize::from(fetcher_restarted(&e));
        }
        let ok = restarts_idle == 0;
        async move { ok }
    })
    .await;
    proxy.freeze_existing_waits();
    let frozen = Instant::now();
    wait_for(&mut rx, fetcher_lost).await;
    let took = frozen.elapsed();
    add_n(&q, "b", 3).await;
    eventually("jobs after the silent wait", Duration::from_secs(10), || async { completed(&q).await == 6 }).await;
    w.close(Duration::from_secs(2)).await;
    let mut restarts = 0;
    while let Ok(e) = rx.try_recv() {
        restarts += usize::from(fetcher_restarted(&e));
    }
    println!(
        "silent-marker-wait: fetcher noticed {took:?} after the freeze (deadline 1.3 s), restarts={restarts} completed=6/6 lost=0"
    );
    assert_eq!(restarts, 0, "a silent connection is an outage, not a crash");
    // The frozen wait began at most one block (300 ms) before the freeze.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "{took:?}");
}
