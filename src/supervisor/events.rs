//! Lifecycle events of a supervisor's children.

use std::time::Duration;

/// What happened to a supervised child. Delivered losslessly (unbounded channels) to every
/// subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SupervisorEvent {
    ChildStarted { supervisor: String, child: String },
    ChildRestarted { supervisor: String, child: String, restarts: usize },
    ChildFailed { supervisor: String, child: String, reason: String },
    ChildStopped { supervisor: String, child: String },
    Meltdown { supervisor: String, restarts: u32, within: Duration },
}
