//! A one-node Redis Cluster: a redis-server in cluster mode that serves every slot, for the
//! tests of what cluster mode changes (hash-slot rules).

use std::time::{Duration, Instant};

/// Starts a redis-server with `--cluster-enabled yes` on a free port (its `nodes.conf` in a
/// fresh directory under the system's temp dir), assigns it all 16384 slots and waits until
/// it reports `cluster_state:ok`. Returns its URL. The server ends with the test process, as
/// [`super::start_server`]'s does.
pub async fn start_cluster_server() -> String {
    let port = super::free_port();
    let dir = std::env::temp_dir().join(format!("bullmq-cluster-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    super::start_server_args(
        port,
        &format!(
            "--appendonly no --cluster-enabled yes --cluster-config-file {} --dir {}",
            dir.join("nodes.conf").display(),
            dir.display()
        ),
    );
    let url = format!("redis://127.0.0.1:{port}");
    let mut c = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let range: redis::RedisResult<()> =
        redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383).query_async(&mut c).await;
    if range.is_err() {
        // Redis before 7.0 has no ADDSLOTSRANGE.
        let _: () = redis::cmd("CLUSTER")
            .arg("ADDSLOTS")
            .arg((0..16384).collect::<Vec<u16>>())
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut c).await.unwrap();
        if info.lines().any(|l| l.trim() == "cluster_state:ok") {
            return url;
        }
        assert!(Instant::now() < deadline, "the one-node cluster on {port} did not reach cluster_state:ok: {info}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
