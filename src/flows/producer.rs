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
        let now = now_ms();
        let mut placed: Vec<Placed> = Vec::new();
        let mut nodes: Vec<FlowNode> = Vec::new();
        let mut seen = HashSet::new();
        let mut roots = Vec::with_capacity(flows.len());
        for (i, flow) in flows.into_iter().enumerate() {
            roots.push(placed.len());
            self.place(flow, None, &format!("root[{i}]"), now, &mut placed, &mut nodes, &mut seen)?;
        }
        let ids = AddFlow { nodes: &nodes, now }.run(&self.client).await?;
        Ok(roots.into_iter().map(|r| build(r, &placed, &ids)).collect())
    }

    /// Places `flow` (and, after it, its children) with the parent `parent` (index, in `placed`).
    #[allow(clippy::too_many_arguments)]
    fn place(
        &self,
        flow: FlowJob,
        parent: Option<usize>,
        path: &str,
        now: u64,
        placed: &mut Vec<Placed>,
        nodes: &mut Vec<FlowNode>,
        seen: &mut HashSet<String>,
    ) -> Result<usize> {
        let at = |e: Error| match e {
            Error::InvalidOption { option, message } => {
                Error::InvalidOption { option, message: format!("{path} ({}): {message}", "flow node") }
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
            let parent_id = nodes[p].job.custom_id.clone();
            opts.parent = Some(ParentOptions::new(parent_id, placed[p].keys.qualified()));
        }
        if has_children && opts.deduplication.is_some() {
            return Err(at(Error::invalid("deduplication", "not allowed on a job with children")));
        }
        let id = opts.job_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        opts.job_id = Some(id.clone());
        if !seen.insert(format!("{}{id}", keys.base)) {
            return Err(at(Error::invalid("job_id", format!("{id:?} is used twice in this flow (a cycle?)"))));
        }
        let job = prepare_job(&flow.name, &flow.data, &opts, now).map_err(at)?;
        let timestamp = job.timestamp;
        let index = placed.len();
        nodes.push(FlowNode { base: keys.base.clone(), job, has_children });
        placed.push(Placed { keys, name: flow.name, data: flow.data, opts, children: Vec::new(), timestamp });
        for (c, child) in flow.children.into_iter().enumerate() {
            let ci = self.place(child, Some(index), &format!("{path}.children[{c}]"), now, placed, nodes, seen)?;
            placed[index].children.push(ci);
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
