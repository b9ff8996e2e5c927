//! OTP-style supervision on ractor's supervision events, with no Redis in it: child specs
//! (permanent / transient / temporary), one_for_one / one_for_all / rest_for_one, restart
//! intensity with escalation, restart backoff and ordered shutdown. ractor itself only reports
//! that a child started, stopped or failed; everything about *what to do then* lives here.
//!
//! The worker tree is built on it, [`QueueEvents`](crate::QueueEvents) too, and users compose
//! their own trees with [`Supervisor`] (see its docs for a tree of two workers and a
//! `QueueEvents`).

mod actor;
mod events;
mod handle;
mod intensity;
mod spec;
mod task_guard;
#[cfg(test)]
mod tests;

pub(crate) use events::Observer;
pub use events::SupervisorEvent;
pub use handle::{Supervisor, SupervisorOptions};
pub use intensity::RestartIntensity;
pub use spec::{ChildSpec, Restart, RestartBackoff, Strategy};
pub(crate) use task_guard::TaskGuard;
