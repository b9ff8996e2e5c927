//! Every event type of PROTOCOL.md §10.1 decoded by `QueueEvents`: produced by a real add where
//! our code has the operation, written by hand with XADD (fields exactly as §10.1 lists them)
//! where the producing operation is built elsewhere.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bullmq::events::Subscription;
use bullmq::{Deduplication, JobOptions, Queue, QueueEvent, QueueEvents, QueueEventsOptions};
use common::*;
use serde_json::json;

async fn watch(q: &Queue) -> QueueEvents {
    QueueEvents::new(q.name(), QueueEventsOptions::new(conn()).blocking_timeout(Duration::from_millis(500)))
        .await
        .unwrap()
}

async fn take(sub: &mut Subscription, n: usize) -> Vec<QueueEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(e)) => out.push(e),
            Ok(None) => panic!("subscription ended after {out:?}"),
            Err(_) => panic!("only {} of {n} events: {out:?}", out.len()),
        }
    }
    out
}

/// The stream's entry ids, oldest first.
async fn stream_ids(q: &Queue) -> Vec<String> {
    let r: redis::streams::StreamRangeReply = {
        let mut c = raw().await;
        redis::cmd("XRANGE").arg(k(q, "events")).arg("-").arg("+").query_async(&mut c).await.unwrap()
    };
    r.ids.into_iter().map(|e| e.id).collect()
}

async fn xadd(q: &Queue, fields: &[&str]) -> String {
    let key = k(q, "events");
    let mut args = vec!["XADD", key.as_str(), "*"];
    args.extend_from_slice(fields);
    cmd(&args).await
}

