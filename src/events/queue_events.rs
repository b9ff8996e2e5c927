//! The [`QueueEvents`] facade: owns the supervision tree of the reader and the shared state.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorCell, SpawnErr};

use super::handler::QueueEventsHandler;
use super::options::QueueEventsOptions;
use super::reader::Reader;
use super::shared::Shared;
use super::subscription::Subscription;
use crate::connection::Client;
use crate::error::{Error, Result};
use crate::keys::QueueKeys;
use crate::supervisor::{
    ChildSpec, Restart, RestartBackoff, RestartIntensity, Strategy, Supervisor, SupervisorOptions,
};

/// Watches one queue's events stream (PROTOCOL.md §10), for queues this process does not
/// necessarily work on: dashboards, producers waiting for results
/// ([`QueueEvents::wait_until_finished`](crate::QueueEvents::wait_until_finished)).
///
/// A reader actor, supervised (permanent, one-for-one, by a [`Supervisor`]), reads the stream
/// with `XREAD BLOCK` on its own connection and hands every entry, decoded as a
/// [`QueueEvent`](crate::QueueEvent), to each subscriber in stream order. When the connection
/// fails the reader is restarted with a fresh one and resumes after the last id it delivered:
/// nothing is skipped or repeated. Like Node's `QueueEvents` it keeps retrying for as long as
/// Redis is unreachable, with a backoff doubling from 20 ms to 5 s between attempts. That
/// backoff keeps it below the restart intensity (30 restarts within a minute); should a tree
/// started with [`run`](Self::run) give up anyway, every subscription ends (`recv` returns
/// `None`) and [`is_running`](Self::is_running) turns false. Under a supervisor of yours
/// ([`child_spec`](Self::child_spec)), that supervisor decides instead.
///
/// Cheap to clone; clones share the reader, which stops with [`close`](Self::close) or when
/// the last clone is dropped.
///
/// ```no_run
/// use std::time::Duration;
/// use bullmq::{JobOptions, Queue, QueueOptions, QueueEvent, QueueEvents, QueueEventsOptions};
///
/// # async fn demo() -> bullmq::Result<()> {
/// let events = QueueEvents::new("emails", QueueEventsOptions::default()).await?;
/// let mut sub = events.subscribe();
/// let queue = Queue::new("emails", QueueOptions::default()).await?;
/// let job = queue.add("send", serde_json::json!({"to": "a@b.c"}), JobOptions::default()).await?;
/// // Resolves even if a worker finished the job before this line ran.
/// let result = events.wait_until_finished(&job, Duration::from_secs(30)).await?;
/// while let Some(e) = sub.recv().await {
///     if let QueueEvent::Failed { job_id, failed_reason, .. } = &e {
///         eprintln!("{job_id} failed: {failed_reason}");
///     }
/// }
/// events.close().await;
/// # let _ = result;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct QueueEvents {
    inner: Arc<Inner>,
}

struct Inner {
    keys: QueueKeys,
    opts: QueueEventsOptions,
    shared: Arc<Shared>,
    supervisor: Mutex<Option<Supervisor>>,
    /// Serialises `run` and `close`.
    lifecycle: tokio::sync::Mutex<()>,
    /// A command connection for [`wait_until_finished`](QueueEvents::wait_until_finished)'s
    /// check, opened on first use.
    client: tokio::sync::OnceCell<Client>,
}

impl std::fmt::Debug for QueueEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueEvents")
            .field("name", &self.inner.keys.name)
            .field("prefix", &self.inner.keys.prefix)
            .finish()
    }
}

impl QueueEvents {
    /// Validates the options and, with `autorun` (the default), starts reading before it
    /// returns: events written after `new` returns are guaranteed to be delivered.
    pub async fn new(queue_name: &str, opts: QueueEventsOptions) -> Result<QueueEvents> {
        let keys = QueueKeys::new(&opts.connection.prefix, queue_name)?;
        if opts.blocking_timeout.is_zero() {
            // XREAD BLOCK 0 waits forever, which would defeat the client-side deadline.
            return Err(Error::invalid("blocking_timeout", "must be above zero"));
        }
        let mut opts = opts;
        // `$` is the default spelled out.
        if opts.last_event_id.as_deref() == Some("$") {
            opts.last_event_id = None;
        }
        if let Some(id) = &opts.last_event_id {
            if !valid_stream_id(id) {
                return Err(Error::invalid(
                    "last_event_id",
                    format!("{id:?} is not a stream id (`<ms>` or `<ms>-<seq>`)"),
                ));
            }
        }
        let shared = Arc::new(Shared::new(keys.key("events"), keys.client_name(":qe"), opts.last_event_id.clone()));
        let qe = QueueEvents {
            inner: Arc::new(Inner {
                keys,
                opts,
                shared,
                supervisor: Mutex::new(None),
                lifecycle: tokio::sync::Mutex::new(()),
                client: tokio::sync::OnceCell::new(),
            }),
        };
        if qe.inner.opts.autorun {
            qe.run().await?;
        }
        Ok(qe)
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.inner.keys.name
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.keys.prefix
    }

    /// Starts reading (for `autorun: false`), as the root of its own supervision tree. It
    /// returns once the reader is connected and its start point fixed. Calling it while running
    /// does nothing; after `close` it fails with [`Error::Closed`].
    pub async fn run(&self) -> Result<()> {
        let _g = self.inner.lifecycle.lock().await;
        if self.inner.shared.is_closed() {
            return Err(Error::Closed("queue events"));
        }
        if self.supervisor().is_some() {
            return Ok(());
        }
        let (sup, _) =
            Supervisor::spawn(self.tree_name(), Strategy::OneForOne, vec![self.reader_spec()], tree_options())
                .await
                .map_err(|e| Error::Connection { operation: "QueueEvents::run", message: e.to_string() })?;
        *self.inner.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(sup.clone());
        // After a meltdown the tree is gone: end every subscription so waiters stop waiting.
        let shared = self.inner.shared.clone();
        tokio::spawn(async move {
            sup.wait().await;
            if !shared.is_closed() {
                tracing::error!(stream = %shared.stream_key, "queue events reader gave up after repeated failures");
                shared.shutdown();
            }
        });
        Ok(())
    }

