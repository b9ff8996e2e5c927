//! Fairness across tenants (QuiCK's pointer index on Redis) through the public API: a flood
//! does not starve small tenants, caps and weights hold, a crashed worker's tenant comes back,
//! a tenant added while others drain is served, and a Node producer's jobs are found.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bullmq::{BulkJob, FairOptions, FairQueue, JobOptions, JobOutcome, QueueOptions, Worker, WorkerEvent};
use common::*;
use serde_json::json;

/// The jobs run, in the order their processors ended: (tenant queue name, job id).
type Runs = Arc<Mutex<Vec<(String, String)>>>;

fn recording(work: Duration) -> (bullmq::Processor, Runs) {
    let runs: Runs = Default::default();
    let seen = runs.clone();
    let p = bullmq::processor(move |job, _ctx| {
        let seen = seen.clone();
        async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            seen.lock().unwrap().push((job.queue_name().to_owned(), job.id.clone()));
            Ok(JobOutcome::Completed(json!(1)))
        }
    });
    (p, runs)
}

/// How many of `runs` are `queue`'s.
fn count(runs: &[(String, String)], queue: &str) -> usize {
    runs.iter().filter(|(q, _)| q == queue).count()
}

async fn group(tag: &str) -> FairQueue {
    FairQueue::new(&qname(tag), QueueOptions::new(conn())).await.unwrap()
}

fn opts() -> bullmq::WorkerOptions {
    bullmq::WorkerOptions::new(conn()).concurrency(10)
}

