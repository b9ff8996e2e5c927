//! Generic OTP-style supervision on ractor's supervision events, with no Redis in it: child
//! specs (permanent / transient / temporary), one_for_one / one_for_all / rest_for_one, restart
//! intensity with escalation, restart backoff and ordered shutdown. ractor itself only reports
//! that a child started, stopped or failed; everything about *what to do then* lives here.
//!
//! The worker tree (the next milestone) is built on it; until then only the tests use it.
#![allow(dead_code)]

mod actor;
mod events;
mod intensity;
mod spec;
#[cfg(test)]
mod tests;

#[allow(unused_imports)]
pub(crate) use actor::{Supervisor, SupervisorArgs, SupervisorMsg};
#[allow(unused_imports)]
pub(crate) use events::SupervisorEvent;
#[allow(unused_imports)]
pub(crate) use intensity::{RestartIntensity, RestartLog};
#[allow(unused_imports)]
pub(crate) use spec::{ChildSpec, Restart, RestartBackoff, Strategy};
