//! Our QueueEvents and Node's read the same stream the same way: every event type our
//! operations write decodes identically in Node's QueueEvents (6.7.0 and 5.81.5), and what Node's
//! operations write decodes in ours as in Node's (whole decoded entries compared). Progress and
//! logs cross both ways; metrics written by either kind of worker are identical and read the
//! same by both; the events cap is honoured by both writers and `trim_events` trims like Node's
//! `trimEvents`.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bullmq::queue::MetricsType;
use bullmq::worker::MetricsOptions;
use bullmq::{
    processor, Deduplication, JobError, JobOptions, JobOutcome, JobState, KeepJobs, Queue, QueueEvent, QueueEvents,
    QueueEventsOptions, QueueOptions, Worker, WorkerEvent, WorkerOptions,
};
use common::node::{node, NODE_PACKAGES};
use common::*;
use serde_json::{json, Map, Value};

/// The 17 event types a 6.x writer produces (`debounced` is written by 5.x scripts only).
const TYPES_6X: [&str; 17] = [
    "added",
    "waiting",
    "active",
    "progress",
    "completed",
    "failed",
    "delayed",
    "stalled",
    "removed",
    "drained",
    "paused",
    "resumed",
    "duplicated",
    "deduplicated",
    "retries-exhausted",
    "waiting-children",
    "cleaned",
];

/// The whole stream as our QueueEvents decodes it.
async fn ours(q: &Queue, expect: usize) -> Vec<QueueEvent> {
    let o = QueueEventsOptions::new(conn()).last_event_id("0-0").blocking_timeout(Duration::from_millis(300));
    let qe = QueueEvents::new(q.name(), o).await.unwrap();
    let mut sub = qe.subscribe();
    let mut out = Vec::new();
    while out.len() < expect {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
            Ok(Some(e)) => out.push(e),
            _ => panic!("our QueueEvents read {} of {expect}: {out:?}", out.len()),
        }
    }
    qe.close().await;
    out
}

/// The custom event Node's scenario publishes (QueueEventsProducer).
const CUSTOM: &str = "node-custom";

/// The whole stream as Node's QueueEvents decodes it (driver `events`), by entry id.
async fn theirs(pkg: &str, q: &Queue, expect: usize) -> HashMap<String, Value> {
    let r = node(pkg, q.name(), json!({"cmd": "events", "expect": expect, "custom": [CUSTOM]})).await;
    let evs = r["events"].as_array().unwrap();
    assert_eq!(evs.len(), expect, "{pkg}: Node's QueueEvents read the whole stream");
    evs.iter().map(|e| (e["id"].as_str().unwrap().to_owned(), e.clone())).collect()
}

async fn stream_len(q: &Queue) -> usize {
    cmd::<usize>(&["XLEN", &k(q, "events")]).await
}

/// Our typed event in the shape Node's QueueEvents hands its listeners: `{event, id, ...fields}`
/// with `progress.data` and `completed.returnvalue` parsed, `delayed.delay` a number and every
/// other field a string (PROTOCOL.md §10.3). A raw (`Other`) event of a known type is a
/// decoding gap: panic; a custom event is kept raw on both sides.
fn as_node(e: &QueueEvent) -> Value {
    let mut m = Map::new();
    m.insert("event".into(), e.name().into());
    m.insert("id".into(), e.id().into());
    if let Some(job) = e.job_id() {
        m.insert("jobId".into(), job.into());
    }
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    let prev = |p: &Option<String>| p.clone().map(Value::from);
    match e {
        QueueEvent::Added { name, .. } => put("name", name.as_str().into()),
        QueueEvent::Waiting { prev: p, .. }
        | QueueEvent::Active { prev: p, .. }
        | QueueEvent::Removed { prev: p, .. }
        | QueueEvent::WaitingChildren { prev: p, .. } => {
            if let Some(p) = prev(p) {
                put("prev", p)
            }
        }
        QueueEvent::Progress { data, .. } => put("data", data.clone()),
        QueueEvent::Completed { returnvalue, prev: p, .. } => {
            put("returnvalue", returnvalue.clone());
            if let Some(p) = prev(p) {
                put("prev", p)
            }
        }
        QueueEvent::Failed { failed_reason, prev: p, .. } => {
            put("failedReason", failed_reason.as_str().into());
            if let Some(p) = prev(p) {
                put("prev", p)
            }
        }
        QueueEvent::Delayed { delay, .. } => put("delay", (*delay).into()),
        QueueEvent::Deduplicated { deduplication_id, deduplicated_job_id, .. } => {
            put("deduplicationId", deduplication_id.as_str().into());
            put("deduplicatedJobId", deduplicated_job_id.as_str().into());
        }
        QueueEvent::RetriesExhausted { attempts_made, .. } => put("attemptsMade", attempts_made.to_string().into()),
        QueueEvent::Cleaned { count, .. } => put("count", count.to_string().into()),
        QueueEvent::Debounced { debounce_id, .. } => put("debounceId", debounce_id.as_str().into()),
        QueueEvent::Other { event, fields, .. } => {
            assert!(!TYPES_6X.contains(&event.as_str()) && event != "debounced", "left undecoded by us: {e:?}");
            for (k, v) in fields {
                put(k, v.as_str().into());
            }
        }
        _ => {}
    }
    Value::Object(m)
}