async fn add_many(g: &FairQueue, tenant: &str, n: usize) {
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        let jobs = (0..k).map(|i| BulkJob::new("work", json!({ "i": i }), JobOptions::default()).unwrap()).collect();
        g.add_bulk(tenant, jobs).await.unwrap();
        left -= k;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_does_not_starve_small_tenants() {
    let g = group("fair-flood").await;
    let t0 = Instant::now();
    add_many(&g, "flood", 100_000).await;
    let added = t0.elapsed();
    let (p, runs) = recording(Duration::from_millis(1));
    let (worker, _events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    let flood_q = g.tenant_queue_name("flood");
    // The flood has the worker to itself for a while.
    eventually("the flood runs", Duration::from_secs(20), || {
        let r = runs.clone();
        async move { r.lock().unwrap().len() >= 20 }
    })
    .await;
    let before = runs.lock().unwrap().len();
    for t in 0..100 {
        let jobs = (0..10).map(|i| BulkJob::new("work", json!({ "i": i }), JobOptions::default()).unwrap()).collect();
        g.add_bulk(&format!("small{t}"), jobs).await.unwrap();
    }
    let added_at = runs.lock().unwrap().len();
    eventually("the small tenants' jobs run", Duration::from_secs(60), || {
        let (r, q) = (runs.clone(), flood_q.clone());
        async move {
            let r = r.lock().unwrap();
            r.len() - count(&r, &q) == 1000
        }
    })
    .await;
    let runs = runs.lock().unwrap().clone();
    let last_small = runs.iter().rposition(|(q, _)| *q != flood_q).unwrap();
    let flood_before_last = count(&runs[..last_small], &flood_q);
    let during_adds = count(&runs[before..added_at.min(last_small)], &flood_q);
    worker.close(Duration::from_secs(10)).await;
    let mut small_completed = 0;
    for t in 0..100 {
        small_completed += g.tenant(&format!("small{t}")).await.unwrap().get_completed_count().await.unwrap();
    }
    println!(
        "fairness: flood 100000 added in {:.1} s, c=10; 100 tenants x 10 added after {before} flood jobs ran; \
         {during_adds} flood jobs ran while they were being added; the last small job ended after \
         {flood_before_last} flood jobs in all (< 500 wanted); small jobs completed {small_completed}/1000",
        added.as_secs_f64()
    );
    assert_eq!(small_completed, 1000);
    assert!(flood_before_last < 500, "the flood ran {flood_before_last} jobs before the last small job ended");
    g.tenant("flood").await.unwrap().obliterate(true).await.unwrap();
}

/// Active jobs of each tenant's queue right now.
async fn active_of(g: &FairQueue, tenants: &[&str]) -> Vec<u64> {
    let mut out = Vec::new();
    for t in tenants {
        out.push(g.tenant(t).await.unwrap().get_active_count().await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_caps_hold() {
    let g = group("fair-caps").await;
    for t in ["a", "b", "capped"] {
        add_many(&g, t, 40).await;
    }
    g.set_tenant_concurrency("capped", 1).await.unwrap();
    let (p, runs) = recording(Duration::from_millis(20));
    let fair = FairOptions { tenant_concurrency: Some(3), ..FairOptions::default() };
    let (worker, _events) = Worker::spawn_fair(g.group(), p, opts(), fair).await.unwrap();
    let mut max_active = [0u64; 3];
    let deadline = Instant::now() + Duration::from_secs(60);
    while runs.lock().unwrap().len() < 120 {
        assert!(Instant::now() < deadline, "not all jobs ran");
        for (m, a) in max_active.iter_mut().zip(active_of(&g, &["a", "b", "capped"]).await) {
            *m = (*m).max(a);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.close(Duration::from_secs(10)).await;
    println!("caps: most active a/b/capped {max_active:?} (group cap 3, capped's own 1; c=10)");
    assert!(max_active[0] <= 3 && max_active[1] <= 3, "the group's cap held: {max_active:?}");
    assert!(max_active[2] <= 1, "the tenant's own cap held: {max_active:?}");
    for t in ["a", "b", "capped"] {
        assert_eq!(g.tenant(t).await.unwrap().get_completed_count().await.unwrap(), 40, "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_share_turns() {
    let g = group("fair-weights").await;
    add_many(&g, "heavy", 200).await;
    add_many(&g, "light", 200).await;
    g.set_weight("heavy", 3).await.unwrap();
    let (p, runs) = recording(Duration::from_millis(2));
    let (worker, _events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    eventually("jobs run", Duration::from_secs(30), || {
        let r = runs.clone();
        async move { r.lock().unwrap().len() >= 200 }
    })
    .await;
    worker.close(Duration::from_secs(10)).await;
    let runs: Vec<(String, String)> = runs.lock().unwrap()[..200].to_vec();
    let (heavy, light) = (count(&runs, &g.tenant_queue_name("heavy")), count(&runs, &g.tenant_queue_name("light")));
    println!("weights: of the first 200 jobs run, heavy (weight 3) {heavy}, light (weight 1) {light}");
    assert!((2.5..=3.5).contains(&(heavy as f64 / light as f64)), "heavy {heavy}, light {light}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_added_while_others_drain_is_served_next() {
    let g = group("fair-late").await;
    add_many(&g, "a", 300).await;
    add_many(&g, "b", 300).await;
    let (p, runs) = recording(Duration::from_millis(2));
    let (worker, _events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    eventually("a and b run", Duration::from_secs(20), || {
        let r = runs.clone();
        async move { r.lock().unwrap().len() >= 50 }
    })
    .await;
    let at = runs.lock().unwrap().len();
    add_many(&g, "late", 20).await;
    let late_q = g.tenant_queue_name("late");
    eventually("the late tenant's jobs run", Duration::from_secs(30), || {
        let (r, q) = (runs.clone(), late_q.clone());
        async move { count(&r.lock().unwrap(), &q) == 20 }
    })
    .await;
    let runs = runs.lock().unwrap().clone();
    let last_late = runs.iter().rposition(|(q, _)| *q == late_q).unwrap();
    let others = last_late - at + 1 - 20;
    worker.close(Duration::from_secs(10)).await;
    println!("late tenant: added after {at} jobs of a and b ran; its 20 jobs ran within {others} of theirs");
    // Round-robin over three: about two of theirs per late job, plus what was in flight.
    assert!(others <= 2 * 20 + 30, "the late tenant waited behind {others} jobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_and_retried_jobs_of_tenants_come_back() {
    let g = group("fair-delay").await;
    g.add("t1", "later", json!({}), JobOptions::default().delay(Duration::from_millis(300))).await.unwrap();
    let retry = JobOptions::default().attempts(2).backoff(bullmq::Backoff::fixed(Duration::from_millis(200)));
    g.add("t2", "flaky", json!({}), retry).await.unwrap();
    let p = bullmq::processor(|job, _ctx| async move {
        if job.name == "flaky" && job.attempts_made == 0 {
            return Err(bullmq::JobError::new("first attempt fails"));
        }
        Ok(JobOutcome::Completed(json!(job.name)))
    });
    let t0 = Instant::now();
    let (worker, mut events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    await_completions(&mut events, 2).await;
    let took = t0.elapsed();
    worker.close(Duration::from_secs(10)).await;
    for t in ["t1", "t2"] {
        assert_eq!(g.tenant(t).await.unwrap().get_completed_count().await.unwrap(), 1, "{t}");
    }
    assert_eq!(g.indexed_tenants().await.unwrap(), 0, "nothing left: no tenant pointed at after a take looked");
    println!("delayed and retried: both done in {} ms", took.as_millis());
    assert!(took >= Duration::from_millis(200));
}

fn crash_opts() -> bullmq::WorkerOptions {
    opts()
        .concurrency(6)
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(300))
        .drain_delay(Duration::from_millis(200))
}

/// Not a test on its own: a worker of the group that takes jobs and hangs in them until killed.
#[tokio::test]
async fn hanging_fair_worker_process() {
    let Ok(group) = std::env::var("FAIR_GROUP") else { return };
    let p = bullmq::processor(|_job, _ctx| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(JobOutcome::Completed(json!(0)))
    });
    let (_w, _events) = Worker::spawn_fair(&group, p, crash_opts(), FairOptions::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_take_loses_nothing() {
    let g = group("fair-crash").await;
    let tenants = ["t1", "t2", "t3"];
    for t in tenants {
        add_many(&g, t, 10).await;
    }
    let mut child = spawn_test_process("hanging_fair_worker_process", &[("FAIR_GROUP", g.group())]);
    eventually("the doomed worker holds jobs", Duration::from_secs(20), || {
        let g = g.clone();
        async move { active_of(&g, &["t1", "t2", "t3"]).await.iter().sum::<u64>() == 6 }
    })
    .await;
    let held = active_of(&g, &tenants).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    let (p, runs) = recording(Duration::ZERO);
    let (worker, _events) = Worker::spawn_fair(g.group(), p, crash_opts(), FairOptions::default()).await.unwrap();
    eventually("every job completes", Duration::from_secs(30), || {
        let g = g.clone();
        async move {
            let mut done = 0;
            for t in ["t1", "t2", "t3"] {
                done += g.tenant(t).await.unwrap().get_completed_count().await.unwrap();
            }
            done == 30
        }
    })
    .await;
    let recovered = killed.elapsed();
    worker.close(Duration::from_secs(10)).await;
    let runs = runs.lock().unwrap().len();
    let mut failed = 0;
    for t in tenants {
        failed += g.tenant(t).await.unwrap().get_failed_count().await.unwrap();
    }
    println!(
        "fair worker killed holding {held:?} jobs of t1/t2/t3: 30/30 completed by the next worker in {} ms \
         ({runs} runs, failed {failed}, lost 0)",
        recovered.as_millis()
    );
    assert_eq!(failed, 0);
    assert_eq!(runs, 30, "each job ran once after the crash");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_producers_and_workers_on_tenant_queues() {
    let g = group("fair-node").await;
    let tenant = g.tenant("acme").await.unwrap();
    // A Node producer adds straight to the tenant's queue (no index kept): the group's upkeep
    // finds them within a stalled check. Ids are Node's: given, so as not to meet the group's.
    let jobs: Vec<_> =
        (0..5).map(|i| json!({"name": "node-job", "data": {"i": i}, "opts": {"jobId": format!("n{i}")}})).collect();
    common::node::node("bullmq", tenant.name(), json!({"cmd": "add", "jobs": jobs})).await;
    let (p, runs) = recording(Duration::ZERO);
    let opts = opts().stalled_interval(Duration::from_millis(500));
    let (worker, _events) = Worker::spawn_fair(g.group(), p, opts, FairOptions::default()).await.unwrap();
    eventually("Node's jobs complete", Duration::from_secs(20), || {
        let t = tenant.clone();
        async move { t.get_completed_count().await.unwrap() == 5 }
    })
    .await;
    assert_eq!(runs.lock().unwrap().len(), 5);
    worker.close(Duration::from_secs(10)).await;
    // And a Node worker serves one tenant of the group: jobs added through the group are
    // ordinary BullMQ jobs.
    for i in 0..3 {
        g.add("acme", "rust-job", json!({ "i": i }), JobOptions::default()).await.unwrap();
    }
    let r = common::node::node("bullmq", tenant.name(), json!({"cmd": "work", "expect": 3})).await;
    assert_eq!(r["finished"].as_array().unwrap().len(), 3, "{r}");
    eventually("Node's worker completes the group's jobs", Duration::from_secs(10), || {
        let t = tenant.clone();
        async move { t.get_completed_count().await.unwrap() == 8 }
    })
    .await;
    println!("node interop: 5 jobs a Node producer added to a tenant queue ran on the fair worker; 3 added through the group ran on a Node worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_a_group_without_piling_onto_a_tenant() {
    let g = group("fair-many").await;
    let tenants = ["a", "b", "c", "d", "e"];
    for t in tenants {
        add_many(&g, t, 100).await;
    }
    let fair = FairOptions { tenant_concurrency: Some(2), ..FairOptions::default() };
    let mut workers = Vec::new();
    let mut all_runs = Vec::new();
    for _ in 0..3 {
        let (p, runs) = recording(Duration::from_millis(3));
        let (w, _events) = Worker::spawn_fair(g.group(), p, opts().concurrency(4), fair.clone()).await.unwrap();
        workers.push(w);
        all_runs.push(runs);
    }
    let mut max_active = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: usize = all_runs.iter().map(|r| r.lock().unwrap().len()).sum();
        if done >= 500 {
            break;
        }
        assert!(Instant::now() < deadline, "{done}/500 ran");
        max_active = max_active.max(*active_of(&g, &tenants).await.iter().max().unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for w in &workers {
        w.close(Duration::from_secs(10)).await;
    }
    let per_worker: Vec<usize> = all_runs.iter().map(|r| r.lock().unwrap().len()).collect();
    let mut ids: Vec<String> =
        all_runs.iter().flat_map(|r| r.lock().unwrap().clone()).map(|(q, id)| format!("{q}/{id}")).collect();
    ids.sort();
    ids.dedup();
    let mut completed = 0;
    for t in tenants {
        completed += g.tenant(t).await.unwrap().get_completed_count().await.unwrap();
    }
    println!(
        "three workers, one group: runs per worker {per_worker:?}, distinct jobs {}, completed {completed}/500, \
         most active of one tenant {max_active} (cap 2)",
        ids.len()
    );
    assert_eq!(completed, 500);
    assert_eq!(ids.len(), 500, "no job ran twice");
    assert!(per_worker.iter().all(|&n| n > 0), "every worker took part: {per_worker:?}");
    assert!(max_active <= 2, "the cap held across workers: {max_active}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_tenant_job_fails_in_its_own_queue() {
    let g = group("fair-corrupt").await;
    add_many(&g, "ok", 5).await;
    let tenant = g.tenant("bad").await.unwrap();
    // Another client writes a job whose data is not UTF-8 into the tenant's queue.
    let base = format!("{}:{}:", tenant.prefix(), tenant.name());
    let mut c = raw().await;
    redis::cmd("HSET")
        .arg(format!("{base}bin"))
        .arg("name")
        .arg("work")
        .arg("data")
        .arg(&b"{\"x\":\"\xff\xfe\"}"[..])
        .arg("opts")
        .arg("{}")
        .arg("timestamp")
        .arg(1)
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    // Added through the tenant queue's own list (as a foreign producer would), then signalled
    // by a good job added through the group.
    cmd::<()>(&["LPUSH", &format!("{base}wait"), "bin"]).await;
    g.add("bad", "work", json!({}), JobOptions::default()).await.unwrap();
    let (p, runs) = recording(Duration::ZERO);
    let (worker, mut events) = Worker::spawn_fair(g.group(), p, opts(), FairOptions::default()).await.unwrap();
    let mut errors = Vec::new();
    while errors.is_empty() || runs.lock().unwrap().len() < 6 {
        let event = tokio::time::timeout(Duration::from_secs(15), events.recv()).await.unwrap().unwrap();
        if let WorkerEvent::Error { message } = event {
            errors.push(message);
        }
    }
    worker.close(Duration::from_secs(10)).await;
    let reason: String = cmd(&["HGET", &format!("{base}bin"), "failedReason"]).await;
    println!("unreadable tenant job: failed in its own queue ({reason}); 6 good jobs ran");
    assert!(reason.contains("not UTF-8"), "{reason}");
    assert_eq!(tenant.get_failed_count().await.unwrap(), 1);
    assert_eq!(tenant.get_active_count().await.unwrap(), 0, "not left active");
}

/// Manual processing of a fair group: fetches go round the tenants as a fair worker's takes do
/// (a flood's 40 jobs do not hold back a small tenant's 5), fetch-next chains keep to the turn
/// order, progress and logs go to the job's tenant queue, and locks are renewed per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_worker_of_a_group_takes_in_turn() {
    use bullmq::worker::{GetNextJobOptions, ManualWorker};
    let g = group("fair-manual").await;
    add_many(&g, "flood", 40).await;
    add_many(&g, "small", 5).await;
    let w = ManualWorker::fair(g.group(), opts(), FairOptions::default()).await.unwrap();
    let fetch = GetNextJobOptions::no_wait();
    let mut job = w.get_next_job("manual-1", fetch.clone()).await.unwrap().expect("a job");
    let (mut order, mut n) = (Vec::new(), 0);
    loop {
        order.push(job.queue_name().to_owned());
        if n == 0 {
            // The first job: progress, a log line, and a lock renewal, each in its own queue.
            job.update_progress(json!(50)).await.unwrap();
            job.log("halfway").await.unwrap();
            let lost = w.extend_job_locks(&[&job], Duration::from_secs(30)).await.unwrap();
            assert!(lost.is_empty(), "{lost:?}");
            let refused = w.extend_locks(&[(job.id.clone(), job.token().to_owned())], Duration::from_secs(30)).await;
            assert!(matches!(refused, Err(bullmq::Error::InvalidOption { .. })), "{refused:?}");
            let tenant = g.tenant(job.queue_name().strip_prefix(&format!("{}.", g.group())).unwrap()).await.unwrap();
            let stored = tenant.get_job(&job.id).await.unwrap().expect("in its tenant queue");
            assert_eq!(stored.progress, json!(50));
            assert_eq!(tenant.get_job_logs(&job.id, 0, -1, true).await.unwrap().0, vec!["halfway".to_owned()]);
        }
        n += 1;
        match job.move_to_completed(json!(n), true).await.unwrap() {
            Some(next) => job = next,
            None => break,
        }
    }
    let small_at: Vec<usize> =
        order.iter().enumerate().filter(|(_, q)| **q == g.tenant_queue_name("small")).map(|(i, _)| i).collect();
    println!(
        "manual fair worker: {} jobs fetched in one fetch-next chain; the small tenant's 5 at {small_at:?}",
        order.len()
    );
    assert_eq!(order.len(), 45);
    assert_eq!(small_at.len(), 5);
    assert!(small_at.iter().all(|&i| i < 12), "the small tenant is served in turn: {small_at:?}");
    let (flood, small) = (g.tenant("flood").await.unwrap(), g.tenant("small").await.unwrap());
    assert_eq!((flood.get_completed_count().await.unwrap(), small.get_completed_count().await.unwrap()), (40, 5));
    assert_eq!(g.indexed_tenants().await.unwrap(), 0, "the index is empty once both are drained");
    // A blocking fetch on the drained group wakes for a job added to a new tenant.
    let waiting = tokio::spawn({
        let w = w.clone();
        async move { w.get_next_job("manual-2", GetNextJobOptions::wait(Duration::from_secs(10))).await }
    });
    // Time for the fetch to block (one not yet blocked finds the job at once: still correct).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    g.add("late", "work", json!({}), JobOptions::default()).await.unwrap();
    let late = waiting.await.unwrap().unwrap().expect("the late tenant's job");
    println!("manual fair worker: a blocking fetch woke {:?} after a new tenant's add", t0.elapsed());
    assert_eq!(late.queue_name(), g.tenant_queue_name("late"));
    assert!(t0.elapsed() < Duration::from_secs(5), "woken by the add, not the timeout");
    late.move_to_completed((), false).await.unwrap();
    w.close().await;
}

/// A Node producer that adds to a tenant queue without job ids takes them from the tenant's own
/// counter; the group's adds must never reuse one of those in that queue (a job added with an
/// id already there would overwrite the other client's job). Ids stay distinct in the queue
/// whichever side adds, and Node's jobs keep their data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_ids_never_overwrite_a_node_producers_jobs() {
    let g = group("fair-ids").await;
    let tenant = g.tenant("acme").await.unwrap();
    let node_add = |from: &str, n: usize| {
        let jobs: Vec<_> = (0..n).map(|i| json!({"name": "node-job", "data": {"from": from, "i": i}})).collect();
        json!({"cmd": "add", "jobs": jobs})
    };
    let first = common::node::node("bullmq", tenant.name(), node_add("node-1", 5)).await;
    let mut rust_ids = Vec::new();
    for i in 0..3 {
        rust_ids
            .push(g.add("acme", "rust-job", json!({"from": "rust", "i": i}), JobOptions::default()).await.unwrap().id);
    }
    let second = common::node::node("bullmq", tenant.name(), node_add("node-2", 2)).await;
    // And a transactional add to the tenant's queue, which names its ids the same way.
    let reply = tenant.transaction().add("tx-job", json!({"from": "tx"}), JobOptions::default()).exec().await.unwrap();
    rust_ids.extend(reply.jobs.iter().map(|j| j.id.clone()));
    let ids: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|r| r["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()))
        .chain(rust_ids.iter().cloned())
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    println!("ids in one tenant queue, Node (no jobId), the group, Node, a transaction: {ids:?}");
    assert_eq!(distinct.len(), 11, "every add got its own id: {ids:?}");
    assert_eq!(tenant.get_waiting_count().await.unwrap(), 11);
    for (r, from) in [(&first, "node-1"), (&second, "node-2")] {
        for id in r["ids"].as_array().unwrap() {
            let job = tenant.get_job(id.as_str().unwrap()).await.unwrap().expect("Node's job is there");
            assert_eq!(job.data["from"], json!(from), "job {id} kept its data");
        }
    }
}

/// Two tenants' jobs of one id (custom ids, or a Node producer's from a tenant's own counter)
/// running at once in one worker: each is known by its queue and id, so both locks are renewed
/// and both jobs run once. (Known by id alone, the second replaced the first, whose lock then
/// expired under it: it stalled and ran again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_one_id_in_two_tenants_run_side_by_side() {
    let g = group("fair-same-id").await;
    for t in ["a", "b"] {
        g.add(t, "work", json!({ "t": t }), JobOptions::default().job_id("same")).await.unwrap();
    }
    let (p, runs) = recording(Duration::from_millis(2500));
    let opts = opts().concurrency(2).lock_duration(Duration::from_secs(1)).stalled_interval(Duration::from_millis(500));
    let (worker, mut events) = Worker::spawn_fair(g.group(), p, opts, FairOptions::default()).await.unwrap();
    let (a, b) = (g.tenant("a").await.unwrap(), g.tenant("b").await.unwrap());
    eventually("both jobs complete", Duration::from_secs(20), || {
        let (a, b) = (a.clone(), b.clone());
        async move { a.get_completed_count().await.unwrap() + b.get_completed_count().await.unwrap() == 2 }
    })
    .await;
    // A stalled check after the finishes would have found a lost run by now.
    tokio::time::sleep(Duration::from_millis(600)).await;
    worker.close(Duration::from_secs(10)).await;
    let (mut lost, mut stalled) = (0, 0);
    while let Ok(e) = events.try_recv() {
        match e {
            WorkerEvent::LockLost { .. } => lost += 1,
            WorkerEvent::JobStalled { .. } => stalled += 1,
            _ => {}
        }
    }
    let runs = runs.lock().unwrap().clone();
    println!("one id in two tenants at once: runs={runs:?} lock_lost={lost} stalled={stalled}");
    assert_eq!(runs.len(), 2, "each ran once: {runs:?}");
    assert_eq!((lost, stalled), (0, 0));
    for q in [&a, &b] {
        let atm: String = cmd(&["HGET", &format!("{}:{}:same", q.prefix(), q.name()), "atm"]).await;
        assert_eq!(atm, "1", "{} finished once", q.name());
    }
}
