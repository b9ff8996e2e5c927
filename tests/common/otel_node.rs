//! Running `tests/node/otel.mjs`, the Node side of the telemetry interop tests (BullMQ with
//! bullmq-otel and the OpenTelemetry Node SDK).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("node")
}

/// Installs the pinned Node dependencies when the telemetry packages are missing (a
/// `node_modules` made before they were added to package.json lacks them).
fn ensure_otel_deps() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = node_dir();
        let have = ["bullmq/package.json", "bullmq-otel/package.json", "@opentelemetry/sdk-trace-node/package.json"]
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

/// Runs `otel.mjs` with `args` (queue and Redis URL added) and returns its JSON reply.
pub async fn otel_node(queue: &str, mut args: Value) -> Value {
    ensure_otel_deps();
    args["queue"] = queue.into();
    args["url"] = super::redis().url.clone().into();
    let run = tokio::process::Command::new("node")
        .arg("otel.mjs")
        .arg(args.to_string())
        .current_dir(node_dir())
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("otel.mjs timed out").expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("otel.mjs printed no JSON ({e}): stdout={stdout} stderr={}", String::from_utf8_lossy(&output.stderr))
    });
    assert_eq!(v["ok"], true, "otel.mjs failed: {v} stderr={}", String::from_utf8_lossy(&output.stderr));
    v
}
