//! QueueEvents as a stream consumer: order, fan-out, replay, delayed start, unsubscribe,
//! handlers, close, the connection name, and a reconnect in the middle of a burst.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bullmq::events::{QueueEventsHandler, Subscription};
use bullmq::{Queue, QueueEvent, QueueEvents, QueueEventsOptions};
use common::*;

fn opts() -> QueueEventsOptions {
    QueueEventsOptions::new(conn()).blocking_timeout(Duration::from_millis(300))
}

async fn xadd(q: &Queue, fields: &[&str]) -> String {
    let key = k(q, "events");
    let mut args = vec!["XADD", key.as_str(), "*"];
    args.extend_from_slice(fields);
    cmd(&args).await
}

async fn take(sub: &mut Subscription, n: usize) -> Vec<QueueEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
            Ok(Some(e)) => out.push(e),
            Ok(None) => panic!("subscription ended after {} events", out.len()),
            Err(_) => panic!("only {} of {n} events", out.len()),
        }
    }
    out
}

#[tokio::test]
async fn stream_order_and_every_subscriber_gets_everything() {
    let q = queue("ev-order").await;
    let qe = QueueEvents::new(q.name(), opts()).await.unwrap();
    let (mut a, mut b) = (qe.subscribe(), qe.subscribe());
    assert_eq!(qe.subscriber_count(), 2);
    let mut ids = Vec::new();
    for i in 0..50 {
        let n = i.to_string();
        ids.push(xadd(&q, &["event", "progress", "jobId", &n, "data", &n]).await);
    }
    for sub in [&mut a, &mut b] {
        let got = take(sub, 50).await;
        let got_ids: Vec<&str> = got.iter().map(|e| e.id()).collect();
        assert_eq!(got_ids, ids.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, e) in got.iter().enumerate() {
            assert!(matches!(e, QueueEvent::Progress { job_id, data, .. }
                if *job_id == i.to_string() && *data == serde_json::json!(i)));
        }
        assert!(sub.try_recv().is_none(), "nothing extra");
    }
    qe.close().await;
}

#[tokio::test]
async fn default_start_skips_older_events_and_last_event_id_replays() {
    let q = queue("ev-replay").await;
    let first = xadd(&q, &["event", "paused"]).await;
    let second = xadd(&q, &["event", "resumed"]).await;
    let third = xadd(&q, &["event", "drained"]).await;

    // Default (`$`): only what is written after the start.
    let live = QueueEvents::new(q.name(), opts()).await.unwrap();
    let mut live_sub = live.subscribe();
    assert_eq!(live.last_event_id(), Some(third.clone()), "`$` resolved at start");

    // From an id: everything after it, even though it was written before the start.
    let from = QueueEvents::new(q.name(), opts().last_event_id(first.clone()).autorun(false)).await.unwrap();
    let mut from_sub = from.subscribe();
    assert!(!from.is_running());
    from.run().await.unwrap();
    from.run().await.unwrap(); // idempotent
    assert!(from.is_running());

    // From 0: the whole stream.
    let all = QueueEvents::new(q.name(), opts().last_event_id("0")).await.unwrap();
    let mut all_sub = all.subscribe();

    let fourth = xadd(&q, &["event", "cleaned", "count", "2"]).await;
    let ids = |v: Vec<QueueEvent>| v.into_iter().map(|e| e.id().to_owned()).collect::<Vec<_>>();
    assert_eq!(ids(take(&mut live_sub, 1).await), vec![fourth.clone()]);
    assert_eq!(ids(take(&mut from_sub, 3).await), vec![second.clone(), third.clone(), fourth.clone()]);
    assert_eq!(ids(take(&mut all_sub, 4).await), vec![first, second, third, fourth.clone()]);
    for qe in [&live, &from, &all] {
        assert_eq!(qe.last_event_id(), Some(fourth.clone()));
        qe.close().await;
    }

    let bad = QueueEvents::new(q.name(), opts().last_event_id("abc")).await;
    assert!(matches!(bad, Err(bullmq::Error::InvalidOption { option: "last_event_id", .. })));
    let bad = QueueEvents::new(q.name(), opts().blocking_timeout(Duration::ZERO)).await;
    assert!(matches!(bad, Err(bullmq::Error::InvalidOption { option: "blocking_timeout", .. })));
    let bad = QueueEvents::new("a:b", opts()).await;
    assert!(matches!(bad, Err(bullmq::Error::InvalidOption { .. })));
}

