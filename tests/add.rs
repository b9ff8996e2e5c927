//! Wire-level tests of adding jobs: the Redis state each kind of add leaves (PROTOCOL.md §12.1).

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bullmq::{Backoff, BulkJob, Deduplication, JobOptions, KeepJobs, ParentFailurePolicy};
use common::*;
use serde_json::json;

#[tokio::test]
async fn standard_add_writes_hash_wait_marker_and_events() {
    let q = queue("add-std").await;
    let opts = JobOptions::default()
        .attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(1000)).with_jitter(0.5))
        .remove_on_complete(KeepJobs::Options { age: Some(Duration::from_secs(3600)), count: Some(10), limit: None })
        .remove_on_fail(KeepJobs::Count(5));
    let job = q.add("std", json!({"a": 1}), opts).await.unwrap();
    assert_eq!(job.id, "1");
    let h: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "1")]).await;
    assert_eq!(h["name"], "std");
    assert_eq!(h["data"], r#"{"a":1}"#);
    assert_eq!(h["delay"], "0");
    assert_eq!(h["priority"], "0");
    assert!(h["timestamp"].parse::<u64>().unwrap() > 1_600_000_000_000);
    let opts: serde_json::Value = serde_json::from_str(&h["opts"]).unwrap();
    assert_eq!(opts["attempts"], 3);
    assert_eq!(opts["backoff"], json!({"type":"exponential","delay":1000,"jitter":0.5}));
    assert_eq!(opts["removeOnComplete"], json!({"age":3600,"count":10}));
    assert_eq!(opts["removeOnFail"], 5);
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["1"]);
    let marker: Vec<String> = cmd(&["ZRANGE", &k(&q, "marker"), "0", "-1", "WITHSCORES"]).await;
    assert_eq!(marker, vec!["0", "0"]);
    let ev = events(&q).await;
    assert_eq!(ev[0].0, "added");
    assert_eq!(ev[0].1["jobId"], "1");
    assert_eq!(ev[0].1["name"], "std");
    assert_eq!(ev[1].0, "waiting");
    let meta: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "meta")]).await;
    assert_eq!(meta["opts.maxLenEvents"], "10000");
    let read = q.get_job("1").await.unwrap().unwrap();
    assert_eq!(read.data, json!({"a": 1}));
    assert_eq!(read.opts.attempts, Some(3));
}

#[tokio::test]
async fn fifo_lifo_priority_and_delay_positions() {
    let q = queue("add-order").await;
    q.add("a", json!({}), JobOptions::default()).await.unwrap();
    q.add("b", json!({}), JobOptions::default()).await.unwrap();
    q.add("c", json!({}), JobOptions::default().lifo(true)).await.unwrap();
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    // LPUSH for FIFO (newest at the head), RPUSH for LIFO (served next from the tail).
    assert_eq!(wait, vec!["2", "1", "3"]);

    q.add("p", json!({}), JobOptions::default().priority(5)).await.unwrap();
    let score: f64 = cmd(&["ZSCORE", &k(&q, "prioritized"), "4"]).await;
    assert_eq!(score as u64, 5 * (1u64 << 32) + 1);

    let before = bullmq_now();
    let d = q.add("d", json!({}), JobOptions::default().delay(Duration::from_millis(60_000))).await.unwrap();
    let score: f64 = cmd(&["ZSCORE", &k(&q, "delayed"), &d.id]).await;
    let due = score as u64 / 4096;
    assert!(due >= before + 60_000 && due <= bullmq_now() + 60_000);
    let marker: f64 = cmd(&["ZSCORE", &k(&q, "marker"), "1"]).await;
    assert_eq!(marker as u64, due);
    let ev = events(&q).await;
    let delayed = ev.iter().find(|e| e.0 == "delayed").unwrap();
    assert_eq!(delayed.1["delay"].parse::<u64>().unwrap(), due);
}