#[tokio::test]
async fn events_of_real_adds() {
    let q = queue("ev-adds").await;
    let qe = watch(&q).await;
    let mut sub = qe.subscribe();

    let a = q.add("plain", json!({}), JobOptions::default()).await.unwrap();
    let d = q.add("later", json!({}), JobOptions::default().delay(Duration::from_secs(60))).await.unwrap();
    let c = q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    q.add("custom", json!({}), JobOptions::default().job_id("cid")).await.unwrap();
    let owner = q.add("s", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    q.add("s", json!({}), JobOptions::default().deduplication(Deduplication::simple("s"))).await.unwrap();
    let de = Deduplication::debounce("db", Duration::from_secs(60));
    let old = q
        .add("db", json!({}), JobOptions::default().delay(Duration::from_secs(5)).deduplication(de.clone()))
        .await
        .unwrap();
    let new =
        q.add("db", json!({}), JobOptions::default().delay(Duration::from_secs(5)).deduplication(de)).await.unwrap();

    let ids = {
        let q = q.clone();
        let mut ids = Vec::new();
        eventually("all events written", Duration::from_secs(5), || {
            let q = q.clone();
            async move { stream_ids(&q).await.len() >= 16 }
        })
        .await;
        ids.extend(stream_ids(&q).await);
        ids
    };
    let got = take(&mut sub, ids.len()).await;
    let id = |i: usize| ids[i].clone();
    let due = d.timestamp + 60_000;
    let (old_due, new_due) = (old.timestamp + 5000, new.timestamp + 5000);
    let expected = vec![
        QueueEvent::Added { id: id(0), job_id: a.id.clone(), name: "plain".into() },
        QueueEvent::Waiting { id: id(1), job_id: a.id.clone(), prev: None },
        QueueEvent::Added { id: id(2), job_id: d.id.clone(), name: "later".into() },
        QueueEvent::Delayed { id: id(3), job_id: d.id.clone(), delay: due },
        QueueEvent::Added { id: id(4), job_id: c.id.clone(), name: "custom".into() },
        QueueEvent::Waiting { id: id(5), job_id: c.id.clone(), prev: None },
        QueueEvent::Duplicated { id: id(6), job_id: "cid".into() },
        QueueEvent::Added { id: id(7), job_id: owner.id.clone(), name: "s".into() },
        QueueEvent::Waiting { id: id(8), job_id: owner.id.clone(), prev: None },
        QueueEvent::Deduplicated {
            id: id(9),
            job_id: owner.id.clone(),
            deduplication_id: "s".into(),
            // The counter was incremented for the rejected add (PROTOCOL.md §16.1).
            deduplicated_job_id: (owner.id.parse::<u64>().unwrap() + 1).to_string(),
        },
        QueueEvent::Added { id: id(10), job_id: old.id.clone(), name: "db".into() },
        QueueEvent::Delayed { id: id(11), job_id: old.id.clone(), delay: old_due },
        QueueEvent::Removed { id: id(12), job_id: old.id.clone(), prev: Some("delayed".into()) },
        QueueEvent::Deduplicated {
            id: id(13),
            job_id: new.id.clone(),
            deduplication_id: "db".into(),
            deduplicated_job_id: old.id.clone(),
        },
        QueueEvent::Added { id: id(14), job_id: new.id.clone(), name: "db".into() },
        QueueEvent::Delayed { id: id(15), job_id: new.id.clone(), delay: new_due },
    ];
    assert_eq!(got, expected);
    assert_eq!(qe.last_event_id(), Some(id(15)));
    qe.close().await;
}

#[tokio::test]
async fn hand_written_events_of_every_other_type() {
    let q = queue("ev-hand").await;
    let qe = watch(&q).await;
    let mut sub = qe.subscribe();
    let mut ids = Vec::new();
    for fields in [
        &["event", "active", "jobId", "1", "prev", "waiting"][..],
        &["event", "progress", "jobId", "1", "data", r#"{"pct":50,"msg":"half"}"#],
        &["event", "progress", "jobId", "1", "data", "75"],
        &["event", "completed", "jobId", "1", "returnvalue", r#"{"ok":[1,2]}"#, "prev", "active"],
        &["event", "failed", "jobId", "2", "failedReason", "boom: not JSON {", "prev", "active"],
        &["event", "retries-exhausted", "jobId", "2", "attemptsMade", "3"],
        &["event", "stalled", "jobId", "3"],
        &["event", "waiting", "jobId", "3", "prev", "active"],
        &["event", "drained"],
        &["event", "paused"],
        &["event", "resumed"],
        &["event", "waiting-children", "jobId", "4"],
        &["event", "waiting-children", "jobId", "5", "prev", "active"],
        &["event", "cleaned", "count", "12"],
        &["event", "removed", "jobId", "6", "prev", "completed"],
        &["event", "debounced", "jobId", "7", "debounceId", "dd"],
        &["event", "my-custom", "jobId", "8", "colour", "blue"],
        // Bad JSON in a JSON field: kept raw, not an error, not dropped.
        &["event", "completed", "jobId", "9", "returnvalue", "not json", "prev", "active"],
        &["event", "delayed", "jobId", "10", "delay", "soon"],
    ] {
        ids.push(xadd(&q, fields).await);
    }
    let got = take(&mut sub, ids.len()).await;
    let id = |i: usize| ids[i].clone();
    let map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let expected = vec![
        QueueEvent::Active { id: id(0), job_id: "1".into(), prev: Some("waiting".into()) },
        QueueEvent::Progress { id: id(1), job_id: "1".into(), data: json!({"pct": 50, "msg": "half"}) },
        QueueEvent::Progress { id: id(2), job_id: "1".into(), data: json!(75) },
        QueueEvent::Completed {
            id: id(3),
            job_id: "1".into(),
            returnvalue: json!({"ok": [1, 2]}),
            prev: Some("active".into()),
        },
        QueueEvent::Failed {
            id: id(4),
            job_id: "2".into(),
            failed_reason: "boom: not JSON {".into(),
            prev: Some("active".into()),
        },
        QueueEvent::RetriesExhausted { id: id(5), job_id: "2".into(), attempts_made: 3 },
        QueueEvent::Stalled { id: id(6), job_id: "3".into() },
        QueueEvent::Waiting { id: id(7), job_id: "3".into(), prev: Some("active".into()) },
        QueueEvent::Drained { id: id(8) },
        QueueEvent::Paused { id: id(9) },
        QueueEvent::Resumed { id: id(10) },
        QueueEvent::WaitingChildren { id: id(11), job_id: "4".into(), prev: None },
        QueueEvent::WaitingChildren { id: id(12), job_id: "5".into(), prev: Some("active".into()) },
        QueueEvent::Cleaned { id: id(13), count: 12 },
        QueueEvent::Removed { id: id(14), job_id: "6".into(), prev: Some("completed".into()) },
        QueueEvent::Debounced { id: id(15), job_id: "7".into(), debounce_id: "dd".into() },
        QueueEvent::Other { id: id(16), event: "my-custom".into(), fields: map(&[("jobId", "8"), ("colour", "blue")]) },
        QueueEvent::Other {
            id: id(17),
            event: "completed".into(),
            fields: map(&[("jobId", "9"), ("returnvalue", "not json"), ("prev", "active")]),
        },
        QueueEvent::Other { id: id(18), event: "delayed".into(), fields: map(&[("jobId", "10"), ("delay", "soon")]) },
    ];
    assert_eq!(got, expected);
    assert_eq!(got[17].name(), "completed");
    assert_eq!(got[17].job_id(), Some("9"));
    assert_eq!(got[8].job_id(), None);
    qe.close().await;
}
