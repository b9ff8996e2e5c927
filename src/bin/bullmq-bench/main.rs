//! The project's client for the shared bench harness (`bench/WORKLOADS.md`): the same
//! workloads, arguments and JSON-lines protocol as the Node client, through our public API.
//!
//! `process` runs the supervised worker tree (`Worker`, a no-op processor) and stops the clock
//! at the N-th `JobCompleted` event; with `BULLMQ_BENCH_MANUAL=1` it runs `concurrency`
//! manual-processing lanes instead (fetch, then complete-and-fetch-next in one call), to compare
//! the tree's overhead. `latency` runs a worker tree (concurrency 1) and a `QueueEvents`, and
//! times each `add` until `wait_until_finished` returns, as the Node client does. `scheduler`
//! is in `scheduler.rs`; `fair_compare` (not a harness workload: fair groups against a plain
//! queue) in `fair.rs`.

mod fair;
mod flows;
mod scheduler;

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bullmq::worker::GetNextJobOptions;
use bullmq::{
    processor, BulkJob, Connection, JobOptions, JobOutcome, KeepJobs, ManualWorker, Queue, QueueEvents,
    QueueEventsOptions, QueueOptions, Worker, WorkerEvent, WorkerOptions,
};
use serde_json::json;

struct Args {
    workload: String,
    n: usize,
    concurrency: usize,
    roc: bool,
    inflight: usize,
    chunk: usize,
    url: String,
    queue: String,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut m = HashMap::new();
    for pair in raw.chunks(2) {
        if let [k, v] = pair {
            m.insert(k.trim_start_matches("--").to_owned(), v.clone());
        }
    }
    let get = |k: &str, d: &str| m.get(k).cloned().unwrap_or_else(|| d.to_owned());
    Args {
        workload: get("workload", "add_single"),
        n: get("n", "10000").parse().expect("--n"),
        concurrency: get("concurrency", "1").parse().expect("--concurrency"),
        roc: get("variant", "keep") == "roc",
        inflight: get("inflight", "64").parse().expect("--inflight"),
        chunk: get("chunk", "1000").parse().expect("--chunk"),
        url: get("redis-url", "redis://127.0.0.1:6379"),
        queue: get("queue", "bench"),
    }
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

fn barrier() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

fn job_opts(a: &Args) -> JobOptions {
    if a.roc {
        JobOptions::default().remove_on_complete(KeepJobs::remove())
    } else {
        JobOptions::default()
    }
}

async fn add_bulk(q: &Queue, a: &Args, n: usize) {
    let opts = job_opts(a);
    let mut i = 0;
    while i < n {
        let end = (i + a.chunk).min(n);
        let jobs = (i..end).map(|k| BulkJob::new("job", json!({ "i": k }), opts.clone()).unwrap()).collect();
        q.add_bulk(jobs).await.expect("addBulk");
        i = end;
    }
}

async fn run_process(a: &Args, worker: ManualWorker) -> serde_json::Value {
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(tokio::sync::Notify::new());
    let n = a.n;
    let lanes: Vec<_> = (0..a.concurrency)
        .map(|lane| {
            let (w, done, finished) = (worker.clone(), done.clone(), finished.clone());
            tokio::spawn(async move {
                let token = format!("bench-{lane}");
                let mut current: Option<bullmq::ActiveJob> = None;
                while done.load(Ordering::Relaxed) < n {
                    let job = match current.take() {
                        Some(j) => j,
                        None => match w.get_next_job(&token, GetNextJobOptions::wait(Duration::from_millis(200))).await
                        {
                            Ok(Some(j)) => j,
                            Ok(None) => continue,
                            Err(e) => {
                                eprintln!("fetch error: {e}");
                                continue;
                            }
                        },
                    };
                    // A no-op processor; the next job comes back with the completion.
                    match job.move_to_completed((), true).await {
                        Ok(next) => {
                            if done.fetch_add(1, Ordering::Relaxed) + 1 == n {
                                finished.notify_one();
                            }
                            current = next;
                        }
                        Err(e) => eprintln!("complete error: {e}"),
                    }
                }
            })
        })
        .collect();
    // Like the Node client, the measured phase ends at the N-th completion; idle lanes are
    // stopped afterwards.
    finished.notified().await;
    let completed = done.load(Ordering::Relaxed);
    for l in lanes {
        l.abort();
    }
    json!({ "completed": completed })
}

/// The runtime: one thread, like Node's event loop. On the 2-core bench machine Redis needs the
/// other core, and cross-thread wake-ups cost more than they bring (docs/BENCH.md).
/// `BULLMQ_BENCH_RUNTIME=multi` runs tokio's multi-threaded runtime instead.
fn main() {
    let multi = std::env::var("BULLMQ_BENCH_RUNTIME").is_ok_and(|v| v == "multi");
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    };
    runtime.expect("tokio runtime").block_on(run());
}

