//! `addFlow-1`: one or more flows (trees of jobs across queues of one prefix) in one atomic call
//! (PROTOCOL.md §14.2).

use redis::Value;

use super::{script_def, NewJob};
use crate::connection::Client;
use crate::error::{Error, Result, ScriptError};

script_def!("addFlow-1");

/// One node of a flow, ready to be sent: parent before children.
#[derive(Debug, Clone)]
pub(crate) struct FlowNode {
    /// `prefix:queue:` of the node's queue.
    pub(crate) base: String,
    /// The job, with its id (custom or generated) in `custom_id`.
    pub(crate) job: NewJob,
    pub(crate) has_children: bool,
}

/// Adds `nodes` (one or more trees, parents first) in one call.
pub(crate) struct AddFlow<'a> {
    pub(crate) nodes: &'a [FlowNode],
    pub(crate) now: u64,
}

impl AddFlow<'_> {
    /// One id per node, in order. Refusals name the node (its index in `nodes`).
    pub(crate) async fn run(&self, client: &Client) -> Result<Vec<String>> {
        let Some(first) = self.nodes.first() else { return Ok(Vec::new()) };
        let mut inv = DEF.call(&first.base);
        inv.arg(self.nodes.len()).arg(self.now);
        for n in self.nodes {
            inv.arg(&n.base);
            n.job.push_fields(&mut inv);
            inv.arg(if n.has_children { "1" } else { "" });
        }
        let reply: Vec<Value> = inv.run(client, "addFlow", Some(first.job.custom_id.as_str())).await?;
        if let [Value::Int(code), Value::Int(index)] = reply.as_slice() {
            let node = usize::try_from(*index - 1).ok().and_then(|i| self.nodes.get(i));
            let (id, detail) = node.map(|n| (n.job.custom_id.as_str(), n.job.parent_key.as_str())).unwrap_or(("", ""));
            return Err(match ScriptError::from_reply(*code, id, "addFlow", detail) {
                Some(e) => Error::Script(e),
                None => Error::unexpected("addFlow", Some(id), format!("code {code}")),
            });
        }
        if reply.len() != self.nodes.len() {
            return Err(Error::unexpected(
                "addFlow",
                None,
                format!("{} ids for {} nodes", reply.len(), self.nodes.len()),
            ));
        }
        reply
            .into_iter()
            .map(|v| {
                redis::from_redis_value::<String>(v).map_err(|e| Error::unexpected("addFlow", None, e.to_string()))
            })
            .collect()
    }
}
