//! Finds a Redis for the examples: `REDIS_URL`, else 127.0.0.1:6379, else a private
//! `redis-server` started here (and stopped when the returned guard is dropped).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Keeps a private redis-server alive while in scope.
pub struct RedisGuard {
    pub url: String,
    child: Option<Child>,
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn find_or_start_redis() -> RedisGuard {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return RedisGuard { url, child: None };
    }
    if std::net::TcpStream::connect_timeout(&"127.0.0.1:6379".parse().unwrap(), Duration::from_millis(300)).is_ok() {
        return RedisGuard { url: "redis://127.0.0.1:6379".into(), child: None };
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("no Redis at REDIS_URL or 127.0.0.1:6379, and redis-server could not be started");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("started a private redis-server on port {port}");
    RedisGuard { url: format!("redis://127.0.0.1:{port}"), child: Some(child) }
}
