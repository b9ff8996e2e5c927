//! Key naming (PROTOCOL.md §2). Every key of a queue starts with `prefix:name:`; scripts receive
//! that base and derive the rest, so the strings here and in `lua/` must agree.

use base64::Engine;

use crate::error::{Error, Result};

/// The key strings of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueKeys {
    pub(crate) prefix: String,
    pub(crate) name: String,
    /// `prefix:name:`, with the trailing colon.
    pub(crate) base: String,
}

impl QueueKeys {
    /// Validates the queue name like Node does (non-empty, no `:`) and builds the base.
    pub(crate) fn new(prefix: &str, name: &str) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::invalid("queue name", "must not be empty"));
        }
        if name.contains(':') {
            return Err(Error::invalid("queue name", format!("{name:?} must not contain ':'")));
        }
        if prefix.is_empty() {
            return Err(Error::invalid("prefix", "must not be empty"));
        }
        Ok(QueueKeys { prefix: prefix.to_owned(), name: name.to_owned(), base: format!("{prefix}:{name}:") })
    }

    /// A queue-level key such as `wait` or `meta`.
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}{}", self.base, suffix)
    }

    /// The job hash key.
    pub(crate) fn job(&self, id: &str) -> String {
        format!("{}{}", self.base, id)
    }

    /// `prefix:name`, the qualified name stored in flows.
    pub(crate) fn qualified(&self) -> String {
        format!("{}:{}", self.prefix, self.name)
    }

    /// The connection name Node's `Queue.getWorkers()` recognises (PROTOCOL.md §2.5).
    pub(crate) fn client_name(&self, suffix: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.name.as_bytes());
        format!("{}:{}{}", self.prefix, b64, suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let k = QueueKeys::new("bull", "q3").unwrap();
        assert_eq!(k.key("wait"), "bull:q3:wait");
        assert_eq!(k.job("7"), "bull:q3:7");
        assert_eq!(k.qualified(), "bull:q3");
        assert_eq!(k.client_name(":w:w1"), "bull:cTM=:w:w1");
        assert!(QueueKeys::new("bull", "a:b").is_err());
        assert!(QueueKeys::new("bull", "").is_err());
    }
}