/// Asserts that every entry decodes to the same thing on both sides (whole entries: name, job
/// id and every field); returns the event names seen.
fn compare(pkg: &str, ours: &[QueueEvent], theirs: &HashMap<String, Value>) -> BTreeSet<String> {
    assert_eq!(ours.len(), theirs.len(), "{pkg}: both sides read every entry");
    let mut names = BTreeSet::new();
    for e in ours {
        let n = theirs.get(e.id()).unwrap_or_else(|| panic!("{pkg}: Node did not emit {e:?}"));
        assert_eq!(&as_node(e), n, "{pkg}: ours (left, as Node would see it) vs Node's decoding");
        names.insert(e.name().to_owned());
    }
    names
}

fn tree_opts(concurrency: usize, metrics: u64) -> WorkerOptions {
    WorkerOptions::new(conn())
        .concurrency(concurrency)
        .drain_delay(Duration::from_millis(200))
        .lock_duration(Duration::from_millis(1000))
        .stalled_interval(Duration::from_millis(300))
        .metrics(MetricsOptions::new(metrics))
}

/// Waits for `n` completions from our worker tree (an `Error` event fails the test).
async fn completions(rx: &mut tokio::sync::mpsc::UnboundedReceiver<WorkerEvent>, n: usize) {
    let mut completed = 0;
    while completed < n {
        match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.expect("a completion in time").unwrap() {
            WorkerEvent::JobCompleted { .. } => completed += 1,
            WorkerEvent::Error { message } => panic!("{message}"),
            _ => {}
        }
    }
}

/// The progress events of the whole stream as ours decodes them: (job id, data), in order.
async fn our_progress(q: &Queue) -> Vec<(String, Value)> {
    ours(q, stream_len(q).await)
        .await
        .into_iter()
        .filter_map(|e| match e {
            QueueEvent::Progress { job_id, data, .. } => Some((job_id, data)),
            _ => None,
        })
        .collect()
}

/// The progress events a Node `events` reply holds: (job id, data), in order.
fn node_progress_of(reply: &Value) -> Vec<(String, Value)> {
    reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["jobId"].as_str().unwrap().to_owned(), e["data"].clone()))
        .collect()
}