struct Collect(Arc<Mutex<Vec<String>>>);

impl QueueEventsHandler for Collect {
    async fn on_event(&self, e: &QueueEvent) {
        // A slow handler only delays itself.
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.0.lock().unwrap().push(e.name().to_owned());
    }
}

#[tokio::test]
async fn unsubscribe_handlers_and_close() {
    let q = queue("ev-unsub").await;
    let qe = QueueEvents::new(q.name(), opts()).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hid = qe.add_handler(Collect(seen.clone()));
    let mut kept = qe.subscribe();
    let mut gone = qe.subscribe();
    let dropped = qe.subscribe();
    drop(dropped);
    xadd(&q, &["event", "paused"]).await;
    take(&mut gone, 1).await;
    assert!(qe.unsubscribe(gone.id()));
    assert!(!qe.unsubscribe(gone.id()));
    xadd(&q, &["event", "resumed"]).await;
    assert_eq!(take(&mut kept, 2).await[1].name(), "resumed");
    assert_eq!(gone.recv().await, None, "unsubscribed: ended");
    {
        let seen = seen.clone();
        eventually("handler saw both", Duration::from_secs(5), move || {
            let seen = seen.clone();
            async move { *seen.lock().unwrap() == vec!["paused", "resumed"] }
        })
        .await;
    }
    assert_eq!(qe.subscriber_count(), 2, "handler + kept; the dropped one is pruned");
    assert!(qe.unsubscribe(hid));

    // The reader's connection carries Node's QueueEvents name.
    let name = format!("bull:{}:qe", b64(q.name()));
    let list: String = cmd(&["CLIENT", "LIST"]).await;
    assert!(list.contains(&format!("name={name} ")), "{name} in {list}");

    qe.close().await;
    assert_eq!(kept.recv().await, None, "close ends subscriptions");
    assert!(!qe.is_running());
    assert!(matches!(qe.run().await, Err(bullmq::Error::Closed(_))));
    let mut late = qe.subscribe();
    assert_eq!(late.recv().await, None);
    let list: String = cmd(&["CLIENT", "LIST"]).await;
    assert!(!list.contains(&format!("name={name} ")), "connection closed: {list}");
}

/// The CLIENT ID of the connection named `name`, if any.
async fn client_id(name: &str) -> Option<String> {
    let list: String = cmd(&["CLIENT", "LIST"]).await;
    list.lines().find_map(|l| {
        let mut id = None;
        let mut named = false;
        for kv in l.split(' ') {
            if let Some(v) = kv.strip_prefix("id=") {
                id = Some(v.to_owned());
            }
            if kv == format!("name={name}") {
                named = true;
            }
        }
        id.filter(|_| named)
    })
}

