//! [`Queue::get_metrics`]: the per-minute counters workers keep when metrics are enabled
//! (PROTOCOL.md §18), read the way Node's `Queue.getMetrics` reads them.

use super::Queue;
use crate::error::{Error, Result};

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricsType {
    /// Completed jobs (`metrics:completed`).
    Completed,
    /// Failed jobs (`metrics:failed`).
    Failed,
}

impl MetricsType {
    fn as_str(self) -> &'static str {
        match self {
            MetricsType::Completed => "completed",
            MetricsType::Failed => "failed",
        }
    }
}

/// The `metrics:<type>` hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsMeta {
    /// Jobs counted so far (`count`).
    pub count: u64,
    /// When the last data point was pushed, ms (`prevTS`); 0 when none yet.
    pub prev_ts: u64,
    /// `count` at that time (`prevCount`).
    pub prev_count: u64,
}

/// Metrics of one type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// The counters hash.
    pub meta: MetricsMeta,
    /// Jobs per minute, newest first (the requested range of `metrics:<type>:data`).
    pub data: Vec<u64>,
    /// How many data points the list holds in total.
    pub count: u64,
}

/// Node reads these with `parseInt`/unary plus; a missing or odd value counts as 0 here
/// rather than NaN.
fn num(s: Option<String>) -> u64 {
    s.and_then(|s| {
        let t = s.trim();
        t.parse::<u64>().ok().or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
    })
    .unwrap_or(0)
}

impl Queue {
    /// Reads the completed or failed metrics: the counters hash, data points `start..=end`
    /// of the per-minute list (list indexes: 0 is the newest minute, negative counts from
    /// the oldest; Node's defaults are 0 and -1) and the list's length, in one MULTI.
    pub async fn get_metrics(&self, kind: MetricsType, start: i64, end: i64) -> Result<Metrics> {
        let key = self.keys().key(&format!("metrics:{}", kind.as_str()));
        let data_key = format!("{key}:data");
        let mut conn = self.client()?.conn();
        let (meta, data, count): (Vec<Option<String>>, Vec<String>, u64) = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(&key)
            .arg("count")
            .arg("prevTS")
            .arg("prevCount")
            .cmd("LRANGE")
            .arg(&data_key)
            .arg(start)
            .arg(end)
            .cmd("LLEN")
            .arg(&data_key)
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::redis("getMetrics", None, e))?;
        let mut meta = meta.into_iter();
        Ok(Metrics {
            meta: MetricsMeta {
                count: num(meta.next().flatten()),
                prev_ts: num(meta.next().flatten()),
                prev_count: num(meta.next().flatten()),
            },
            data: data.into_iter().map(|d| num(Some(d))).collect(),
            count,
        })
    }
}

#[cfg(feature = "metrics")]
impl Queue {
    /// Reads the job counts of `states` (all of Node's defaults when empty) and records each as
    /// the gauge `bullmq.queue.jobs`, labelled `bullmq.queue.name` and `bullmq.queue.jobs.state`
    /// (Node's `recordJobCountsMetric`). Returns the counts.
    pub async fn record_job_counts_metric(
        &self,
        states: &[crate::job::JobState],
    ) -> Result<std::collections::HashMap<crate::job::JobState, u64>> {
        let counts = if states.is_empty() { self.get_counts().await? } else { self.get_job_counts(states).await? };
        crate::telemetry::record_queue_jobs(self.name(), &counts);
        Ok(counts)
    }
}