#[tokio::test]
async fn node_queue_events_decode_what_we_write() {
    let q = queue("ei-ours").await;
    // Adds: plain, delayed, prioritized, duplicated custom id, deduplicated, debounced (replace).
    q.add("plain", json!({"n": 1}), JobOptions::default()).await.unwrap();
    q.add("later", json!({}), JobOptions::default().delay(Duration::from_millis(100))).await.unwrap();
    q.add("prio", json!({}), JobOptions::default().priority(2)).await.unwrap();
    q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    let dedup = JobOptions::default().deduplication(Deduplication::simple("d1"));
    q.add("dedup", json!({}), dedup.clone()).await.unwrap();
    q.add("dedup", json!({}), dedup).await.unwrap();
    let debounce = JobOptions::default()
        .delay(Duration::from_secs(60))
        .deduplication(Deduplication::debounce("db", Duration::from_secs(60)));
    q.add("debounce", json!({}), debounce.clone()).await.unwrap();
    let kept = q.add("debounce", json!({}), debounce).await.unwrap();
    q.promote_job(&kept.id).await.unwrap();
    let flaky = JobOptions::default().attempts(2).backoff(bullmq::Backoff::fixed(Duration::from_millis(50)));
    q.add("flaky", json!({}), flaky).await.unwrap();
    q.add("fatal", json!({}), JobOptions::default()).await.unwrap();
    let stall = q.add("stall", json!({}), JobOptions::default()).await.unwrap();
    let parent = q.add("parent", json!({}), JobOptions::default()).await.unwrap();

    // Our worker tree: progress (number and object), completions, a retry with backoff, an
    // unrecoverable failure, a stalled job (its lock deleted mid-run), a parent waiting for a
    // child.
    let qc = q.clone();
    let p = processor(move |mut job, ctx| {
        let q = qc.clone();
        async move {
            let err = |e: bullmq::Error| JobError::new(e.to_string());
            ctx.progress(&mut job, 42).await.map_err(err)?;
            ctx.progress(&mut job, json!({"step": "two", "of": 2})).await.map_err(err)?;
            match job.name.as_str() {
                "flaky" if job.attempts_made == 0 => Err(JobError::new("flaky once")),
                "fatal" => Err(JobError::unrecoverable("fatal for good")),
                "stall" if job.attempts_started == 1 => {
                    ctx.cancel.cancelled().await;
                    Ok(JobOutcome::Completed(json!("never stored")))
                }
                "parent" if job.attempts_started == 1 => {
                    let link = bullmq::ParentOptions::new(job.id.clone(), q.qualified_name());
                    q.add("child", json!({}), JobOptions::default().parent(link)).await.map_err(err)?;
                    Ok(JobOutcome::WaitingChildren)
                }
                _ => Ok(JobOutcome::Completed(json!({"by": "rust", "name": job.name}))),
            }
        }
    });
    let (w, mut rx) = Worker::spawn(q.name(), p, tree_opts(3, 60)).await.unwrap();
    let stall_id = stall.id.as_str();
    eventually("the stall job runs", Duration::from_secs(10), || async {
        w.active_jobs().contains(&stall_id.to_owned())
    })
    .await;
    cmd::<()>(&["DEL", &k(&q, &format!("{stall_id}:lock"))]).await;
    // plain, later, prio, custom, dedup, debounce, flaky (2nd run), stall (2nd run), child, parent.
    completions(&mut rx, 10).await;
    w.close(Duration::from_secs(2)).await;
    assert_eq!(q.get_job_state(&parent.id).await.unwrap(), JobState::Completed);
    // Admin: pause, resume, remove, clean.
    q.pause().await.unwrap();
    q.resume().await.unwrap();
    q.remove_job("1", false).await.unwrap();
    let cleaned = q.clean(Duration::ZERO, 10, JobState::Failed).await.unwrap();
    assert_eq!(cleaned.len(), 1);

    let n = stream_len(&q).await;
    let our_events = ours(&q, n).await;
    for pkg in NODE_PACKAGES {
        let names = compare(pkg, &our_events, &theirs(pkg, &q, n).await);
        for expected in TYPES_6X {
            assert!(names.contains(expected), "{pkg}: no {expected} event written: {names:?}");
        }
        println!("events ours->node {pkg}: entries={n} compared={n} types={} identical=true", names.len());
    }
}

