//! How to reach Redis ([`ConnectionOptions`]) and where a queue lives ([`Connection`]: those
//! options and the key prefix), and opening the two kinds of connection.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo};

use crate::error::{Error, Result};

/// Where a queue lives: the Redis server to reach and the key prefix of its keys. Every handle
/// (queue, worker, queue events) takes one; its default is `127.0.0.1:6379` with prefix `bull`.
///
/// ```
/// use bullmq::Connection;
/// let here = Connection::from_url("redis://127.0.0.1:6379").prefix("{app}");
/// assert_eq!(here.prefix, "{app}");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Connection {
    /// How to reach the server.
    pub redis: ConnectionOptions,
    /// Key prefix. Default `bull`. Use a braced prefix (`{app}`) for Redis Cluster, so that all
    /// keys of a queue share one hash tag.
    pub prefix: String,
}

impl Default for Connection {
    fn default() -> Self {
        Connection { redis: ConnectionOptions::default(), prefix: "bull".into() }
    }
}

impl Connection {
    /// The server reached with `redis`, prefix `bull`.
    pub fn new(redis: ConnectionOptions) -> Self {
        Connection { redis, prefix: "bull".into() }
    }

    /// The server at a `redis://` URL, prefix `bull`.
    pub fn from_url(url: impl Into<String>) -> Self {
        Connection::new(ConnectionOptions::from_url(url))
    }

    /// Builder: the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

/// How to reach Redis.
///
/// Either a `url` (`redis://[user:password@]host:port/db`) or the separate fields.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// A `redis://` URL. When set, `host`, `port`, `username`, `password` and `db` are ignored.
    pub url: Option<String>,
    /// Host name. Default `127.0.0.1`.
    pub host: String,
    /// Port. Default `6379`.
    pub port: u16,
    /// ACL user name. Default none.
    pub username: Option<String>,
    /// Password. Default none.
    pub password: Option<String>,
    /// Database number. Default `0`.
    pub db: i64,
    /// How long a command on the shared connection may take before it fails. Default 30 s:
    /// scripts such as obliterate or clean can run long on big queues, and a timeout that fires
    /// while Redis is still working would only make the caller retry work already done.
    pub response_timeout: Duration,
    /// How long connecting may take. Default 5 s.
    pub connection_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            url: None,
            host: "127.0.0.1".into(),
            port: 6379,
            username: None,
            password: None,
            db: 0,
            response_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_secs(5),
        }
    }
}

impl ConnectionOptions {
    /// Options for a `redis://` URL, other fields at their defaults.
    pub fn from_url(url: impl Into<String>) -> Self {
        ConnectionOptions { url: Some(url.into()), ..Default::default() }
    }

    /// Builder: host name.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }
    /// Builder: port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Builder: ACL user name.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }
    /// Builder: password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }
    /// Builder: database number.
    pub fn db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }
    /// Builder: response timeout of the shared connection.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }
    /// Builder: connect timeout.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    fn client(&self) -> Result<Client> {
        let url = match &self.url {
            Some(u) => u.clone(),
            None => {
                let auth = match (&self.username, &self.password) {
                    (Some(u), Some(p)) => format!("{}:{}@", enc(u), enc(p)),
                    (None, Some(p)) => format!(":{}@", enc(p)),
                    (Some(u), None) => format!("{}@", enc(u)),
                    (None, None) => String::new(),
                };
                format!("redis://{auth}{}:{}/{}", self.host, self.port, self.db)
            }
        };
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| Error::invalid("connection", format!("bad Redis address: {e}")))?;
        Client::open(info).map_err(|e| Error::redis("connect", None, e))
    }

    /// Opens the shared command connection (auto-reconnecting).
    pub(crate) async fn connect_shared(&self) -> Result<ConnectionManager> {
        let client = self.client()?;
        let cfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(6)
            .set_max_delay(Duration::from_secs(2));
        let conn =
            ConnectionManager::new_with_config(client, cfg).await.map_err(|e| Error::redis("connect", None, e))?;
        warn_on_eviction_policy(&mut conn.clone()).await;
        Ok(conn)
    }

    /// Opens a dedicated connection with no response timeout, named `client_name` (Node's
    /// naming, so `Queue.getWorkers()` on either side counts it). Callers bound each blocking
    /// call with their own deadline.
    pub(crate) async fn connect_blocking(&self, client_name: Option<&str>) -> Result<MultiplexedConnection> {
        let client = self.client()?;
        let cfg = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(self.connection_timeout));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| Error::redis("connect", None, e))?;
        if let Some(name) = client_name {
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| Error::redis("CLIENT SETNAME", None, e))?;
        }
        Ok(conn)
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// BullMQ loses jobs silently when Redis evicts keys, so say so once at connect. Managed Redis
/// services often refuse `CONFIG`; that is not an error.
async fn warn_on_eviction_policy(conn: &mut ConnectionManager) {
    let reply: redis::RedisResult<Vec<String>> =
        redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy").query_async(conn).await;
    if let Ok(v) = reply {
        if let Some(policy) = v.get(1) {
            if policy != "noeviction" {
                tracing::warn!(policy = %policy, "Redis maxmemory-policy is not noeviction; jobs may be evicted");
            }
        }
    }
}
