//! Interop of job schedulers with the real Node BullMQ 6.7, both ways: Node's schedulers kept
//! alive by our workers, ours read and iterated by Node, a mixed fleet on one queue, and
//! BullMQ 5's legacy repeatable jobs (listed, removable, never iterated).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bullmq::{JobOptions, JobTemplate, RepeatOptions, Worker, WorkerEvent};
use common::node::node;
use common::*;
use serde_json::{json, Value};

fn slot_of(id: &str) -> u64 {
    id.rsplit(':').next().unwrap().parse().unwrap()
}

/// Node upserts an `every` scheduler; our worker alone keeps it going, as a Node worker would
/// (before this crate produced iterations, the schedule ended after one).
#[tokio::test]
async fn our_worker_keeps_node_schedules_alive() {
    let q = queue("isch-node-every").await;
    let up = json!([{"id": "s1", "repeat": {"every": 300}, "template": {"name": "tick", "data": {"n": 1}, "opts": {"attempts": 2}}}]);
    node("bullmq", q.name(), json!({"cmd": "upsertSchedulers", "schedulers": up})).await;
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    w.close(Duration::from_secs(2)).await;
    let runs = runs.lock().unwrap().clone();
    assert!(runs.len() >= 7, "about 10 iterations in 3 s at every 300 ms, got {}", runs.len());
    let slots: Vec<u64> = runs.iter().map(|id| slot_of(id)).collect();
    for pair in slots.windows(2) {
        // One interval apart, or a whole number of them where a late take let slots pass.
        assert!(pair[1] > pair[0] && (pair[1] - pair[0]).is_multiple_of(300), "slots on the schedule: {slots:?}");
    }
    let r = node("bullmq", q.name(), json!({"cmd": "readSchedulers", "id": "s1"})).await;
    let ic = r["scheduler"]["iterationCount"].as_u64().unwrap();
    assert_eq!(ic, runs.len() as u64 + 1, "Node reads one count per produced iteration");
    let job = q.get_job(&runs[1]).await.unwrap().unwrap();
    assert_eq!((job.name.as_str(), &job.data), ("tick", &json!({"n": 1})));
    assert_eq!(job.opts.attempts, Some(2));
    println!("interop node->rust every: iterations={} in 3000 ms, ic={ic}, doubled=0", runs.len());
}

