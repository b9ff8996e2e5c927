//! Running the real Node BullMQ (tests/node) from the tests.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// The npm packages the interop tests run against.
pub const NODE_PACKAGES: [&str; 2] = ["bullmq", "bullmq5"];

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("node")
}

/// Installs the pinned Node dependencies once (`npm install`, which follows the lockfile) when
/// missing. (`npm ci` rejects the lockfiles npm 11 writes for msgpackr-extract.)
pub fn ensure_node_deps() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = node_dir();
        // Every package of package.json: a `node_modules` made before one was added lacks it.
        let have = [
            "bullmq/package.json",
            "bullmq5/package.json",
            "bullmq-otel/package.json",
            "@opentelemetry/sdk-trace-node/package.json",
        ]
        .iter()
        .all(|p| dir.join("node_modules").join(p).exists());
        if have {
            return;
        }
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the interop tests");
        assert!(status.success(), "npm install failed in tests/node");
    });
}

/// Runs `driver.mjs` with `args` (the Redis URL is added) and returns its JSON reply.
pub async fn node(pkg: &str, queue: &str, args: Value) -> Value {
    node_script("driver.mjs", pkg, queue, args).await
}

/// Runs the Node script `script` (in tests/node) with `args` and returns its JSON reply.
pub async fn node_script(script: &str, pkg: &str, queue: &str, mut args: Value) -> Value {
    ensure_node_deps();
    args["pkg"] = pkg.into();
    args["queue"] = queue.into();
    args["url"] = super::redis().url.clone().into();
    let dir = node_dir();
    let run = tokio::process::Command::new("node")
        .arg(script)
        .arg(args.to_string())
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("node driver timed out").expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("node driver printed no JSON ({e}): stdout={stdout} stderr={}", String::from_utf8_lossy(&output.stderr))
    });
    assert_eq!(v["ok"], true, "node driver failed: {v} stderr={}", String::from_utf8_lossy(&output.stderr));
    v
}
