//! A job to add in bulk: its name, payload and options, before it has an id.

use serde::Serialize;

use super::options::JobOptions;
use crate::error::{Error, Result};

/// One entry of [`Queue::add_bulk`](crate::Queue::add_bulk).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct BulkJob {
    /// Job name.
    pub name: String,
    /// Payload.
    pub data: serde_json::Value,
    /// Options.
    pub opts: JobOptions,
}

impl BulkJob {
    /// A bulk entry from any serialisable payload.
    pub fn new(name: impl Into<String>, data: impl Serialize, opts: JobOptions) -> Result<Self> {
        let data =
            serde_json::to_value(data).map_err(|source| Error::Serialize { what: "data", job_id: None, source })?;
        Ok(BulkJob { name: name.into(), data, opts })
    }
}
