//! Job schedulers through the public API, checked in Redis: the stored scheduler and its
//! iteration jobs (PROTOCOL.md §15), the worker's duty of producing the next iteration, limits
//! and end dates, the concurrency cases where Node users were hurt (parallel upserts, changed
//! options, remove then upsert, invalid patterns), missed slots, and legacy repeatable entries.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bullmq::{
    processor, Error, JobOptions, JobOutcome, JobScheduler, JobTemplate, Queue, QueueOptions, RepeatOptions, Worker,
    WorkerEvent,
};
use common::*;
use serde_json::{json, Value};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn hash(key: &str) -> HashMap<String, String> {
    cmd(&["HGETALL", key]).await
}

/// The ids of jobs of scheduler `sid` in any state, by slot.
async fn iterations(q: &Queue, sid: &str) -> BTreeSet<u64> {
    let keys: Vec<String> = cmd(&["KEYS", &k(q, &format!("repeat:{sid}:*"))]).await;
    keys.iter().filter_map(|key| key.rsplit(':').next()?.parse().ok()).collect()
}

fn doubled(runs: &[String]) -> usize {
    let unique: BTreeSet<&String> = runs.iter().collect();
    runs.len() - unique.len()
}

#[tokio::test]
async fn every_scheduler_is_stored_as_bullmq_stores_it() {
    let q = queue("sch-wire").await;
    let t0 = now_ms();
    let job = q
        .upsert_job_scheduler(
            "e1",
            RepeatOptions::every(Duration::from_secs(60)).limit(5),
            JobTemplate::named("tick").data(json!({"a": 1})).opts(JobOptions::default().priority(2).attempts(3)),
        )
        .await
        .unwrap();
    let slot: u64 = cmd::<f64>(&["ZSCORE", &k(&q, "repeat"), "e1"]).await as u64;
    assert!(slot >= t0 && slot <= now_ms(), "the first `every` slot is now");
    assert_eq!(job.id, format!("repeat:e1:{slot}"));
    assert_eq!(job.repeat_job_key.as_deref(), Some("e1"));

    let s = hash(&k(&q, "repeat:e1")).await;
    assert_eq!(s["name"], "tick");
    assert_eq!(s["every"], "60000");
    assert_eq!(s["limit"], "5");
    assert_eq!(s["ic"], "1");
    assert_eq!(s["offset"], (slot % 60_000).to_string());
    assert_eq!(s["data"], r#"{"a":1}"#);
    let template: Value = serde_json::from_str(&s["opts"]).unwrap();
    assert_eq!(template, json!({"priority": 2, "attempts": 3}));

    let h = hash(&k(&q, &job.id)).await;
    assert_eq!(h["name"], "tick");
    assert_eq!(h["rjk"], "e1");
    assert_eq!(h["priority"], "2");
    assert_eq!(h["delay"], "0");
    let opts: Value = serde_json::from_str(&h["opts"]).unwrap();
    assert_eq!(opts["repeat"], json!({"every": 60000, "limit": 5, "count": 1}));
    assert_eq!(opts["jobId"], json!(job.id));
    assert_eq!(opts["repeatJobKey"], json!("e1"));
    assert_eq!(opts["attempts"], json!(3));
    assert!(opts.get("prevMillis").is_none(), "`every` iterations carry no prevMillis");
    // Priority 2: the iteration waits in prioritized, as an added job would.
    let prioritized: Vec<String> = cmd(&["ZRANGE", &k(&q, "prioritized"), "0", "-1"]).await;
    assert_eq!(prioritized, vec![job.id.clone()]);

    let rec = q.get_job_scheduler("e1").await.unwrap().unwrap();
    assert_eq!((rec.key.as_str(), rec.name.as_str()), ("e1", "tick"));
    assert_eq!(rec.every, Some(Duration::from_secs(60)));
    assert_eq!((rec.next, rec.iteration_count, rec.limit), (Some(slot), Some(1), Some(5)));
    assert_eq!(rec.template.data, json!({"a": 1}));
    assert_eq!(rec.template.opts.attempts, Some(3));
    assert_eq!(q.get_job_schedulers_count().await.unwrap(), 1);
    assert!(q.get_job_scheduler("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn an_offset_places_every_slot() {
    let q = queue("sch-offset").await;
    let job = q
        .upsert_job_scheduler(
            "o1",
            RepeatOptions::every(Duration::from_secs(60)).offset(Duration::from_millis(1234)),
            JobTemplate::default(),
        )
        .await
        .unwrap();
    let slot: u64 = job.id.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(slot % 60_000, 1234);
    assert!(slot > now_ms() - 1 && job.delay > 0, "the next aligned slot, delayed until then");
    let s = hash(&k(&q, "repeat:o1")).await;
    assert_eq!((s["name"].as_str(), s["offset"].as_str()), ("o1", "1234"));
    let delayed: Vec<String> = cmd(&["ZRANGE", &k(&q, "delayed"), "0", "-1"]).await;
    assert_eq!(delayed, vec![job.id.clone()]);
    let opts: Value = serde_json::from_str(&hash(&k(&q, &job.id)).await["opts"]).unwrap();
    assert_eq!(opts["repeat"], json!({"every": 60000, "offset": 1234, "count": 1}));
}

#[tokio::test]
async fn a_worker_keeps_an_every_schedule_going_and_stops_at_the_limit() {
    let q = queue("sch-iterate").await;
    q.upsert_job_scheduler("fast", RepeatOptions::every(Duration::from_millis(150)).limit(4), JobTemplate::named("t"))
        .await
        .unwrap();
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("4 iterations", Duration::from_secs(10), || async { runs.lock().unwrap().len() >= 4 }).await;
    // No fifth: the limit ends the schedule.
    holds_for("no iteration past the limit", Duration::from_millis(600), || async { runs.lock().unwrap().len() == 4 })
        .await;
    w.close(Duration::from_secs(2)).await;
    let runs = runs.lock().unwrap().clone();
    let slots: Vec<u64> = runs.iter().map(|id| id.rsplit(':').next().unwrap().parse().unwrap()).collect();
    for pair in slots.windows(2) {
        // One interval apart, or a whole number of them where a late take let slots pass.
        assert!(pair[1] > pair[0] && (pair[1] - pair[0]).is_multiple_of(150), "slots on the schedule: {slots:?}");
    }
    assert_eq!(doubled(&runs), 0);
    let s = hash(&k(&q, "repeat:fast")).await;
    assert_eq!(s["ic"], "4");
    assert_eq!(iterations(&q, "fast").await.len(), 4);
    println!("scheduler limit: iterations=4 slots={slots:?} doubled=0");
}

#[tokio::test]
async fn parallel_upserts_leave_one_scheduler_and_one_pending_iteration() {
    let q = queue("sch-parallel").await;
    // 20 handles, each its own connection, as 20 processes at boot.
    let mut handles = Vec::new();
    for _ in 0..20 {
        handles.push(Queue::new(q.name(), QueueOptions::new(conn())).await.unwrap());
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = handles
        .into_iter()
        .map(|h| {
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                h.upsert_job_scheduler(
                    "boot",
                    RepeatOptions::every(Duration::from_secs(30)),
                    JobTemplate::named("report").data(json!({"v": 1})),
                )
                .await
                .unwrap()
                .id
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "every upsert names the same pending iteration: {ids:?}");
    assert_eq!(cmd::<u64>(&["ZCARD", &k(&q, "repeat")]).await, 1);
    assert_eq!(iterations(&q, "boot").await.len(), 1);
    let added = events(&q).await.into_iter().filter(|(e, _)| e == "added").count();
    assert_eq!(added, 1, "one iteration added, none replaced");
    assert_eq!(hash(&k(&q, "repeat:boot")).await["ic"], "1");
    println!("scheduler parallel upserts: processes=20 schedulers=1 pending=1 added=1");
}

#[tokio::test]
async fn changed_options_apply_to_the_next_iteration() {
    let q = queue("sch-change").await;
    let first = q
        .upsert_job_scheduler("c", RepeatOptions::every(Duration::from_secs(60)), JobTemplate::named("a"))
        .await
        .unwrap();
    // Pending (not started): replaced in place, same slot, new options.
    let second = q
        .upsert_job_scheduler(
            "c",
            RepeatOptions::every(Duration::from_secs(60)),
            JobTemplate::named("b").data(json!({"v": 2})).opts(JobOptions::default().attempts(5)),
        )
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    let h = hash(&k(&q, &second.id)).await;
    assert_eq!((h["name"].as_str(), h["data"].as_str()), ("b", r#"{"v":2}"#));
    let opts: Value = serde_json::from_str(&h["opts"]).unwrap();
    assert_eq!(opts["attempts"], json!(5));
    assert_eq!(iterations(&q, "c").await.len(), 1);

    // Running: it finishes as it was; the next iteration has the new data.
    let q = queue("sch-change-running").await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, s) = (gate.clone(), seen.clone());
    let p = processor(move |job, _ctx| {
        let (g, s) = (g.clone(), s.clone());
        async move {
            s.lock().unwrap().push((job.id.clone(), job.data.clone()));
            if s.lock().unwrap().len() == 1 {
                g.notified().await;
            }
            Ok(JobOutcome::Completed(json!(null)))
        }
    });
    q.upsert_job_scheduler(
        "r",
        RepeatOptions::every(Duration::from_millis(300)),
        JobTemplate::named("r").data(json!({"v": 1})),
    )
    .await
    .unwrap();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("first iteration running", Duration::from_secs(5), || async { seen.lock().unwrap().len() == 1 }).await;
    q.upsert_job_scheduler(
        "r",
        RepeatOptions::every(Duration::from_millis(300)),
        JobTemplate::named("r").data(json!({"v": 2})),
    )
    .await
    .unwrap();
    gate.notify_one();
    eventually("second iteration", Duration::from_secs(5), || async { seen.lock().unwrap().len() >= 2 }).await;
    w.close(Duration::from_secs(2)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].1, json!({"v": 1}));
    assert_eq!(seen[1].1, json!({"v": 2}), "the upsert's data applies from the next iteration");
    let ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len(), "no iteration ran twice: {ids:?}");
}

#[tokio::test]
async fn remove_then_upsert_creates_the_next_iteration() {
    let q = queue("sch-remove").await;
    let first = q
        .upsert_job_scheduler("x", RepeatOptions::every(Duration::from_secs(1)), JobTemplate::default())
        .await
        .unwrap();
    // The first slot is now: the iteration is in wait, not delayed. It goes with the scheduler.
    assert!(q.remove_job_scheduler("x").await.unwrap());
    assert!(!q.remove_job_scheduler("x").await.unwrap());
    assert!(q.get_job(&first.id).await.unwrap().is_none(), "a pending iteration is removed wherever it waits");
    assert_eq!(cmd::<u64>(&["LLEN", &k(&q, "wait")]).await, 0);
    assert!(!cmd::<bool>(&["EXISTS", &k(&q, "repeat:x")]).await);
    let removed = events(&q).await.into_iter().filter(|(e, f)| e == "removed" && f["jobId"] == first.id).count();
    assert_eq!(removed, 1);

    let again = q
        .upsert_job_scheduler("x", RepeatOptions::every(Duration::from_secs(1)), JobTemplate::default())
        .await
        .unwrap();
    assert!(q.get_job(&again.id).await.unwrap().is_some());
    assert_eq!(hash(&k(&q, "repeat:x")).await["ic"], "1");
}

#[tokio::test]
async fn invalid_options_are_typed_errors_and_write_nothing() {
    let q = queue("sch-invalid").await;
    let past = SystemTime::now() - Duration::from_secs(10);
    let cases: Vec<(RepeatOptions, JobTemplate, &str)> = vec![
        (RepeatOptions::default(), JobTemplate::default(), "repeat"),
        (
            {
                let mut both = RepeatOptions::pattern("* * * * *");
                both.every = Some(Duration::from_secs(1));
                both
            },
            JobTemplate::default(),
            "repeat",
        ),
        (RepeatOptions::pattern("61 * * * *"), JobTemplate::default(), "repeat.pattern"),
        (RepeatOptions::pattern("0 0 LW * *"), JobTemplate::default(), "repeat.pattern"),
        (RepeatOptions::pattern("0 0 * * * * 2027"), JobTemplate::default(), "repeat.pattern"),
        (RepeatOptions::pattern("* * * * *").tz("Mars/Olympus"), JobTemplate::default(), "repeat.tz"),
        (RepeatOptions::every(Duration::ZERO), JobTemplate::default(), "repeat.every"),
        (RepeatOptions::every(Duration::from_secs(1)).limit(0), JobTemplate::default(), "repeat.limit"),
        (RepeatOptions::every(Duration::from_secs(1)).end_date(past), JobTemplate::default(), "repeat.end_date"),
        (
            RepeatOptions::pattern("* * * * *").immediately(true).start_date(SystemTime::now()),
            JobTemplate::default(),
            "repeat.immediately",
        ),
        (
            RepeatOptions::every(Duration::from_secs(1)),
            JobTemplate::default().opts(JobOptions::default().job_id("mine")),
            "job_id",
        ),
    ];
    for (repeat, template, option) in cases {
        match q.upsert_job_scheduler("bad", repeat.clone(), template).await {
            Err(Error::InvalidOption { option: o, message }) => {
                assert!(o == option || (option == "repeat.tz" && o == "repeat.pattern"), "{repeat:?}: {o}: {message}");
            }
            other => panic!("{repeat:?}: expected an invalid option, got {other:?}"),
        }
    }
    let keys: Vec<String> = cmd(&["KEYS", &format!("{}:{}:*", q.prefix(), q.name())]).await;
    let written: Vec<&String> = keys.iter().filter(|k| !k.ends_with(":meta")).collect();
    assert!(written.is_empty(), "nothing written: {written:?}");
}

#[tokio::test]
async fn missed_every_slots_collapse_into_one() {
    let q = queue("sch-missed").await;
    q.upsert_job_scheduler("m", RepeatOptions::every(Duration::from_millis(100)), JobTemplate::default())
        .await
        .unwrap();
    // No worker for 1 s: 10 slots pass.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (p, runs) = recording_processor();
    let started = now_ms();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("the first run", Duration::from_secs(5), || async { !runs.lock().unwrap().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.close(Duration::from_secs(2)).await;
    let runs = runs.lock().unwrap().clone();
    let slots: Vec<u64> = runs.iter().map(|id| id.rsplit(':').next().unwrap().parse().unwrap()).collect();
    // The one pending iteration (the first slot, long past), then slots after the worker's return.
    assert!(slots[0] < started);
    assert!(slots[1] >= started - 100, "the missed slots were skipped, not replayed: {slots:?}");
    assert!(runs.len() <= 8, "at most one run per slot since the return: {}", runs.len());
    assert_eq!(doubled(&runs), 0);
    println!("scheduler missed slots: away_ms=1000 slots_missed=~9 replayed=0 runs_after_return={}", runs.len());
}

#[tokio::test]
async fn a_removed_scheduler_stops_and_its_running_iteration_finishes() {
    let q = queue("sch-removed-run").await;
    q.upsert_job_scheduler("z", RepeatOptions::every(Duration::from_millis(200)), JobTemplate::default())
        .await
        .unwrap();
    let gate = Arc::new(tokio::sync::Notify::new());
    let runs = Arc::new(Mutex::new(0));
    let (g, r) = (gate.clone(), runs.clone());
    let p = processor(move |_job, _ctx| {
        let (g, r) = (g.clone(), r.clone());
        async move {
            *r.lock().unwrap() += 1;
            g.notified().await;
            Ok(JobOutcome::Completed(json!(null)))
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, worker_opts(&q)).await.unwrap();
    eventually("running", Duration::from_secs(5), || async { *runs.lock().unwrap() == 1 }).await;
    assert!(q.remove_job_scheduler("z").await.unwrap());
    gate.notify_one();
    wait_for(&mut rx, |e| matches!(e, WorkerEvent::JobCompleted { .. })).await;
    holds_for("nothing more runs", Duration::from_millis(600), || async { *runs.lock().unwrap() == 1 }).await;
    w.close(Duration::from_secs(2)).await;
    assert_eq!(cmd::<u64>(&["ZCARD", &k(&q, "delayed")]).await, 0);
    assert_eq!(cmd::<u64>(&["LLEN", &k(&q, "wait")]).await, 0);
}

#[tokio::test]
async fn the_job_scheduler_facade() {
    let q = queue("sch-facade").await;
    let js = JobScheduler::new(&q);
    js.upsert("a", RepeatOptions::every(Duration::from_secs(10)), JobTemplate::default()).await.unwrap();
    js.upsert(
        "b",
        RepeatOptions::every(Duration::from_secs(20)).offset(Duration::from_secs(5)),
        JobTemplate::default(),
    )
    .await
    .unwrap();
    assert_eq!(js.count().await.unwrap(), 2);
    let list = js.list().await.unwrap();
    assert_eq!(list.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["a", "b"], "by next slot, ascending");
    let desc = q.get_job_schedulers(0, 0, false).await.unwrap();
    assert_eq!(desc.len(), 1);
    assert_eq!(desc[0].key, "b");
    assert!(js.get("b").await.unwrap().is_some());
    assert!(js.remove("a").await.unwrap());
    assert_eq!(js.count().await.unwrap(), 1);
    // A member whose hash is gone is dropped when listed, as Node does.
    let _: () = cmd(&["DEL", &k(&q, "repeat:b")]).await;
    assert!(js.list().await.unwrap().is_empty());
    assert_eq!(js.count().await.unwrap(), 0);
}

/// The seed's "Deduplication with Job Schedulers": the scheduler's trigger adds a deduplicated
/// job, so however often the trigger runs, one task is pending at a time.
#[tokio::test]
async fn a_trigger_iteration_adds_a_deduplicated_task() {
    let q = queue("sch-dedup").await;
    q.upsert_job_scheduler(
        "every-100ms",
        RepeatOptions::every(Duration::from_millis(100)),
        JobTemplate::named("scheduler-trigger"),
    )
    .await
    .unwrap();
    let producer = q.clone();
    let triggers = Arc::new(Mutex::new(0));
    let t = triggers.clone();
    let p = processor(move |job, _ctx| {
        let (producer, t) = (producer.clone(), t.clone());
        async move {
            if job.name == "scheduler-trigger" {
                *t.lock().unwrap() += 1;
                let opts = JobOptions::default()
                    .deduplication(bullmq::Deduplication::simple("scheduled-task"))
                    .delay(Duration::from_secs(60));
                producer.add("actual-task", json!({}), opts).await.map_err(|e| bullmq::JobError::new(e.to_string()))?;
            }
            Ok(JobOutcome::Completed(json!(null)))
        }
    });
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("5 triggers", Duration::from_secs(10), || async { *triggers.lock().unwrap() >= 5 }).await;
    w.close(Duration::from_secs(2)).await;
    let delayed: Vec<String> = cmd(&["ZRANGE", &k(&q, "delayed"), "0", "-1"]).await;
    let tasks: Vec<&String> = delayed.iter().filter(|id| !id.starts_with("repeat:")).collect();
    assert_eq!(tasks.len(), 1, "one deduplicated task however many triggers: {delayed:?}");
    let deduplicated = events(&q).await.into_iter().filter(|(e, _)| e == "deduplicated").count();
    assert!(deduplicated >= 4, "the later triggers were deduplicated: {deduplicated}");
}

/// Not a test on its own: one of the processes of
/// `twenty_processes_upserting_at_once_leave_one_scheduler`: it upserts at the agreed instant.
#[tokio::test]
async fn upserting_process() {
    let (Ok(queue), Ok(at)) = (std::env::var("SCHED_QUEUE"), std::env::var("SCHED_AT")) else { return };
    let at: u64 = at.parse().unwrap();
    let q = Queue::new(&queue, QueueOptions::new(conn())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await;
    q.upsert_job_scheduler("boot", RepeatOptions::every(Duration::from_secs(30)), JobTemplate::named("report"))
        .await
        .unwrap();
}

#[tokio::test]
async fn twenty_processes_upserting_at_once_leave_one_scheduler() {
    let q = queue("sch-processes").await;
    let at = (now_ms() + 2000).to_string();
    let mut children: Vec<_> = (0..20)
        .map(|_| spawn_test_process("upserting_process", &[("SCHED_QUEUE", q.name()), ("SCHED_AT", &at)]))
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success(), "an upserting process failed");
    }
    assert_eq!(cmd::<u64>(&["ZCARD", &k(&q, "repeat")]).await, 1);
    assert_eq!(iterations(&q, "boot").await.len(), 1, "one pending iteration");
    let added = events(&q).await.into_iter().filter(|(e, _)| e == "added").count();
    assert_eq!(added, 1);
    println!("scheduler upserts from 20 processes at one instant: schedulers=1 pending=1 added=1");
}

#[tokio::test]
async fn a_cron_scheduler_in_a_time_zone() {
    let q = queue("sch-cron").await;
    let before = now_ms();
    let job = q
        .upsert_job_scheduler(
            "berlin",
            RepeatOptions::pattern("*/2 * * * * *").tz("Europe/Berlin").limit(3),
            JobTemplate::named("tick"),
        )
        .await
        .unwrap();
    let slot: u64 = job.id.rsplit(':').next().unwrap().parse().unwrap();
    assert!(slot.is_multiple_of(2000), "an even second");
    assert!(slot > before && slot <= before + 2000, "the next occurrence after now");
    let s = hash(&k(&q, "repeat:berlin")).await;
    assert_eq!(
        (s["pattern"].as_str(), s["tz"].as_str(), s["offset"].as_str(), s["ic"].as_str()),
        ("*/2 * * * * *", "Europe/Berlin", "0", "1")
    );
    assert!(!s.contains_key("every"));
    let opts: Value = serde_json::from_str(&hash(&k(&q, &job.id)).await["opts"]).unwrap();
    assert_eq!(opts["prevMillis"], json!(slot), "pattern iterations carry their slot as prevMillis");
    assert_eq!(opts["repeat"], json!({"pattern": "*/2 * * * * *", "tz": "Europe/Berlin", "limit": 3, "count": 1}));

    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("3 iterations", Duration::from_secs(10), || async { runs.lock().unwrap().len() == 3 }).await;
    holds_for("the limit ends it", Duration::from_millis(2500), || async { runs.lock().unwrap().len() == 3 }).await;
    w.close(Duration::from_secs(2)).await;
    let slots: Vec<u64> =
        runs.lock().unwrap().iter().map(|id| id.rsplit(':').next().unwrap().parse().unwrap()).collect();
    assert_eq!(slots, vec![slot, slot + 2000, slot + 4000]);
    assert_eq!(hash(&k(&q, "repeat:berlin")).await["ic"], "3");
}

#[tokio::test]
async fn immediately_start_and_end_dates() {
    let q = queue("sch-dates").await;
    // `immediately`: the first iteration now, the next on the pattern.
    let before = now_ms();
    let first = q
        .upsert_job_scheduler("now", RepeatOptions::pattern("0 0 1 1 *").immediately(true), JobTemplate::default())
        .await
        .unwrap();
    let slot: u64 = first.id.rsplit(':').next().unwrap().parse().unwrap();
    assert!(slot >= before && slot <= now_ms() && first.delay == 0);

    // A start date in the future: the first occurrence at or after it.
    let start = SystemTime::now() + Duration::from_secs(3600);
    let start_ms = start.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let later = q
        .upsert_job_scheduler("later", RepeatOptions::pattern("0 * * * *").start_date(start), JobTemplate::default())
        .await
        .unwrap();
    let slot: u64 = later.id.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        slot >= start_ms && slot < start_ms + 3_600_000 && slot.is_multiple_of(3_600_000),
        "{slot} from {start_ms}"
    );
    let s = hash(&k(&q, "repeat:later")).await;
    assert_eq!(s["startDate"], start_ms.to_string());

    // An end date before the next occurrence: refused, nothing written.
    let end = SystemTime::now() + Duration::from_secs(60);
    let e = q
        .upsert_job_scheduler("never", RepeatOptions::pattern("0 0 1 1 *").end_date(end), JobTemplate::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidOption { option: "repeat.pattern", .. }), "{e}");
    assert!(q.get_job_scheduler("never").await.unwrap().is_none());

    // An `every` scheduler past its end date stops producing.
    let end = SystemTime::now() + Duration::from_millis(700);
    q.upsert_job_scheduler(
        "short",
        RepeatOptions::every(Duration::from_millis(200)).end_date(end),
        JobTemplate::default(),
    )
    .await
    .unwrap();
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.close(Duration::from_secs(2)).await;
    let short: Vec<String> =
        runs.lock().unwrap().iter().filter(|id| id.starts_with("repeat:short:")).cloned().collect();
    assert!((3..=5).contains(&short.len()), "slots up to the end date only: {short:?}");
}

#[tokio::test]
async fn missed_cron_occurrences_are_not_replayed() {
    let q = queue("sch-missed-cron").await;
    q.upsert_job_scheduler("mc", RepeatOptions::pattern("* * * * * *"), JobTemplate::default()).await.unwrap();
    // No worker for 3.2 s: three occurrences pass.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let back = now_ms();
    let (p, runs) = recording_processor();
    let (w, _rx) = Worker::spawn(q.name(), p, worker_opts(&q).drain_delay(Duration::from_millis(200))).await.unwrap();
    eventually("two runs", Duration::from_secs(5), || async { runs.lock().unwrap().len() >= 2 }).await;
    w.close(Duration::from_secs(2)).await;
    let slots: Vec<u64> =
        runs.lock().unwrap().iter().map(|id| id.rsplit(':').next().unwrap().parse().unwrap()).collect();
    assert!(slots[0] < back, "the one pending occurrence runs");
    assert!(slots[1] > back, "then the next occurrence after the return, the missed ones skipped: {slots:?}");
}