#[tokio::test]
async fn reconnect_in_the_middle_of_a_burst_loses_and_repeats_nothing() {
    let q = queue("ev-kill").await;
    let qe = QueueEvents::new(q.name(), opts()).await.unwrap();
    let mut sub = qe.subscribe();
    let name = format!("bull:{}:qe", b64(q.name()));
    const N: usize = 3000;
    const KILLS: usize = 3;

    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            let key = k(&q, "events");
            let mut c = raw().await;
            for i in 0..N {
                let _: String = redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("event")
                    .arg("progress")
                    .arg("jobId")
                    .arg(i)
                    .arg("data")
                    .arg(i)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let killer = {
        let name = name.clone();
        let key = k(&q, "events");
        tokio::spawn(async move {
            let (mut killed, mut mid_burst) = (0, 0);
            let mut last = None;
            while killed < KILLS {
                if let Some(id) = client_id(&name).await {
                    if last.as_ref() != Some(&id) {
                        let _: redis::Value = cmd(&["CLIENT", "KILL", "ID", &id]).await;
                        let len: usize = cmd(&["XLEN", &key]).await;
                        if len < N {
                            mid_burst += 1;
                        }
                        killed += 1;
                        last = Some(id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            (killed, mid_burst)
        })
    };

    let mut seen = HashSet::new();
    let (mut received, mut duplicates) = (0usize, 0usize);
    let mut order_ok = true;
    let mut prev: Option<usize> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < N && tokio::time::Instant::now() < deadline {
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(1), sub.recv()).await {
            received += 1;
            let n: usize = e.job_id().unwrap().parse().unwrap();
            if !seen.insert(n) {
                duplicates += 1;
            }
            if prev.is_some_and(|p| n <= p) {
                order_ok = false;
            }
            prev = Some(n);
        }
    }
    producer.await.unwrap();
    let (kills, mid_burst) = killer.await.unwrap();
    // Nothing more arrives after the last one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while sub.try_recv().is_some() {
        received += 1;
        duplicates += 1;
    }
    let missing = N - seen.len();
    println!(
        "reconnect burst: sent={N} received={received} duplicates={duplicates} missing={missing} \
         kills={kills} (mid-burst {mid_burst}) reconnects={}",
        qe.reconnects()
    );
    assert_eq!((duplicates, missing), (0, 0));
    assert!(order_ok, "stream order kept");
    assert!(mid_burst >= 1, "at least one kill landed while events were being written");
    assert!(qe.reconnects() >= KILLS as u64, "the reader reconnected after each kill");
    assert!(client_id(&name).await.is_some(), "a fresh :qe connection is up");
    qe.close().await;
}

#[tokio::test]
async fn an_unblocked_read_restarts_the_reader_without_losing_events() {
    let q = queue("ev-unblock").await;
    let qe = QueueEvents::new(q.name(), opts()).await.unwrap();
    let mut sub = qe.subscribe();
    let name = format!("bull:{}:qe", b64(q.name()));
    let a = xadd(&q, &["event", "paused"]).await;
    assert_eq!(take(&mut sub, 1).await[0].id(), a);
    let id = client_id(&name).await.expect(":qe connection");
    // The reader is (or soon will be) blocked in XREAD: make Redis fail it with UNBLOCKED.
    let mut unblocked = 0;
    for _ in 0..100 {
        unblocked = cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]).await;
        if unblocked == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(unblocked, 1, "the reader was blocked in XREAD");
    let b = xadd(&q, &["event", "resumed"]).await;
    let got = take(&mut sub, 1).await;
    assert_eq!(got[0].id(), b);
    let qe2 = qe.clone();
    eventually("reader restarted", Duration::from_secs(5), move || {
        let qe = qe2.clone();
        async move { qe.reconnects() == 1 }
    })
    .await;
    assert_ne!(client_id(&name).await, Some(id), "a fresh connection");
    assert!(sub.try_recv().is_none(), "nothing repeated");
    qe.close().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_reader() {
    let q = queue("ev-drop").await;
    let qe = QueueEvents::new(q.name(), opts()).await.unwrap();
    let mut sub = qe.subscribe();
    let name = format!("bull:{}:qe", b64(q.name()));
    assert!(client_id(&name).await.is_some());
    let clone = qe.clone();
    drop(qe);
    assert!(clone.is_running(), "a clone keeps it alive");
    drop(clone);
    assert_eq!(sub.recv().await, None, "subscriptions end");
    eventually("the :qe connection is closed", Duration::from_secs(5), || {
        let name = name.clone();
        async move { client_id(&name).await.is_none() }
    })
    .await;
}