/// We upsert; Node reads our schedulers field for field as it reads its own, and a Node worker
/// iterates ours.
#[tokio::test]
async fn node_reads_and_iterates_our_schedulers() {
    let ours = queue("isch-ours").await;
    let theirs = queue("isch-theirs").await;
    let end = std::time::SystemTime::now() + Duration::from_secs(3600);
    let end_ms = end.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    ours.upsert_job_scheduler(
        "e",
        RepeatOptions::every(Duration::from_millis(250)).limit(50).end_date(end),
        JobTemplate::named("job-e").data(json!({"k": [1, 2]})).opts(JobOptions::default().attempts(3).priority(1)),
    )
    .await
    .unwrap();
    let up = json!([{"id": "e", "repeat": {"every": 250, "limit": 50, "endDate": end_ms},
        "template": {"name": "job-e", "data": {"k": [1, 2]}, "opts": {"attempts": 3, "priority": 1}}}]);
    node("bullmq", theirs.name(), json!({"cmd": "upsertSchedulers", "schedulers": up})).await;

    let a = node("bullmq", ours.name(), json!({"cmd": "readSchedulers", "id": "e"})).await["scheduler"].clone();
    let b = node("bullmq", theirs.name(), json!({"cmd": "readSchedulers", "id": "e"})).await["scheduler"].clone();
    let strip = |mut v: Value| {
        for f in ["next", "offset"] {
            v.as_object_mut().unwrap().remove(f);
        }
        v
    };
    assert_eq!(strip(a.clone()), strip(b), "Node reads our scheduler as its own");
    assert_eq!(a["offset"].as_u64(), Some(a["next"].as_u64().unwrap() % 250));

    let w = node("bullmq", ours.name(), json!({"cmd": "workFor", "ms": 2000})).await;
    let runs: Vec<String> =
        w["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert!(runs.len() >= 6, "a Node worker iterates our scheduler: {runs:?}");
    assert_eq!(w["errors"], json!([]));
    let unique: BTreeSet<&String> = runs.iter().collect();
    assert_eq!(unique.len(), runs.len());
    println!("interop rust->node every: node read equal, node iterations={} in 2000 ms", runs.len());
}

/// A Node worker and our tree on one queue, 20 schedulers every 100 ms for 10 s: no iteration
/// runs twice, and slots are skipped only as BullMQ skips them (at most 2%).
#[tokio::test]
async fn a_mixed_fleet_runs_each_iteration_once() {
    let q = queue("isch-fleet").await;
    for i in 0..20 {
        q.upsert_job_scheduler(
            &format!("f{i}"),
            RepeatOptions::every(Duration::from_millis(100)),
            JobTemplate::named("f"),
        )
        .await
        .unwrap();
    }
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).concurrency(4).drain_delay(Duration::from_millis(200)))
        .await
        .unwrap();
    let node_run =
        node("bullmq", q.name(), json!({"cmd": "workFor", "ms": 10000, "concurrency": 4, "timeoutMs": 30000}));
    let node_runs = node_run.await;
    w.close(Duration::from_secs(2)).await;
    let ours = runs.lock().unwrap().clone();
    let theirs: Vec<String> =
        node_runs["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(node_runs["errors"], json!([]));
    let mut all: Vec<String> = ours.iter().chain(theirs.iter()).cloned().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "no iteration ran twice");
    let mut per: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for id in &all {
        let sid = id.split(':').nth(1).unwrap().to_owned();
        per.entry(sid).or_default().push(slot_of(id));
    }
    // A slot is skipped as BullMQ skips it: when the iteration before it produces its next only
    // after that slot has passed (a late worker: Node's wakes up to 100 ms late at Redis's hz 10;
    // any worker on a loaded machine), the next one goes to the next slot after now. Counted,
    // with how many of those gaps follow a take at least 50 ms late; a skip is never a double.
    let (mut skipped, mut late, mut slots_run) = (0, 0, 0);
    for (sid, slots) in per.iter_mut() {
        slots.sort();
        slots_run += slots.len();
        for p in slots.windows(2).filter(|p| p[1] - p[0] != 100) {
            skipped += (p[1] - p[0]) / 100 - 1;
            let taken: u64 = cmd(&["HGET", &k(&q, &format!("repeat:{sid}:{}", p[0])), "processedOn"]).await;
            if taken + 50 >= p[0] + 100 {
                late += 1;
            }
        }
    }
    assert_eq!(per.len(), 20);
    assert!(skipped * 50 <= slots_run as u64, "at most 2% of slots skipped: {skipped} of {slots_run}");
    assert!(
        !ours.is_empty() && !theirs.is_empty(),
        "both workers took part: ours={} node={}",
        ours.len(),
        theirs.len()
    );
    println!(
        "interop mixed fleet: schedulers=20 every=100ms iterations={total} rust={} node={} doubled=0 skipped={skipped} gaps_after_a_take_50ms_late={late}",
        ours.len(),
        theirs.len()
    );
}

