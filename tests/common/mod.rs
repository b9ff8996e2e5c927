//! Test support: a private `redis-server` per test binary (DESIGN.md §6), unique queue names,
//! raw Redis access for asserting wire state, and `eventually` polling.
#![allow(dead_code)]

pub mod cluster;
pub mod proxy;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bullmq::{Connection, Queue, QueueOptions};

/// A redis-server owned by this test binary. A shell watchdog kills it when the test process
/// exits (statics are never dropped), so no server outlives its tests.
pub struct TestRedis {
    pub url: String,
    pub port: u16,
}

static REDIS: OnceLock<TestRedis> = OnceLock::new();

/// A port nothing listens on, never the same twice in this process: two tests asking at once
/// (one starting the shared server, one its own) could otherwise be handed the same port
/// before either server binds it, share one server, and one test's restart of "its" server
/// then cut the other's connections.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Starts (once) the private server, or uses `REDIS_URL` when it is set.
pub fn redis() -> &'static TestRedis {
    REDIS.get_or_init(|| {
        if let Ok(url) = std::env::var("REDIS_URL") {
            let port = url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(6379);
            return TestRedis { url, port };
        }
        let port = free_port();
        start_server(port);
        TestRedis { url: format!("redis://127.0.0.1:{port}"), port }
    })
}

/// Starts redis-server on `port` (no persistence) with a watchdog tied to this process.
pub fn start_server(port: u16) {
    start_server_args(port, "--appendonly no");
}

/// [`start_server`] with more server arguments.
#[allow(clippy::zombie_processes)] // the watchdog shell outlives this call on purpose
pub fn start_server_args(port: u16, args: &str) {
    let me = std::process::id();
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' {args} --daemonize no \
         --loglevel warning >/dev/null 2>&1 & R=$!; \
         while kill -0 {me} 2>/dev/null && kill -0 $R 2>/dev/null; do sleep 0.5; done; kill $R 2>/dev/null"
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (is it installed?)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start on port {port}");
}

/// A queue name unique to this test binary run.
pub fn qname(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The test binary's Redis, prefix `bull`.
pub fn conn() -> Connection {
    Connection::from_url(redis().url.clone())
}

/// The test binary's Redis with the prefix of `q`.
pub fn conn_for(q: &Queue) -> Connection {
    conn().prefix(q.prefix())
}

/// Worker options on the test binary's Redis and the prefix of `q`.
pub fn worker_opts(q: &Queue) -> bullmq::WorkerOptions {
    bullmq::WorkerOptions::new(conn_for(q))
}

pub async fn queue(tag: &str) -> Queue {
    Queue::new(&qname(tag), QueueOptions::new(conn())).await.unwrap()
}

/// A plain connection for asserting what is in Redis.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis().url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Runs a raw command.
pub async fn cmd<T: redis::FromRedisValue>(args: &[&str]) -> T {
    let mut c = raw().await;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut c).await.unwrap()
}

/// The events of a queue's stream as (event name, field map) pairs, oldest first. Read in pages:
/// one reply of a long stream (the full chaos run keeps ~30,000 events) outlasts the
/// connection's response timeout in a debug build.
pub async fn events(q: &Queue) -> Vec<(String, std::collections::HashMap<String, String>)> {
    let key = format!("{}:{}:events", q.prefix(), q.name());
    let mut c = raw().await;
    let mut out = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(2000)
            .query_async(&mut c)
            .await
            .unwrap();
        let Some(last) = reply.ids.last().map(|e| e.id.clone()) else { break };
        for e in reply.ids {
            let mut m = std::collections::HashMap::new();
            for (k, v) in e.map {
                m.insert(k, redis::from_redis_value::<String>(v).unwrap());
            }
            out.push((m.get("event").cloned().unwrap_or_default(), m));
        }
        start = format!("({last}");
    }
    out
}