#[tokio::test]
async fn our_queue_events_decode_what_node_writes() {
    for pkg in NODE_PACKAGES {
        let q = queue("ei-node").await;
        let r = node(pkg, q.name(), json!({"cmd": "scenario", "timeoutMs": 20000})).await;
        assert_eq!(r["finished"], 10, "{pkg}: Node's scenario ran to the end: {r}");
        let n = stream_len(&q).await;
        let our_events = ours(&q, n).await;
        let names = compare(pkg, &our_events, &theirs(pkg, &q, n).await);
        for expected in TYPES_6X {
            assert!(names.contains(expected), "{pkg}: Node wrote no {expected}: {names:?}");
        }
        if pkg == "bullmq5" {
            assert!(names.contains("debounced"), "5.x writes debounced before deduplicated: {names:?}");
        }
        let custom = our_events.iter().find(|e| e.name() == CUSTOM).expect("the custom event");
        assert!(matches!(custom, QueueEvent::Other { fields, .. } if fields["colour"] == "blue"), "{custom:?}");
        println!(
            "events node->ours {pkg}: entries={n} compared={n} names={} (incl. custom {CUSTOM}) identical=true",
            names.len()
        );
    }
}

/// Progress (a number, then an object) and log lines reported by our worker tree, read by Node:
/// its QueueEvents `progress` data, `job.progress` and `getJobLogs` (ascending, descending,
/// trimmed by keepLogs).
#[tokio::test]
async fn our_progress_and_logs_read_by_node() {
    for pkg in NODE_PACKAGES {
        let q = queue("ei-pl-ours").await;
        let a = q.add("a", json!({}), JobOptions::default()).await.unwrap();
        let b = q.add("b", json!({}), JobOptions::default().keep_logs(2)).await.unwrap();
        let p = processor(|mut job, ctx| async move {
            let err = |e: bullmq::Error| JobError::new(e.to_string());
            ctx.progress(&mut job, 7).await.map_err(err)?;
            let detail = json!({"pct": 99.5, "phase": job.name, "nested": [1, {"x": null}]});
            ctx.progress(&mut job, detail).await.map_err(err)?;
            for i in 1..=3 {
                ctx.log(&job, &format!("rust log {i} of {}: ünïcode, \"quotes\"", job.name)).await.map_err(err)?;
            }
            Ok(JobOutcome::Completed(json!(null)))
        });
        let (w, mut rx) = Worker::spawn(q.name(), p, tree_opts(1, 60)).await.unwrap();
        completions(&mut rx, 2).await;
        w.close(Duration::from_secs(1)).await;

        let ev = node(pkg, q.name(), json!({"cmd": "events", "names": ["progress"], "expect": 4})).await;
        let mine: Vec<(String, Value)> = our_progress(&q).await;
        let node_progress: Vec<(String, Value)> = node_progress_of(&ev);
        assert_eq!(mine.len(), 4);
        assert_eq!(node_progress, mine, "{pkg}: progress events");
        let last = json!({"pct": 99.5, "phase": "a", "nested": [1, {"x": null}]});
        assert_eq!(mine[1], (a.id.clone(), last.clone()));
        let read = node(pkg, q.name(), json!({"cmd": "read", "ids": [a.id, b.id]})).await;
        assert_eq!(read["jobs"][0]["progress"], last, "{pkg}: job.progress");
        assert_eq!(read["jobs"][0]["progress"], q.get_job(&a.id).await.unwrap().unwrap().progress);

        let lines = |name: &str, is: &[i32]| -> Vec<String> {
            is.iter().map(|i| format!("rust log {i} of {name}: ünïcode, \"quotes\"")).collect()
        };
        let l = node(pkg, q.name(), json!({"cmd": "logs", "id": a.id})).await;
        assert_eq!(l["logs"], json!(lines("a", &[1, 2, 3])), "{pkg}");
        assert_eq!(l["count"], 3);
        let l = node(pkg, q.name(), json!({"cmd": "logs", "id": a.id, "start": 0, "end": 1, "asc": false})).await;
        assert_eq!(l["logs"], json!(lines("a", &[3, 2])), "{pkg}: newest first");
        let l = node(pkg, q.name(), json!({"cmd": "logs", "id": b.id})).await;
        assert_eq!(l["logs"], json!(lines("b", &[2, 3])), "{pkg}: keepLogs 2");
        assert_eq!(l["count"], 2);
        println!("progress+logs ours->node {pkg}: progress_events=4 log_lines=5 identical=true");
    }
}

