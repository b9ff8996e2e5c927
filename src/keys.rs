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

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) modulo 16384 of the key, or of its hash
/// tag, the text between the first `{` and the next `}` when that is not empty.
pub(crate) fn cluster_slot(key: &[u8]) -> u16 {
    crc16_xmodem(hash_tag(key).unwrap_or(key)) % 16384
}

/// The hash tag of `key`, when it has one.
pub(crate) fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let len = key[open + 1..].iter().position(|&b| b == b'}')?;
    (len > 0).then(|| &key[open + 1..open + 1 + len])
}

/// CRC16 with polynomial 0x1021, initial value 0, no reflection (the cluster specification's).
fn crc16_xmodem(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
        crc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_slots() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3, "the check value of CRC-16/XMODEM");
        assert_eq!(cluster_slot(b"foo"), 12182);
        assert_eq!(cluster_slot(b"bar"), 5061);
        assert_eq!(cluster_slot(b""), 0);
        assert_eq!(cluster_slot(b"{user1000}.following"), cluster_slot(b"{user1000}.followers"));
        assert_eq!(cluster_slot(b"{user1000}.following"), cluster_slot(b"user1000"));
        // Only the first `{` counts, and an empty tag means no tag.
        assert_eq!(cluster_slot(b"foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % 16384);
        assert_eq!(cluster_slot(b"foo{{bar}}zap"), cluster_slot(b"{bar"));
        assert_eq!(cluster_slot(b"foo{bar}{zap}"), cluster_slot(b"bar"));
        assert_eq!(cluster_slot(b"{app}:q:wait"), cluster_slot(b"{app}:order:1"));
        assert_eq!(hash_tag(b"no tag"), None);
        assert_eq!(hash_tag(b"a{b"), None);
    }

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
