//! What a flow is made of ([`FlowJob`]) and what adding it returns ([`JobNode`]).

use serde_json::Value;

use crate::job::{Job, JobOptions};

/// One node of a flow: a job in `queue_name` with its children, added before it runs. A node
/// with children waits (`waiting-children`) until every child completed (or failed under a
/// failure policy that lets it go on); a parent's policy for a child's failure is the child's
/// `opts.parent_failure`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct FlowJob {
    /// The job name.
    pub name: String,
    /// The queue the job goes to (same prefix as the producer's connection).
    pub queue_name: String,
    /// The job data. Default `{}`.
    pub data: Value,
    /// The job options (`job_id` for a custom id, else a UUID is given). `parent` may be set on
    /// a root only, to attach the whole flow under an existing job.
    pub opts: JobOptions,
    /// Its children, added before it may run.
    pub children: Vec<FlowJob>,
    /// The key prefix of `queue_name`, when given: it must be the producer's (one flow lives in
    /// one prefix). Default: the producer's.
    pub prefix: Option<String>,
}

impl FlowJob {
    /// A node named `name` in queue `queue_name`.
    pub fn new(name: impl Into<String>, queue_name: impl Into<String>) -> Self {
        FlowJob {
            name: name.into(),
            queue_name: queue_name.into(),
            data: Value::Object(Default::default()),
            opts: JobOptions::default(),
            children: Vec::new(),
            prefix: None,
        }
    }
    /// Builder: the job data.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
    /// Builder: the job options.
    pub fn opts(mut self, opts: JobOptions) -> Self {
        self.opts = opts;
        self
    }
    /// Builder: one more child.
    pub fn child(mut self, child: FlowJob) -> Self {
        self.children.push(child);
        self
    }
    /// Builder: the children.
    pub fn children(mut self, children: Vec<FlowJob>) -> Self {
        self.children = children;
        self
    }
    /// Builder: the key prefix, which must be the producer's.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
}

/// A flow as added: each node's job (with its id) and its children, in the order given.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct JobNode {
    /// The job added (or, for a duplicate custom id or a deduplicated job, the one that owns it).
    pub job: Job,
    /// Its children.
    pub children: Vec<JobNode>,
}