/// Node's worker reports progress and logs (driver `scenario`); we read them as Node does.
#[tokio::test]
async fn node_progress_and_logs_read_by_us() {
    for pkg in NODE_PACKAGES {
        let q = queue("ei-pl-node").await;
        let r = node(pkg, q.name(), json!({"cmd": "scenario", "timeoutMs": 20000})).await;
        assert_eq!(r["finished"], 10, "{pkg}: {r}");
        let ids = &r["ids"];
        let node_ev =
            node(pkg, q.name(), json!({"cmd": "events", "names": ["progress"], "expect": 1000, "timeoutMs": 3000}))
                .await;
        let node_progress: Vec<(String, Value)> = node_progress_of(&node_ev);
        let mine: Vec<(String, Value)> = our_progress(&q).await;
        assert_eq!(mine, node_progress, "{pkg}: progress events");
        // Two per attempt: 12 attempts (10 jobs; flaky and stall run twice).
        assert_eq!(mine.len(), 24, "{pkg}");
        let flaky = ids["flaky"].as_str().unwrap();
        let of_flaky: Vec<&Value> = mine.iter().filter(|(j, _)| j == flaky).map(|(_, d)| d).collect();
        assert_eq!(
            of_flaky,
            [&json!(50), &json!({"step": "two", "of": 2}), &json!(50), &json!({"step": "two", "of": 2})]
        );
        let job = q.get_job(flaky).await.unwrap().unwrap();
        assert_eq!(job.progress, json!({"step": "two", "of": 2}), "{pkg}: stored progress");

        // Node's log lines: our Queue getter (by id, and by the job read back), both orders, vs getJobLogs.
        let (logs, count) = q.get_job_logs(flaky, 0, -1, true).await.unwrap();
        assert_eq!(logs, vec!["node log for flaky".to_owned(); 2], "{pkg}: one line per attempt");
        assert_eq!(count, 2);
        assert_eq!(q.get_job_logs(&job.id, 0, -1, true).await.unwrap(), (logs.clone(), 2));
        for (id, asc) in [(flaky, true), (flaky, false), (ids["prio"].as_str().unwrap(), false)] {
            let l = node(pkg, q.name(), json!({"cmd": "logs", "id": id, "asc": asc})).await;
            let (mine, count) = q.get_job_logs(id, 0, -1, asc).await.unwrap();
            assert_eq!(l["logs"], json!(mine), "{pkg} {id} asc={asc}");
            assert_eq!(l["count"], count);
        }
        println!("progress+logs node->ours {pkg}: progress_events={} log_reads=4 identical=true", mine.len());
    }
}

/// Sets a queue's metrics hashes as if an earlier minute had counted jobs: the first finish then
/// pushes `count - prevCount` and zeros up to `maxDataPoints` (prevTS is long ago).
async fn seed_metrics(q: &Queue) {
    for t in ["completed", "failed"] {
        cmd::<()>(&["HSET", &k(q, &format!("metrics:{t}")), "count", "7", "prevCount", "2", "prevTS", "1"]).await;
    }
}