fn bullmq_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The instant `ms` milliseconds after the epoch.
fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[tokio::test]
async fn same_ms_delays_keep_fifo_sequence() {
    let q = queue("add-seq").await;
    let ts = bullmq_now();
    let jobs: Vec<BulkJob> = (0..3)
        .map(|i| {
            BulkJob::new(
                "d",
                json!({"i": i}),
                JobOptions::default().timestamp(at(ts)).delay(Duration::from_millis(5000)),
            )
            .unwrap()
        })
        .collect();
    q.add_bulk(jobs).await.unwrap();
    let z: Vec<String> = cmd(&["ZRANGE", &k(&q, "delayed"), "0", "-1", "WITHSCORES"]).await;
    let base = (ts + 5000) * 4096;
    assert_eq!(
        z,
        vec!["1".to_string(), base.to_string(), "2".into(), (base + 1).to_string(), "3".into(), (base + 2).to_string()]
    );
}

#[tokio::test]
async fn custom_id_duplicate_returns_existing_and_emits_duplicated() {
    let q = queue("add-dup").await;
    let a = q.add("x", json!({"v": 1}), JobOptions::default().job_id("my-id")).await.unwrap();
    let b = q.add("x", json!({"v": 2}), JobOptions::default().job_id("my-id")).await.unwrap();
    assert_eq!(a.id, "my-id");
    assert_eq!(b.id, "my-id");
    let data: String = cmd(&["HGET", &k(&q, "my-id"), "data"]).await;
    assert_eq!(data, r#"{"v":1}"#);
    let counter: String = cmd(&["GET", &k(&q, "id")]).await;
    assert_eq!(counter, "2", "the counter is consumed by every add");
    assert!(events(&q).await.iter().any(|e| e.0 == "duplicated" && e.1["jobId"] == "my-id"));
}

#[tokio::test]
async fn invalid_options_write_nothing() {
    let q = queue("add-bad").await;
    for opts in [
        JobOptions::default().job_id("123"),
        JobOptions::default().job_id("a:b"),
        JobOptions::default().priority(3_000_000),
        JobOptions::default().backoff(Backoff::fixed(Duration::from_millis(10)).with_jitter(2.0)),
        JobOptions::default().deduplication(Deduplication::simple("")),
        JobOptions::default().size_limit(3),
    ] {
        let err = q.add("x", json!({"abc": 1}), opts).await.unwrap_err();
        assert!(matches!(err, bullmq::Error::InvalidOption { .. }), "{err}");
    }
    // A bulk with one invalid job adds nothing.
    let bulk = vec![
        BulkJob::new("ok", json!({}), JobOptions::default()).unwrap(),
        BulkJob::new("bad", json!({}), JobOptions::default().priority(9_000_000)).unwrap(),
    ];
    assert!(q.add_bulk(bulk).await.is_err());
    let exists: i64 = cmd(&["EXISTS", &k(&q, "id"), &k(&q, "wait"), &k(&q, "1")]).await;
    assert_eq!(exists, 0);
}

/// The four parent failure flags are one policy: a child stores exactly the flag its policy
/// names, in its options and in its `parent` JSON, and reads back the same policy.
#[tokio::test]
async fn parent_failure_policy_stores_exactly_one_flag() {
    let q = queue("add-policy").await;
    let parent = waiting_parent(&q, "P").await;
    let flags = ["fpof", "cpof", "idof", "rdof"];
    for (policy, flag) in [
        (ParentFailurePolicy::FailParent, "fpof"),
        (ParentFailurePolicy::ContinueParent, "cpof"),
        (ParentFailurePolicy::IgnoreDependency, "idof"),
        (ParentFailurePolicy::RemoveDependency, "rdof"),
    ] {
        let opts = JobOptions::default().parent(parent.clone()).parent_failure(policy);
        let child = q.add("child", json!({}), opts).await.unwrap();
        let stored: serde_json::Value =
            serde_json::from_str(&cmd::<String>(&["HGET", &k(&q, &child.id), "opts"]).await).unwrap();
        let set: Vec<&str> = flags.into_iter().filter(|f| stored.get(*f).is_some()).collect();
        assert_eq!(set, vec![flag], "opts {stored}");
        assert_eq!(stored[flag], true);
        let pj: serde_json::Value =
            serde_json::from_str(&cmd::<String>(&["HGET", &k(&q, &child.id), "parent"]).await).unwrap();
        let set: Vec<&str> = flags.into_iter().filter(|f| pj.get(*f).and_then(|v| v.as_bool()) == Some(true)).collect();
        assert_eq!(set, vec![flag], "parent {pj}");
        let read = q.get_job(&child.id).await.unwrap().unwrap();
        assert_eq!(read.opts.parent_failure, Some(policy));
        assert_eq!(read.parent.as_ref().unwrap().failure_policy, Some(policy));
    }
}

#[tokio::test]
async fn bulk_with_missing_parent_adds_nothing() {
    let q = queue("add-parent").await;
    let parent = bullmq::ParentOptions::new("nope", q.qualified_name());
    let bulk = vec![
        BulkJob::new("ok", json!({}), JobOptions::default()).unwrap(),
        BulkJob::new("child", json!({}), JobOptions::default().parent(parent)).unwrap(),
    ];
    let err = q.add_bulk(bulk).await.unwrap_err();
    assert_eq!(err.script_code(), Some(bullmq::ScriptErrorCode::ParentJobNotExist));
    let exists: i64 = cmd(&["EXISTS", &k(&q, "wait"), &k(&q, "1")]).await;
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn dedup_simple_and_throttle() {
    let q = queue("add-dedup").await;
    let a = q.add("x", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    let b = q.add("x", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    assert_eq!(a.id, b.id);
    let owner: String = cmd(&["GET", &k(&q, "de:s")]).await;
    assert_eq!(owner, a.id);
    let ttl: i64 = cmd(&["PTTL", &k(&q, "de:s")]).await;
    assert_eq!(ttl, -1);
    let deid: String = cmd(&["HGET", &k(&q, &a.id), "deid"]).await;
    assert_eq!(deid, "s");
    let ev = events(&q).await;
    let d = ev.iter().find(|e| e.0 == "deduplicated").unwrap();
    assert_eq!(d.1["jobId"], a.id);
    assert_eq!(d.1["deduplicationId"], "s");
    assert_eq!(d.1["deduplicatedJobId"], "2");

    let t = q
        .add(
            "x",
            json!({}),
            JobOptions::default().deduplication(Deduplication::throttle("t", Duration::from_millis(5000))),
        )
        .await
        .unwrap();
    let t2 = q
        .add(
            "x",
            json!({}),
            JobOptions::default().deduplication(Deduplication::throttle("t", Duration::from_millis(5000))),
        )
        .await
        .unwrap();
    assert_eq!(t.id, t2.id);
    let ttl: i64 = cmd(&["PTTL", &k(&q, "de:t")]).await;
    assert!(ttl > 0 && ttl <= 5000);
}

#[tokio::test]
async fn dedup_debounce_replaces_delayed_owner() {
    let q = queue("add-debounce").await;
    let de = Deduplication::debounce("d", Duration::from_millis(10_000));
    let a = q
        .add("x", json!({"v": 1}), JobOptions::default().delay(Duration::from_millis(5000)).deduplication(de.clone()))
        .await
        .unwrap();
    let b = q
        .add("x", json!({"v": 2}), JobOptions::default().delay(Duration::from_millis(5000)).deduplication(de))
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    let exists: i64 = cmd(&["EXISTS", &k(&q, &a.id)]).await;
    assert_eq!(exists, 0, "the delayed owner is replaced");
    let owner: String = cmd(&["GET", &k(&q, "de:d")]).await;
    assert_eq!(owner, b.id);
    let delayed: Vec<String> = cmd(&["ZRANGE", &k(&q, "delayed"), "0", "-1"]).await;
    assert_eq!(delayed, vec![b.id.clone()]);
    let ev = events(&q).await;
    assert!(ev.iter().any(|e| e.0 == "removed" && e.1["jobId"] == a.id && e.1["prev"] == "delayed"));
    let d = ev.iter().find(|e| e.0 == "deduplicated").unwrap();
    assert_eq!(d.1["jobId"], b.id, "replace mode: jobId is the new job");
    assert_eq!(d.1["deduplicatedJobId"], a.id);
}

#[tokio::test]
async fn dedup_extend_restarts_the_window() {
    let q = queue("add-extend").await;
    let de = Deduplication::throttle("e", Duration::from_millis(60_000)).extend(true);
    let a = q.add("x", json!({}), JobOptions::default().deduplication(de.clone())).await.unwrap();
    cmd::<()>(&["PEXPIRE", &k(&q, "de:e"), "1000"]).await;
    let b = q.add("x", json!({}), JobOptions::default().deduplication(de)).await.unwrap();
    assert_eq!(a.id, b.id);
    let ttl: i64 = cmd(&["PTTL", &k(&q, "de:e")]).await;
    assert!(ttl > 50_000, "extend re-arms the full ttl, got {ttl}");
}

#[tokio::test]
async fn dedup_keep_last_if_active_stores_next_payload() {
    let q = queue("add-kla").await;
    let de = Deduplication::simple("kla").keep_last_if_active(true);
    let owner = q.add("k", json!({"v": 1}), JobOptions::default().deduplication(de.clone())).await.unwrap();
    // Not active yet: a plain dedup hit, nothing stored.
    q.add("k", json!({"v": 2}), JobOptions::default().deduplication(de.clone())).await.unwrap();
    let exists: i64 = cmd(&["EXISTS", &k(&q, "dn:kla")]).await;
    assert_eq!(exists, 0);
    // Make the owner active, as a worker's fetch would.
    cmd::<()>(&["LREM", &k(&q, "wait"), "0", &owner.id]).await;
    cmd::<()>(&["LPUSH", &k(&q, "active"), &owner.id]).await;
    let r = q.add("k", json!({"v": 3}), JobOptions::default().deduplication(de)).await.unwrap();
    assert_eq!(r.id, owner.id);
    let dn: HashMap<String, String> = cmd(&["HGETALL", &k(&q, "dn:kla")]).await;
    assert_eq!(dn["name"], "k");
    assert_eq!(dn["data"], r#"{"v":3}"#);
    assert_eq!(dn["jid"], "3");
    let opts: serde_json::Value = serde_json::from_str(&dn["opts"]).unwrap();
    assert_eq!(opts["de"]["keepLastIfActive"], true);
    let ttl: i64 = cmd(&["PTTL", &k(&q, "de:kla")]).await;
    assert_eq!(ttl, -1);
    let hits = events(&q).await.into_iter().filter(|e| e.0 == "deduplicated").count();
    assert_eq!(hits, 2);
}

#[tokio::test]
async fn dedup_reschedule_moves_delayed_owner() {
    let q = queue("add-resched").await;
    let de = Deduplication::simple("r").reschedule(true);
    let ts = bullmq_now();
    let a = q
        .add(
            "x",
            json!({}),
            JobOptions::default().timestamp(at(ts)).delay(Duration::from_millis(60_000)).deduplication(de.clone()),
        )
        .await
        .unwrap();
    let b = q
        .add(
            "x",
            json!({}),
            JobOptions::default().timestamp(at(ts + 10)).delay(Duration::from_millis(5_000)).deduplication(de),
        )
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    let score: f64 = cmd(&["ZSCORE", &k(&q, "delayed"), &a.id]).await;
    assert_eq!(score as u64 / 4096, ts + 10 + 5_000);
    let delay: String = cmd(&["HGET", &k(&q, &a.id), "delay"]).await;
    assert_eq!(delay, "5000");
}

#[tokio::test]
async fn stale_dedup_key_is_recovered() {
    let q = queue("add-stale").await;
    cmd::<()>(&["SET", &k(&q, "de:s"), "gone"]).await;
    let a = q.add("x", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    assert_eq!(a.id, "1");
    let owner: String = cmd(&["GET", &k(&q, "de:s")]).await;
    assert_eq!(owner, "1");
}

#[tokio::test]
async fn paused_queue_gets_no_marker_and_default_options_merge() {
    let name = qname("add-defaults");
    let q = bullmq::Queue::new(
        &name,
        bullmq::QueueOptions::new(conn())
            .default_job_options(JobOptions::default().attempts(4).remove_on_complete(KeepJobs::Bool(true))),
    )
    .await
    .unwrap();
    cmd::<()>(&["HSET", &k(&q, "meta"), "paused", "1"]).await;
    q.add("x", json!(null), JobOptions::default().attempts(2)).await.unwrap();
    let exists: i64 = cmd(&["EXISTS", &k(&q, "marker")]).await;
    assert_eq!(exists, 0, "no wake-up while paused");
    let wait: Vec<String> = cmd(&["LRANGE", &k(&q, "wait"), "0", "-1"]).await;
    assert_eq!(wait, vec!["1"], "6.x keeps paused jobs in wait");
    let opts: String = cmd(&["HGET", &k(&q, "1"), "opts"]).await;
    let opts: serde_json::Value = serde_json::from_str(&opts).unwrap();
    assert_eq!(opts["attempts"], 2);
    assert_eq!(opts["removeOnComplete"], true);
    let data: String = cmd(&["HGET", &k(&q, "1"), "data"]).await;
    assert_eq!(data, "{}", "no payload is stored as an empty object, as Node does");
}

#[tokio::test]
async fn corrupt_job_hash_is_a_typed_error() {
    let q = queue("add-corrupt").await;
    cmd::<()>(&["HSET", &k(&q, "bad"), "name", "x", "data", "{not json", "opts", "{}", "timestamp", "1"]).await;
    match q.get_job("bad").await {
        Err(bullmq::Error::CorruptJob { job_id, field, .. }) => {
            assert_eq!(job_id, "bad");
            assert_eq!(field, "data");
        }
        other => panic!("expected CorruptJob, got {other:?}"),
    }
    cmd::<()>(&["HSET", &k(&q, "bad2"), "name", "x", "data", "{}", "opts", "[1,2]"]).await;
    assert!(matches!(q.get_job("bad2").await, Err(bullmq::Error::CorruptJob { field: "opts", .. })));
    assert!(q.get_job("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn concurrent_adds_are_coalesced_but_independent() {
    let q = queue("add-coalesce").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            let opts = if i == 100 {
                JobOptions::default().parent(bullmq::ParentOptions::new("ghost", q.qualified_name()))
            } else {
                JobOptions::default()
            };
            q.add("c", json!({"i": i}), opts).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(job) => assert!(ids.insert(job.id)),
            Err(e) => {
                assert_eq!(e.script_code(), Some(bullmq::ScriptErrorCode::ParentJobNotExist));
                refused += 1;
            }
        }
    }
    assert_eq!((ids.len(), refused), (199, 1), "only the add with a missing parent is refused");
    let wait: i64 = cmd(&["LLEN", &k(&q, "wait")]).await;
    assert_eq!(wait, 199);
    let counter: String = cmd(&["GET", &k(&q, "id")]).await;
    assert_eq!(counter, "200", "every add attempt consumes the counter");
    let added = events(&q).await.into_iter().filter(|e| e.0 == "added").count();
    assert_eq!(added, 199);
}
