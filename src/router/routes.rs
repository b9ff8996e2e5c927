//! [`Router`]: topics to handlers, with per-topic defaults.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::handler::{Handled, JobMeta};
use super::pattern::matches;
use crate::actors::{JobContext, Processor};
use crate::error::Result;
use crate::job::{Backoff, Job, JobError, JobOptions};
use crate::queue::Queue;

/// The future a handler returns, boxed.
type HandlerFuture = std::pin::Pin<Box<dyn Future<Output = std::result::Result<Handled, JobError>> + Send>>;
type Handler = Arc<dyn Fn(Job, JobMeta, JobContext) -> HandlerFuture + Send + Sync>;

/// What jobs of a topic get unless their own options say otherwise: at enqueue (priority,
/// attempts, backoff, timeout, through [`Router::enqueue`]) and when they run (the timeout).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicDefaults {
    /// Priority (1 is the highest).
    pub priority: Option<u32>,
    /// Attempts in all (Bedrock's max retries + 1).
    pub attempts: Option<u32>,
    /// Backoff between attempts.
    pub backoff: Option<Backoff>,
    /// The job is cancelled, failed and retried when it runs longer than this.
    pub timeout: Option<Duration>,
}

impl TopicDefaults {
    /// No defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Builder: priority.
    pub fn priority(mut self, p: u32) -> Self {
        self.priority = Some(p);
        self
    }
    /// Builder: attempts in all.
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = Some(n);
        self
    }
    /// Builder: backoff.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = Some(b);
        self
    }
    /// Builder: timeout.
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    fn as_options(&self) -> JobOptions {
        JobOptions {
            priority: self.priority,
            attempts: self.attempts,
            backoff: self.backoff.clone(),
            timeout: self.timeout,
            ..Default::default()
        }
    }
}

#[derive(Clone)]
struct Route {
    pattern: String,
    handler: Handler,
    defaults: TopicDefaults,
}

/// Topics to handlers. Exact topics win over patterns; patterns are tried in the order they
/// were added. Build it, then run [`Router::processor`] in a worker.
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<Vec<Route>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.routes.iter().map(|r| &r.pattern)).finish()
    }
}

impl Router {
    /// No routes: every job is discarded with reason `no handler`.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, pattern: &str, handler: Handler, defaults: TopicDefaults) -> Self {
        let routes = Arc::make_mut(&mut self.routes);
        routes.push(Route { pattern: pattern.to_owned(), handler, defaults });
        self
    }

    /// Routes `topic` (exact, or a pattern with `*`) to `handler`, which gets the whole job.
    pub fn route<F, Fut>(self, topic: &str, handler: F) -> Self
    where
        F: Fn(Job, JobMeta, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Handled, JobError>> + Send + 'static,
    {
        self.route_with(topic, TopicDefaults::default(), handler)
    }

    /// [`route`](Router::route) with the topic's defaults.
    pub fn route_with<F, Fut>(self, topic: &str, defaults: TopicDefaults, handler: F) -> Self
    where
        F: Fn(Job, JobMeta, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Handled, JobError>> + Send + 'static,
    {
        let h: Handler = Arc::new(move |job, meta, ctx| Box::pin(handler(job, meta, ctx)));
        self.with(topic, h, defaults)
    }

    /// Routes `topic` to a handler of typed payloads: the job's data is decoded as `T` first; a
    /// payload that does not decode is discarded (retrying cannot fix it), with the reason.
    pub fn typed<T, F, Fut>(self, topic: &str, defaults: TopicDefaults, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(T, JobMeta, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Handled, JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let h: Handler = Arc::new(move |job: Job, meta, ctx| {
            let handler = handler.clone();
            Box::pin(async move {
                match serde_json::from_value::<T>(job.data.clone()) {
                    Ok(payload) => handler(payload, meta, ctx).await,
                    Err(e) => Ok(Handled::Discard(format!("payload of topic {:?} does not decode: {e}", meta.topic))),
                }
            })
        });
        self.with(topic, h, defaults)
    }

    fn find(&self, topic: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.pattern == topic)
            .or_else(|| self.routes.iter().find(|r| matches(&r.pattern, topic)))
    }

    /// The defaults of `topic`'s route, if it has one.
    pub fn defaults_for(&self, topic: &str) -> Option<&TopicDefaults> {
        self.find(topic).map(|r| &r.defaults)
    }

    /// Adds a job of `topic` to `tenant` (a queue) with the topic's defaults under `opts` (the
    /// job's own options win).
    pub async fn enqueue(&self, tenant: &Queue, topic: &str, payload: impl Serialize, opts: JobOptions) -> Result<Job> {
        let defaults = self.defaults_for(topic).map(TopicDefaults::as_options).unwrap_or_default();
        tenant.add(topic, payload, opts.merged_over(&defaults)).await
    }

    /// The processor a worker runs: each job to its topic's handler (its timeout armed first),
    /// or discarded with reason `no handler`.
    pub fn processor(&self) -> Processor {
        let router = self.clone();
        Arc::new(move |job: Job, ctx: JobContext| {
            let router = router.clone();
            Box::pin(async move {
                let Some(route) = router.find(&job.name) else {
                    return Err(JobError::unrecoverable("no handler"));
                };
                // The job's own timeout is armed by its actor; the topic's applies otherwise.
                if job.opts.timeout.is_none() {
                    if let Some(after) = route.defaults.timeout {
                        ctx.set_timeout(after);
                    }
                }
                let meta = JobMeta::of(&job, job.queue_name());
                let handler = route.handler.clone();
                handler(job, meta, ctx).await?.into_outcome()
            })
        })
    }
}
