//! `Queue::transaction`: app writes and job adds as one atomic unit. No half state is ever
//! visible, input Redis would refuse writes nothing, the jobs are ordinary BullMQ jobs, and on
//! a Redis Cluster the unit stays in the queue's hash slot.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bullmq::{
    BulkJob, Connection, Error, JobOptions, ParentOptions, Queue, QueueOptions, ScriptErrorCode, TransactionRefusal,
    Worker,
};
use common::node::node;
use common::*;
use redis::aio::MultiplexedConnection;
use serde_json::json;

/// The test Redis's database `db` (tests that compare whole databases use one of their own).
fn db_url(db: u32) -> String {
    format!("{}/{db}", redis().url.trim_end_matches('/'))
}

async fn raw_db(db: u32) -> MultiplexedConnection {
    redis::Client::open(db_url(db)).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Every key of the connection's database with its DUMP, sorted: equal snapshots mean nothing
/// was written.
async fn snapshot(c: &mut MultiplexedConnection) -> Vec<(String, Vec<u8>)> {
    let script = "local out = {} \
                  for _, k in ipairs(redis.call('KEYS', '*')) do out[#out + 1] = {k, redis.call('DUMP', k)} end \
                  return out";
    let mut all: Vec<(String, Vec<u8>)> = redis::cmd("EVAL").arg(script).arg(0).query_async(c).await.unwrap();
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_half_state_is_ever_visible() {
    const N: i64 = 300;
    let q = queue("tx-atomic").await;
    let app = format!("txapp:{}:", q.name());
    let counter = format!("{app}placed");
    let done = Arc::new(AtomicBool::new(false));

    // The reader: one atomic read of the counter c, order c and its two jobs (all there), order
    // c + 1 and its jobs (none there), and the wait list (2c jobs).
    let reader = {
        let (done, counter, app, base) = (done.clone(), counter.clone(), app.clone(), k(&q, ""));
        tokio::spawn(async move {
            let mut c = raw().await;
            let script = redis::Script::new(
                "local c = tonumber(redis.call('GET', KEYS[1]) or '0') \
                 local function there(i) \
                   return redis.call('EXISTS', ARGV[1] .. 'order:' .. i) + redis.call('EXISTS', ARGV[2] .. 'o' .. i .. '-a') \
                     + redis.call('EXISTS', ARGV[2] .. 'o' .. i .. '-b') end \
                 local whole = (c == 0 or there(c) == 3) and there(c + 1) == 0 \
                   and redis.call('LLEN', ARGV[2] .. 'wait') == 2 * c \
                 return {c, whole and 1 or 0}",
            );
            let (mut polls, mut half, mut seen) = (0u64, 0u64, HashSet::new());
            loop {
                let last = done.load(Ordering::SeqCst);
                let (n, whole): (i64, i64) =
                    script.key(&counter).arg(&app).arg(&base).invoke_async(&mut c).await.unwrap();
                polls += 1;
                if whole == 0 {
                    half += 1;
                }
                if n > 0 && n < N {
                    seen.insert(n);
                }
                if last {
                    return (polls, half, seen.len());
                }
            }
        })
    };

    for i in 1..=N {
        let reply = q
            .transaction()
            .hset(format!("{app}order:{i}"), &[("status", "placed"), ("i", &i.to_string())])
            .incr_by(&counter, 1)
            .add("charge", json!({"order": i}), JobOptions::default().job_id(format!("o{i}-a")))
            .add("email", json!({"order": i}), JobOptions::default().job_id(format!("o{i}-b")))
            .exec()
            .await
            .unwrap();
        assert_eq!(reply.integer(0), Some(2), "two new fields");
        assert_eq!(reply.integer(1), Some(i), "the counter after order {i}");
        let ids: Vec<&str> = reply.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [format!("o{i}-a"), format!("o{i}-b")]);
    }
    done.store(true, Ordering::SeqCst);
    let (polls, half, intermediate) = reader.await.unwrap();
    println!("transaction atomicity: transactions={N} polls={polls} half_states={half} intermediate_counts_seen={intermediate}");
    assert_eq!(half, 0, "a reader saw part of a transaction");
    assert!(polls >= 50, "the reader polled only {polls} times");
    assert!(intermediate >= 3, "the reader saw only {intermediate} states between the first and last transaction");
    assert_eq!(q.get_waiting_count().await.unwrap(), 2 * N as u64);
}

#[tokio::test]
async fn refused_input_writes_nothing() {
    // Database 2, this test's only: a snapshot of all of it tells what was written.
    let mut c = raw_db(2).await;
    let q = Queue::new(&qname("tx-refused"), QueueOptions::new(Connection::from_url(db_url(2)))).await.unwrap();
    let app = format!("txapp:{}:", q.name());
    let key = |s: &str| format!("{app}{s}");
    let _: () = redis::pipe()
        .cmd("RPUSH")
        .arg(key("list"))
        .arg("x")
        .cmd("SET")
        .arg(key("text"))
        .arg("abc")
        .cmd("SET")
        .arg(key("max"))
        .arg("9223372036854775806")
        .cmd("SET")
        .arg(key("min"))
        .arg("-9223372036854775807")
        .cmd("HSET")
        .arg(key("h"))
        .arg("f")
        .arg("1.5")
        .query_async(&mut c)
        .await
        .unwrap();
    let parent = q.add("parent", json!({}), JobOptions::default()).await.unwrap();
    let other_parent = q.add("parent", json!({}), JobOptions::default()).await.unwrap();
    let child_opts = JobOptions::default().job_id("kid");
    q.add("kid", json!({}), child_opts.clone().parent(ParentOptions::new(&parent.id, q.qualified_name())))
        .await
        .unwrap();
    let before = snapshot(&mut c).await;

    let refused = |r: bullmq::Result<bullmq::TransactionReply>| r.expect_err("refused");
    let job = || JobOptions::default();

    // Found by the script's check phase, before its first write.
    let e =
        refused(q.transaction().set(key("a"), "1").hset(key("list"), &[("f", "v")]).add("j", 1, job()).exec().await);
    match &e {
        Error::TransactionRefused {
            command: "HSET",
            index: 1,
            key: k,
            reason: TransactionRefusal::WrongType { found },
        } => {
            assert_eq!(k, &key("list"));
            assert_eq!(found, "list");
        }
        other => panic!("{other:?}"),
    }
    println!("refused: {e}");
    let e = refused(q.transaction().incr_by(key("text"), 1).exec().await);
    assert!(
        matches!(
            e,
            Error::TransactionRefused {
                command: "INCRBY",
                index: 0,
                reason: TransactionRefusal::NotAnInteger { field: None },
                ..
            }
        ),
        "{e:?}"
    );
    let e = refused(q.transaction().del(key("x")).incr_by(key("max"), 2).exec().await);
    assert!(
        matches!(e, Error::TransactionRefused { index: 1, reason: TransactionRefusal::Overflow { .. }, .. }),
        "{e:?}"
    );
    let e = refused(q.transaction().incr_by(key("min"), -2).exec().await);
    assert!(matches!(e, Error::TransactionRefused { reason: TransactionRefusal::Overflow { .. }, .. }), "{e:?}");
    let e = refused(q.transaction().hincr_by(key("h"), "f", 1).exec().await);
    assert!(
        matches!(&e, Error::TransactionRefused { command: "HINCRBY", reason: TransactionRefusal::NotAnInteger { field: Some(f) }, .. } if f == "f"),
        "{e:?}"
    );
    // As the transaction's own earlier commands leave a key.
    let e = refused(q.transaction().set(key("fresh"), "x").incr_by(key("fresh"), 1).exec().await);
    assert!(matches!(e, Error::TransactionRefused { command: "INCRBY", index: 1, .. }), "{e:?}");
    let e = refused(
        q.transaction().set(key("n"), "9223372036854775000").incr_by(key("n"), 800).incr_by(key("n"), 8).exec().await,
    );
    assert!(
        matches!(e, Error::TransactionRefused { index: 2, reason: TransactionRefusal::Overflow { .. }, .. }),
        "{e:?}"
    );
    let e = refused(
        q.transaction()
            .set(key("n"), "-9223372036854775000")
            .incr_by(key("n"), -800)
            .incr_by(key("n"), -9)
            .exec()
            .await,
    );
    assert!(
        matches!(e, Error::TransactionRefused { index: 2, reason: TransactionRefusal::Overflow { .. }, .. }),
        "{e:?}"
    );
    let e = refused(q.transaction().lpush(key("l2"), &["a"]).sadd(key("l2"), &["m"]).exec().await);
    assert!(
        matches!(&e, Error::TransactionRefused { command: "SADD", reason: TransactionRefusal::WrongType { found }, .. } if found == "list"),
        "{e:?}"
    );
    // A job's parent that does not exist; a custom id that belongs to another live parent.
    let e = refused(
        q.transaction()
            .set(key("a"), "1")
            .add("j", 1, job().parent(ParentOptions::new("nope", q.qualified_name())))
            .exec()
            .await,
    );
    assert_eq!(e.script_code(), Some(ScriptErrorCode::ParentJobNotExist), "{e:?}");
    let e = refused(
        q.transaction()
            .set(key("a"), "1")
            .add("j", 1, job())
            .add("kid", 1, child_opts.clone().parent(ParentOptions::new(&other_parent.id, q.qualified_name())))
            .exec()
            .await,
    );
    assert_eq!(e.script_code(), Some(ScriptErrorCode::ParentJobCannotBeReplaced), "{e:?}");

    // Refused before anything is sent.
    let invalid = |e: Error, index: usize| match &e {
        Error::InvalidOption { option: "transaction", message } => {
            assert!(message.starts_with(&format!("command {index} ")), "{message}");
            println!("invalid: {e}");
        }
        other => panic!("{other:?}"),
    };
    invalid(refused(q.transaction().set(key("a"), "1").set(k(&q, "wait"), "x").exec().await), 1);
    invalid(refused(q.transaction().del(format!("{}:{}:meta", q.prefix(), q.name())).exec().await), 0);
    let other = format!("{}:elsewhere", q.prefix());
    invalid(
        refused(
            q.transaction()
                .set(format!("{other}:1"), "x")
                .add("j", 1, job().parent(ParentOptions::new("p", &other)))
                .exec()
                .await,
        ),
        0,
    );
    invalid(refused(q.transaction().set("", "x").exec().await), 0);
    invalid(refused(q.transaction().set(key("a"), "1").zadd(key("z"), &[(1.0, "a"), (f64::NAN, "b")]).exec().await), 1);
    invalid(refused(q.transaction().zadd(key("z"), &[(f64::INFINITY, "b")]).exec().await), 0);
    invalid(refused(q.transaction().hset::<&str, &str>(key("h2"), &[]).exec().await), 0);
    invalid(refused(q.transaction().sadd(key("s"), &vec!["m"; 1001]).exec().await), 0);
    invalid(refused(q.transaction().set_px(key("a"), "1", Duration::from_micros(10)).exec().await), 0);
    invalid(refused(q.transaction().expire(key("a"), Duration::ZERO).exec().await), 0);
    let e = refused(q.transaction().set(key("a"), "1").add("j", 1, job().job_id("")).exec().await);
    assert!(matches!(e, Error::InvalidOption { option: "job_id", .. }), "{e:?}");
    let e = refused(q.transaction().set(key("a"), "1").add("j", 1, job().priority(3_000_000)).exec().await);
    assert!(matches!(e, Error::InvalidOption { option: "priority", .. }), "{e:?}");

    assert!(before == snapshot(&mut c).await, "a refused transaction wrote something");

    // The same keys in valid transactions: the check phase's arithmetic agrees with Redis's.
    let r = q
        .transaction()
        .incr_by(key("max"), 1)
        .incr_by(key("min"), -1)
        .del(key("list"))
        .hset(key("list"), &[("f", "1")])
        .hincr_by(key("list"), "f", 41)
        .set(key("n"), "-1000000001")
        .incr_by(key("n"), 1)
        .incr_by(key("n"), 999_999_999)
        .incr_by(key("n"), i64::MAX)
        .set(key("m"), "9223372036854775000")
        .incr_by(key("m"), 800)
        .incr_by(key("m"), 7)
        .exec()
        .await
        .unwrap();
    let ints: Vec<Option<i64>> = (0..r.replies.len()).map(|i| r.integer(i)).collect();
    assert_eq!(
        ints,
        [
            Some(i64::MAX),
            Some(i64::MIN),
            Some(1),
            Some(1),
            Some(42),
            None,
            Some(-1_000_000_000),
            Some(-1),
            Some(i64::MAX - 1),
            None,
            Some(i64::MAX - 7),
            Some(i64::MAX)
        ]
    );
    assert_eq!(r.replies[5], redis::Value::Okay);
}

#[tokio::test]
async fn transaction_jobs_are_ordinary_bullmq_jobs() {
    let q = queue("tx-jobs").await;
    let app = format!("txapp:{}:", q.name());
    let r = q
        .transaction()
        .set_px(format!("{app}session"), "s1", Duration::from_secs(60))
        .sadd(format!("{app}tags"), &["a", "b"])
        .zadd(format!("{app}rank"), &[(1.5, "x"), (-2.0, "y")])
        .rpush(format!("{app}log"), &["1", "2"])
        .add("alpha", json!({"n": 1}), JobOptions::default())
        .add_bulk(vec![
            BulkJob::new("beta", json!({"n": 2}), JobOptions::default().priority(3)).unwrap(),
            BulkJob::new("gamma", json!({"n": 3}), JobOptions::default().job_id("g-1")).unwrap(),
        ])
        .exec()
        .await
        .unwrap();
    assert_eq!(r.replies[0], redis::Value::Okay);
    assert_eq!((r.integer(1), r.integer(2), r.integer(3)), (Some(2), Some(2), Some(2)));
    let ids: Vec<String> = r.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids[2], "g-1");
    assert_eq!(r.jobs[0].data, json!({"n": 1}));
    let ttl: i64 = cmd(&["PTTL", &format!("{app}session")]).await;
    assert!(ttl > 50_000 && ttl <= 60_000, "{ttl}");
    let rank: Vec<String> = cmd(&["ZRANGE", &format!("{app}rank"), "0", "-1"]).await;
    assert_eq!(rank, ["y", "x"]);

    // Node BullMQ reads them as its own.
    let read = node("bullmq", q.name(), json!({"cmd": "read", "ids": ids})).await;
    let jobs = read["jobs"].as_array().unwrap();
    let seen: Vec<(&str, serde_json::Value)> =
        jobs.iter().map(|j| (j["name"].as_str().unwrap(), j["data"].clone())).collect();
    assert_eq!(seen, [("alpha", json!({"n": 1})), ("beta", json!({"n": 2})), ("gamma", json!({"n": 3}))]);
    assert_eq!(jobs[1]["priority"], 3);

    // Our worker processes them.
    let (p, runs) = recording_processor();
    let (w, mut rx) = Worker::spawn(q.name(), p, worker_opts(&q)).await.unwrap();
    await_completions(&mut rx, 3).await;
    w.close(Duration::from_secs(2)).await;
    let mut ran = runs.lock().unwrap().clone();
    ran.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(ran, want);
    assert_eq!(q.get_completed_count().await.unwrap(), 3);
}