    /// This `QueueEvents` as a child of a supervisor of yours (create it with `autorun: false`):
    /// the child is its own supervisor over the reader, transient: restarted by yours should it
    /// melt down (the subscriptions then live on; events resume after the last one delivered),
    /// not after [`close`](Self::close).
    pub fn child_spec(&self) -> ChildSpec {
        let me = self.clone();
        ChildSpec::new(self.tree_name(), Restart::Transient, move |parent: ActorCell| {
            let me = me.clone();
            async move {
                if me.inner.shared.is_closed() {
                    return Err(SpawnErr::StartupFailed("queue events closed".into()));
                }
                let sup = Supervisor::start(
                    me.tree_name(),
                    Strategy::OneForOne,
                    vec![me.reader_spec()],
                    tree_options(),
                    Some(parent),
                    Vec::new(),
                )
                .await
                .map_err(|e| SpawnErr::StartupFailed(e.to_string().into()))?;
                let cell = sup.cell();
                *me.inner.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(sup);
                Ok(cell)
            }
        })
        .shutdown(Duration::from_secs(5))
    }

    fn tree_name(&self) -> String {
        format!("queue-events:{}", self.inner.keys.qualified())
    }

    fn reader_spec(&self) -> ChildSpec {
        let shared = self.inner.shared.clone();
        let connection = self.inner.opts.connection.redis.clone();
        let blocking_timeout = self.inner.opts.blocking_timeout;
        ChildSpec::new("reader", Restart::Permanent, move |sup: ActorCell| {
            let reader = Reader { shared: shared.clone(), connection: connection.clone(), blocking_timeout };
            async move {
                let (r, _) = Actor::spawn_linked(None, reader, (), sup).await?;
                Ok(r.get_cell())
            }
        })
    }

    /// True between a successful start (`run`, or under a supervisor) and `close` (or a
    /// give-up after repeated failures).
    pub fn is_running(&self) -> bool {
        self.supervisor().is_some_and(|s| s.is_running()) && !self.inner.shared.is_closed()
    }

    /// A new lossless subscription: every event read after this call, in stream order. After
    /// `close` the subscription is already ended.
    pub fn subscribe(&self) -> Subscription {
        self.inner.shared.subscribe()
    }

    /// Ends a subscription (its `recv` returns `None` after the events already buffered).
    /// Returns whether it was active. Dropping the [`Subscription`] has the same effect.
    pub fn unsubscribe(&self, subscription_id: u64) -> bool {
        self.inner.shared.unsubscribe(subscription_id)
    }

    /// Active subscriptions (including handlers).
    pub fn subscriber_count(&self) -> usize {
        self.inner.shared.subscriber_count()
    }

    /// Calls `handler` for every event read from now on, in order, on its own task. Returns the
    /// subscription id (for [`unsubscribe`](Self::unsubscribe)); the task ends with the
    /// subscription.
    pub fn add_handler<H: QueueEventsHandler>(&self, handler: H) -> u64 {
        let mut sub = self.subscribe();
        let id = sub.id();
        tokio::spawn(async move {
            while let Some(e) = sub.recv().await {
                handler.on_event(&e).await;
            }
        });
        id
    }

    /// The id of the last event delivered (or the start point before any), for resuming
    /// elsewhere with [`last_event_id`](QueueEventsOptions::last_event_id).
    pub fn last_event_id(&self) -> Option<String> {
        self.inner.shared.last_id()
    }

    /// How many times the reader had to reconnect since it started.
    pub fn reconnects(&self) -> u64 {
        self.inner.shared.connects.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// Stops reading, closes the connection and ends every subscription. Idempotent.
    pub async fn close(&self) {
        let _g = self.inner.lifecycle.lock().await;
        // Cancel first: the reader leaves its blocking read at once instead of holding up
        // the stop for up to `blocking_timeout`.
        self.inner.shared.shutdown();
        let sup = self.inner.supervisor.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sup) = sup {
            sup.stop(Some(Duration::from_secs(5))).await;
        }
    }

    fn supervisor(&self) -> Option<Supervisor> {
        self.inner.supervisor.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn keys(&self) -> &QueueKeys {
        &self.inner.keys
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// The command connection for checks, opened on first use.
    pub(crate) async fn client(&self) -> Result<&Client> {
        self.inner.client.get_or_try_init(|| Client::connect(&self.inner.opts.connection, &self.inner.keys.name)).await
    }
}

/// The reader's supervision: it keeps retrying while Redis is away, 20 ms doubling to 5 s
/// between attempts, which stays under 30 restarts a minute.
fn tree_options() -> SupervisorOptions {
    SupervisorOptions::default()
        .intensity(RestartIntensity::new(30, Duration::from_secs(60)))
        .backoff(RestartBackoff::new(Duration::from_millis(20), Duration::from_secs(5)))
}

impl Drop for Inner {
    /// The last handle dropped without `close`: stop the reader anyway, or it would keep its
    /// connection and read forever for nobody.
    fn drop(&mut self) {
        self.shared.shutdown();
        let sup = self.supervisor.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sup) = sup {
            sup.cell().stop(Some("dropped".into()));
        }
    }
}

/// `<ms>` or `<ms>-<seq>`, decimal parts (what `XREAD` accepts as an explicit id).
fn valid_stream_id(id: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match id.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(id),
    }
}