/// BullMQ 5's repeatable jobs: listed and removable here, never created. One keyed by BullMQ 5's
/// md5 name is iterated as a BullMQ 6.7 worker iterates it (its key cannot be told from a
/// scheduler id); one with a colon-joined legacy key is refused, with an event, as 6.7 refuses it.
#[tokio::test]
async fn legacy_repeatable_jobs_are_listed_and_handled_as_bullmq_6_does() {
    for custom_key in [None, Some("old:::ignored:60000")] {
        let q = queue("isch-legacy").await;
        let mut args = json!({"cmd": "addLegacyRepeatable", "name": "old", "every": 60000});
        if let Some(key) = custom_key {
            args["key"] = key.into();
        }
        let added = node("bullmq5", q.name(), args).await;
        let key = added["repeatJobKey"].as_str().unwrap().to_owned();
        assert!(q.get_job_schedulers(0, -1, true).await.unwrap().is_empty(), "not a job scheduler");
        let legacy = q.get_repeatable_jobs(0, -1, true).await.unwrap();
        assert_eq!(legacy.len(), 1);
        assert_eq!((legacy[0].key.as_str(), legacy[0].name.as_deref()), (key.as_str(), Some("old")));
        assert_eq!(legacy[0].every, Some(Duration::from_secs(60)));

        // Its iteration is due at the next minute; bring it forward and let our worker take it.
        let id = added["id"].as_str().unwrap().to_owned();
        let _: () = cmd(&["ZADD", &k(&q, "delayed"), "0", &id]).await;
        let (p, runs) = recording_processor();
        let (w, mut rx) = Worker::spawn(q.name(), p, worker_opts(&q)).await.unwrap();
        eventually("the iteration ran", Duration::from_secs(5), || async { runs.lock().unwrap().len() == 1 }).await;
        let nexts: Vec<String> = cmd(&["KEYS", &k(&q, &format!("repeat:{key}:*"))]).await;
        let nexts: Vec<&String> = nexts.iter().filter(|k| !k.ends_with(&id)).collect();
        if custom_key.is_some() {
            let e = wait_for(&mut rx, |e| matches!(e, WorkerEvent::Error { .. })).await;
            let WorkerEvent::Error { message } = e else { unreachable!() };
            assert!(message.contains("BullMQ 5 repeatable job"), "{message}");
            assert!(nexts.is_empty(), "no next iteration of a legacy key: {nexts:?}");
        } else {
            assert_eq!(nexts.len(), 1, "iterated as BullMQ 6.7 does");
        }
        w.close(Duration::from_secs(2)).await;
        assert!(q.remove_job_scheduler(&key).await.unwrap());
        assert!(q.get_repeatable_jobs(0, -1, true).await.unwrap().is_empty());
        assert_eq!(q.get_job_schedulers_count().await.unwrap(), 0);
    }
}

/// Cron schedulers both ways: Node's kept going by our worker, ours read by Node as its own and
/// iterated by a Node worker.
#[tokio::test]
async fn cron_schedulers_both_ways() {
    let q = queue("isch-cron-node").await;
    let up = json!([{"id": "c", "repeat": {"pattern": "* * * * * *", "tz": "America/New_York"}, "template": {"name": "sec"}}]);
    node("bullmq", q.name(), json!({"cmd": "upsertSchedulers", "schedulers": up})).await;
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3300)).await;
    w.close(Duration::from_secs(2)).await;
    let slots: Vec<u64> = runs.lock().unwrap().iter().map(|id| slot_of(id)).collect();
    assert!(slots.len() >= 3, "{slots:?}");
    for pair in slots.windows(2) {
        assert!(pair[1] > pair[0] && (pair[1] - pair[0]).is_multiple_of(1000), "on whole seconds: {slots:?}");
    }
    assert!(slots.iter().all(|s| s.is_multiple_of(1000)));

    let ours = queue("isch-cron-ours").await;
    let theirs = queue("isch-cron-theirs").await;
    let now = std::time::SystemTime::now();
    let (start, end) = (now + Duration::from_secs(1), now + Duration::from_secs(86_400));
    let ms = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    ours.upsert_job_scheduler(
        "p",
        RepeatOptions::pattern("*/2 * * * * *").tz("Asia/Kolkata").limit(40).start_date(start).end_date(end),
        JobTemplate::named("pj").data(json!({"x": "y"})).opts(JobOptions::default().attempts(2)),
    )
    .await
    .unwrap();
    let up = json!([{"id": "p", "repeat": {"pattern": "*/2 * * * * *", "tz": "Asia/Kolkata", "limit": 40,
        "startDate": ms(start), "endDate": ms(end)}, "template": {"name": "pj", "data": {"x": "y"}, "opts": {"attempts": 2}}}]);
    node("bullmq", theirs.name(), json!({"cmd": "upsertSchedulers", "schedulers": up})).await;
    let a = node("bullmq", ours.name(), json!({"cmd": "readSchedulers", "id": "p"})).await["scheduler"].clone();
    let b = node("bullmq", theirs.name(), json!({"cmd": "readSchedulers", "id": "p"})).await["scheduler"].clone();
    assert_eq!(a, b, "Node reads our cron scheduler as its own, next slot included");
    let w = node("bullmq", ours.name(), json!({"cmd": "workFor", "ms": 4500})).await;
    let runs = w["runs"].as_array().unwrap();
    assert!(runs.len() >= 2, "a Node worker iterates our cron scheduler: {runs:?}");
    assert_eq!(w["errors"], json!([]));
    println!(
        "interop cron: node->rust iterations={} (1 s apart); rust->node read equal, node iterations={}",
        slots.len(),
        runs.len()
    );
}
