//! PLACEHOLDER while the cron evaluator is written (replaced before commit).
#[derive(Debug, Clone)]
pub(crate) struct Cron;
impl Cron {
    pub(crate) fn parse(_pattern: &str, _tz: Option<&str>) -> Result<Cron, String> {
        Err("cron patterns are not wired yet".into())
    }
    pub(crate) fn next_after(&self, _current_ms: i64) -> Option<i64> {
        None
    }
    pub(crate) fn next_within(&self, _current_ms: i64, _start_ms: Option<i64>, _end_ms: Option<i64>) -> Option<i64> {
        None
    }
}