/// Metrics written by our worker and by Node's are identical (same seed, same jobs), and both
/// readers return the same for several ranges.
#[tokio::test]
async fn metrics_written_and_read_the_same() {
    const POINTS: u64 = 2500; // over our 1000-zero LPUSH chunks
                              // A minute boundary inside a run would add a data point on one side only.
    eventually("not near a minute boundary", Duration::from_secs(30), || async { bullmq_now() % 60_000 < 40_000 })
        .await;
    let jobs = [("ok", 3), ("bad", 2)];
    let add = |q: Queue| async move {
        for (name, n) in jobs {
            for _ in 0..n {
                q.add(name, json!({}), JobOptions::default()).await.unwrap();
            }
        }
    };
    // Ours.
    let mine = queue("ei-metrics-ours").await;
    seed_metrics(&mine).await;
    add(mine.clone()).await;
    let p = processor(|job, _ctx| async move {
        match job.name.as_str() {
            "ok" => Ok(JobOutcome::Completed(json!(1))),
            _ => Err(JobError::new("bad")),
        }
    });
    let (w, _rx) = Worker::spawn(mine.name(), p, tree_opts(2, POINTS)).await.unwrap();
    eventually("ours finished", Duration::from_secs(10), || async {
        mine.get_completed_count().await.unwrap() == 3 && mine.get_failed_count().await.unwrap() == 2
    })
    .await;
    w.close(Duration::from_secs(1)).await;

    let mut compared = 0;
    for pkg in NODE_PACKAGES {
        let theirs = queue("ei-metrics-node").await;
        seed_metrics(&theirs).await;
        add(theirs.clone()).await;
        let r = node(
            pkg,
            theirs.name(),
            json!({"cmd": "work", "expect": 5, "failOnly": ["bad"], "failTimes": 1, "concurrency": 2, "metrics": POINTS}),
        )
        .await;
        assert_eq!(r["finished"].as_array().unwrap().len(), 5, "{pkg}");
        for (kind, t, finished) in [(MetricsType::Completed, "completed", 3), (MetricsType::Failed, "failed", 2)] {
            let a = mine.get_metrics(kind, 0, -1).await.unwrap();
            let b = theirs.get_metrics(kind, 0, -1).await.unwrap();
            // Written the same: everything but the time of the first finish.
            assert_eq!(a.meta.count, 7 + finished, "{t}");
            assert_eq!(
                (a.meta.count, a.meta.prev_count, &a.data, a.count),
                (b.meta.count, b.meta.prev_count, &b.data, b.count),
                "{pkg} {t}: ours vs Node's writer"
            );
            assert_eq!(a.meta.prev_count, 7);
            assert_eq!(a.count, POINTS);
            assert_eq!(a.data[POINTS as usize - 1], 5, "the oldest point is the seeded minute's delta");
            assert!(a.data[..POINTS as usize - 1].iter().all(|&d| d == 0));
            // Read the same, for both queues and several ranges.
            for q in [&mine, &theirs] {
                for (start, end) in [(0, -1), (0, 0), (1, 3), (-3, -1), (2498, 3000), (5, 2)] {
                    let m = node(pkg, q.name(), json!({"cmd": "metrics", "type": t, "start": start, "end": end})).await;
                    let ours = q.get_metrics(kind, start, end).await.unwrap();
                    let node_meta = &m["metrics"]["meta"];
                    assert_eq!(node_meta["count"], ours.meta.count, "{pkg} {t} {start}..{end}");
                    assert_eq!(node_meta["prevTS"], ours.meta.prev_ts);
                    assert_eq!(node_meta["prevCount"], ours.meta.prev_count);
                    assert_eq!(m["metrics"]["count"], ours.count);
                    assert_eq!(m["metrics"]["data"], json!(ours.data), "{pkg} {t} {start}..{end}");
                    compared += 1;
                }
            }
        }
    }
    println!("metrics: writers=ours,bullmq,bullmq5 identical=true data_points={POINTS} reads_compared={compared}");
}

fn bullmq_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// `MAXLEN ~`/`XTRIM ~` remove whole stream nodes (100 entries at most by default), and the
/// finishing scripts trim before adding their own few events: the stream stays below
/// cap + 100 + those few.
const SLACK: u64 = 110;

