//! The lock a worker holds on an active job, and a job taken with it.

use std::sync::Arc;

use crate::job::Job;

/// The lock token an active job is held under: issued when the job is taken, shown with every
/// move of it, and renewed by the lock renewer. Never empty. Cheap to clone (the renewer and the
/// job registry see the same token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    token: Arc<str>,
}

impl Lease {
    pub(crate) fn new(token: impl Into<Arc<str>>) -> Self {
        let token = token.into();
        debug_assert!(!token.is_empty(), "a lease has a token");
        Lease { token }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

/// A job just taken: active in Redis and locked under its lease. Boxed where it travels: a
/// `Job` is over a kilobyte, and actors move their arguments several times while they start.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) job: Job,
    pub(crate) lease: Lease,
}
