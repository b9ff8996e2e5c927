//! Lifecycle events of a supervisor's children, and the observers that receive them.

use std::fmt;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

/// What happened to a supervised child. Delivered losslessly, in order, to every subscriber.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupervisorEvent {
    /// A child started (at the supervisor's start, or added later).
    ChildStarted {
        /// The supervisor's name.
        supervisor: String,
        /// The child's id.
        child: String,
    },
    /// A failed (or, if permanent, stopped) child was started again.
    ChildRestarted {
        /// The supervisor's name.
        supervisor: String,
        /// The child's id.
        child: String,
        /// Restarts inside the intensity window.
        restarts: usize,
    },
    /// A child failed (returned an error or panicked), or could not be restarted.
    ChildFailed {
        /// The supervisor's name.
        supervisor: String,
        /// The child's id.
        child: String,
        /// Why.
        reason: String,
    },
    /// A child stopped normally, or was stopped by its supervisor.
    ChildStopped {
        /// The supervisor's name.
        supervisor: String,
        /// The child's id.
        child: String,
    },
    /// Children failed more often than the restart intensity allows: the supervisor gives up
    /// and fails, escalating to its own parent.
    Meltdown {
        /// The supervisor's name.
        supervisor: String,
        /// The restarts allowed.
        restarts: u32,
        /// Within this window.
        within: Duration,
    },
}

impl fmt::Display for SupervisorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorEvent::ChildStarted { supervisor, child } => write!(f, "{supervisor}: {child} started"),
            SupervisorEvent::ChildRestarted { supervisor, child, restarts } => {
                write!(f, "{supervisor}: {child} restarted ({restarts} restarts in the window)")
            }
            SupervisorEvent::ChildFailed { supervisor, child, reason } => {
                write!(f, "{supervisor}: {child} failed: {reason}")
            }
            SupervisorEvent::ChildStopped { supervisor, child } => write!(f, "{supervisor}: {child} stopped"),
            SupervisorEvent::Meltdown { supervisor, restarts, within } => {
                write!(f, "{supervisor}: meltdown, more than {restarts} restarts within {within:?}")
            }
        }
    }
}

/// Called for each event, in order, on the supervisor's task (or on the task that started a
/// temporary child); returns false to be removed. Must not block.
pub(crate) type Observer = Box<dyn Fn(&SupervisorEvent) -> bool + Send + Sync>;

/// An observer that forwards events into a channel until the receiver is dropped.
pub(crate) fn channel_observer(tx: UnboundedSender<SupervisorEvent>) -> Observer {
    Box::new(move |e| tx.send(e.clone()).is_ok())
}