async fn run() {
    let a = parse_args();
    if a.workload == "fair_compare" {
        let reps = std::env::var("BULLMQ_BENCH_REPS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
        return fair::compare(&a.url, a.n, a.concurrency, reps).await;
    }
    let version = format!("bullmq-ractor {}", env!("CARGO_PKG_VERSION"));
    let connection = Connection::from_url(&a.url);
    let q = Queue::new(&a.queue, QueueOptions::new(connection.clone())).await.expect("connect");
    let mut worker = None;
    let mut tree = None;
    let manual = std::env::var("BULLMQ_BENCH_MANUAL").is_ok_and(|v| v == "1");
    if a.workload == "process" {
        add_bulk(&q, &a, a.n).await;
        let opts = WorkerOptions::new(connection.clone()).concurrency(a.concurrency).autorun(false);
        if manual {
            worker = Some(ManualWorker::new(&a.queue, opts).await.expect("worker"));
        } else {
            let noop = processor(|_job, _ctx| async { Ok(JobOutcome::Completed(serde_json::Value::Null)) });
            tree = Some(Worker::spawn(&a.queue, noop, opts).await.expect("worker tree"));
        }
    }
    let mut latency_setup = None;
    if a.workload == "latency" {
        let opts = WorkerOptions::new(connection.clone());
        let noop = processor(|_job, _ctx| async { Ok(JobOutcome::Completed(serde_json::Value::Null)) });
        // The lifecycle events are not read here (the Node client attaches no listener either):
        // dropping the receiver stops the tree from queueing every event for nobody.
        let (w, events) = Worker::spawn(&a.queue, noop, opts).await.expect("worker tree");
        drop(events);
        let qe_opts = QueueEventsOptions::new(connection.clone());
        let qe = QueueEvents::new(&a.queue, qe_opts).await.expect("queue events");
        tokio::time::sleep(Duration::from_millis(200)).await;
        latency_setup = Some((w, qe));
    }
    let flow_count = a.n / 11;
    let mut flow_producer = None;
    let mut flow_setup = None;
    if a.workload == "flow_add" || a.workload == "flow_process" {
        let fp = flows::producer(connection.clone()).await;
        if a.workload == "flow_process" {
            flow_setup = Some(flows::process_setup(&fp, connection.clone(), &a.queue, flow_count, a.concurrency).await);
        }
        flow_producer = Some(fp);
    }
    let mut scheduler_setup = None;
    if a.workload == "scheduler" {
        scheduler_setup = Some(scheduler::setup(&q, connection.clone(), a.n, a.concurrency, a.inflight).await);
    }
    emit(json!({"phase": "ready", "client_version": version}));
    barrier();
    let t0 = Instant::now();
    let extra = match a.workload.as_str() {
        "add_single" => {
            let next = Arc::new(AtomicUsize::new(0));
            let lanes: Vec<_> = (0..a.inflight.min(a.n))
                .map(|_| {
                    let (q, next, opts, n) = (q.clone(), next.clone(), job_opts(&a), a.n);
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            q.add("job", json!({ "i": i }), opts.clone()).await.expect("add");
                        }
                    })
                })
                .collect();
            for l in lanes {
                l.await.expect("lane");
            }
            json!({})
        }
        "add_bulk" => {
            add_bulk(&q, &a, a.n).await;
            json!({})
        }
        "latency" => {
            let (w, qe) = latency_setup.take().expect("latency set up");
            let mut samples = Vec::with_capacity(a.n);
            // `BULLMQ_BENCH_SAMPLES=path` writes each sample (add done, finished; ms) for study.
            let dump = std::env::var("BULLMQ_BENCH_SAMPLES").ok();
            let mut adds = Vec::with_capacity(a.n);
            for i in 0..a.n {
                let t = Instant::now();
                let job = q.add("job", json!({ "i": i }), job_opts(&a)).await.expect("add");
                let added = t.elapsed().as_secs_f64() * 1000.0;
                qe.wait_until_finished(&job, Duration::from_secs(30)).await.expect("finished");
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
                adds.push(added);
            }
            if let Some(path) = dump {
                let lines: Vec<String> = adds.iter().zip(&samples).map(|(a, f)| format!("{a:.3} {f:.3}")).collect();
                std::fs::write(path, lines.join("\n")).expect("write samples");
            }
            let elapsed = t0.elapsed().as_secs_f64();
            samples.sort_by(|x, y| x.total_cmp(y));
            let pct =
                |p: f64| samples[((p / 100.0 * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
            let mean = samples.iter().sum::<f64>() / samples.len() as f64;
            let lat = json!({"p50": pct(50.0), "p95": pct(95.0), "p99": pct(99.0), "mean": mean, "max": samples[samples.len() - 1]});
            w.close_force().await;
            qe.close().await;
            json!({ "elapsed_override": elapsed, "latency_ms": lat })
        }
        "process" => match tree.take() {
            Some((w, mut events)) => {
                w.resume();
                let mut done = 0;
                while done < a.n {
                    match events.recv().await {
                        Some(WorkerEvent::JobCompleted { .. }) => done += 1,
                        Some(_) => {}
                        None => break,
                    }
                }
                let elapsed = t0.elapsed().as_secs_f64();
                w.close_force().await;
                json!({ "completed": done, "elapsed_override": elapsed })
            }
            None => run_process(&a, worker.take().expect("worker set up")).await,
        },
        "flow_add" => {
            flows::add(flow_producer.as_ref().expect("flow producer"), &a.queue, flow_count, a.inflight).await
        }
        "flow_process" => {
            let (w, events) = flow_setup.take().expect("flows set up");
            flows::process(w, events, flow_count, t0).await
        }
        "scheduler" => scheduler::measure(scheduler_setup.take().expect("scheduler set up")).await,
        other => {
            emit(json!({"phase": "unsupported", "reason": format!("unknown workload {other}")}));
            return;
        }
    };
    let elapsed = extra.get("elapsed_override").and_then(|v| v.as_f64()).unwrap_or_else(|| t0.elapsed().as_secs_f64());
    let extra = match a.workload.as_str() {
        "process" => json!({ "completed": extra.get("completed").cloned() }),
        "latency" => json!({ "latency_ms": extra.get("latency_ms").cloned() }),
        "scheduler" | "flow_add" | "flow_process" => {
            let mut e = extra.clone();
            if let Some(m) = e.as_object_mut() {
                m.remove("elapsed_override");
            }
            e
        }
        _ => json!({}),
    };
    let mut result = json!({"phase": "result", "elapsed_s": elapsed, "jobs": a.n});
    if let (Some(r), Some(e)) = (result.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    emit(result);
    barrier();
    q.close().await;
}