/// Until `cond` has held for every poll over `window` (a negative check: nothing happens).
pub async fn holds_for<F, Fut>(what: &str, window: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + window;
    while Instant::now() < until {
        assert!(cond().await, "no longer true: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `cond` until it holds or `timeout` passes; panics with `what` on timeout.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Key helper: `bull:<queue>:<suffix>`.
pub fn k(q: &Queue, suffix: &str) -> String {
    format!("{}:{}:{}", q.prefix(), q.name(), suffix)
}

/// A manual worker on the same queue as `q` (its options on the test Redis and `q`'s prefix).
pub async fn worker_for(q: &Queue, opts: bullmq::WorkerOptions) -> bullmq::ManualWorker {
    bullmq::ManualWorker::new(q.name(), opts.connection(conn_for(q))).await.unwrap()
}

/// Non-blocking fetch options.
pub fn now_only() -> bullmq::worker::GetNextJobOptions {
    bullmq::worker::GetNextJobOptions::no_wait()
}

/// Fetch options that wait at most `ms`.
pub fn block(ms: u64) -> bullmq::worker::GetNextJobOptions {
    bullmq::worker::GetNextJobOptions::wait(Duration::from_millis(ms))
}
pub mod node;
pub mod otel_node;

/// Writes a job hash by hand, as another client could have left it (not in any state yet).
pub async fn raw_job(q: &Queue, id: &str, name: &str) {
    let key = k(q, id);
    cmd::<()>(&[
        "HSET",
        &key,
        "name",
        name,
        "data",
        "{}",
        "opts",
        "{}",
        "timestamp",
        "1",
        "delay",
        "0",
        "priority",
        "0",
    ])
    .await;
}

/// Writes a parent job waiting for children, as a flow producer leaves it, and returns the
/// options that make a new job its child.
pub async fn waiting_parent(q: &Queue, id: &str) -> bullmq::ParentOptions {
    raw_job(q, id, "parent").await;
    cmd::<()>(&["ZADD", &k(q, "waiting-children"), "1", id]).await;
    bullmq::ParentOptions::new(id, q.qualified_name())
}

/// Standard base64 with padding, as Node names connections (`prefix:base64(queue)`).
pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The next worker event matching `pred` (others are skipped), within 15 s.
pub async fn wait_for(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<bullmq::WorkerEvent>,
    mut pred: impl FnMut(&bullmq::WorkerEvent) -> bool,
) -> bullmq::WorkerEvent {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e = rx.recv().await.expect("events open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

/// How many times this test binary's Redis ran `name` (INFO commandstats; 0 if never).
pub async fn command_calls(name: &str) -> u64 {
    let info: String = cmd(&["INFO", "commandstats"]).await;
    let prefix = format!("cmdstat_{name}:");
    info.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.split(['=', ',']).nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits for `n` JobCompleted events; a worker error fails the test.
pub async fn await_completions(rx: &mut tokio::sync::mpsc::UnboundedReceiver<bullmq::WorkerEvent>, n: u64) {
    let mut completed = 0;
    while completed < n {
        match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.unwrap().unwrap() {
            bullmq::WorkerEvent::JobCompleted { .. } => completed += 1,
            bullmq::WorkerEvent::Error { message } => panic!("{message}"),
            _ => {}
        }
    }
}

/// Adds `n` jobs named `name` with data `{"i": 0..n}` and default options.
pub async fn add_numbered(q: &Queue, name: &str, n: u64) {
    for i in 0..n {
        q.add(name, serde_json::json!({ "i": i }), bullmq::JobOptions::default()).await.unwrap();
    }
}

/// Runs per key, shared with a [`counting_processor`].
pub type Runs = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>;

/// A processor whose jobs take `work` each and complete with 1, counting runs per `key(job)`.
pub fn counting_processor(work: Duration, key: fn(&bullmq::Job) -> String) -> (bullmq::Processor, Runs) {
    let runs: Runs = Default::default();
    let seen = runs.clone();
    let p = bullmq::processor(move |job, _ctx| {
        *seen.lock().unwrap().entry(key(&job)).or_default() += 1;
        async move {
            tokio::time::sleep(work).await;
            Ok(bullmq::JobOutcome::Completed(serde_json::json!(1)))
        }
    });
    (p, runs)
}

/// Re-executes this test binary to run only `test` (a worker that runs until killed), with
/// `envs` and the test Redis's URL set: a worker in a process of its own.
pub fn spawn_test_process(test: &str, envs: &[(&str, &str)]) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .envs(envs.iter().copied())
        .env("REDIS_URL", &redis().url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Keeps the Redis at `url` busy for `spell` with a read-only script from a connection of its
/// own, `busy-reply-threshold` set to 1 s: after the first second every other client's call is
/// refused with BUSY. Returns when the script began and ended.
pub async fn busy_spell(url: &str, spell: Duration) -> (Instant, Instant) {
    let client = redis::Client::open(url).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let _: () =
        redis::cmd("CONFIG").arg("SET").arg("busy-reply-threshold").arg(1000).query_async(&mut raw).await.unwrap();
    // Synchronous: it has no reply timeout, where an async connection gives up after a while.
    let mut other = client.get_connection().unwrap();
    let spin = "local t0 = redis.call('TIME') \
                local function us(t) return tonumber(t[1]) * 1000000 + tonumber(t[2]) end \
                while us(redis.call('TIME')) - us(t0) < tonumber(ARGV[1]) do end \
                return 1";
    let began = Instant::now();
    let micros = spell.as_micros() as u64;
    tokio::task::spawn_blocking(move || {
        let r: redis::RedisResult<i64> = redis::cmd("EVAL").arg(spin).arg(0).arg(micros).query(&mut other);
        r.expect("the busy script ran");
    })
    .await
    .unwrap();
    (began, Instant::now())
}

/// Starts redis-server on `port` with its data in `dir` and an append-only file (fsync every
/// second), so that a graceful restart (`SHUTDOWN`, then this again) keeps every key.
pub fn start_persistent_server(port: u16, dir: &std::path::Path) {
    start_server_args(port, &format!("--appendonly yes --appendfsync everysec --dir {}", dir.display()));
}

/// A processor that completes every job at once and records the ids it ran, in order.
pub fn recording_processor() -> (bullmq::Processor, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let runs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r = runs.clone();
    let p = bullmq::processor(move |job, _ctx| {
        let r = r.clone();
        async move {
            r.lock().unwrap().push(job.id.clone());
            Ok(bullmq::JobOutcome::Completed(serde_json::json!({"ran": job.id})))
        }
    });
    (p, runs)
}
