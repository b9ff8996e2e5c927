//! [`FlowProducer`]: whole trees of jobs in one atomic script call.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::tree::{FlowJob, JobNode};
use crate::clock::now_ms;
use crate::connection::{Client, Connection};
use crate::error::{Error, Result};
use crate::job::{Job, JobOptions, ParentOptions};
use crate::keys::QueueKeys;
use crate::queue::prepare_job;
use crate::scripts::{AddFlow, FlowNode};

/// Adds flows: a parent and its children (at any depth, in any queues of the connection's
/// prefix) all at once or not at all. Cheap to clone.
#[derive(Clone)]
pub struct FlowProducer {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for FlowProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowProducer").field("prefix", &self.prefix).finish()
    }
}

/// The flows of one call, flattened parent before children as the script takes them.
struct Plan {
    now: u64,
    /// Per node, what the reply's tree is built from.
    placed: Vec<Placed>,
    /// Per node, what the script is sent.
    nodes: Vec<FlowNode>,
    /// `base + id` of every node so far: an id used twice (a cycle) is refused.
    seen: HashSet<String>,
}

/// A node placed in the flat list the script takes, with where its children are.
struct Placed {
    keys: Arc<QueueKeys>,
    name: String,
    data: Value,
    opts: JobOptions,
    children: Vec<usize>,
    timestamp: u64,
}

impl FlowProducer {
    /// Connects (scripts loaded) to where `connection` points; its prefix is the flows'.
    pub async fn new(connection: Connection) -> Result<FlowProducer> {
        // The client's own queue name is never used for keys: every node names its queue.
        let client = Client::connect(&connection, "flow-producer").await?;
        crate::scripts::load_all(&client).await?;
        Ok(FlowProducer { client, prefix: connection.prefix.clone() })
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Adds one flow atomically. Returns its jobs as a tree.
    pub async fn add(&self, flow: FlowJob) -> Result<JobNode> {
        let mut roots = self.add_bulk(vec![flow]).await?;
        roots.pop().ok_or_else(|| Error::unexpected("addFlow", None, "no root"))
    }

    /// Adds several flows in one atomic call: all of their jobs or none. Bad input anywhere (an
    /// invalid option, a queue of another prefix, a custom id used twice in the flows) is a typed
    /// error naming the node (`root[0].children[2]`), and nothing is written.
    pub async fn add_bulk(&self, flows: Vec<FlowJob>) -> Result<Vec<JobNode>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        let mut plan = Plan { now: now_ms(), placed: Vec::new(), nodes: Vec::new(), seen: HashSet::new() };
        let mut roots = Vec::with_capacity(flows.len());
        for (i, flow) in flows.into_iter().enumerate() {
            roots.push(plan.placed.len());
            self.place(&mut plan, flow, None, &format!("root[{i}]"))?;
        }
        let ids = AddFlow { nodes: &plan.nodes, now: plan.now }.run(&self.client).await?;
        Ok(roots.into_iter().map(|r| build(r, &plan.placed, &ids)).collect())
    }

    /// Places `flow` (and, after it, its children) with the parent `parent` (index, in `placed`).
    fn place(&self, plan: &mut Plan, flow: FlowJob, parent: Option<usize>, path: &str) -> Result<usize> {
        let at = |e: Error| match e {
            Error::InvalidOption { option, message } => {
                Error::InvalidOption { option, message: format!("{path} (flow node): {message}") }
            }
            other => other,
        };
        if let Some(prefix) = &flow.prefix {
            if *prefix != self.prefix {
                return Err(Error::invalid(
                    "prefix",
                    format!("{path}: queue prefix {prefix:?} differs from the producer's {:?}", self.prefix),
                ));
            }
        }
        let keys = Arc::new(QueueKeys::new(&self.prefix, &flow.queue_name).map_err(at)?);
        let has_children = !flow.children.is_empty();
        let mut opts = flow.opts.clone();
        if let Some(p) = parent {
            if opts.parent.is_some() {
                return Err(at(Error::invalid("parent", "only a root may name a parent; children have theirs")));
            }
            let parent_id = plan.nodes[p].job.custom_id.clone();
            opts.parent = Some(ParentOptions::new(parent_id, plan.placed[p].keys.qualified()));
        }
        if has_children && opts.deduplication.is_some() {
            return Err(at(Error::invalid("deduplication", "not allowed on a job with children")));
        }
        let id = opts.job_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        opts.job_id = Some(id.clone());
        if !plan.seen.insert(format!("{}{id}", keys.base)) {
            return Err(at(Error::invalid("job_id", format!("{id:?} is used twice in this flow (a cycle?)"))));
        }
        let job = prepare_job(&flow.name, &flow.data, &opts, plan.now).map_err(at)?;
        let timestamp = job.timestamp;
        let index = plan.placed.len();
        plan.nodes.push(FlowNode { base: keys.base.clone(), job, has_children });
        plan.placed.push(Placed { keys, name: flow.name, data: flow.data, opts, children: Vec::new(), timestamp });
        for (c, child) in flow.children.into_iter().enumerate() {
            let ci = self.place(plan, child, Some(index), &format!("{path}.children[{c}]"))?;
            plan.placed[index].children.push(ci);
        }
        Ok(index)
    }
}

/// The tree of node `i` with the ids the script gave.
fn build(i: usize, placed: &[Placed], ids: &[String]) -> JobNode {
    let p = &placed[i];
    let data = if p.data.is_null() { Value::Object(Default::default()) } else { p.data.clone() };
    let job = Job::created(&p.keys, ids[i].clone(), p.name.clone(), data, p.opts.clone(), p.timestamp);
    JobNode { job, children: p.children.iter().map(|c| build(*c, placed, ids)).collect() }
}
