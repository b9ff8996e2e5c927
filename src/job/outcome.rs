//! What a processor returns: an outcome, or an error that says why and where the job failed.

use std::time::Duration;

use serde_json::Value;

/// What a processor asks for when it returns normally.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done, with this return value (`Value::Null` for none).
    Completed(Value),
    /// Run again after this long, without using an attempt.
    Delay(Duration),
    /// Rate-limit the queue for this long and put the job back in front, without using an
    /// attempt (BullMQ's manual rate limit). This worker takes no job until the window is over;
    /// other workers of the queue that have a limiter do the same.
    RateLimit(Duration),
    /// Put the job back to waiting, without using an attempt.
    Wait,
    /// Wait for the job's children (flows): the job moves to waiting-children and runs again
    /// once the last child finished, without using an attempt. When no child is pending any
    /// more it goes straight back to waiting, so the processor runs again and finds them done.
    WaitingChildren,
}

impl JobOutcome {
    /// Completed with a value (any `Serialize`; a value that cannot be serialised is stored as
    /// `null`).
    pub fn completed(value: impl serde::Serialize) -> Self {
        JobOutcome::Completed(serde_json::to_value(value).unwrap_or(Value::Null))
    }
}

/// Why a job failed: the message stored as `failedReason`, and where it happened, stored in the
/// job's `stacktrace` (what dashboards such as bull-board show in their error tab).
///
/// The stack entry is built from the place the error was made ([`new`](Self::new), or the `?`
/// that converted another error through `From`), the error's source chain and a backtrace when
/// one was captured: by the processor ([`with_backtrace`](Self::with_backtrace)), or here when
/// `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asks for it. [`with_stack`](Self::with_stack)
/// replaces it with text of your own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The failed reason stored in `failedReason`.
    pub message: String,
    /// A stack trace of your own, stored instead of the one built from the error.
    pub stack: Option<String>,
    /// No retry, whatever the attempts left (Node's `UnrecoverableError`).
    pub unrecoverable: bool,
    location: Option<&'static std::panic::Location<'static>>,
    causes: Vec<String>,
    backtrace: Option<String>,
}

/// A backtrace as text, when one was captured (`RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` set).
fn captured(bt: &std::backtrace::Backtrace) -> Option<String> {
    (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string())
}

impl JobError {
    #[track_caller]
    fn at(message: String, unrecoverable: bool) -> Self {
        JobError {
            message,
            stack: None,
            unrecoverable,
            location: Some(std::panic::Location::caller()),
            causes: Vec::new(),
            backtrace: captured(&std::backtrace::Backtrace::capture()),
        }
    }

    /// A failure that may be retried, recorded as happening where this is called.
    #[track_caller]
    pub fn new(message: impl Into<String>) -> Self {
        Self::at(message.into(), false)
    }

    /// A failure that is never retried, recorded as happening where this is called.
    #[track_caller]
    pub fn unrecoverable(message: impl Into<String>) -> Self {
        Self::at(message.into(), true)
    }

    /// A failure from any error: its message, its source chain, and where this is called.
    #[track_caller]
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut e = Self::at(err.to_string(), false);
        let mut source = err.source();
        while let Some(s) = source {
            e.causes.push(s.to_string());
            source = s.source();
        }
        e
    }

    /// A failure with no place in the processor to point at: a panic (where it panicked is not
    /// known here), a cancel whose grace ran out.
    pub(crate) fn bare(message: String) -> Self {
        JobError { message, stack: None, unrecoverable: false, location: None, causes: Vec::new(), backtrace: None }
    }

    /// Makes it unrecoverable (no retry).
    pub fn into_unrecoverable(mut self) -> Self {
        self.unrecoverable = true;
        self
    }

    /// Replaces the stack trace with your own text.
    pub fn with_stack(mut self, stack: impl Into<String>) -> Self {
        self.stack = Some(stack.into());
        self
    }

    /// Adds a backtrace the processor captured (shown when it was captured).
    pub fn with_backtrace(mut self, backtrace: &std::backtrace::Backtrace) -> Self {
        self.backtrace = captured(backtrace).or(self.backtrace);
        self
    }

    /// Where the error was made, if known.
    pub fn location(&self) -> Option<&'static std::panic::Location<'static>> {
        self.location
    }

    /// The entry appended to the job's `stacktrace`: the message, `at <file>:<line>:<column>`,
    /// one `caused by:` line per source, then the backtrace if one was captured.
    pub fn stack_text(&self) -> String {
        if let Some(stack) = &self.stack {
            return stack.clone();
        }
        let mut out = self.message.clone();
        if let Some(at) = self.location {
            out.push_str(&format!("\n    at {}:{}:{}", at.file(), at.line(), at.column()));
        }
        for cause in &self.causes {
            out.push_str(&format!("\n    caused by: {cause}"));
        }
        if let Some(bt) = &self.backtrace {
            out.push_str("\nstack backtrace:\n");
            out.push_str(bt);
        }
        out
    }

    /// The same failure under another message, the original kept as its first cause (a
    /// honoured cancel is stored as `job cancelled: <reason>`, caused by what the processor said).
    pub(crate) fn reworded(mut self, message: String) -> Self {
        let said = std::mem::replace(&mut self.message, message);
        self.causes.insert(0, said);
        self
    }
}

impl<E: std::error::Error + 'static> From<E> for JobError {
    /// Any error, with its source chain, recorded where the `?` (or `into`) converted it.
    #[track_caller]
    fn from(err: E) -> Self {
        JobError::from_error(&err)
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
