//! Flows (PROTOCOL.md §14): trees of jobs whose parents wait for their children, across queues
//! of one prefix. [`FlowProducer`] adds whole trees atomically; a parent's processor reads what
//! its children returned through [`Queue::get_children_values`](crate::Queue::get_children_values)
//! or its job context.

mod producer;
mod read;
mod tree;

pub use producer::FlowProducer;
pub use read::{BlockedParent, FlowTree};
pub use tree::{FlowJob, JobNode};
