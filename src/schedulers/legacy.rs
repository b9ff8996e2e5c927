//! Telling a 5.x repeatable-job key (`name:id:endDate:tz:pattern`) from a job scheduler id
//! (PROTOCOL.md §15.6, §15.8). Such keys are listed and removable, never created or iterated.

/// True when `key` looks like a legacy repeat key: five or more `:`-separated parts, the third
/// (end date) empty or numeric, and a last part that is a cron pattern (has a space) or an
/// `every` interval (all digits). A scheduler id may look like this too; then the scheduler
/// hash's `ic` field decides.
pub(crate) fn has_legacy_shape(key: &str) -> bool {
    let mut parts = key.splitn(5, ':');
    let (Some(_name), Some(_id), Some(end), Some(_tz), Some(rest)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !end.is_empty() && !digits(end) {
        return false;
    }
    !rest.is_empty() && (rest.contains(' ') || digits(rest))
}

#[cfg(test)]
mod tests {
    use super::has_legacy_shape;

    #[test]
    fn legacy_keys_are_told_from_scheduler_ids() {
        assert!(has_legacy_shape("send::::*/5 * * * *"));
        assert!(has_legacy_shape("send:job1:1700000000000:Europe/Berlin:0 9 * * 1"));
        assert!(has_legacy_shape("tick::::1000"));
        assert!(!has_legacy_shape("daily-report"));
        assert!(!has_legacy_shape("a:b:c:d"));
        assert!(!has_legacy_shape("a:b:notanumber:d:1000"));
        assert!(!has_legacy_shape("a:b::d:"));
        assert!(!has_legacy_shape("a:b::d:x1"));
    }
}