#[tokio::test]
async fn on_a_cluster_the_unit_stays_in_the_queue_slot() {
    let url = cluster::start_cluster_server().await;
    let q = Queue::new(&qname("tx-cluster"), QueueOptions::new(Connection::from_url(url.clone()).prefix("{app}")))
        .await
        .unwrap();
    let r = q
        .transaction()
        .hset("{app}:order:1", &[("status", "placed")])
        .incr_by("{app}:placed", 1)
        .add("charge", json!({"order": 1}), JobOptions::default())
        .exec()
        .await
        .unwrap();
    assert_eq!(r.integer(1), Some(1));
    assert_eq!(q.get_waiting_count().await.unwrap(), 1);

    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let before = snapshot(&mut c).await;
    let e = q
        .transaction()
        .hset("{app}:order:2", &[("status", "placed")])
        .incr_by("placed:elsewhere", 1)
        .add("charge", json!({"order": 2}), JobOptions::default())
        .exec()
        .await
        .expect_err("cross-slot");
    println!("refused: {e}");
    match &e {
        Error::CrossSlot { operation: "transaction", slot, keys } => {
            assert_eq!(keys, &["placed:elsewhere".to_owned()]);
            let want: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg("{app}:x").query_async(&mut c).await.unwrap();
            assert_eq!(*slot, want);
        }
        other => panic!("{other:?}"),
    }
    // A job's parent in another slot is refused as well.
    let e = q
        .transaction()
        .add("child", json!({}), JobOptions::default().parent(ParentOptions::new("p1", "bull:parents")))
        .exec()
        .await
        .expect_err("cross-slot parent");
    assert!(matches!(&e, Error::CrossSlot { keys, .. } if keys == &["bull:parents:p1".to_owned()]), "{e:?}");
    assert!(before == snapshot(&mut c).await, "a refused transaction wrote something");
}
