//! QueueEvents across a Redis outage: its own redis-server, shut down and started again on the
//! same port. The reader keeps retrying with backoff and resumes when Redis is back.

mod common;

use std::time::{Duration, Instant};

use bullmq::{Connection, Error, QueueEvent, QueueEvents, QueueEventsOptions};
use common::proxy::Proxy;
use common::*;

async fn xadd(url: &str, key: &str, fields: &[&str]) -> String {
    let mut c = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    for f in fields {
        cmd.arg(*f);
    }
    cmd.query_async(&mut c).await.unwrap()
}

async fn next(sub: &mut bullmq::events::Subscription, within: Duration) -> QueueEvent {
    tokio::time::timeout(within, sub.recv()).await.expect("event in time").expect("subscription open")
}

#[tokio::test]
async fn survives_a_redis_restart() {
    let port = free_port();
    start_server(port);
    let url = format!("redis://127.0.0.1:{port}");
    let name = qname("ev-restart");
    let key = format!("bull:{name}:events");
    let qe = QueueEvents::new(
        &name,
        QueueEventsOptions::new(Connection::from_url(url.clone())).blocking_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let mut sub = qe.subscribe();
    let a = xadd(&url, &key, &["event", "paused"]).await;
    assert_eq!(next(&mut sub, Duration::from_secs(5)).await.id(), a);

    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query_async::<redis::Value>(&mut c).await;
    let down = Instant::now();
    // A real outage, long enough for many failed reconnects.
    while down.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(qe.is_running(), "still retrying after {:?}", down.elapsed());
    }
    start_server(port);
    let b = xadd(&url, &key, &["event", "resumed"]).await;
    let got = next(&mut sub, Duration::from_secs(10)).await;
    println!(
        "redis restart: outage={:?} back_after={:?} reconnects={}",
        Duration::from_secs(2),
        down.elapsed(),
        qe.reconnects()
    );
    assert_eq!(got.id(), b);
    assert!(matches!(got, QueueEvent::Resumed { .. }));
    assert!(qe.reconnects() >= 1);
    qe.close().await;
}

#[tokio::test]
async fn unreachable_redis_at_start_is_a_typed_error() {
    let port = free_port(); // nothing listens there
    let r =
        QueueEvents::new("nobody", QueueEventsOptions::new(Connection::from_url(format!("redis://127.0.0.1:{port}"))))
            .await;
    assert!(matches!(r, Err(Error::Connection { operation: "QueueEvents::run", .. })), "{r:?}");
}

#[tokio::test]
async fn a_silent_connection_is_replaced_after_the_client_side_deadline() {
    let proxy = Proxy::start(redis().port).await;
    let name = qname("ev-silent");
    let key = format!("bull:{name}:events");
    let blocking_timeout = Duration::from_millis(300);
    let qe = QueueEvents::new(
        &name,
        QueueEventsOptions::new(Connection::from_url(proxy.url())).blocking_timeout(blocking_timeout),
    )
    .await
    .unwrap();
    let mut sub = qe.subscribe();
    let url = redis().url.clone();
    let a = xadd(&url, &key, &["event", "paused"]).await;
    assert_eq!(next(&mut sub, Duration::from_secs(5)).await.id(), a);
    proxy.freeze_existing();
    let frozen = Instant::now();
    // Written while the reader's connection is a black hole: delivered after the reconnect.
    let b = xadd(&url, &key, &["event", "resumed"]).await;
    let got = next(&mut sub, Duration::from_secs(15)).await;
    let took = frozen.elapsed();
    println!("silent connection: replaced after {took:?}, reconnects={}", qe.reconnects());
    assert_eq!(got.id(), b);
    assert_eq!(qe.reconnects(), 1);
    // No earlier than the block plus the 2 s margin of the client-side deadline.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(sub.try_recv().is_none(), "nothing repeated");
    qe.close().await;
}