#[tokio::test]
async fn the_events_cap_is_honoured_by_both_writers() {
    let cap = 200u64;
    let q = Queue::new(&qname("ei-cap"), QueueOptions::new(conn()).max_len_events(cap)).await.unwrap();
    // Stored where and as Node stores it, and read back by Node.
    let meta: String = cmd(&["HGET", &k(&q, "meta"), "opts.maxLenEvents"]).await;
    assert_eq!(meta, cap.to_string());
    for pkg in NODE_PACKAGES {
        let m = node(pkg, q.name(), json!({"cmd": "meta"})).await;
        assert_eq!(m["meta"]["maxLenEvents"], cap, "{pkg} reads our cap");
        let other = qname("ei-cap-node");
        let m = node(pkg, &other, json!({"cmd": "meta", "maxLenEvents": cap})).await;
        assert_eq!(m["raw"]["opts.maxLenEvents"], meta, "{pkg} writes the same field");
    }

    // Our adds (1000 jobs: 2 events each).
    for i in 0..1000 {
        q.add("r", json!({"i": i}), JobOptions::default().remove_on_complete(KeepJobs::Bool(true))).await.unwrap();
    }
    let ours_add = stream_len(&q).await as u64;
    assert!(ours_add <= cap + SLACK, "our adds keep the stream near the cap: {ours_add}");
    // Node's adds on the same queue, reading the cap from meta (its Queue does not rewrite it).
    let opts = json!({"removeOnComplete": true});
    let r =
        node("bullmq", q.name(), json!({"cmd": "addMany", "add": 600, "skipMetasUpdate": true, "opts": opts})).await;
    assert_eq!(r["added"], 600);
    let node_add = stream_len(&q).await as u64;
    assert!(node_add <= cap + SLACK, "Node's adds keep the stream near the cap: {node_add}");
    let meta_after: String = cmd(&["HGET", &k(&q, "meta"), "opts.maxLenEvents"]).await;
    assert_eq!(meta_after, meta);

    // Our worker finishes 1000 of them (active, completed, drained: our finishing scripts trim).
    let p = processor(|_job, _ctx| async move { Ok(JobOutcome::Completed(json!(1))) });
    let (w, _rx) = Worker::spawn(q.name(), p, tree_opts(8, 60).concurrency(8)).await.unwrap();
    let max_seen = std::sync::atomic::AtomicU64::new(0);
    eventually("ours finished 1000", Duration::from_secs(60), || {
        let (q, max_seen) = (q.clone(), &max_seen);
        async move {
            max_seen.fetch_max(stream_len(&q).await as u64, std::sync::atomic::Ordering::Relaxed);
            q.get_waiting_count().await.unwrap() <= 600
        }
    })
    .await;
    let max_seen = max_seen.into_inner();
    w.close(Duration::from_secs(2)).await;
    let ours_work = stream_len(&q).await as u64;
    assert!(max_seen <= cap + SLACK && ours_work <= cap + SLACK, "our worker: max={max_seen} end={ours_work}");
    // Node's worker finishes the rest (its moveToFinished trims to the same meta cap).
    let left = q.get_waiting_count().await.unwrap();
    let r =
        node("bullmq", q.name(), json!({"cmd": "work", "expect": left, "concurrency": 8, "timeoutMs": 30000})).await;
    assert_eq!(r["finished"].as_array().unwrap().len() as u64, left);
    let node_work = stream_len(&q).await as u64;
    assert!(node_work <= cap + SLACK, "Node's worker keeps the stream near the cap: {node_work}");
    println!(
        "events-cap: cap={cap} after_our_adds={ours_add} after_node_adds={node_add} our_worker_max={max_seen} \
         after_our_worker={ours_work} after_node_worker={node_work}"
    );
}

/// `Queue::trim_events` removes what Node's `trimEvents` removes from an identical stream.
#[tokio::test]
async fn trim_events_trims_like_node() {
    for pkg in NODE_PACKAGES {
        let (a, b) = (queue("ei-trim-ours").await, queue("ei-trim-node").await);
        for q in [&a, &b] {
            for i in 0..500 {
                let i = i.to_string();
                cmd::<String>(&["XADD", &k(q, "events"), "*", "event", "waiting", "jobId", &i]).await;
            }
        }
        let mine = a.trim_events(150).await.unwrap();
        let r = node(pkg, b.name(), json!({"cmd": "trimEvents", "maxLen": 150})).await;
        let (la, lb) = (stream_len(&a).await, stream_len(&b).await);
        assert_eq!(r["removed"], mine, "{pkg}");
        assert_eq!(la, lb);
        assert!(mine > 0 && (150..250).contains(&la), "removed={mine} left={la}");
        assert_eq!(a.trim_events(150).await.unwrap(), 0, "nothing more to trim");
        println!("trim_events {pkg}: 500 -> {la} (removed {mine}, Node removed {})", r["removed"]);
    }
}
