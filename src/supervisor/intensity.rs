//! Restart intensity: OTP's "at most N restarts within T". The (N+1)-th restart inside the
//! window is a meltdown: the supervisor gives up and fails, escalating to its own parent, so a
//! child that crashes in a loop cannot spin forever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most `max_restarts` restarts within `within`; one more is a meltdown. Default 5 in 10 s.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts allowed inside the window.
    pub max_restarts: u32,
    /// The window.
    pub within: Duration,
}

impl Default for RestartIntensity {
    /// 5 restarts in 10 s (DESIGN.md §5).
    fn default() -> Self {
        RestartIntensity { max_restarts: 5, within: Duration::from_secs(10) }
    }
}

impl RestartIntensity {
    /// At most `max_restarts` restarts within `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        RestartIntensity { max_restarts, within }
    }
}

/// The restarts recorded inside the current window.
#[derive(Debug, Default)]
pub(crate) struct RestartLog {
    times: VecDeque<Instant>,
}

impl RestartLog {
    /// Records a restart at `now`; returns false when it exceeds the intensity (a meltdown).
    pub(crate) fn allow(&mut self, limits: RestartIntensity, now: Instant) -> bool {
        while let Some(first) = self.times.front() {
            if now.duration_since(*first) > limits.within {
                self.times.pop_front();
            } else {
                break;
            }
        }
        if self.times.len() as u32 >= limits.max_restarts {
            return false;
        }
        self.times.push_back(now);
        true
    }

    /// Restarts inside the window.
    pub(crate) fn count(&self) -> usize {
        self.times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meltdown_at_n_plus_one() {
        let limits = RestartIntensity { max_restarts: 3, within: Duration::from_secs(10) };
        let mut log = RestartLog::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(log.allow(limits, t0 + Duration::from_millis(i)), "restart {i} allowed");
        }
        assert!(!log.allow(limits, t0 + Duration::from_millis(5)), "the 4th within the window melts down");
        // Once the window has moved past the old restarts, restarting is allowed again.
        let mut log = RestartLog::default();
        for i in 0..3 {
            assert!(log.allow(limits, t0 + Duration::from_secs(i * 4)));
        }
        assert!(log.allow(limits, t0 + Duration::from_secs(12)));
    }

    #[test]
    fn zero_means_never_restart() {
        let mut log = RestartLog::default();
        assert!(!log.allow(RestartIntensity { max_restarts: 0, within: Duration::from_secs(1) }, Instant::now()));
    }
}
