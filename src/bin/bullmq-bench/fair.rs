//! `--workload fair_compare`: what a fair group costs against one plain queue, outside the
//! shared harness (it has no fairness workload, and its checks read one queue's keys). Against
//! one Redis (`--redis-url`, flushed between runs), `BULLMQ_BENCH_REPS` rounds of: a plain
//! queue, then fair groups of 1 tenant, of a flood and 100 small tenants, of 100 and of 10,000
//! tenants (the order rotates each round), each processing
//! `--n` jobs (spread evenly over the tenants, added untimed) with a no-op processor at
//! `--concurrency`, timed from the worker's start to the N-th `JobCompleted`. One JSON line per
//! run: jobs/s, Redis CPU µs and commands per job (INFO deltas over the measured phase).

use std::time::{Duration, Instant};

use bullmq::{
    processor, BulkJob, Connection, FairOptions, FairQueue, JobOptions, JobOutcome, Queue, QueueOptions, Worker,
    WorkerEvent, WorkerOptions,
};
use serde_json::json;

/// The tenant count standing for the fairness scenario (`flood` in `BULLMQ_BENCH_TENANTS`).
const FLOOD: usize = usize::MAX;

/// Redis's CPU seconds (user + sys) and commands processed so far.
async fn redis_counters(conn: &mut redis::aio::MultiplexedConnection) -> (f64, u64) {
    let info: String = redis::cmd("INFO").arg("all").query_async(conn).await.expect("INFO");
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
    };
    (field("used_cpu_user") + field("used_cpu_sys"), field("total_commands_processed") as u64)
}

async fn add_spread(connection: &Connection, group: &str, tenants: usize, n: usize) -> Option<FairQueue> {
    let job = |i: usize| BulkJob::new("job", json!({ "i": i }), JobOptions::default()).unwrap();
    if tenants == 0 {
        let q = Queue::new(group, QueueOptions::new(connection.clone())).await.expect("queue");
        for start in (0..n).step_by(1000) {
            q.add_bulk((start..(start + 1000).min(n)).map(job).collect()).await.expect("addBulk");
        }
        return None;
    }
    let g = FairQueue::new(group, QueueOptions::new(connection.clone())).await.expect("group");
    if tenants == FLOOD {
        // The fairness scenario: one tenant holds all but 1,000 jobs, 100 tenants 10 each.
        for start in (0..n - 1000).step_by(1000) {
            g.add_bulk("flood", (start..(start + 1000).min(n - 1000)).map(job).collect()).await.expect("addBulk");
        }
        for t in 0..100 {
            g.add_bulk(&format!("t{t}"), (0..10).map(job).collect()).await.expect("addBulk");
        }
        return Some(g);
    }
    let per = n / tenants;
    // 8 lanes, each a share of the tenants: a first add joins its tenant (one more call).
    let lanes: Vec<_> = (0..8)
        .map(|lane| {
            let g = g.clone();
            tokio::spawn(async move {
                for t in (lane..tenants).step_by(8) {
                    let mut left = per;
                    while left > 0 {
                        let k = left.min(1000);
                        g.add_bulk(&format!("t{t}"), (0..k).map(job).collect()).await.expect("addBulk");
                        left -= k;
                    }
                }
            })
        })
        .collect();
    for l in lanes {
        l.await.expect("lane");
    }
    Some(g)
}

async fn one_run(url: &str, tenants: usize, n: usize, concurrency: usize, rep: usize) -> serde_json::Value {
    let client = redis::Client::open(url).expect("url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.expect("FLUSHALL");
    let connection = Connection::from_url(url);
    let group = format!("fair{rep}x{tenants}");
    let g = add_spread(&connection, &group, tenants, n).await;
    let opts = WorkerOptions::new(connection.clone()).concurrency(concurrency).autorun(false);
    let noop = processor(|_job, _ctx| async { Ok(JobOutcome::Completed(serde_json::Value::Null)) });
    let (worker, mut events) = match tenants {
        0 => Worker::spawn(&group, noop, opts).await.expect("worker"),
        _ => Worker::spawn_fair(&group, noop, opts, FairOptions::default()).await.expect("fair worker"),
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (cpu0, cmds0) = redis_counters(&mut conn).await;
    let t0 = Instant::now();
    worker.resume();
    let mut done = 0;
    while done < n {
        match events.recv().await {
            Some(WorkerEvent::JobCompleted { .. }) => done += 1,
            Some(_) => {}
            None => break,
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (cpu1, cmds1) = redis_counters(&mut conn).await;
    worker.close_force().await;
    if let Some(g) = g {
        g.close().await;
    }
    let kind = match tenants {
        0 => "plain".to_owned(),
        FLOOD => "fair-flood".to_owned(),
        t => format!("fair-{t}"),
    };
    json!({
        "run": kind, "rep": rep, "n": n, "completed": done, "concurrency": concurrency,
        "jobs_per_s": (done as f64 / elapsed).round(),
        "redis_cpu_us_per_job": ((cpu1 - cpu0) * 1e6 / done as f64 * 10.0).round() / 10.0,
        "redis_cmds_per_job": (((cmds1 - cmds0) as f64 / done as f64) * 100.0).round() / 100.0,
        "client_rss_mib": rss_mib(),
    })
}

/// This process's resident memory, MiB (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    (kb / 1024.0 * 10.0).round() / 10.0
}

/// Runs the comparison and prints one JSON line per run. `BULLMQ_BENCH_TENANTS` lists the runs'
/// tenant counts (0: the plain queue; `flood`: one tenant with all but 1,000 jobs and 100
/// tenants with 10 each), default `0,1,flood,100,10000`.
pub(crate) async fn compare(url: &str, n: usize, concurrency: usize, reps: usize) {
    let kinds: Vec<usize> = match std::env::var("BULLMQ_BENCH_TENANTS") {
        Ok(list) => list
            .split(',')
            .map(|t| if t == "flood" { FLOOD } else { t.parse().expect("BULLMQ_BENCH_TENANTS") })
            .collect(),
        Err(_) => vec![0, 1, FLOOD, 100, 10_000],
    };
    for rep in 0..reps {
        for k in 0..kinds.len() {
            let tenants = kinds[(k + rep) % kinds.len()];
            println!("{}", one_run(url, tenants, n, concurrency, rep).await);
        }
    }
}
